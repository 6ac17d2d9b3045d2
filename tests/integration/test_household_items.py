"""An address's household item says what the records say, after a rebuild and after each day's link
(issue 14 point 6).

A person view and an address search read, beside the person's (or the candidates') records, each
address's household item: a summary of the records there and of the involvement of everyone with
one (their partners, dates and whether a case is open), so that nobody's records are read a step
later. A day's link must keep those summaries right as records join, leave and change (a snapshot
ending a case, a delta moving everyone's address): each is checked here against the record items
themselves.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mast.index import layout
from tests.integration.test_match import aws, ingest_day, match, version_items  # noqa: F401
from tests.integration.test_match_retry import _moved_addresses


def households_agree(items: dict[tuple[str, str], dict[str, Any]]) -> int:
    """Every household item against the record items of its version; returns the summaries checked."""
    records = {layout.record_id_of(i): layout.record_from_item(i) for (_, sk), i in items.items() if sk == layout.RECORD_SK}
    theirs: dict[str, list[layout.IndexedRecord]] = defaultdict(list)
    for record in records.values():
        theirs[record.person_id].append(record)
    checked = 0
    for (pk, sk), item in items.items():
        if sk == layout.HOUSEHOLD_SK:
            assert (pk, layout.ADDRESS_SK) in items, pk  # no household without its address
        if sk != layout.ADDRESS_SK:
            continue
        address_id = pk.split("#A#", 1)[1]
        ids = layout.ids_of(item)
        assert all(records[rid].address_id == address_id for rid in ids)
        assert sorted(ids) == sorted(r.record_id for r in records.values() if r.address_id == address_id)
        household = items.get((pk, layout.HOUSEHOLD_SK), {})
        at = {rid: v["S"] for rid, v in household.get("at", {}).get("M", {}).items()}
        # every record the views read there is summarised (nothing here is near the budget), as it is now
        assert sorted(at) == sorted(ids)[:layout.RESIDENTS], pk
        assert all(text == layout.resident_summary(records[rid]) for rid, text in at.items()), pk
        inv = {p: v["S"] for p, v in household.get("inv", {}).get("M", {}).items()}
        people = {records[rid].person_id for rid in sorted(ids)[:layout.RESIDENTS]}
        expected = {p: layout.involvement_summary([layout.involvement_entry(r) for r in theirs[p] if not r.sensitive])
                    for p in people}
        assert inv == {p: text for p, text in expected.items() if text is not None}, pk
        checked += len(at) + len(inv)
    return checked


def test_household_items_say_what_the_records_say_after_each_days_link(aws: dict[str, Any]) -> None:  # noqa: F811
    first = match(aws, ingest_day(aws, 0))
    assert first.mode == "rebuild"
    assert households_agree(version_items(aws, first.version)) > 100
    for day in (1, 2):  # new records, snapshot changes (cases ending, cases opening)
        outcome = match(aws, ingest_day(aws, day))
        assert outcome.mode == "incremental" and outcome.version == first.version
        assert households_agree(version_items(aws, first.version)) > 100
    outcome = match(aws, _moved_addresses(aws))  # every police record moved to another's address
    assert outcome.mode == "incremental"
    assert households_agree(version_items(aws, first.version)) > 100
