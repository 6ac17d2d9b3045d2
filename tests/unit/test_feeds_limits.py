"""Per-field limits: every canonical field has a maximum length and a character class, from the feed
definition over the defaults; a cell past either rejects its row (row number and reason on the
receipt), never the file. A header or a row past the reader's own limits quarantines the file with
the reason, and nothing crashes the ingest (issue 14, point 4)."""

from __future__ import annotations

import csv
import io
import typing

import pytest

from mast.feeds import reading
from mast.feeds.definition import (
    CHARACTER_CLASSES,
    DEFAULT_FIELD_LIMITS,
    ColumnField,
    FieldLimit,
    load_feed_definition,
)
from mast.feeds.parse import parse_extract
from mast.feeds.receipt import REJECTED_CELL_LIMIT
from tests.unit.test_feeds_parse import TODAY, good, parse, police, refs


def test_every_field_a_column_can_carry_has_a_default_limit() -> None:
    assert set(DEFAULT_FIELD_LIMITS) == set(typing.get_args(ColumnField))
    assert {limit.characters for limit in DEFAULT_FIELD_LIMITS.values()} <= set(CHARACTER_CLASSES)
    names = [DEFAULT_FIELD_LIMITS[f] for f in ("given_name", "family_name", "full_name")]
    assert all(n.characters == "name" and 50 <= n.max_length <= 300 for n in names)


def test_the_limit_comes_from_the_feed_definition_over_the_default() -> None:
    police_def = load_feed_definition("wm-police")
    assert police_def.limit_for("postcode") == DEFAULT_FIELD_LIMITS["postcode"]  # not set: the default
    own = type(police_def).model_validate({**police_def.model_dump(), "limits": {"full_name": {"max_length": 12}}})
    assert own.limit_for("full_name") == FieldLimit(max_length=12, characters="name")  # class kept
    # the same row passes under the default and is rejected under the feed's own limit
    data = police(good("A1", name='"KHAN, Imran Ali"'), good("A2", name='"LI, Bo"'))
    assert refs(parse(data)) == ["A1", "A2"]
    parsed = parse_extract(data, own, ingest_id="i", file_name="f.csv", ingest_date=TODAY)
    assert refs(parsed) == ["A2"]
    assert [(r.row, r.column, r.reason) for r in parsed.receipt.rejections] == [
        (2, "Nominal Name", "longer than 12 characters, the limit for full_name")]


def test_a_feed_may_set_another_character_class() -> None:
    police_def = load_feed_definition("wm-police")
    own = type(police_def).model_validate({**police_def.model_dump(), "limits": {"contact_team": {"characters": "code"}}})
    data = police(good("A1"), good("A2").replace(",PPU,", ",Équipe PPU,"))
    assert refs(parse(data)) == ["A1", "A2"]
    parsed = parse_extract(data, own, ingest_id="i", file_name="f.csv", ingest_date=TODAY)
    assert refs(parsed) == ["A1"]
    assert parsed.receipt.rejections[0].column == "OIC Team"


def test_a_ten_thousand_character_name_rejects_its_row_only() -> None:
    long_name = '"KHAN, ' + "Imran" * 2000 + '"'
    parsed = parse(police(good("A1"), good("A2", name=long_name), good("A3")))
    assert refs(parsed) == ["A1", "A3"]
    r = parsed.receipt
    assert r.status == "accepted_with_rejections" and r.rows_rejected == 1
    assert [(x.row, x.line, x.case_ref, x.column) for x in r.rejections] == [(3, 3, "A2", "Nominal Name")]
    assert r.rejections[0].reason == "longer than 150 characters, the limit for full_name"
    # the rejected-rows CSV names the cell, cut, not the whole of it
    rows = list(csv.DictReader(io.StringIO(parsed.rejected_csv().decode("utf-8-sig"))))
    assert len(rows) == 1 and rows[0]["row"] == "3"
    cell = rows[0]["Nominal Name"]
    assert len(cell) < REJECTED_CELL_LIMIT + 40 and cell.endswith("[cut: 10006 characters]")


def test_a_huge_cell_rejects_its_row_and_the_rest_of_the_file_is_stored() -> None:
    huge = '"' + "14 Brace Street " * 200_000 + '"'  # 3.2 MB in the address cell
    row = good("A2").replace('"14 Brace Street, Walsall"', huge)
    parsed = parse(police(good("A1"), row, good("A3")))
    assert refs(parsed) == ["A1", "A3"]
    assert [(x.row, x.column, x.reason) for x in parsed.receipt.rejections] == [
        (3, "Address", "longer than 300 characters, the limit for address_line1")]
    assert max(len(v) for v in parsed.rejected_csv().split(b"\r\n")) < 5 * REJECTED_CELL_LIMIT


@pytest.mark.parametrize(
    ("cell", "column", "reason"),
    [
        ('"KHAN, Im\x01ran"', "Nominal Name", "holds control characters (binary data?), never text"),
        ('"KHAN, Imran <script>"', "Nominal Name", "may only hold letters, spaces, apostrophes, hyphens"),
        ('"KHAN, Imran 2"', "Nominal Name", "may only hold letters"),
    ],
)
def test_control_and_foreign_characters_reject_the_row(cell: str, column: str, reason: str) -> None:
    parsed = parse(police(good("A1"), good("A2", name=cell)))
    assert refs(parsed) == ["A1"]
    (rejection,) = parsed.receipt.rejections
    assert (rejection.row, rejection.column) == (3, column) and rejection.reason.startswith(reason)


def test_names_with_accents_apostrophes_and_hyphens_pass() -> None:
    parsed = parse(police(good("A1", name='"O\'NEILL-BRÓNACH, Siobhán Marie"'), good("A2", name='"ŁUKASZ, Jan (Jack)"')))
    assert refs(parsed) == ["A1", "A2"]


def test_a_postcode_or_an_email_outside_its_class_rejects_the_row() -> None:
    bad_postcode = good("A2").replace("ws1 3ps", "ws1;3ps")
    bad_email = good("A3").replace("ppu@wmp.example", "ppu at wmp example")
    parsed = parse(police(good("A1"), bad_postcode, bad_email))
    assert refs(parsed) == ["A1"]
    assert [(x.row, x.column) for x in parsed.receipt.rejections] == [(3, "Postcode"), (4, "Team Mailbox")]


def test_a_file_that_is_one_long_line_is_quarantined_with_the_reason() -> None:
    parsed = parse(b"Z" * (reading.MAX_HEADER_BYTES + 10))  # no line break at all
    assert parsed.quarantined
    assert parsed.receipt.quarantine.startswith(f"the first row (the header) is {reading.MAX_HEADER_BYTES + 10:,} bytes")


def test_a_row_past_the_readers_limit_quarantines_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reading, "MAX_RECORD_BYTES", 100_000)
    # a quote left open swallows every row after it into one record
    rows = [good(f"A{i}") for i in range(1, 2000)]
    rows[5] = rows[5].replace('"14 Brace', '14 "Brace', 1).replace('Walsall"', "Walsall", 1)
    parsed = parse(police(*rows))
    assert parsed.quarantined
    assert "row 7 (line 7) is" in parsed.receipt.quarantine
    assert "past the reader's limit of 100,000 bytes per row" in parsed.receipt.quarantine


def test_a_field_past_pythons_csv_limit_in_a_ragged_row_is_read_not_a_crash() -> None:
    # a ragged last line of 300 KB with no newline after it: the csv module reads it (its default
    # limit is 128 KiB), the row is rejected as ragged, the others are stored
    data = police(good("A1"), good("A2")) + b"X" * 300_000
    parsed = parse(data)
    assert refs(parsed) == ["A1", "A2"]
    (rejection,) = parsed.receipt.rejections
    assert rejection.row == 4 and rejection.column == "(whole row)"


def test_every_generated_feed_row_still_passes_the_default_limits() -> None:
    import datetime as dt

    from tools.generate import generate_days

    for day in generate_days(400, seed=11, days=2, as_of=dt.date(2026, 11, 20)):
        for feed, extract in day.files.items():
            parsed = parse_extract(extract.data, load_feed_definition(feed), ingest_id="i", file_name="f",
                                   ingest_date=dt.date(2026, 11, 20))  # fmt: skip
            assert parsed.receipt.rows_rejected == len(extract.bad_rows), feed
            assert not any(r.reason.startswith(("longer than", "may only", "holds control"))
                           for r in parsed.receipt.rejections)



def test_a_seed_feed_sets_its_own_limit_in_its_yaml_and_the_spec_shows_it() -> None:
    from mast.feeds.spec import render_spec

    police_def = load_feed_definition("wm-police")
    assert police_def.limit_for("full_name") == FieldLimit(max_length=150, characters="name")
    spec = render_spec(police_def)
    assert "max chars" in spec and "Nominal Name: letters, spaces" in spec
    long_name = '"KHAN, ' + "I" * 160 + '"'
    parsed = parse(police(good("A1"), good("A2", name=long_name)))
    assert parsed.receipt.rejections[0].reason == "longer than 150 characters, the limit for full_name"
