"""template.yaml: lint-clean, every handler real, schemas held to the code, and the local stack
refusing, by name, what it cannot reproduce."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra.local.provision import Provisioner
from infra.local.template import Resolver, UnsupportedTemplateFeature, expand_sam, load_template
from mast.audit import AUDIT_COLUMNS
from mast.records import RECORD_COLUMNS, RECORD_PARTITIONS

ROOT = Path(__file__).resolve().parents[2]
PSEUDO = {"AWS::Region": "eu-west-2", "AWS::AccountId": "123456789012", "AWS::Partition": "aws",
          "AWS::StackName": "mast-test", "AWS::URLSuffix": "amazonaws.com"}


@pytest.fixture(scope="module")
def template() -> dict:
    return load_template(ROOT / "template.yaml")


def test_cfn_lint_prints_nothing() -> None:
    lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(lint), "template.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.stdout == "" and result.returncode == 0, result.stdout + result.stderr


def test_edge_template_is_lint_clean() -> None:
    """infra/edge.yaml (us-east-1: CloudFront's certificate and web ACL) is held to the same linter."""
    lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(lint), "infra/edge.yaml"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.stdout == "" and result.returncode == 0, result.stdout + result.stderr


#: checkov, pinned in pyproject.toml (extra `checkov`) and installed by bin/_env.sh in a venv of its own:
#: it pins an AWS SDK two years older than MAST's, so it cannot share MAST's.
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"


def test_checkov_finds_no_failed_check_and_every_skip_says_why() -> None:
    """Both templates pass every checkov check for CloudFormation, save those skipped beside the
    resource (``Metadata: checkov: skip``) with a reason; nothing is fetched from the network."""
    if not CHECKOV.exists():
        pytest.fail("checkov is missing: run ./bin/test, which installs it into .venv-checkov")
    result = subprocess.run(
        [str(CHECKOV), "-f", "template.yaml", "-f", "infra/edge.yaml", "--framework", "cloudformation",
         "--skip-download", "--output", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    report = json.loads(result.stdout)
    summary, results = report["summary"], report["results"]
    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
              for c in results["failed_checks"]]
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0 and summary["passed"] > 100, summary
    unexplained = [f"{c['check_id']} {c['resource']}" for c in results["skipped_checks"]
                   if len((c["check_result"].get("suppress_comment") or "").split()) < 5]
    assert not unexplained, "skipped without a reason beside the resource: " + ", ".join(unexplained)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_function_handler_exists_and_imports(template: dict) -> None:
    functions = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert set(functions) == {"IngestFunction", "MatchFunction", "SearchFunction", "AuditFunction", "UsersFunction",
                              "RebuildFunction", "MatchShardFunction"}
    for logical_id, resource in functions.items():
        properties = resource["Properties"]
        module_name, _, attribute = properties["Handler"].rpartition(".")
        path = ROOT / properties["CodeUri"] / f"{module_name}.py"
        spec = importlib.util.spec_from_file_location(f"check_{logical_id}", path)
        assert spec and spec.loader, path
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert callable(getattr(module, attribute)), f"{logical_id}: {properties['Handler']}"


#: Signed-in routes that hold no one's personal data, so that their refusals need not be audited:
#: the gateways on offer, feed coverage and the linkage report's aggregate figures.
NOT_PERSONAL = {("GET", "/declaration-options"), ("GET", "/coverage"), ("GET", "/linkage-report"),
                ("GET", "/alerts/count")}


def test_every_refusal_of_a_signed_in_route_with_personal_data_is_audited(template: dict) -> None:
    """Each API function's ``DATA_ROUTES`` (whose refusals it audits) holds every signed-in route the
    template gives it, but for the few named above: a route added later is audited unless said."""
    for logical_id in ("SearchFunction", "UsersFunction", "AuditFunction"):
        properties = template["Resources"][logical_id]["Properties"]
        signed_in = {(e["Properties"]["Method"].upper(), e["Properties"]["Path"])
                     for e in properties["Events"].values()
                     if e["Type"] == "Api" and (e["Properties"].get("Auth") or {}).get("Authorizer") != "NONE"}
        path = ROOT / properties["CodeUri"] / "app.py"
        spec = importlib.util.spec_from_file_location(f"routes_{logical_id}", path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        assert signed_in - NOT_PERSONAL == set(module.DATA_ROUTES), logical_id


def test_search_function_does_not_import_pandas_or_pyarrow() -> None:
    code = (
        "import sys, importlib.util\n"
        "spec = importlib.util.spec_from_file_location('search_app', 'functions/search/app.py')\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "bad = [n for n in ('pandas', 'pyarrow', 'awswrangler') if n in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)


def _glue_columns(template: dict, logical_id: str) -> list[tuple[str, str]]:
    table = template["Resources"][logical_id]["Properties"]["TableInput"]
    return [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]


def test_glue_tables_match_the_canonical_shapes(template: dict) -> None:
    assert _glue_columns(template, "RecordsGlueTable") == list(RECORD_COLUMNS)
    partitions = template["Resources"]["RecordsGlueTable"]["Properties"]["TableInput"]["PartitionKeys"]
    assert [(p["Name"], p["Type"]) for p in partitions] == list(RECORD_PARTITIONS)
    assert _glue_columns(template, "AuditGlueTable") == list(AUDIT_COLUMNS)


def test_powertools_event_logging_is_off_for_every_function(template: dict) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_LOGGER_LOG_EVENT"] == "false"


def _provisioner() -> Provisioner:
    return Provisioner(session=None, resolver=Resolver(parameters=dict(PSEUDO)), region="eu-west-2",
                       account="123456789012", prefix="t")


def test_unsupported_resource_type_stops_the_local_stack_by_name() -> None:
    with pytest.raises(UnsupportedTemplateFeature, match=r"Bastion \(AWS::EC2::Instance\)"):
        _provisioner().provision({"Bastion": {"Type": "AWS::EC2::Instance", "Properties": {}}})


def test_unsupported_intrinsic_is_named() -> None:
    resolver = Resolver(parameters=dict(PSEUDO))
    with pytest.raises(UnsupportedTemplateFeature, match="Fn::GetAZs"):
        resolver.resolve({"Fn::GetAZs": ""})


def test_every_resource_type_of_the_template_is_supported(template: dict) -> None:
    parameters = {name: p.get("Default") for name, p in template["Parameters"].items()}
    expanded = expand_sam(template, {**parameters, **PSEUDO}, "eu-west-2")
    _provisioner().check_supported(expanded["Resources"])  # raises, naming any that is not


def test_sub_resolves_parameters_attributes_and_literals() -> None:
    resolver = Resolver(parameters={"Env": "dev", **PSEUDO})
    resolver.attributes["Bucket"] = {"Arn": "arn:aws:s3:::b"}
    resolver.refs["Bucket"] = "b"
    assert resolver.resolve({"Fn::Sub": "${Bucket.Arn}/${Env}/${!literal}/${AWS::Region}"}) == "arn:aws:s3:::b/dev/${literal}/eu-west-2"
    assert resolver.resolve({"Fn::Sub": ["${X}-${Bucket}", {"X": {"Ref": "Env"}}]}) == "dev-b"


def test_an_ingests_changes_expire_but_not_before_a_dead_lettered_match_run_can_be_redriven(template: dict) -> None:
    """``changes/`` grew by one object per ingest for ever; they are read only by the match run the
    ingest queued (or its redrive from the dead-letter queue), so they expire after the longest a
    message can wait there."""
    from mast.feeds.store import CHANGES_PREFIX

    rules = template["Resources"]["CuratedBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    changes = [r for r in rules if r.get("Prefix") == CHANGES_PREFIX and r["Status"] == "Enabled"]
    assert len(changes) == 1, "the curated bucket needs one lifecycle rule for the ingests' changes"
    longest_wait_days = max(
        int(resource["Properties"]["MessageRetentionPeriod"]) / 86_400
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::SQS::Queue" and "MessageRetentionPeriod" in resource.get("Properties", {})
    )
    assert changes[0]["ExpirationInDays"] > longest_wait_days


def test_a_rebuild_fails_only_before_its_switch_and_never_runs_unbounded(template: dict) -> None:
    """Every step up to the switch fails the rebuild (the live version untouched, alarmed); the
    catch-up runs in the match function before the switch; a sweep that fails after a good switch
    ends the execution well; and the execution has a timeout."""
    definition = template["Resources"]["RebuildStateMachine"]["Properties"]["Definition"]
    states = definition["States"]
    assert 0 < definition["TimeoutSeconds"] <= 10 * 24 * 3600

    def walk(on_fargate: bool) -> list[str]:
        """The states in order, along the Lambda steps or (``runs_on`` fargate) the Fargate ones."""
        order, name = [], definition["StartAt"]
        while name and name not in order:
            order.append(name)
            state = states[name]
            if state["Type"] == "Choice" and name.endswith("Where"):  # where the steps run
                name = state["Choices"][0]["Next"] if on_fargate else state["Default"]
            elif state["Type"] == "Choice":  # the way on, not the loop back
                name = next((n for n in [*(c["Next"] for c in state["Choices"]), state["Default"]] if n not in order),
                            None)
            else:
                name = state.get("Next")
        return order[:order.index("Switch") + 1]

    on_lambda, on_fargate = walk(False), walk(True)
    assert on_lambda[-2:] == ["CatchUp", "Switch"]
    assert states["CatchUp"]["Parameters"]["FunctionName"] == "${Match}"
    # past FargateRebuildFrom the whole-population steps and the catch-up are tasks, each staged and
    # collected, the catch-up in the match function's rights' own task definition
    assert on_fargate[-4:] == ["CatchUpStage", "CatchUpTask", "CatchUpCollect", "Switch"]
    tasks = [n for n in on_fargate if states[n].get("Resource") == "arn:aws:states:::ecs:runTask.sync"]
    assert tasks == ["PrepareTask", "ClusterTask", "FinishTask", "CatchUpTask"]
    assert "ExportOnFargate" in on_fargate and "Export" in on_lambda
    for step in {*on_lambda, *on_fargate}:
        if states[step]["Type"] in ("Task", "Map"):
            assert [c["Next"] for c in states[step]["Catch"]] == ["RebuildFailed"], step
    (caught,) = states["Sweep"]["Catch"]
    assert states[caught["Next"]]["Type"] == "Succeed"


def test_a_functions_tmp_is_lambdas_default_unless_set_and_a_size_lambda_refuses_stops_the_stack() -> None:
    from infra.local.provision import ephemeral_mb_of

    assert ephemeral_mb_of("F", {}) == 512
    assert ephemeral_mb_of("F", {"EphemeralStorage": {"Size": 4096}}) == 4096
    for size in (256, 10_241):
        with pytest.raises(UnsupportedTemplateFeature, match=f"F: EphemeralStorage Size {size} MB"):
            ephemeral_mb_of("F", {"EphemeralStorage": {"Size": size}})


def test_the_rebuild_task_is_fargates_largest_and_its_image_runs_the_templates_command(template: dict) -> None:
    """RebuildTaskDefinition (the rebuild's steps past a Lambda's size): a task Fargate accepts, the
    container's command the one infra/rebuild-task/Dockerfile runs, and the module it names exists."""
    from infra.local.provision import FARGATE_EPHEMERAL_GIB, fargate_memory_mb

    task = template["Resources"]["RebuildTaskDefinition"]["Properties"]
    assert int(task["Memory"]) in fargate_memory_mb(int(task["Cpu"]))
    assert int(task["Memory"]) == max(fargate_memory_mb(16384)) and int(task["Cpu"]) == 16384
    assert task["EphemeralStorage"]["SizeInGiB"] == FARGATE_EPHEMERAL_GIB[1]
    command = task["ContainerDefinitions"][0]["Command"]
    dockerfile = (ROOT / "infra" / "rebuild-task" / "Dockerfile").read_text()
    assert f"CMD {json.dumps(command)}" in dockerfile
    assert command[:2] == ["python", "-m"] and (ROOT / (command[2].replace(".", "/") + ".py")).is_file()
    assert fargate_memory_mb(16384 + 1) == () and 1536 not in fargate_memory_mb(256)
