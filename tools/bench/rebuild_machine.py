"""`mast bench rebuild-machine`: the rebuild state machine on the local stack, on generated records.

Issue 15's "the local stack rebuilds through the state machine … 100,000 generated records in a
benchmark". The local stack runs from the template (:func:`tools.bench.lambda_match.stack_in`) with
two of its parameters set as an operator would: ``ShardedRebuildFrom`` 1, so that the match function
starts ``RebuildStateMachine`` for the first link, as it does from 200,000 records by default (the
honest path: the execution's input is the match function's own, so the shards are cut as they would
be in production at this size), and ``IndexGraceMinutes`` 0 (the first rebuild retires no version,
so the grace would only be waited out). One day's generated extracts of every feed go through the SFTP
gateway and the ingest function into the curated store (the match function's queue paused meanwhile,
so its first run sees them all); the match function then starts the execution; moto interprets the
template's definition, each task running the template's functions in their environments under their
``Timeout`` and ``MemorySize`` (:mod:`infra.local.states`), and ImportTable makes the version's table.

Printed and written (``bench-data/results/rebuild-machine.md`` and ``.json``): the execution's
status; each state's wall seconds from the execution's history; the shards; each function's
invocations, wall and CPU seconds and peak memory (PSS) beside its ``MemorySize``; the import's items,
files and bytes; the largest input and output of each state against Step Functions' 256 KiB; the
wall time of the ingest, the rebuild and the whole. Checked: the live pointer names the new version
and its table; a sample of records is in that table with the person the rebuild's ``finish`` found;
a practitioner's search through the API finds a linked person. The reference, in the same run: the
one-process link (``Linker.build``) of the rebuild's own records, model, salt and stewards'
decisions, after the stack has stopped; the records the sharded rebuild put in a different person
or address are counted (``--no-compare`` skips it).

``--min-shards`` (and ``--records-per-refine``) cut more shards than production would at this size,
to run the distributed Maps wide: the bench then starts the execution itself with that
``StartRebuild`` input, as the match function does, and purges the match function's queue instead
of letting its first run start it. ``tests/e2e/test_rebuild_state_machine.py`` is the small version
in the suite (the demo's records, shards forced).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tools.bench.lambda_match import (
    RESULTS,
    MatchWatch,
    _live_state,
    _searchable_target,
    search_finds,
    send_generated,
    stack_in,
)

#: Step Functions' quota on a state's input or output (infra.local.states.PAYLOAD_LIMIT, cited there)
PAYLOAD_LIMIT = 256 * 1024
#: the template's parameters this bench sets (everything else is the template's default)
PARAMETERS = {"ShardedRebuildFrom": "1", "IndexGraceMinutes": "0"}
FUNCTIONS = ("MatchFunction", "RebuildFunction", "MatchShardFunction")
#: records whose person in the new table is compared with the rebuild's finish step
SAMPLE = 1000


def register_bench(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "rebuild-machine", help="the rebuild state machine on the local stack, on generated records")
    parser.add_argument("--records", type=int, default=100_000, help="generated records (default 100,000)")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--timeout", type=float, default=3 * 3600, help="seconds to wait for the execution")
    parser.add_argument("--min-shards", type=int, default=None, help=(
        "cut at least this many score shards: the bench starts the execution itself with this StartRebuild "
        "input, the match function's own first run skipped (its queue purged); default: the match function "
        "starts it, shards cut as in production"))
    parser.add_argument("--records-per-refine", type=int, default=None,
                        help="with --min-shards: records in one refine shard (default the product's)")
    parser.add_argument("--no-compare", dest="compare", action="store_false",
                        help="skip the one-process link of the same records (the reference)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.set_defaults(func=run)


@dataclass
class FunctionUse:
    """One function's invocations while the bench watched (as CloudWatch's Lambda metrics would show
    them), and its limits from the template."""

    logical_id: str
    memory_mb: int
    timeout_s: int
    #: its /tmp (EphemeralStorage)
    ephemeral_mb: int = 512
    invocations: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    #: summed over the invocations that ended
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0
    #: the longest invocation (against the Timeout)
    longest_seconds: float = 0.0
    peak_mb: float = 0.0
    #: the most its /tmp held while running (MB on disk)
    peak_disk_mb: float = 0.0
    #: invocations that ended between two looks, whose seconds are the last one's counted again
    #: (the runner keeps the last invocation's times only): 0 means the sums are exact
    approximated: int = 0


class UseWatch:
    """Sums each function's invocations' wall and CPU seconds from the runner's per-function record
    (:meth:`FunctionRunner.invocations`, which keeps the last invocation's times), looking every
    ``every`` seconds in a thread of its own."""

    def __init__(self, running: Any, logical_ids: tuple[str, ...], every: float = 0.1) -> None:
        self.running = running
        self.names = {running.runner.name_of(lid): lid for lid in logical_ids}
        self.use: dict[str, FunctionUse] = {}
        self._ended: dict[str, int] = {}
        self._base_started: dict[str, int] = {}
        for name, lid in self.names.items():
            spec = running.runner.specs[name]
            self.use[name] = FunctionUse(lid, spec.memory, spec.timeout, spec.ephemeral_mb)
            calls = running.runner.invocations(name)
            self._ended[name] = calls.succeeded + calls.failed
            self._base_started[name] = calls.started
            running.runner.peak_mb.pop(name, None)
            running.runner.peak_disk_mb.pop(name, None)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-use-watch", daemon=True)

    def __enter__(self) -> UseWatch:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._look()

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self._look()

    def _look(self) -> None:
        for name, use in self.use.items():
            calls = self.running.runner.invocations(name)
            ended = calls.succeeded + calls.failed
            new = ended - self._ended[name]
            if new > 0:
                use.wall_seconds = round(use.wall_seconds + new * calls.last_seconds, 1)
                use.cpu_seconds = round(use.cpu_seconds + new * calls.last_cpu_seconds, 1)
                use.longest_seconds = max(use.longest_seconds, calls.last_seconds)
                use.approximated += new - 1
                self._ended[name] = ended
            use.invocations = calls.started - self._base_started[name]
            use.errors = dict(calls.errors)
            use.peak_mb = round(self.running.runner.peak_mb.get(name, 0.0))
            use.peak_disk_mb = round(self.running.runner.peak_disk_mb.get(name, 0.0), 1)


# --- the execution's history ----------------------------------------------------------------------


def execution_history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _details(event: dict[str, Any]) -> dict[str, Any]:
    return next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})


@dataclass
class StateFigures:
    """One state of the definition as the history shows it."""

    name: str
    #: times entered (CheckImport and WaitForImport loop until the import is done)
    entered: int = 0
    seconds: float = 0.0
    #: the largest input and output it was given or gave (its own and its tasks'), in bytes
    largest_input: int = 0
    largest_output: int = 0


def state_names(events: list[dict[str, Any]]) -> dict[int, str]:
    """Each event's state, by event id: a state's entry and exit name it; any other event belongs
    to the state its ``previousEventId`` chain leads to (a task's scheduling, its start, its
    success; a map run's start), or to the execution."""
    names: dict[int, str] = {}
    for event in events:
        kind = str(event["type"])
        if kind.endswith("StateEntered") or kind.endswith("StateExited"):
            names[int(event["id"])] = str(_details(event).get("name", "?"))
        else:
            names[int(event["id"])] = names.get(int(event.get("previousEventId") or 0), "(execution)")
    return names


def states_of(events: list[dict[str, Any]]) -> list[StateFigures]:
    """Each state's entries, wall seconds (entered to exited) and largest payloads (its own and its
    tasks'), in the order first entered."""
    figures: dict[str, StateFigures] = {}
    names = state_names(events)
    entered_at: dict[str, list[dt.datetime]] = {}
    for event in events:
        details = _details(event)
        kind = str(event["type"])
        name = names[int(event["id"])]
        state = figures.setdefault(name, StateFigures(name))
        if kind.endswith("StateEntered"):
            state.entered += 1
            entered_at.setdefault(name, []).append(event["timestamp"])
        elif kind.endswith("StateExited") and entered_at.get(name):
            state.seconds = round(state.seconds + (event["timestamp"] - entered_at[name].pop(0)).total_seconds(), 3)
        for key in ("input", "parameters"):
            if isinstance(details.get(key), str):
                state.largest_input = max(state.largest_input, len(details[key].encode()))
        if isinstance(details.get("output"), str):
            state.largest_output = max(state.largest_output, len(details["output"].encode()))
    return list(figures.values())


@dataclass
class MapFigures:
    """One distributed Map's run: its items (one child execution, one task, per shard) and the
    largest item of its manifest (a shard task's input, less the step's name). The children's own
    histories are not kept by moto; each task's input and result is held to 256 KiB as it runs
    (:mod:`infra.local.states`), so a run that succeeded had none larger."""

    state: str
    items: int
    succeeded: int
    failed: int
    seconds: float
    largest_item: int


def map_runs(running: Any, arn: str, events: list[dict[str, Any]],
             manifests: dict[str, dict[str, str]]) -> list[MapFigures]:
    """The execution's map runs, each named by its Map state (``manifests``: each Map state's
    manifest, Bucket and Key)."""
    sfn, s3 = running.client("stepfunctions"), running.client("s3")
    names = state_names(events)
    state_of = {str(_details(e).get("mapRunArn")): names[int(e["id"])] for e in events if e["type"] == "MapRunStarted"}
    out = []
    for listed in sfn.list_map_runs(executionArn=arn)["mapRuns"]:
        described = sfn.describe_map_run(mapRunArn=listed["mapRunArn"])
        state = state_of.get(str(listed["mapRunArn"]), str(listed["mapRunArn"]).rsplit(":", 1)[-1])
        counts = described.get("itemCounts", {})
        largest = 0
        if state in manifests:
            body = s3.get_object(**manifests[state])["Body"].read()
            largest = max((len(json.dumps(item).encode()) for item in json.loads(body)), default=0)
        stopped = described.get("stopDate") or described["startDate"]
        out.append(MapFigures(state, int(counts.get("total", 0)), int(counts.get("succeeded", 0)),
                              int(counts.get("failed", 0)) + int(counts.get("timedOut", 0)),
                              round((stopped - described["startDate"]).total_seconds(), 1), largest))
    return out


# --- the run --------------------------------------------------------------------------------------


@dataclass
class RebuildOnStack:
    """What one run showed (counts, sizes and times only)."""

    records_generated: int
    rows_accepted: int
    status: str
    execution: str
    #: wall seconds: the ingest of every extract, the match function's runs until every message was
    #: handled (the one that started the rebuild), the execution (start to stop), the whole bench
    ingest_seconds: float
    match_wait: str
    execution_seconds: float
    total_seconds: float
    records: int
    people: int
    score_shards: int
    refine_shards: int
    candidate_pair_occurrences: int
    states: list[StateFigures]
    maps: list[MapFigures]
    functions: list[FunctionUse]
    import_items: int
    import_files: int
    #: the import's files as stored (gzip), and as ImportTable counts them (uncompressed DynamoDB JSON)
    import_gzip_bytes: int
    import_processed_bytes: int
    #: the largest input or output of any state, and the execution's own
    largest_payload: int
    execution_input_bytes: int
    execution_output_bytes: int
    #: checks
    #: the reference: the one-process link (Linker.build) of the rebuild's own records, model, salt
    #: and stewards' decisions, run after the stack stopped; records in a different person or address
    one_process_seconds: float
    one_process_person_differs: int
    one_process_address_differs: int
    pointer_moved: bool
    live_version: str
    live_table: str
    sample: int
    sample_in_table: int
    sample_same_person: int
    searched_record: str
    found: bool
    error: str = ""
    load: list[float] = field(default_factory=list)
    #: how the execution was started: by the match function, or by the bench with this StartRebuild input
    started_by: str = "the match function"


def _rebuild_execution(running: Any) -> str:
    """The rebuild execution the match function started (its ARN)."""
    sfn = running.client("stepfunctions")
    machine = next(m for m in sfn.list_state_machines()["stateMachines"] if m["name"].endswith("-rebuild"))
    executions = sfn.list_executions(stateMachineArn=machine["stateMachineArn"])["executions"]
    started = [e for e in executions if e["name"].startswith("rebuild-")]
    if len(started) != 1:
        raise RuntimeError(f"the match function started {len(started)} rebuild executions, not one: "
                           f"{[e['name'] for e in started]}")
    return str(started[0]["executionArn"])


def _wait_for(running: Any, arn: str, uses: UseWatch, timeout: float,
              announce: Callable[[str], None]) -> dict[str, Any]:
    """The execution once it has stopped, saying where it is on each change of state (and each minute)."""
    sfn = running.client("stepfunctions")
    started = time.time()
    seen: set[str] = set()
    said_at = 0.0
    while True:
        described = sfn.describe_execution(executionArn=arn)
        now = time.time()
        if described["status"] != "RUNNING":
            return dict(described)
        events = execution_history(sfn, arn)
        entered = [str(_details(e).get("name")) for e in events if str(e["type"]).endswith("StateEntered")]
        where = entered[-1] if entered else "(starting)"
        if where not in seen or now - said_at >= 60:  # each state once (not each turn of the import's wait), and each minute
            calls = "; ".join(f"{u.logical_id} {u.invocations} ({u.cpu_seconds:.0f} CPU-s, {u.peak_mb:.0f} MB)"
                              for u in uses.use.values())
            announce(f"  +{now - started:.0f} s: {where}; {calls}; load {os.getloadavg()[0]:.1f}")
            seen.add(where)
            said_at = now
        if now - started > timeout:
            raise TimeoutError(f"the execution was still {where} after {timeout:,.0f} s")
        time.sleep(2)


def _import_files(running: Any, prefix: str, version: str) -> tuple[int, int]:
    """The import's files under the rebuild's prefix, and their bytes (gzip)."""
    bucket, _, folder = prefix.removeprefix("s3://").partition("/")
    s3 = running.client("s3")
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{folder.rstrip('/')}/import/{version}/"}
    files = size = 0
    while True:
        page = s3.list_objects_v2(**kwargs)
        for part in page.get("Contents", []):
            files += 1
            size += int(part["Size"])
        if not page.get("IsTruncated"):
            return files, size
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _people(running: Any, uri: str, folder: Path) -> dict[str, str]:
    """record id -> person, as the rebuild's finish step wrote them."""
    from mast.linkage.sharded import read_columns

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    local = folder / "people.arrow"
    local.write_bytes(running.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    people = read_columns(str(local))
    return dict(zip((str(r) for r in people["record_id"]), (str(p) for p in people["person_id"]), strict=True))


def download(s3: Any, uri: str, folder: Path) -> Path:
    """Everything under an s3:// prefix (or the one object) into ``folder``, keeping the layout
    (a rebuild's files, to compare with a link of the same records; the e2e test uses it too)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    for obj in s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]:
        if obj["Key"].endswith("/"):  # a folder marker pyarrow left
            continue
        target = folder / obj["Key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    return folder / key


@dataclass
class Reference:
    """What the one-process link needs, downloaded while the stack ran."""

    table: Path
    model: Path
    people: Path
    decisions: list[Any]
    salt: str


def _reference_inputs(running: Any, output: dict[str, Any], folder: Path) -> Reference:
    from mast.access.decisions import DecisionStore
    from mast.index.salt import key_salt

    env = running.environment
    return Reference(
        table=download(running.client("s3"), output["prepared"]["table"], folder),
        model=download(running.client("s3"), output["prepared"]["model"], folder),
        people=download(running.client("s3"), output["finished"]["people"], folder),
        decisions=DecisionStore(env["CONTROL_TABLE"], running.client("dynamodb")).all(),
        salt=key_salt(env["KEY_SALT_SECRET_ARN"], running.client("secretsmanager")))


def one_process_differences(reference: Reference) -> tuple[float, int, int]:
    """The one-process link (:meth:`Linker.build`, as the match function's own rebuild links) of the
    rebuild's records with its model, salt and decisions: its seconds, and the records the sharded
    rebuild put in a different person, and a different address (as ``tests/e2e/test_rebuild_state_machine.py``
    checks on the demo)."""
    import numpy as np

    from mast.linkage.link import Linker, LinkOptions
    from mast.linkage.model import Model
    from mast.linkage.sharded import read_columns, read_records

    table, _ = read_records(str(reference.table))
    model = Model.from_json(reference.model.read_text())
    people = read_columns(str(reference.people))
    started = time.perf_counter()
    one = Linker.build(table, model=model, decisions=reference.decisions, options=LinkOptions(key_salt=reference.salt))
    seconds = round(time.perf_counter() - started, 1)
    if list(people["record_id"]) != list(table.record_id):
        raise ValueError("the finish step's people are not in the order of the rebuild's records")
    return (seconds, int(np.sum(people["person_id"] != one.person_ids())),
            int(np.sum(people["address_id"] != one.address_ids())))


def _start_directly(running: Any, watch: MatchWatch, min_shards: int, records_per_refine: int | None) -> str:
    """Start the execution as the match function does (:meth:`mast.index.linking._MatchRun._start_rebuild`),
    with the shards asked for; the match function's own first run skipped (its queue purged)."""
    from mast.index.rebuild import StartRebuild

    running.client("sqs").purge_queue(QueueUrl=watch.queue_url)
    name = f"rebuild-bench-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
    given: dict[str, Any] = {"rebuild": name, "min_shards": min_shards}
    if records_per_refine:
        given["records_per_refine"] = records_per_refine
    start = StartRebuild.model_validate(given)
    running.client("stepfunctions").start_execution(
        stateMachineArn=running.environment["REBUILD_STATE_MACHINE_ARN"], name=name, input=start.model_dump_json())
    return f"the bench, with {start.model_dump_json(exclude={'rebuild'})}"


def rebuild_on_stack(records: int, folder: Path, *, seed: int = 15, timeout: float = 3 * 3600,
                     min_shards: int | None = None, records_per_refine: int | None = None, compare: bool = True,
                     announce: Callable[[str], None] = print) -> RebuildOnStack:
    """Start the local stack in ``folder``, ingest ``records`` generated rows over SFTP, let the match
    function start the rebuild state machine (or, with ``min_shards``, start it so), wait for it,
    and check what it made (see the module docstring); the stack is stopped before the one-process
    link of the same records (``compare``), which the sharded people are compared with."""
    from mast.index.reader import IndexReader

    began = time.time()
    load = [os.getloadavg()[0]]
    with stack_in(folder, parameters=PARAMETERS) as (running, options):
        match = running.runner.name_of("MatchFunction")
        running.router.pause(match)  # every feed first, then the match function's first run
        t = time.time()
        accepted = send_generated(options, folder, records, seed, announce)
        ingest_seconds = round(time.time() - t, 1)
        announce(f"ingested {accepted:,} rows in {ingest_seconds:.0f} s; the rebuild starts …")
        load.append(os.getloadavg()[0])
        watch = MatchWatch.of(running, match)
        started_by = "the match function"
        with UseWatch(running, FUNCTIONS) as uses:
            if min_shards:
                started_by = _start_directly(running, watch, min_shards, records_per_refine)
                match_wait = "skipped (its queue purged; the bench started the execution)"
                running.router.resume(match)
            else:
                running.router.resume(match)
                match_wait = watch.wait(600, announce)
            arn = _rebuild_execution(running)
            announce(f"the rebuild {arn.rsplit(':', 1)[-1]} runs …")
            described = _wait_for(running, arn, uses, timeout, announce)
            load.append(os.getloadavg()[0])
            running.wait_idle(timeout=600)  # a relink the switch sent, if any
        sfn = running.client("stepfunctions")
        events = execution_history(sfn, arn)
        states = states_of(events)
        status = str(described["status"])
        output = json.loads(described.get("output") or "{}")
        manifests = {"Score": output.get("prepared", {}).get("shard_manifest"),
                     "Refine": output.get("clustered", {}).get("refine_manifest")}
        maps = map_runs(running, arn, events, {k: v for k, v in manifests.items() if v})
        execution_seconds = round((described["stopDate"] - described["startDate"]).total_seconds(), 1)
        error = "" if status == "SUCCEEDED" else f"{described.get('error')}: {str(described.get('cause'))[:2000]}"
        prepared, imported = output.get("prepared", {}), output.get("imported", {})
        version, table = str(imported.get("version", "")), str(imported.get("table", ""))
        files = gzip_bytes = processed = 0
        if imported:
            files, gzip_bytes = _import_files(running, prepared["prefix"], version)
            for import_arn in imported["import_arns"]:  # one import per table of the version
                described_import = running.client("dynamodb").describe_import(
                    ImportArn=import_arn)["ImportTableDescription"]
                processed += int(described_import.get("ProcessedSizeBytes") or 0)

        reader = IndexReader(running.environment["INDEX_TABLE"], running.client("dynamodb"))
        live = reader.live_version() or ""
        live_table = reader.items_table if live else ""
        moved = bool(version) and live == version and live_table == table
        in_table = same = 0
        sample: list[str] = []
        target = None
        if status == "SUCCEEDED":
            people = _people(running, output["finished"]["people"], folder)
            sample = random.Random(seed).sample(sorted(people), min(SAMPLE, len(people)))
            indexed = {r.record_id: r.person_id for r in reader.records(sample)}
            in_table = len(indexed)
            same = sum(1 for rid in sample if indexed.get(rid) == people[rid])
            state_version, _ = _live_state(running)
            if state_version == live:
                target = _searchable_target(running, live, sample)
        found = search_finds(options, target) if target is not None else False
        uses_now = list(uses.use.values())
        reference = _reference_inputs(running, output, folder / "reference") if compare and status == "SUCCEEDED" else None
    one_seconds, person_differs, address_differs = 0.0, -1, -1
    if reference is not None:
        announce("the one-process link of the same records (the reference) …")
        one_seconds, person_differs, address_differs = one_process_differences(reference)
    payloads = [max(s.largest_input, s.largest_output) for s in states]
    return RebuildOnStack(
        records_generated=records, rows_accepted=accepted, status=status, execution=arn.rsplit(":", 1)[-1],
        ingest_seconds=ingest_seconds, match_wait=match_wait, execution_seconds=execution_seconds,
        total_seconds=round(time.time() - began, 1),
        records=int(output.get("finished", {}).get("records", 0)),
        people=int(imported.get("people", 0)),
        score_shards=int(prepared.get("shards", 0)),
        refine_shards=int(output.get("clustered", {}).get("refine_shards", 0)),
        candidate_pair_occurrences=_prepared_pairs(events),
        states=states, maps=maps, functions=uses_now,
        import_items=int(imported.get("items", 0)), import_files=files, import_gzip_bytes=gzip_bytes,
        import_processed_bytes=processed,
        largest_payload=max(payloads, default=0),
        execution_input_bytes=len(str(described.get("input") or "").encode()),
        execution_output_bytes=len(str(described.get("output") or "").encode()),
        one_process_seconds=one_seconds, one_process_person_differs=person_differs,
        one_process_address_differs=address_differs,
        pointer_moved=moved, live_version=live, live_table=live_table,
        sample=len(sample), sample_in_table=in_table, sample_same_person=same,
        searched_record=target["record_id"] if target else "", found=found, error=error, load=load,
        started_by=started_by)


def _prepared_pairs(events: list[dict[str, Any]]) -> int:
    """The candidate pair occurrences prepare counted (in its task's own output, which the state's
    ``ResultSelector`` leaves out of the execution's state)."""
    for event in events:
        if event["type"] == "TaskSucceeded":
            try:
                payload = json.loads(_details(event)["output"]).get("Payload", {})
            except (KeyError, ValueError, AttributeError):
                continue
            if isinstance(payload, dict) and "candidate_pair_occurrences" in payload:
                return int(payload["candidate_pair_occurrences"])
    return 0


# --- the report -----------------------------------------------------------------------------------


def report(result: RebuildOnStack, figures: dict[str, Any]) -> str:
    r = result
    lines = [
        f"# `{figures['command']}`",
        "",
        f"Run {figures['date']} on {figures['machine']}, Python {figures['python']}; load average "
        f"{', '.join(f'{x:.1f}' for x in r.load)} (start, after ingest, after the rebuild). Template parameters "
        f"set: {', '.join(f'{k}={v}' for k, v in PARAMETERS.items())}; everything else the template's.",
        "",
        f"- execution `{r.execution}`, started by {r.started_by}: **{r.status}**{' (' + r.error + ')' if r.error else ''}",
        f"- {r.rows_accepted:,} rows accepted over SFTP and the ingest function in {r.ingest_seconds:,.0f} s; "
        f"the match function's runs: {r.match_wait}",
        f"- rebuilt: {r.records:,} records into {r.people:,} people; {r.score_shards} score shard(s), "
        f"{r.refine_shards} refine shard(s); {r.candidate_pair_occurrences:,} candidate pair occurrences",
        f"- the execution {r.execution_seconds:,.0f} s; the whole bench {r.total_seconds:,.0f} s",
        f"- import: {r.import_items:,} items in {r.import_files} file(s), {r.import_gzip_bytes:,} bytes gzipped, "
        f"{r.import_processed_bytes:,} bytes as ImportTable counts them",
        f"- largest state input or output {r.largest_payload:,} bytes of Step Functions' {PAYLOAD_LIMIT:,}; "
        f"the execution's input {r.execution_input_bytes:,}, output {r.execution_output_bytes:,}",
        f"- the live pointer moved to the new version and its table: **{r.pointer_moved}** "
        f"(`{r.live_version}`, `{r.live_table}`)",
        f"- {r.sample:,} records sampled: {r.sample_in_table:,} in the new table, {r.sample_same_person:,} with the "
        "person the finish step found",
        f"- a practitioner's search through the API found the person of `{r.searched_record}`: **{r.found}**",
        (f"- the reference, the one-process link (`Linker.build`) of the same records, model, salt and decisions "
         f"({r.one_process_seconds:,.0f} s, in the bench's process after the stack stopped): "
         f"**{r.one_process_person_differs:,}** records in a different person, "
         f"{r.one_process_address_differs:,} in a different address" if r.one_process_person_differs >= 0
         else "- the one-process link (the reference): not run"),
        "",
        "| state | entered | wall s | largest input B | largest output B |",
        "|---|---|---|---|---|",
        *(f"| {s.name} | {s.entered} | {s.seconds:,.1f} | {s.largest_input:,} | {s.largest_output:,} |"
          for s in r.states if s.entered),
        "",
        "| distributed Map | items (shards) | succeeded | failed | wall s | largest item B |",
        "|---|---|---|---|---|---|",
        *(f"| {m.state} | {m.items} | {m.succeeded} | {m.failed} | {m.seconds:,.1f} | {m.largest_item:,} |"
          for m in r.maps),
        "",
        "The Maps' children keep no history in moto; every task's input and result is held to 256 KiB as it "
        "runs (`infra/local/states.py`), so a run that succeeded passed none larger.",
        "",
        "| function | invocations | errors | wall s | CPU s | longest s / Timeout | peak PSS MB / MemorySize "
        "| peak /tmp MB / EphemeralStorage |",
        "|---|---|---|---|---|---|---|---|",
        *(f"| {u.logical_id} | {u.invocations} | {sum(u.errors.values())} | {u.wall_seconds:,.1f} | "
          f"{u.cpu_seconds:,.1f}{f' (≈: {u.approximated} of {u.invocations})' if u.approximated else ''} | {u.longest_seconds:,.1f} / {u.timeout_s} | "
          f"{u.peak_mb:,.0f} / {u.memory_mb:,} | {u.peak_disk_mb:,.1f} / {u.ephemeral_mb:,} |" for u in r.functions),
        "",
        "CPU seconds are of the function's environment and the processes it started; moto's work for it (S3, "
        "DynamoDB, the import) is in the stack's own process and is in the wall seconds only. ≈: that many "
        "invocations ended between two of the bench's looks (every 0.1 s; the stack's runner keeps the last "
        "invocation's times only) and were counted with the last one's seconds.",
        "",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="mast-rebuild-machine-") as folder:
        print(f"the rebuild state machine on the local stack: {args.records:,} generated records over SFTP …",
              flush=True)
        result = rebuild_on_stack(args.records, Path(folder), seed=args.seed, timeout=args.timeout,
                                  min_shards=args.min_shards, records_per_refine=args.records_per_refine,
                                  compare=args.compare, announce=lambda line: print(line, flush=True))
    command = f"mast bench rebuild-machine --records {args.records}"
    if args.min_shards:
        command += f" --min-shards {args.min_shards}"
        command += f" --records-per-refine {args.records_per_refine}" if args.records_per_refine else ""
    figures = {"date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "python": platform.python_version(), "command": command, "parameters": PARAMETERS, **asdict(result)}
    text = report(result, figures)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "rebuild-machine" if not args.min_shards else f"rebuild-machine-{args.min_shards}-shards"
    (args.out / f"{name}.json").write_text(json.dumps(figures, indent=1, default=str) + "\n")
    (args.out / f"{name}.md").write_text(text)
    ok = (result.status == "SUCCEEDED" and result.pointer_moved and result.found
          and result.sample_same_person == result.sample > 0 and result.one_process_person_differs <= 0)
    return 0 if ok else 1
