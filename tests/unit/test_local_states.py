"""The local stack refuses a state machine it would not run as AWS does, naming what it cannot run."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra.local.states import check_definition, definition_of
from infra.local.template import UnsupportedTemplateFeature


def _task(resource: str) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, "End": True}


def test_lambda_tasks_maps_and_flow_states_are_run() -> None:
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B"},
        "B": {"Type": "Map", "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {}},
              "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                                "StartAt": "T", "States": {"T": _task("arn:aws:states:::lambda:invoke")}},
              "Next": "C"},
        "C": {"Type": "Choice", "Choices": [], "Default": "D"},
        "D": _task("arn:aws:lambda:eu-west-2:123456789012:function:mast-local-MatchFunction"), "E": {
            **_task("arn:aws:states:::ecs:runTask.sync"), "Parameters": {"LaunchType": "FARGATE"}}}}
    definition["States"]["D"] = {**definition["States"]["D"], "End": False, "Next": "E"}
    check_definition("Machine", definition)


@pytest.mark.parametrize(("state", "named"), [
    (_task("arn:aws:states:::dynamodb:putItem"), "task S's resource arn:aws:states:::dynamodb:putItem"),
    (_task("arn:aws:states:::lambda:invoke.waitForTaskToken"), "integration pattern"),
    ({"Type": "Map", "ItemReader": {"Resource": "arn:aws:states:::s3:getObject"},
      "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                        "StartAt": "T", "States": {"T": _task("arn:aws:states:::lambda:invoke")}}, "End": True},
     "child executions of type EXPRESS"),
    ({"Type": "Map", "ItemProcessor": {"StartAt": "T", "States": {"T": _task("arn:aws:states:::sqs:sendMessage")}},
      "End": True}, "task S/T's resource"),
    ({**_task("arn:aws:states:::ecs:runTask.sync"), "Parameters": {"LaunchType": "EC2"}},
     "ECS task without LaunchType FARGATE"),
    ({**_task("arn:aws:states:::ecs:runTask"), "Parameters": {"LaunchType": "FARGATE"}},
     "task S's resource arn:aws:states:::ecs:runTask "),
    ({**_task("arn:aws:states:::ecs:runTask.waitForTaskToken"), "Parameters": {"LaunchType": "FARGATE"}},
     "task S's resource arn:aws:states:::ecs:runTask.waitForTaskToken"),
    ({"Type": "Parallel", "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Activity"}}}], "End": True},
     "state S/0/X of type 'Activity'"),
])
def test_what_the_local_stack_cannot_run_stops_it_named(state: dict[str, Any], named: str) -> None:
    with pytest.raises(UnsupportedTemplateFeature, match="Machine: the local stack cannot run") as raised:
        check_definition("Machine", {"StartAt": "S", "States": {"S": state}})
    assert named in str(raised.value)


def test_substitutions_are_applied_and_a_missing_one_is_refused() -> None:
    text = json.dumps({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "${Fn}", "End": True}}})
    definition = definition_of("Machine", {"DefinitionString": text, "DefinitionSubstitutions": {"Fn": "arn:x"}})
    assert definition["States"]["T"]["Resource"] == "arn:x"
    with pytest.raises(UnsupportedTemplateFeature, match=r"names \$\{Fn\}"):
        definition_of("Machine", {"DefinitionString": text})


def test_a_fargate_task_runs_its_command_and_stops_with_its_exit_code_if_the_role_allows_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The local stand-in for ECS (moto records a task as running for ever): the state machine's role
    is checked, the task definition's command runs (here a recorder) with the container's environment
    overrides, and the task stops with exit code 0, or 1 when the command failed."""
    import threading
    import time

    import boto3
    from moto import mock_aws

    from infra.local import states
    from infra.local.functions import FunctionError
    from infra.local.iam import PolicyEvaluator

    for name, value in {"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    ran: list[dict[str, Any]] = []
    done = threading.Event()

    def invoke(function: str, event: dict[str, Any]) -> Any:
        ran.append({"function": function, **event})
        done.set()
        if event.get("FAIL"):
            raise FunctionError(function, "ValueError", "refused")
        return {}

    states._hook_ecs_run_task()
    allow = PolicyEvaluator([{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecs:RunTask", "Resource": "arn:aws:ecs:*:*:task-definition/t-rebuild:*"},
        {"Effect": "Allow", "Action": "iam:PassRole", "Resource": "arn:aws:iam::123456789012:role/t-task"}]}])
    deny = PolicyEvaluator([{"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "ecs:RunTask", "Resource": "*"}]}])  # no iam:PassRole
    monkeypatch.setattr(states, "_runtime", states._Runtime(invoke, frozenset(), {"allowed": allow, "denied": deny},
                                                            "", "", {"t-rebuild": "t-rebuild"}))
    with mock_aws():
        ecs = boto3.client("ecs")
        ecs.create_cluster(clusterName="c")
        ecs.register_task_definition(family="t-rebuild", networkMode="bridge", cpu="1024", memory="2048",
                                     taskRoleArn="arn:aws:iam::123456789012:role/t-task",
                                     containerDefinitions=[{"name": "r", "image": "x", "memory": 2048, "cpu": 1024}])

        def run(caller: str, environment: list[dict[str, str]], network: bool = True) -> str:
            ecs.meta.events.register("before-sign", lambda request, **_: request.headers.__setitem__(
                states.CALLER_HEADER, caller), unique_id="caller")
            given = {"networkConfiguration": {"awsvpcConfiguration": {"subnets": ["subnet-1"]}}} if network else {}
            try:
                task = ecs.run_task(cluster="c", taskDefinition="t-rebuild", launchType="FARGATE", **given,
                                    overrides={"containerOverrides": [{"name": "r", "environment": environment}]})
            finally:
                ecs.meta.events.unregister("before-sign", unique_id="caller")
            return str(task["tasks"][0]["taskArn"])

        def stopped(arn: str) -> dict[str, Any]:
            for _ in range(100):
                task: dict[str, Any] = ecs.describe_tasks(cluster="c", tasks=[arn])["tasks"][0]
                if task["lastStatus"] == "STOPPED":
                    return task
                time.sleep(0.05)
            raise AssertionError("the task did not stop")

        ok = stopped(run("allowed", [{"name": "MAST_STEP_INPUT", "value": "s3://b/in.json"}]))
        assert ran == [{"function": "t-rebuild", "MAST_STEP_INPUT": "s3://b/in.json"}]
        assert ok["containers"][0]["exitCode"] == 0
        failed = stopped(run("allowed", [{"name": "FAIL", "value": "1"}]))
        assert failed["containers"][0]["exitCode"] == 1
        with pytest.raises(ecs.exceptions.ClientError, match="AccessDeniedException.*iam:PassRole"):
            run("denied", [])
        with pytest.raises(ecs.exceptions.ClientError, match="AccessDeniedException.*ecs:RunTask"):
            run("someone-else", [])
        with pytest.raises(ecs.exceptions.ClientError, match="Network Configuration must be provided"):
            run("allowed", [], network=False)
        assert len(ran) == 2
