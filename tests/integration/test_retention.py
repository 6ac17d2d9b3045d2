"""Retention enforced on a clock a test moves (issue 17, point 6): a record whose last involvement is
older than the retention leaves the feed's state at the next ingest and the index at the next link;
an open case stays however long ago it started; the audit is kept 6 years by Object Lock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mast.feeds import store
from mast.feeds.events import UploadCompletedEvent
from mast.feeds.ingest import ingest_upload
from mast.feeds.retention import retained, snapshot_feeds
from mast.index.linking import run_match
from mast.index.messages import RebuildRequested
from tests.integration.test_match import DAYS, PARTNERSHIP, aws, ingest_day, state_record_ids  # noqa: F401
from tools.generate import generate_days

DAY = dt.date(2026, 11, 20)


def last_involvement(records: pa.Table) -> list[dt.date]:
    return pc.coalesce(records.column("end_date"), records.column("record_date")).to_pylist()


def test_the_rule_keeps_open_cases_and_recent_involvement_only() -> None:
    table = pa.table({
        "record_id": ["a", "b", "c", "d"], "feed": ["wm-police", "wm-police", "walsall-children", "walsall-children"],
        "record_date": pa.array([dt.date(2020, 1, 1), dt.date(2026, 1, 1), dt.date(2019, 1, 1), dt.date(2019, 1, 1)],
                                pa.date32()),
        "end_date": pa.array([None, None, None, dt.date(2020, 6, 1)], pa.date32()),
    })
    kept = retained(table, DAY, 1095, ["walsall-children"])
    # an incident 7 years ago goes; last year's stays; an open case since 2019 stays; one ended in 2020 goes
    assert kept.column("record_id").to_pylist() == ["b", "c"]


def test_moving_the_clock_past_retention_empties_the_index_and_the_state_of_old_involvement(
        aws: dict[str, Any]) -> None:  # noqa: F811
    messages = ingest_day(aws, 0)
    first = run_match(messages, aws["match"], session=aws["session"])
    current = store.read_current_records("t-curated")
    dates = sorted(last_involvement(current))
    median = dates[len(dates) // 2]
    # move the clock so that retention (1095 days) cuts at the median last involvement
    moved = dt.datetime.combine(median + dt.timedelta(days=1095), dt.time(9), tzinfo=dt.UTC)
    snapshots = set(snapshot_feeds())
    open_cases = {r["record_id"] for r in current.to_pylist() if r["feed"] in snapshots and r["end_date"] is None}
    old = {r["record_id"] for r in current.to_pylist()
           if (r["end_date"] or r["record_date"]) < median and r["record_id"] not in open_cases}
    assert old and open_cases

    later = run_match(RebuildRequested(), aws["match"], session=aws["session"], now=moved)
    indexed = set(state_record_ids(aws, later.version))
    assert len(indexed) < first.records
    assert not indexed & old  # gone from the index
    assert open_cases <= indexed  # however long ago they started

    # the next ingest of a feed, on the moved clock, drops them from that feed's state too
    feed_id, extract = next(iter(generate_days(150, seed=5, days=3, as_of=DAY)[1].files.items()))
    key = f"{PARTNERSHIP.feed(feed_id).landing_prefix}{extract.file_name}"
    aws["s3"].put_object(Bucket="t-landing", Key=key, Body=extract.data)
    event = UploadCompletedEvent.model_validate({"server-id": "s", "username": feed_id,
                                                 "file-path": f"/t-landing/{key}", "bytes": len(extract.data)})
    ingest_upload(event, aws["ingest"], session=aws["session"], now=lambda: moved)
    state = store.read_current_records("t-curated", [feed_id])
    assert state.num_rows
    assert not set(state.column("record_id").to_pylist()) & old
