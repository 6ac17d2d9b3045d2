"""The audit in words: actions, gateways and organisations by their names, each event saying whom
it concerned and what the user saw, and the filtered audit as a CSV people can open safely.

An org-admin or an auditor reads the audit to answer "who looked at whom, why, and what did they
see"; ids (``user-list``, ``ca1989-s47``, ``walsall-council``) answer none of that. The names come
from the same configuration the rest of MAST reads (``infra/gateways.yaml``,
``infra/partnership.yaml``), so a renamed gateway is renamed in the audit too; the event itself
keeps the ids, which do not change.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any, Final

from pydantic import Field

from mast.access.declarations import legal_gateways
from mast.audit.event import AuditEvent
from mast.config import load_partnership
from mast.schema import Refused, spreadsheet_text

#: Each action as the audit page and its export name it (every :data:`AuditAction` has one).
ACTION_NAMES: Final[dict[str, str]] = {
    "search": "Searched",
    "open-person": "Opened a person",
    "link-decision": "Linkage decision",
    "user-add": "Added a user",
    "user-edit": "Changed a user",
    "user-disable": "Disabled a user",
    "user-enable": "Re-enabled a user",
    "user-resend": "Resent an invitation",
    "access-request": "Asked for access",
    "access-approve": "Approved an access request",
    "access-refuse": "Refused an access request",
    "access-review": "Confirmed the users' access",
    "access-request-list": "Looked at the access requests",
    "user-list": "Looked at the users",
    "audit-view": "Looked at the audit",
    "audit-export": "Exported the audit",
    "audit-query": "Ran a saved audit query",
    "print-person": "Printed a person's summary",
    "refused": "Was refused",
    "review-queue-list": "Looked at the stewards' review queue",
    "wrong-match-report": "Reported a wrong match",
    "alert-made": "An alert was made",
    "alert-view": "Looked at the alerts",
    "alert-open": "Opened a person from an alert",
    "subject-access": "Produced a subject access report",
    "feed-erased": "Erased a partner's feed",
}


class UnknownOrganisation(Refused):
    """An organisation filter that names no organisation of the partnership (HTTP 400)."""


def gateway_names() -> dict[str, str]:
    return {g.id: g.label for g in legal_gateways()}


def organisation_names() -> dict[str, str]:
    return {o.id: o.name for o in load_partnership().organisations}


def organisation_id(text: str) -> str:
    """The organisation a filter names, by its name ("Walsall Council", any case) or its id.

    An unknown name is refused, saying which organisations there are: before, "Walsall Council"
    matched no id and the page said "No events", which reads as "nobody searched"."""
    wanted = " ".join(text.split()).casefold()
    for org_id, name in organisation_names().items():
        if wanted in (org_id.casefold(), name.casefold()):
            return org_id
    known = "; ".join(organisation_names().values())
    raise UnknownOrganisation(f"there is no organisation called '{text}'. The organisations are: {known}")


def action_ids(text: str) -> tuple[str, ...]:
    """Actions a filter names: ids or names, comma-separated; unknown ones refused with the list."""
    by_name = {name.casefold(): action for action, name in ACTION_NAMES.items()}
    found = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        action = part if part in ACTION_NAMES else by_name.get(part.casefold())
        if action is None:
            raise Refused(f"there is no audit action called '{part}'. The actions are: {', '.join(ACTION_NAMES)}")
        found.append(action)
    return tuple(dict.fromkeys(found))


class EventInWords(AuditEvent):
    """An audit event with what a person needs to read it: names beside the ids, whom it concerned,
    what the user saw."""

    action_name: str = ""
    gateway_name: str | None = None
    organisation_name: str = ""
    concerned: str = Field(default="", description="whom the event concerned, as the user saw them")
    saw: str = Field(default="", description="what the user was shown: people listed, records shown")


def _detail(event: AuditEvent) -> dict[str, Any]:
    try:
        value = json.loads(event.detail or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def search_terms_in_words(search_terms: str | None) -> str:
    """The searched-for person as the practitioner typed them: names, date of birth, address."""
    if not search_terms:
        return ""
    try:
        q = json.loads(search_terms)
    except ValueError:
        return search_terms
    if not isinstance(q, dict):
        return search_terms
    dob = q.get("dob") or {}
    born = "/".join(str(dob[k]) for k in ("day", "month", "year") if isinstance(dob, dict) and dob.get(k))
    parts = [q.get("given_name"), q.get("middle_name"), q.get("family_name"), born and f"born {born}",
             q.get("address_line1"), q.get("address_line2"), q.get("postcode")]
    return ", ".join(str(p) for p in parts if p)


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def in_words(event: AuditEvent, gateways: Mapping[str, str] | None = None,
             organisations: Mapping[str, str] | None = None) -> EventInWords:
    """``event`` with its names, whom it concerned and what the user saw."""
    gateways = gateway_names() if gateways is None else gateways
    organisations = organisation_names() if organisations is None else organisations
    detail = _detail(event)
    concerned, saw = "", ""
    if event.action == "search":
        concerned = search_terms_in_words(event.search_terms)
        people = detail.get("people")
        if isinstance(people, int):
            saw = _plural(people, "person listed", "people listed")
            saw += f" ({_plural(event.records_returned, 'record', 'records')})"
        else:
            saw = _plural(event.records_returned, "record", "records")
    elif event.action == "open-person":
        name = detail.get("name")
        concerned = str(name) if name else "a person"
        if event.record_ids:
            concerned += f" (records {', '.join(event.record_ids)})"
        saw = _plural(event.records_returned, "record shown", "records shown")
    elif event.action in ("link-decision", "wrong-match-report"):
        concerned = f"records {', '.join(event.record_ids)}" if event.record_ids else ""
        words = {"same": "the same person", "different": "not the same person",
                 "leave": "left as the linkage has it"}
        if event.action == "link-decision" and detail.get("decision") in words:
            saw = f"decided: {words[detail['decision']]}"
            if detail.get("review_item"):
                saw += f" (review queue item {detail['review_item']})"
    elif event.action in ("alert-made", "alert-open"):
        concerned = f"records {', '.join(event.record_ids)}" if event.record_ids else ""
        saw = f"alert {detail.get('alert', '')}".strip()
    elif event.action == "alert-view":
        saw = _plural(event.records_returned, "alert listed", "alerts listed")
    elif event.action == "review-queue-list":
        saw = f"{_plural(int(detail.get('items', 0)), 'item', 'items')} listed, " + _plural(
            event.records_returned, "record shown", "records shown")
    elif event.target:
        email = detail.get("email")
        concerned = str(email) if email else organisations.get(event.target, event.target)
    if event.action in ("search", "open-person") and event.sensitive_returned:
        saw += ", sensitive records among them"
    reason = detail.get("reason")
    if isinstance(reason, str) and reason:
        saw = (saw + "; " if saw else "") + f"reason given: {reason}"
    return EventInWords(
        **event.model_dump(),
        action_name=ACTION_NAMES.get(event.action, event.action),
        gateway_name=gateways.get(event.gateway, event.gateway) if event.gateway else None,
        organisation_name=organisations.get(event.organisation, event.organisation),
        concerned=concerned, saw=saw,
    )


#: The export's columns: the event in words first, then the ids an investigation quotes.
EXPORT_COLUMNS: Final = (
    ("When (UTC)", "event_time"), ("User", "username"), ("Organisation", "organisation_name"),
    ("Action", "action_name"), ("Legal gateway", "gateway_name"), ("Purpose", "purpose"),
    ("Concerned", "concerned"), ("What they saw", "saw"), ("Records returned", "records_returned"),
    ("Sensitive", "sensitive_returned"), ("Record ids", "record_ids"), ("Search id", "search_id"),
    ("Event id", "event_id"), ("Action id", "action"), ("Organisation id", "organisation"),
    ("Gateway id", "gateway"),
)


def audit_csv(events: Iterable[EventInWords]) -> bytes:
    """The events as CSV for a spreadsheet: UTF-8 with a byte-order mark, CRLF, and every cell through
    :func:`mast.schema.spreadsheet_text`, so a searched name like ``=cmd|…`` is shown, never run."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([spreadsheet_text(title) for title, _ in EXPORT_COLUMNS])
    for event in events:
        values = event.model_dump(mode="json")
        row = []
        for _, field in EXPORT_COLUMNS:
            value = values.get(field)
            if isinstance(value, list):
                value = " ".join(str(v) for v in value)
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            row.append(spreadsheet_text(value))
        writer.writerow(row)
    return ("\ufeff" + out.getvalue()).encode("utf-8")
