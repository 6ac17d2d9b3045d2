"""Text folding shared by every normaliser.

Partners type names and addresses in every case, with accents or without, with stray punctuation.
Matching needs one spelling per value, so everything is folded the same way before it is compared
or hashed: accents removed (``Zoë`` and ``Zoe`` are one name), upper case, apostrophes dropped
(``O'Brien`` is ``OBRIEN``), every other non-alphanumeric character a space.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_NON_ALNUM = re.compile(r"[^A-Z0-9 ]+")
_SPACES = re.compile(r"\s+")
_APOSTROPHES = str.maketrans("", "", "'’‘`´")

#: Letters NFKD does not decompose into a base letter plus a mark.
_SPECIAL = str.maketrans({"ß": "SS", "Æ": "AE", "æ": "AE", "Ø": "O", "ø": "O", "Œ": "OE",
                          "œ": "OE", "Đ": "D", "đ": "D", "Ł": "L", "ł": "L", "Þ": "TH", "þ": "TH"})


_ASCII_MAP: dict[str, str | None] = {chr(c): " " for c in range(128) if not chr(c).isalnum() and chr(c) not in "'`"}
_ASCII_KEEP = str.maketrans({**_ASCII_MAP, "'": None, "`": None})


@lru_cache(maxsize=262144)
def fold(value: str | None) -> str:
    """Fold ``value`` to upper-case ASCII words separated by single spaces ('' when empty).

    Cached: the same names and streets recur across millions of rows.
    """
    if not value:
        return ""
    if value.isascii():  # the common case: no accents to strip
        return " ".join(value.translate(_ASCII_KEEP).upper().split())
    text = value.translate(_SPECIAL).translate(_APOSTROPHES)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).upper()
    text = _NON_ALNUM.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def is_blank(value: object) -> bool:
    """True for None, NaN and strings that hold nothing once stripped."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value  # NaN
    return isinstance(value, str) and not value.strip()
