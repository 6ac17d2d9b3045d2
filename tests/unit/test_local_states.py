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
