"""A partner leaving (issue 17, point 5): an operator erases a feed; every version of its curated
data is gone, the erasure is audited first, and the rebuild it queues leaves none of its records in
the index."""

from __future__ import annotations

from typing import Any

import pytest

from mast.audit import deserialise
from mast.feeds import store
from mast.feeds.erasure import erase_feed
from mast.index.linking import run_match
from mast.index.messages import parse_match_message
from tests.integration.test_match import _table, aws, ingest_day, state_record_ids  # noqa: F401


def test_an_erased_feed_leaves_the_curated_data_and_the_index(aws: dict[str, Any]) -> None:  # noqa: F811
    first = run_match(ingest_day(aws, 0), aws["match"], session=aws["session"])
    assert any(rid.startswith("wm-fire:") for rid in state_record_ids(aws, first.version))
    _table(aws["ddb"], "t-audit")
    with pytest.raises(ValueError, match="say why"):
        erase_feed(aws["session"], curated_bucket="t-curated", control_table="t-control", audit_table="t-audit",
                   match_queue_url=aws["queue"], partner="wm-fire", feed="wm-fire", operator="ops", reason="")
    erased = erase_feed(aws["session"], curated_bucket="t-curated", control_table="t-control", audit_table="t-audit",
                        match_queue_url=aws["queue"], partner="wm-fire", feed="wm-fire", operator="ops@mast.example",
                        reason="West Midlands Fire left the partnership")
    assert erased.object_versions_deleted > 0 and erased.rebuild_queued
    versions = aws["s3"].list_object_versions(Bucket="t-curated", Prefix="")
    keys = [v["Key"] for v in [*versions.get("Versions", []), *versions.get("DeleteMarkers", [])]]
    assert keys and not [k for k in keys if "feed=wm-fire/" in k]  # every version, not a delete marker
    assert "wm-fire" not in set(store.read_current_records("t-curated").column("feed").to_pylist())
    (event,) = [deserialise(i) for i in aws["ddb"].scan(TableName="t-audit")["Items"]]
    assert (event["action"], event["username"], event["target"]) == ("feed-erased", "ops@mast.example", "wm-fire")

    # the rebuild it queued: none of the feed's records in the new index
    queued = [parse_match_message(m["Body"])
              for m in aws["sqs"].receive_message(QueueUrl=aws["queue"], MaxNumberOfMessages=10)["Messages"]]
    (rebuild,) = [m for m in queued if m.type == "rebuild"]  # after the ingests' own messages
    rebuilt = run_match(rebuild, aws["match"], session=aws["session"])
    assert rebuilt.mode == "rebuild"
    indexed = state_record_ids(aws, rebuilt.version)
    assert indexed and not [rid for rid in indexed if rid.startswith("wm-fire:")]


def test_erasure_also_deletes_the_feeds_raw_uploads_and_keeps_its_receipts(aws: dict[str, Any]) -> None:  # noqa: F811
    """Issue 17: the raw uploads went only with RawRetentionDays; now with the erasure, audited, every
    version, and the receipts (what was sent when, counts and reasons) kept."""
    ingest_day(aws, 0)
    s3 = aws["s3"]

    def versions(bucket: str, prefix: str) -> list[str]:
        page = s3.list_object_versions(Bucket=bucket, Prefix=prefix)
        return [v["Key"] for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]]

    assert versions("t-raw", "archive/wm-fire/wm-fire/")  # the fire service's uploads, archived
    police_raw = versions("t-raw", "archive/wm-police/")
    receipts = [k for k in versions("t-landing", "wm-fire/wm-fire/") if k.endswith(".report.json")]
    assert receipts
    s3.put_object(Bucket="t-landing", Key="wm-fire/wm-fire/reports/late.csv.rejected.csv", Body=b"row,reason\r\n")
    _table(aws["ddb"], "t-audit")
    erased = erase_feed(aws["session"], curated_bucket="t-curated", control_table="t-control", audit_table="t-audit",
                        match_queue_url="", partner="wm-fire", feed="wm-fire", operator="ops@mast.example",
                        reason="West Midlands Fire left the partnership", raw_bucket="t-raw", landing_bucket="t-landing")
    assert erased.raw_versions_deleted >= 2 and erased.receipts_kept == len(receipts)
    assert versions("t-raw", "archive/wm-fire/") == [] and versions("t-raw", "quarantine/wm-fire/") == []
    assert not [k for k in versions("t-landing", "wm-fire/") if k.endswith(".rejected.csv")]
    assert [k for k in versions("t-landing", "wm-fire/wm-fire/") if k.endswith(".report.json")] == receipts
    assert versions("t-raw", "archive/wm-police/") == police_raw  # another partner's untouched
    (event,) = [deserialise(i) for i in aws["ddb"].scan(TableName="t-audit")["Items"]]
    assert event["action"] == "feed-erased" and '"raw_uploads": true' in event["detail"]
