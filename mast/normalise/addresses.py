"""Addresses: split into flat, house number, street and locality, with common abbreviations spelt out.

Two partners rarely type an address the same way: ``Flat 2, 14a High St`` and
``2/14A HIGH STREET``. Linkage compares the parts, not the line: the same flat at the same number
in the same street and postcode is one dwelling whatever the punctuation. Street-type
abbreviations are expanded (``ST`` at the end of a street is ``STREET``; at the start, ``SAINT``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mast.normalise.text import fold

_STREET_TYPES = {
    "RD": "ROAD", "ST": "STREET", "STR": "STREET", "AVE": "AVENUE", "AV": "AVENUE", "LN": "LANE",
    "DR": "DRIVE", "DRV": "DRIVE", "CT": "COURT", "CRT": "COURT", "PL": "PLACE", "CRES": "CRESCENT",
    "CRESC": "CRESCENT", "CR": "CRESCENT", "CL": "CLOSE", "GDNS": "GARDENS", "GRDNS": "GARDENS",
    "GDN": "GARDEN", "TCE": "TERRACE", "TERR": "TERRACE", "SQ": "SQUARE", "GRV": "GROVE", "GR": "GROVE",
    "PK": "PARK", "PDE": "PARADE", "HWY": "HIGHWAY", "BLVD": "BOULEVARD", "WY": "WAY", "CIR": "CIRCLE",
    "PKWY": "PARKWAY", "MT": "MOUNT", "HTS": "HEIGHTS", "LP": "LOOP", "TRL": "TRAIL", "CTR": "CENTRE",
    "CIRC": "CIRCUIT", "APPR": "APPROACH", "ESP": "ESPLANADE", "WLK": "WALK", "MWS": "MEWS",
    "BLDGS": "BUILDINGS", "HSE": "HOUSE", "CTG": "COTTAGE", "CTGS": "COTTAGES", "FM": "FARM",
    "N": "NORTH", "S": "SOUTH", "E": "EAST", "W": "WEST", "NE": "NORTHEAST", "NW": "NORTHWEST",
    "SE": "SOUTHEAST", "SW": "SOUTHWEST",
}
_FLAT_WORDS = frozenset("FLAT FLT APARTMENT APT UNIT ROOM RM SUITE STE MAISONETTE BEDSIT".split())
_NUMBER = re.compile(r"^(\d+)([A-Z]?)$")
_NUMBER_RANGE = re.compile(r"^(\d+[A-Z]?)[-/](\d+[A-Z]?)$")
_NUMERIC_WORD = re.compile(r"^\d+(ST|ND|RD|TH)$")
_HAS_DIGIT = re.compile(r"\d")


@dataclass(frozen=True, slots=True)
class Address:
    """The parts of an address line. Empty strings mean absent."""

    flat: str
    number: str
    street: str
    locality: str

    @property
    def present(self) -> bool:
        return bool(self.number or self.street or self.flat)

    @property
    def dwelling(self) -> str:
        """Flat, number and street: what tells one home from its neighbours."""
        return " ".join(p for p in (self.flat and f"FLAT {self.flat}", self.number, self.street) if p)


NO_ADDRESS = Address("", "", "", "")


@lru_cache(maxsize=262144)
def _expand_text(words: tuple[str, ...]) -> str:
    return " ".join(_expand(list(words)))


def _expand(words: list[str]) -> list[str]:
    out: list[str] = []
    for i, word in enumerate(words):
        if word == "ST" and i == 0 and len(words) > 1:
            out.append("SAINT")
        elif word in ("N", "S", "E", "W") and 0 < i < len(words) - 1:
            out.append(word)  # an initial inside a name ("JOHN F KENNEDY"): keep as written
        else:
            out.append(_STREET_TYPES.get(word, word))
    return out


@lru_cache(maxsize=524288)
def _words(line: str | None) -> tuple[tuple[str, ...], bool]:
    """Folded words with the line's commas kept as ',' tokens (they separate street from town),
    and whether any word holds a digit."""
    out: list[str] = []
    for part in (line or "").split(","):
        words = fold(part).split()
        if words:
            if out:
                out.append(",")
            out.extend(words)
    return tuple(out), _HAS_DIGIT.search(line or "") is not None


@lru_cache(maxsize=524288)
def parse_address(line1: str | None, line2: str | None = None) -> Address:
    """Split an address into its parts.

    The first number (``14``, ``14A``) is the house number; a number after ``FLAT``/``APT``/``UNIT``
    or before a slash (``2/14``) is the flat; the words after the number are the street; a second
    line that holds no number is the locality. Ordinal street names (``145TH``) stay in the street.
    A second line alone with no number in it (``Walsall``) is only a locality: a town says where,
    not which home, so two records that name only the same town never read as one dwelling.
    """
    words1, digits1 = _words(line1)
    words2, digits2 = _words(line2)
    if not words1 and not digits2:
        return Address("", "", "", _expand_text(tuple(w for w in words2 if w != ",")))
    if words1 and not digits1 and digits2:
        # "Rose Court" / "12 High Street": the building name first, the street second.
        building, words = [w for w in words1 if w != ","], words2
    else:
        building, words = [], words1
        if words2:
            words = words1 + (",",) + words2
    flat = number = ""
    street: list[str] = []
    locality: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == ",":
            if street:  # a comma after the street starts the locality
                locality = [w for w in words[i + 1 :] if w != ","]
                break
            i += 1
            continue
        if not word[0].isdigit():
            if word in _FLAT_WORDS and i + 1 < len(words) and not flat:
                flat = words[i + 1]
                i += 2
                continue
            street.append(word)
            i += 1
            continue
        if word in _FLAT_WORDS and i + 1 < len(words) and not flat:
            flat = words[i + 1]
            i += 2
            continue
        ranged = _NUMBER_RANGE.match(word)
        if ranged and not number:
            flat, number = ranged.group(1), ranged.group(2)
            i += 1
            continue
        if _NUMBER.match(word) and not _NUMERIC_WORD.match(word) and not number and not street:
            number = word
            # "14 A HIGH STREET": a lone letter after the number belongs to it.
            if i + 1 < len(words) and len(words[i + 1]) == 1 and words[i + 1].isalpha() and i + 2 < len(words):
                number += words[i + 1]
                i += 1
            i += 1
            continue
        if _NUMBER.match(word) and not _NUMERIC_WORD.match(word) and number and not street and not flat:
            # "2 14 HIGH STREET": the first number was the flat.
            flat, number = number, word
            i += 1
            continue
        street.append(word)
        i += 1
    if building and not flat:
        flat = " ".join(building)
    return Address(flat, number, _expand_text(tuple(w for w in street if w != ",")), _expand_text(tuple(locality)))


def has_digit(line: str | None) -> bool:
    """True when the line holds a digit (a house or flat number)."""
    return line is not None and _HAS_DIGIT.search(line) is not None


@lru_cache(maxsize=262144)
def locality_of(line: str | None) -> str:
    """A line with no house number read as a locality (``Pheasey, Birmingham``)."""
    words, _ = _words(line)
    return _expand_text(tuple(w for w in words if w != ","))
