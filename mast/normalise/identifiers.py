"""NHS numbers and UPRNs: checked, so a mistyped identifier is unknown rather than wrong.

An NHS number carries a modulus-11 check digit; one that fails it is a typing error and would
otherwise count as strong evidence against a match. A UPRN (Unique Property Reference Number) is up
to 12 digits. Both are returned as integers (0 for missing) so they sit in numpy arrays.
"""

from __future__ import annotations

import operator
import string

import numpy as np

_NON_DIGITS = str.maketrans("", "", "".join(chr(c) for c in range(128) if chr(c) not in string.digits))
_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)
_ZERO_SUM = 48 * sum(_WEIGHTS)


def _digits(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:
            return ""
        value = int(value)
    text = str(value).translate(_NON_DIGITS)
    return text if text.isascii() else "".join(ch for ch in text if "0" <= ch <= "9")


def _nhs_from_text(digits: str) -> int:
    """:func:`valid_nhs_digits` for one number, in plain Python (linkage calls it per distinct value,
    where numpy's per-call cost would dominate; a unit test holds the two to one answer)."""
    if len(digits) != 10 or digits == digits[0] * 10:
        return 0
    raw = digits.encode("ascii")
    total = sum(map(operator.mul, raw[:9], _WEIGHTS)) - _ZERO_SUM
    check = 11 - total % 11
    if check == 11:
        check = 0
    if check == 10 or check != raw[9] - 48:
        return 0
    return int(digits)


def valid_nhs_digits(digits: np.ndarray) -> np.ndarray:
    """The one NHS number rule, for many at once: ``digits`` is an (n, 10) array of ASCII digit bytes
    (or of digit values 0-9); True where the modulus-11 check digit holds and the number is not one
    digit repeated (``1111111111`` passes the check but is a placeholder, not a person's number).

    Ingest (:func:`mast.feeds.columns.nhs_numbers`) and linkage (:func:`nhs_number`) both call it,
    so a number the receipt accepts is a number linkage counts.
    """
    d = digits.astype(np.int64)
    if d.size and d.max() > 9:
        d = d - 48
    total = d[:, :9] @ np.asarray(_WEIGHTS, dtype=np.int64)
    check = 11 - total % 11
    check = np.where(check == 11, 0, check)
    repeated = (d == d[:, :1]).all(axis=1)
    return (check != 10) & (check == d[:, 9]) & ~repeated


def nhs_number(value: object) -> int:
    """The NHS number as an int when it has 10 digits and a valid check digit; else 0."""
    return _nhs_from_text(_digits(value))


def is_valid_nhs_number(value: object) -> bool:
    return nhs_number(value) != 0


def uprn(value: object) -> int:
    """The UPRN as an int (1 to 12 digits, not all zero); else 0."""
    digits = _digits(value)
    if not digits or len(digits) > 12:
        return 0
    return int(digits)
