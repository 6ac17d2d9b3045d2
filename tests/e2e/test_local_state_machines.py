"""The local stack runs the template's state machines, their Lambda tasks in the stack's functions.

A copy of ``template.yaml`` adds a probe function (``tests/e2e/states_probe``) and three state
machines calling it: one from a distributed Map that reads its items from S3, one from a single
task, and one from a single task whose role may invoke only another function. The stack is started from the copy in this process.
What is tested is the local stack: moto interprets the definitions; every task runs in one of the
probe's environments under its limits, retried by the definition's ``Retry``; Step Functions'
256 KiB quota on a task's result holds; a role that does not allow the call fails the task.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.local import stack
from infra.local.template import load_template
from tests.conftest import free_port, stack_in_this_process

ROOT = Path(__file__).resolve().parents[2]

DEFINITION = {
    "StartAt": "Items",
    "States": {
        "Items": {
            "Type": "Map",
            "ItemReader": {"Resource": "arn:aws:states:::s3:getObject", "ReaderConfig": {"InputType": "JSON"},
                           "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"}},
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Probe",
                "States": {"Probe": {
                    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": {"FunctionName": "${Probe}", "Payload.$": "$"},
                    "OutputPath": "$.Payload",
                    "Retry": [{"ErrorEquals": ["RuntimeError"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                    "End": True}},
            },
            "MaxConcurrency": 4,
            "End": True,
        }
    },
}

#: one task, its input the execution's
TASK = {"StartAt": "Probe", "States": {"Probe": {
    "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
    "Parameters": {"FunctionName": "${Probe}", "Payload.$": "$"}, "OutputPath": "$.Payload", "End": True}}}


def _machine(definition: dict[str, Any], policies: list[Any]) -> dict[str, Any]:
    return {"Type": "AWS::Serverless::StateMachine",
            "Properties": {"Type": "STANDARD", "Definition": definition,
                           "DefinitionSubstitutions": {"Probe": {"Fn::GetAtt": ["ProbeFunction", "Arn"]}},
                           "Policies": policies}}


def machines_template(folder: Path) -> Path:
    template = load_template(ROOT / "template.yaml")
    resources = template["Resources"]
    resources["ProbeFunction"] = {"Type": "AWS::Serverless::Function",
                                  "Properties": {"CodeUri": "tests/e2e/states_probe/", "Handler": "app.handler",
                                                 "Timeout": 10, "MemorySize": 256}}
    may_invoke_probe = [{"LambdaInvokePolicy": {"FunctionName": {"Ref": "ProbeFunction"}}}]
    resources["ProbeMachine"] = _machine(DEFINITION, may_invoke_probe)
    resources["TaskMachine"] = _machine(TASK, may_invoke_probe)
    resources["OtherMachine"] = _machine(TASK, [{"LambdaInvokePolicy": {"FunctionName": {"Ref": "UsersFunction"}}}])
    path = folder / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.RunningStack]:
    folder = tmp_path_factory.mktemp("machines")
    options = stack.LocalOptions(port=free_port(), sftp_port=free_port(), aws_port=free_port(), state_dir=folder,
                                 template=machines_template(folder), function_log_level="WARNING")
    with stack_in_this_process(options) as started:
        yield started


def _run_map(running: stack.RunningStack, items: list[dict[str, Any]]) -> dict[str, Any]:
    s3 = running.client("s3")
    bucket = f"probe-items-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    s3.put_object(Bucket=bucket, Key="items.json", Body=json.dumps(items).encode())
    return _run(running, "ProbeMachine", {"bucket": bucket, "key": "items.json"})


def _run(running: stack.RunningStack, machine: str, given: dict[str, Any]) -> dict[str, Any]:
    sfn = running.client("stepfunctions")
    arn = running.provisioned.state_machines[f"mast-local-{machine}"].arn
    execution = sfn.start_execution(stateMachineArn=arn, name=uuid.uuid4().hex, input=json.dumps(given))
    deadline = time.time() + 90
    while time.time() < deadline:
        described: dict[str, Any] = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.2)
    raise AssertionError(f"{machine} still running after 90 s")


def _failure(running: stack.RunningStack, described: dict[str, Any]) -> str:
    history = running.client("stepfunctions").get_execution_history(executionArn=described["executionArn"])
    return json.dumps(history["events"], default=str)


def test_a_distributed_map_runs_each_item_in_the_templates_function_retrying_a_failure(
        running: stack.RunningStack, tmp_path: Path) -> None:
    marker = tmp_path / "failed-once"
    items = [{"n": n} for n in range(6)] + [{"n": 10, "fail_first": str(marker)}]
    described = _run_map(running, items)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    assert [o["n"] for o in output] == [0, 2, 4, 6, 8, 10, 20]
    # the probe ran in the stack's function environments (worker processes), not in moto's canned reply
    assert all(o["pid"] != os.getpid() for o in output)
    assert marker.read_text() == "failed once\n", "the failed first attempt ran, and its retry succeeded"


def test_an_item_that_fails_fails_the_map_run_as_on_aws(running: stack.RunningStack) -> None:
    described = _run_map(running, [{"n": 1}, {"n": "not a number"}])
    # moto alone "succeeds" with null for the failed item; AWS tolerates no failed item by default
    assert described["status"] == "FAILED", described
    assert "States.ExceedToleratedFailureThreshold" in _failure(running, described)


def test_a_result_past_step_functions_256_kib_quota_fails_the_execution(running: stack.RunningStack) -> None:
    assert _run(running, "TaskMachine", {"big": 1000})["status"] == "SUCCEEDED"
    described = _run(running, "TaskMachine", {"big": 300_000})
    assert described["status"] == "FAILED"
    assert "States.DataLimitExceeded" in _failure(running, described)


def test_a_task_its_role_does_not_allow_fails(running: stack.RunningStack) -> None:
    described = _run(running, "OtherMachine", {"n": 1})
    assert described["status"] == "FAILED"
    assert "Lambda.AccessDeniedException" in _failure(running, described)
