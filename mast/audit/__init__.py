"""The audit: who looked at whom, when, why, and what they were shown.

Every search, every person opened, every steward decision and every administrator's action writes
one :class:`AuditEvent` *before* the answer leaves (DESIGN.md, "Security model"). The rooms:

* :mod:`mast.audit.event`: the event and its item format (what is kept, and how it is laid out);
* :mod:`mast.audit.store`: the audit table, the hot copy (write one event; read a period by pages);
* :mod:`mast.audit.view`: reading the audit through the API (who may see what, itself audited);
* :mod:`mast.audit.export`: the table's stream to Parquet under Object Lock (imports pyarrow, so
  only the audit function and the ``mast audit`` command import it; not named here);
* :mod:`mast.audit.queries`: the auditors' saved queries, Athena's SQL run locally in DuckDB (not
  named here either: it is a tool's, not a function's).
"""

from mast.audit.event import (
    AUDIT_COLUMNS,
    AUDIT_PARTITIONS,
    AuditAction,
    AuditEvent,
    AuditUnavailable,
    deserialise,
    event_to_item,
    format_event_time,
    item_to_event,
    new_event_id,
    serialise,
)
from mast.audit.store import AuditPage, AuditStore, BadPageToken
from mast.audit.view import AuditListQuery, AuditListResponse, read_audit

__all__ = [
    "AUDIT_COLUMNS",
    "AUDIT_PARTITIONS",
    "AuditAction",
    "AuditEvent",
    "AuditListQuery",
    "AuditListResponse",
    "AuditPage",
    "AuditStore",
    "AuditUnavailable",
    "BadPageToken",
    "deserialise",
    "event_to_item",
    "format_event_time",
    "item_to_event",
    "new_event_id",
    "read_audit",
    "serialise",
]
