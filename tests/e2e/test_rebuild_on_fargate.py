"""Past a Lambda's size the rebuild's steps that hold every record run as Fargate tasks, through the
template's own definition, on `mast local --demo`.

``RebuildStateMachine`` chooses, for prepare, cluster, finish and the export shards, a Lambda task
or (the execution's ``runs_on`` is ``fargate``, as the match function sets it from
``FargateRebuildFrom`` records) ``stage`` → ``ecs:runTask.sync`` on ``RebuildTaskDefinition`` →
``collect``. Locally moto's ECS runs nothing, so the stack plays the task definition: its container's
command (``python -m functions.rebuild.task``) in a function environment under the task's memory and
disk, and the task stops with the command's exit code. The people are the Lambda path's and the
one-process link's; a task that fails fails the rebuild, and the live version is still searched.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mast.access.decisions import DecisionStore
from mast.index.reader import IndexReader
from mast.linkage.link import Linker, LinkOptions
from mast.linkage.model import Model
from mast.linkage.sharded import read_columns, read_records
from tests.conftest import LocalStackProcess
from tests.e2e.test_rebuild_state_machine import finished, history, index_table, start
from tests.e2e.test_search_api import indexed_records
from tools.bench.rebuild_machine import download


def _tasks(stack: LocalStackProcess) -> list[dict[str, object]]:
    ecs = stack.client("ecs")
    cluster = "mast-local-rebuild"
    arns = [*ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED").get("taskArns", []),
            *ecs.list_tasks(cluster=cluster, desiredStatus="RUNNING").get("taskArns", [])]
    return ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []


def test_a_rebuild_on_fargate_runs_its_whole_population_steps_as_tasks_and_finds_the_same_people(
        local_stack: LocalStackProcess, tmp_path: Path) -> None:
    indexed_records(local_stack)  # a live version
    before = {t["taskArn"] for t in _tasks(local_stack)}
    # few shards: each export shard is a task of its own (the Lambda path's test cuts finer)
    arn = start(local_stack, runs_on="fargate", min_shards=2, records_per_refine=600, records_per_export=1000,
                records_per_table=1200, grace_seconds=2)
    described = finished(local_stack, arn)
    assert described.get("status") == "SUCCEEDED", history(local_stack, arn)
    state = json.loads(described["output"])

    # prepare, cluster, finish and each export shard ran as a task of the template's definition, and the
    # catch-up as one of its own (the match function's rights), each stopped with its command's exit
    # code 0; score and refine stayed on Lambda
    ran = [t for t in _tasks(local_stack) if t["taskArn"] not in before]
    assert all(t["lastStatus"] == "STOPPED" and t["containers"][0]["exitCode"] == 0 for t in ran)
    families = [str(t["taskDefinitionArn"]).rsplit("/", 1)[-1].split(":")[0] for t in ran]
    assert sorted(families) == sorted(["mast-local-rebuild"] * (3 + state["planned"]["shards"]) + ["mast-local-catch-up"])
    events = local_stack.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    scheduled = [json.loads(e["taskScheduledEventDetails"]["parameters"]) for e in events
                 if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "ecs"]
    assert len(scheduled) == 4  # the top level's; the export shards' are in the Map's child executions
    assert all(p["LaunchType"] == "FARGATE" for p in scheduled)

    # what the states after them read is what the Lambda steps return
    assert state["prepared"]["shards"] >= 2 and state["clustered"]["refine_shards"] >= 2
    assert state["planned"]["shards"] == len(state["exported"]) >= 2
    assert sum(e["items"] for e in state["exported"]) == state["imported"]["items"] == state["import_status"]["imported"]
    assert state["caught_up"]["review_pairs"] > 0

    s3 = local_stack.client("s3")
    table, _ = read_records(str(download(s3, state["prepared"]["table"], tmp_path)))
    model = Model.from_json(download(s3, state["prepared"]["model"], tmp_path).read_text())
    people = read_columns(str(download(s3, state["finished"]["people"], tmp_path)))
    ddb = local_stack.client("dynamodb")
    control = next(t for t in ddb.list_tables()["TableNames"] if t.endswith("-control"))
    one = Linker.build(table, model=model, decisions=DecisionStore(control, ddb).all(), options=LinkOptions(workers=1))
    assert list(people["record_id"]) == list(table.record_id)
    assert int(np.sum(people["person_id"] != one.person_ids())) == 0
    reader = IndexReader(index_table(local_stack), ddb)
    assert reader.live_version() == state["imported"]["version"]
    indexed = reader.records(list(people["record_id"][:50]))
    assert {r.record_id: r.person_id for r in indexed} == dict(zip(people["record_id"][:50], people["person_id"][:50],
                                                                   strict=True))


def test_a_task_that_fails_fails_the_rebuild_and_the_live_version_is_still_searched(
        local_stack: LocalStackProcess) -> None:
    ddb = local_stack.client("dynamodb")
    index = index_table(local_stack)
    version = IndexReader(index, ddb).live_version()
    # the input passes the stage step (it does not read it) and is refused by prepare in the task:
    # the container exits 1, no output is written, collect fails StepTaskFailed, not retried
    arn = start(local_stack, runs_on="fargate", min_shards=0)
    described = finished(local_stack, arn, seconds=180)
    assert described["status"] == "FAILED" and described.get("error") == "RebuildFailed"
    events = local_stack.client("stepfunctions").get_execution_history(executionArn=arn, maxResults=1000)["events"]
    failures = [e["taskFailedEventDetails"]["error"] for e in events if e["type"] == "TaskFailed"]
    assert failures == ["StepTaskFailed"], failures
    stopped = [t for t in _tasks(local_stack) if t["containers"][0].get("exitCode") == 1]
    assert stopped, "the failed task is not reported stopped with its exit code"
    after = IndexReader(index, ddb)
    assert after.live_version() == version
    sample = [r["record_id"] for r in indexed_records(local_stack)[:20]]
    assert len(after.records(sample)) == len(sample)
