"""The index's parts on their own: item layout, the read path's imports, messages, salt, decisions."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from pydantic import ValidationError

moto = pytest.importorskip("moto")

from mast.access.caller import AccessDenied, Caller  # noqa: E402
from mast.access.decisions import DecisionStore  # noqa: E402
from mast.index import IndexReader, IndexUnavailable, KeySaltUnavailable, key_salt, layout  # noqa: E402
from mast.index.layout import IndexedRecord  # noqa: E402
from mast.index.messages import RebuildRequested, RelinkRequested, parse_match_message, send_match_message  # noqa: E402
from mast.index.salt import forget_cached_salts  # noqa: E402
from mast.linkage.decisions import NOT_SAME, SAME, Decision, latest  # noqa: E402
from mast.records import PartnerContact  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
RECORD = IndexedRecord(
    record_id="wm-police:CR1", partner="wm-police", feed="wm-police", source_record_id="CR1",
    record_date=dt.date(2026, 5, 2), given_name="Imran", middle_name="Ali", family_name="Khan",
    dob=dt.date(1990, 8, 19), sex="M", address_line1="14 Brace Street", address_line2="Walsall", postcode="WS1 3PS",
    contact=PartnerContact(team="PPU", email="ppu@wmp.example"), sensitive=True, ingest_id="i1",
    person_id="P-1", address_id="A-1", term_frequencies={"family": 0.01, "dob": 0.0001},
)
STEWARD = Caller(sub="s-1", email="s@x", organisation="walsall-council", groups=frozenset({"data-stewards"}))


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "eu-west-2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    forget_cached_salts()
    with moto.mock_aws():
        session = boto3.session.Session(region_name="eu-west-2")
        session.client("dynamodb").create_table(
            TableName="t", BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                  {"AttributeName": "sk", "AttributeType": "S"}],
        )
        yield session
    forget_cached_salts()


def test_a_record_item_round_trips_and_holds_no_more_than_the_record() -> None:
    items = layout.record_items("v1", RECORD, ["nhs#01", "family#02", "nhs#01"])
    record_item = items[0]
    assert layout.record_from_item(record_item) == RECORD
    assert layout.record_keys_of(record_item) == ["nhs#01", "family#02"]
    assert [(i["pk"]["S"], i["sk"]["S"]) for i in items[1:]] == [
        ("V#v1#K#nhs#01", "K"), ("V#v1#K#family#02", "K"), ("V#v1#P#P-1", "P"), ("V#v1#A#A-1", "A")]
    assert all(layout.ids_of(i) == [RECORD.record_id] for i in items[1:])
    # key, person and address items carry only ids: no name, date of birth or address outside the record item
    assert all(set(i) == {"pk", "sk", "ids", "count"} for i in items[1:3])
    # the person's item names the record's address beside it, the address's item its person
    assert layout.tags_of(items[3]) == {RECORD.record_id: "A-1"} and layout.tags_of(items[4]) == {RECORD.record_id: "P-1"}
    assert all(set(i) == {"pk", "sk", "ids", "count", "of"} for i in items[3:])
    fields = RECORD.linkage_fields()
    assert fields["source"] == "wm-police" and fields["dob"] == "1990-08-19" and fields["record_date"] == "2026-05-02"


def test_the_read_path_imports_neither_pandas_nor_pyarrow() -> None:
    code = ("import sys\nimport mast.index, mast.index.reader, mast.access.decisions, mast.index.messages\n"
            "bad = [n for n in ('pandas', 'pyarrow', 'awswrangler') if n in sys.modules]\nassert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def test_a_reader_before_the_first_link_says_there_is_no_index(aws: Any) -> None:
    reader = IndexReader("t", aws.client("dynamodb"))
    assert reader.live_version() is None
    with pytest.raises(IndexUnavailable):
        reader.records(["x"])


def _born(i: int, year: int | None) -> IndexedRecord:
    return RECORD.model_copy(update={"record_id": f"r{i:04d}", "dob": dt.date(year, 1, 1) if year else None})


def test_record_ids_for_keys_leaves_out_keys_over_the_limit(aws: Any) -> None:
    from mast.index.writer import IndexWriter

    ddb = aws.client("dynamodb")
    writer = IndexWriter("t", ddb)
    writer.put(layout.version_items("v1", [(_born(i, 1990), ["big"]) for i in range(5)] + [(_born(1, 1990), ["small"])]))
    reader = IndexReader("t", ddb, version="v1")
    assert reader.record_ids_for_keys(["big", "small", "none"]) == {
        "big": [f"r{i:04d}" for i in range(5)], "small": ["r0001"], "none": []}
    assert reader.record_ids_for_keys(["big", "small"], max_per_key=4) == {"small": ["r0001"]}


def test_a_key_of_more_than_a_block_is_split_by_birth_year_and_read_by_year(aws: Any) -> None:
    """Issue 14 point 5: one item per key; past 500 records the key is split by birth year, so a
    search with a year still reads that year's records, and one without learns how many share it."""
    from mast.index.writer import IndexWriter

    ddb = aws.client("dynamodb")
    # 1,200 records under one key: 400 born in each of 1980 and 1990, 399 in 2000, and one with no date of birth
    held = [(_born(i, (1980, 1990, 2000)[i % 3] if i < 1199 else None), ["huge", f"own#{i}"]) for i in range(1200)]
    items = layout.version_items("v1", held)
    huge = [i for i in items if i["pk"]["S"] == "V#v1#K#huge"]
    assert sorted(i["sk"]["S"] for i in huge) == ["K", "Y#-", "Y#1980", "Y#1990", "Y#2000"]
    assert layout.count_of(next(i for i in huge if i["sk"]["S"] == "K")) == 1200
    lookups = [i for i in items if i["sk"]["S"] != layout.HOUSEHOLD_SK]
    assert len(lookups) == 1200 + 5 + 1200 + 1 + 1  # records, the key's five, each own key, person, address
    assert len(items) == len(lookups) + 1  # and the address's household item (issue 14 point 6)
    IndexWriter("t", ddb).put(items)
    reader = IndexReader("t", ddb, version="v1")
    found = reader.lookup(["huge", "own#7"], year=1990)
    assert "r0007" in found.ids["huge"] and "r1199" in found.ids["huge"]  # 1990's, and no date of birth
    assert len(found.ids["huge"]) == 401 and not found.shared and found.ids["own#7"] == ["r0007"]
    nameless = reader.lookup(["huge", "own#7"])
    assert nameless.shared == {"huge": 1200} and "huge" not in nameless.ids and nameless.ids["own#7"] == ["r0007"]


def test_a_year_past_a_block_is_capped_and_counts_what_it_left_out() -> None:
    items = layout.key_items("v1", "k", {f"r{i:04d}": "1990" for i in range(700)})
    year = next(i for i in items if i["sk"]["S"] == "Y#1990")
    assert len(layout.ids_of(year)) == layout.KEY_BLOCK and layout.count_of(year) == 700
    assert layout.years_of(items[0]) == {"1990": 700}


def test_an_index_in_the_layout_before_issue_14_is_not_read_but_rebuilt() -> None:
    """The fingerprint a version records (and a search checks) names the layout: main's last
    fingerprint before the one-item-per-key layout was 55e1147319aec0a0."""
    from mast.index.address_keys import index_linkage

    assert index_linkage() != "55e1147319aec0a0"


def test_the_salt_comes_from_secrets_manager_once_and_never_defaults(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KEY_SALT_SECRET_ARN", raising=False)
    with pytest.raises(KeySaltUnavailable):
        key_salt()
    secrets = aws.client("secretsmanager")
    arn = secrets.create_secret(Name="salt", SecretString="abc")["ARN"]
    monkeypatch.setenv("KEY_SALT_SECRET_ARN", arn)
    assert key_salt(client=secrets) == "abc"
    secrets.put_secret_value(SecretId=arn, SecretString="changed")
    assert key_salt(client=secrets) == "abc"  # cached per container
    with pytest.raises(KeySaltUnavailable):
        key_salt("arn:aws:secretsmanager:eu-west-2:123456789012:secret:missing", client=secrets)


def test_match_messages_are_validated() -> None:
    assert parse_match_message('{"type": "rebuild"}') == RebuildRequested()
    assert parse_match_message('{"type": "relink", "record_ids": ["a"]}') == RelinkRequested(record_ids=["a"])
    message = parse_match_message('{"type": "feed-ingested", "feed": "f", "partner": "p", "ingest_id": "i",'
                                  ' "records_uri": null, "versions": 0}')
    assert message.type == "feed-ingested"
    for bad in ('{"type": "relink", "record_ids": []}', '{"type": "drop-table"}', "not json"):
        with pytest.raises(ValidationError):
            parse_match_message(bad)


def test_a_relink_request_goes_on_the_fifo_queue_in_the_index_group(aws: Any) -> None:
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="m.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    send_match_message(RelinkRequested(record_ids=["a", "b"]), url, sqs)
    got = sqs.receive_message(QueueUrl=url, AttributeNames=["MessageGroupId"])["Messages"][0]
    assert got["Attributes"]["MessageGroupId"] == "index"
    assert parse_match_message(got["Body"]) == RelinkRequested(record_ids=["a", "b"])


def test_decisions_are_kept_in_order_with_who_and_when_and_only_from_stewards(aws: Any) -> None:
    store = DecisionStore("t", aws.client("dynamodb"))
    t0 = dt.datetime(2026, 11, 25, 10, tzinfo=dt.UTC)
    first = store.record(Decision("a", "b", SAME, decided_by="forged"), STEWARD, now=t0)
    second = store.record(Decision("b", "a", NOT_SAME, reason="different mothers"), STEWARD,
                          now=t0 + dt.timedelta(minutes=1))
    assert first.decided_by == "s-1" and first.decided_at == t0.isoformat()
    assert store.all() == [first, second]
    assert latest(store.all()) == [second]  # the last word on a pair wins
    practitioner = Caller(sub="p", email="p@x", organisation="walsall-council", groups=frozenset({"practitioners"}))
    with pytest.raises(AccessDenied):
        store.record(Decision("a", "c", SAME), practitioner)
    with pytest.raises(ValueError):
        store.record(Decision("a", "c", SAME, reason="x" * 501), STEWARD)
    assert len(store.all()) == 2


def test_the_linkage_fingerprint_changes_with_how_keys_are_made() -> None:
    """A rule that makes other keys (another namespace, other parts) gives another fingerprint; the
    same rules give the same one (the index and the search agree only when nothing changed)."""
    import dataclasses

    from mast.index.address_keys import INDEX_KEY_RULES, index_linkage
    from mast.linkage.fingerprint import linkage_fingerprint

    assert index_linkage() == linkage_fingerprint(tuple(INDEX_KEY_RULES)) == index_linkage()
    first = INDEX_KEY_RULES[0]
    renamed = (dataclasses.replace(first, namespace=first.namespace + "-v2"), *INDEX_KEY_RULES[1:])
    fewer = INDEX_KEY_RULES[:-1]
    explained = (dataclasses.replace(first, explanation="said otherwise"), *INDEX_KEY_RULES[1:])
    assert len({index_linkage(), linkage_fingerprint(renamed), linkage_fingerprint(fewer)}) == 3
    assert linkage_fingerprint(explained) == index_linkage()  # words about a rule change nothing


def test_an_import_still_running_past_its_hours_fails_the_rebuild() -> None:
    """The state machine's wait-and-ask loop has no count of its own: ``import_status`` ends it."""
    from mast.index import imported

    began = dt.datetime(2026, 12, 1, 6, tzinfo=dt.UTC)

    class Imports:  # DynamoDB's DescribeImport of an import still running (a stand-in for boto3's client)
        def describe_import(self, ImportArn: str) -> dict[str, Any]:
            return {"ImportTableDescription": {"ImportStatus": "IN_PROGRESS", "StartTime": began,
                                               "ImportedItemCount": 7}}

    class Session:
        def client(self, name: str) -> Imports:
            return Imports()

    step = imported.ImportStatusStep(import_arns=["arn:aws:dynamodb:eu-west-2:1:table/t/import/1"])
    hours = dt.timedelta(hours=imported.IMPORT_HOURS_AT_MOST)
    status = imported.import_status(step, session=Session(), now=began + hours - dt.timedelta(minutes=1))
    assert status.status == "IN_PROGRESS" and status.imported == 7
    with pytest.raises(imported.ImportFailed, match="still IN_PROGRESS after 24.0 hours"):
        imported.import_status(step, session=Session(), now=began + hours + dt.timedelta(minutes=1))


def test_a_version_in_several_tables_is_imported_when_every_import_is_and_fails_when_any_does() -> None:
    """A version cut into tables (:class:`mast.index.layout.VersionTables`) has an import per table:
    ``import_status`` says ``COMPLETED`` only once every one is, counts the items of all, and fails
    the rebuild when any one fails (a table short of items is people a search would miss)."""
    from mast.index import imported

    states = {"a": {"ImportStatus": "COMPLETED", "ImportedItemCount": 5},
              "b": {"ImportStatus": "IN_PROGRESS", "ImportedItemCount": 2}}

    class Imports:
        def describe_import(self, ImportArn: str) -> dict[str, Any]:
            return {"ImportTableDescription": states[ImportArn]}

    class Session:
        def client(self, name: str) -> Imports:
            return Imports()

    step = imported.ImportStatusStep(import_arns=["a", "b"])
    assert imported.import_status(step, session=Session()).status == "IN_PROGRESS"
    states["b"] = {"ImportStatus": "COMPLETED", "ImportedItemCount": 6}
    assert imported.import_status(step, session=Session()) == imported.ImportStatus(status="COMPLETED", imported=11)
    states["a"] = {"ImportStatus": "FAILED", "FailureCode": "ItemsInError", "ErrorCount": 1}
    with pytest.raises(imported.ImportFailed, match="ended FAILED"):
        imported.import_status(step, session=Session())


def test_a_version_s_tables_hold_each_partition_in_one_of_them() -> None:
    from mast.index.layout import VersionTables, key_pk, partition_of, record_pk

    one = VersionTables("t-index-v1")
    assert one.names() == ["t-index-v1"] and one.of(record_pk("v1", "r")) == "t-index-v1"
    assert one.attributes() == {"table": {"S": "t-index-v1"}}
    three = VersionTables("t-index-v1", 3)
    assert three.names() == ["t-index-v1-p00", "t-index-v1-p01", "t-index-v1-p02"]
    pks = [key_pk("v1", f"name#{i:016x}") for i in range(3000)]
    used = {three.of(pk) for pk in pks}
    assert used == set(three.names())  # every table used
    assert all(three.of(pk) == f"t-index-v1-p{partition_of(pk, 3):02d}" for pk in pks)  # the same every time
    assert VersionTables.of_item(three.attributes(), "t-index") == three
    assert VersionTables.of_item({}, "t-index") == VersionTables("t-index")


def test_a_million_ids_are_encoded_as_one_array() -> None:
    """An export shard codes a region's person and address ids; pyarrow turns a large NumPy string
    array into a ChunkedArray, which has no codes (found by ``mast bench linkage --large``)."""
    import numpy as np

    from mast.index.imported import encoded

    ids = np.array([f"P-{i % 400_000:016x}" for i in range(1_000_000)], dtype=object)
    coded = encoded(ids)
    assert len(coded.indices) == 1_000_000 and len(coded.dictionary) == 400_000
    assert coded.dictionary[int(coded.indices[999_999].as_py())].as_py() == ids[999_999]


def test_an_export_shard_holds_whole_records_only_for_the_rows_it_needs(tmp_path: Path) -> None:
    """``ShardRecords`` reads every record's id and date of birth, and whole records only for the rows
    loaded, a row group at a time; asking for a row it did not load is an error, not a wrong record."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mast.index.imported import ShardRecords, same_ids

    ids = [f"r{i}" for i in range(10)]
    path = tmp_path / "records.parquet"
    pq.write_table(pa.table({"record_id": ids, "dob": [f"2000-01-{i + 1:02d}" for i in range(10)],
                             "family_name": [f"NAME{i}" for i in range(10)]}), path, row_group_size=3)
    records = ShardRecords(path)
    assert len(records.record_id) == 10 and same_ids(records.record_id, ids) and not same_ids(records.record_id, ids[::-1])
    assert records.file.num_row_groups == 4
    records.load(np.array([1, 2, 3, 8, 9]))  # rows from three of the four groups
    assert [r["record_id"] for r in records.take([9, 1, 3])] == ["r9", "r1", "r3"]
    assert records.take([8])[0]["family_name"] == "NAME8"
    with pytest.raises(ValueError, match="did not load"):
        records.take([4])


def test_a_writers_client_holds_a_connection_for_each_of_its_threads() -> None:
    """botocore keeps 10 connections unless told: a writer's threads past that would each open a
    connection and throw it away (a TLS handshake a call, on AWS)."""
    from mast.index.writer import THREADS, IndexWriter, writer_client

    session = boto3.session.Session(region_name="eu-west-2", aws_access_key_id="t", aws_secret_access_key="t")
    assert THREADS > 10
    assert writer_client(session).meta.config.max_pool_connections == THREADS
    assert IndexWriter("t", writer_client(session)).threads == THREADS
