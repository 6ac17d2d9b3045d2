"""Audit export to Parquet (schema = the Glue table, unique keys, never overwritten) and every saved
Athena query run in DuckDB over exported Parquet, with the answer checked."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest
import yaml
from moto import mock_aws

from mast.audit import AUDIT_COLUMNS, AuditEvent, event_to_item, new_event_id, serialise
from mast.audit.export import AUDIT_PREFIX, export_stream_records
from mast.audit.queries import named_queries, run_query

ROOT = Path(__file__).resolve().parents[2]
UTC = dt.UTC
BUCKET = "mast-test-audit-bucket"


def ev(when: dt.datetime, username: str = "a@walsall.example", action: str = "search", **fields: Any) -> AuditEvent:
    return AuditEvent(event_id=new_event_id(), event_time=when, action=action, user_sub=f"sub-{username}",
                      username=username, organisation=fields.pop("organisation", "walsall-council"),
                      groups=("practitioners",), gateway="children-act-1989-s47", purpose="case 1", **fields)


def stream_records(events: list[AuditEvent], name: str = "INSERT") -> list[dict[str, Any]]:
    return [{"eventName": name, "eventSource": "aws:dynamodb",
             "dynamodb": {"SequenceNumber": str(100 + i), "NewImage": serialise(event_to_item(e))}}
            for i, e in enumerate(events)]


def export(events: list[AuditEvent], target: Path) -> None:
    """Export through moto S3 (Object Lock bucket), then copy the objects to ``target``."""
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-2")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"},
                         ObjectLockEnabledForBucket=True)
        result = export_stream_records(stream_records(events), BUCKET, s3=s3)
        assert not result.failed_sequence_numbers
        for key in result.written:
            path = target / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())


def test_glue_table_matches_export() -> None:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_scalar(node)
                                 if isinstance(node, yaml.ScalarNode) else None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)  # noqa: S506
    table = template["Resources"]["AuditGlueTable"]["Properties"]["TableInput"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == list(AUDIT_COLUMNS)
    assert table["Parameters"]["storage.location.template"].endswith(f"/{AUDIT_PREFIX}event_date=${{!event_date}}/")


def test_export_writes_one_object_per_date_never_overwrites_and_skips_removals(tmp_path: Path) -> None:
    day1 = [ev(dt.datetime(2026, 11, 1, 23, 59, tzinfo=UTC)), ev(dt.datetime(2026, 11, 1, 23, 59, 30, tzinfo=UTC))]
    day2 = [ev(dt.datetime(2026, 11, 2, 0, 0, 1, tzinfo=UTC), record_ids=("r1",), records_returned=1)]
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-2")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"},
                         ObjectLockEnabledForBucket=True)
        records = stream_records(day1 + day2) + stream_records(day1, name="REMOVE")
        first = export_stream_records(records, BUCKET, s3=s3)
        assert [k.split("/")[1] for k in first.written] == ["event_date=2026-11-01", "event_date=2026-11-02"]
        again = export_stream_records(records, BUCKET, s3=s3)  # a retried batch
        assert again.written == [] and again.already_present == first.written
        versions = s3.list_object_versions(Bucket=BUCKET)["Versions"]
        assert len(versions) == 2  # nothing was written twice
        body = s3.get_object(Bucket=BUCKET, Key=first.written[1])["Body"].read()
    path = tmp_path / "x.parquet"
    path.write_bytes(body)
    table = pq.read_table(path)
    assert table.column_names == [name for name, _ in AUDIT_COLUMNS]
    assert table.column("record_ids").to_pylist() == [["r1"]]
    assert table.column("event_time").to_pylist()[0] == day2[0].event_time


def test_export_reports_failed_records_from_the_failed_run() -> None:
    events = [ev(dt.datetime(2026, 11, 1, 12, tzinfo=UTC)), ev(dt.datetime(2026, 11, 2, 12, tzinfo=UTC))]
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-2")
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})

        class FlakyS3:
            calls = 0

            def put_object(self, **kwargs: Any) -> Any:
                FlakyS3.calls += 1
                if FlakyS3.calls == 2:
                    raise ConnectionError("network")
                return s3.put_object(**kwargs)

        result = export_stream_records(stream_records(events), BUCKET, s3=FlakyS3())
    assert len(result.written) == 1
    assert result.failed_sequence_numbers == ["101"]


@pytest.fixture(scope="module")
def audit_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated month of audit with known answers, exported through the real exporter."""
    target = tmp_path_factory.mktemp("audit")
    events: list[AuditEvent] = []
    users = [f"user{i}@walsall.example" for i in range(8)]
    for day in range(1, 6):  # 2026-06-01 .. 05 (BST: London = UTC+1)
        for i, user in enumerate(users):
            for n in range(2 + (i % 2)):  # 2 or 3 searches at 10:00-11:00 UTC (11-12 London)
                events.append(ev(dt.datetime(2026, 6, day, 10, n, i, tzinfo=UTC), username=user))
    # a heavy user on 2026-06-03: 40 searches in the afternoon
    events += [ev(dt.datetime(2026, 6, 3, 13, 0, s, tzinfo=UTC), username="heavy@wmp.example", organisation="wm-police")
               for s in range(40)]
    # out of hours: 06:59 UTC = 07:59 London (out), 07:00 UTC = 08:00 London (in), 17:00 UTC = 18:00 London (out)
    events.append(ev(dt.datetime(2026, 6, 4, 6, 59, tzinfo=UTC), username="early@walsall.example"))
    events.append(ev(dt.datetime(2026, 6, 4, 7, 0, tzinfo=UTC), username="ontime@walsall.example"))
    events.append(ev(dt.datetime(2026, 6, 4, 17, 0, tzinfo=UTC), username="late@walsall.example"))
    # winter (GMT): 07:30 UTC = 07:30 London, out of hours
    events.append(ev(dt.datetime(2026, 1, 15, 7, 30, tzinfo=UTC), username="winter@walsall.example"))
    # sensitive results and opened records
    events.append(ev(dt.datetime(2026, 6, 2, 9, tzinfo=UTC), username="s1@walsall.example", action="open-person",
                     sensitive_returned=True, record_ids=("rec-1", "rec-2"), records_returned=2, search_id="S1"))
    events.append(ev(dt.datetime(2026, 6, 2, 9, 5, tzinfo=UTC), username="s2@walsall.example", action="open-person",
                     record_ids=("rec-2",), records_returned=1, search_id="S2"))
    events.append(ev(dt.datetime(2026, 6, 2, 9, 6, tzinfo=UTC), username="s3@walsall.example", action="search",
                     record_ids=("rec-2",), search_id="S3"))  # a search, not an opening
    events.append(ev(dt.datetime(2026, 6, 2, 9, 7, tzinfo=UTC), username="s4@walsall.example",
                     sensitive_returned=True, search_id="S4"))
    events.append(ev(dt.datetime(2026, 6, 2, 9, 8, tzinfo=UTC), username="admin@walsall.example", action="user-add",
                     sensitive_returned=False, target="x@walsall.example"))
    export(events, target)
    return target


def query(audit_dir: Path, name: str, **params: str) -> list[dict[str, Any]]:
    columns, rows = run_query(named_queries()[name], audit_dir, params)
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_every_named_query_is_checked() -> None:
    assert set(named_queries()) == {
        "searches-per-user-per-day", "searches-returning-sensitive-records", "searches-outside-office-hours",
        "users-with-unusually-many-searches", "who-opened-record"}


def test_searches_per_user_per_day(audit_dir: Path) -> None:
    rows = query(audit_dir, "searches-per-user-per-day", from_date="2026-06-03", to_date="2026-06-03")
    counts = {r["username"]: r["searches"] for r in rows}
    assert counts["heavy@wmp.example"] == 40
    assert counts["user0@walsall.example"] == 2 and counts["user1@walsall.example"] == 3
    assert {r["event_date"] for r in rows} == {"2026-06-03"}
    assert len(rows) == 9


def test_searches_returning_sensitive_records(audit_dir: Path) -> None:
    rows = query(audit_dir, "searches-returning-sensitive-records", from_date="2026-06-01", to_date="2026-06-30")
    assert [(r["username"], r["action"]) for r in rows] == [("s1@walsall.example", "open-person"),
                                                             ("s4@walsall.example", "search")]


def test_searches_outside_office_hours_in_london_time(audit_dir: Path) -> None:
    rows = query(audit_dir, "searches-outside-office-hours", from_date="2026-01-01", to_date="2026-12-31")
    assert [(r["username"], r["london_hour"]) for r in rows] == [
        ("winter@walsall.example", 7), ("early@walsall.example", 7), ("late@walsall.example", 18)]


def test_users_with_unusually_many_searches(audit_dir: Path) -> None:
    rows = query(audit_dir, "users-with-unusually-many-searches", from_date="2026-06-01", to_date="2026-06-30")
    assert [(r["username"], r["event_date"], r["searches"]) for r in rows] == [("heavy@wmp.example", "2026-06-03", 40)]


def test_who_opened_record(audit_dir: Path) -> None:
    assert [r["username"] for r in query(audit_dir, "who-opened-record", record_id="rec-2")] == [
        "s1@walsall.example", "s2@walsall.example"]
    assert query(audit_dir, "who-opened-record", record_id="rec-404") == []


def test_queries_run_over_an_empty_audit(tmp_path: Path) -> None:
    for saved in named_queries().values():
        params = {p: ("rec-1" if p == "record_id" else "2026-06-01") for p in saved.parameters}
        assert run_query(saved, tmp_path, params)[1] == []


def test_missing_parameter_is_a_clear_error(audit_dir: Path) -> None:
    with pytest.raises(ValueError, match="missing to_date"):
        query(audit_dir, "searches-per-user-per-day", from_date="2026-06-01")


def test_mast_audit_query_command(audit_dir: Path) -> None:
    mast = Path(sys.executable).parent / "mast"
    done = subprocess.run([str(mast), "audit", "query", "who-opened-record", "--param", "record_id=rec-1",
                           "--audit-dir", str(audit_dir)], capture_output=True, text=True, check=True)
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith("event_time,organisation,username")
    assert len(lines) == 2 and "s1@walsall.example" in lines[1]
    bad = subprocess.run([str(mast), "audit", "query", "nope", "--audit-dir", str(audit_dir)],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "who-opened-record" in bad.stderr
