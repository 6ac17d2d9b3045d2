"""Ingest keeps state, not history: an upload's versions are compared with the feed's current state,
and only the new, changed, ended and withdrawn ones are changes (issue 14, point 3)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from mast.feeds.definition import load_feed_definition
from mast.feeds.parse import RECORD_SCHEMA, parse_extract
from mast.feeds.supersede import changed_versions, next_state

HEADER = "ChildID\tFirstName\tLastName\tDOB\tAddressLine1\tPostCode\tEpisodeStartDate\n"


def snapshot(rows: list[str], ingest_id: str) -> pa.Table:
    data = (HEADER + "".join(r + "\n" for r in rows)).encode()
    parsed = parse_extract(data, load_feed_definition("walsall-children"), ingest_id=ingest_id, file_name="f",
                           ingest_date=dt.date(2025, 6, 30))  # fmt: skip
    return parsed.records


def ids(table: pa.Table) -> list[str]:
    return table.column("record_id").to_pylist()


def test_only_new_and_changed_versions_are_changes() -> None:
    day1 = snapshot(["C1\tAmy\tBell\t2015-03-01\t1 Elm Road\tWS1 1AA\t2025-01-01",
                     "C2\tBen\tCole\t2015-03-02\t2 Elm Road\tWS1 1AA\t2025-01-01",
                     "C3\tCal\tDunn\t\t3 Elm Road\tWS1 1AA\t2025-01-01"], "i1")  # fmt: skip
    day2 = snapshot(["C1\tAmy\tBell\t2015-03-01\t1 Elm Road\tWS1 1AA\t2025-01-01",  # same details: not a change
                     "C2\tBen\tCole\t2015-03-02\t9 Oak Road\tWS1 1AA\t2025-01-01",  # moved: a change
                     "C3\tCal\tDunn\t\t3 Elm Road\tWS1 1AA\t2025-01-01",  # same, with nulls on both sides: not a change
                     "C4\tDee\tEyre\t2015-03-04\t4 Elm Road\tWS1 1AA\t2025-02-01"], "i2")  # new: a change
    changed = changed_versions(day2, day1)
    assert [rid for rid, c in zip(ids(day2), changed, strict=True) if c] == ["walsall-children:C2",
                                                                              "walsall-children:C4"]
    assert changed_versions(day1, day1).tolist() == [False] * 3
    assert changed_versions(day1, RECORD_SCHEMA.empty_table()).tolist() == [True] * 3


def test_an_end_date_or_a_withdrawal_is_a_change_and_a_reopened_record_too() -> None:
    day1 = snapshot(["C1\tAmy\tBell\t2015-03-01\t1 Elm Road\tWS1 1AA\t2025-01-01"], "i1")
    ended = day1.set_column(day1.schema.get_field_index("end_date"), "end_date",
                            pa.array([dt.date(2025, 6, 30)], pa.date32()))  # fmt: skip
    withdrawn = day1.set_column(day1.schema.get_field_index("withdrawn"), "withdrawn", pa.array([True]))
    assert changed_versions(ended, day1).tolist() == [True]
    assert changed_versions(withdrawn, day1).tolist() == [True]
    assert changed_versions(day1, ended).tolist() == [True]  # back in the snapshot: reopened


def test_the_next_state_replaces_each_record_by_its_newest_version_and_keeps_the_rest() -> None:
    day1 = snapshot(["C1\tAmy\tBell\t2015-03-01\t1 Elm Road\tWS1 1AA\t2025-01-01",
                     "C2\tBen\tCole\t2015-03-02\t2 Elm Road\tWS1 1AA\t2025-01-01"], "i1")  # fmt: skip
    day2 = snapshot(["C2\tBen\tCole\t2015-03-02\t9 Oak Road\tWS1 1AA\t2025-01-01",
                     "C4\tDee\tEyre\t2015-03-04\t4 Elm Road\tWS1 1AA\t2025-02-01"], "i2")  # fmt: skip
    state = next_state(day1, day2)
    rows = {r["record_id"]: r for r in state.to_pylist()}
    assert sorted(rows) == ["walsall-children:C1", "walsall-children:C2", "walsall-children:C4"]
    assert rows["walsall-children:C1"]["ingest_id"] == "i1"
    assert rows["walsall-children:C2"]["address_line1"] == "9 Oak Road" and rows["walsall-children:C2"]["ingest_id"] == "i2"
    assert state.schema == RECORD_SCHEMA
