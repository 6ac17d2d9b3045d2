"""What every pydantic boundary of MAST shares: strict models and text that can be stored and shown.

A request model refuses what cannot be meant with a message that says what is wrong; free text is
checked for what would break a store downstream (control characters, unpaired surrogates) rather
than for "dangerous" words: an injection string is just a name nobody has.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Final

from pydantic import BaseModel, ConfigDict

_BAD_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def clean_text(value: str) -> str:
    """Refuse control characters and unpaired surrogates (they cannot be stored or shown); NFC."""
    if _BAD_CHARACTERS.search(value):
        raise ValueError("contains control characters or invalid unicode")
    return unicodedata.normalize("NFC", value)


def optional_clean(value: str | None) -> str | None:
    """Blank is None; anything else stripped and :func:`clean_text` (for optional free text)."""
    return None if value is None or not value.strip() else clean_text(value.strip())


#: What a spreadsheet reads as the start of a formula (OWASP, "CSV injection"): ``=``, ``+``, ``-``, ``@``,
#: tab and carriage return. A cell MAST writes for people that starts with one of them is neutralised.
FORMULA_LEADS: Final = ("=", "+", "-", "@", "\t", "\r")
#: The same characters as a regular expression anchored at a cell's start (for column-at-a-time writers).
FORMULA_LEAD_PATTERN: Final = "^[" + re.escape("".join(FORMULA_LEADS)) + "]"
#: Put before a formula-leading cell: Excel, LibreOffice and Google Sheets show the text as written.
FORMULA_GUARD: Final = "'"


def spreadsheet_text(value: object) -> str:
    """``value`` as a CSV cell safe to open in a spreadsheet: text starting with a formula lead gets a
    leading apostrophe, so a partner's ``=HYPERLINK(…)`` or a searched name like ``=cmd|…`` is shown,
    never run. Every CSV MAST writes for people (rejected rows, audit exports) goes through this rule
    (or, a column at a time, :data:`FORMULA_LEAD_PATTERN` in :func:`mast.feeds.csvout.csv_lines`).
    Numbers and booleans are written as they are: a negative number is not a formula."""
    if value is None:
        return ""
    if isinstance(value, (bool, int, float)):
        return str(value)
    text = str(value)
    return FORMULA_GUARD + text if text.startswith(FORMULA_LEADS) else text


class StrictModel(BaseModel):
    """Frozen, no unknown fields, whitespace stripped: a boundary model."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Refused(Exception):
    """A refusal the caller can act on, with the HTTP status it maps to at the edge (``mast.api``).

    Domain code raises it (or a subclass) without knowing about HTTP beyond the status number, so
    that every handler maps refusals the same way.
    """

    status: int = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status
