"""A partner leaving: erase one feed's records from the curated data, and so from the index.

Every version of every object under the feed's folders in the curated bucket (its record versions,
its states, its changes: ``<prefix>partner=<p>/feed=<f>/``) is deleted, not hidden behind a delete
marker; the feed's state item goes (coverage then shows no data from it); the erasure is audited,
by the operator who ran it and why, before anything is deleted; then a rebuild is queued, which
links what remains, so the feed's records leave the index too (the old version's items are
deleted after the switch). Given the raw and landing buckets, the feed's raw uploads go too: every
version under ``archive/`` and ``quarantine/<partner>/<feed>/`` in the raw bucket, and the rejected
rows beside the receipts in the landing bucket (rows of those uploads); the receipts themselves
(``*.report.json``: counts and reasons, what was sent when) are kept as the record of what the
partner sent, as is the audit, which names record ids only and is kept as the law requires.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mast.audit.event import AuditEvent, new_event_id
from mast.audit.store import AuditStore
from mast.feeds.store import CHANGES_PREFIX, RECORDS_PREFIX, STATE_PREFIX
from mast.index.messages import RebuildRequested, send_match_message


@dataclass(frozen=True)
class Erased:
    """What an erasure did (counts only)."""

    feed: str
    object_versions_deleted: int
    rebuild_queued: bool
    raw_versions_deleted: int = 0
    receipts_kept: int = 0


def erase_feed(session: Any, *, curated_bucket: str, control_table: str, audit_table: str, match_queue_url: str,
               partner: str, feed: str, operator: str, reason: str, now: dt.datetime | None = None,
               raw_bucket: str | None = None, landing_bucket: str | None = None) -> Erased:
    """Erase the feed (see the module docstring); ``operator`` and ``reason`` go in the audit."""
    if len(reason.strip()) < 3:
        raise ValueError("say why the feed is erased (at least three characters)")
    now = now or dt.datetime.now(dt.UTC)
    s3 = session.client("s3")
    ddb = session.client("dynamodb")
    AuditStore(audit_table, ddb).write(AuditEvent(
        event_id=new_event_id(), event_time=now, action="feed-erased", user_sub=f"operator:{operator}",
        username=operator, organisation=partner, target=feed,
        detail=json.dumps({"feed": feed, "reason": reason.strip(), "raw_uploads": bool(raw_bucket)}),
    ))
    deleted = sum(_delete_versions(s3, curated_bucket, f"{prefix}partner={partner}/feed={feed}/")
                  for prefix in (RECORDS_PREFIX, STATE_PREFIX, CHANGES_PREFIX))
    raw = 0
    if raw_bucket:
        raw = sum(_delete_versions(s3, raw_bucket, f"{shelf}/{partner}/{feed}/") for shelf in ("archive", "quarantine"))
    kept = 0
    if landing_bucket:
        raw += _delete_versions(s3, landing_bucket, f"{partner}/{feed}/", lambda key: key.endswith(".rejected.csv"))
        kept = sum(1 for page in s3.get_paginator("list_objects_v2").paginate(Bucket=landing_bucket,
                                                                             Prefix=f"{partner}/{feed}/")
                   for o in page.get("Contents", []) if o["Key"].endswith(".report.json"))
    ddb.delete_item(TableName=control_table, Key={"pk": {"S": f"FEED#{feed}"}, "sk": {"S": "STATE"}})
    queued = bool(match_queue_url)
    if queued:
        send_match_message(RebuildRequested(reason=f"feed {feed} erased"), match_queue_url, session.client("sqs"))
    return Erased(feed=feed, object_versions_deleted=deleted, rebuild_queued=queued, raw_versions_deleted=raw,
                  receipts_kept=kept)


def _delete_versions(s3: Any, bucket: str, prefix: str, wanted: Callable[[str], bool] | None = None) -> int:
    """Delete every version (and delete marker) under ``prefix`` whose key is ``wanted``: how many."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                  if wanted is None or wanted(v["Key"])]
        for start in range(0, len(doomed), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start : start + 1000], "Quiet": True})
        deleted += len(doomed)
    return deleted
