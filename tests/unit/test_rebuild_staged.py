"""A rebuild step run as a Fargate task: ``stage`` writes its input where the task reads it and names
the task to run; ``collect`` returns what the task wrote, and a task that wrote nothing failed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import boto3
import pytest
from pydantic import ValidationError

from mast.index.rebuild import Staged, StepOnTask, StepTaskFailed, collect, run_step, stage

BUCKET = "t-curated"


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from moto import mock_aws

    for name, value in {"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t",
                        "CURATED_BUCKET": BUCKET, "REBUILD_TASK_CLUSTER": "arn:cluster/rebuild",
                        "REBUILD_TASK_DEFINITION": "arn:task-definition/rebuild:3",
                        "REBUILD_CATCH_UP_TASK_DEFINITION": "arn:task-definition/catch-up:2",
                        "REBUILD_TASK_SUBNETS": "subnet-a,subnet-b", "REBUILD_TASK_SECURITY_GROUP": "sg-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-2")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        yield client


def test_stage_writes_the_input_names_the_task_and_collect_returns_the_tasks_output(s3: object) -> None:
    client = s3
    staged = stage(StepOnTask(name="prepare", rebuild="r-1", event={"step": "prepare", "start": {"rebuild": "r-1"}}))
    assert staged.input == f"s3://{BUCKET}/rebuilds/r-1/tasks/prepare.in.json"
    assert staged.output == f"s3://{BUCKET}/rebuilds/r-1/tasks/prepare.out.json"
    assert (staged.cluster, staged.task_definition) == ("arn:cluster/rebuild", "arn:task-definition/rebuild:3")
    assert staged.subnets == ["subnet-a", "subnet-b"] and staged.security_groups == ["sg-1"]
    written = client.get_object(Bucket=BUCKET, Key="rebuilds/r-1/tasks/prepare.in.json")["Body"].read()
    assert json.loads(written) == {"step": "prepare", "start": {"rebuild": "r-1"}}
    # the task has not written its output: it failed, named
    with pytest.raises(StepTaskFailed, match="the task for prepare stopped without writing its output"):
        collect(Staged(input=staged.input, output=staged.output))
    client.put_object(Bucket=BUCKET, Key="rebuilds/r-1/tasks/prepare.out.json", Body=b'{"records": 7}')
    assert run_step({"step": "collect", "input": staged.input, "output": staged.output}) == {"records": 7}
    # a retried step's stage clears the output of the attempt before
    stage(StepOnTask(name="prepare", rebuild="r-1", event={"step": "prepare"}))
    with pytest.raises(StepTaskFailed):
        collect(staged)


def test_the_catch_up_runs_in_its_own_task_and_an_undeployed_task_is_named(
        s3: object, monkeypatch: pytest.MonkeyPatch) -> None:
    catch_up = stage(StepOnTask(name="catch_up", prefix=f"s3://{BUCKET}/rebuilds/r-2",
                                event={"step": "catch_up", "version": "v"}))
    assert catch_up.task_definition == "arn:task-definition/catch-up:2"
    assert catch_up.input.endswith("/rebuilds/r-2/tasks/catch_up.in.json")
    export = stage(StepOnTask(name="export-12", prefix=f"s3://{BUCKET}/rebuilds/r-2", event={"step": "export"}))
    assert export.task_definition == "arn:task-definition/rebuild:3" and export.output.endswith("/export-12.out.json")
    for bad in ("../prepare", "prepare/x", "Export-1"):
        with pytest.raises(ValidationError):
            StepOnTask(name=bad, rebuild="r-2", event={})
    with pytest.raises(ValueError, match="is in S3"):
        stage(StepOnTask(name="cluster", prefix="/tmp/r-2", event={"step": "cluster"}))
    monkeypatch.setenv("REBUILD_TASK_CLUSTER", "")
    with pytest.raises(StepTaskFailed, match="RebuildTaskImage"):
        stage(StepOnTask(name="cluster", rebuild="r-2", event={"step": "cluster"}))
