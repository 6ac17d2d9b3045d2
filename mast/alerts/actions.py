"""The alerts routes as calls: the checks, the audit event first, then the answer.

Who: practitioners and org-admins of the watching organisation read and mark its alerts (the
organisation comes from the caller's token, never from the request); opening the person an alert
concerns is a search in all but name: a searcher's declaration, audited with it, and the person
joins a stored search of the caller's own, so the person view opens (and is audited) as after a
search.
"""

from __future__ import annotations

import datetime as dt
import json

from mast.access.caller import Caller, Group
from mast.access.declarations import Declaration
from mast.alerts.models import Alert, AlertCount, AlertList, AlertOpened
from mast.alerts.store import AlertStore
from mast.audit.store import AuditStore
from mast.schema import Refused, StrictModel
from mast.search.actions import purpose_of
from mast.search.query import IndexReading
from mast.search.store import SearchStore, StoredSearch, new_search_id

#: who reads an organisation's alerts
READERS: tuple[Group, ...] = ("practitioners", "org-admins")
#: who opens the person an alert is about: practitioners, who act on alerts (an org-admin oversees
#: them and may not search people)
OPENERS: tuple[Group, ...] = ("practitioners",)


class AlertOpenRequest(StrictModel):
    """``POST /api/alerts/{id}/open``: the declaration under which the person is opened."""

    declaration: Declaration


def _alert_records(alerts: list[Alert]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(rid for a in alerts for rid in (a.record_id, *a.case_record_ids)))


def list_alerts(caller: Caller, store: AlertStore, audit: AuditStore, request_id: str | None = None,
                now: dt.datetime | None = None, after: str | None = None) -> AlertList:
    """A page of the caller's organisation's alerts, newest first (older ones after ``after``, the
    previous page's ``next``); audited (every record the page names) first."""
    caller.require(*READERS)
    alerts, following = store.page(caller.organisation, now, after=after)
    unseen = store.unseen(caller.organisation, now)
    audit.write(caller.audit_event(
        request_id, action="alert-view", record_ids=_alert_records(alerts), records_returned=len(alerts),
        sensitive_returned=any(a.sensitive for a in alerts),
        detail=json.dumps({"alerts": [a.alert_id for a in alerts], "unseen": unseen, "after": after}),
    ))
    return AlertList(alerts=alerts, unseen=unseen, next=following)


def count_unseen(caller: Caller, store: AlertStore, now: dt.datetime | None = None) -> AlertCount:
    """How many of the organisation's alerts nobody has marked seen: a number, for the navigation."""
    caller.require(*READERS)
    return AlertCount(unseen=store.unseen(caller.organisation, now))


def _own_alert(caller: Caller, store: AlertStore, alert_id: str) -> Alert:
    if len(alert_id) > 40:
        raise Refused("no such alert for your organisation", 404)
    alert = store.get(caller.organisation, alert_id)
    if alert is None:
        raise Refused("no such alert for your organisation (it may have expired)", 404)
    return alert


def mark_seen(caller: Caller, store: AlertStore, alert_id: str, now: dt.datetime | None = None) -> Alert:
    """Mark one of the organisation's alerts seen (for everyone in it: one team reads them)."""
    caller.require(*READERS)
    now = now or dt.datetime.now(dt.UTC)
    alert = _own_alert(caller, store, alert_id)
    store.mark_seen(caller.organisation, alert_id, caller.email, now)
    return alert.model_copy(update={"seen_at": alert.seen_at or now, "seen_by": alert.seen_by or caller.email})


def open_from_alert(caller: Caller, alert_id: str, request: AlertOpenRequest, store: AlertStore,
                    index: IndexReading, audit: AuditStore, searches: SearchStore,
                    request_id: str | None = None) -> AlertOpened:
    """Open the person of the organisation's open case an alert is about, under a declaration.

    The person is found from the case's record id now (a rebuild may have changed person ids since
    the alert was made); the newly involved person (the same one, or someone at the dwelling) joins
    the same stored search, so the household link opens them too. Audited before answering."""
    caller.require(*OPENERS)
    alert = _own_alert(caller, store, alert_id)
    wanted = [*alert.case_record_ids, alert.record_id]
    by_id = {r.record_id: r for r in index.records(wanted)}
    case = next((by_id[rid] for rid in alert.case_record_ids if rid in by_id), None)
    if case is None:
        raise Refused("the case this alert is about is no longer in MAST (it ended or was withdrawn)", 410)
    people = {case.person_id: tuple(index.person_record_ids(case.person_id))}
    new = by_id.get(alert.record_id)
    if new is not None and new.person_id not in people:
        people[new.person_id] = tuple(index.person_record_ids(new.person_id))
    declaration = request.declaration
    search_id = new_search_id()
    audit.write(caller.audit_event(
        request_id, action="alert-open", gateway=declaration.gateway, purpose=purpose_of(declaration),
        search_id=search_id, people_returned=tuple(people), record_ids=_alert_records([alert]),
        records_returned=len(wanted), sensitive_returned=alert.sensitive,
        detail=json.dumps({"alert": alert.alert_id, "kind": alert.kind}),
    ))
    searches.save(StoredSearch(search_id=search_id, user_sub=caller.sub, created_at=dt.datetime.now(dt.UTC),
                               people=people, gateway=declaration.gateway, purpose=purpose_of(declaration)))
    return AlertOpened(search_id=search_id, person_id=case.person_id)
