"""What an alert is, and what the alerts routes answer."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mast.records import PartnerContact

#: How long an alert is kept (the control table's TTL deletes it; :meth:`AlertStore.list` also
#: hides an expired one, as DynamoDB's TTL can lag by days and the local stack has none).
ALERT_DAYS = 90


class Alert(BaseModel):
    """Another agency became involved with a person of one of the organisation's open cases.

    ``case_record_ids`` are the organisation's own open cases (its records; a watch names record
    ids); ``record_id`` is the new record. Nothing here names the person: the case references are
    the organisation's own, and the person opens only under a declaration."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    alert_id: str
    organisation: str = Field(description="the organisation watching (it holds the open cases)")
    made_at: dt.datetime
    expires_at: dt.datetime
    kind: Literal["person", "dwelling"] = Field(
        description="person: the new record is of the watched person; dwelling: of someone else at their home")
    partner: str = Field(description="the partner newly involved")
    partner_name: str
    feed_name: str | None = Field(default=None, description="the kind of service; left out for a sensitive record")
    record_date: dt.date = Field(description="the date of the new involvement")
    contact: PartnerContact = Field(description="whom to call at that partner")
    sensitive: bool = False
    record_id: str = Field(description="the new record")
    case_record_ids: tuple[str, ...] = Field(description="the organisation's open cases it concerns")
    case_references: tuple[str, ...] = Field(description="those cases' own references, as the organisation knows them")
    case_team: str | None = Field(default=None, description="the team in the case's contact details (addressed to)")
    case_email: str | None = Field(default=None, description="that team's mailbox (told that there are new alerts)")
    seen_at: dt.datetime | None = None
    seen_by: str | None = None

    @staticmethod
    def make_id(organisation: str, record_id: str, record_date: dt.date) -> str:
        """One alert per organisation and new record, whatever run made it (a retried match run
        writes the same alert again, not a second one); ids sort by the involvement's date, so the
        organisation's alerts read newest first straight from the table."""
        digest = hashlib.sha256(f"{organisation}\x1f{record_id}".encode()).hexdigest()[:20]
        return f"{record_date:%Y%m%d}-{digest}"


class AlertList(BaseModel):
    """``GET /api/alerts``: a page of the organisation's alerts, newest first."""

    alerts: list[Alert]
    unseen: int = Field(description="how many of the organisation's alerts nobody in it has marked as seen")
    next: str | None = Field(default=None, description="ask again with ?after= this for older alerts (none: no more)")


class AlertCount(BaseModel):
    """``GET /api/alerts/count``: how many of the organisation's alerts are unseen (a number only,
    for the navigation: not audited, as it shows no record)."""

    unseen: int


class AlertOpened(BaseModel):
    """``POST /api/alerts/{id}/open``: the search the alert's person now belongs to; open
    ``/people/{person_id}?search={search_id}`` (audited as a view)."""

    search_id: str
    person_id: str
