"""`mast bench lambda-match`: the match function links a pilot-sized partnership within Lambda's limits.

Runs the local stack from the template (each function in its own environment, held to its
``Timeout`` and ``MemorySize``, with no ``/dev/shm``: :mod:`infra.local.functions`), sends one
day's generated extracts for every feed through the SFTP gateway and the ingest function, then lets
the match function link them all in one run (its queue's polling paused until every ingest is done,
as an event source mapping disabled and enabled again), and searches for a linked person through
the API as a signed-in practitioner. Prints the records, the match run's wall time and the peak
memory (PSS) of its environment beside its MemorySize, and whether the search found the person.
Today's default, 30,000 records, passes 300,000 candidate pairs, so the batch link runs in worker
processes (before issue 14 a multiprocessing Pool with SharedMemory, which fails without /dev/shm).

``tests/e2e/test_match_limits.py`` runs the same path on a small set (:func:`link_on_stack`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

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
    match_seconds: float
    match_peak_mb: float
    match_memory_mb: int
    match_timeout_s: int
    searched_record: str
    found: bool
    failures: list[str]


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


def _live_records(ddb: Any, table: str) -> list[dict[str, Any]]:
    from mast.index import layout

    live = ddb.get_item(TableName=table, Key={"pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.LIVE_SK}}).get("Item")
    if not live:
        return []
    prefix = f"V#{live['version']['S']}#R#"
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"TableName": table, "FilterExpression": "begins_with(pk, :p) AND sk = :r",
                              "ExpressionAttributeValues": {":p": {"S": prefix}, ":r": {"S": layout.RECORD_SK}}}
    while True:
        page = ddb.scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return [layout.record_from_item(item).model_dump(mode="json") for item in items]
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def link_on_stack(records: int, folder: Path, *, seed: int = 14, template: Path | None = None,
                  announce: Callable[[str], None] = print, timeout: float = 1800) -> MatchOnStack:
    """Start the local stack in ``folder``, ingest ``records`` generated rows over SFTP, link them in
    one match run, search for one of them through the API; the stack is stopped on return."""
    from infra.local import demo, stack
    from mast.config import load_partnership
    from mast.feeds.sftp_client import SftpAccount
    from tools.generate import generate

    saved = dict(os.environ)
    partnership = load_partnership()
    options = stack.LocalOptions(port=_free_port(), sftp_port=_free_port(), aws_port=_free_port(), state_dir=folder,
                                 function_log_level="WARNING")
    if template is not None:
        options.template = template
    options.parameters.update(demo.ensure_feed_keys(partnership, folder / "keys"))
    try:
        running = stack.start(options, announce=lambda _: None)
    except BaseException:
        os.environ.clear()  # start() points boto3 at its moto first: undo that, as on return
        os.environ.update(saved)
        raise
    try:
        demo.seed_users(running.client("cognito-idp"), running.outputs["UserPoolId"],
                        running.outputs["UserPoolClientId"])
        match = running.runner.name_of("MatchFunction")
        spec = running.runner.specs[match]
        running.router.pause(match)  # every feed first, then one link of them all
        day = generate(max(1, round(records / ROWS_PER_PERSON)), seed)
        extracts = folder / "extracts"
        day.write(extracts)
        for feed, extract in sorted(day.files.items()):
            account = SftpAccount(options.host, options.sftp_port, feed, folder / "keys" / feed, check_host_key=False)
            sent = time.time()
            receipt = account.receipt(account.put(extracts / extract.file_name), after=sent, timeout=600)
            announce(f"  {feed}: {receipt.rows_accepted} rows accepted")
        started = time.perf_counter()
        running.runner.peak_mb.pop(match, None)
        running.router.resume(match)
        ddb = running.client("dynamodb")
        index_table = running.environment["INDEX_TABLE"]
        indexed: list[dict[str, Any]] = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            running.wait_idle(timeout=timeout, quiet=2.0)
            indexed = _live_records(ddb, index_table)
            if indexed:
                break
        seconds = time.perf_counter() - started
        failures = _dead_letters(running)
        target = next((r for r in sorted(indexed, key=lambda r: r["record_id"])
                       if r.get("given_name") and r.get("family_name") and r.get("dob") and not r.get("sensitive")), None)
        found = False
        if target is not None:
            user = next(u for u in demo.DEMO_USERS if u.groups == ("practitioners",))
            token = _sign_in(options.url, user.email, user.password)
            born = dt.date.fromisoformat(target["dob"])
            query = {"given_name": target["given_name"], "family_name": target["family_name"],
                     "dob": {"day": born.day, "month": born.month, "year": born.year}}
            reply = requests.post(f"{options.url}/api/search", json={"declaration": DECLARATION, "query": query},
                                  headers={"Authorization": token}, timeout=60)
            found = reply.ok and any(target["person_id"] == p["person_id"] for p in reply.json().get("people", []))
        return MatchOnStack(
            records=len(indexed), people_indexed=len({r["person_id"] for r in indexed}),
            match_seconds=round(seconds, 1), match_peak_mb=round(running.runner.peak_mb.get(match, 0.0)),
            match_memory_mb=spec.memory, match_timeout_s=spec.timeout,
            searched_record=target["record_id"] if target else "", found=found, failures=failures)
    finally:
        running.stop()
        os.environ.clear()
        os.environ.update(saved)


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
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "lambda-match.json").write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if result.found and not result.failures else 1
