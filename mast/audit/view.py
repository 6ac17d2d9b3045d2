"""Reading the audit through the API: who may see what, over which period, one page at a time.

Org-admins see their own organisation's events; auditors see every organisation's, optionally one
(named by its name or its id), and either may keep one user's or some actions' events. Looking at
the audit is itself audited (action ``audit-view``, with the filters in ``detail``): the audit holds
search terms, so who read it, and for what, is part of the record. The view event is written before
the page is read, like every other event; an export of the filtered audit (``audit-export``) and a
saved query run on the page (``audit-query``) likewise.

Each event is returned in words (:mod:`mast.audit.words`): names beside ids, whom it concerned,
what the user saw.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mast.access.caller import Caller
from mast.audit.event import AuditAction, AuditEvent
from mast.audit.store import AuditPage, AuditStore
from mast.audit.words import (
    ACTION_NAMES,
    EventInWords,
    action_ids,
    audit_csv,
    gateway_names,
    in_words,
    organisation_id,
)
from mast.audit.words import organisation_names as _organisation_names
from mast.index.layout import IndexedRecord

Period = Literal["day", "week", "month"]
_PERIODS: Final[dict[str, dt.timedelta]] = {
    "day": dt.timedelta(days=1),
    "week": dt.timedelta(days=7),
    "month": dt.timedelta(days=31),
}
#: The longest from–to range: the hot copy holds about 13 months; older audit is in Athena.
MAX_RANGE_DAYS: Final = 400
#: Dates a from–to period may name: MAST keeps no audit from before 2000, and a year past 2999 is a
#: typing slip, not a period (and would overflow the day after it).
EARLIEST_DATE: Final = dt.date(2000, 1, 1)
LATEST_DATE: Final = dt.date(2999, 12, 31)


class AuditListQuery(BaseModel):
    """``GET /api/audit`` query string. ``period`` or ``from``/``to`` (dates, inclusive), not both."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    organisation: str | None = Field(default=None, max_length=100, description="auditors only: one organisation")
    user: str | None = Field(default=None, min_length=1, max_length=320, description="a user's email or id")
    action: str | None = Field(default=None, max_length=1000,
                               description="actions to keep, comma-separated ids or names (default: every action)")
    period: Period | None = Field(default=None, description="the last day, week or month (default: week)")
    from_date: dt.date | None = Field(default=None, alias="from", ge=EARLIEST_DATE, le=LATEST_DATE,
                                      description="first day, YYYY-MM-DD (UTC)")
    to_date: dt.date | None = Field(default=None, alias="to", ge=EARLIEST_DATE, le=LATEST_DATE,
                                    description="last day, YYYY-MM-DD (UTC), inclusive")
    limit: int = Field(default=50, ge=1, le=200)
    next: str | None = Field(default=None, max_length=4000, description="the token of the next page")

    @field_validator("organisation", "user", "action")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("must be printable text")
        return value

    @model_validator(mode="after")
    def _one_kind_of_period(self) -> AuditListQuery:
        if self.period and (self.from_date or self.to_date):
            raise ValueError("give either 'period' or 'from'/'to', not both")
        if self.from_date and self.to_date and self.to_date < self.from_date:
            raise ValueError("'to' is before 'from'")
        if self.from_date and self.to_date and (self.to_date - self.from_date).days >= MAX_RANGE_DAYS:
            raise ValueError(f"the period is longer than {MAX_RANGE_DAYS} days; use the Athena queries for older audit")
        return self

    def bounds(self, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """The half-open UTC period ``[since, until)`` this query asks for."""
        if self.from_date or self.to_date:
            last = self.to_date or now.date()
            first = self.from_date or last - dt.timedelta(days=MAX_RANGE_DAYS - 1)
            since = dt.datetime.combine(first, dt.time(), dt.UTC)
            until = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), dt.UTC)
            return since, until
        until = now + dt.timedelta(microseconds=1)
        return until - _PERIODS[self.period or "week"], until


class AuditListResponse(BaseModel):
    """One page of the audit, newest first."""

    events: list[EventInWords]
    next: str | None = Field(description="pass as 'next' for the following page; null on the last page")
    from_time: dt.datetime = Field(serialization_alias="from")
    to_time: dt.datetime = Field(serialization_alias="to")
    organisation: str | None = Field(default=None, description="the organisation read (its id), null for every one")
    organisation_name: str | None = None
    action_names: dict[str, str] = Field(default_factory=dict, description="every action id with its name")


def _scope(caller: Caller, query: AuditListQuery) -> str | None:
    """The organisation ``caller`` reads: their own (org-admins), or any one or all (auditors)."""
    caller.require("org-admins", "auditors")
    named = organisation_id(query.organisation) if query.organisation else None
    if caller.in_any(["auditors"]):
        return named
    if named is not None:
        caller.require_organisation(named)
    return caller.organisation


def _audit_reading(caller: Caller, store: AuditStore, action: AuditAction, now: dt.datetime,
                   request_id: str | None, organisation: str | None, detail: dict[str, object]) -> None:
    store.write(
        AuditEvent(
            event_id=uuid.uuid4().hex,
            event_time=now,
            action=action,
            user_sub=caller.sub,
            username=caller.email,
            organisation=caller.organisation,
            groups=tuple(sorted(caller.groups)),
            target=organisation,
            detail=json.dumps(detail),
            request_id=request_id,
        )
    )


def read_audit(
    caller: Caller, query: AuditListQuery, store: AuditStore, *, now: dt.datetime, request_id: str | None = None
) -> AuditListResponse:
    """The page ``caller`` may see; raises AccessDenied, AuditUnavailable, BadPageToken or Refused."""
    organisation = _scope(caller, query)
    actions = action_ids(query.action) if query.action else ()
    since, until = query.bounds(now)
    _audit_reading(caller, store, "audit-view", now, request_id, organisation,
                   {"organisation": organisation, "user": query.user, "actions": list(actions),
                    "from": since.isoformat(), "to": until.isoformat(), "page": bool(query.next)})
    page: AuditPage = store.query(organisation=organisation, since=since, until=until, user=query.user,
                                  limit=query.limit, page_token=query.next, actions=actions)
    gateways, organisations = gateway_names(), _organisation_names()
    return AuditListResponse(events=[in_words(e, gateways, organisations) for e in page.events], next=page.next,
                             from_time=page.since or since, to_time=page.until or until,
                             organisation=organisation,
                             organisation_name=organisations.get(organisation, organisation) if organisation else None,
                             action_names=dict(ACTION_NAMES))


#: The most events one export holds; a longer period is for the Athena queries over the Parquet.
EXPORT_LIMIT: Final = 20_000


class AuditExport(BaseModel):
    """The filtered audit as CSV, with a file name saying what it holds."""

    file_name: str
    body: bytes
    events: int
    complete: bool = Field(description="false when the period held more than EXPORT_LIMIT events")


def export_audit(
    caller: Caller, query: AuditListQuery, store: AuditStore, *, now: dt.datetime, request_id: str | None = None
) -> AuditExport:
    """Every event of the filtered audit (up to :data:`EXPORT_LIMIT`) as CSV, the export audited first
    (``audit-export``, with the filters): a copy of the audit leaving MAST is itself a record."""
    organisation = _scope(caller, query)
    actions = action_ids(query.action) if query.action else ()
    since, until = query.bounds(now)
    _audit_reading(caller, store, "audit-export", now, request_id, organisation,
                   {"organisation": organisation, "user": query.user, "actions": list(actions),
                    "from": since.isoformat(), "to": until.isoformat()})
    gateways, organisations = gateway_names(), _organisation_names()
    events: list[EventInWords] = []
    token: str | None = None
    while len(events) < EXPORT_LIMIT:
        page = store.query(organisation=organisation, since=since, until=until, user=query.user, limit=200,
                           page_token=token, actions=actions)
        events += [in_words(e, gateways, organisations) for e in page.events]
        token = page.next
        if not token:
            break
    complete = token is None and len(events) <= EXPORT_LIMIT
    events = events[:EXPORT_LIMIT]
    name = f"mast-audit-{organisation or 'all'}-{since.date().isoformat()}-to-{until.date().isoformat()}.csv"
    return AuditExport(file_name=name, body=audit_csv(events), events=len(events), complete=complete)


# --- the saved queries' models (run in mast.audit.unusual, which imports DuckDB) -------------------


class SavedQuery(BaseModel):
    """A saved query as the page lists it."""

    name: str
    description: str
    parameters: list[str]


class SavedQueryRun(BaseModel):
    """``GET /api/audit/queries/{name}``: the period, and any parameter besides the period's dates."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    from_date: dt.date = Field(alias="from", description="first day, YYYY-MM-DD (UTC)")
    to_date: dt.date = Field(alias="to", description="last day, YYYY-MM-DD (UTC), inclusive")
    record_id: str | None = Field(default=None, min_length=1, max_length=200)

    @field_validator("record_id")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None and not value.isprintable():
            raise ValueError("must be printable text")
        return value


class SavedQueryResult(BaseModel):
    name: str
    description: str
    columns: list[str]
    rows: list[list[Any]]
    events_read: int
    complete: bool = Field(description="false when the period held more events than one run reads")
    from_date: dt.date = Field(serialization_alias="from")
    to_date: dt.date = Field(serialization_alias="to")


# ------------------------------------------------------------------------------------- subject access
class SubjectAccessRequest(BaseModel):
    """``GET /api/audit/subject-access``: the person and the audit period.

    The person is named either by record ids (a partner's reference for them) or, as the requester
    gives themself in an Article 15 request, by their name and full date of birth (and the postcode
    of their address, to tell apart people who share both): the person search is run on those and
    must find exactly one person strongly (:func:`mast.audit.subject_access.subject_access`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)
    record_ids: tuple[str, ...] = Field(default=(), max_length=50, description="record ids of the person")
    given_name: str | None = Field(default=None, max_length=100, description="the requester's given name")
    family_name: str | None = Field(default=None, max_length=100, description="the requester's family name")
    dob: dt.date | None = Field(default=None, description="the requester's date of birth (YYYY-MM-DD)")
    postcode: str | None = Field(default=None, max_length=16, description="the postcode of the requester's address")
    from_date: dt.date = Field(alias="from", description="first day of the audit to read (UTC)")
    to_date: dt.date = Field(alias="to", description="last day, inclusive")
    format: str = Field(default="json", pattern="^(json|csv)$")

    @field_validator("record_ids", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return tuple(v.strip() for v in value.split(",") if v.strip()) if isinstance(value, str) else value

    @field_validator("given_name", "family_name", "postcode", mode="before")
    @classmethod
    def _blank(cls, value: Any) -> Any:
        return value.strip() or None if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_way(self) -> SubjectAccessRequest:
        by_search = any(v is not None for v in (self.given_name, self.family_name, self.dob, self.postcode))
        if self.record_ids and by_search:
            raise ValueError("name the person by record ids or by their details, not both")
        if not self.record_ids and not by_search:
            raise ValueError("name the person by record ids, or by given name, family name and date of birth")
        if by_search and not (self.given_name and self.family_name and self.dob):
            raise ValueError("a search for the person needs their given name, family name and full date of birth")
        return self

    @property
    def by_search(self) -> bool:
        return not self.record_ids


class SubjectAccessReport(BaseModel):
    """Every record held about the person, and every audited action that showed them."""

    produced_at: dt.datetime
    named_by: Literal["record ids", "search"] = Field(default="record ids", description="how the person was named")
    person_ids: list[str]
    records: list[IndexedRecord]
    events: list[AuditEvent]
    audit_from: dt.date
    audit_to: dt.date
    audit_complete: bool = Field(description="false when the period held more events than one report reads")
