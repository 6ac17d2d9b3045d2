"""Search: a query to the possible people it may be about; a chosen person's involvement; coverage.

This is the domain behind ``POST /api/search``, ``GET /api/people/{id}`` and ``GET /api/coverage``
(the handler in ``functions/search`` only parses, authorises, audits and shapes). It reads the index
through :class:`mast.index.IndexReader` and scores with the same model and lookup keys the link
used (:mod:`mast.linkage.scorer`), so a search can never disagree with how the records were linked.

What the practitioner sees follows DESIGN.md's security model:

* the list of possible people shows just enough to choose (name, date of birth, postcode district,
  band, why); counts and records come only after the choice, and only through the same user's
  search that returned that person (:class:`SearchStore` keeps each search for that check);
* a sensitive record shows the partner, the date and whom to contact, never a name, date of birth,
  case reference or address; and nobody whose only records at an address are sensitive is listed
  there (a refuge's address must not leak through the household view).

Bands: ``strong`` at a match probability of 0.95 or more (the linker's own link threshold),
``possible`` from 0.5 (even odds) up; below 0.5 a record is not shown.

Imports boto3, pydantic, numpy and rapidfuzz only: the search function's cold start matters.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mast.api.models import (
    MAX_PEOPLE,
    POSSIBLE_PROBABILITY,
    STRONG_PROBABILITY,
    AddressHousehold,
    Band,
    Contact,
    CoverageResponse,
    FeedCoverage,
    HouseholdMember,
    InvolvementCounts,
    PersonRecord,
    PersonView,
    PossiblePerson,
    SearchQuery,
    WhyField,
)
from mast.config import Partnership
from mast.index.address_keys import INDEX_KEY_RULES
from mast.linkage.keys import LOOKUP_KEYS
from mast.index.layout import IndexedRecord
from mast.linkage.model import Model
from mast.linkage.scorer import ScoredCandidate, query_keys, score_query
from mast.normalise.postcodes import parse_postcode

#: A lookup key held by more records than this is skipped, as the link skips blocks that large.
MAX_RECORDS_PER_KEY = 500
#: Records read from one address for the household view (a hostel can hold hundreds).
MAX_RECORDS_PER_ADDRESS = 300
#: Addresses shown in a person view (the most recent first).
MAX_ADDRESSES = 3
#: How long a search may be used to open the people it returned.
SEARCH_TTL = dt.timedelta(hours=12)
#: Address comparison levels that mean "this very dwelling".
_SAME_DWELLING = ("uprn", "home", "building")


class IndexReading(Protocol):
    """What search needs of the index (:class:`mast.index.IndexReader` is the real one)."""

    def model(self) -> Model: ...
    def key_salt(self) -> str: ...
    def record_ids_for_keys(self, keys: Sequence[str], max_per_key: int | None = None) -> dict[str, list[str]]: ...
    def records(self, record_ids: Iterable[str]) -> list[IndexedRecord]: ...
    def person_record_ids(self, person_id: str) -> list[str]: ...
    def address_record_ids(self, address_id: str) -> list[str]: ...


# ------------------------------------------------------------------------------------------ search
@dataclass(frozen=True)
class FoundPerson:
    """One possible person: what the list shows, and the record ids behind it (for the audit)."""

    shown: PossiblePerson
    record_ids: tuple[str, ...]
    sensitive: bool


@dataclass(frozen=True)
class SearchOutcome:
    kind: str  # "person" | "address"
    people: list[FoundPerson]
    left_out: int

    @property
    def record_ids(self) -> list[str]:
        return [rid for p in self.people for rid in p.record_ids]

    @property
    def sensitive(self) -> bool:
        return any(p.sensitive for p in self.people)


def linkage_query(query: SearchQuery) -> dict[str, Any]:
    """The query in the linkage columns (a partial date of birth is not scored; see :func:`_dob_fits`)."""
    dob = query.dob.as_date().isoformat() if query.dob is not None and query.dob.complete else None
    return {
        "given_name": query.given_name,
        "middle_name": query.middle_name,
        "family_name": query.family_name,
        "dob": dob,
        "address_line1": query.address_line1,
        "address_line2": query.address_line2,
        "postcode": query.postcode,
    }


def band_of(probability: float) -> Band | None:
    if probability >= STRONG_PROBABILITY:
        return "strong"
    if probability >= POSSIBLE_PROBABILITY:
        return "possible"
    return None


def search(index: IndexReading, query: SearchQuery, limit: int = MAX_PEOPLE) -> SearchOutcome:
    """Every possible person the query may be about, best first (at most ``limit`` listed)."""
    model = index.model()
    wanted = linkage_query(query)
    salt = index.key_salt()
    keys = query_keys(wanted, salt, LOOKUP_KEYS if query.is_person_search else INDEX_KEY_RULES)
    found = index.record_ids_for_keys(keys, max_per_key=MAX_RECORDS_PER_KEY) if keys else {}
    candidate_ids = list(dict.fromkeys(rid for ids in found.values() for rid in ids))
    candidates = [r for r in index.records(candidate_ids) if _dob_fits(query, r)]
    scored = score_query(model, wanted, [r.linkage_fields() for r in candidates],
                         [r.term_frequencies for r in candidates]) if candidates else []
    by_id = {r.record_id: r for r in candidates}
    if query.is_person_search:
        people = _rank_people(scored, by_id)
        kind = "person"
    else:
        people = _people_at_addresses(index, scored, by_id, query)
        kind = "address"
    return SearchOutcome(kind, people[:limit], max(0, len(people) - limit))


def _dob_fits(query: SearchQuery, record: IndexedRecord) -> bool:
    """A partial date of birth narrows the candidates: the year must agree, and the month must agree
    with the record's month or (day and month swapped) its day. A complete date is scored instead."""
    dob = query.dob
    if dob is None or dob.complete or record.dob is None:
        return True
    if dob.year is not None and record.dob.year != dob.year:
        return False
    if dob.month is not None and dob.month not in (record.dob.month, record.dob.day):
        return False
    if dob.day is not None and dob.day not in (record.dob.day, record.dob.month):
        return False
    return True


def _why(candidate: ScoredCandidate) -> list[WhyField]:
    return [WhyField(field=f.comparison, level=f.level, explanation=f.explanation, weight=round(f.weight, 2))
            for f in candidate.explanation.fields if f.level != "missing"]


def _rank_people(scored: Sequence[ScoredCandidate], by_id: Mapping[str, IndexedRecord]) -> list[FoundPerson]:
    """Group scored records by person; a person is as good as their best record. A record a guard
    fired on (a twin, a parent of the same name) never speaks for its person."""
    matched: dict[str, list[ScoredCandidate]] = defaultdict(list)
    for candidate in scored:
        if candidate.guards or band_of(candidate.probability) is None:
            continue
        matched[by_id[candidate.record_id].person_id].append(candidate)
    ranked = sorted(matched.items(), key=lambda item: (-max(c.weight for c in item[1]), item[0]))
    people = []
    for person_id, candidates in ranked:
        best = max(candidates, key=lambda c: c.weight)
        records = [by_id[c.record_id] for c in candidates]
        display = by_id[best.record_id]
        band = band_of(best.probability)
        assert band is not None
        shown = PossiblePerson(
            person_id=person_id, name=full_name(display) or "(no name recorded)", date_of_birth=display.dob,
            postcode_district=_district(records), band=band, probability=round(best.probability, 4),
            why=_why(best),
        )
        people.append(FoundPerson(shown, tuple(r.record_id for r in records), any(r.sensitive for r in records)))
    return people


def _people_at_addresses(index: IndexReading, scored: Sequence[ScoredCandidate],
                         by_id: Mapping[str, IndexedRecord], query: SearchQuery) -> list[FoundPerson]:
    """An address search: the dwellings the query names, and everyone known at them, except anyone
    whose only records there are sensitive."""
    dwellings: dict[str, ScoredCandidate] = {}
    # a postcode alone names every dwelling in it; with an address line, only that dwelling
    accepted = _SAME_DWELLING if query.address_line1 else (*_SAME_DWELLING, "postcode")
    for candidate in scored:
        record = by_id[candidate.record_id]
        level = next((f.level for f in candidate.explanation.fields if f.comparison == "address"), "missing")
        if record.address_id and level in accepted:
            previous = dwellings.get(record.address_id)
            if previous is None or candidate.weight > previous.weight:
                dwellings[record.address_id] = candidate
    people: list[FoundPerson] = []
    seen: set[str] = set()
    for address_id, candidate in sorted(dwellings.items(), key=lambda item: -item[1].weight):
        at_address = index.records(index.address_record_ids(address_id)[:MAX_RECORDS_PER_ADDRESS])
        by_person: dict[str, list[IndexedRecord]] = defaultdict(list)
        for record in at_address:
            by_person[record.person_id].append(record)
        level = next(f for f in candidate.explanation.fields if f.comparison == "address")
        why = [WhyField(field="address", level=level.level, explanation=level.explanation,
                        weight=round(level.weight, 2))]
        band: Band = "strong" if level.level in ("uprn", "home") else "possible"
        for person_id, records in sorted(by_person.items(), key=lambda item: _latest(item[1]), reverse=True):
            open_records = [r for r in records if not r.sensitive]
            if not open_records or person_id in seen:
                continue
            seen.add(person_id)
            display = max(open_records, key=lambda r: r.record_date)
            shown = PossiblePerson(
                person_id=person_id, name=full_name(display) or "(no name recorded)", date_of_birth=display.dob,
                postcode_district=_district(open_records), band=band, probability=round(candidate.probability, 4),
                why=why,
            )
            people.append(FoundPerson(shown, tuple(r.record_id for r in open_records), False))
    return people


def _latest(records: Sequence[IndexedRecord]) -> dt.date:
    return max(r.record_date for r in records)


def _district(records: Iterable[IndexedRecord]) -> str | None:
    """The outward code of the person's most recent non-sensitive postcode (none from sensitive ones)."""
    for record in sorted(records, key=lambda r: r.record_date, reverse=True):
        if not record.sensitive and record.postcode:
            outward = parse_postcode(record.postcode).outward
            if outward:
                return outward
    return None


def full_name(record: IndexedRecord) -> str:
    return " ".join(p for p in (record.given_name, record.middle_name, record.family_name) if p)


def full_address(record: IndexedRecord) -> str:
    postcode = parse_postcode(record.postcode).formatted or record.postcode
    return ", ".join(p for p in (record.address_line1, record.address_line2, postcode) if p)


# ------------------------------------------------------------------------------------- stored search
@dataclass(frozen=True)
class StoredSearch:
    """What a search returned, kept so that only its own user can open only the people it returned."""

    search_id: str
    user_sub: str
    created_at: dt.datetime
    people: dict[str, tuple[str, ...]]  # person id -> record ids the search matched
    #: the declaration the search was made under: opening a person is audited under it too
    gateway: str = ""
    purpose: str = ""

    @property
    def expired(self) -> bool:
        return dt.datetime.now(dt.UTC) >= self.created_at + SEARCH_TTL


def new_search_id() -> str:
    return "s-" + secrets.token_urlsafe(18)


class SearchStore:
    """Searches in the control table: ``SEARCH#<id>`` / ``SEARCH``, expiring with the table's TTL."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client = client

    def save(self, search: StoredSearch) -> None:
        expires = search.created_at + SEARCH_TTL
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "pk": {"S": f"SEARCH#{search.search_id}"},
                "sk": {"S": "SEARCH"},
                "user_sub": {"S": search.user_sub},
                "created_at": {"S": search.created_at.isoformat()},
                "expires_at": {"N": str(int(expires.timestamp()))},
                "people": {"S": json.dumps({p: list(r) for p, r in search.people.items()})},
                "gateway": {"S": search.gateway},
                "purpose": {"S": search.purpose or "-"},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def load(self, search_id: str) -> StoredSearch | None:
        """The search, or None when there is none (or it has expired, whatever the TTL sweeper did)."""
        item = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": f"SEARCH#{search_id}"}, "sk": {"S": "SEARCH"}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        stored = StoredSearch(
            search_id=search_id,
            user_sub=item["user_sub"]["S"],
            created_at=dt.datetime.fromisoformat(item["created_at"]["S"]),
            people={p: tuple(r) for p, r in json.loads(item["people"]["S"]).items()},
            gateway=item.get("gateway", {}).get("S", ""),
            purpose=item.get("purpose", {}).get("S", ""),
        )
        return None if stored.expired else stored


# -------------------------------------------------------------------------------------- person view
class PersonGone(LookupError):
    """The index was rebuilt since the search and this person id no longer holds its records."""


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
    common = {"partner": record.partner, "partner_name": organisation.name if organisation else record.partner,
              "feed": record.feed, "record_date": record.record_date, "sensitive": record.sensitive,
              "contact": contact}
    if record.sensitive:
        return PersonRecord(record_id=None, **common)
    return PersonRecord(record_id=record.record_id, case_ref=record.source_record_id, full_name=full_name(record),
                        date_of_birth=record.dob, full_address=full_address(record) or None, **common)


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
    members, ids = [], []
    for other, theirs in sorted(by_person.items(), key=lambda item: _latest(item[1]), reverse=True):
        latest = max(theirs, key=lambda r: r.record_date)
        members.append(HouseholdMember(person_id=other if other in stored.people else None,
                                       name=full_name(latest) or "(no name recorded)", date_of_birth=latest.dob,
                                       records=len(theirs)))
        ids.extend(r.record_id for r in theirs)
    return members, ids


# ----------------------------------------------------------------------------------------- coverage
def coverage(partnership: Partnership, control_table: str, client: Any) -> CoverageResponse:
    """Each configured feed with its state and last accepted upload (``FEED#<id>``/``STATE``), so
    that "no record" is never read as "no involvement" from a feed that is not live."""
    items: dict[str, Mapping[str, Any]] = {}
    keys = [{"pk": {"S": f"FEED#{f.id}"}, "sk": {"S": "STATE"}} for f in partnership.feeds]
    for start in range(0, len(keys), 100):
        request: dict[str, Any] = {control_table: {"Keys": keys[start : start + 100]}}
        while request:
            reply = client.batch_get_item(RequestItems=request)
            for item in reply.get("Responses", {}).get(control_table, []):
                items[item["pk"]["S"].removeprefix("FEED#")] = item
            request = reply.get("UnprocessedKeys") or {}
    feeds = []
    for feed in partnership.feeds:
        item = items.get(feed.id, {})
        state = item.get("state", {}).get("S", feed.state)
        organisation = partnership.organisation(feed.partner)
        feeds.append(FeedCoverage(
            feed=feed.id, name=feed.name, partner=feed.partner,
            partner_name=organisation.name if organisation else feed.partner,
            state=state if state in ("sample", "live") else feed.state,
            last_accepted=item.get("last_accepted", {}).get("S"),
        ))
    return CoverageResponse(feeds=feeds)
