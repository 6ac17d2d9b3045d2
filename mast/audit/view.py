"""Reading the audit through the API: who may see what, over which period, one page at a time.

Org-admins see their own organisation's events; auditors see every organisation's, optionally one.
Looking at the audit is itself audited (action ``audit-view``, with the filters in ``detail``): the
audit holds search terms, so who read it, and for what, is part of the record. The view event is
written before the page is read, like every other event.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from mast.access.caller import AccessDenied, Caller
from mast.audit.event import AuditEvent
from mast.audit.store import AuditPage, AuditStore

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
    period: Period | None = Field(default=None, description="the last day, week or month (default: week)")
    from_date: dt.date | None = Field(default=None, alias="from", ge=EARLIEST_DATE, le=LATEST_DATE,
                                      description="first day, YYYY-MM-DD (UTC)")
    to_date: dt.date | None = Field(default=None, alias="to", ge=EARLIEST_DATE, le=LATEST_DATE,
                                    description="last day, YYYY-MM-DD (UTC), inclusive")
    limit: int = Field(default=50, ge=1, le=200)
    next: str | None = Field(default=None, max_length=4000, description="the token of the next page")

    @field_validator("organisation", "user")
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

    events: list[AuditEvent]
    next: str | None = Field(description="pass as 'next' for the following page; null on the last page")
    from_time: dt.datetime = Field(serialization_alias="from")
    to_time: dt.datetime = Field(serialization_alias="to")


def read_audit(
    caller: Caller, query: AuditListQuery, store: AuditStore, *, now: dt.datetime, request_id: str | None = None
) -> AuditListResponse:
    """The page ``caller`` may see; raises AccessDenied, AuditUnavailable or BadPageToken."""
    caller.require("org-admins", "auditors")
    if caller.in_any(["auditors"]):
        organisation = query.organisation
    else:
        if query.organisation is not None:
            caller.require_organisation(query.organisation)
        organisation = caller.organisation
    if organisation is None and not caller.in_any(["auditors"]):
        raise AccessDenied("only auditors see every organisation")
    since, until = query.bounds(now)
    store.write(
        AuditEvent(
            event_id=uuid.uuid4().hex,
            event_time=now,
            action="audit-view",
            user_sub=caller.sub,
            username=caller.email,
            organisation=caller.organisation,
            groups=tuple(sorted(caller.groups)),
            target=organisation,
            detail=json.dumps({"organisation": organisation, "user": query.user, "from": since.isoformat(),
                               "to": until.isoformat(), "page": bool(query.next)}),
            request_id=request_id,
        )
    )
    page: AuditPage = store.query(organisation=organisation, since=since, until=until, user=query.user,
                                  limit=query.limit, page_token=query.next)
    return AuditListResponse(events=page.events, next=page.next, from_time=page.since or since,
                             to_time=page.until or until)
