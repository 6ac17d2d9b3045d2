"""The rebuild as a state machine's steps: the sharded batch link (:mod:`mast.linkage.sharded`) on
the partnership's records, run by the template's ``RebuildStateMachine``.

One Lambda cannot link a region (about 2.1 KB per record: a 10 GB function stops near four million
records, and the link and writes of a million pass its 15 minutes), so the rebuild runs as steps of
a Step Functions state machine, each a Lambda invocation that reads and writes files under the
rebuild's S3 prefix and returns only their keys (Step Functions passes at most 256 KiB between
states):

``prepare`` (the records the index should hold, read as the match run reads them; the stewards'
decisions; the model trained; shards of candidate blocks written, and a manifest of them for the
distributed Map's item reader) → ``score`` (a distributed Map: one invocation per shard) →
``cluster`` (all links into components; a manifest of refine shards) → ``refine`` (a second Map)
→ ``finish`` (every record's person and address) → ``export_plan`` (the new version named, its
export shards in a manifest) → ``export`` (a third Map: each shard's share of the version's items to
S3 as DynamoDB JSON) → ``import`` (ImportTable started: :mod:`mast.index.imported`) → ``import_status`` (asked again
after a wait until the import is done) → ``switch`` (the live pointer moved to the new version and
its table) → ``sweep`` (after the grace, the old version's table deleted).

:func:`run_step` is the one entry: the step's name and its input, validated (pydantic), in; its
output, as JSON, out. The deployment's key salt is read from its secret inside ``prepare``, never
passed in a payload (the execution history keeps every payload).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from mast.index.imported import RECORDS_PER_EXPORT, RECORDS_PER_TABLE
from mast.linkage import sharded

#: where a rebuild's files go, under the curated bucket (a lifecycle rule may expire them)
REBUILDS_PREFIX = "rebuilds/"


class StartRebuild(BaseModel):
    """The execution's input: which rebuild, and optionally how to cut it (tests make many shards)."""

    rebuild: str = Field(pattern=r"^[A-Za-z0-9_-]{1,80}$", description="the rebuild's id (the execution's name)")
    pairs_per_shard: int = Field(sharded.PAIRS_PER_SHARD, ge=1)
    min_shards: int = Field(1, ge=1, le=10_000)
    records_per_refine: int = Field(sharded.RECORDS_PER_REFINE, ge=1)
    records_per_export: int = Field(RECORDS_PER_EXPORT, ge=1)
    records_per_table: int = Field(RECORDS_PER_TABLE, ge=1)
    grace_seconds: int | None = Field(None, ge=0, le=7 * 24 * 3600, description=(
        "how long the old version's table is kept after the switch (default: the template's IndexGraceMinutes)"))
    runs_on: Literal["lambda", "fargate"] = Field("lambda", description=(
        "where the steps that hold every record (prepare, cluster, finish, the export shards) run: "
        "a Lambda function, or a Fargate task past the template's FargateRebuildFrom records"))


class Manifest(BaseModel):
    """Where a distributed Map reads its items (an S3 object holding a JSON list)."""

    Bucket: str
    Key: str


class Prepared(BaseModel):
    """``prepare``'s output: what the later steps need (paths and counts only)."""

    prefix: str
    model: str
    table: str
    constraints: str
    records: int
    shards: int
    shard_manifest: Manifest
    records_per_refine: int
    records_per_export: int = RECORDS_PER_EXPORT
    records_per_table: int = RECORDS_PER_TABLE
    candidate_pair_occurrences: int
    seconds: float
    peak_mb: float
    #: the version live when the rebuild started: the switch is made only if it is still live
    previous: str | None = None
    grace_seconds: int = 0


class Clustered(BaseModel):
    """``cluster``'s output."""

    refine_shards: int
    refine_manifest: Manifest
    linked_pairs: int
    components: int
    seconds: float
    peak_mb: float


class ClusterStep(sharded.ClusterInput):
    """``cluster``'s input: the links, and the model the refine shards score with."""

    model: str


def rebuild_prefix(bucket: str, rebuild: str) -> str:
    return f"s3://{bucket}/{REBUILDS_PREFIX}{rebuild}"


def run_step(event: Mapping[str, Any], *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Run the step ``event["step"]`` names on the rest of ``event``; its output as plain JSON.

    A malformed input raises pydantic's ``ValidationError`` (the task fails, named, and is not
    worth retrying); any other error is the step's own and the state machine's ``Retry`` decides.
    """
    step = str(event.get("step", ""))
    given = {k: v for k, v in event.items() if k != "step"}
    if step == "prepare":
        return prepare(StartRebuild.model_validate(given.get("start") or {}), now=now).model_dump()
    if step == "score":
        return sharded.score_shard(sharded.ScoreInput.model_validate(given)).model_dump()
    if step == "cluster":
        return cluster(ClusterStep.model_validate(given)).model_dump()
    if step == "refine":
        return sharded.refine_shard(sharded.RefineInput.model_validate(given)).model_dump()
    if step == "finish":
        return sharded.finish(sharded.FinishInput.model_validate(given)).model_dump()
    if step == "stage":
        return stage(StepOnTask.model_validate(given)).model_dump()
    if step == "collect":
        return collect(Staged.model_validate(given))
    if step in ("export_plan", "export", "import", "import_status", "switch", "sweep", "catch_up"):
        from mast.index import imported

        if step == "catch_up":  # the match function's (or its task's) code and rights: a day's link's
            from mast.index.batches import options_from_env

            return imported.catch_up_version(imported.CatchUpStep.model_validate(given),
                                             options=options_from_env()).model_dump()

        if step == "export_plan":
            return export_plan(imported.ExportPlanStep.model_validate(given), now=now).model_dump()
        if step == "export":
            return imported.export_shard(imported.ExportShard.model_validate(given)).model_dump()
        if step == "import":
            return imported.import_version(imported.ImportStep.model_validate(given)).model_dump()
        if step == "import_status":
            return imported.import_status(imported.ImportStatusStep.model_validate(given)).model_dump()
        if step == "switch":
            return imported.switch_version(imported.SwitchStep.model_validate(given), now=now).model_dump()
        return imported.sweep(now=now).model_dump()
    raise ValueError(f"no rebuild step {step!r}: prepare, score, cluster, refine, finish, export_plan, export, "
                     "import, import_status, catch_up, switch, sweep, stage or collect")


def prepare(start: StartRebuild, *, now: dt.datetime | None = None) -> Prepared:
    """The records the index should hold and the decisions, prepared into shards under the rebuild's prefix."""
    import boto3
    import pyarrow.parquet as pq

    from mast.access.decisions import DecisionStore
    from mast.index.imported import ROWS_PER_GROUP, grace_seconds
    from mast.index.linking import MatchSettings, searchable_records
    from mast.index.salt import key_salt
    from mast.index.writer import IndexWriter
    from mast.linkage.decisions import dump_decisions

    settings = MatchSettings.from_env()
    now = now or dt.datetime.now(dt.UTC)
    session = boto3.session.Session()
    prefix = rebuild_prefix(settings.curated_bucket, start.rebuild)
    records = searchable_records(settings, now)
    records = records.append_column("source", records.column("partner"))
    decisions = DecisionStore(settings.control_table, session.client("dynamodb")).all()
    previous, _ = IndexWriter(settings.index_table, session.client("dynamodb")).live()
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        records_path = Path(folder) / "records.parquet"
        # the export shards make the index's records from these very rows, each reading whole records
        # a row group at a time and keeping only those it needs
        pq.write_table(records, records_path, row_group_size=ROWS_PER_GROUP)
        bucket, _, folder_key = prefix.removeprefix("s3://").partition("/")
        session.client("s3").upload_file(str(records_path), bucket, f"{folder_key}/records.parquet")
        decisions_path = Path(folder) / "decisions.jsonl"
        dump_decisions(decisions, decisions_path)
        del records
        out = sharded.prepare_shards(
            sharded.PrepareInput(records=str(records_path), prefix=prefix, model=None, decisions=str(decisions_path),
                                 pairs_per_shard=start.pairs_per_shard, min_shards=start.min_shards),
            key_salt=key_salt(settings.key_salt_secret_arn, session.client("secretsmanager")))
    count = len(out.shards)
    items = [sharded.ScoreInput(shard=uri, model=out.model, index=i, count=count).model_dump()
             for i, uri in enumerate(out.shards)]
    manifest = _write_manifest(prefix, "score-shards.json", items)
    return Prepared(prefix=prefix, model=out.model, table=out.table, constraints=out.constraints,
                    records=out.records, shards=count, shard_manifest=manifest,
                    records_per_refine=start.records_per_refine, records_per_export=start.records_per_export,
                    records_per_table=start.records_per_table,
                    candidate_pair_occurrences=out.candidate_pair_occurrences, seconds=out.seconds,
                    peak_mb=out.peak_mb, previous=previous,
                    grace_seconds=grace_seconds() if start.grace_seconds is None else start.grace_seconds)


def cluster(step: ClusterStep) -> Clustered:
    """All links into components, and a manifest of the refine shards for the second Map."""
    out = sharded.cluster_links(step)
    items = [sharded.RefineInput(shard=uri, model=step.model).model_dump() for uri in out.refine]
    manifest = _write_manifest(step.prefix, "refine-shards.json", items)
    return Clustered(refine_shards=len(out.refine), refine_manifest=manifest, linked_pairs=out.linked_pairs,
                     components=out.components, seconds=out.seconds, peak_mb=out.peak_mb)


class ExportPlanned(BaseModel):
    """``export_plan``'s output: the new version, its table, and where the ``export`` Map reads its shards."""

    version: str
    table: str
    #: the tables the version is cut into (:class:`mast.index.layout.VersionTables`)
    parts: int
    previous: str | None
    shards: int
    export_manifest: Manifest


def export_plan(step: Any, *, now: dt.datetime | None = None) -> ExportPlanned:
    """The new version named and its export shards (:func:`mast.index.imported.plan_export`), in a
    manifest for the ``export`` Map."""
    from mast.index import imported

    plan = imported.plan_export(step, now=now)
    manifest = _write_manifest(step.prefix, "export-shards.json", [s.model_dump() for s in plan.shards])
    return ExportPlanned(version=plan.version, table=plan.table, parts=plan.parts, previous=plan.previous,
                         shards=len(plan.shards),
                         export_manifest=manifest)


def _write_manifest(prefix: str, name: str, items: list[dict[str, Any]]) -> Manifest:
    """A JSON list of a Map's items, in S3 where the Map's item reader finds it."""
    import boto3

    if not prefix.startswith("s3://"):
        raise ValueError(f"a rebuild's prefix is in S3, not {prefix}")
    bucket, _, folder = prefix.removeprefix("s3://").partition("/")
    key = f"{folder.rstrip('/')}/{name}"
    boto3.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(items).encode(),
                                  ContentType="application/json")
    return Manifest(Bucket=bucket, Key=key)


# ---------------------------------------------------------------------------------- on Fargate
# Past a region's size the steps that hold every record outgrow a Lambda (10,240 MB, 900 s): the
# state machine then runs each of them as a Fargate task of the same code (``functions/rebuild/task.py``,
# 16 vCPU, 120 GB, 200 GiB of disk). A task takes no payload and returns none: ``stage`` (a Lambda)
# writes the step's input to S3 and names where its output goes, the task runs the step between the
# two (:func:`run_staged`), and ``collect`` (a Lambda) returns the output as the Lambda step would
# have, so the states after it read the same fields either way.


class StepTaskFailed(RuntimeError):
    """A step's task stopped without writing its output (it failed, ran out of memory or was stopped)."""


class StepOnTask(BaseModel):
    """``stage``'s input: the step to run as a task, by a name unique in its rebuild."""

    name: str = Field(pattern=r"^[a-z_]{1,20}(-[0-9]{1,6})?$", description="e.g. prepare, cluster, export-3")
    #: the rebuild's S3 prefix; before ``prepare`` has made it, the rebuild's id names it
    prefix: str | None = None
    rebuild: str | None = Field(None, pattern=r"^[A-Za-z0-9_-]{1,80}$")
    event: dict[str, Any]


class Staged(BaseModel):
    """Where a task reads its step's input and writes its output (S3 URIs), and where it runs (the
    template's task definition, cluster and network: ``stage`` reads them from its environment)."""

    input: str
    output: str
    cluster: str = ""
    task_definition: str = ""
    subnets: list[str] = Field(default_factory=list)
    security_groups: list[str] = Field(default_factory=list)


def stage(step: StepOnTask) -> Staged:
    """Write ``step.event`` where its task reads it, and clear any output of an earlier attempt."""
    import boto3

    from mast.index.imported import s3_location

    prefix = step.prefix
    if prefix is None:
        if step.rebuild is None:
            raise ValueError("a staged step names its rebuild's prefix or its id")
        prefix = rebuild_prefix(os.environ["CURATED_BUCKET"], step.rebuild)
    if not prefix.startswith("s3://"):
        raise ValueError(f"a rebuild's prefix is in S3, not {prefix}")
    env = os.environ
    # the catch-up links with a day's link's rights (the index's tables, alerts): a task of its own
    definition = env.get("REBUILD_CATCH_UP_TASK_DEFINITION" if step.event.get("step") == "catch_up"
                         else "REBUILD_TASK_DEFINITION", "")
    staged = Staged(input=f"{prefix.rstrip('/')}/tasks/{step.name}.in.json",
                    output=f"{prefix.rstrip('/')}/tasks/{step.name}.out.json",
                    cluster=env.get("REBUILD_TASK_CLUSTER", ""), task_definition=definition,
                    subnets=[s for s in env.get("REBUILD_TASK_SUBNETS", "").split(",") if s],
                    security_groups=[g for g in env.get("REBUILD_TASK_SECURITY_GROUP", "").split(",") if g])
    if not (staged.cluster and staged.task_definition and staged.subnets):
        raise StepTaskFailed("the rebuild's Fargate task is not deployed (the template's RebuildTaskImage and "
                             "RebuildTaskSubnets): the rebuild's steps cannot run on Fargate")
    s3 = boto3.client("s3")
    bucket, key = s3_location(staged.input)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(step.event).encode(), ContentType="application/json")
    bucket, key = s3_location(staged.output)
    s3.delete_object(Bucket=bucket, Key=key)
    return staged


def run_staged(staged: Staged) -> dict[str, Any]:
    """The task's work: the staged step run, its output written where ``collect`` reads it."""
    import boto3

    from mast.index.imported import s3_location

    s3 = boto3.client("s3")
    bucket, key = s3_location(staged.input)
    event = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    result = run_step(event)
    bucket, key = s3_location(staged.output)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(result).encode(), ContentType="application/json")
    return result


def collect(staged: Staged) -> dict[str, Any]:
    """The step's output as its task wrote it; none written is the task's failure."""
    import boto3
    from botocore.exceptions import ClientError

    from mast.index.imported import s3_location

    bucket, key = s3_location(staged.output)
    try:
        body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            raise StepTaskFailed(f"the task for {staged.input.rsplit('/', 1)[-1].removesuffix('.in.json')} "
                                 "stopped without writing its output (its log is in the rebuild task's log "
                                 "group)") from None
        raise
    result: dict[str, Any] = json.loads(body)
    return result

