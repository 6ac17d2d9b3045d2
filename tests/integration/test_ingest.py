"""Ingest against S3, DynamoDB and SQS (moto in process): the steps around the parser.

Each test drops an upload in the landing folder the way the SFTP gateway does, runs
:func:`mast.feeds.ingest.ingest_upload` on the event, and checks what a partner, the match function
and an auditor would see: the receipt, the curated versions, the raw archive, the landing folder.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pyarrow.parquet as pq
import pytest

moto = pytest.importorskip("moto")

from mast.feeds import store  # noqa: E402
from mast.feeds.events import FeedIngested, UploadCompletedEvent  # noqa: E402
from mast.feeds.ingest import IngestSettings, ingest_upload  # noqa: E402
from mast.feeds.parse import RECORD_SCHEMA  # noqa: E402
from tools.generate import generate_days  # noqa: E402

REGION = "eu-west-2"
SETTINGS = IngestSettings("mast-t-landing", "mast-t-raw", "mast-t-curated", "mast-t-control",
                          "")  # queue url filled in by the fixture  # fmt: skip


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with moto.mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3 = session.client("s3")
        for bucket in (SETTINGS.landing_bucket, SETTINGS.raw_bucket, SETTINGS.curated_bucket):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        session.client("dynamodb").create_table(
            TableName=SETTINGS.control_table, BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        )  # fmt: skip
        url = session.client("sqs").create_queue(
            QueueName="mast-t-match.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]  # fmt: skip
        settings = IngestSettings(**{**SETTINGS.__dict__, "match_queue_url": url})
        yield {"session": session, "s3": s3, "settings": settings, "sqs": session.client("sqs")}


def upload(aws: dict[str, Any], key: str, data: bytes) -> Any:
    aws["s3"].put_object(Bucket=SETTINGS.landing_bucket, Key=key, Body=data)
    event = UploadCompletedEvent.model_validate(
        {"server-id": "s-local", "username": key.split("/")[1], "file-path": f"/{SETTINGS.landing_bucket}/{key}",
         "bytes": len(data)})  # fmt: skip
    return ingest_upload(event, aws["settings"], session=aws["session"])


def receipt(aws: dict[str, Any], key: str) -> dict[str, Any]:
    partner, feed, name = key.split("/", 2)
    body = aws["s3"].get_object(Bucket=SETTINGS.landing_bucket, Key=f"{partner}/{feed}/reports/{name}.report.json")
    return json.loads(body["Body"].read())


def keys(aws: dict[str, Any], bucket: str, prefix: str = "") -> list[str]:
    listed = aws["s3"].list_objects_v2(Bucket=bucket, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def current(aws: dict[str, Any], feed: str) -> dict[str, dict[str, Any]]:
    table = store.read_current_records(SETTINGS.curated_bucket, [feed])
    return {r["record_id"]: r for r in table.to_pylist()}


def messages(aws: dict[str, Any]) -> list[FeedIngested]:
    got = aws["sqs"].receive_message(QueueUrl=aws["settings"].match_queue_url, MaxNumberOfMessages=10)
    return [FeedIngested.model_validate_json(m["Body"]) for m in got.get("Messages", [])]


DAYS = generate_days(60, seed=7, days=3, as_of=dt.date(2026, 11, 20))


def test_delta_upload_stores_accepted_rows_archives_raw_and_announces(aws: dict[str, Any]) -> None:
    extract = DAYS[0].files["wm-police"]
    key = f"wm-police/wm-police/{extract.file_name}"
    outcome = upload(aws, key, extract.data)

    got = receipt(aws, key)
    assert got["status"] in ("accepted", "accepted_with_rejections")
    assert got["rows_read"] == got["rows_accepted"] + got["rows_rejected"] + got["rows_filtered"] + \
        got["rows_duplicate"] + got["rows_withdrawal"]
    assert got["rows_rejected"] == len(extract.bad_rows)
    assert got["feed_totals"]["records"] == got["rows_accepted"]
    # the curated file holds exactly the accepted rows, in the curated schema, under the Glue layout
    files = keys(aws, SETTINGS.curated_bucket, "records/")
    assert files == [f"records/partner=wm-police/feed=wm-police/ingest_date={got['ingest_date']}/{got['ingest_id']}.parquet"]
    table = pq.read_table(io.BytesIO(aws["s3"].get_object(Bucket=SETTINGS.curated_bucket, Key=files[0])["Body"].read()))
    assert table.schema.remove_metadata().equals(RECORD_SCHEMA)
    assert table.num_rows == got["rows_accepted"]
    # the raw upload is archived untouched and gone from landing; the receipts stay
    raw = keys(aws, SETTINGS.raw_bucket)
    assert raw == [f"archive/wm-police/wm-police/{got['ingest_id']}/{extract.file_name}"]
    assert aws["s3"].get_object(Bucket=SETTINGS.raw_bucket, Key=raw[0])["Body"].read() == extract.data
    assert keys(aws, SETTINGS.landing_bucket) == [f"wm-police/wm-police/reports/{extract.file_name}.{s}"
                                                  for s in ("rejected.csv", "report.json")]  # fmt: skip
    assert messages(aws) == [outcome.announced]
    assert outcome.announced.versions == got["rows_accepted"]


def test_same_file_twice_changes_nothing(aws: dict[str, Any]) -> None:
    extract = DAYS[0].files["walsall-nhs-ae"]
    key = f"walsall-healthcare/walsall-nhs-ae/{extract.file_name}"
    upload(aws, key, extract.data)
    before = keys(aws, SETTINGS.curated_bucket)
    first = receipt(aws, key)
    messages(aws)
    again = f"walsall-healthcare/walsall-nhs-ae/copy-of-{extract.file_name}"
    upload(aws, again, extract.data)
    second = receipt(aws, again)
    assert second["status"] == "already_ingested"
    assert first["ingest_id"] in second["note"]
    assert second["feed_totals"] == first["feed_totals"]
    assert keys(aws, SETTINGS.curated_bucket) == before
    assert messages(aws) == []


def test_snapshot_end_dates_missing_records_and_keeps_history(aws: dict[str, Any]) -> None:
    feed = "walsall-adults"
    day1, day2 = DAYS[0].files[feed], DAYS[1].files[feed]
    upload(aws, f"walsall-council/{feed}/{day1.file_name}", day1.data)
    open_after_day1 = {r for r, v in current(aws, feed).items() if v["end_date"] is None}
    upload(aws, f"walsall-council/{feed}/{day2.file_name}", day2.data)
    r2 = receipt(aws, f"walsall-council/{feed}/{day2.file_name}")
    now = current(aws, feed)
    in_day2 = {r for r, v in now.items() if v["ingest_id"] == r2["ingest_id"] and v["end_date"] is None}
    ended = {r for r, v in now.items() if v["end_date"] is not None}
    assert ended == open_after_day1 - in_day2
    for record_id in ended:  # history kept: the ended version carries the details it had
        assert now[record_id]["end_date"] == dt.date.fromisoformat(r2["ingest_date"])
        assert now[record_id]["record_date"] is not None
    totals = r2["feed_totals"]
    assert totals["ended"] == len(ended)
    assert totals["searchable"] == len(in_day2)
    assert totals["records"] == len(now)


def test_delta_withdrawal_of_an_earlier_row(aws: dict[str, Any]) -> None:
    feed = "wm-police"
    day1 = DAYS[0].files[feed]
    upload(aws, f"wm-police/{feed}/{day1.file_name}", day1.data)
    held = sorted(current(aws, feed))
    victim = held[0].split(":", 1)[1]
    header = day1.data.split(b"\r\n", 1)[0].decode("cp1252")
    columns = header.split(",")
    row = ["" for _ in columns]
    row[columns.index("Occurrence Nominal Ref")] = victim
    row[columns.index("Record Status")] = "WITHDRAWN"
    data = (header + "\r\n" + ",".join(row) + "\r\n").encode("cp1252")
    outcome = upload(aws, f"wm-police/{feed}/withdraw.csv", data)
    got = receipt(aws, f"wm-police/{feed}/withdraw.csv")
    assert got["rows_withdrawal"] == 1
    assert current(aws, feed)[held[0]]["withdrawn"] is True
    assert got["feed_totals"]["withdrawn"] == 1
    assert outcome.announced is not None and outcome.announced.versions == 1


def test_quarantined_file_is_archived_apart_and_writes_nothing(aws: dict[str, Any]) -> None:
    key = "wm-fire/wm-fire/photo.csv"
    upload(aws, key, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    got = receipt(aws, key)
    assert got["status"] == "quarantined" and got["quarantine"]
    assert keys(aws, SETTINGS.curated_bucket) == []
    assert keys(aws, SETTINGS.raw_bucket)[0].startswith("quarantine/wm-fire/wm-fire/")
    assert messages(aws) == []


def test_unknown_feed_folder_is_quarantined(aws: dict[str, Any]) -> None:
    key = "wm-police/not-a-feed/incidents.csv"
    upload(aws, key, DAYS[0].files["wm-police"].data)
    got = receipt(aws, key)
    assert got["status"] == "quarantined"
    assert "unknown feed" in got["quarantine"]


def test_crash_after_writing_then_retry_gives_one_clean_result(aws: dict[str, Any],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    feed = "walsall-children"
    day1, day2 = DAYS[0].files[feed], DAYS[1].files[feed]
    upload(aws, f"walsall-council/{feed}/{day1.file_name}", day1.data)
    messages(aws)

    from mast.feeds import ingest as ingest_module

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("simulated crash after the Parquet write")

    key = f"walsall-council/{feed}/{day2.file_name}"
    with monkeypatch.context() as patch, pytest.raises(RuntimeError):
        patch.setattr(ingest_module._Ingest, "_write_receipt", crash)
        upload(aws, key, day2.data)
    crashed_state = keys(aws, SETTINGS.curated_bucket)
    # the queue delivers the same event again
    event = UploadCompletedEvent.model_validate({"server-id": "s", "username": feed,
                                                 "file-path": f"/{SETTINGS.landing_bucket}/{key}"})  # fmt: skip
    for _ in range(2):
        ingest_upload(event, aws["settings"], session=aws["session"])
    assert keys(aws, SETTINGS.curated_bucket) == crashed_state  # same file rewritten, not a second one
    got = receipt(aws, key)
    ended = {r for r, v in current(aws, feed).items() if v["end_date"] is not None}
    assert got["feed_totals"]["ended"] == len(ended)
    assert f"walsall-council/{feed}/{day2.file_name}" not in keys(aws, SETTINGS.landing_bucket)
