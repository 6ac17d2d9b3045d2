"""The audit stream → Parquet in the audit bucket, under the template's Glue ``audit`` table.

The audit bucket is under Object Lock: objects are written once and never replaced. Each batch of
stream records becomes one Parquet object per UTC event date, at
``audit/event_date=<YYYY-MM-DD>/<first event time>-<digest of the event ids>.parquet``. The name is
unique to the events it holds, and the object is put with ``If-None-Match: *``: a retried batch
that was already written finds its object there and moves on, so a retry neither overwrites nor
(for the same batch) duplicates. A bisected retry may write an event again under another name;
``event_id`` is unique, so a reader that must count exactly counts distinct ``event_id``.

Only ``INSERT`` records are exported: audit items are never modified, and a ``REMOVE`` is the hot
copy's TTL expiry, which must not touch the archive.

pyarrow is imported here, so only the audit function (with the AWS SDK for pandas layer) and the
``mast audit`` command import this module; never the search function.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import pyarrow as pa
import pyarrow.parquet as pq

from mast.audit.event import AUDIT_COLUMNS, AuditEvent, deserialise, item_to_event

#: The key prefix of the template's Glue audit table (its ``Location`` and ``storage.location.template``).
AUDIT_PREFIX: Final = "audit/"

_ARROW_TYPES: Final[dict[str, pa.DataType]] = {
    "string": pa.string(),
    # UTC instants: Athena reads them as timestamps, DuckDB as TIMESTAMP WITH TIME ZONE.
    "timestamp": pa.timestamp("us", tz="UTC"),
    "array<string>": pa.list_(pa.string()),
    "int": pa.int32(),
    "boolean": pa.bool_(),
}

AUDIT_SCHEMA: Final = pa.schema([pa.field(name, _ARROW_TYPES[glue]) for name, glue in AUDIT_COLUMNS])


def events_table(events: Sequence[AuditEvent]) -> pa.Table:
    """Events as an Arrow table with exactly :data:`AUDIT_SCHEMA` (the Glue table's columns)."""
    columns: dict[str, list[Any]] = {name: [] for name, _ in AUDIT_COLUMNS}
    for event in events:
        values = event.model_dump()
        for name, glue in AUDIT_COLUMNS:
            value = values[name]
            if glue == "timestamp":
                value = value.astimezone(dt.UTC)
            elif glue == "array<string>":
                value = list(value)
            columns[name].append(value)
    return pa.table(columns, schema=AUDIT_SCHEMA)


def parquet_bytes(events: Sequence[AuditEvent]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(events_table(events), sink, compression="zstd")
    return sink.getvalue()


def object_key(event_date: str, events: Sequence[AuditEvent]) -> str:
    """A name unique to these events: first event time, then a digest of their ids."""
    first = min(e.event_time for e in events).astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    digest = hashlib.sha256("\n".join(sorted(e.event_id for e in events)).encode()).hexdigest()[:24]
    return f"{AUDIT_PREFIX}event_date={event_date}/{first}-{digest}.parquet"


@dataclass
class ExportResult:
    """What one batch did: objects written, objects already there, and the records that failed."""

    written: list[str] = field(default_factory=list)
    already_present: list[str] = field(default_factory=list)
    failed_sequence_numbers: list[str] = field(default_factory=list)


@dataclass
class _Run:
    event_date: str
    events: list[AuditEvent] = field(default_factory=list)
    sequence_numbers: list[str] = field(default_factory=list)


def stream_events(records: Iterable[Mapping[str, Any]]) -> list[AuditEvent]:
    """The new audit events of a stream batch, in stream order."""
    return [event for run in _runs(records) for event in run.events]


def _runs(records: Iterable[Mapping[str, Any]]) -> list[_Run]:
    """Stream records, in stream order, cut into runs of one event date (usually one run)."""
    runs: list[_Run] = []
    for record in records:
        if record.get("eventName") != "INSERT":
            continue
        change = record["dynamodb"]
        event = item_to_event(deserialise(change["NewImage"]))
        event_date = event.event_time.astimezone(dt.UTC).date().isoformat()
        if not runs or runs[-1].event_date != event_date:
            runs.append(_Run(event_date))
        runs[-1].events.append(event)
        runs[-1].sequence_numbers.append(str(change.get("SequenceNumber", "")))
    return runs


def export_stream_records(records: Sequence[Mapping[str, Any]], bucket: str, s3: Any = None) -> ExportResult:
    """Write the batch's new audit events to the audit bucket, one object per date run.

    Runs are written in stream order and the first failure stops the batch: every record from the
    failed run on is reported failed, so Lambda's retry (which restarts at the lowest failed
    sequence number) resends exactly what is not yet archived.
    """
    if s3 is None:
        import boto3

        s3 = boto3.client("s3")
    result = ExportResult()
    runs = _runs(records)
    for index, run in enumerate(runs):
        key = object_key(run.event_date, run.events)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=parquet_bytes(run.events), IfNoneMatch="*",
                          ContentType="application/vnd.apache.parquet")
            result.written.append(key)
        except Exception as error:  # noqa: BLE001 - classified below
            if _already_there(error):
                result.already_present.append(key)
                continue
            for later in runs[index:]:
                result.failed_sequence_numbers.extend(later.sequence_numbers)
            break
    return result


def _already_there(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    code = str((response.get("Error") or {}).get("Code", ""))
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return code in {"PreconditionFailed", "412"} or status == 412
