"""The match run against S3, DynamoDB, SQS and Secrets Manager (moto in process).

Generated partner extracts go through the real ingest (:func:`mast.feeds.ingest.ingest_upload`),
whose ``feed-ingested`` messages drive :func:`mast.index.linking.run_match`; what the index holds
is then read back with :class:`mast.index.IndexReader`, as the search function reads it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

moto = pytest.importorskip("moto")

from mast.access.caller import Caller  # noqa: E402
from mast.access.decisions import DecisionStore  # noqa: E402
from mast.config import load_partnership  # noqa: E402
from mast.feeds import store  # noqa: E402
from mast.feeds.events import FeedIngested, UploadCompletedEvent  # noqa: E402
from mast.feeds.ingest import IngestSettings, ingest_upload  # noqa: E402
from mast.index import IndexReader, layout  # noqa: E402
from mast.index.linking import MatchSettings, run_match  # noqa: E402
from mast.index.messages import RebuildRequested, RelinkRequested, parse_match_message  # noqa: E402
from mast.index.reader import IndexUnavailable  # noqa: E402
from mast.index.salt import forget_cached_salts  # noqa: E402
from mast.index.writer import IndexWriter  # noqa: E402
from mast.linkage.decisions import NOT_SAME, Decision  # noqa: E402
from mast.linkage.scorer import query_keys  # noqa: E402
from mast.linkage.table import TF_FIELDS  # noqa: E402
from tools.generate import generate_days  # noqa: E402

REGION = "eu-west-2"
DAYS = generate_days(150, seed=5, days=3, as_of=dt.date(2026, 11, 20))
PARTNERSHIP = load_partnership()
STEWARD = Caller(sub="steward-1", email="steward@mast.example", organisation="walsall-council",
                 groups=frozenset({"data-stewards"}))


def _table(ddb: Any, name: str) -> None:
    ddb.create_table(
        TableName=name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"}],
    )


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    forget_cached_salts()
    with moto.mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3 = session.client("s3")
        for bucket in ("t-landing", "t-raw", "t-curated"):
            s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        ddb = session.client("dynamodb")
        _table(ddb, "t-control")
        _table(ddb, "t-index")
        sqs = session.client("sqs")
        url = sqs.create_queue(QueueName="t-match.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        secret = session.client("secretsmanager").create_secret(Name="t-key-salt", SecretString="s3cret-salt")["ARN"]
        yield {
            "session": session, "s3": s3, "ddb": ddb, "sqs": sqs, "queue": url,
            "ingest": IngestSettings("t-landing", "t-raw", "t-curated", "t-control", url),
            "match": MatchSettings("t-curated", "t-index", "t-control", secret),
        }
    forget_cached_salts()


def ingest_day(aws: dict[str, Any], day: int, feeds: tuple[str, ...] | None = None) -> list[FeedIngested]:
    """Upload one generated day's extracts through the real ingest; the messages it queued."""
    announced = []
    for feed_id, extract in DAYS[day].files.items():
        if feeds is not None and feed_id not in feeds:
            continue
        key = f"{PARTNERSHIP.feed(feed_id).landing_prefix}{extract.file_name}"
        aws["s3"].put_object(Bucket="t-landing", Key=key, Body=extract.data)
        event = UploadCompletedEvent.model_validate({"server-id": "s", "username": feed_id,
                                                     "file-path": f"/t-landing/{key}", "bytes": len(extract.data)})
        outcome = ingest_upload(event, aws["ingest"], session=aws["session"])
        if outcome.announced is not None:
            announced.append(outcome.announced)
    return announced


def match(aws: dict[str, Any], message: Any) -> Any:
    return run_match(message, aws["match"], session=aws["session"])


def all_index_items(aws: dict[str, Any]) -> list[dict[str, Any]]:
    items, kwargs = [], {"TableName": "t-index"}
    while True:
        page = aws["ddb"].scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def version_items(aws: dict[str, Any], version: str) -> dict[tuple[str, str], dict[str, Any]]:
    prefix = layout.version_prefix(version)
    return {(i["pk"]["S"], i["sk"]["S"]): i for i in all_index_items(aws) if i["pk"]["S"].startswith(prefix)}


def people_of(reader: IndexReader, record_ids: list[str]) -> dict[str, str]:
    return {r.record_id: r.person_id for r in reader.records(record_ids)}


def state_record_ids(aws: dict[str, Any], version: str) -> list[str]:
    items = version_items(aws, version)
    return sorted(sk and pk.split("#R#", 1)[1] for pk, sk in items if "#R#" in pk)


def test_first_ingest_builds_a_version_the_reader_serves_as_search_needs(aws: dict[str, Any]) -> None:
    messages = ingest_day(aws, 0)
    assert messages
    outcome = match(aws, messages[0])
    assert outcome.mode == "rebuild"  # no live index yet: everything ingested so far is linked
    reader = IndexReader("t-index", aws["ddb"], secrets_client=aws["session"].client("secretsmanager"),
                         salt_secret_arn=aws["match"].key_salt_secret_arn)
    assert reader.live_version() == outcome.version
    ids = state_record_ids(aws, outcome.version)
    assert len(ids) == outcome.records > 0
    records = reader.records(ids[:150])
    assert [r.record_id for r in records] == ids[:150]
    # a search made from a record's own details finds it through the salted lookup keys
    record = next(r for r in records if r.dob and r.family_name and r.given_name)
    keys = query_keys(record.linkage_fields(), reader.key_salt())
    assert keys and query_keys(record.linkage_fields()) != keys  # the salt changes every key
    found = reader.record_ids_for_keys(keys)
    assert set(found) == set(keys) and all(record.record_id in found[k] for k in keys)
    assert reader.record_ids_for_keys(["dob+family_initial#0000000000000001"]) == {
        "dob+family_initial#0000000000000001": []}
    # person and address memberships agree with the records
    assert record.record_id in reader.person_record_ids(record.person_id)
    for other in reader.records(reader.person_record_ids(record.person_id)):
        assert other.person_id == record.person_id
    with_address = next(r for r in records if r.address_id)
    assert with_address.record_id in reader.address_record_ids(with_address.address_id)
    assert record.term_frequencies and set(record.term_frequencies) <= set(TF_FIELDS)
    assert reader.model().threshold > 0
    # the linkage report: counts only, current and dated
    for key in ("linkage/report.json", "linkage/reports/" + dt.datetime.now(dt.UTC).date().isoformat() + ".json"):
        report = json.loads(aws["s3"].get_object(Bucket="t-curated", Key=key)["Body"].read())
        assert report["records"] == outcome.records and report["people"] == outcome.people
        assert record.family_name not in json.dumps(report)


def test_a_rebuild_switches_in_one_step_and_a_reader_sees_only_one_version(aws: dict[str, Any],
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    first = match(aws, ingest_day(aws, 0)[0])
    old_ids = state_record_ids(aws, first.version)
    pinned = IndexReader("t-index", aws["ddb"])
    assert pinned.live_version() == first.version
    seen_during: list[str | None] = []
    real_switch = IndexWriter.switch

    def switch_watched(self: IndexWriter, version: str, expected: str | None, stats: Any = None) -> None:
        # the new version is fully written, but until the pointer moves every reader reads the old one
        during = IndexReader("t-index", aws["ddb"])
        seen_during.append(during.live_version())
        assert [r.record_id for r in during.records(old_ids)] == old_ids
        real_switch(self, version, expected, stats)

    monkeypatch.setattr(IndexWriter, "switch", switch_watched)
    second = match(aws, RebuildRequested(reason="test"))
    assert second.mode == "rebuild" and second.version != first.version
    assert seen_during == [first.version]
    fresh = IndexReader("t-index", aws["ddb"])
    assert fresh.live_version() == second.version
    # the pinned reader still reads the old version whole: it is retired, kept for a day, then deleted
    assert [r.record_id for r in pinned.records(old_ids)] == old_ids
    old_items = version_items(aws, first.version)
    assert old_items and IndexWriter("t-index", aws["ddb"]).versions()[first.version] == "retired"
    assert not any("expires_at" in item for item in version_items(aws, second.version).values())
    assert second.retired_version == first.version
    # the switch is conditional: a rebuild that started from a version no longer live cannot switch
    writer = IndexWriter("t-index", aws["ddb"])
    with pytest.raises(Exception, match="changed"):
        real_switch(writer, first.version, first.version)
    assert fresh.live_version() == second.version


def test_an_incremental_update_writes_only_what_changed(aws: dict[str, Any]) -> None:
    first = match(aws, ingest_day(aws, 0)[0])
    before = version_items(aws, first.version)
    reader = IndexReader("t-index", aws["ddb"])
    reader.live_version()
    before_people = people_of(reader, state_record_ids(aws, first.version))
    messages = ingest_day(aws, 1, feeds=("wm-police",))
    assert messages
    outcome = match(aws, messages[0])
    assert outcome.mode == "incremental" and outcome.version == first.version
    after = version_items(aws, first.version)
    changed = {k for k in after if k not in before or after[k] != before[k]}
    gone = set(before) - set(after)
    assert 0 < len(changed) <= outcome.items_put
    assert len(gone) == outcome.items_deleted
    assert outcome.items_put < len(before) / 4  # a day's rows, not the whole index
    new_ids = set(parse_ids(aws, messages[0]))
    touched = {pk.split("#R#", 1)[1] for pk, _ in changed if "#R#" in pk}
    assert touched & new_ids
    # a record the day did not bring was rewritten only because its person changed (joined a new record)
    after_people = people_of(reader, sorted(touched - new_ids))
    assert all(after_people[rid] != before_people[rid] for rid in after_people)
    # records the day did not touch, and whose person did not change, were not rewritten
    untouched = [rid for rid, pid in before_people.items() if rid not in new_ids and rid not in touched]
    assert untouched and people_of(reader, untouched) == {rid: before_people[rid] for rid in untouched}


def parse_ids(aws: dict[str, Any], message: FeedIngested) -> list[str]:
    from mast.feeds.store import read_ingest_records

    return read_ingest_records(message.records_uri).column("record_id").to_pylist()


def test_a_withdrawn_record_disappears_from_the_index(aws: dict[str, Any]) -> None:
    messages = ingest_day(aws, 0)
    first = match(aws, messages[0])
    for message in messages[1:]:
        match(aws, message)
    reader = IndexReader("t-index", aws["ddb"])
    reader.live_version()
    indexed = set(state_record_ids(aws, first.version))
    withdrawn: list[str] = []
    for day in (1, 2):
        for message in ingest_day(aws, day):
            from mast.feeds.store import read_ingest_records

            versions = read_ingest_records(message.records_uri)
            withdrawn += [r["record_id"] for r in versions.to_pylist() if r["withdrawn"] and r["record_id"] in indexed]
            match(aws, message)
    assert withdrawn, "the generator withdraws a row sent in error on later days"
    assert reader.records(withdrawn) == []
    items = version_items(aws, first.version)
    assert not [k for k in items if k[1] in withdrawn]  # no key, person or address item names it either
    assert not [k for k, item in items.items() if set(withdrawn) & set(layout.ids_of(item))]


def test_a_stewards_not_the_same_person_holds_through_relink_and_rebuild(aws: dict[str, Any]) -> None:
    first = match(aws, ingest_day(aws, 0)[0])
    reader = IndexReader("t-index", aws["ddb"])
    reader.live_version()
    by_person: dict[str, list[str]] = defaultdict(list)
    for r in reader.records(state_record_ids(aws, first.version)):
        by_person[r.person_id].append(r.record_id)
    a, b = next(ids for ids in by_person.values() if len(ids) >= 2)[:2]
    kept = DecisionStore("t-control", aws["ddb"]).record(Decision(a, b, NOT_SAME, reason="checked"), STEWARD)
    assert kept.decided_by == "steward-1" and kept.decided_at
    assert DecisionStore("t-control", aws["ddb"]).all() == [kept]
    relinked = match(aws, parse_match_message(RelinkRequested(record_ids=[a, b]).model_dump_json()))
    assert relinked.mode == "incremental"
    people = people_of(reader, [a, b])
    assert people[a] != people[b]
    rebuilt = match(aws, RebuildRequested())
    assert rebuilt.mode == "rebuild"
    fresh = IndexReader("t-index", aws["ddb"])
    fresh.live_version()
    people = people_of(fresh, [a, b])
    assert people[a] != people[b]


def test_the_match_handler_reads_the_queue_message(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util
    from pathlib import Path

    messages = ingest_day(aws, 0, feeds=("wm-police",))
    for name, value in {"CURATED_BUCKET": "t-curated", "INDEX_TABLE": "t-index", "CONTROL_TABLE": "t-control",
                        "KEY_SALT_SECRET_ARN": aws["match"].key_salt_secret_arn}.items():
        monkeypatch.setenv(name, value)
    path = Path(__file__).resolve().parents[2] / "functions" / "match" / "app.py"
    spec = importlib.util.spec_from_file_location("match_app", path)
    assert spec and spec.loader
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)

    class Context:
        function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "match", 1024, "arn", "req"

    event = {"Records": [{"messageId": "m1", "body": messages[0].model_dump_json()}]}
    assert app.handler(event, Context()) == {}
    assert IndexReader("t-index", aws["ddb"]).live_version() is not None
    with pytest.raises(Exception):  # noqa: B017 - any failure: the batch must not be acknowledged
        app.handler({"Records": [{"messageId": "m2", "body": json.dumps({"type": "nonsense"})}]}, Context())


def test_an_index_that_has_outgrown_its_model_is_rebuilt(aws: dict[str, Any]) -> None:
    first = match(aws, ingest_day(aws, 0, feeds=("wm-police",))[0])
    others = ingest_day(aws, 0, feeds=tuple(f for f in DAYS[0].files if f != "wm-police"))
    second = match(aws, others[0])
    assert first.mode == "rebuild" and second.records > 2 * first.records
    assert second.mode == "rebuild" and second.version != first.version  # retrained on what there is now


def test_a_batch_of_ingests_is_linked_in_one_run_with_every_feeds_changes(aws: dict[str, Any]) -> None:
    match(aws, ingest_day(aws, 0))  # the first batch builds the index
    police = ingest_day(aws, 1, ("wm-police",))
    ae = ingest_day(aws, 1, ("walsall-nhs-ae",))
    outcome = match(aws, [*police, *ae])
    assert outcome.mode == "incremental"
    new = set()
    for message in (*police, *ae):
        new |= set(store.read_ingest_records(message.records_uri).column("record_id").to_pylist())
    reader = IndexReader("t-index", aws["ddb"], secrets_client=aws["session"].client("secretsmanager"),
                         salt_secret_arn=aws["match"].key_salt_secret_arn)
    reader.live_version()
    indexed = {r.record_id for r in reader.records(sorted(new))}
    assert {r.split(":", 1)[0] for r in indexed} == {"wm-police", "walsall-nhs-ae"}
    assert outcome.linked >= len(indexed) > 0


def test_an_index_linked_by_another_release_is_refused_by_search_and_rebuilt(aws: dict[str, Any]) -> None:
    """A live version whose linkage fingerprint is not this code's (keys or model made otherwise)
    is never searched (its keys could miss people silently) and the next match run rebuilds it."""
    first = match(aws, ingest_day(aws, 0, feeds=("wm-police",))[0])
    ddb, table = aws["ddb"], aws["match"].index_table
    ddb.update_item(TableName=table, Key={"pk": {"S": "INDEX"}, "sk": {"S": "LIVE"}},
                    UpdateExpression="SET linkage = :old", ExpressionAttributeValues={":old": {"S": "an-older-release"}})
    with pytest.raises(IndexUnavailable, match="another version"):
        IndexReader(table, ddb).live_version()
    second = match(aws, ingest_day(aws, 0, feeds=("wm-fire",))[0])
    assert second.mode == "rebuild" and second.version != first.version
    assert IndexReader(table, ddb).live_version() == second.version


class _CountingClient:
    """A DynamoDB client that counts the calls made through it, by operation."""

    def __init__(self, client: Any) -> None:
        self._client, self.calls = client, Counter()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith("_") or name in ("exceptions", "meta"):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attribute(*args, **kwargs)

        return counted


class _CountingSession:
    def __init__(self, session: Any) -> None:
        self._session, self.ddb = session, _CountingClient(session.client("dynamodb"))

    def client(self, name: str, **kwargs: Any) -> Any:
        return self.ddb if name == "dynamodb" else self._session.client(name, **kwargs)


def test_a_retired_version_is_deleted_by_key_from_its_manifest_without_a_scan(aws: dict[str, Any]) -> None:
    """Issue 14 point 5: retiring no longer scans the table and re-puts every item with a TTL. The
    version is marked retired; a run after the day's grace deletes every item it held, by key, from
    the manifest the runs wrote, and then its model and state. No Scan is made."""
    now = dt.datetime.now(dt.UTC)
    first = match(aws, ingest_day(aws, 0)[0])
    match(aws, ingest_day(aws, 1, feeds=("wm-police",))[0])  # an incremental run adds to the manifest
    held = version_items(aws, first.version)
    assert len(held) > 100
    counted = _CountingSession(aws["session"])
    second = run_match(RebuildRequested(reason="test"), aws["match"], session=counted, now=now)
    assert second.retired_version == first.version
    assert len(version_items(aws, first.version)) == len(held)  # kept whole through its grace
    later = _CountingSession(aws["session"])
    run_match(ingest_day(aws, 2, feeds=("wm-fire",)), aws["match"], session=later, now=now + dt.timedelta(days=2))
    assert version_items(aws, first.version) == {}
    assert first.version not in IndexWriter("t-index", aws["ddb"]).versions()
    assert counted.ddb.calls["scan"] == 0 and later.ddb.calls["scan"] == 0
    assert later.ddb.calls["batch_write_item"] >= len(held) / 25
    assert IndexReader("t-index", aws["ddb"]).live_version() == second.version
