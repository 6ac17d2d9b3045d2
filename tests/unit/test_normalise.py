"""Normalisation: names, dates, postcodes, addresses and identifiers read one way whatever the typing."""

from __future__ import annotations

import datetime as dt

import pytest

from mast.normalise import (
    are_nicknames,
    fold,
    format_postcode,
    name_parts,
    nhs_number,
    nickname_groups,
    parse_address,
    parse_date,
    parse_postcode,
    phonetic,
    swapped,
    uprn,
)
from mast.normalise.phonetic import nysiis


def test_fold_strips_accents_case_and_punctuation() -> None:
    assert fold("  Zoë  O'Brien-Smith ") == "ZOE OBRIEN SMITH"
    assert fold("Ælfred Straße") == "AELFRED STRASSE"
    assert fold(None) == ""


def test_names_drop_titles_suffixes_and_placeholders() -> None:
    parts = name_parts("Mrs. Zoë Ann", None, "O'Brien-Smith Jr")
    assert (parts.given, parts.middle, parts.family) == ("ZOE", "ANN", "OBRIEN SMITH")
    assert name_parts("Dr", "", "Smith").given == ""
    assert name_parts("Unknown", None, "Baby").family == ""
    assert name_parts("Mary-Jane", "Louise", "Smith").middle == "JANE LOUISE"


def test_nickname_groups() -> None:
    assert are_nicknames("BILL", "WILLIAM")
    assert are_nicknames("KATE", "CATHERINE")
    assert are_nicknames("PEGGY", "MARGARET")
    assert not are_nicknames("JOHN", "IAN")  # brothers are often John and Ian
    assert not are_nicknames("WILLIAM", "WILLIAM")
    assert len(nickname_groups("ALEX")) >= 2  # ALEXANDER and ALEXANDRA


def test_phonetic_code() -> None:
    assert nysiis("SMITH") == nysiis("SMYTH")
    assert nysiis("JOHNSON") == nysiis("JONSON")
    assert nysiis("MACDONALD") == nysiis("MCDONALD")
    assert nysiis("BROWN") != nysiis("GREEN")
    assert phonetic("MC DONALD") == phonetic("MCDONALD")


def test_dates_placeholders_and_swaps() -> None:
    assert parse_date("1984-03-02") == dt.date(1984, 3, 2)
    assert parse_date("02/03/1984", "DD/MM/YYYY") == dt.date(1984, 3, 2)
    assert parse_date("03021984", "MMDDYYYY") == dt.date(1984, 3, 2)
    assert parse_date("1900-01-01") is None  # "not known", not a birthday
    assert parse_date("31/02/1984", "DD/MM/YYYY") is None
    assert parse_date("") is None
    assert swapped(dt.date(1984, 3, 2)) == dt.date(1984, 2, 3)
    assert swapped(dt.date(1984, 3, 3)) is None
    assert swapped(dt.date(1984, 3, 25)) is None


@pytest.mark.parametrize("raw", ["B13 9SS", "b13 9ss", "B139SS", " b 13 9ss ", "b13  9SS"])
def test_postcode_spellings_agree(raw: str) -> None:
    assert format_postcode(raw) == "B13 9SS"
    assert parse_postcode(raw).sector == "B13 9"


def test_postcodes_unknown_and_invalid() -> None:
    assert not parse_postcode("ZZ99 3VZ").present  # NHS "no fixed abode"
    assert not parse_postcode("NFA").present
    other = parse_postcode("4223")
    assert other.present and not other.valid and other.sector == ""
    assert format_postcode("EC1A1BB") == "EC1A 1BB"


def test_address_parts() -> None:
    a = parse_address("Flat 2, 14a High St", "Walsall")
    assert (a.flat, a.number, a.street, a.locality) == ("2", "14A", "HIGH STREET", "WALSALL")
    assert parse_address("2/14A HIGH STREET").dwelling == a.dwelling
    b = parse_address("Rose Court", "12 High Street")
    assert (b.flat, b.number, b.street) == ("ROSE COURT", "12", "HIGH STREET")
    c = parse_address("22 church ln, bloxwich")
    assert (c.number, c.street, c.locality) == ("22", "CHURCH LANE", "BLOXWICH")
    assert parse_address("St Johns Rd").street.startswith("SAINT")


def test_a_town_alone_is_a_locality_not_a_home() -> None:
    """A record whose only address is its town must not read as living in a dwelling called the town:
    everyone else recorded in Walsall would be its household."""
    town = parse_address(None, "Brownhills, Walsall")
    assert (town.flat, town.number, town.street, town.dwelling) == ("", "", "", "")
    assert town.locality == parse_address("8 Lock Lane", "Brownhills, Walsall").locality == "BROWNHILLS WALSALL"
    assert parse_address(None, "12 High Street").dwelling == "12 HIGH STREET"


def test_identifiers() -> None:
    assert nhs_number("943 476 5919") == 9434765919
    assert nhs_number("9434765918") == 0  # bad check digit: unknown, not a different person
    assert nhs_number("0000000000") == 0
    assert uprn("100071234567") == 100071234567
    assert uprn("") == 0


# --- one normalisation: ingest and linkage read names and NHS numbers by the same rules ----------
def test_ingest_and_linkage_agree_on_every_nhs_number() -> None:
    """One rule: a number the receipt accepts is one linkage counts, and the other way round. Before,
    ingest kept 1111111111 (it passes the check digit) while linkage read it as missing."""
    import random

    import numpy as np
    import pyarrow as pa

    from mast.feeds.columns import nhs_numbers
    from mast.normalise.identifiers import nhs_number, valid_nhs_digits

    rng = random.Random(7)
    values = ["1111111111", "0000000000", "9434765919", "943 476 5919", "9434765918", "123"]
    values += ["".join(rng.choice("0123456789") for _ in range(10)) for _ in range(3000)]
    kept, invalid = nhs_numbers(pa.array(values))
    for value, stored, bad in zip(values, kept.to_pylist(), invalid.tolist(), strict=True):
        assert (stored is not None) == (nhs_number(value) != 0), value
        assert bad == (stored is None), value
    assert nhs_numbers(pa.array(["1111111111"]))[0].to_pylist() == [None]
    digits = np.frombuffer("".join(v for v in values if len(v) == 10 and v.isdigit()).encode(), np.uint8)
    vector = valid_nhs_digits(digits.reshape(-1, 10)).tolist()
    assert vector == [nhs_number(v) != 0 for v in values if len(v) == 10 and v.isdigit()]


def test_ingest_removes_the_titles_linkage_removes_and_keeps_titles_that_are_given_names() -> None:
    """One list of titles (mast.normalise.names): "Capt" was kept by ingest and dropped by linkage;
    "Queen", a given name too, is kept by both (ingest cannot tell it from a title)."""
    import pyarrow as pa

    from mast.feeds.columns import strip_titles
    from mast.normalise.names import LEADING_TITLES, TITLES, clean_given

    stripped = strip_titles(pa.array(["Capt John", "Mrs. Sarah", "Queen", "Queen Ruth", "Dr", "Earl"])).to_pylist()
    assert stripped == ["John", "Sarah", "Queen", "Queen Ruth", None, "Earl"]
    assert LEADING_TITLES <= TITLES
    assert clean_given("Capt John")[0] == clean_given("John")[0]
