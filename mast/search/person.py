"""The person view: a chosen person's involvement in the last 12 months, whom to call, and the others
at their addresses; a sensitive record shows only partner, date and contact."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mast.config import Partnership
from mast.index.layout import IndexedRecord
from mast.schema import Refused
from mast.search.coverage import FeedStatus, feed_modes
from mast.search.models import (
    AddressHousehold,
    AgencySummary,
    Contact,
    HouseholdMember,
    InvolvementCounts,
    PersonRecord,
    PersonView,
    Variant,
)
from mast.search.query import (
    MAX_RECORDS_PER_ADDRESS,
    HouseholdSummaries,
    IndexReading,
    dwelling_of,
    full_address,
    full_name,
    latest_date,
    records_at,
    same_dwelling,
    together_with,
)
from mast.search.store import StoredSearch

#: Addresses shown in a person view (the most recent first).
MAX_ADDRESSES = 3
#: A person's addresses whose items are read beside the person's records (the homes shown are among
#: them; any other home is read a round trip later).
MAX_ADDRESS_READ = 20
#: Others at an address whose whole involvement is read (a hostel's hundredth resident shows only
#: their records there).
MAX_OTHERS = 30

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
    #: the others the view lists at the person's dwellings, with their record ids there: they join
    #: the stored search, so each opens with one click under the same declaration
    household: dict[str, tuple[str, ...]] = field(default_factory=dict)


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` calendar months earlier (the month's last day when it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def is_current(record: IndexedRecord, feeds: Mapping[str, FeedStatus]) -> bool:
    """An open case in its feed's latest snapshot. Ingest end-dates a case the day it leaves the
    snapshot, so a snapshot feed's record with no end date is in the latest one, however long ago
    it started (a case opened two years ago and still open is involvement now)."""
    status = feeds.get(record.feed)
    return status is not None and status.mode == "snapshot" and record.end_date is None


def involvement_date(record: IndexedRecord) -> dt.date:
    """The day a record last showed involvement: an ended case's end, otherwise its own date."""
    return record.end_date if record.end_date is not None and record.end_date > record.record_date \
        else record.record_date


def _counts(dated: Iterable[dt.date], today: dt.date) -> InvolvementCounts:
    edges = [months_before(today, n) for n in (1, 3, 6, 12)]
    counts = [0, 0, 0, 0]
    for day in dated:
        band = next((b for b, edge in enumerate(edges) if day > edge), None)
        if band is not None:
            counts[band] += 1
    return InvolvementCounts(within_1_month=counts[0], from_1_to_3_months=counts[1], from_3_to_6_months=counts[2],
                             from_6_to_12_months=counts[3], total=sum(counts))


def involvement(records: Iterable[IndexedRecord], today: dt.date,
                feeds: Mapping[str, FeedStatus] | None = None) -> tuple[InvolvementCounts, list[IndexedRecord]]:
    """Counts in the bands 0–1, 1–3, 3–6 and 6–12 months ago (they add up to the total), and the
    records shown: every current case (:func:`is_current`) whatever its start, open cases first,
    then the records of the last 12 months, newest first.

    A record is dated by :func:`involvement_date` (an ended case by its end), so a case closed last
    week after three years is in the first band; a current case is counted in the band of its
    start, and listed even when that is more than 12 months ago (the bands are about when; "open
    now" is said by the record itself)."""
    feeds = feed_modes() if feeds is None else feeds
    horizon = months_before(today, 12)
    shown = [r for r in records if is_current(r, feeds) or involvement_date(r) > horizon]
    counts = _counts((involvement_date(r) for r in shown), today)
    shown.sort(key=lambda r: (is_current(r, feeds), involvement_date(r), r.record_id), reverse=True)
    return counts, shown


def shown_record(record: IndexedRecord, partnership: Partnership,
                 feeds: Mapping[str, FeedStatus] | None = None) -> PersonRecord:
    """A record as the person view shows it; a sensitive one only by partner, dates and contact."""
    feeds = feed_modes() if feeds is None else feeds
    organisation = partnership.organisation(record.partner)
    contact = Contact(**record.contact.model_dump())
    current = is_current(record, feeds)
    status = feeds.get(record.feed)
    common = PersonRecord(record_id=None, partner=record.partner,
                          partner_name=organisation.name if organisation else record.partner, feed=record.feed,
                          record_date=record.record_date, sensitive=record.sensitive, contact=contact,
                          current=current, as_of=status.as_of if current and status else None,
                          overdue=bool(current and status and status.overdue), end_date=record.end_date)
    if record.sensitive:
        return common
    return common.model_copy(update={
        "record_id": record.record_id, "case_ref": record.source_record_id, "full_name": full_name(record),
        "date_of_birth": record.dob, "full_address": full_address(record) or None,
    })


def agency_summaries(shown: Sequence[PersonRecord], today: dt.date) -> list[AgencySummary]:
    """Per partner: open cases (since when, as of which snapshot), the last involvement, the bands
    and whom to call, each contact once; partners with a case open now first."""
    by_partner: dict[str, list[PersonRecord]] = defaultdict(list)
    for view in shown:
        by_partner[view.partner].append(view)
    summaries = []
    for partner, views in by_partner.items():
        current = [v for v in views if v.current]
        dated = [v.end_date if v.end_date and v.end_date > v.record_date else v.record_date for v in views]
        contacts = list({c.model_dump_json(): c for c in (v.contact for v in views)}.values())
        summaries.append(AgencySummary(
            partner=partner, partner_name=views[0].partner_name, open_cases=len(current),
            open_since=min((v.record_date for v in current), default=None),
            as_of=max((v.as_of for v in current if v.as_of), default=None),
            overdue=any(v.overdue for v in current), last_involvement=max(dated, default=None),
            involvement=_counts(dated, today), contacts=contacts,
        ))
    summaries.sort(key=lambda s: (s.open_cases == 0, -(s.last_involvement or dt.date.min).toordinal()))
    return summaries


def variants(records: Sequence[IndexedRecord], partnership: Partnership) -> tuple[
        str | None, dt.date | None, list[Variant], list[Variant]]:
    """The name and date of birth most of the person's non-sensitive records agree on (ties: the
    newest record's), and, when records differ, every variant with the partners holding it."""
    ordered = sorted(records, key=lambda r: (r.record_date, r.record_id), reverse=True)
    names: dict[str, list[IndexedRecord]] = defaultdict(list)
    dobs: dict[dt.date, list[IndexedRecord]] = defaultdict(list)
    for record in ordered:
        written = full_name(record)
        if written:
            names[" ".join(written.upper().split())].append(record)
        if record.dob is not None:
            dobs[record.dob].append(record)

    def partners(held: list[IndexedRecord]) -> list[str]:
        out = []
        for record in held:
            organisation = partnership.organisation(record.partner)
            out.append(organisation.name if organisation else record.partner)
        return list(dict.fromkeys(out))

    # dicts keep first-seen order (newest record first), and max keeps the first of equals
    agreed = max(names, key=lambda n: len(names[n])) if names else None
    name = full_name(names[agreed][0]) if agreed else None  # as the newest of those records writes it
    dob = max(dobs, key=lambda d: len(dobs[d])) if dobs else None
    name_variants = [Variant(value=full_name(h[0]), records=len(h), partners=partners(h)) for h in names.values()]
    dob_variants = [Variant(value=d.isoformat(), records=len(h), partners=partners(h)) for d, h in dobs.items()]
    name_variants.sort(key=lambda v: -v.records)
    dob_variants.sort(key=lambda v: -v.records)
    return (name, dob, name_variants if len(name_variants) > 1 else [],
            dob_variants if len(dob_variants) > 1 else [])


def person_view(index: IndexReading, stored: StoredSearch, person_id: str, partnership: Partnership,
                today: dt.date | None = None, feeds: Mapping[str, FeedStatus] | None = None) -> PersonOutcome:
    """The involvement of a person the stored search returned (the caller has checked that it did).

    ``feeds``: each feed's mode and latest data (:func:`mast.search.coverage.feed_statuses`); when
    not given, the feed definitions' modes with no snapshot date."""
    today = today or dt.datetime.now(dt.UTC).date()
    feeds = feed_modes() if feeds is None else feeds
    record_ids = index.person_record_ids(person_id)
    if not set(record_ids) & set(stored.people.get(person_id, ())):
        raise PersonGone(person_id)
    # the person's records, with their addresses' items beside them (named by the person's item)
    records = together_with(lambda: index.records(record_ids),
                            lambda: index.addresses_record_ids(index.person_addresses(person_id)[:MAX_ADDRESS_READ]))
    counts, recent = involvement(records, today, feeds)
    open_records = sorted((r for r in records if not r.sensitive), key=lambda r: r.record_date, reverse=True)
    display = open_records[0] if open_records else max(records, key=lambda r: r.record_date)
    name, dob, name_variants, dob_variants = variants(open_records, partnership)
    shown_ids = [r.record_id for r in recent]
    addresses: list[AddressHousehold] = []
    household: dict[str, tuple[str, ...]] = {}
    # the person's dwellings, newest first: one dwelling however many address ids the link gave it
    homes: list[tuple[IndexedRecord, list[str]]] = []
    for record in open_records:
        if not record.address_id:
            continue
        home = next((h for h in homes if same_dwelling(dwelling_of(h[0]), dwelling_of(record))), None)
        if home is None:
            homes.append((record, [record.address_id]))
        elif record.address_id not in home[1]:
            home[1].append(record.address_id)
    # every home's records, and everyone else's involvement there, as the homes' items summarise them
    # (read beside the person's records); what they do not hold is read
    home_ids = [a for _, address_ids in homes[:MAX_ADDRESSES] for a in address_ids]
    at_ids = index.addresses_record_ids(home_ids)
    at_records = records_at(index, home_ids, [rid for ids in at_ids.values() for rid in ids[:MAX_RECORDS_PER_ADDRESS]])
    here_by_home = [(here, [at_records[rid] for a in address_ids for rid in at_ids.get(a, [])[:MAX_RECORDS_PER_ADDRESS]
                            if rid in at_records]) for here, address_ids in homes[:MAX_ADDRESSES]]
    ranked_by_home = [(here, _ranked_others(here, records_there)) for here, records_there in here_by_home]
    wanted_others = list(dict.fromkeys(other for _, ranked in ranked_by_home for other, _ in ranked[:MAX_OTHERS]))
    involved = involved_partners(index, wanted_others, partnership, today, feeds)
    for here, ranked in ranked_by_home:
        others, ids, here_people = _others_at(ranked, involved, partnership, today, feeds)
        shown_ids.extend(ids)
        household.update(here_people)
        addresses.append(AddressHousehold(address=full_address(here), others=others))
    shown = [shown_record(r, partnership, feeds) for r in recent]
    view = PersonView(
        person_id=person_id, search_id=stored.search_id, name=name or full_name(display) or "(no name recorded)",
        date_of_birth=dob if open_records else display.dob, name_variants=name_variants, dob_variants=dob_variants,
        agencies=agency_summaries(shown, today), involvement=counts, records=shown, addresses=addresses,
    )
    return PersonOutcome(view, list(dict.fromkeys(shown_ids)), any(r.sensitive for r in recent), household)


def _ranked_others(here: IndexedRecord, records: Iterable[IndexedRecord]) -> list[tuple[str, list[IndexedRecord]]]:
    """Everyone else with a non-sensitive record at this very dwelling (a flat is not the house, nor
    another street's 5), with their records there, most recent first."""
    person_id, home = here.person_id, dwelling_of(here)
    by_person: dict[str, list[IndexedRecord]] = defaultdict(list)
    for record in records:
        if record.person_id != person_id and not record.sensitive and same_dwelling(home, dwelling_of(record)):
            by_person[record.person_id].append(record)
    return sorted(by_person.items(), key=lambda item: latest_date(item[1]), reverse=True)


def _others_at(ranked: Sequence[tuple[str, list[IndexedRecord]]], involved: Mapping[str, Involved],
               partnership: Partnership, today: dt.date,
               feeds: Mapping[str, FeedStatus]) -> tuple[list[HouseholdMember], list[str], dict[str, tuple[str, ...]]]:
    """Everyone else with a non-sensitive record at the address (:func:`_ranked_others`), each with the
    partners involved in the same window as the person's (open cases, and the last 12 months), from
    all their non-sensitive records (``involved``: a sensitive one elsewhere, a refuge's, is never
    hinted at); past :data:`MAX_OTHERS`, from their records here."""
    members: list[HouseholdMember] = []
    ids: list[str] = []
    household: dict[str, tuple[str, ...]] = {}
    for other, theirs in ranked:
        latest = max(theirs, key=lambda r: r.record_date)
        # all their (non-sensitive) records, wherever: what their own view would show of them
        agencies, open_now, window = involved.get(other) or _involved(theirs, partnership, today, feeds)
        members.append(HouseholdMember(
            person_id=other, name=full_name(latest) or "(no name recorded)", date_of_birth=latest.dob,
            records=len(window), agencies=agencies, open_now=open_now,
        ))
        ids.extend(r.record_id for r in theirs)
        household[other] = tuple(r.record_id for r in theirs)
    return members, ids, household


Involved = tuple[list[str], list[str], list[str]]


def _involved(records: Iterable[IndexedRecord], partnership: Partnership, today: dt.date,
              feeds: Mapping[str, FeedStatus]) -> Involved:
    """The partners involved in the person view's window (names), those with a case open now, and
    the record ids behind them; from non-sensitive records only."""
    _, window = involvement([r for r in records if not r.sensitive], today, feeds)

    def name(partner: str) -> str:
        organisation = partnership.organisation(partner)
        return organisation.name if organisation else partner

    return (list(dict.fromkeys(name(r.partner) for r in window)),
            list(dict.fromkeys(name(r.partner) for r in window if is_current(r, feeds))),
            [r.record_id for r in window])


def involved_partners(index: IndexReading, person_ids: Sequence[str], partnership: Partnership, today: dt.date,
                      feeds: Mapping[str, FeedStatus] | None = None) -> dict[str, Involved]:
    """For each person, :func:`_involved` over all their records: what the household view and an
    address search show beside a name, the same as that person's own view would say."""
    feeds = feed_modes() if feeds is None else feeds
    # as the address items read summarise them (no read); anyone else from their records
    held = index.involvement(person_ids) if isinstance(index, HouseholdSummaries) else {}
    rest = [p for p in person_ids if p not in held]
    theirs = index.people_record_ids(rest) if rest else {}  # one read of their items, one of their records
    records = index.records([rid for person in rest for rid in theirs.get(person, [])]) if rest else []
    by_person: dict[str, list[IndexedRecord]] = {p: list(held.get(p, [])) for p in person_ids}
    for record in records:
        if record.person_id in by_person and record.person_id not in held:
            by_person[record.person_id].append(record)
    return {person: _involved(theirs, partnership, today, feeds) for person, theirs in by_person.items()}
