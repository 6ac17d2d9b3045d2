"""How long MAST keeps a record: the partnership's retention (the template's ``RecordRetentionDays``,
3 years by default, as ``RECORD_RETENTION_DAYS``), counted from the record's last involvement.

A record leaves once its last involvement (its end date, else its own date: an incident's day) is
older than the retention; an open case (a snapshot feed's record with no end date: in the latest
snapshot) stays however long ago it started. Ingest drops such records from the feed's state (the
curated dataset) and the match run from what it links (the index), both with this one rule and on
the clock they are given, so a test can move it. S3's lifecycle rule expires the old versions'
objects on AWS; moto applies no lifecycle rules, so locally only the state and index are swept.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Collection, Mapping

import pyarrow as pa
import pyarrow.compute as pc

#: the template's default (RecordRetentionDays)
DEFAULT_RETENTION_DAYS = 1095


def retention_days(env: Mapping[str, str] | None = None) -> int:
    """The deployment's retention in days (``RECORD_RETENTION_DAYS``; 3 years when unset)."""
    env = os.environ if env is None else env
    return int(env.get("RECORD_RETENTION_DAYS") or DEFAULT_RETENTION_DAYS)


def retained(records: pa.Table, today: dt.date, days: int, snapshot_feeds: Collection[str],
             feed: str | None = None) -> pa.Table:
    """The records still within retention on ``today`` (see the module docstring). ``feed``: the feed
    of every row, for a feed's own state (which has no ``feed`` column: it is in the object's key)."""
    if records.num_rows == 0:
        return records
    cutoff = pa.scalar(today - dt.timedelta(days=days), pa.date32())
    last = pc.coalesce(records.column("end_date"), records.column("record_date"))
    recent = pc.fill_null(pc.greater_equal(last, cutoff), True)
    if feed is not None:
        open_case = pc.and_(pa.scalar(feed in snapshot_feeds), pc.is_null(records.column("end_date")))
    else:
        open_case = pc.and_(pc.is_in(records.column("feed"), value_set=pa.array(list(snapshot_feeds), pa.string())),
                            pc.is_null(records.column("end_date")))
    return records.filter(pc.or_(recent, pc.fill_null(open_case, False)))


def snapshot_feeds() -> list[str]:
    """The feeds whose records are open cases while they have no end date."""
    from mast.feeds.definition import load_feed_definitions

    return [feed_id for feed_id, d in load_feed_definitions().items() if d.mode == "snapshot"]
