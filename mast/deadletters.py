"""Why a queue message failed, kept where an operator finds it when the message is dead-lettered.

SQS moves a message that failed ``maxReceiveCount`` times to the queue's dead-letter queue with its
body and id, but not the reason. So a function that fails a message notes the reason in the control
table under the message id (``DEADLETTER#<queue>`` / ``<message id>``, the last failure's), and
``mast dlq show`` prints it beside the message. The reason never holds record contents: an AWS error
code and message, pydantic's error types, or the exception's type and where it was raised.
Notes expire with the dead-letter queues' retention (14 days).
"""

from __future__ import annotations

import datetime as dt
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

NOTE_PREFIX = "DEADLETTER#"
RETENTION = dt.timedelta(days=14)


@dataclass(frozen=True)
class FailedMessage:
    """One message a function could not process, and why (safe to log: no personal data)."""

    message_id: str
    reason: str


def reason_of(error: BaseException) -> str:
    """What went wrong, without echoing data: AWS's code and message (which never quote an item),
    pydantic's error types and places, or the exception type and the line that raised it."""
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        code = response["Error"].get("Code", "")
        return f"{type(error).__name__} {code}: {response['Error'].get('Message', '')}"[:500]
    if isinstance(error, ValidationError):
        problems = sorted({f"{'.'.join(str(p) for p in e['loc'])}: {e['type']}" for e in error.errors()})
        return f"not a valid message ({'; '.join(problems)[:400]})"
    frames = traceback.extract_tb(error.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno} in {frames[-1].name}" if frames else ""
    return f"{type(error).__name__}{where}"


def note_failure(ddb: Any, table: str, queue: str, failed: FailedMessage, receive_count: int | None,
                 now: dt.datetime | None = None) -> None:
    """Keep the latest reason a message failed (a note failing to write must not hide the failure:
    the caller logs and goes on)."""
    now = now or dt.datetime.now(dt.UTC)
    item = {
        "pk": {"S": f"{NOTE_PREFIX}{queue}"}, "sk": {"S": failed.message_id}, "reason": {"S": failed.reason},
        "failed_at": {"S": now.isoformat()}, "expires_at": {"N": str(int((now + RETENTION).timestamp()))},
    }
    if receive_count is not None:
        item["receive_count"] = {"N": str(receive_count)}
    ddb.put_item(TableName=table, Item=item)


def failure_notes(ddb: Any, table: str, queue: str) -> dict[str, dict[str, str]]:
    """Message id -> its last failure (reason, failed_at, receive_count) for one queue."""
    notes: dict[str, dict[str, str]] = {}
    kwargs: dict[str, Any] = {"TableName": table, "KeyConditionExpression": "pk = :pk",
                              "ExpressionAttributeValues": {":pk": {"S": f"{NOTE_PREFIX}{queue}"}}}
    while True:
        page = ddb.query(**kwargs)
        for item in page.get("Items", []):
            notes[item["sk"]["S"]] = {k: next(iter(v.values())) for k, v in item.items() if k not in ("pk", "sk")}
        if "LastEvaluatedKey" not in page:
            return notes
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
