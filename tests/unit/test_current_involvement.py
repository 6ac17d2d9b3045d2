"""Current involvement against the generator's truth (issue 16, point 1).

Two days of generated extracts are parsed with the feeds' own definitions and held as ingest holds
them: a snapshot feed's case missing from the second day's snapshot is end-dated that day, every
other case of a snapshot feed is open (no end date). Each record is given its true person and
dwelling from the generator's truth, so what is tested is the person view's reading of records,
not the link. Every person with an open case in the latest snapshot must be shown it as current,
"as of" that snapshot, whatever its start date; an ended case shows its end date; and the household
view says the same of each person as their own view does.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import pytest

from mast.config import load_partnership
from mast.feeds.definition import load_feed_definitions
from mast.feeds.parse import parse_extract
from mast.index.layout import IndexedRecord
from mast.index.reader import KeyLookup
from mast.linkage.model import Model
from mast.records import PartnerContact
from mast.search.coverage import FeedStatus, is_overdue
from mast.search.person import involvement, months_before, person_view
from mast.search.store import StoredSearch
from tools.generate import generate_days

AS_OF = dt.date(2025, 6, 30)
PARTNERSHIP = load_partnership()


class Held:
    """The records as the index would hold them after two days, by true person and dwelling."""

    def __init__(self) -> None:
        definitions = load_feed_definitions()
        days = generate_days(1500, 16, days=2, as_of=AS_OF)
        self.held: dict[str, IndexedRecord] = {}
        self.open_now: set[str] = set()  # record ids in the latest snapshot of a snapshot feed
        self.ended: dict[str, dt.date] = {}
        self.modes = {feed: d.mode for feed, d in definitions.items()}
        for day in days:
            for feed, extract in day.files.items():
                definition = definitions[feed]
                parsed = parse_extract(extract.data, definition, ingest_id=f"d{day.day}", file_name=extract.file_name,
                                       ingest_date=day.date)
                truth_person = extract.truth_person.tolist()
                truth_address = extract.truth_address.tolist()
                seen = set()
                for row, spreadsheet_row in zip(parsed.records.to_pylist(), parsed.source_rows.tolist(), strict=True):
                    person, address = truth_person[spreadsheet_row - 2], truth_address[spreadsheet_row - 2]
                    if person < 0 or row["withdrawn"]:
                        continue
                    seen.add(row["record_id"])
                    self.held[row["record_id"]] = self._record(row, definition.partner, feed, person, address)
                for withdrawn in parsed.withdrawals:
                    self.held.pop(withdrawn, None)
                if definition.mode == "snapshot":  # ingest end-dates what left the snapshot
                    for record_id, record in list(self.held.items()):
                        if record.feed == feed and record.end_date is None and record_id not in seen:
                            self.held[record_id] = record.model_copy(update={"end_date": day.date})
        for record_id, record in self.held.items():
            if self.modes[record.feed] == "snapshot":
                if record.end_date is None:
                    self.open_now.add(record_id)
                else:
                    self.ended[record_id] = record.end_date
        self.by_person: dict[str, list[str]] = defaultdict(list)
        self.by_address: dict[str, list[str]] = defaultdict(list)
        for record in self.held.values():
            self.by_person[record.person_id].append(record.record_id)
            self.by_address[record.address_id].append(record.record_id)

    @staticmethod
    def _record(row: dict[str, Any], partner: str, feed: str, person: int, address: int) -> IndexedRecord:
        contact = PartnerContact(name=row["contact_name"], team=row["contact_team"], phone=row["contact_phone"],
                                 email=row["contact_email"])
        return IndexedRecord(
            record_id=row["record_id"], partner=partner, feed=feed, source_record_id=row["source_record_id"],
            record_date=row["record_date"], end_date=row["end_date"], given_name=row["given_name"],
            middle_name=row["middle_name"], family_name=row["family_name"], dob=row["dob"], sex=row["sex"],
            address_line1=row["address_line1"], address_line2=row["address_line2"], postcode=row["postcode"],
            contact=contact, sensitive=bool(row["sensitive"]), ingest_id=row["ingest_id"],
            person_id=f"P{person:07d}", address_id=f"A{address:07d}" if address >= 0 else "",
        )

    # --- what the person view reads of the index (mast.search.query.IndexReading) -----------------
    def model(self) -> Model:
        raise NotImplementedError  # the person view never scores

    def key_salt(self) -> str:
        return "unused"

    def lookup(self, keys: Sequence[str], year: int | None = None, *, slipped: bool = True) -> KeyLookup:
        return KeyLookup()

    def records(self, record_ids: Iterable[str]) -> list[IndexedRecord]:
        return [self.records_by_id(r) for r in record_ids]

    def records_by_id(self, record_id: str) -> IndexedRecord:
        return self.held[record_id]

    def person_record_ids(self, person_id: str) -> list[str]:
        return list(self.by_person.get(person_id, []))

    def address_record_ids(self, address_id: str) -> list[str]:
        return list(self.by_address.get(address_id, []))

    def people_record_ids(self, person_ids: Iterable[str]) -> dict[str, list[str]]:
        return {p: self.person_record_ids(p) for p in person_ids}

    def addresses_record_ids(self, address_ids: Iterable[str]) -> dict[str, list[str]]:
        return {a: self.address_record_ids(a) for a in address_ids}

    def person_addresses(self, person_id: str) -> list[str]:
        return sorted({r.address_id for r in self.records(self.person_record_ids(person_id)) if r.address_id})

    def people_at(self, address_ids: Iterable[str]) -> dict[str, list[str]]:
        return {a: sorted({r.person_id for r in self.records(self.address_record_ids(a))}) for a in address_ids}


@pytest.fixture(scope="module")
def held() -> Held:
    return Held()


def statuses(held: Held, overdue: bool = False) -> dict[str, FeedStatus]:
    return {feed: FeedStatus(mode, AS_OF, overdue) for feed, mode in held.modes.items()}  # type: ignore[arg-type]


def opened_by_truth(held: Held, person_id: str) -> StoredSearch:
    """A stored search that returned this person (and everyone at their dwellings, so they open too)."""
    people = {p: tuple(ids) for p, ids in held.by_person.items()}
    return StoredSearch("s-test", "u-test", dt.datetime.now(dt.UTC), people)


def test_the_generated_truth_has_open_cases_started_long_ago(held: Held) -> None:
    """What makes the rest a test: cases open today that started more than 12 months ago."""
    horizon = months_before(AS_OF, 12)
    old_open = [r for r in held.open_now if held.held[r].record_date <= horizon]
    assert len(held.open_now) > 50 and len(old_open) > 10
    assert held.ended  # and cases that left the snapshot


def test_every_person_with_an_open_case_in_the_latest_snapshot_is_shown_it(held: Held) -> None:
    feeds = statuses(held)
    people = {held.held[r].person_id for r in held.open_now}
    for person_id in sorted(people):
        records = [held.held[r] for r in held.by_person[person_id]]
        _, shown = involvement(records, AS_OF, feeds)
        shown_ids = [r.record_id for r in shown]
        open_ids = {r.record_id for r in records if r.record_id in held.open_now}
        assert open_ids <= set(shown_ids), person_id
        assert set(shown_ids[: len(open_ids)]) == open_ids, "open cases come first"


def test_the_person_view_says_open_since_as_of_the_snapshot_and_ended_cases_their_end(held: Held) -> None:
    feeds = statuses(held)
    people = sorted({held.held[r].person_id for r in held.open_now})
    horizon = months_before(AS_OF, 12)
    checked_old = 0
    for person_id in people:
        view = person_view(held, opened_by_truth(held, person_id), person_id, PARTNERSHIP, AS_OF, feeds).view
        current = {r.case_ref or str(i): r for i, r in enumerate(view.records) if r.current}
        truth = [held.held[r] for r in held.by_person[person_id] if r in held.open_now]
        assert len(current) == len(truth), person_id
        for record in view.records:
            if record.current:
                assert record.as_of == AS_OF and record.end_date is None and not record.overdue
                checked_old += record.record_date <= horizon
        for record_id in held.by_person[person_id]:
            if record_id in held.ended and not held.held[record_id].sensitive:
                shown = next(r for r in view.records if r.record_id == record_id)  # ended within days
                assert shown.end_date == held.ended[record_id] and not shown.current
        open_partners = {PARTNERSHIP.organisation(r.partner).name for r in truth}  # type: ignore[union-attr]
        summary = {a.partner_name: a for a in view.agencies}
        for name in open_partners:
            assert summary[name].open_cases > 0 and summary[name].as_of == AS_OF
    assert checked_old > 10


def test_an_overdue_feed_flags_its_open_cases(held: Held) -> None:
    person_id = held.held[sorted(held.open_now)[0]].person_id
    view = person_view(held, opened_by_truth(held, person_id), person_id, PARTNERSHIP, AS_OF,
                       statuses(held, overdue=True)).view
    assert [r.overdue for r in view.records if r.current] and all(r.overdue for r in view.records if r.current)
    assert is_overdue(AS_OF - dt.timedelta(days=2), 1, AS_OF) and not is_overdue(AS_OF - dt.timedelta(days=1), 1, AS_OF)
    assert not is_overdue(AS_OF - dt.timedelta(days=6), 7, AS_OF) and is_overdue(None, 1, AS_OF)


def test_the_household_says_of_each_person_what_their_own_view_says(held: Held) -> None:
    feeds = statuses(held)
    compared = 0
    for person_id in sorted({held.held[r].person_id for r in held.open_now})[:150]:
        view = person_view(held, opened_by_truth(held, person_id), person_id, PARTNERSHIP, AS_OF, feeds).view
        for address in view.addresses:
            for other in address.others:
                assert other.person_id is not None
                theirs = person_view(held, opened_by_truth(held, other.person_id), other.person_id, PARTNERSHIP,
                                     AS_OF, feeds).view
                visible = [r for r in theirs.records if not r.sensitive]
                assert set(other.open_now) == {r.partner_name for r in visible if r.current}
                assert set(other.agencies) == {r.partner_name for r in visible}
                assert other.records == len(visible)
                compared += 1
    assert compared > 20


def test_the_name_and_date_of_birth_are_those_most_records_agree_on_with_the_variants_listed(held: Held) -> None:
    """Point 2: not the newest record's (a typo, a swapped date), but the most agreed, and who differs."""
    from collections import Counter

    checked = 0
    for person_id, record_ids in sorted(held.by_person.items()):
        visible = [held.held[r] for r in record_ids if not held.held[r].sensitive]
        dobs = Counter(r.dob for r in visible if r.dob is not None)
        if len(dobs) < 2 or len(visible) < 3:
            continue
        (top, top_count), (_, second_count) = dobs.most_common(2)
        if top_count == second_count:
            continue
        view = person_view(held, opened_by_truth(held, person_id), person_id, PARTNERSHIP, AS_OF,
                           statuses(held)).view
        assert view.date_of_birth == top
        assert {v.value for v in view.dob_variants} == {d.isoformat() for d in dobs}
        assert sum(v.records for v in view.dob_variants) == sum(dobs.values())
        summary_partners = {a.partner for a in view.agencies}
        assert summary_partners == {r.partner for r in view.records}
        checked += 1
    assert checked >= 2  # (three people in this generated town)


class Few:
    """A handful of records under one address id, as a link that merged dwellings would leave them."""

    def __init__(self, records: list[IndexedRecord]) -> None:
        self.by_id = {r.record_id: r for r in records}

    def model(self) -> Model:
        raise NotImplementedError

    def key_salt(self) -> str:
        return "unused"

    def lookup(self, keys: Sequence[str], year: int | None = None, *, slipped: bool = True) -> KeyLookup:
        return KeyLookup()

    def records(self, record_ids: Iterable[str]) -> list[IndexedRecord]:
        return [self.by_id[r] for r in record_ids if r in self.by_id]

    def person_record_ids(self, person_id: str) -> list[str]:
        return [r.record_id for r in self.by_id.values() if r.person_id == person_id]

    def address_record_ids(self, address_id: str) -> list[str]:
        return [r.record_id for r in self.by_id.values() if r.address_id == address_id]

    def people_record_ids(self, person_ids: Iterable[str]) -> dict[str, list[str]]:
        return {p: self.person_record_ids(p) for p in person_ids}

    def addresses_record_ids(self, address_ids: Iterable[str]) -> dict[str, list[str]]:
        return {a: self.address_record_ids(a) for a in address_ids}

    def person_addresses(self, person_id: str) -> list[str]:
        return sorted({r.address_id for r in self.records(self.person_record_ids(person_id)) if r.address_id})

    def people_at(self, address_ids: Iterable[str]) -> dict[str, list[str]]:
        return {a: sorted({r.person_id for r in self.records(self.address_record_ids(a))}) for a in address_ids}


def _at(record_id: str, person: str, given: str, family: str, line1: str, postcode: str) -> IndexedRecord:
    return IndexedRecord(record_id=f"wm-police:{record_id}", partner="wm-police", feed="wm-police",
                         source_record_id=record_id, record_date=AS_OF - dt.timedelta(days=20), given_name=given,
                         family_name=family, address_line1=line1, address_line2="Walsall", postcode=postcode,
                         ingest_id="i", person_id=person, address_id="A-merged")


def test_the_household_is_the_exact_dwelling_never_a_flat_of_the_house_nor_another_street() -> None:
    """Point 3, the cases of the issue: Flat 1, 27 Fern Close is not 27 Fern Close; 5 Conc Street is
    not 5 Open Road though they share the postcode; a typing slip in the street is the same home."""
    index = Few([
        _at("1", "dylan", "DYLAN", "MORRIS", "27 Fern Close", "WS1 2AB"),
        _at("2", "amir", "AMIR", "HUSSAIN", "Flat 1, 27 Fern Close", "WS1 2AB"),
        _at("3", "mum", "JO", "MORRIS", "27 Fern Clsoe", "WS1 2AB"),
        _at("4", "lena", "LENA", "OPEN", "5 Open Road", "WS1 3PS"),
        _at("5", "conc", "CARL", "CONC", "5 Conc Street", "WS1 3PS"),
        _at("6", "aisha", "AISHA", "HUSSAIN", "Flat 1 27 Fern Close", "WS12AB"),
    ])
    stored = StoredSearch("s", "u", dt.datetime.now(dt.UTC), {p: ("x",) for p in
                                                               ("dylan", "amir", "lena", "conc", "mum", "aisha")})
    feeds = {"wm-police": FeedStatus("delta", AS_OF)}

    def others(person: str) -> set[str]:
        view = person_view(index, stored, person, PARTNERSHIP, AS_OF, feeds).view
        return {o.person_id or "" for a in view.addresses for o in a.others}

    stored = StoredSearch("s", "u", dt.datetime.now(dt.UTC), {p: tuple(index.person_record_ids(p)) for p in
                                                               ("dylan", "amir", "lena", "conc", "mum", "aisha")})
    assert others("dylan") == {"mum"}
    assert others("amir") == {"aisha"}
    assert others("lena") == set() and others("conc") == set()


def test_coverage_says_which_feeds_are_snapshots_and_which_are_overdue() -> None:
    """Point 9: a feed whose last data is older than its cadence (daily by default) is overdue."""
    from mast.search.coverage import coverage, feed_statuses

    today = dt.date(2026, 12, 4)
    states = {"walsall-adults": "2026-12-04", "walsall-children": "2026-12-01T06:00:00+00:00",
              "wm-police": "2026-12-03"}

    class Control:
        def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803 - boto3's name
            keys = RequestItems["control"]["Keys"]
            items = [{"pk": k["pk"], "last_accepted": {"S": states[k["pk"]["S"][5:]]}} for k in keys
                     if k["pk"]["S"][5:] in states]
            return {"Responses": {"control": items}}

    covered = {f.feed: f for f in coverage(PARTNERSHIP, "control", Control(), today).feeds}
    assert covered["walsall-adults"].mode == "snapshot" and not covered["walsall-adults"].overdue
    assert covered["walsall-children"].overdue  # three days old, due daily
    assert covered["wm-police"].mode == "delta" and not covered["wm-police"].overdue  # yesterday's
    assert covered["wm-fire"].overdue  # never sent
    statuses_ = feed_statuses(coverage(PARTNERSHIP, "control", Control(), today))
    assert statuses_["walsall-children"] == FeedStatus("snapshot", dt.date(2026, 12, 1), True)
