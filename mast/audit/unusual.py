"""Unusual use on the audit page: the auditors' saved queries run by the audit function.

The SQL is the template's Athena named queries (:mod:`mast.audit.queries`, the one source), run in
DuckDB over the period's events read from the audit table (the hot copy, about 13 months), so the
page works on AWS and on the local stack with no other settings; older audit is for Athena over the
Parquet. Auditors only: the queries cross organisations. Each run is audited (``audit-query``,
naming the query and its parameters) before it is read.

DuckDB and pyarrow are imported only here and in :mod:`mast.audit.queries`, which only the audit
function imports.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Final

from mast.access.caller import Caller
from mast.audit.event import AuditEvent
from mast.audit.queries import NamedQuery, connect_events, named_queries, run_query
from mast.audit.store import AuditStore
from mast.audit.view import SavedQuery, SavedQueryResult, SavedQueryRun
from mast.schema import Refused

#: The most events one run reads from the hot copy; a busier period is for Athena.
QUERY_EVENT_LIMIT: Final = 200_000
#: The longest period the page may ask for, in days.
MAX_QUERY_DAYS: Final = 400


def saved_queries(caller: Caller) -> list[SavedQuery]:
    caller.require("auditors")
    return [SavedQuery(name=q.name, description=q.description, parameters=list(q.parameters))
            for q in named_queries().values()]


def run_saved_query(caller: Caller, name: str, run: SavedQueryRun, store: AuditStore, *, now: dt.datetime,
                    request_id: str | None = None) -> SavedQueryResult:
    """Run the saved query ``name`` over the period's events; raises AccessDenied or Refused."""
    caller.require("auditors")
    query: NamedQuery | None = named_queries().get(name)
    if query is None:
        raise Refused(f"there is no saved query called '{name}'", 404)
    if run.to_date < run.from_date:
        raise Refused("'to' is before 'from'")
    if (run.to_date - run.from_date).days >= MAX_QUERY_DAYS:
        raise Refused(f"the period is longer than {MAX_QUERY_DAYS} days; use Athena for older audit")
    arguments = {"from_date": run.from_date.isoformat(), "to_date": run.to_date.isoformat()}
    if "record_id" in query.parameters:
        if not run.record_id:
            raise Refused("this query needs a record id: add record_id")
        arguments["record_id"] = run.record_id
    arguments = {k: v for k, v in arguments.items() if k in query.parameters}
    store.write(AuditEvent(
        event_id=uuid.uuid4().hex, event_time=now, action="audit-query", user_sub=caller.sub,
        username=caller.email, organisation=caller.organisation, groups=tuple(sorted(caller.groups)),
        target=name, detail=json.dumps({"query": name, **arguments}), request_id=request_id,
    ))
    events, complete = period_events(store, run.from_date, run.to_date)
    connection = connect_events(events)
    columns, rows = run_query(query, connection, arguments)
    return SavedQueryResult(
        name=query.name, description=query.description, columns=columns,
        rows=[[_plain(v) for v in row] for row in rows], events_read=len(events),
        complete=complete, from_date=run.from_date, to_date=run.to_date,
    )


def period_events(store: AuditStore, from_date: dt.date, to_date: dt.date) -> tuple[list[AuditEvent], bool]:
    """Every organisation's events of the period from the hot copy (at most :data:`QUERY_EVENT_LIMIT`),
    and whether that was all of them."""
    since = dt.datetime.combine(from_date, dt.time(), dt.UTC)
    until = dt.datetime.combine(to_date + dt.timedelta(days=1), dt.time(), dt.UTC)
    events: list[AuditEvent] = []
    token: str | None = None
    while len(events) < QUERY_EVENT_LIMIT:
        page = store.query(organisation=None, since=since, until=until, limit=200, page_token=token)
        events += page.events
        token = page.next
        if not token:
            break
    return events[:QUERY_EVENT_LIMIT], token is None and len(events) <= QUERY_EVENT_LIMIT


def _plain(value: Any) -> Any:
    """A DuckDB value as JSON can carry it (times as ISO text, decimals as numbers)."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)
