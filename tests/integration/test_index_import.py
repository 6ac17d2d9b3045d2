"""An index version imported into a table of its own (issue 15 point 2), on moto: the rebuild's
``import``, ``import_status``, ``switch`` and ``sweep`` steps (:mod:`mast.index.imported`) on the
files a rebuild's earlier steps leave in S3 (the records, the model, the people: made here by the
one-process link, which the state machine's steps are tested to equal), and the readers and the
day's link after the switch.

The whole state machine on the local stack: tests/e2e/test_rebuild_state_machine.py.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import tempfile
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from infra.local.moto_fixes import read_dynamodb_json_imports_by_line
from mast.access.decisions import DecisionStore
from mast.index import imported, layout
from mast.index.linking import _linkage_columns, run_match, searchable_records
from mast.index.reader import IndexReader
from mast.index.salt import key_salt
from mast.index.writer import IndexConflict, IndexWriter
from mast.linkage.link import Linker, LinkOptions
from mast.linkage.sharded import write_columns, write_records
from mast.linkage.table import prepare
from tests.integration.test_match import aws, ingest_day, match, state_record_ids  # noqa: F401


@pytest.fixture(autouse=True)
def _imports_read_by_line() -> None:
    """moto's ImportTable parser breaks on the record items' JSON text: the local stack's fix, as there."""
    read_dynamodb_json_imports_by_line()


def rebuild_files(aws: dict[str, Any], name: str, export_shards: int = 3,  # noqa: F811
                  tables: int = 2) -> imported.ExportPlanStep:
    """What a rebuild's prepare and finish steps leave under its prefix (the records, the model, the
    prepared table, the people), as ``export_plan`` is given them: cut into ``export_shards`` export
    shards, and the version into ``tables`` tables (:class:`mast.index.layout.VersionTables`)."""
    settings, s3 = aws["match"], aws["s3"]
    records = searchable_records(settings, dt.datetime.now(dt.UTC))
    records = records.append_column("source", records.column("partner"))
    salt = key_salt(settings.key_salt_secret_arn, aws["session"].client("secretsmanager"))
    decisions = DecisionStore(settings.control_table, aws["ddb"]).all()
    linker = Linker.build(prepare(_linkage_columns(records.drop_columns(["source"]))), None, decisions,
                          LinkOptions(workers=1, key_salt=salt))
    folder = f"rebuilds/{name}"
    sink = io.BytesIO()
    pq.write_table(records, sink, row_group_size=500)  # several row groups, as a region's are
    s3.put_object(Bucket=settings.curated_bucket, Key=f"{folder}/records.parquet", Body=sink.getvalue())
    s3.put_object(Bucket=settings.curated_bucket, Key=f"{folder}/model.json", Body=linker.model.to_json().encode())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "people.arrow"
        write_columns(str(path), {"record_id": linker.table.record_id, "person_id": linker.person_ids(),
                                  "address_id": linker.address_ids()})
        s3.put_object(Bucket=settings.curated_bucket, Key=f"{folder}/people.arrow", Body=path.read_bytes())
        write_records(f"{tmp}/table", linker.table)  # as prepare writes its table
        for file in sorted(Path(tmp, "table").iterdir()):
            s3.put_object(Bucket=settings.curated_bucket, Key=f"{folder}/table/{file.name}", Body=file.read_bytes())
    prefix = f"s3://{settings.curated_bucket}/{folder}"
    live, _ = IndexWriter(settings.index_table, aws["ddb"]).live()
    n = records.num_rows
    return imported.ExportPlanStep(prefix=prefix, model=f"{prefix}/model.json", prepared_table=f"{prefix}/table",
                                   people=f"{prefix}/people.arrow",
                                   previous=live, records=n, records_per_export=-(-n // export_shards),
                                   records_per_table=-(-n // tables))


def run_import(aws: dict[str, Any], step: imported.ExportPlanStep) -> imported.Imported:  # noqa: F811
    """``export_plan``, ``export`` (each shard), ``import``, then ``import_status`` until it is done,
    as the state machine runs them."""
    plan = imported.plan_export(step, aws["match"], session=aws["session"])
    exported = [imported.export_shard(shard, aws["match"], session=aws["session"]) for shard in plan.shards]
    started = imported.import_version(imported.ImportStep(
        version=plan.version, table=plan.table, parts=plan.parts, prefix=step.prefix, people=step.people, previous=step.previous,
        exported=[imported.ExportCount(items=e.items, files=e.files) for e in exported]), aws["match"],
        session=aws["session"])
    deadline = time.time() + 120
    while time.time() < deadline:
        status = imported.import_status(imported.ImportStatusStep(import_arns=started.import_arns), session=aws["session"])
        if status.status == "COMPLETED":
            assert status.imported == started.items
            return started
        time.sleep(0.2)
    pytest.fail("the import did not finish")


def switch(aws: dict[str, Any], done: imported.Imported, grace: int) -> imported.Switched:  # noqa: F811
    return imported.switch_version(imported.SwitchStep(
        version=done.version, table=done.table, parts=done.parts, previous=done.previous, records=done.records, people=done.people,
        grace_seconds=grace), aws["match"], session=aws["session"])


def test_an_imported_version_is_searched_from_its_own_table_and_the_old_one_goes_after_the_grace(
        aws: dict[str, Any]) -> None:  # noqa: F811
    ddb, settings = aws["ddb"], aws["match"]
    match(aws, ingest_day(aws, 0))  # the first link: a version written item by item in the index table
    before = IndexReader(settings.index_table, ddb)
    first = before.live_version()
    assert first is not None and before.items_table == "t-index"
    some = state_record_ids(aws, first)[:20]
    assert len({r.record_id for r in before.records(some)}) == 20

    done = run_import(aws, rebuild_files(aws, "one"))
    assert done.table == f"t-index-{done.version}" and done.previous == first
    # cut into two tables, each imported beside the other, every item in the one its partition falls in
    tables = layout.VersionTables(done.table, done.parts)
    assert done.parts == 2 and tables.names() == [f"{done.table}-p00", f"{done.table}-p01"]
    assert len(done.import_arns) == 2
    counts = [ddb.scan(TableName=name, Select="COUNT")["Count"] for name in tables.names()]
    assert sum(counts) == done.items and min(counts) > done.items / 4  # both hold a fair share
    for name in tables.names():
        sample = ddb.scan(TableName=name, Limit=50)["Items"]
        assert sample and all(tables.of(item["pk"]["S"]) == name for item in sample)
    # until the switch, searches read the live version in the index table
    assert IndexReader(settings.index_table, ddb).live_version() == first
    pinned = IndexReader(settings.index_table, ddb)
    pinned.live_version()

    switched = switch(aws, done, grace=3600)
    assert switched.retired == [first]
    after = IndexReader(settings.index_table, ddb)
    assert after.live_version() == done.version and after.items_table == done.table
    # the imported table holds every item of the version (records, keys, people, households, model)
    assert {r.record_id for r in after.records(some)} == set(some)
    assert after.model().to_json() == IndexReader(settings.index_table, ddb, version=done.version,
                                                  items_table=tables).model().to_json()
    person = after.records(some[:1])[0].person_id
    assert some[0] in after.person_record_ids(person)
    # a search pinned before the switch still reads the old version, whole
    assert {r.record_id for r in pinned.records(some)} == set(some)

    # a day's link writes the live (imported) table directly
    outcome = match(aws, ingest_day(aws, 1))
    assert outcome.mode == "incremental" and outcome.version == done.version
    assert IndexWriter(settings.index_table, ddb).versions()[done.version] == "live"
    new_ids = state_record_ids(aws, done.version)
    reader = IndexReader(settings.index_table, ddb)
    current = searchable_records(settings, dt.datetime.now(dt.UTC)).column("record_id").to_pylist()
    added = sorted(set(current) - set(new_ids))
    assert added and {r.record_id for r in reader.records(added)} == set(added)
    pk = layout.record_pk(done.version, added[0])
    assert ddb.get_item(TableName=tables.of(pk), Key={"pk": {"S": pk}, "sk": {"S": layout.RECORD_SK}}).get("Item")

    # a second rebuild: the first imported version retired, its table deleted once the grace has passed
    second = run_import(aws, rebuild_files(aws, "two", tables=1))  # one table, named as the version
    assert second.previous == done.version and second.parts == 1
    switch(aws, second, grace=0)
    assert imported.sweep(aws["match"], session=aws["session"]).dropped == tables.names()
    assert not set(tables.names()) & set(ddb.list_tables()["TableNames"])
    assert second.table in ddb.list_tables()["TableNames"]
    assert IndexWriter(settings.index_table, ddb).versions()[done.version] == "gone"
    assert {r.record_id for r in IndexReader(settings.index_table, ddb).records(some)} == set(some)


def test_the_export_shards_write_every_item_of_the_version_once(aws: dict[str, Any]) -> None:  # noqa: F811
    """However many export shards cut a version, together they write exactly the items the
    one-process build makes (:func:`mast.index.layout.iter_version_items`, the model's beside), each
    once: every record, key, person, address and household item, with the same content."""
    import gzip
    import json

    from mast.index.address_keys import address_key_strings, record_address_keys
    from mast.index.linking import _indexed
    from mast.linkage.io import canonical_columns
    from mast.linkage.keys import LOOKUP_KEYS, key_strings, record_keys
    from mast.linkage.scorer import term_frequencies
    from mast.linkage.sharded import read_columns

    settings, s3 = aws["match"], aws["s3"]
    match(aws, ingest_day(aws, 0))
    match(aws, ingest_day(aws, 1))

    def written(step: imported.ExportPlanStep) -> tuple[str, list[str]]:
        plan = imported.plan_export(step, settings, session=aws["session"])
        for shard in plan.shards:
            imported.export_shard(shard, settings, session=aws["session"])
        listed = s3.list_objects_v2(Bucket=settings.curated_bucket,
                                    Prefix=f"{step.prefix.split('/', 3)[3]}/import/{plan.version}/")["Contents"]
        assert len({o["Key"].rsplit("/", 1)[1][:6] for o in listed}) == len(plan.shards)  # each shard wrote
        lines = [line for o in listed for line in gzip.decompress(
            s3.get_object(Bucket=settings.curated_bucket, Key=o["Key"])["Body"].read()).decode().splitlines()]
        return plan.version, lines

    step = rebuild_files(aws, "shards", export_shards=4)
    assert step.records > 100
    version, sharded = written(step)
    _, one_shard = written(step.model_copy(update={"records_per_export": step.records}))

    # the one-process build, from the same files, as the import made it before it was sharded
    folder = step.prefix.split("/", 3)[3]
    records = pq.read_table(io.BytesIO(s3.get_object(Bucket=settings.curated_bucket,
                                                     Key=f"{folder}/records.parquet")["Body"].read()))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "people.arrow"
        path.write_bytes(s3.get_object(Bucket=settings.curated_bucket, Key=f"{folder}/people.arrow")["Body"].read())
        people = read_columns(str(path))
    table = prepare(canonical_columns(records))
    salt = key_salt(settings.key_salt_secret_arn, aws["session"].client("secretsmanager"))
    keys, address_keys = record_keys(table, LOOKUP_KEYS, salt), record_address_keys(table, salt)
    rows = records.to_pylist()
    model = s3.get_object(Bucket=settings.curated_bucket, Key=f"{folder}/model.json")["Body"].read().decode()
    reference = layout.model_items(version, model) + layout.version_items(version, [
        (_indexed(row, str(people["person_id"][i]), str(people["address_id"][i]), term_frequencies(table, i)),
         key_strings(keys[i], LOOKUP_KEYS) + address_key_strings(address_keys[i])) for i, row in enumerate(rows)])
    expected = sorted(json.dumps({"Item": item}, separators=(",", ":"), sort_keys=True) for item in reference)

    def canonical(lines: list[str]) -> list[str]:
        return sorted(json.dumps(json.loads(line), separators=(",", ":"), sort_keys=True) for line in lines)

    assert {item["sk"]["S"][:1] for item in reference} >= {"R", "K", "P", "A", "H"}
    assert canonical(sharded) == expected  # every item once: none missing, none twice, none different
    one_version = json.loads(one_shard[0])["Item"]["pk"]["S"].split("#")[1]
    assert canonical([line.replace(one_version, version) for line in one_shard]) == expected


def test_a_switch_from_a_version_no_longer_live_and_a_failed_import_leave_the_live_version(
        aws: dict[str, Any]) -> None:  # noqa: F811
    ddb, settings = aws["ddb"], aws["match"]
    match(aws, ingest_day(aws, 0))
    live = IndexReader(settings.index_table, ddb).live_version()
    stale = run_import(aws, rebuild_files(aws, "stale").model_copy(update={"previous": "19990101T000000000000Z"}))
    with pytest.raises(IndexConflict):
        switch(aws, stale, grace=0)
    assert IndexReader(settings.index_table, ddb).live_version() == live

    # an import whose file is not what ImportTable reads fails: the status step raises (the state
    # machine's CheckImport fails the rebuild), and nothing switches
    bucket = settings.curated_bucket
    aws["s3"].put_object(Bucket=bucket, Key="rebuilds/bad/import/x/part-00000.json.gz", Body=b"not gzip")
    arn = ddb.import_table(
        S3BucketSource={"S3Bucket": bucket, "S3KeyPrefix": "rebuilds/bad/import/x/"}, InputFormat="DYNAMODB_JSON",
        InputCompressionType="GZIP", TableCreationParameters={
            "TableName": "t-index-bad", "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}], "BillingMode": "PAY_PER_REQUEST"},
    )["ImportTableDescription"]["ImportArn"]
    deadline = time.time() + 30
    with pytest.raises(imported.ImportFailed):
        while time.time() < deadline:
            imported.import_status(imported.ImportStatusStep(import_arns=[arn]), session=aws["session"])
            time.sleep(0.2)
    assert IndexReader(settings.index_table, ddb).live_version() == live


def test_records_ingested_while_a_rebuild_runs_are_linked_into_the_new_version_before_the_switch(
        aws: dict[str, Any]) -> None:  # noqa: F811
    """Issue 15 point 1: the day's links made while a rebuild runs go into the old version; the new
    version, built from what prepare read, lacks them. The catch-up links them into the new version
    in its own table before the switch (the same incremental link), so the version is whole the
    moment it is live; what comes in the seconds between the catch-up and the switch is sent to the
    match function (relink), which links it into the version then live."""
    from mast.index.messages import parse_match_message

    ddb, sqs = aws["ddb"], aws["sqs"]
    settings = dataclasses.replace(aws["match"], match_queue_url=aws["queue"])
    for message in ingest_day(aws, 0):
        match(aws, message)
    step = rebuild_files(aws, "while")  # prepare has read its records
    built = set(pq.read_table(io.BytesIO(aws["s3"].get_object(Bucket=settings.curated_bucket,
                                                              Key="rebuilds/while/records.parquet")["Body"].read()),
                              columns=["record_id"]).column("record_id").to_pylist())
    for message in ingest_day(aws, 1):  # a day's ingest, linked into the live (old) version meanwhile
        match(aws, message)
    _drain(sqs, aws["queue"])
    done = run_import(aws, step)
    current = set(searchable_records(settings, dt.datetime.now(dt.UTC)).column("record_id").to_pylist())
    new = sorted(current - built)
    assert new, "the day brought new records"
    unswitched = IndexReader(settings.index_table, ddb, version=done.version, items_table=layout.VersionTables(done.table, done.parts))
    assert not unswitched.records(new)  # the import alone: the new version lacks the day's records

    caught = imported.catch_up_version(imported.CatchUpStep(
        version=done.version, table=done.table, parts=done.parts, previous=done.previous, prefix=step.prefix), settings,
        session=aws["session"])
    assert caught.linked >= len(new)
    assert IndexReader(settings.index_table, ddb).live_version() == done.previous  # not switched yet
    assert {r.record_id for r in unswitched.records(new)} == set(new)  # but the new version holds them
    # each linked into a person of the new version that the person's item knows
    for record in unswitched.records(new[:5]):
        assert record.record_id in unswitched.person_record_ids(record.person_id)

    def read_now() -> set[tuple[str, str]]:
        table = searchable_records(settings, dt.datetime.now(dt.UTC))
        return set(zip(table.column("record_id").to_pylist(), table.column("ingest_id").to_pylist(), strict=True))

    caught_up_read = read_now()
    for message in ingest_day(aws, 2):  # in the seconds after the catch-up read, before the switch
        match(aws, message)
    _drain(sqs, aws["queue"])
    late = sorted({rid for rid, _ in read_now()} - current)
    assert late
    switched = imported.switch_version(imported.SwitchStep(
        version=done.version, table=done.table, parts=done.parts, previous=done.previous, records=done.records, people=done.people,
        grace_seconds=3600, prefix=step.prefix), settings, session=aws["session"])
    reader = IndexReader(settings.index_table, ddb)
    assert reader.live_version() == done.version
    assert all(ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"][
        "PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
        for name in layout.VersionTables(done.table, done.parts).names())
    assert {r.record_id for r in reader.records(new)} == set(new)
    assert not reader.records(late)
    relinks = [parse_match_message(m["Body"]) for m in _drain(sqs, aws["queue"])]
    sent = {rid for m in relinks for rid in m.record_ids}
    assert all(m.type == "relink" for m in relinks) and switched.caught_up == len(sent)
    # only what came after the catch-up read: new records, new ingests of ones it read, ones gone
    after_day = read_now()
    gone = {rid for rid, _ in caught_up_read} - {rid for rid, _ in after_day}
    assert set(late) <= sent and sent == {rid for rid, _ in after_day - caught_up_read} | gone
    for message in relinks:
        outcome = match(aws, message)
        assert outcome.mode == "incremental" and outcome.version == done.version
    after = IndexReader(settings.index_table, ddb)
    everything = set(searchable_records(settings, dt.datetime.now(dt.UTC)).column("record_id").to_pylist())
    assert {r.record_id for r in after.records(sorted(everything | built))} == everything  # and none gone


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message on the queue, taken off it."""
    taken: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        taken.extend(batch)
    return taken


def test_a_rebuild_due_at_a_region_s_size_is_started_on_the_state_machine_once(
        aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Issue 15 point 1: a rebuild due (asked for, outgrown, another release's linkage, no index yet)
    of at least ``ShardedRebuildFrom`` records is started on the rebuild state machine, one execution
    at a time, and the day's links go on against the live version meanwhile."""
    import json

    from moto.core.config import default_user_config

    from mast.index.messages import RebuildRequested

    # executions stay running here, as a rebuild's do for minutes (a local stack started in this
    # process earlier has moto run definitions, which would end this one at once)
    monkeypatch.setitem(default_user_config["stepfunctions"], "execute_state_machine", False)
    sfn = aws["session"].client("stepfunctions")
    machine = sfn.create_state_machine(name="t-rebuild", roleArn="arn:aws:iam::123456789012:role/t",
                                       definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass",
                                                                                                "End": True}}}))
    arn = machine["stateMachineArn"]
    sharded = dataclasses.replace(aws["match"], rebuild_state_machine=arn, sharded_rebuild_from=1)

    # no index yet: the first rebuild is the state machine's, and nothing is written meanwhile
    first = run_match(ingest_day(aws, 0)[0], sharded, session=aws["session"])
    assert first.mode == "rebuild-started" and first.rebuild_started
    assert IndexWriter(sharded.index_table, aws["ddb"]).live() == (None, False)
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert [e["name"] for e in executions] == [first.rebuild_started]
    started = json.loads(sfn.describe_execution(executionArn=executions[0]["executionArn"])["input"])
    assert started["rebuild"] == first.rebuild_started
    assert started["runs_on"] == "lambda"  # no Fargate task deployed (fargate_rebuild_from 0)

    # with a live version (made here in one run, below the size), an asked rebuild goes to the state
    # machine, which is still running: no second execution, and the day's link goes on
    sfn.stop_execution(executionArn=executions[0]["executionArn"])
    one_run = run_match(RebuildRequested(reason="first"), aws["match"], session=aws["session"])
    assert one_run.mode == "rebuild"
    asked = run_match(RebuildRequested(reason="release"), sharded, session=aws["session"])
    # a rebuild asked for, and nothing else: started, and no link of nothing meanwhile
    assert asked.mode == "rebuild-started" and asked.version == one_run.version and asked.rebuild_started
    assert asked.items_put == 0 and "link" not in asked.seconds
    twice = run_match(RebuildRequested(reason="asked again"), sharded, session=aws["session"])
    assert twice.rebuild_started == asked.rebuild_started  # the running one, not a second
    day = run_match(ingest_day(aws, 1), sharded, session=aws["session"])
    assert day.mode == "incremental" and day.linked > 0 and day.rebuild_started is None
    executions = sfn.list_executions(stateMachineArn=arn)["executions"]
    assert len(executions) == 2
    assert [e["name"] for e in executions if e["status"] == "RUNNING"] == [asked.rebuild_started]

    # from FargateRebuildFrom records, the rebuild's steps that hold every record run on Fargate
    sfn.stop_execution(executionArn=next(e["executionArn"] for e in executions if e["status"] == "RUNNING"))
    for fargate_from, runs_on in ((10**9, "lambda"), (1, "fargate")):
        settings = dataclasses.replace(sharded, fargate_rebuild_from=fargate_from)
        again = run_match(RebuildRequested(reason=f"from {fargate_from}"), settings, session=aws["session"])
        execution = next(e for e in sfn.list_executions(stateMachineArn=arn)["executions"]
                         if e["name"] == again.rebuild_started)
        assert json.loads(sfn.describe_execution(executionArn=execution["executionArn"])["input"])["runs_on"] == runs_on
        sfn.stop_execution(executionArn=execution["executionArn"])


def test_a_release_rebuild_s_catch_up_alerts_as_the_days_links_it_stood_in_for_would_have(
        aws: dict[str, Any]) -> None:  # noqa: F811
    """On a release's rebuild the day's links cannot extend the live version (another release's
    linkage), so what is ingested meanwhile is linked only by the catch-up: its records must alert the
    organisations whose open cases they touch, exactly the alerts a day's link would have made."""
    from mast.audit import deserialise
    from tests.integration.test_match import _table

    ddb = aws["ddb"]
    for name in ("t-audit", "t-audit-ref", "t-control-ref"):
        _table(ddb, name)
    settings = dataclasses.replace(aws["match"], audit_table="t-audit")
    run_match(ingest_day(aws, 0), settings, session=aws["session"])  # the live version
    # a day ingested after the release started the rebuild, before prepare read the records, and one
    # after: linked by no day's link (the live version is another release's); the first is in the
    # rebuild's own records, so only the version live until now says it is new
    days = ingest_day(aws, 1)
    step = rebuild_files(aws, "release")
    days += ingest_day(aws, 2)
    done = run_import(aws, step)

    caught = imported.catch_up_version(imported.CatchUpStep(
        version=done.version, table=done.table, parts=done.parts, previous=done.previous, prefix=step.prefix), settings,
        session=aws["session"])

    # the reference: the day's link the rebuild stood in for, on the version then live, its alerts
    # kept apart (in tables of their own)
    reference = dataclasses.replace(settings, audit_table="t-audit-ref", control_table="t-control-ref")
    linked = run_match(days, reference, session=aws["session"])
    assert linked.mode == "incremental" and linked.version == done.previous

    def alerted(table: str) -> set[tuple[str, tuple[str, ...]]]:
        events = [deserialise(i) for i in ddb.scan(TableName=table)["Items"]]
        return {(e["organisation"], tuple(e["record_ids"])) for e in events if e["action"] == "alert-made"}

    assert linked.alerts > 0, "the days bring records that touch open cases"
    assert caught.alerts == linked.alerts and alerted("t-audit") == alerted("t-audit-ref")
