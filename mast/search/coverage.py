"""Coverage: each configured feed with its state, its last data and whether it is overdue, so that
"no record" is never read as "no involvement" from a feed that is not live or has gone quiet.

The same reading tells the person view which feeds are snapshots of open cases and the date of each
one's latest snapshot: a case in it is open now, whatever its start date (:class:`FeedStatus`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mast.config import Partnership
from mast.search.models import CoverageResponse, FeedCoverage


@dataclass(frozen=True)
class FeedStatus:
    """What the person view needs of a feed: a snapshot of open cases or incidents, the date of its
    latest data (a snapshot's open cases are open *as of* that day) and whether that is overdue."""

    mode: Literal["snapshot", "delta"]
    as_of: dt.date | None = None
    overdue: bool = False


def _definitions() -> dict[str, Any]:
    """Each feed's definition (mode, cadence); a feed without one reads as a daily delta."""
    from mast.feeds.definition import load_feed_definitions

    try:
        return dict(load_feed_definitions())
    except (OSError, ValueError):  # a broken definition must not stop a practitioner's search
        return {}


def last_data(value: str | None) -> dt.date | None:
    """The day of a feed's last accepted data (``last_accepted`` is a date or an ISO timestamp)."""
    if not value:
        return None
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        return None


def is_overdue(last: dt.date | None, cadence_days: int, today: dt.date) -> bool:
    """Data older than the feed's cadence is overdue (daily: yesterday's is fine, the day before's is not)."""
    return last is None or (today - last).days > cadence_days


# ----------------------------------------------------------------------------------------- coverage
def coverage(partnership: Partnership, control_table: str, client: Any,
             today: dt.date | None = None) -> CoverageResponse:
    """Each configured feed with its state and last accepted upload (``FEED#<id>``/``STATE``), its
    mode and cadence from its definition, and whether it is overdue."""
    today = today or dt.datetime.now(dt.UTC).date()
    items: dict[str, Mapping[str, Any]] = {}
    keys = [{"pk": {"S": f"FEED#{f.id}"}, "sk": {"S": "STATE"}} for f in partnership.feeds]
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {control_table: {"Keys": keys[start : start + 100]}}
        while request:
            reply = client.batch_get_item(RequestItems=request)
            for item in reply.get("Responses", {}).get(control_table, []):
                items[item["pk"]["S"].removeprefix("FEED#")] = item
            request = reply.get("UnprocessedKeys") or {}
    definitions = _definitions()
    feeds = []
    for feed in partnership.feeds:
        item = items.get(feed.id, {})
        state = item.get("state", {}).get("S", feed.state)
        organisation = partnership.organisation(feed.partner)
        definition = definitions.get(feed.id)
        cadence = definition.cadence_days if definition is not None else 1
        accepted = item.get("last_accepted", {}).get("S")
        feeds.append(FeedCoverage(
            feed=feed.id, name=feed.name, partner=feed.partner,
            partner_name=organisation.name if organisation else feed.partner,
            state=state if state in ("sample", "live") else feed.state,
            last_accepted=accepted, mode=definition.mode if definition is not None else "delta",
            cadence_days=cadence, overdue=is_overdue(last_data(accepted), cadence, today),
        ))
    return CoverageResponse(feeds=feeds)


def feed_statuses(covered: CoverageResponse) -> dict[str, FeedStatus]:
    """Each feed's :class:`FeedStatus`, from its coverage."""
    return {f.feed: FeedStatus(f.mode, last_data(f.last_accepted), f.overdue) for f in covered.feeds}


def feed_modes() -> dict[str, FeedStatus]:
    """Each defined feed's mode with no date (when coverage was not read)."""
    return {feed_id: FeedStatus(d.mode) for feed_id, d in _definitions().items()}
