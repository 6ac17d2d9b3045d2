"""Column-at-a-time normalisers for what the canonical record needs at ingest.

Only what storage needs happens here: blanks become nulls, titles are removed, a single name
column is split, codes are mapped, identifiers are checked. Matching-grade normalisation (case,
accents, nicknames, phonetic codes, postcode validation and formatting) belongs to
:mod:`mast.normalise`, which reads the stored values; nothing here duplicates it.

Every function takes and returns pyarrow arrays, with problems as numpy boolean masks, so a
million-row extract is handled in a handful of vectorised passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mast.normalise.identifiers import valid_nhs_digits
from mast.normalise.names import LEADING_TITLES

#: Titles removed from the front of a forename or full name (case-insensitive, dot optional): the
#: normalisation's own list (:data:`mast.normalise.names.LEADING_TITLES`), longest first.
_TITLE_RE: Final = r"(?i)^(?:(?:" + "|".join(sorted(LEADING_TITLES, key=lambda t: (-len(t), t))) + r")\.?(?:\s+|$))+"
#: Surname particles kept with the family name when splitting "Forename … Surname".
_PARTICLES: Final = r"(?i:van|von|der|den|de|da|del|della|di|du|le|la|st\.?|al|el|bin|ul|ur|ud)"
_GIVEN_FIRST_RE: Final = (
    r"^(?P<given>\S+)(?:\s+(?P<middle>.+?))??\s+(?P<family>(?:" + _PARTICLES + r"\s+)*\S+)$"
)
_FAMILY_FIRST_RE: Final = r"^(?P<family>[^,]+?)\s*,\s*(?P<rest>.*)$"
_FORENAMES_RE: Final = r"^(?P<given>\S+)(?:\s+(?P<middle>.+))?$"


def mask(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A boolean pyarrow result as a numpy mask, null as False."""
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def clean(values: pa.Array | pa.ChunkedArray, null_values: Iterable[str] = ()) -> pa.Array:
    """Trim; blank cells and the feed's null markers ("NULL") become null."""
    arr = combine(values)
    arr = pc.utf8_trim_whitespace(arr)
    blank = pc.equal(pc.utf8_length(arr), 0)
    markers = [v.casefold() for v in null_values]
    if markers:
        blank = pc.or_(blank, pc.is_in(pc.utf8_lower(arr), value_set=pa.array(markers)))
    return pc.if_else(blank, pa.scalar(None, pa.string()), arr)


def squash(values: pa.Array) -> pa.Array:
    """Runs of whitespace (line breaks inside a quoted name or address) become one space. The
    shortcut is taken only when no cell has anything to change, so a cell's result never depends
    on the other cells in its batch."""
    if len(values) == 0 or not mask(pc.match_substring_regex(values, r"\s\s|[\t\r\n\f]")).any():
        return values
    return pc.replace_substring_regex(values, r"\s+", " ")


def blank_to_null(values: pa.Array) -> pa.Array:
    values = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def strip_titles(values: pa.Array) -> pa.Array:
    """"Mrs Sarah" -> "Sarah"; a title alone becomes null."""
    return blank_to_null(pc.replace_substring_regex(values, _TITLE_RE, ""))


def join_columns(columns: list[tuple[pa.Array, str]]) -> pa.Array:
    """Several columns into one field, skipping blanks: ("12", " ") + ("Elm Road", …)."""
    out = columns[0][0]
    for values, sep in columns[1:]:
        both = pc.and_(pc.is_valid(out), pc.is_valid(values))
        joined = pc.binary_join_element_wise(out, values, sep)
        out = pc.if_else(both, joined, pc.coalesce(out, values))
    return out


def split_full_name(values: pa.Array, order: str) -> tuple[pa.Array, pa.Array, pa.Array, np.ndarray]:
    """Split a whole name into given, middle and family names, titles removed.

    ``family_first``: "SURNAME, Forename Middle"; no comma means a surname alone, unless it has
    several words, which is refused rather than guessed. ``given_first``: "Forename Middle
    Surname", surname particles (van, de, ul …) staying with the surname; a single word is a
    surname ("Mr Patel"). Returns the three arrays and a mask of names that could not be split.
    """
    values = squash(values)
    present = mask(pc.is_valid(values))
    if order == "family_first":
        parts = pc.extract_regex(values, _FAMILY_FIRST_RE)
        matched = mask(pc.is_valid(parts))
        family = pc.if_else(pa.array(matched), parts.field("family"), values)
        rest = strip_titles(pc.if_else(pa.array(matched), parts.field("rest"), pa.scalar("")))
        fore = pc.extract_regex(rest, _FORENAMES_RE)
        given = blank_to_null(fore.field("given"))
        middle = blank_to_null(fore.field("middle"))
        family = blank_to_null(family)
        one_word = ~mask(pc.match_substring_regex(values, r"\s"))
        bad = present & ~matched & ~one_word
        family = pc.if_else(pa.array(bad), pa.scalar(None, pa.string()), family)
        return given, middle, family, bad
    values = strip_titles(values)
    parts = pc.extract_regex(values, _GIVEN_FIRST_RE)
    matched = mask(pc.is_valid(parts))
    given = blank_to_null(parts.field("given"))
    middle = blank_to_null(parts.field("middle"))
    family = pc.if_else(pa.array(matched), blank_to_null(parts.field("family")), values)
    bad = np.zeros(len(values), dtype=bool)
    return (
        pc.if_else(pa.array(matched), given, pa.scalar(None, pa.string())),
        pc.if_else(pa.array(matched), middle, pa.scalar(None, pa.string())),
        family,
        bad,
    )


def map_codes(values: pa.Array, codes: Mapping[str, str]) -> tuple[pa.Array, np.ndarray]:
    """Map codes compared case-insensitively; returns the mapped values and a mask of unknowns."""
    keys = list(codes)
    idx = pc.index_in(pc.utf8_lower(values), value_set=pa.array(keys))
    out = pc.take(pa.array([codes[k] for k in keys], pa.string()), idx)
    unknown = mask(pc.is_valid(values)) & ~mask(pc.is_valid(idx))
    return out, unknown


def flags(values: pa.Array, true_values: Iterable[str], false_values: Iterable[str]) -> tuple[pa.Array, np.ndarray]:
    """Yes/no column: true values -> True, false values or blank -> False, else unknown (mask)."""
    codes = {v.casefold(): "1" for v in true_values} | {v.casefold(): "0" for v in false_values}
    mapped, unknown = map_codes(values, codes)
    out = pc.fill_null(pc.equal(mapped, "1"), False)
    return out, unknown


def postcodes(values: pa.Array) -> pa.Array:
    """Upper case, one space at most between parts. Validation is :mod:`mast.normalise`'s."""
    return squash(pc.utf8_upper(values))


def nhs_numbers(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """Spaces and hyphens removed; ten digits that pass the one NHS number rule
    (:func:`mast.normalise.identifiers.valid_nhs_digits`), else invalid."""
    digits = pc.replace_substring_regex(values, r"[\s-]", "")
    shaped = mask(pc.match_substring_regex(digits, r"^\d{10}$"))
    ok = shaped.copy()
    idx = np.flatnonzero(shaped)
    if len(idx):
        raw = pc.take(digits, pa.array(idx)).combine_chunks() if isinstance(
            digits, pa.ChunkedArray) else pc.take(digits, pa.array(idx))
        # every taken value is exactly ten ASCII digits, so the data buffer is a 10-wide matrix
        offsets = np.frombuffer(raw.buffers()[1], dtype=np.int32)[raw.offset : raw.offset + len(raw) + 1]
        data = np.frombuffer(raw.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        ok[idx] = valid_nhs_digits(data.reshape(-1, 10))
    invalid = mask(pc.is_valid(values)) & ~ok
    return pc.if_else(pa.array(ok), digits, pa.scalar(None, pa.string())), invalid


def uprns(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """A UPRN is one to twelve digits; leading zeros (a padded export) are dropped."""
    ok = mask(pc.match_substring_regex(values, r"^0*\d{1,12}$"))
    stripped = pc.replace_substring_regex(values, r"^0+(\d)", r"\1")
    invalid = mask(pc.is_valid(values)) & ~ok
    return pc.if_else(pa.array(ok), stripped, pa.scalar(None, pa.string())), invalid


_HASH_MULTIPLIER: Final = 0x9E3779B97F4A7C15  # odd, so it has an inverse modulo 2**64
_HASH_INVERSE: Final = pow(_HASH_MULTIPLIER, -1, 2**64)
_HASH_NULL: Final = np.uint64(0x6A09E667F3BCC909)


def hash64(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A 64-bit hash of each string, so that a million values can be compared as eight bytes
    each: equal strings always hash alike (nulls all hash alike); different strings rarely do, so
    a caller must still compare the strings whose hashes meet.

    The hash of bytes ``b0 b1 …`` is ``sum(b_j * P**(j+1))`` modulo 2**64, the length mixed in.
    It is computed over the whole data buffer at once: each byte is weighted by ``P`` to the power
    of its offset in the buffer, the weighted bytes summed per string, and each sum brought back
    to its string's start by ``P``'s inverse to the power of that start, so no per-byte position
    within a string is ever built."""
    arr = combine(values)
    n = len(arr)
    if n == 0:
        return np.empty(0, np.uint64)
    large = pa.types.is_large_string(arr.type) or pa.types.is_large_binary(arr.type)
    _, offsets_buf, data_buf = arr.buffers()
    offsets = np.frombuffer(offsets_buf, np.int64 if large else np.int32)[arr.offset : arr.offset + n + 1]
    lo, hi = int(offsets[0]), int(offsets[-1])
    lengths = np.diff(offsets).astype(np.int64)
    h = lengths.astype(np.uint64) * np.uint64(_HASH_MULTIPLIER)
    if hi > lo:
        weighted = np.frombuffer(data_buf, np.uint8, count=hi - lo, offset=lo).astype(np.uint64)
        weighted *= np.cumprod(np.full(hi - lo, _HASH_MULTIPLIER, np.uint64))  # P**(offset+1)
        filled = np.flatnonzero(lengths)
        starts = offsets[:-1][filled].astype(np.int64) - lo
        sums = np.add.reduceat(weighted, starts)
        del weighted
        # P**-start for each filled string: the product of P**-length over the strings before it
        inverse_of_length = np.cumprod(np.full(int(lengths.max()) + 1, _HASH_INVERSE, np.uint64))
        inverse_of_length[1:] = inverse_of_length[:-1].copy()
        inverse_of_length[0] = 1  # [P**-0, P**-1, …]
        back = np.cumprod(inverse_of_length[lengths[filled]])
        back[1:] = back[:-1].copy()
        back[0] = 1
        h[filled] += sums * back
    if arr.null_count:
        h[~mask(pc.is_valid(arr))] = _HASH_NULL
    return h


def combine(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """One array, whether the column came in one chunk or several."""
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
