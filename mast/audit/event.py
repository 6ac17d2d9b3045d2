"""The audit event: who looked at whom, when, why, and what they were shown.

Every search, every person opened, every steward decision and every administrator's action writes
one :class:`AuditEvent` to the audit table *before* the answer leaves (DESIGN.md, "Security
model"); a search whose event cannot be written returns no results. The table's stream is exported
to Parquet under the audit bucket's Object Lock, where auditors query it with Athena.

Events name record ids, never person ids alone: person ids change when the index is rebuilt, and
the audit must still say what was shown in six years' time.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

AuditAction = Literal[
    "search",
    "open-person",
    "print-person",
    "link-decision",
    "user-add",
    "user-edit",
    "user-disable",
    "user-enable",
    "user-resend",
    "access-request",
    "access-approve",
    "access-refuse",
    "access-review",
    "access-request-list",
    "user-list",
    "audit-view",
    "refused",  # a request for people's data refused (status, route and message in detail)
    "audit-export",
    "audit-query",
    "review-queue-list",  # a data steward listed the review queue (every record shown named)
    "wrong-match-report",  # a practitioner reported that a person shown is not one person
    "alert-made",  # the match run made an alert for an organisation (by "MAST"; no one signed in)
    "alert-view",  # a user listed their organisation's alerts (every record they name)
    "alert-open",  # a user opened the person of an alert, under a declaration
    "subject-access",  # an auditor produced a person's records and the audit of who saw them
    "feed-erased",  # an operator erased a partner's feed from the curated data and the index
]


class AuditEvent(BaseModel):
    """One audited action. Flat on purpose: it becomes one Parquet row and one Athena row."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str = Field(description="unique id; also the Parquet object key's suffix")
    event_time: dt.datetime = Field(description="UTC, timezone-aware")
    action: AuditAction
    user_sub: str = Field(description="Cognito 'sub' of the caller")
    username: str = Field(description="the caller's email")
    organisation: str
    groups: tuple[str, ...] = ()
    gateway: str | None = Field(default=None, description="declared legal gateway, for searches")
    purpose: str | None = Field(default=None, description="declared purpose or case reference")
    search_id: str | None = None
    search_terms: str | None = Field(default=None, description="the query as JSON text")
    people_returned: tuple[str, ...] = Field(default=(), description="person ids at the time")
    record_ids: tuple[str, ...] = Field(default=(), description="record ids shown or acted on")
    records_returned: int = 0
    sensitive_returned: bool = False
    target: str | None = Field(default=None, description="the user or request acted on, for admin actions")
    detail: str | None = Field(default=None, description="short non-personal detail, as JSON text")
    request_id: str | None = None


#: The audit Parquet columns with their Glue types. The template's Glue audit table must match.
AUDIT_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("event_id", "string"),
    ("event_time", "timestamp"),
    ("action", "string"),
    ("user_sub", "string"),
    ("username", "string"),
    ("organisation", "string"),
    ("groups", "array<string>"),
    ("gateway", "string"),
    ("purpose", "string"),
    ("search_id", "string"),
    ("search_terms", "string"),
    ("people_returned", "array<string>"),
    ("record_ids", "array<string>"),
    ("records_returned", "int"),
    ("sensitive_returned", "boolean"),
    ("target", "string"),
    ("detail", "string"),
    ("request_id", "string"),
)

#: The audit dataset is partitioned by the event's UTC date.
AUDIT_PARTITIONS: Final[tuple[tuple[str, str], ...]] = (("event_date", "string"),)



#: Days the hot copy (the audit table) keeps an event before DynamoDB's TTL drops it; the Object Lock
#: bucket keeps the audit for years.
HOT_DAYS: Final = 400
EVENT_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"


class AuditUnavailable(RuntimeError):
    """The audit event could not be written, so the action must not go ahead (HTTP 503)."""


def new_event_id() -> str:
    """A unique, time-ordered-enough event id (also the Parquet row's key)."""
    return uuid.uuid4().hex


def format_event_time(moment: dt.datetime) -> str:
    """Fixed-width UTC text: sorts as time sorts."""
    if moment.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    # isoformat, not strftime: strftime's %Y does not pad a year below 1000 to four digits on glibc,
    # and text order must stay time order for every year.
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def event_to_item(event: AuditEvent, hot_days: int = HOT_DAYS) -> dict[str, Any]:
    """The plain (not DynamoDB-typed) item for ``event``: key attributes, fields, expiry."""
    when = format_event_time(event.event_time)
    item: dict[str, Any] = {
        "pk": f"DAY#{when[:10]}",
        "sk": f"{when}#{event.event_id}",
        "expires_at": int(event.event_time.timestamp()) + hot_days * 86400,
    }
    for name, value in event.model_dump(mode="json").items():
        if value is None:
            continue
        item[name] = list(value) if isinstance(value, (list, tuple)) else value
    item["event_time"] = when
    return item


def item_to_event(item: Mapping[str, Any]) -> AuditEvent:
    """An item (plain values, as :func:`deserialise` gives) back to the event it was written from."""
    fields = {k: v for k, v in item.items() if k in AuditEvent.model_fields}
    if "records_returned" in fields:
        fields["records_returned"] = int(fields["records_returned"])
    return AuditEvent.model_validate(fields)


def serialise(item: Mapping[str, Any]) -> dict[str, Any]:
    """Plain values to DynamoDB's typed JSON (the low-level client's and the stream's format)."""
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in item.items()}


def deserialise(image: Mapping[str, Any]) -> dict[str, Any]:
    """DynamoDB's typed JSON (a stream ``NewImage`` or a query item) to plain values."""
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in image.items()}


