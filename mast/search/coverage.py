"""Coverage: each configured feed with its state and last accepted upload, so that "no record" is
never read as "no involvement" from a feed that is not live."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mast.config import Partnership
from mast.search.models import CoverageResponse, FeedCoverage


# ----------------------------------------------------------------------------------------- coverage
def coverage(partnership: Partnership, control_table: str, client: Any) -> CoverageResponse:
    """Each configured feed with its state and last accepted upload (``FEED#<id>``/``STATE``), so
    that "no record" is never read as "no involvement" from a feed that is not live."""
    items: dict[str, Mapping[str, Any]] = {}
    keys = [{"pk": {"S": f"FEED#{f.id}"}, "sk": {"S": "STATE"}} for f in partnership.feeds]
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {control_table: {"Keys": keys[start : start + 100]}}
        while request:
            reply = client.batch_get_item(RequestItems=request)
            for item in reply.get("Responses", {}).get(control_table, []):
                items[item["pk"]["S"].removeprefix("FEED#")] = item
            request = reply.get("UnprocessedKeys") or {}
    feeds = []
    for feed in partnership.feeds:
        item = items.get(feed.id, {})
        state = item.get("state", {}).get("S", feed.state)
        organisation = partnership.organisation(feed.partner)
        feeds.append(FeedCoverage(
            feed=feed.id, name=feed.name, partner=feed.partner,
            partner_name=organisation.name if organisation else feed.partner,
            state=state if state in ("sample", "live") else feed.state,
            last_accepted=item.get("last_accepted", {}).get("S"),
        ))
    return CoverageResponse(feeds=feeds)
