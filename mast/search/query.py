"""A search: a query to the possible people (or dwellings' people) it may be about, in the one ranking.

It reads the index through :class:`IndexReading` and scores with the same model and lookup keys the
link used (:mod:`mast.linkage.scorer`), so a search can never disagree with how the records were
linked. The list shows just enough to choose (name, date of birth, postcode district, band, why).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar, runtime_checkable

from rapidfuzz.distance import OSA

from mast.index.address_keys import INDEX_KEY_RULES
from mast.index.layout import KEY_BLOCK, RESIDENTS, IndexedRecord
from mast.index.reader import KeyLookup
from mast.linkage.keys import LOOKUP_KEYS
from mast.linkage.model import Model
from mast.linkage.scorer import ScoredCandidate, prepare_query, query_keys, rank_people, score_query
from mast.normalise.addresses import parse_address
from mast.normalise.postcodes import parse_postcode
from mast.normalise.text import visible
from mast.search.models import (
    MAX_PEOPLE,
    POSSIBLE_PROBABILITY,
    Band,
    PossiblePerson,
    SearchQuery,
    WhyField,
)

#: A lookup key held by more records than this is split by birth year in the index
#: (:mod:`mast.index.layout`): a search with a year reads that year's records, one without is told
#: how many share the key.
MAX_RECORDS_PER_KEY = KEY_BLOCK
#: Records read from one address for the household view (a hostel can hold hundreds): those the
#: address's item summarises.
MAX_RECORDS_PER_ADDRESS = RESIDENTS
#: Addresses an address search's keys name whose items are read beside the candidates' records (any
#: other dwelling found is read a round trip later).
ADDRESSES_AHEAD = 200
#: Address comparison levels that mean "this very dwelling".
_SAME_DWELLING = ("uprn", "home", "building")


class IndexReading(Protocol):
    """What search needs of the index (:class:`mast.index.IndexReader` is the real one)."""

    def model(self) -> Model: ...
    def key_salt(self) -> str: ...
    def lookup(self, keys: Sequence[str], year: int | None = None, *, slipped: bool = True) -> KeyLookup: ...
    def records(self, record_ids: Iterable[str]) -> list[IndexedRecord]: ...
    def person_record_ids(self, person_id: str) -> list[str]: ...
    def address_record_ids(self, address_id: str) -> list[str]: ...
    def people_record_ids(self, person_ids: Iterable[str]) -> dict[str, list[str]]: ...
    def addresses_record_ids(self, address_ids: Iterable[str]) -> dict[str, list[str]]: ...
    def person_addresses(self, person_id: str) -> list[str]: ...
    def people_at(self, address_ids: Iterable[str]) -> dict[str, list[str]]: ...


@runtime_checkable
class HouseholdSummaries(Protocol):
    """What the index's address items summarise of the records and people there (the real reader
    has it; a reader without it is read record by record)."""

    def residents(self, address_ids: Iterable[str]) -> dict[str, IndexedRecord]: ...
    def involvement(self, person_ids: Iterable[str]) -> dict[str, list[IndexedRecord]]: ...


def records_at(index: IndexReading, address_ids: Sequence[str], record_ids: Sequence[str]) -> dict[str, IndexedRecord]:
    """The records ``record_ids`` at these addresses, by id, as a household view shows them: from the
    addresses' items' summaries (no read once the items are read), and any they do not hold read."""
    held = index.residents(address_ids) if isinstance(index, HouseholdSummaries) else {}
    found = {rid: held[rid] for rid in record_ids if rid in held}
    missing = [rid for rid in record_ids if rid not in found]
    if missing:
        found.update((r.record_id, r) for r in index.records(missing))
    return found


# ------------------------------------------------------------------------------------------ search
@dataclass(frozen=True)
class FoundPerson:
    """One possible person: what the list shows, and the record ids behind it (for the audit)."""

    shown: PossiblePerson
    record_ids: tuple[str, ...]
    sensitive: bool


@dataclass(frozen=True)
class SearchOutcome:
    kind: Literal["person", "address"]
    people: list[FoundPerson]
    left_out: int
    #: the probability from which a match is strong: the live model's link threshold
    strong: float
    #: an address search: (dwelling's address, the listed people's ids there), best match first
    dwellings: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: lookup keys held by more than MAX_RECORDS_PER_KEY records, so not read: the page says so
    too_common: int = 0
    #: records holding the most common of those keys
    shared_by: int = 0
    #: a key split by birth year read for the years in ``years_read`` only: the most records of one
    #: such key born in other years (:func:`mast.index.reader.years_read`), which the page counts
    other_years: int = 0
    years_read: tuple[str, ...] = ()
    #: records under the keys read that their items left out: one year of a name held by more
    #: records than an item holds (:attr:`mast.index.reader.KeyLookup.left_out`), which the page counts
    unread: int = 0

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


def band_of(probability: float, strong: float) -> Band | None:
    """``strong`` at the live model's own link threshold (``strong``), ``possible`` from even odds."""
    if probability >= strong:
        return "strong"
    if probability >= POSSIBLE_PROBABILITY:
        return "possible"
    return None


def search(index: IndexReading, query: SearchQuery, limit: int = MAX_PEOPLE) -> SearchOutcome:
    """Every possible person the query may be about, best first (at most ``limit`` listed).

    Two reads in sequence: every key item in one call (a key split by birth year read for the
    query's year), then the candidates' records, with the model beside them (cached per version)."""
    wanted = prepare_query(linkage_query(query))  # normalised once: its keys and its scores
    salt = index.key_salt()
    keys = query_keys(wanted, salt, LOOKUP_KEYS if query.is_person_search else INDEX_KEY_RULES)
    year = query.dob.year if query.dob is not None and query.dob.year else None
    # a complete date of birth is scored, so a slipped year is read too; a partial one filters by its year
    complete = query.dob is not None and query.dob.complete
    found = index.lookup(keys, year, slipped=complete) if keys else KeyLookup()
    candidate_ids = list(dict.fromkeys(rid for ids in found.ids.values() for rid in ids))
    with ThreadPoolExecutor(3) as pool:
        model_read = pool.submit(index.model)
        # an address search: the items of the addresses its keys name, beside the candidates (the
        # dwellings found are among them, and their items say who lives there and how involved)
        ahead = pool.submit(index.addresses_record_ids, found.addresses[:ADDRESSES_AHEAD]) \
            if not query.is_person_search and found.addresses else None
        read = index.records(candidate_ids)
        model = model_read.result()
        if ahead is not None:
            ahead.result()
    candidates = [r for r in read if _dob_fits(query, r)]
    scored = score_query(model, wanted, [r.linkage_fields() for r in candidates],
                         [r.term_frequencies for r in candidates]) if candidates else []
    by_id = {r.record_id: r for r in candidates}
    kind: Literal["person", "address"] = "person" if query.is_person_search else "address"
    dwellings: list[tuple[str, list[str]]] = []
    if kind == "person":
        people = _people(scored, by_id, model.threshold, query)
    else:
        people = _people_at_addresses(index, scored, by_id, query, dwellings)
    listed = people[:limit]
    ids = {p.shown.person_id for p in listed}
    kept = tuple((address, tuple(p for p in here if p in ids)) for address, here in dwellings)
    return SearchOutcome(kind, listed, max(0, len(people) - limit), model.threshold,
                         tuple((address, here) for address, here in kept if here),
                         too_common=len(found.shared), shared_by=max(found.shared.values(), default=0),
                         other_years=found.other_years, years_read=found.years, unread=found.left_out)


T = TypeVar("T")


def together_with(first: Callable[[], T], *others: Callable[[], object]) -> T:
    """``first()``, with ``others`` run beside it on threads (reads whose answers the reader keeps,
    so a later step finds them read): the wait is the longest, not the sum. Raises what they raise."""
    with ThreadPoolExecutor(1 + len(others)) as pool:
        ahead = [pool.submit(o) for o in others]
        answer = first()
        for future in ahead:
            future.result()
    return answer


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


def _why(candidate: ScoredCandidate, query: SearchQuery | None = None,
         record: IndexedRecord | None = None) -> list[WhyField]:
    """What each field added, in words: the model's own explanation of the level, or, where the
    names themselves say it better, a sentence about them ("Bill is a form of William")."""
    return [WhyField(field=f.comparison, level=f.level,
                     explanation=_in_words(f.comparison, f.level, query, record) or f.explanation,
                     weight=round(f.weight, 2))
            for f in candidate.explanation.fields if f.level != "missing"]


#: Name levels said of the two names themselves: {level: sentence, with {record} and {query}}
_NAME_SENTENCES: Mapping[str, str] = {
    "nickname": "{record} is a form of {query}",
    "typo": "{record} is one slip from {query}",
    "nickname_slip": "{record} is a slip from a form of {query}",
    "similar": "{record} is spelt or sounds like {query}",
    "initial": "{record} may stand for {query}",
}


def _in_words(comparison: str, level: str, query: SearchQuery | None, record: IndexedRecord | None) -> str | None:
    """A name level as a sentence about the searched name and the record's (both already on the
    user's screen), or None to keep the model's explanation."""
    if query is None or record is None or level not in _NAME_SENTENCES:
        return None
    if comparison not in ("given_name", "family_name"):
        return None
    searched, held = getattr(query, comparison), getattr(record, comparison)
    if not searched or not held:
        return None
    record_name, query_name = str(held).strip().title(), str(searched).strip().title()
    if level == "initial":  # the initial is on one side: say it of the other's full name
        short, full = sorted((record_name, query_name), key=len)
        return f"{short.rstrip('.')} may stand for {full}"
    return _NAME_SENTENCES[level].format(record=record_name, query=query_name)


def _names_agree(query: SearchQuery, candidate: ScoredCandidate) -> bool:
    """The record's family name is the query's, and so is its given name (or a form of it, Bill for
    William) when the query gives one, as the model's own comparisons read them."""
    levels = {f.comparison: f.level for f in candidate.explanation.fields}
    if query.given_name and levels.get("given_name") not in ("exact", "nickname"):
        return False
    return levels.get("family_name") == "exact"


def _people(scored: Sequence[ScoredCandidate], by_id: Mapping[str, IndexedRecord], strong: float,
            query: SearchQuery | None = None) -> list[FoundPerson]:
    """The possible people, in the one ranking (:func:`mast.linkage.scorer.rank_people`), each shown
    by their best record.

    A name search (no complete date of birth, no address) also lists everyone whose names agree
    with the query (:func:`_names_agree`) however unlikely one record alone makes them: "Sarah
    Williams" must find every Sarah Williams, ranked, and "Williams" born 1993 every Williams born
    then, not only those the model is sure of. They are ``possible``. A record with only an initial
    for a given name and no date of birth is never ``strong``."""
    name_search = query is not None and not (query.dob is not None and query.dob.complete) \
        and not query.is_address_search
    person_of = {rid: record.person_id for rid, record in by_id.items()}
    people = []
    for ranked in rank_people(scored, person_of, 0.0 if name_search else POSSIBLE_PROBABILITY):
        assert query is not None or not name_search
        matched = [c for c in ranked.matched if c.probability >= POSSIBLE_PROBABILITY
                   or (name_search and query is not None and _names_agree(query, c))]
        if not matched:
            continue
        best = matched[0]  # rank_people orders each person's candidates best first
        records = [by_id[c.record_id] for c in matched]
        display = by_id[best.record_id]
        band = band_of(best.probability, strong) or "possible"
        given_level = next((f.level for f in best.explanation.fields if f.comparison == "given_name"), None)
        if band == "strong" and display.dob is None and given_level == "initial":
            band = "possible"  # "S Williams", no date of birth: could be any Sarah, Sam or Stephen
        shown = PossiblePerson(
            person_id=ranked.person_id, name=full_name(display) or "(no name recorded)",
            date_of_birth=display.dob, postcode_district=_district(records), band=band,
            probability=round(best.probability, 4), why=_why(best, query, display),
        )
        people.append(FoundPerson(shown, tuple(r.record_id for r in records), any(r.sensitive for r in records)))
    return people


def _people_at_addresses(index: IndexReading, scored: Sequence[ScoredCandidate],
                         by_id: Mapping[str, IndexedRecord], query: SearchQuery,
                         dwellings_out: list[tuple[str, list[str]]]) -> list[FoundPerson]:
    """An address search: the dwellings the query names, and everyone known at them, except anyone
    whose only records there are sensitive. ``dwellings_out`` receives each dwelling's address (from
    its newest non-sensitive record) and the people listed there."""
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
    wanted: Dwelling | None = None
    if query.address_line1:
        parsed = parse_address(query.address_line1, query.address_line2)
        wanted = (parsed.flat, parsed.number, parsed.street, query.postcode or "", "")
    # each dwelling: (its newest visible record, the best candidate there, its visible records)
    groups: list[tuple[IndexedRecord, ScoredCandidate, list[IndexedRecord]]] = []
    ranked = sorted(dwellings.items(), key=lambda item: -item[1].weight)
    # every dwelling's records from their address items (read beside the candidates), as summarised there
    dwelling_ids = [address_id for address_id, _ in ranked]
    at_ids = index.addresses_record_ids(dwelling_ids)
    read = records_at(index, dwelling_ids, [rid for address_id in dwelling_ids
                                            for rid in at_ids.get(address_id, [])[:MAX_RECORDS_PER_ADDRESS]])
    for address_id, candidate in ranked:
        at_address = [read[rid] for rid in at_ids.get(address_id, [])[:MAX_RECORDS_PER_ADDRESS] if rid in read]
        visible = sorted((r for r in at_address if not r.sensitive), key=lambda r: r.record_date, reverse=True)
        for record in visible:
            key = dwelling_of(record)
            if wanted is not None and not same_dwelling(wanted, key, any_flat=not wanted[0]):
                continue
            group = next((g for g in groups if same_dwelling(dwelling_of(g[0]), key)), None)
            if group is None:
                groups.append((record, candidate, [record]))
            else:
                group[2].append(record)
    people: list[FoundPerson] = []
    seen: set[str] = set()
    for newest, candidate, records_here in groups:
        by_person: dict[str, list[IndexedRecord]] = defaultdict(list)
        for record in records_here:
            by_person[record.person_id].append(record)
        address = next(f for f in candidate.explanation.fields if f.comparison == "address")
        why = [WhyField(field="address", level=address.level, explanation=address.explanation,
                        weight=round(address.weight, 2))]
        band: Band = "strong" if address.level in ("uprn", "home") else "possible"
        here: list[str] = []
        dwellings_out.append((full_address(newest), here))
        for person_id, open_records in sorted(by_person.items(), key=lambda item: latest_date(item[1]), reverse=True):
            here.append(person_id)
            if person_id in seen:
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


Dwelling = tuple[str, str, str, str, str]


def dwelling_of(record: IndexedRecord) -> Dwelling:
    """What tells one home from its neighbours: flat, number, street, postcode, and UPRN."""
    parsed = parse_address(record.address_line1, record.address_line2)
    postcode = parse_postcode(record.postcode).formatted or "" if record.postcode else ""
    return parsed.flat, parsed.number, parsed.street, postcode, record.uprn or ""


def same_dwelling(a: Dwelling, b: Dwelling, *, any_flat: bool = False) -> bool:
    """One home, exactly: the same property number (UPRN) when both have one; else the same flat
    (a flat is not the house of the same number), the same number, the postcodes agreeing where both
    have one, and the same street (one typing slip allowed, two letters swapped included: "Fairwoid" is Fairwood; another street
    with the same number and postcode is another dwelling). ``any_flat``: a query naming no flat
    matches every flat of the building (each still its own dwelling)."""
    if a[4] and b[4]:
        return a[4] == b[4]
    if (a[0] != b[0] and not (any_flat and not b[0])) or a[1] != b[1]:
        return False
    if a[3] and b[3] and a[3] != b[3]:
        return False
    if not (a[2] or b[2]):
        return bool(a[1] or a[0]) and a[3] == b[3] and bool(a[3])
    return a[2] == b[2] or (bool(a[2] and b[2]) and OSA.distance(a[2], b[2]) <= 1)


def latest_date(records: Sequence[IndexedRecord]) -> dt.date:
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
    """As shown, without characters that show nothing (a bidirectional override could reorder it)."""
    return visible(" ".join(p for p in (record.given_name, record.middle_name, record.family_name) if p))


def full_address(record: IndexedRecord) -> str:
    postcode = parse_postcode(record.postcode).formatted or record.postcode
    return visible(", ".join(p for p in (record.address_line1, record.address_line2, postcode) if p))


