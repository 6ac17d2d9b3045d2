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
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field

AuditAction = Literal[
    "search",
    "open-person",
    "link-decision",
    "user-add",
    "user-edit",
    "user-disable",
    "user-enable",
    "access-request",
    "access-approve",
    "access-refuse",
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
