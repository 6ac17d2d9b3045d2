"""The stewards' routes as calls: the queue listed side by side, and a practitioner's report.

As every route's domain call (:mod:`mast.search.actions`): the group and organisation checked, the
audit event written before anything is shown or kept, then the answer. Deciding an item goes
through the one decision path, :func:`mast.access.decisions.decide` (``POST /api/link-decisions``
with ``review_item``), so a decision on a queue item is kept and honoured like any other.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Annotated, Final

from pydantic import Field, field_validator

from mast.access.caller import AccessDenied, Caller
from mast.access.decisions import RecordId
from mast.access.declarations import said
from mast.audit.store import AuditStore
from mast.config import Partnership
from mast.schema import Refused, StrictModel
from mast.search.actions import SEARCHERS, own_search
from mast.search.coverage import FeedStatus
from mast.search.models import PersonRecord
from mast.search.person import PersonGone, shown_record
from mast.search.query import IndexReading
from mast.search.store import SearchStore
from mast.stewardship.queue import ItemKind, ReviewQueue

#: the most items one listing shows (the rest wait their turn; the listing says how many)
MAX_LISTED: Final = 20
REASON_LIMIT: Final = 500


def require_partner(caller: Caller, partnership: Partnership) -> None:
    """403 unless the caller's organisation is one of the partnership's: the queue and the index
    are the partnership's, and a token naming any other organisation speaks for none of it."""
    if partnership.organisation(caller.organisation) is None:
        raise AccessDenied("Your organisation is not a member of this partnership.")


# ------------------------------------------------------------------------------------ the queue
class ReviewItemView(StrictModel):
    """One item as the stewards' page shows it: both records side by side, each as the steward may
    see it (a sensitive record by partner, date and contact only)."""

    item_id: str
    kind: ItemKind
    why: str = Field(description="why the pair is in the queue, in words")
    probability: float | None = None
    guards: list[str] = []
    reports: int = 0
    reason: str | None = Field(default=None, description="the latest practitioner's reason, for a reported pair")
    reported_by: str | None = Field(default=None, description="the organisation of the latest report")
    together_now: bool = Field(description="whether the two records are one person in the index now")
    record_a: PersonRecord | None = Field(description="none when the record has left the index")
    record_b: PersonRecord | None
    created_at: str


class ReviewQueueView(StrictModel):
    items: list[ReviewItemView]
    more: int = Field(ge=0, description="open items beyond those listed")


_GUARD_WORDS: Final = {
    "twins": "same date of birth, different given names (twins?)",
    "twins_of_each_sex": "same date of birth, similar names, different sex (twins?)",
    "different_people": "given name and date of birth both differ",
    "namesakes": "same name, dates of birth years apart (parent and child?)",
    "family_name_and_birth_differ": "family name and date of birth both differ",
    "household_member_without_dob": "no date of birth, another given name at the same home",
    "nhs_numbers_differ": "two different NHS numbers",
}


def _why(kind: ItemKind, guards: list[str], probability: float | None) -> str:
    if kind == "reported":
        return "A practitioner reported that these records are not one person"
    odds = f" (match probability {probability:.0%})" if probability is not None else ""
    if kind == "just-under":
        return f"Just under the linkage threshold{odds}: left as two people"
    if guards:
        return f"Held apart by a guard{odds}: " + "; ".join(_GUARD_WORDS.get(g, g) for g in guards)
    return f"Scored as a match{odds} but held apart: other records of the people conflict"


def review_queue(caller: Caller, queue: ReviewQueue, index: IndexReading, audit: AuditStore,
                 partnership: Partnership, request_id: str | None = None,
                 feeds: Mapping[str, FeedStatus] | None = None) -> ReviewQueueView:
    """The open items, both records of each side by side; audited (every record shown) first."""
    caller.require("data-stewards")
    require_partner(caller, partnership)
    items = queue.items("open")
    listed, more = items[:MAX_LISTED], max(len(items) - MAX_LISTED, 0)
    wanted = [rid for item in listed for rid in (item.record_a, item.record_b)]
    records = {r.record_id: r for r in index.records(wanted)} if wanted else {}
    views: list[ReviewItemView] = []
    for item in listed:
        a, b = records.get(item.record_a), records.get(item.record_b)
        views.append(ReviewItemView(
            item_id=item.item_id, kind=item.kind, why=_why(item.kind, item.guards, item.probability),
            probability=item.probability, guards=item.guards, reports=item.reports, reason=item.reason,
            reported_by=_organisation_name(partnership, item.reported_by_organisation),
            together_now=bool(a and b and a.person_id == b.person_id),
            record_a=shown_record(a, partnership, feeds) if a else None,
            record_b=shown_record(b, partnership, feeds) if b else None, created_at=item.created_at,
        ))
    shown = [rid for rid in wanted if rid in records]
    audit.write(caller.audit_event(
        request_id, action="review-queue-list", record_ids=tuple(dict.fromkeys(shown)),
        records_returned=len(set(shown)), sensitive_returned=any(records[r].sensitive for r in shown),
        detail=json.dumps({"items": len(views), "more": more}),
    ))
    return ReviewQueueView(items=views, more=more)


def _organisation_name(partnership: Partnership, organisation: str | None) -> str | None:
    if organisation is None:
        return None
    found = partnership.organisation(organisation)
    return found.name if found else organisation


# ------------------------------------------------------------------------------------ reports
class WrongMatchReport(StrictModel):
    """A practitioner's report that the person shown is not one person: which records (of those
    shown to them) are someone else, and why."""

    record_ids: list[RecordId] = Field(min_length=1, max_length=10,
                                       description="the records shown that the practitioner thinks are someone else")
    reason: Annotated[str, Field(min_length=3, max_length=REASON_LIMIT)]

    @field_validator("reason")
    @classmethod
    def _words(cls, value: str) -> str:
        return said(value)

    @field_validator("record_ids")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("each record id may appear only once")
        return value


class WrongMatchReported(StrictModel):
    items: list[str] = Field(description="the review queue's items the report is in")
    reported_at: dt.datetime


def report_wrong_match(caller: Caller, person_id: str, search_id: str, report: WrongMatchReport,
                       index: IndexReading, audit: AuditStore, searches: SearchStore, queue: ReviewQueue,
                       partnership: Partnership, request_id: str | None = None) -> WrongMatchReported:
    """Put the practitioner's report in the stewards' queue: each record named, beside a record of
    the person that was not named (one shown to them that the search matched, where there is one). Only a person the
    caller's own search returned, only records shown to them (not sensitive ones); audited first."""
    caller.require(*SEARCHERS)
    require_partner(caller, partnership)
    stored = own_search(caller, person_id, search_id, searches)
    record_ids = index.person_record_ids(person_id)
    if not set(record_ids) & set(stored.people.get(person_id, ())):
        raise PersonGone(person_id)
    records = index.records(record_ids)
    visible = {r.record_id for r in records if not r.sensitive}
    named = list(report.record_ids)
    if any(rid not in visible for rid in named):
        raise Refused("report only records shown to you on this person's page", 400)
    rest = [r.record_id for r in records if r.record_id not in named]
    if not rest:
        raise Refused("leave at least one record as this person: select the records that are someone else", 400)
    # beside the record the search matched, shown (not sensitive) where there is one: what the
    # practitioner compared the records they name with
    matched = set(stored.people.get(person_id, ()))
    anchor = min(rest, key=lambda rid: (rid not in visible, rid not in matched, rest.index(rid)))
    now = dt.datetime.now(dt.UTC)
    audit.write(caller.audit_event(
        request_id, action="wrong-match-report", gateway=stored.gateway, purpose=stored.purpose, search_id=search_id,
        people_returned=(person_id,), record_ids=(*named, anchor), records_returned=len(named) + 1,
        detail=json.dumps({"reason": report.reason, "records": named, "beside": anchor}),
    ))
    items = [queue.report(rid, anchor, report.reason, caller, now).item_id for rid in named]
    return WrongMatchReported(items=items, reported_at=now)
