"""`mast bench lambda-match`: the match function links a pilot-sized partnership within Lambda's limits.

Runs the local stack from the template (each function in its own environment, held to its
``Timeout`` and ``MemorySize``, with no ``/dev/shm``: :mod:`infra.local.functions`), sends one
day's generated extracts for every feed through the SFTP gateway and the ingest function, then lets
the match function link them all in one run (its queue's polling paused until every ingest is done,
as an event source mapping disabled and enabled again), and searches for a linked person through
the API as a signed-in practitioner. Prints the records, the match run's wall time and CPU seconds,
the peak memory (PSS) of its environment beside its MemorySize, and whether the search found the
person. While it waits for the match run it prints what it sees (:class:`MatchWatch`: invocations
and how they ended, the queue's messages waiting and in flight, the dead-letter queue) and, if it
gives up, why; the records indexed are read from the live version's state, not by a Scan of the
index (:func:`_live_state`).
Today's default, 30,000 records, passes 300,000 candidate pairs, so the batch link runs in worker
processes (before issue 14 a multiprocessing Pool with SharedMemory, which fails without /dev/shm).

``tests/e2e/test_match_limits.py`` runs the same path on a small set (:func:`link_on_stack`).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import platform
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq
import requests

if TYPE_CHECKING:
    from infra.local.functions import Invocations

RESULTS = Path(__file__).resolve().parents[2] / "bench-data" / "results"
ROWS_PER_PERSON = 1.59
DECLARATION = {"gateway": "care2014-s42", "purpose": "bench: match within Lambda's limits"}


def register_bench(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("lambda-match", help="the match function on the local stack, within Lambda's limits")
    parser.add_argument("--records", type=int, default=30_000, help="generated records (default 30,000)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.set_defaults(func=run)


@dataclass
class MatchOnStack:
    """What one run showed (counts and times only)."""

    records: int
    people_indexed: int
    #: index items the match run wrote (its version's manifest)
    items_written: int
    #: the match run's wall time (its last invocation, as Lambda's Duration)
    match_seconds: float
    match_peak_mb: float
    match_memory_mb: int
    match_timeout_s: int
    searched_record: str
    found: bool
    failures: list[str]
    #: how the wait ended: "linked", or why the bench gave up (see :meth:`MatchWatch.wait`)
    outcome: str = ""
    #: the match function's invocations, failed ones by error type, and the last run's CPU seconds
    #: (its environment and its linking workers; moto's work for it is in the stack's process)
    invocations: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    match_cpu_seconds: float = 0.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _sign_in(url: str, email: str, password: str) -> str:
    from infra.local.demo import totp_code

    config = requests.get(f"{url}/config.json", timeout=10).json()

    def cognito(target: str, payload: dict[str, Any]) -> dict[str, Any]:
        reply = requests.post(config["cognitoEndpoint"], data=json.dumps(payload), timeout=30, headers={
            "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"AWSCognitoIdentityProviderService.{target}"})
        reply.raise_for_status()
        return dict(reply.json())

    client = config["userPoolClientId"]
    first = cognito("InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client,
                                     "AuthParameters": {"USERNAME": email, "PASSWORD": password}})
    second = cognito("RespondToAuthChallenge", {
        "ClientId": client, "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": first["Session"],
        "ChallengeResponses": {"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": totp_code()}})
    return str(second["AuthenticationResult"]["IdToken"])


def _live_state(running: Any) -> tuple[str | None, dict[str, str]]:
    """The live index version and its record -> person state, as the match run wrote it
    (``s3://<curated>/index/state/<version>.parquet``). Not a Scan of the index: moto answers each
    page of a Scan by sorting the whole table and walking it from the start to the page's start key,
    so scanning a 30,000-record index page by page took longer than the match run itself (the
    bench's silent "stall" of 2026-12-04: the run had ended, the bench was still scanning)."""
    from mast.index.linking import state_key
    from mast.index.writer import IndexWriter

    version, _ = IndexWriter(running.environment["INDEX_TABLE"], running.client("dynamodb")).live()
    if version is None:
        return None, {}
    body = running.client("s3").get_object(Bucket=running.environment["CURATED_BUCKET"],
                                          Key=state_key(version))["Body"].read()
    table = pq.read_table(io.BytesIO(body))
    return version, dict(zip(table.column("record_id").to_pylist(), table.column("person_id").to_pylist(), strict=True))


def _items_listed(running: Any, version: str) -> int:
    """The index items the match run wrote for ``version``, as its manifest lists them (every item is
    listed before it is written: :meth:`mast.index.linking._MatchRun._list`)."""
    from mast.index.linking import MANIFEST_PREFIX

    s3 = running.client("s3")
    bucket = running.environment["CURATED_BUCKET"]
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": f"{MANIFEST_PREFIX}{version}/"}
    items = 0
    while True:
        page = s3.list_objects_v2(**kwargs)
        for part in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=part["Key"])["Body"].read()
            items += pq.read_metadata(io.BytesIO(body)).num_rows
        if not page.get("IsTruncated"):
            return items
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _searchable_target(running: Any, version: str, record_ids: list[str]) -> dict[str, Any] | None:
    """The first indexed record (by id) a practitioner can search for by name and date of birth,
    read from its record item (a hundred at a time) in the live version's table (the index table
    itself for a version the match function wrote, the version's own for an imported one)."""
    from mast.index import layout
    from mast.index.writer import IndexWriter

    writer = IndexWriter(running.environment["INDEX_TABLE"], running.client("dynamodb"))
    live, _ = writer.live()  # and the table its items are in
    if live != version:
        raise ValueError(f"version {version} is not the live one ({live})")
    ordered = sorted(record_ids)
    for start in range(0, len(ordered), 100):
        chunk = ordered[start:start + 100]
        items = writer.get_items([(layout.record_pk(version, rid), layout.RECORD_SK) for rid in chunk])
        for rid in chunk:
            item = items.get((layout.record_pk(version, rid), layout.RECORD_SK))
            record = layout.record_from_item(item).model_dump(mode="json") if item else None
            if record and record.get("given_name") and record.get("family_name") and record.get("dob") \
                    and not record.get("sensitive"):
                return record
    return None


@contextlib.contextmanager
def stack_in(folder: Path, *, template: Path | None = None,
             parameters: dict[str, str] | None = None) -> Iterator[tuple[Any, Any]]:
    """The local stack from the template (or ``template``, with ``parameters`` over its defaults)
    started in ``folder`` with the feeds' SFTP keys and the demo's users: ``(running, options)``.
    Stopped on leaving, and the process's environment (which ``start`` points at its moto) restored."""
    from infra.local import demo, stack
    from mast.config import load_partnership

    saved = dict(os.environ)
    options = stack.LocalOptions(port=_free_port(), sftp_port=_free_port(), aws_port=_free_port(), state_dir=folder,
                                 function_log_level="WARNING")
    if template is not None:
        options.template = template
    options.parameters.update(demo.ensure_feed_keys(load_partnership(), folder / "keys"))
    options.parameters.update(parameters or {})
    try:
        running = stack.start(options, announce=lambda _: None)
    except BaseException:
        os.environ.clear()  # start() points boto3 at its moto first: undo that, as on return
        os.environ.update(saved)
        raise
    try:
        demo.seed_users(running.client("cognito-idp"), running.outputs["UserPoolId"],
                        running.outputs["UserPoolClientId"])
        yield running, options
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved)


def send_generated(options: Any, folder: Path, records: int, seed: int,
                   announce: Callable[[str], None] = print) -> int:
    """About ``records`` generated rows (one day's extract of every feed) sent through the SFTP
    gateway, each waited for until the ingest function's receipt; the rows accepted."""
    from mast.feeds.sftp_client import SftpAccount
    from tools.generate import generate

    day = generate(max(1, round(records / ROWS_PER_PERSON)), seed)
    extracts = folder / "extracts"
    day.write(extracts)
    accepted = 0
    for feed, extract in sorted(day.files.items()):
        account = SftpAccount(options.host, options.sftp_port, feed, folder / "keys" / feed, check_host_key=False)
        sent = time.time()
        receipt = account.receipt(account.put(extracts / extract.file_name), after=sent, timeout=600)
        announce(f"  {feed}: {receipt.rows_accepted} rows accepted")
        accepted += receipt.rows_accepted
    return accepted


def search_finds(options: Any, target: dict[str, Any]) -> bool:
    """Whether a signed-in practitioner's search by ``target``'s name and date of birth, through the
    API, answers with ``target``'s person."""
    from infra.local import demo

    user = next(u for u in demo.DEMO_USERS if u.groups == ("practitioners",))
    token = _sign_in(options.url, user.email, user.password)
    born = dt.date.fromisoformat(target["dob"])
    query = {"given_name": target["given_name"], "family_name": target["family_name"],
             "dob": {"day": born.day, "month": born.month, "year": born.year}}
    reply = requests.post(f"{options.url}/api/search", json={"declaration": DECLARATION, "query": query},
                          headers={"Authorization": token}, timeout=60)
    return reply.ok and any(target["person_id"] == p["person_id"] for p in reply.json().get("people", []))


def link_on_stack(records: int, folder: Path, *, seed: int = 14, template: Path | None = None,
                  announce: Callable[[str], None] = print, timeout: float = 1800) -> MatchOnStack:
    """Start the local stack in ``folder``, ingest ``records`` generated rows over SFTP, link them in
    one match run, search for one of them through the API; the stack is stopped on return."""
    with stack_in(folder, template=template) as (running, options):
        match = running.runner.name_of("MatchFunction")
        spec = running.runner.specs[match]
        running.router.pause(match)  # every feed first, then one link of them all
        send_generated(options, folder, records, seed, announce)
        running.runner.peak_mb.pop(match, None)
        watch = MatchWatch.of(running, match)
        running.router.resume(match)
        outcome = watch.wait(timeout, announce)
        version, state = _live_state(running)
        failures = _dead_letters(running)
        target = _searchable_target(running, version, list(state)) if version else None
        items = _items_listed(running, version) if version else 0
        found = search_finds(options, target) if target is not None else False
        return MatchOnStack(
            records=len(state), people_indexed=len(set(state.values())), items_written=items,
            match_seconds=watch.calls.last_seconds, match_peak_mb=round(running.runner.peak_mb.get(match, 0.0)),
            match_memory_mb=spec.memory, match_timeout_s=spec.timeout,
            searched_record=target["record_id"] if target else "", found=found, failures=failures,
            outcome=outcome, invocations=watch.calls.started, errors=watch.calls.errors,
            match_cpu_seconds=watch.calls.last_cpu_seconds)


@dataclass
class MatchWatch:
    """What the bench watches while the match function links: its invocations (and how they ended),
    its queue's messages waiting and in flight, and its dead-letter queue. The bench never waits in
    silence: :meth:`wait` prints each change (and a line a minute while nothing changes), and when
    it gives up it says why."""

    running: Any
    function: str
    queue_url: str
    dlq_url: str
    visibility_s: int
    calls: Invocations
    #: seconds between looks, and between lines printed while nothing changes
    every: float = 5.0
    heartbeat: float = 60.0

    @classmethod
    def of(cls, running: Any, function: str) -> MatchWatch:
        sqs = running.client("sqs")
        arn = next(s.source_arn for s in running.provisioned.event_sources
                   if s.function == function and ":sqs:" in s.source_arn)
        url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        dlq = json.loads(attrs["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[1]
        return cls(running, function, url, sqs.get_queue_url(QueueName=dlq)["QueueUrl"],
                   int(attrs["VisibilityTimeout"]), running.runner.invocations(function))

    def queues(self) -> tuple[int, int, int]:
        """Messages waiting and in flight on the match queue, and messages in its dead-letter queue."""
        sqs = self.running.client("sqs")
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        queue = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        dead = sqs.get_queue_attributes(QueueUrl=self.dlq_url, AttributeNames=names)["Attributes"]
        return (int(queue[names[0]]), int(queue[names[1]]),
                int(dead[names[0]]) + int(dead[names[1]]))

    def line(self, elapsed: float, waiting: int, in_flight: int, dead: int) -> str:
        calls = self.calls
        now = time.time()
        running = f", running for {now - min(calls.running_since):.0f} s" if calls.running_since else ""
        errors = ", ".join(f"{kind} {n}" for kind, n in sorted(calls.errors.items())) or "none"
        ended = (f"; last ended after {calls.last_seconds:.0f} s ({calls.last_cpu_seconds:.0f} CPU-s)"
                 if calls.succeeded or calls.failed else "")
        return (f"  +{elapsed:.0f} s match: {calls.started} invocation(s){running}, {calls.succeeded} succeeded, "
                f"errors: {errors}{ended}; queue: {waiting} waiting, {in_flight} in flight; dead-lettered: {dead}")

    def wait(self, timeout: float, announce: Callable[[str], None]) -> str:
        """Wait until the match run has linked every message (``"linked"``) or give up, saying why:
        a message dead-lettered, a failed run whose messages the queue holds back past the deadline
        (a run past its Timeout leaves them in flight for the queue's visibility timeout), or the
        deadline itself, with what was seen then."""
        started = time.time()
        deadline = started + timeout
        said, said_at = "", 0.0
        settled_since: float | None = None
        while True:
            self.calls = self.running.runner.invocations(self.function)
            waiting, in_flight, dead = self.queues()
            now = time.time()
            line = self.line(now - started, waiting, in_flight, dead)
            state = line.split(" match: ", 1)[1].split(", running for")[0] + str(bool(self.calls.running_since))
            if state != said or now - said_at >= self.heartbeat:
                announce(line)
                said, said_at = state, now
            calls = self.calls
            if dead:
                return (f"gave up: {dead} message(s) dead-lettered after {calls.failed} failed run(s); "
                        f"last: {calls.last_error or 'none recorded'}")
            idle = not calls.running_since and not self.running.router.busy
            if idle and calls.succeeded and not waiting and not in_flight:
                settled_since = settled_since or now
                if now - settled_since >= 2.0:
                    return "linked"
            else:
                settled_since = None
            if idle and calls.failed and in_flight and not waiting and calls.last_error_at is not None:
                back = calls.last_error_at + self.visibility_s
                if back > deadline:
                    return (f"gave up: the match run failed ({calls.last_error}); its {in_flight} message(s) "
                            f"stay in flight until the queue's {self.visibility_s:,} s visibility timeout ends, "
                            f"{back - now:,.0f} s from now, past the bench's deadline")
            if now >= deadline:
                return f"gave up after {timeout:,.0f} s without an outcome: {line.strip()}"
            time.sleep(self.every)


def _dead_letters(running: Any) -> list[str]:
    """Bodies' types of what the match queue dead-lettered (nothing, when the run fitted its limits)."""
    sqs = running.client("sqs")
    out = []
    for name in ("match-dlq.fifo",):
        url = sqs.get_queue_url(QueueName=f"mast-local-{name}")["QueueUrl"]
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            out.append(str(json.loads(message["Body"]).get("type")))
    return out


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="mast-lambda-match-") as folder:
        print(f"the match function on the local stack: {args.records:,} generated records over SFTP …", flush=True)
        result = link_on_stack(args.records, Path(folder), seed=args.seed)
    figures = {"date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
               "python": platform.python_version(), **result.__dict__}
    print(json.dumps(figures, indent=1))
    print(f"outcome: {result.outcome}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lambda-match.json").write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if result.outcome == "linked" and result.found and not result.failures else 1
