"""Dates of birth: parsed in each feed's format, placeholders treated as unknown, swaps offered.

Dates are carried as whole days since 1970-01-01 (``int``), so a million of them fit in a numpy
array and compare in one vectorised step. ``MISSING_DAY`` marks unknown. A placeholder such as
01/01/1900 says "not known", not "born on New Year's Day 1900": treated as a real date it would
make every record that carries it agree with every other.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

#: Sentinel for an unknown date in day-number arrays.
MISSING_DAY = -(2**31)

_EPOCH = dt.date(1970, 1, 1)

#: Dates systems write when the real one is not known.
PLACEHOLDER_DATES = frozenset(
    {
        dt.date(1900, 1, 1),
        dt.date(1899, 12, 31),
        dt.date(1899, 12, 30),
        dt.date(1800, 1, 1),
        dt.date(1901, 1, 1),
        dt.date(9999, 12, 31),
        dt.date(2999, 12, 31),
        dt.date(1111, 11, 11),
        dt.date(1, 1, 1),
    }
)

#: Earliest plausible year: the labelled benchmark data has people born in the 1600s, and a
#: record of a historical person is still a person; anything before this is a typing error.
MIN_YEAR = 1000

_FORMATS = {
    "ISO": "%Y-%m-%d",
    "DD/MM/YYYY": "%d/%m/%Y",
    "MM/DD/YYYY": "%m/%d/%Y",
    "YYYYMMDD": "%Y%m%d",
    "DDMMYYYY": "%d%m%Y",
    "MMDDYYYY": "%m%d%Y",
    "DD-MM-YYYY": "%d-%m-%Y",
    "DD.MM.YYYY": "%d.%m.%Y",
}


def to_day(value: dt.date) -> int:
    """Days since 1970-01-01."""
    return (value - _EPOCH).days


def from_day(day: int) -> dt.date | None:
    """The date of a day number; None for ``MISSING_DAY``."""
    return None if day == MISSING_DAY else _EPOCH + dt.timedelta(days=int(day))


def is_placeholder(value: dt.date) -> bool:
    """True for dates that stand for "unknown" rather than a real date."""
    return value in PLACEHOLDER_DATES or value.year < MIN_YEAR


@lru_cache(maxsize=262144)
def parse_date(value: str | None, fmt: str = "ISO") -> dt.date | None:
    """Parse ``value`` in ``fmt`` (a key of the known formats or a strptime pattern).

    Returns None for blanks, impossible dates (31/02) and placeholders. ISO input may carry a time
    part (``1984-03-02T00:00:00``), which is ignored.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    pattern = _FORMATS.get(fmt, fmt)
    if pattern == "%Y-%m-%d":
        text = text[:10]
    try:
        parsed = dt.datetime.strptime(text, pattern).date()
    except ValueError:
        return None
    return None if is_placeholder(parsed) else parsed


def swapped(value: dt.date) -> dt.date | None:
    """The date with day and month exchanged, when that is a different, valid date.

    03/04/1990 typed the American way is 04/03/1990; both readings are kept as candidates so a
    swapped record still meets its twin (lookup keys) and scores a swap level, not a mismatch.
    """
    if value.day > 12 or value.day == value.month:
        return None
    try:
        return value.replace(day=value.month, month=value.day)
    except ValueError:
        return None
