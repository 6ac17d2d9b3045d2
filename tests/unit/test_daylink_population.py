"""The day's link works on the whole population by column (issue 15: a day's link at a million
records): these hold the column-wise versions to the plain loops they replaced."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from typing import Any

import numpy as np

from mast.linkage.report import linkage_report
from mast.linkage.table import prepare_records


def _report_by_loop(sources: list[str], people: list[str], addresses: list[str], threshold: int = 3) -> dict[str, Any]:
    """The linkage report as it was counted before, one record at a time (the reference)."""
    by_person: dict[str, set[str]] = defaultdict(set)
    places: dict[str, set[str]] = defaultdict(set)
    records_at: dict[str, int] = defaultdict(int)
    for s, person, address in zip(sources, people, addresses, strict=True):
        by_person[person].add(s)
        if address:
            places[address].add(s)
            records_at[address] += 1
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    per_source: dict[str, int] = defaultdict(int)
    for partners in by_person.values():
        for a, b in combinations(sorted(partners), 2):
            pairs[(a, b)] += 1
        for s in partners:
            per_source[s] += 1
    repeats = np.asarray(list(records_at.values()) or [0])
    return {"records": len(sources), "people": len(by_person), "addresses": len(places),
            "people_per_partner": dict(sorted(per_source.items())),
            "people_shared_between_partners": [{"partners": [a, b], "people": n} for (a, b), n in sorted(pairs.items())],
            "people_known_to_more_than_one_partner": sum(1 for p in by_person.values() if len(p) > 1),
            "addresses_with_more_than_one_partner": sum(1 for p in places.values() if len(p) > 1),
            "addresses_with_repeated_records": int((repeats >= threshold).sum()), "repeat_threshold": threshold}


def test_the_linkage_report_counts_by_column_what_the_loop_counted() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    # a partner literally called "unknown" beside records with no partner: both count as "unknown"
    partner_names = ["police", "nhs", "fire", "unknown", "children", "Adult care", "zeta"]
    sources = [partner_names[k] if k < len(partner_names) else None
               for k in rng.integers(0, len(partner_names) + 1, n).tolist()]
    rows = [{"record_id": f"r{i}", "source": s} for i, s in enumerate(sources)]
    table = prepare_records(rows, compute_tf=False)
    people = [f"P-{k:016x}" for k in rng.integers(0, 900, n).tolist()]
    addresses = ["" if k == 0 else f"A-{k:016x}" for k in rng.integers(0, 500, n).tolist()]
    expected = _report_by_loop([s or "unknown" for s in sources], people, addresses)
    assert expected["people_known_to_more_than_one_partner"] > 100  # the pairs are exercised
    assert linkage_report(table, people, addresses) == expected
    assert linkage_report(table, np.asarray(people, dtype=object), np.asarray(addresses, dtype=object)) == expected


def test_the_linkage_report_of_records_without_addresses_or_partners() -> None:
    table = prepare_records([{"record_id": "a"}, {"record_id": "b"}], compute_tf=False)
    report = linkage_report(table, ["P-1", "P-1"], ["", ""])
    assert report == _report_by_loop(["unknown", "unknown"], ["P-1", "P-1"], ["", ""])
    assert report["addresses"] == 0 and report["people_per_partner"] == {"unknown": 1}
    empty = linkage_report(prepare_records([], compute_tf=False), [], [])
    assert empty == _report_by_loop([], [], [])
    assert empty["people_shared_between_partners"] == [] and empty["people_per_partner"] == {}


def test_the_saved_state_is_looked_up_by_column_and_by_record() -> None:
    import pyarrow as pa
    import pytest

    from mast.index.linking import SavedState

    state = SavedState(pa.table({"record_id": ["a", "b", "c"], "person_id": ["P-1", "P-1", "P-2"]}))
    ids = pa.array(["c", "x", "a", "b"])
    assert state.held(ids).tolist() == [True, False, True, True]
    assert state.people_of(pa.chunked_array([["c"], ["a", "b"]])).tolist() == ["P-2", "P-1", "P-1"]
    with pytest.raises(KeyError):
        state.people_of(ids)  # "x" is not held: never a person made up for it
    assert "a" in state and "x" not in state and state["c"] == "P-2"
    assert list(state) == ["a", "b", "c"] and len(state) == 3


def test_a_uprn_names_the_dwelling_and_the_rest_are_hashed_or_blank() -> None:
    from mast.linkage.link import address_ids

    table = prepare_records([
        {"record_id": "a", "uprn": "100023336956", "postcode": "B13 9SS", "address_line1": "14 High Street"},
        {"record_id": "b", "uprn": "5"},
        {"record_id": "c", "postcode": "B13 9SS", "address_line1": "14 High Street"},
        {"record_id": "d"},
    ], compute_tf=False)
    ids = address_ids(table)
    assert ids.tolist()[:2] == ["A-U100023336956", "A-U5"]
    assert all(isinstance(i, str) for i in ids.tolist())
    assert ids[2].startswith("A-") and not ids[2].startswith("A-U") and ids[3] == ""
