"""UK postcodes: validated, formatted, NHS pseudo-postcodes treated as unknown.

``b13 9ss``, ``B139SS`` and ``B13  9SS`` are one postcode, ``B13 9SS``. The parts matter for
comparison: the sector (``B13 9``) holds a few thousand homes, the district (``B13``) tens of
thousands, so agreeing on them says progressively less. The NHS writes ``ZZ99 3VZ`` (no fixed
abode) and similar ``ZZ99`` codes for "not known"; they are not places and must never make two
records agree. A value that is not a UK postcode is kept only as text (``postcode_text``): it may
still be a usable local code (another country's, or a typed one with a slip), compared exactly or
by edit distance, but it never yields a sector or district.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mast.normalise.text import fold

# Outward code: A9, A99, A9A, AA9, AA99, AA9A; inward code: 9AA. GIR 0AA is Girobank's.
_UK = re.compile(r"^([A-Z]{1,2}[0-9][A-Z0-9]?)([0-9][A-Z]{2})$")
_PSEUDO_PREFIX = "ZZ99"
_MISSING = frozenset({"", "NFA", "UNKNOWN", "NK", "NONE", "NULL", "NA", "TBC", "XXX"})


@dataclass(frozen=True, slots=True)
class Postcode:
    """A normalised postcode. ``formatted`` is set only for valid UK postcodes."""

    text: str  # upper case, no spaces: what is compared when not valid
    formatted: str  # 'B13 9SS', or '' when not a valid UK postcode

    @property
    def valid(self) -> bool:
        return bool(self.formatted)

    @property
    def outward(self) -> str:
        return self.formatted.split(" ")[0] if self.formatted else ""

    @property
    def sector(self) -> str:
        return self.formatted[:-2] if self.formatted else ""

    @property
    def area(self) -> str:
        out = self.outward
        return out[: 2 if len(out) > 1 and out[1].isalpha() else 1] if out else ""

    @property
    def present(self) -> bool:
        return bool(self.text)


NO_POSTCODE = Postcode("", "")


@lru_cache(maxsize=262144)
def parse_postcode(value: str | None) -> Postcode:
    """Normalise a postcode field; pseudo-postcodes and placeholders become ``NO_POSTCODE``."""
    text = fold(value).replace(" ", "")
    if text in _MISSING or text.startswith(_PSEUDO_PREFIX):
        return NO_POSTCODE
    match = _UK.match(text)
    if match:
        return Postcode(text, f"{match.group(1)} {match.group(2)}")
    if text == "GIR0AA":
        return Postcode(text, "GIR 0AA")
    return Postcode(text, "")


def format_postcode(value: str | None) -> str | None:
    """'B13 9SS' for any spelling of a valid UK postcode; None otherwise."""
    return parse_postcode(value).formatted or None
