"""Audit function: the audit API for administrators and auditors, and the stream export to Parquet.

Two triggers, told apart by the event's shape: DynamoDB stream batches (``Records`` from
``aws:dynamodb``) are exported with :mod:`mast.audit.export`; anything else is an API Gateway
request for ``GET /api/audit`` and its export (:mod:`mast.audit.view`), or for the auditors' saved queries
(``GET /api/audit/queries…``, :mod:`mast.audit.unusual`). Thin by rule.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.utilities.typing import LambdaContext

from mast.api.http import caller_in, make_resolver
from mast.audit import AuditListQuery, AuditStore, page_key, read_audit
from mast.audit.accesses import access_items, read_accesses, write_accesses
from mast.audit.view import export_audit
from mast.config import load_partnership

logger = Logger()
#: Every route of the audit shows people's data: each refusal is itself audited.
DATA_ROUTES = frozenset({("GET", "/audit"), ("GET", "/audit/export"), ("GET", "/audit/queries"),
                         ("GET", "/audit/queries/{name}"), ("GET", "/audit/accesses"),
                         ("GET", "/audit/subject-access")})
app = make_resolver(logger, audited_refusals=DATA_ROUTES)


@app.get("/audit")
def list_audit() -> dict[str, Any]:
    """A page of the audit: org-admins their organisation's, auditors every organisation's."""
    caller = caller_in(app, "org-admins", "auditors")
    query = AuditListQuery.model_validate(app.current_event.query_string_parameters or {})
    store = AuditStore(os.environ["AUDIT_TABLE"], page_key=page_key())  # the stack's key signs 'next'
    page = read_audit(caller, query, store, now=dt.datetime.now(dt.UTC),
                      request_id=app.current_event.request_context.request_id)
    return page.model_dump(mode="json", by_alias=True)


@app.get("/audit/accesses")
def list_accesses() -> dict[str, Any]:
    """Who outside the caller's organisation opened people whose records it supplied (org-admins)."""
    caller = caller_in(app, "org-admins")
    return read_accesses(caller, _client(), os.environ["CONTROL_TABLE"], AuditStore(os.environ["AUDIT_TABLE"]),
                         app.current_event.request_context.request_id).model_dump(mode="json")


@app.get("/audit/subject-access")
def get_subject_access() -> Response:
    """Every record held about a person and every audited action that showed them (auditors);
    JSON, or CSV with ``format=csv``; audited first."""
    from mast.audit.subject_access import SubjectAccessRequest, report_csv, subject_access
    from mast.index import IndexReader

    caller = caller_in(app, "auditors")
    request = SubjectAccessRequest.model_validate(app.current_event.query_string_parameters or {})
    index = IndexReader(os.environ["INDEX_TABLE"], _client())
    report = subject_access(caller, request, index, AuditStore(os.environ["AUDIT_TABLE"]), dt.datetime.now(dt.UTC),
                            app.current_event.request_context.request_id)
    name = f"mast-subject-access-{report.produced_at:%Y%m%dT%H%M%SZ}"
    if request.format == "csv":
        return Response(status_code=200, content_type="text/csv; charset=utf-8", body=report_csv(report),
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    return Response(status_code=200, content_type="application/json", body=report.model_dump_json(),
                    headers={"Content-Disposition": f'attachment; filename="{name}.json"'})


@functools.cache
def _client() -> Any:
    import boto3

    return boto3.client("dynamodb")


@app.get("/audit/export")
def export() -> Response:
    """The filtered audit as CSV (the export audited first)."""
    caller = caller_in(app, "org-admins", "auditors")
    query = AuditListQuery.model_validate(app.current_event.query_string_parameters or {})
    result = export_audit(caller, query, AuditStore(os.environ["AUDIT_TABLE"]), now=dt.datetime.now(dt.UTC),
                          request_id=app.current_event.request_context.request_id)
    return Response(status_code=200, content_type="text/csv; charset=utf-8", body=result.body.decode("utf-8"),
                    headers={"Content-Disposition": f'attachment; filename="{result.file_name}"',
                             "X-MAST-Events": str(result.events), "X-MAST-Complete": str(result.complete).lower()})


@app.get("/audit/queries")
def list_saved_queries() -> dict[str, Any]:
    """The auditors' saved queries (the template's Athena named queries)."""
    from mast.audit.unusual import saved_queries  # duckdb and pyarrow: only on this path

    caller = caller_in(app, "auditors")
    return {"queries": [q.model_dump(mode="json") for q in saved_queries(caller)]}


@app.get("/audit/queries/<name>")
def run_saved(name: str) -> dict[str, Any]:
    """One saved query's results for a period, run over the audit table in DuckDB (audited first)."""
    from mast.audit.unusual import SavedQueryRun, run_saved_query

    caller = caller_in(app, "auditors")
    run = SavedQueryRun.model_validate(app.current_event.query_string_parameters or {})
    result = run_saved_query(caller, name, run, AuditStore(os.environ["AUDIT_TABLE"]), now=dt.datetime.now(dt.UTC),
                             request_id=app.current_event.request_context.request_id)
    return result.model_dump(mode="json", by_alias=True)


def _is_stream_batch(event: dict[str, Any]) -> bool:
    records = event.get("Records")
    return isinstance(records, list) and all(r.get("eventSource") == "aws:dynamodb" for r in records)


def _export(event: dict[str, Any]) -> dict[str, Any]:
    from mast.audit.export import export_stream_records, stream_events  # pyarrow: only on the export path

    records = event["Records"]
    # who looked at whose records, for each supplying partner (a failure fails the batch: retried whole)
    write_accesses(_client(), os.environ["CONTROL_TABLE"], access_items(stream_events(records), load_partnership()))
    result = export_stream_records(records, os.environ["AUDIT_BUCKET"])
    logger.info("audit export", extra={"records": len(records), "written": len(result.written),
                                       "already_present": len(result.already_present),
                                       "failed": len(result.failed_sequence_numbers)})
    if result.failed_sequence_numbers and not (result.written or result.already_present):
        # Nothing of the batch was archived: fail it whole (retried, bisected, then dead-lettered).
        raise RuntimeError("the audit batch could not be written to the audit bucket")
    return {"batchItemFailures": [{"itemIdentifier": n} for n in result.failed_sequence_numbers]}


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if _is_stream_batch(event):
        return _export(event)
    return app.resolve(event, context)
