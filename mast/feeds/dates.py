"""Dates in a feed's own format, parsed a column at a time.

pyarrow's ``strptime`` rolls impossible dates over (31/02/2020 becomes 2 March), which would store
a wrong date of birth without a word. So the format becomes a regular expression, the parts are
checked against the calendar with numpy, and an impossible date is rejected with its own reason.
A time after the date ("14/03/2025 22:15", "2025-03-14T22:15:00") is accepted and ignored: many
systems export dates as date-times at midnight.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_TIME_SUFFIX: Final = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
_MONTHS: Final = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS_IN_MONTH: Final = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def date_pattern(date_format: str) -> str:
    """An anchored RE2 pattern with groups ``y``, ``m`` (or ``mon``) and ``d``."""
    out = []
    for token in re.findall(r"YYYY|MON|MM|DD|.", date_format):
        if token == "YYYY":
            out.append(r"(?P<y>\d{4})")
        elif token == "MM":
            out.append(r"(?P<m>\d{1,2})")
        elif token == "MON":
            out.append(r"(?P<mon>[A-Za-z]{3})")
        elif token == "DD":
            out.append(r"(?P<d>\d{1,2})")
        else:
            out.append(re.escape(token))
    return "^" + "".join(out) + _TIME_SUFFIX + "$"


@dataclass(frozen=True)
class ParsedDates:
    """``values`` (date32, null where blank or wrong); ``malformed`` and ``impossible`` are numpy
    masks over the input (a blank cell is neither)."""

    values: pa.Array
    malformed: np.ndarray
    impossible: np.ndarray


def parse_dates(values: pa.Array, date_format: str) -> ParsedDates:
    """Parse a string column (blanks already null) in ``date_format`` (e.g. ``DD/MM/YYYY``)."""
    n = len(values)
    present = _mask(pc.is_valid(values))
    parts = pc.extract_regex(values, date_pattern(date_format))
    matched = _mask(pc.is_valid(parts))
    malformed = present & ~matched
    y = _ints(parts.field("y"), matched)
    d = _ints(parts.field("d"), matched)
    if "MON" in date_format:
        idx = pc.index_in(pc.utf8_lower(parts.field("mon")), value_set=pa.array(_MONTHS))
        m = np.asarray(pc.fill_null(idx, -1).to_numpy(zero_copy_only=False), np.int64) + 1
        malformed |= matched & (m == 0)
    else:
        m = _ints(parts.field("m"), matched)
    ok_month = (m >= 1) & (m <= 12)
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    dim = _DAYS_IN_MONTH[np.clip(m - 1, 0, 11)] + ((m == 2) & leap)
    real = ok_month & (d >= 1) & (d <= dim) & (y >= 1)
    impossible = matched & ~malformed & ~real
    good = matched & ~malformed & real
    months = np.where(good, (y - 1970) * 12 + (m - 1), 0).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + np.where(good, d - 1, 0).astype("timedelta64[D]")
    out = pa.array(days, type=pa.date32(), mask=~good) if n else pa.array([], pa.date32())
    return ParsedDates(values=out, malformed=malformed, impossible=impossible)


def _ints(strings: pa.Array, matched: np.ndarray) -> np.ndarray:
    filled = pc.if_else(pa.array(matched), strings, pa.scalar("0"))
    filled = pc.if_else(pc.equal(filled, ""), pa.scalar("0"), filled)
    return np.asarray(pc.cast(filled, pa.int64()).to_numpy(zero_copy_only=False), np.int64)


def _mask(values: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)
