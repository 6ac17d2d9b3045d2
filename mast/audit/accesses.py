"""Who looked at our records: for each partner, the people outside it who opened (or printed) a
person whose records it supplied, with when, the legal gateway and the purpose, as CP-IS shows a
child's owning council the recent accesses to its flag.

Written from the audit's stream, beside its export to the archive (:mod:`mast.audit.export`), so a
search or a person view pays nothing for it: one item per event and supplying partner in the control
table, ``ACCESSED#<partner>`` / ``<event time>#<event id>`` (idempotent: a retried stream batch
writes the same items again), expiring with the audit's hot copy. Reading it is itself audited.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any, Final

from pydantic import BaseModel, Field

from mast.access.caller import Caller
from mast.audit.event import EVENT_TIME_FORMAT, HOT_DAYS, AuditEvent
from mast.audit.store import AuditStore
from mast.config import Partnership

#: the actions that show a person's records to someone: what the owner of those records is told of
ACCESS_ACTIONS: Final = frozenset({"open-person", "print-person", "alert-open"})
#: how many accesses the page lists (CP-IS shows the last 25)
SHOWN: Final = 25


class RecordAccess(BaseModel):
    """One look at a person whose records a partner supplied, by someone of another organisation."""

    event_id: str
    event_time: dt.datetime
    action: str
    username: str = Field(description="who looked (their verified email)")
    organisation: str
    organisation_name: str
    gateway: str | None = None
    gateway_name: str | None = Field(default=None, description="the legal gateway as the declaration named it")
    purpose: str | None = None
    record_ids: tuple[str, ...] = Field(description="the partner's own records the person view showed")


class RecordAccesses(BaseModel):
    """``GET /api/audit/accesses``: the latest looks at the caller's organisation's records."""

    partner: str
    accesses: list[RecordAccess]


def _partner_of(record_id: str, feeds: dict[str, str]) -> str | None:
    return feeds.get(record_id.split(":", 1)[0])


def access_items(events: Iterable[AuditEvent], partnership: Partnership) -> list[dict[str, Any]]:
    """The control-table items for these audit events: one per event and partner whose records it
    showed to a user of another organisation."""
    feeds = {f.id: f.partner for f in partnership.feeds}
    names = {o.id: o.name for o in partnership.organisations}
    items = []
    for event in events:
        if event.action not in ACCESS_ACTIONS or not event.record_ids:
            continue
        by_partner: dict[str, list[str]] = {}
        for rid in event.record_ids:
            partner = _partner_of(rid, feeds)
            if partner is not None and partner != event.organisation:
                by_partner.setdefault(partner, []).append(rid)
        expires = int((event.event_time + dt.timedelta(days=HOT_DAYS)).timestamp())
        for partner, rids in by_partner.items():
            access = RecordAccess(
                event_id=event.event_id, event_time=event.event_time, action=event.action,
                username=event.username, organisation=event.organisation,
                organisation_name=names.get(event.organisation, event.organisation), gateway=event.gateway,
                purpose=event.purpose, record_ids=tuple(rids))
            items.append({
                "pk": {"S": f"ACCESSED#{partner}"},
                "sk": {"S": f"{event.event_time.astimezone(dt.UTC).strftime(EVENT_TIME_FORMAT)}#{event.event_id}"},
                "access": {"S": access.model_dump_json()}, "expires_at": {"N": str(expires)},
            })
    return items


def write_accesses(client: Any, table: str, items: Sequence[dict[str, Any]]) -> None:
    """Put the items (25 a request, retrying what DynamoDB leaves unprocessed)."""
    for start in range(0, len(items), 25):
        request = {table: [{"PutRequest": {"Item": it}} for it in items[start : start + 25]]}
        for _attempt in range(8):
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                break
        else:
            raise RuntimeError("the record accesses were not all written (throttled)")


def read_accesses(caller: Caller, client: Any, table: str, audit: AuditStore,
                  request_id: str | None = None) -> RecordAccesses:
    """The latest :data:`SHOWN` looks at the caller's organisation's records by other organisations'
    users; an org-admin reads their own organisation's only. Audited before answering."""
    caller.require("org-admins")
    page = client.query(TableName=table, KeyConditionExpression="pk = :pk", ScanIndexForward=False,
                        Limit=SHOWN, ExpressionAttributeValues={":pk": {"S": f"ACCESSED#{caller.organisation}"}})
    from mast.audit.words import gateway_names

    names = gateway_names()
    accesses = [RecordAccess.model_validate_json(item["access"]["S"]) for item in page.get("Items", [])]
    accesses = [a.model_copy(update={"gateway_name": names.get(a.gateway or "", a.gateway)}) for a in accesses]
    audit.write(caller.audit_event(
        request_id, action="audit-view", target=caller.organisation,
        record_ids=tuple(dict.fromkeys(r for a in accesses for r in a.record_ids)),
        detail=json.dumps({"view": "who looked at our records", "accesses": len(accesses)}),
    ))
    return RecordAccesses(partner=caller.organisation, accesses=accesses)
