"""`mast dlq list|show|redrive`: the operator's view of what could not be processed, and the way back.

Two kinds of thing wait for an operator after a failure:

* **dead-lettered messages**: a message the ingest or match function failed ``maxReceiveCount``
  times is in its queue's dead-letter queue (``mast-<env>-ingest-dlq``, ``mast-<env>-match-dlq.fifo``;
  the audit export's on-failure destination, ``mast-<env>-audit-export-dlq``, holds descriptions of
  stream batches). The reason the function noted is shown beside each (:mod:`mast.deadletters`).
* **quarantined files**: an upload that could not be taken at all is kept, untouched, in the raw
  bucket under ``quarantine/<partner>/<feed>/<ingest id>/<file>``; its receipt says why.

``redrive`` sends messages back to the queue they came from (and deletes them from the dead-letter
queue), or puts a quarantined file back in its feed's landing folder and announces the upload to
the ingest queue as Transfer Family's event would: do it after the fix (a corrected feed
definition, a deployed release). Nothing shown here holds record contents: message bodies name
feeds, ingest ids and files, and reasons are error types and AWS messages.

Against AWS with the usual credentials (``--environment`` names the stack's resources), or the
running local stack with ``--local`` (and its ``--aws-port`` and ``--state-dir``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import uuid
from typing import Any

from tools.commands._target import QUEUES, Stack, add_stack_target

QUARANTINE = "quarantine/"
#: seconds a listed message stays hidden while this command reads it (then made visible again)
PEEK_SECONDS = 30


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("dlq", help="list, inspect and redrive dead-lettered messages and quarantined files",
                                   description=__doc__.split("\n\n")[0] if __doc__ else None)
    actions = parser.add_subparsers(dest="dlq_action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="every dead-lettered message (with its reason) and quarantined file")
    show = actions.add_parser("show", help="one message (by id) or quarantined file (by its quarantine/… key)")
    show.add_argument("item", help="a message id, or a quarantine/… key")
    redrive = actions.add_parser("redrive", help="send messages back to their queue, or a quarantined file back to ingest")
    redrive.add_argument("items", nargs="*", help="message ids or quarantine/… keys (none: see --all)")
    redrive.add_argument("--all", choices=sorted(QUEUES), help="every message of one dead-letter queue")
    for sub in (listing, show, redrive):
        add_stack_target(sub)
    listing.set_defaults(func=run_list)
    show.set_defaults(func=run_show)
    redrive.set_defaults(func=run_redrive)


def _peek(stack: Stack, queue: str) -> list[dict[str, Any]]:
    """The dead-letter queue's messages (a FIFO queue shows its first ten), left there, visible again."""
    sqs = stack.session.client("sqs")
    url = stack.url(stack.dlq(queue))
    seen: dict[str, dict[str, Any]] = {}
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=PEEK_SECONDS,
                                    AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            break
        seen.update((m["MessageId"], m) for m in fresh)
    for message in seen.values():
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    return list(seen.values())


def _summary(body: str) -> str:
    """What a message is about, without record contents: its type, feed, ingest id or file."""
    try:
        data = json.loads(body)
    except ValueError:
        return f"not JSON ({len(body)} bytes)"
    if not isinstance(data, dict):
        return type(data).__name__
    if data.get("detail-type"):
        detail = data.get("detail") or {}
        return f"{data['detail-type']}: {detail.get('file-path', '?')} ({detail.get('bytes', '?')} bytes)"
    if data.get("type") == "feed-ingested":
        return f"feed-ingested: {data.get('feed')} ingest {data.get('ingest_id')} ({data.get('versions')} versions)"
    if "DDBStreamBatchInfo" in data:
        info = data["DDBStreamBatchInfo"]
        return f"audit stream batch of {info.get('batchSize')} ({data.get('requestContext', {}).get('condition')})"
    return str(data.get("type", "message"))


def _quarantined(stack: Stack) -> list[dict[str, Any]]:
    s3 = stack.session.client("s3")
    found: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"Bucket": stack.raw_bucket, "Prefix": QUARANTINE}
    while True:
        page = s3.list_objects_v2(**kwargs)
        found.extend(page.get("Contents", []))
        if not page.get("IsTruncated"):
            return found
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def _receipt(stack: Stack, key: str) -> dict[str, Any] | None:
    """The receipt of a quarantined upload, beside it in the feed's landing folder."""
    partner, feed, _, file_name = key.removeprefix(QUARANTINE).split("/", 3)
    try:
        body = stack.session.client("s3").get_object(
            Bucket=stack.landing_bucket, Key=f"{partner}/{feed}/reports/{file_name}.report.json")["Body"].read()
    except Exception:  # no receipt (or not readable): the listing says so
        return None
    return dict(json.loads(body))


def run_list(args: argparse.Namespace) -> int:
    from mast.deadletters import failure_notes

    stack = Stack.of(args)
    ddb = stack.session.client("dynamodb")
    total = 0
    for queue in QUEUES:
        messages = _peek(stack, queue)
        source = stack.source(queue)
        notes = failure_notes(ddb, stack.control_table, source) if source else {}
        print(f"{stack.dlq(queue)}: {len(messages)} message(s)")
        for m in messages:
            sent = dt.datetime.fromtimestamp(int(m["Attributes"]["SentTimestamp"]) / 1000, dt.UTC)
            reason = notes.get(m["MessageId"], {}).get("reason", "(no reason noted)")
            print(f"  {m['MessageId']}  sent {sent:%Y-%m-%d %H:%M:%S}Z  {_summary(m['Body'])}\n    reason: {reason}")
        total += len(messages)
    files = _quarantined(stack)
    print(f"quarantined files (s3://{stack.raw_bucket}/{QUARANTINE}): {len(files)}")
    for obj in files:
        receipt = _receipt(stack, obj["Key"]) or {}
        why = receipt.get("note") or receipt.get("status") or "(no receipt found)"
        print(f"  {obj['Key']}  {obj['Size']} bytes  {obj['LastModified']:%Y-%m-%d %H:%M}Z\n    reason: {why}")
    return 0 if total == 0 and not files else 1


def _find(stack: Stack, message_id: str) -> tuple[str, dict[str, Any]] | None:
    for queue in QUEUES:
        for m in _peek(stack, queue):
            if m["MessageId"] == message_id:
                return queue, m
    return None


def run_show(args: argparse.Namespace) -> int:
    from mast.deadletters import failure_notes

    stack = Stack.of(args)
    if args.item.startswith(QUARANTINE):
        head = stack.session.client("s3").head_object(Bucket=stack.raw_bucket, Key=args.item)
        print(json.dumps({"key": args.item, "bytes": head["ContentLength"], "stored": head["LastModified"].isoformat(),
                          "receipt": _receipt(stack, args.item)}, indent=1, default=str))
        return 0
    found = _find(stack, args.item)
    if found is None:
        print(f"mast dlq: no dead-lettered message {args.item}", file=sys.stderr)
        return 1
    queue, m = found
    source = stack.source(queue)
    note = failure_notes(stack.session.client("dynamodb"), stack.control_table, source).get(m["MessageId"]) if source else None
    print(json.dumps({"queue": stack.dlq(queue), "message_id": m["MessageId"], "attributes": m["Attributes"],
                      "about": _summary(m["Body"]), "failure": note, "body": json.loads(m["Body"])}, indent=1))
    return 0


def _redrive_message(stack: Stack, queue: str, message: dict[str, Any]) -> None:
    source = stack.source(queue)
    if source is None:
        raise ValueError(f"{stack.dlq(queue)} holds descriptions of stream batches, not messages to send again")
    sqs = stack.session.client("sqs")
    extra: dict[str, Any] = {}
    if source.endswith(".fifo"):
        extra = {"MessageGroupId": message["Attributes"].get("MessageGroupId", "index"),
                 "MessageDeduplicationId": f"redrive-{uuid.uuid4().hex}"}
    sqs.send_message(QueueUrl=stack.url(source), MessageBody=message["Body"], **extra)
    sqs.delete_message(QueueUrl=stack.url(stack.dlq(queue)), ReceiptHandle=message["ReceiptHandle"])
    print(f"redriven {message['MessageId']} -> {source} ({_summary(message['Body'])})")


def _redrive_file(stack: Stack, key: str) -> None:
    """Put a quarantined upload back in its feed's landing folder and announce it to ingest."""
    partner, feed, _, file_name = key.removeprefix(QUARANTINE).split("/", 3)
    landing_key = f"{partner}/{feed}/{file_name}"
    s3 = stack.session.client("s3")
    s3.copy_object(Bucket=stack.landing_bucket, Key=landing_key, CopySource={"Bucket": stack.raw_bucket, "Key": key})
    size = s3.head_object(Bucket=stack.landing_bucket, Key=landing_key)["ContentLength"]
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "SFTP Server File Upload Completed",
             "source": "aws.transfer", "account": stack.account, "time": now,
             "region": stack.session.region_name, "resources": [],
             "detail": {"server-id": "operator-redrive", "username": feed, "protocol": "SFTP",
                        "file-path": f"/{stack.landing_bucket}/{landing_key}", "bytes": size,
                        "status-code": "COMPLETED", "start-timestamp": now, "end-timestamp": now}}
    stack.session.client("sqs").send_message(QueueUrl=stack.url(stack.name("ingest")), MessageBody=json.dumps(event))
    print(f"redriven {key} -> s3://{stack.landing_bucket}/{landing_key}, announced to {stack.name('ingest')}")


def run_redrive(args: argparse.Namespace) -> int:
    stack = Stack.of(args)
    if not args.items and not args.all:
        print("mast dlq redrive: name message ids or quarantine/… keys, or --all QUEUE", file=sys.stderr)
        return 2
    missing = 0
    if args.all:
        while messages := _peek(stack, args.all):
            for message in messages:
                _redrive_message(stack, args.all, message)
    for item in args.items:
        if item.startswith(QUARANTINE):
            _redrive_file(stack, item)
            continue
        found = _find(stack, item)
        if found is None:
            print(f"mast dlq: no dead-lettered message {item}", file=sys.stderr)
            missing += 1
            continue
        _redrive_message(stack, *found)
    return 1 if missing else 0
