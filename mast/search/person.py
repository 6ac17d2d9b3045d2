"""The person view: a chosen person's involvement in the last 12 months, whom to call, and the others
at their addresses; a sensitive record shows only partner, date and contact."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from mast.config import Partnership
from mast.index.layout import IndexedRecord
from mast.schema import Refused
from mast.search.models import (
    AddressHousehold,
    Contact,
    HouseholdMember,
    InvolvementCounts,
    PersonRecord,
    PersonView,
)
from mast.search.query import MAX_RECORDS_PER_ADDRESS, IndexReading, full_address, full_name, latest_date
from mast.search.store import StoredSearch

#: Addresses shown in a person view (the most recent first).
MAX_ADDRESSES = 3

# -------------------------------------------------------------------------------------- person view
class PersonGone(Refused, LookupError):
    """The index was rebuilt since the search and this person id no longer holds its records."""

    status = 409

    def __init__(self, person_id: str) -> None:
        super().__init__("the index has been rebuilt since this search: search again")
        self.person_id = person_id


@dataclass
class PersonOutcome:
    view: PersonView
    record_ids: list[str] = field(default_factory=list)
    sensitive: bool = False


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months earlier (the month's last day when it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def involvement(records: Iterable[IndexedRecord], today: dt.date) -> tuple[InvolvementCounts, list[IndexedRecord]]:
    """Counts in the bands 0–1, 1–3, 3–6 and 6–12 months ago (they add up to the total), and the
    records of the last 12 months they count, newest first."""
    edges = [months_before(today, n) for n in (1, 3, 6, 12)]
    counts = [0, 0, 0, 0]
    recent = []
    for record in records:
        for band, edge in enumerate(edges):
            if record.record_date > edge:
                counts[band] += 1
                recent.append(record)
                break
    recent.sort(key=lambda r: (r.record_date, r.record_id), reverse=True)
    return InvolvementCounts(within_1_month=counts[0], from_1_to_3_months=counts[1], from_3_to_6_months=counts[2],
                             from_6_to_12_months=counts[3], total=sum(counts)), recent


def shown_record(record: IndexedRecord, partnership: Partnership) -> PersonRecord:
    """A record as the person view shows it; a sensitive one only by partner, date and contact."""
    organisation = partnership.organisation(record.partner)
    contact = Contact(**record.contact.model_dump())
    common = PersonRecord(record_id=None, partner=record.partner,
                          partner_name=organisation.name if organisation else record.partner, feed=record.feed,
                          record_date=record.record_date, sensitive=record.sensitive, contact=contact)
    if record.sensitive:
        return common
    return common.model_copy(update={
        "record_id": record.record_id, "case_ref": record.source_record_id, "full_name": full_name(record),
        "date_of_birth": record.dob, "full_address": full_address(record) or None,
    })


def person_view(index: IndexReading, stored: StoredSearch, person_id: str, partnership: Partnership,
                today: dt.date | None = None) -> PersonOutcome:
    """The involvement of a person the stored search returned (the caller has checked that it did)."""
    today = today or dt.datetime.now(dt.UTC).date()
    record_ids = index.person_record_ids(person_id)
    if not set(record_ids) & set(stored.people.get(person_id, ())):
        raise PersonGone(person_id)
    records = index.records(record_ids)
    counts, recent = involvement(records, today)
    open_records = sorted((r for r in records if not r.sensitive), key=lambda r: r.record_date, reverse=True)
    display = open_records[0] if open_records else max(records, key=lambda r: r.record_date)
    shown_ids = [r.record_id for r in recent]
    addresses: list[AddressHousehold] = []
    for address_id in list(dict.fromkeys(r.address_id for r in open_records if r.address_id))[:MAX_ADDRESSES]:
        here = next(r for r in open_records if r.address_id == address_id)
        others, ids = _others_at(index, address_id, person_id, stored)
        shown_ids.extend(ids)
        addresses.append(AddressHousehold(address=full_address(here), others=others))
    view = PersonView(
        person_id=person_id, search_id=stored.search_id, name=full_name(display) or "(no name recorded)",
        date_of_birth=display.dob, involvement=counts, records=[shown_record(r, partnership) for r in recent],
        addresses=addresses,
    )
    return PersonOutcome(view, list(dict.fromkeys(shown_ids)), any(r.sensitive for r in recent))


def _others_at(index: IndexReading, address_id: str, person_id: str,
               stored: StoredSearch) -> tuple[list[HouseholdMember], list[str]]:
    """Everyone else with a non-sensitive record at the address, most recent first."""
    records = index.records(index.address_record_ids(address_id)[:MAX_RECORDS_PER_ADDRESS])
    by_person: dict[str, list[IndexedRecord]] = defaultdict(list)
    for record in records:
        if record.person_id != person_id and not record.sensitive:
            by_person[record.person_id].append(record)
    members: list[HouseholdMember] = []
    ids: list[str] = []
    for other, theirs in sorted(by_person.items(), key=lambda item: latest_date(item[1]), reverse=True):
        latest = max(theirs, key=lambda r: r.record_date)
        members.append(HouseholdMember(person_id=other if other in stored.people else None,
                                       name=full_name(latest) or "(no name recorded)", date_of_birth=latest.dob,
                                       records=len(theirs)))
        ids.extend(r.record_id for r in theirs)
    return members, ids


