"""The rebuild's state machine runs on `mast local --demo` through the template's own definition.

``RebuildStateMachine`` (template.yaml) is started as the match function will start it: moto
interprets the definition; each step is an invocation of the template's ``RebuildFunction`` or
(once per shard, from distributed Maps reading their manifests in S3) ``MatchShardFunction``, in
the stack's function environments under their limits; every step passes S3 keys only (Step
Functions' 256 KiB quota holds locally). The people it finds are exactly those of the one-process
link (:meth:`Linker.build`) on the same records, model and stewards' decisions.

The new version is imported (issue 15 point 2): ImportTable makes ``<index>-<version>``, the pointer
moves to it in one write, searches answer throughout (from the old version until the switch, the
new one after), what is ingested while it runs is linked into the new version before the switch
(the catch-up, in the match function), the old version's table is gone after the grace (a few seconds here: the execution
input's ``grace_seconds``), and a rebuild that fails leaves the live version searchable.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from mast.access.decisions import DecisionStore
from mast.index.layout import VersionTables
from mast.index.reader import IndexReader
from mast.linkage.link import Linker, LinkOptions
from mast.linkage.model import Model
from mast.linkage.sharded import read_columns, read_records
from tests.conftest import LocalStackProcess
from tests.e2e.test_alerts import police_extract
from tests.e2e.test_local_stack import _sftp
from tests.e2e.test_search_api import DECLARATION, api, indexed_records, token_of
from tools.bench.rebuild_machine import download


def start(stack: LocalStackProcess, **given: Any) -> str:
    """Start the rebuild state machine as the match function will; its execution ARN."""
    sfn = stack.client("stepfunctions")
    machine = next(m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == "mast-local-rebuild")
    rebuild = f"e2e-{uuid.uuid4().hex[:8]}"
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=rebuild,
                                    input=json.dumps({"rebuild": rebuild, **given}))
    return str(execution["executionArn"])


def finished(stack: LocalStackProcess, arn: str, while_running: Any = None, seconds: int = 480) -> dict[str, Any]:
    """The execution once it has stopped (``while_running()`` called about each second until then)."""
    sfn = stack.client("stepfunctions")
    deadline = time.time() + seconds
    described: dict[str, Any] = {}
    while time.time() < deadline:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        if while_running is not None:
            while_running()
        time.sleep(1)
    raise AssertionError(f"the rebuild did not stop in {seconds} s")


def history(stack: LocalStackProcess, arn: str) -> str:
    events = stack.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
    return json.dumps(events[-3:], default=str)[-3000:]


def index_table(stack: LocalStackProcess) -> str:
    return next(t for t in stack.client("dynamodb").list_tables()["TableNames"] if t.endswith("-index"))


def test_the_rebuild_state_machine_links_the_demo_in_shards_as_the_one_process_link_does(
        local_stack: LocalStackProcess, tmp_path: Path) -> None:
    indexed_records(local_stack)  # the demo has been linked (by the match function): a live version
    arn = start(local_stack, min_shards=4, records_per_refine=150, records_per_export=400, records_per_table=700,
                grace_seconds=2)
    described = finished(local_stack, arn)
    assert described.get("status") == "SUCCEEDED", history(local_stack, arn)
    state = json.loads(described["output"])
    assert state["prepared"]["shards"] >= 4
    assert len(state["scored"]) == state["prepared"]["shards"]
    assert state["clustered"]["refine_shards"] >= 2
    # every payload between states is keys and counts
    assert all(str(link["links"]).startswith("s3://") for link in state["scored"])

    s3 = local_stack.client("s3")
    table_dir = download(s3, state["prepared"]["table"], tmp_path)
    table, _ = read_records(str(table_dir))
    model = Model.from_json(download(s3, state["prepared"]["model"], tmp_path).read_text())
    people = read_columns(str(download(s3, state["finished"]["people"], tmp_path)))
    assert state["finished"]["records"] == len(table) == len(people["record_id"]) > 1000

    ddb = local_stack.client("dynamodb")
    control = next(t for t in ddb.list_tables()["TableNames"] if t.endswith("-control"))
    decisions = DecisionStore(control, ddb).all()
    one = Linker.build(table, model=model, decisions=decisions, options=LinkOptions(workers=1))
    assert list(people["record_id"]) == list(table.record_id)
    differ = int(np.sum(people["person_id"] != one.person_ids()))
    assert differ == 0, f"{differ} of {len(table)} records in a different person than the one-process link's"
    assert (people["address_id"] == one.address_ids()).all()

    # imported, not written item by item: a table of its own under the index's name prefix, which
    # the pointer names; it holds every record, in the person the rebuild found
    index = index_table(local_stack)
    assert state["imported"]["table"] == f"{index}-{state['imported']['version']}" == state["switched"]["table"]
    assert state["import_status"]["status"] == "COMPLETED"
    assert state["import_status"]["imported"] == state["imported"]["items"]
    # the items exported by shards (a third Map), each shard's share, which together ImportTable read
    assert state["planned"]["shards"] == len(state["exported"]) >= 3
    assert all(e["items"] > 0 for e in state["exported"])
    assert sum(e["items"] for e in state["exported"]) == state["imported"]["items"]
    # and cut into tables, each imported at once beside the others, each holding its partitions
    tables = VersionTables(state["imported"]["table"], state["imported"]["parts"])
    assert tables.parts >= 2 and len(state["imported"]["import_arns"]) == tables.parts
    for name in tables.names():
        sample = ddb.scan(TableName=name, Limit=20)["Items"]
        assert sample and all(tables.of(item["pk"]["S"]) == name for item in sample)
    reader = IndexReader(index, ddb)
    assert reader.live_version() == state["imported"]["version"] and reader.items_table == state["imported"]["table"]
    indexed = reader.records(list(people["record_id"]))
    assert len(indexed) == len(table)
    assert {r.record_id: r.person_id for r in indexed} == dict(zip(people["record_id"], people["person_id"], strict=True))

    # what the one-run rebuild publishes, published before the switch (by the catch-up, which ran
    # in the match function): the stewards' closest calls (the one-process link's own) and the
    # partners' linkage report
    assert state["caught_up"]["review_pairs"] >= len(one.review) > 0
    curated = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "-curated-" in b["Name"])
    report = json.loads(s3.get_object(Bucket=curated, Key="linkage/report.json")["Body"].read())
    assert dt.datetime.fromisoformat(report["generated_at"]) >= described["startDate"]


def test_searches_answer_throughout_a_rebuild_and_the_old_table_is_gone_after_the_grace(
        local_stack: LocalStackProcess, tmp_path: Path) -> None:
    ddb = local_stack.client("dynamodb")
    index = index_table(local_stack)
    before = IndexReader(index, ddb)
    before.live_version()
    if before.items_table == index:  # the live version was written by the match function: import one first
        first = start(local_stack, grace_seconds=0)
        assert finished(local_stack, first).get("status") == "SUCCEEDED", history(local_stack, first)
        before = IndexReader(index, ddb)
    old_version = before.live_version()
    old_tables = before.tables.names()
    sample = [r["record_id"] for r in indexed_records(local_stack)[:50]]
    someone = next(r for r in indexed_records(local_stack) if r.get("dob") and r.get("family_name")
                   and r.get("given_name") and not r.get("sensitive"))
    born = dt.date.fromisoformat(someone["dob"])
    query = {"given_name": someone["given_name"].title(), "family_name": someone["family_name"].title(),
             "dob": {"day": born.day, "month": born.month, "year": born.year}}
    practitioner = token_of(local_stack, ("practitioners",))
    seen: list[str] = []
    answers: list[int] = []

    def search_now() -> None:
        reader = IndexReader(index, ddb)
        version = reader.live_version()
        assert version is not None
        if not seen or seen[-1] != version:
            seen.append(version)
        assert len(reader.records(sample)) == len(sample)  # whole, on whichever version is live
        response = api(local_stack, "POST", "/search", practitioner, json={"declaration": DECLARATION, "query": query})
        assert response.status_code == 200, response.text
        answers.append(len(response.json()["people"]))

    # a police incident for someone indexed, sent over SFTP once the rebuild has read its records:
    # the new version, built without it, must hold it the moment it is live (the catch-up)
    person = next(r for r in indexed_records(local_stack) if r.get("dob") and r.get("family_name")
                  and r.get("given_name") and r.get("address_line1") and r.get("postcode") and not r.get("sensitive"))
    reference = f"26WM{secrets.randbelow(10**7):07d}-N1"
    extract = tmp_path / "police-rebuild.csv"
    extract.write_bytes(police_extract(person, reference, dt.datetime.now(dt.UTC).date()))
    s3 = local_stack.client("s3")
    curated = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "-curated-" in b["Name"])
    sent: list[str] = []

    def search_and_send() -> None:
        search_now()
        if not sent and s3.list_objects_v2(Bucket=curated, Prefix=f"rebuilds/{arn.rsplit(':', 1)[-1]}/records.parquet"
                                           ).get("KeyCount"):
            uploaded = _sftp(local_stack, "wm-police", f"put {extract} police-rebuild-{reference}.csv\n")
            assert uploaded.returncode == 0, uploaded.stderr
            sent.append(reference)

    grace = 12
    arn = start(local_stack, grace_seconds=grace)
    described = finished(local_stack, arn, while_running=search_and_send)
    assert described.get("status") == "SUCCEEDED", history(local_stack, arn)
    state = json.loads(described["output"])
    new_version, new_table = state["imported"]["version"], state["imported"]["table"]
    # from the old version until the switch, from the new one after; never neither
    assert seen[0] == old_version and seen[-1] == new_version and len(seen) == 2, seen
    assert answers and all(answers)
    assert state["switched"]["retired"] and old_version in state["switched"]["retired"]
    # the incident sent while it ran: linked into the new version before the switch, to the person
    assert sent and state["caught_up"]["linked"] >= 1, state.get("caught_up")
    record_id = f"wm-police:{reference}"
    (linked,) = IndexReader(index, ddb).records([record_id])
    assert person["record_id"] in IndexReader(index, ddb).person_record_ids(linked.person_id)
    # the grace waited out, then the old version's table deleted whole (the first rebuild's)
    assert set(old_tables) <= set(state["swept"]["dropped"])
    assert not set(old_tables) & set(ddb.list_tables()["TableNames"])
    assert set(VersionTables(new_table, state["imported"]["parts"]).names()) <= set(ddb.list_tables()["TableNames"])
    search_now()


def test_a_rebuild_that_fails_leaves_the_live_version_searchable(local_stack: LocalStackProcess) -> None:
    ddb = local_stack.client("dynamodb")
    index = index_table(local_stack)
    live = IndexReader(index, ddb)
    version = live.live_version()
    tables = live.tables
    # a rebuild whose Prepare fails (an input it refuses): caught, RebuildFailed, the pointer untouched
    arn = start(local_stack, min_shards=0)
    described = finished(local_stack, arn, seconds=120)
    assert described["status"] == "FAILED" and described.get("error") == "RebuildFailed"
    after = IndexReader(index, ddb)
    assert after.live_version() == version and after.tables == tables
    assert set(tables.names()) <= set(ddb.list_tables()["TableNames"])
    sample = [r["record_id"] for r in indexed_records(local_stack)[:20]]
    assert len(after.records(sample)) == len(sample)
