"""Step Functions on the local stack: the template's state machines, run by moto, their Lambda tasks
answered by the stack's own functions under their limits.

moto (5.x, with its ``execute_state_machine`` setting) interprets a definition as Step Functions
does: ``Map`` in both modes (a distributed one reading its items from S3), ``Parallel``, ``Choice``,
retries and catchers. What it cannot do here on its own:

* its Lambda, without Docker, answers every invocation with a canned reply: a task would "succeed"
  without running any of MAST's code. :func:`run_state_machines` hands each invocation to the
  stack's :class:`~infra.local.functions.FunctionRunner` instead, so a task runs the template's
  function in one of its environments, under its Timeout, MemorySize and concurrency, and a
  failure comes back as Lambda reports it (``FunctionError`` with the ``errorType``), for the
  definition's ``Retry`` and ``Catch`` to act on;
* its interpreter calls AWS over plain HTTP on ``localhost:$MOTO_PORT``: here its clients are
  pointed at the stack's own endpoint, which speaks TLS;
* a distributed Map whose child executions fail still "succeeds" in moto, with ``null`` for each
  failed item: on AWS, past its ``ToleratedFailureCount``/``ToleratedFailurePercentage`` (none by
  default) the map run fails with ``States.ExceedToleratedFailureThreshold``. Here it fails so too
  (:func:`_fail_map_runs_past_their_tolerance`), so a shard that fails cannot pass unseen;
* its ECS, asked to run a task (``ecs:runTask.sync``), records it as running for ever: nothing runs.
  :func:`run_state_machines` runs the task definition's container command instead, as a function of
  the stack's runner under the task's Memory and EphemeralStorage (the template's task definitions,
  ``Provisioned.tasks``), and marks the task ``STOPPED`` with
  its container's exit code when it ends, which is what the integration waits for; the task's network
  (Fargate's ``awsvpc``, required) is checked for subnets and not played;
* it enforces none of Step Functions' quotas. The one MAST can hit is the 256 KiB limit on a task's
  input and result (a state's input or output, an execution's input): a task whose payload or result
  is larger fails with ``States.DataLimitExceeded`` here, as on AWS, so that shards pass S3 keys,
  never data. (On AWS that error is not retried by ``States.ALL``; here it is retried like any
  other task failure before the execution fails: it fails either way.)

A definition is checked when the stack provisions it (:func:`check_definition`): a state type, a
task resource or an item reader the local stack does not run stops the stack, named, as an
unsupported resource type does, rather than being run wrongly.

A task may invoke only what its state machine's role allows: the role's policies from the template
are evaluated (:mod:`infra.local.iam`) before each invocation, and a denied one fails as Lambda's
``AccessDeniedException`` would. (moto's interpreter signs every call with the same fixed keys; the
client made for a task carries its execution's state machine in a header only the local stack reads.)
"""

from __future__ import annotations

import importlib
import json
import logging
import pkgutil
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.local.iam import PolicyEvaluator
from infra.local.template import UnsupportedTemplateFeature

logger = logging.getLogger(__name__)

#: Step Functions' quota on a task's, a state's or an execution's input or output, as UTF-8
#: (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html, "Maximum input or
#: output size for a task, state, or execution")
PAYLOAD_LIMIT = 256 * 1024

SUPPORTED_STATE_TYPES = frozenset({"Task", "Map", "Parallel", "Choice", "Pass", "Wait", "Succeed", "Fail"})
#: the task resources the local stack runs: Lambda, as the optimised integration or by ARN
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
_LAMBDA_ARN = re.compile(r"^arn:aws:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$")
#: the one container integration the local stack runs: a Fargate task, waited for
ECS_RUN_TASK_SYNC = "arn:aws:states:::ecs:runTask.sync"
#: what a distributed Map may read its items from (moto runs both)
ITEM_READERS = frozenset({"arn:aws:states:::s3:getObject", "arn:aws:states:::s3:listObjectsV2"})
#: where a distributed Map may write its results (moto runs it)
RESULT_WRITERS = frozenset({"arn:aws:states:::s3:putObject"})
_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


@dataclass
class StateMachineSpec:
    """A state machine as the template defines it, for the local stack."""

    logical_id: str
    name: str
    arn: str
    role_arn: str
    definition: dict[str, Any] = field(default_factory=dict)


def definition_of(logical_id: str, properties: Mapping[str, Any]) -> dict[str, Any]:
    """The definition with ``DefinitionSubstitutions`` applied, as Step Functions receives it.

    SAM turns an inline ``Definition`` into ``DefinitionString`` (resolved to a string by now);
    ``${Name}`` placeholders are replaced by the substitutions, and one left unreplaced stops the
    stack (CloudFormation would refuse the definition too).
    """
    if "DefinitionString" in properties:
        text = str(properties["DefinitionString"])
    elif "Definition" in properties:
        text = json.dumps(properties["Definition"])
    else:
        raise UnsupportedTemplateFeature(f"{logical_id}: only a definition in the template is supported "
                                         "(not DefinitionS3Location)")
    substitutions = {str(k): str(v) for k, v in (properties.get("DefinitionSubstitutions") or {}).items()}

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in substitutions:
            raise UnsupportedTemplateFeature(f"{logical_id}: the definition names ${{{name}}}, which "
                                             "DefinitionSubstitutions does not give")
        return substitutions[name]

    definition: dict[str, Any] = json.loads(_SUBSTITUTION.sub(substitute, text))
    return definition


def check_definition(logical_id: str, definition: Mapping[str, Any]) -> None:
    """Refuse a definition the local stack would not run as AWS does, naming the first state that
    cannot be run (walking ``Map``'s processors and ``Parallel``'s branches)."""
    problems = list(_problems(definition, path=()))
    if problems:
        raise UnsupportedTemplateFeature(f"{logical_id}: the local stack cannot run " + "; ".join(problems))


def _problems(machine: Mapping[str, Any], path: tuple[str, ...]) -> Iterable[str]:
    for name, state in (machine.get("States") or {}).items():
        where = "/".join((*path, name))
        kind = state.get("Type")
        if kind not in SUPPORTED_STATE_TYPES:
            yield f"state {where} of type {kind!r}"
            continue
        if kind == "Task":
            resource = str(state.get("Resource", ""))
            if resource == ECS_RUN_TASK_SYNC:
                if (state.get("Parameters") or {}).get("LaunchType") != "FARGATE":
                    yield f"task {where}'s ECS task without LaunchType FARGATE (only Fargate tasks run locally)"
                continue
            if resource != LAMBDA_INVOKE and not _LAMBDA_ARN.match(resource):
                yield f"task {where}'s resource {resource} (only Lambda and a Fargate task run locally)"
            if ".sync" in resource or ".waitForTaskToken" in resource:
                yield f"task {where}'s integration pattern {resource}"
        elif kind == "Map":
            processor = state.get("ItemProcessor") or state.get("Iterator") or {}
            reader = state.get("ItemReader")
            if reader is not None and reader.get("Resource") not in ITEM_READERS:
                yield f"map {where}'s item reader {reader.get('Resource')}"
            writer = state.get("ResultWriter")
            if writer is not None and writer.get("Resource") not in RESULT_WRITERS:
                yield f"map {where}'s result writer {writer.get('Resource')}"
            config = processor.get("ProcessorConfig") or {}
            if config.get("Mode") == "DISTRIBUTED" and config.get("ExecutionType", "STANDARD") != "STANDARD":
                yield f"map {where}'s child executions of type {config.get('ExecutionType')} (moto runs STANDARD)"
            yield from _problems(processor, (*path, name))
        elif kind == "Parallel":
            for i, branch in enumerate(state.get("Branches") or []):
                yield from _problems(branch, (*path, name, str(i)))


# --- running them ---------------------------------------------------------------------------------


@dataclass
class _Runtime:
    invoke: Callable[[str, Mapping[str, Any]], Any]
    functions: frozenset[str]
    #: each state machine's role policies, by state machine ARN
    evaluators: dict[str, PolicyEvaluator]
    endpoint: str
    ca_bundle: str
    #: the template's task definitions by family: the runner's function that plays each
    tasks: dict[str, str] = field(default_factory=dict)


_lock = threading.Lock()
_runtime: _Runtime | None = None


class TaskFailed(Exception):
    """A task's failure, as Lambda reports it: ``errorType`` and ``errorMessage``."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


def run_state_machines(invoke: Callable[[str, Mapping[str, Any]], Any], functions: Iterable[str],
                       state_machines: Iterable[StateMachineSpec], role_policies: Mapping[str, list[dict[str, Any]]],
                       *, endpoint: str, ca_bundle: str, tasks: Mapping[str, str] | None = None) -> Callable[[], None]:
    """Let moto run state machines whose Lambda tasks call ``invoke`` (the stack's function runner).

    Returns the function that detaches them again (a stopped stack's functions are gone: an
    execution still running then fails its tasks with ``Lambda.ServiceException``).
    """
    global _runtime
    interpret_state_machines()
    evaluators = {spec.arn: PolicyEvaluator(role_policies.get(spec.role_arn, [])) for spec in state_machines}
    with _lock:
        _runtime = _Runtime(invoke, frozenset(functions) - frozenset((tasks or {}).values()), evaluators, endpoint,
                            ca_bundle, dict(tasks or {}))

    def detach() -> None:
        global _runtime
        from moto.core.config import default_user_config

        with _lock:
            _runtime = None
        # moto's own default again: a later moto in this process (a test's) keeps executions running
        default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = False  # type: ignore[typeddict-item]

    return detach


def interpret_state_machines() -> None:
    """Have moto interpret state machines (before any is created: moto keeps interpreted ones in a
    backend of their own), its clients pointed at the stack and its Lambda tasks handed to the
    stack's functions once :func:`run_state_machines` says which."""
    from moto.core.config import default_user_config

    default_user_config.setdefault("stepfunctions", {})["execute_state_machine"] = True  # type: ignore[typeddict-item]
    _point_interpreter_at_the_stack()
    _hook_lambda_invoke()
    _hook_ecs_run_task()
    _name_ecs_parameters_as_boto_does()
    _fail_map_runs_past_their_tolerance()


def _fail_map_runs_past_their_tolerance() -> None:
    from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
        FailureEvent,
        FailureEventException,
    )
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
        StatesErrorNameType,
    )
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
        distributed_iteration_component as distributed,
    )
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    component = distributed.DistributedIterationComponent
    if getattr(component._map_run, "_mast_fixed", False):
        return
    original = component._map_run

    def _map_run(self: Any, env: Any, eval_input: Any) -> None:
        original(self, env, eval_input)
        counter = eval_input.map_run_record.item_counter
        failed = counter.failed.get() + counter.timed_out.get()
        total = max(counter.total.get(), 1)
        count = eval_input.tolerated_failure_count or 0
        percentage = eval_input.tolerated_failure_percentage or 0.0
        if failed > count and 100.0 * failed / total > percentage:
            cause = (f"{failed} of {total} items failed, past the map run's tolerance "
                     f"(ToleratedFailureCount {count}, ToleratedFailurePercentage {percentage})")
            name = StatesErrorNameType.StatesExceedToleratedFailureThreshold
            raise FailureEventException(failure_event=FailureEvent(
                env=env, error_name=StatesErrorName(typ=name), event_type=HistoryEventType.ExecutionFailed,
                event_details=EventDetails(executionFailedEventDetails=ExecutionFailedEventDetails(
                    error=name.to_name(), cause=cause))))

    _map_run._mast_fixed = True  # type: ignore[attr-defined]
    component._map_run = _map_run  # type: ignore[method-assign]


def _point_interpreter_at_the_stack() -> None:
    """moto's interpreter builds its clients on ``http://localhost:$MOTO_PORT``; point every module
    that imported its client factory at the stack's TLS endpoint instead."""
    import moto.stepfunctions.parser.asl.component.state.exec as tasks
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    if getattr(original, "_mast_fixed", False):
        return

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        import boto3
        from botocore.config import Config

        runtime = _runtime
        if runtime is None:
            return original(region, service, state_credentials)
        client = boto3.client(service, region_name=region, endpoint_url=runtime.endpoint, verify=runtime.ca_bundle,
                              aws_access_key_id="local", aws_secret_access_key="local",
                              config=Config(parameter_validation=False, retries={"total_max_attempts": 1},
                                            read_timeout=960, connect_timeout=10))
        machine = _calling_state_machine()
        if machine:
            def name_the_caller(request: Any, **_: Any) -> None:
                request.headers[CALLER_HEADER] = machine

            client.meta.events.register("before-sign", name_the_caller)
        return client

    boto_client_for._mast_fixed = True  # type: ignore[attr-defined]
    boto_client.boto_client_for = boto_client_for
    # every module that calls AWS (task integrations, item readers, result writers) is under the
    # states' execution package
    for module_info in pkgutil.walk_packages(tasks.__path__, tasks.__name__ + "."):
        module = importlib.import_module(module_info.name)
        if getattr(module, "boto_client_for", None) is original:
            module.boto_client_for = boto_client_for  # type: ignore[attr-defined]


#: the header a task's client carries naming its execution's state machine (read by the Lambda hook)
CALLER_HEADER = "X-Mast-Local-State-Machine"


def _calling_state_machine() -> str | None:
    """The ARN of the state machine whose task is asking for a client: the interpreter's
    ``Environment`` is a local (``env``) of the integration's frames just above."""
    frame = sys._getframe(2)
    for _ in range(10):
        if frame is None:
            return None
        env = frame.f_locals.get("env")
        states = getattr(env, "states", None)
        if states is not None:
            try:
                return str(states.context_object.context_object_data["StateMachine"]["Id"])
            except (AttributeError, KeyError, TypeError):
                return None
        frame = frame.f_back
    return None


def _hook_lambda_invoke() -> None:
    from moto.awslambda.models import LambdaBackend

    if getattr(LambdaBackend.invoke, "_mast_fixed", False):
        return
    original = LambdaBackend.invoke

    def invoke(self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any,
               response_headers: dict[str, str]) -> Any:
        runtime = _runtime
        if runtime is None:
            return original(self, function_name, qualifier, body, headers, response_headers)
        name = function_name.rsplit(":function:", 1)[-1].split(":", 1)[0]
        try:
            caller = str((headers or {}).get(CALLER_HEADER, ""))
            result = _run_task(runtime, self.account_id, self.region_name, name, body, caller)
        except TaskFailed as failure:
            response_headers["x-amz-function-error"] = "Unhandled"
            payload = json.dumps({"errorType": failure.error_type, "errorMessage": failure.message}).encode()
        else:
            payload = result.encode()
        response_headers["Content-Length"] = str(len(payload))
        return payload

    invoke._mast_fixed = True  # type: ignore[attr-defined]
    LambdaBackend.invoke = invoke  # type: ignore[method-assign]


def _run_task(runtime: _Runtime, account: str, region: str, name: str, body: Any, caller: str) -> str:
    """One task's invocation: the role's permission, the payload's size, the function, the result's size."""
    from infra.local.functions import FunctionError

    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    if name not in runtime.functions:
        raise TaskFailed("Lambda.ResourceNotFoundException", f"Function not found: {arn}")
    evaluator = runtime.evaluators.get(caller)
    if evaluator is None or not evaluator.allows("lambda:InvokeFunction", arn):
        raise TaskFailed("Lambda.AccessDeniedException",
                         f"the role of state machine {caller or '(none named)'} does not allow "
                         f"lambda:InvokeFunction on {arn}")
    raw = body if isinstance(body, bytes | bytearray) else str(body or "{}").encode()
    if len(raw) > PAYLOAD_LIMIT:
        raise TaskFailed("States.DataLimitExceeded",
                         f"the task's input ({len(raw)} bytes) is past Step Functions' {PAYLOAD_LIMIT}-byte quota")
    event = json.loads(raw or b"{}")
    try:
        result = runtime.invoke(name, event)
    except FunctionError as error:
        logger.info("a state machine task failed", extra={"function": name, "error_type": error.error_type})
        raise TaskFailed(error.error_type, error.message) from None
    text = json.dumps(result)
    if len(text.encode()) > PAYLOAD_LIMIT:
        raise TaskFailed("States.DataLimitExceeded",
                         f"the task's result ({len(text.encode())} bytes) is past Step Functions' "
                         f"{PAYLOAD_LIMIT}-byte quota: pass S3 keys, not data")
    return text


def _hook_ecs_run_task() -> None:
    """moto's ECS records a task as running and never runs it: run the template's task definition's
    command in the stack's runner, and stop the task with its exit code when the command ends."""
    from moto.ecs.responses import EC2ContainerServiceResponse

    if getattr(EC2ContainerServiceResponse.run_task, "_mast_fixed", False):
        return
    original = EC2ContainerServiceResponse.run_task

    def run_task(self: Any) -> Any:
        runtime = _runtime
        if runtime is None:
            return original(self)
        from moto.core.exceptions import JsonRESTError
        from moto.ecs.exceptions import InvalidParameterException

        definition = self.ecs_backend.describe_task_definition(self._get_param("taskDefinition"))
        function = runtime.tasks.get(definition.family)
        if function is None:
            raise InvalidParameterException(f"the local stack plays only the template's task definitions, not "
                                            f"{definition.family}")
        caller = str(self.headers.get(CALLER_HEADER, ""))
        evaluator = runtime.evaluators.get(caller)
        if evaluator is None or not evaluator.allows("ecs:RunTask", definition.arn):
            raise JsonRESTError("AccessDeniedException", f"the role of state machine {caller or '(none named)'} "
                                f"does not allow ecs:RunTask on {definition.arn}")
        roles = (getattr(definition, "task_role_arn", None), getattr(definition, "execution_role_arn", None))
        for role in filter(None, roles):
            if not evaluator.allows("iam:PassRole", role):
                raise JsonRESTError("AccessDeniedException", f"the role of state machine {caller} does not allow "
                                    f"iam:PassRole on {role}")
        subnets = ((self._get_param("networkConfiguration") or {}).get("awsvpcConfiguration") or {}).get("subnets")
        if not subnets:
            raise InvalidParameterException("Network Configuration must be provided when networkMode 'awsvpc' is "
                                            "specified.")
        # moto's own response, less the network: the template's subnets are the account's, not moto's,
        # and the network is not played (the task definition is registered in moto without awsvpc,
        # whose interfaces moto cannot attach: infra.local.provision)
        from moto.core.responses import ActionResult

        tasks = self.ecs_backend.run_task(
            self._get_param("cluster", "default"), self._get_param("taskDefinition"),
            self._get_int_param("count", 1), self._get_param("overrides"), self._get_param("startedBy"),
            self._get_param("tags"), self._get_param("launchType"), None,
            self._get_param("group"), self._get_param("platformVersion"), self._get_param("capacityProviderStrategy"))
        overrides = (self._get_param("overrides") or {}).get("containerOverrides") or []
        environment = {e["name"]: e["value"] for o in overrides for e in (o.get("environment") or [])}
        for task in tasks:
            # moto moves a task through ECS's states by itself (at once, by default): here it runs
            # until its command ends
            task._transitions = []
            threading.Thread(target=_play_task, args=(runtime, function, task, environment),
                             name=f"ecs-task-{task.id}", daemon=True).start()
        return ActionResult({"tasks": tasks, "failures": []})

    run_task._mast_fixed = True  # type: ignore[attr-defined]
    EC2ContainerServiceResponse.run_task = run_task  # type: ignore[method-assign]


def _name_ecs_parameters_as_boto_does() -> None:
    """moto's ECS integration hands the state's PascalCase parameters (``Cluster``, ``TaskDefinition``)
    to boto3, which wants ECS's own camelCase names, and reads ECS's answer by Step Functions'
    PascalCase ones (``Tasks``, ``ClusterArn``): its two renaming hooks are empty. Fill them, as Step
    Functions names them (the task's description comes back PascalCase)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_ecs import (
        StateTaskServiceEcs,
    )

    if getattr(StateTaskServiceEcs._normalise_parameters, "_mast_fixed", False):
        return

    def renamed(value: Any, first: Callable[[str], str]) -> Any:
        if isinstance(value, dict):
            return {first(k[:1]) + k[1:]: renamed(v, first) for k, v in value.items()}
        if isinstance(value, list):
            return [renamed(v, first) for v in value]
        return value

    def _normalise_parameters(self: Any, parameters: dict[str, Any], boto_service_name: str | None = None,
                              service_action_name: str | None = None) -> None:
        camel = renamed(parameters, str.lower)
        parameters.clear()
        parameters.update(camel)

    def _normalise_response(self: Any, response: Any, boto_service_name: str | None = None,
                            service_action_name: str | None = None) -> None:
        if isinstance(response, dict):
            pascal = renamed(response, str.upper)
            response.clear()
            response.update(pascal)

    _normalise_parameters._mast_fixed = True  # type: ignore[attr-defined]
    StateTaskServiceEcs._normalise_parameters = _normalise_parameters  # type: ignore[method-assign]
    StateTaskServiceEcs._normalise_response = _normalise_response  # type: ignore[method-assign]


def _play_task(runtime: _Runtime, function: str, task: Any, environment: dict[str, str]) -> None:
    """Run one task's command to its end; the task stops with the container's exit code, as ECS reports it."""
    from infra.local.functions import FunctionError

    task.last_status = "RUNNING"
    for container in task.containers:
        container.last_status = "RUNNING"
    code, reason = 0, "Essential container in task exited"
    try:
        runtime.invoke(function, environment)
    except FunctionError as error:
        code = 1
        logger.info("a local Fargate task failed", extra={"function": function, "error_type": error.error_type})
    except Exception:  # the runner itself failed: the task stops as a lost one would
        code = 1
        logger.exception("a local Fargate task could not run")
    for container in task.containers:
        container.last_status = "STOPPED"
        container.exitCode = code
    task.stopped_reason = reason
    task.desired_status = "STOPPED"
    task.last_status = "STOPPED"
