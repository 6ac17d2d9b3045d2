"""Lookup keys (blocking): which records are worth comparing.

Comparing every record with every other is quadratic; instead each record gets several lookup
keys, and only records sharing a key are compared. Each :class:`KeyRule` says what a key is made
of; several rules together catch a person whose date of birth was mistyped (name keys), whose
name was misspelt (date keys), whose day and month were swapped (the swapped date is emitted into
the date keys' namespace) or whose surname changed (date + given initial).

:func:`record_keys` is the one function that makes keys, for a whole table in the batch link and
for the single row of a search, so a search finds exactly what linkage would compare. A key is a
63-bit integer built from stable hashes of the values (never the values themselves), which is
also what the DynamoDB index stores: no name or date of birth appears in a key.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mast.linkage.table import RecordTable
from mast.linkage.vocab import stable_hash
from mast.normalise.dates import MISSING_DAY

_MUL = np.uint64(0x9E3779B97F4A7C15)
_MUL2 = np.uint64(0xBF58476D1CE4E5B9)


def mix(acc: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Fold ``values`` into running 64-bit hashes ``acc`` (vectorised; same result everywhere)."""
    with np.errstate(over="ignore"):
        h = (acc ^ values.astype(np.uint64)) * _MUL
        h ^= h >> np.uint64(29)
        h *= _MUL2
        h ^= h >> np.uint64(32)
    return h


@dataclass(frozen=True)
class KeyRule:
    """A lookup key: the parts it is made of, and why it is there.

    Rules in the same ``namespace`` produce comparable keys: the date-of-birth key of one record
    meets the swapped-date key of another.
    """

    name: str
    namespace: str
    parts: tuple[str, ...]
    explanation: str
    unordered: bool = False
    #: largest block this key may form (keys in one namespace share it); None: the link's default
    max_block: int | None = None


LOOKUP_KEYS: tuple[KeyRule, ...] = (
    KeyRule("dob_family", "dob+family_initial", ("dob", "family_initial"),
            "same date of birth and family-name initial"),
    KeyRule("dob_swapped_family", "dob+family_initial", ("dob_swapped", "family_initial"),
            "date of birth with day and month exchanged, same family-name initial"),
    KeyRule("dob_given_as_family", "dob+family_initial", ("dob", "given_initial"),
            "same date of birth; the given name's initial is also keyed as a family initial, so a record whose"
            " names were typed in each other's fields (or with one name only, the surname in the given-name"
            " field) meets its other records"),
    KeyRule("dob_given", "dob+given_initial", ("dob", "given_initial"),
            "same date of birth and given-name initial (finds a changed surname)"),
    KeyRule("names_year", "names+year", ("family_phonetic", "given_initial", "birth_year"),
            "family name sounds alike, same given initial and year of birth (finds a mistyped day or month)",
            max_block=40),
    KeyRule("names_day", "names+day", ("family_phonetic", "given_initial", "birth_day_of_year"),
            "family name sounds alike, same given initial, born on the same day and month (finds a mistyped year"
            " of birth, which the year key misses)", max_block=40),
    KeyRule("names", "name_phonetics", ("given_phonetic", "family_phonetic"),
            "given and family names sound alike, either way round (finds a wrong or missing date of birth)",
            unordered=True, max_block=60),
    KeyRule("nickname_family", "nickname+family", ("given_nickname_1", "family_phonetic"),
            "given names in one nickname group (Bill / William), family name sounds alike", max_block=60),
    KeyRule("nickname2_family", "nickname+family", ("given_nickname_2", "family_phonetic"),
            "as above, for a name in a second nickname group", max_block=60),
    KeyRule("given_family_prefix", "given+family_prefix", ("given_phonetic", "family_prefix"),
            "given name sounds alike, family name starts with the same two letters (finds a typo in it)",
            max_block=25),
    KeyRule("family", "family", ("family",), "the same rare family name (common ones form blocks too large to use)",
            max_block=40),
    KeyRule("sole_name_family", "family", ("sole_name",),
            "a record with one name only (the surname typed in the given-name field) keyed by it as a family name",
            max_block=40),
    KeyRule("postcode_family", "postcode+name", ("postcode", "family_phonetic"),
            "same postcode, family name sounds alike"),
    KeyRule("postcode_given", "postcode+name", ("postcode", "given_phonetic"),
            "same postcode, given name sounds alike (finds a changed or mistyped surname); one namespace with the"
            " family name's key, so a surname typed in the given-name field meets its record too"),
    KeyRule("postcode_initial", "postcode+initial", ("postcode", "given_initial"),
            "same postcode and given-name initial (finds a given name mistyped beyond its sound: PEFCY / PERCY);"
            " not in a block of more than 20 records", max_block=20),
    KeyRule("postcode_nickname", "postcode+nickname", ("postcode", "given_nickname_1"),
            "same postcode, given names in one nickname group"),
    KeyRule("postcode_year", "postcode+year", ("postcode", "birth_year"),
            "same postcode and year of birth (finds a person whose names were both mistyped or typed in the wrong"
            " fields); not in a block of more than 20 records", max_block=20),
    KeyRule("dob_sector", "dob+sector", ("dob", "sector"),
            "same date of birth and postcode sector (finds mistyped names at a nearby or mistyped postcode)",
            max_block=20),
    KeyRule("postcode_number", "postcode+number", ("postcode", "number", "flat_or_none"),
            "same postcode, house number and flat (finds a person whose names were both mistyped or changed);"
            " not in a block of more than 20 records (a hostel, a block of flats)", max_block=20),
    KeyRule("locality_family", "locality+name", ("locality_without_postcode", "family_phonetic"),
            "a record with no postcode: same town or locality, family name sounds alike (records with a postcode"
            " meet through it instead, and keep these blocks small)", max_block=40),
    KeyRule("locality_given", "locality+name", ("locality_without_postcode", "given_phonetic"),
            "a record with no postcode: same town or locality, given name sounds alike (finds a changed or"
            " mistyped surname there); one namespace with the family name's key, as with postcodes", max_block=40),
    KeyRule("nhs", "nhs", ("nhs",), "same NHS number"),
    KeyRule("uprn_given", "uprn+given_initial", ("uprn", "given_initial"), "same property and given-name initial"),
)

#: Blocks used to train m-probabilities (see :mod:`mast.linkage.training`): each fixes one field.
TRAINING_KEYS: tuple[KeyRule, ...] = (
    KeyRule("train_dob", "train_dob", ("dob",), "same date of birth (trains every field but the date)"),
    KeyRule("train_names", "train_names", ("given", "family"),
            "same given and family name (trains the date of birth)"),
)

#: Blocks that sample pairs in a shared setting, to learn context-dependent chance agreement.
CONTEXT_KEYS: dict[str, KeyRule] = {
    "same_home": KeyRule("train_home", "train_home", ("dwelling",), "same address line"),
    "same_postcode": KeyRule("train_postcode", "train_postcode", ("postcode",), "same postcode"),
}


def _part(table: RecordTable, part: str) -> tuple[np.ndarray, np.ndarray]:
    """(values as uint64, present mask) of one key part for every record."""
    names = table.vocabs.names
    if part in ("dob", "dob_swapped"):
        days = table.dob
        present = days != MISSING_DAY
        if part == "dob_swapped":
            y, m, d = table.dob_parts()
            swappable = present & (d <= 12) & (d != m)
            # swapped date as a number yyyymmdd (validity does not matter: it only has to meet
            # another record's real date, which is valid by construction)
            value = (y.astype(np.int64) * 10000 + d * 100 + m)
            return value.astype(np.uint64), swappable
        y, m, d = table.dob_parts()
        value = y.astype(np.int64) * 10000 + m * 100 + d
        return value.astype(np.uint64), present
    if part == "birth_year":
        y = table.dob_parts()[0]
        return y.astype(np.uint64), y > 0
    if part == "birth_day_of_year":
        y, m, d = table.dob_parts()
        return (m * 100 + d).astype(np.uint64), y > 0
    if part in ("family_initial", "given_initial"):
        codes = table.family if part == "family_initial" else table.given
        initial = names.initial[np.maximum(codes, 0)] if len(names.initial) else np.zeros(len(codes), np.int32)
        return initial.astype(np.uint64), codes >= 0
    if part in ("given_nickname_1", "given_nickname_2"):
        slot = 0 if part.endswith("1") else 1
        codes = table.given
        groups = names.nick[np.maximum(codes, 0), slot] if len(names.nick) else np.full(len(codes), -1)
        return groups.astype(np.uint64), (codes >= 0) & (groups >= 0)
    if part == "family_prefix":
        codes = table.family
        hashes = names.prefix_hashes()
        value = hashes[np.maximum(codes, 0)] if len(hashes) else np.zeros(len(codes), np.int64)
        return value.astype(np.uint64), codes >= 0
    if part in ("family_phonetic", "given_phonetic"):
        codes = table.family if part == "family_phonetic" else table.given
        phon = names.phon[np.maximum(codes, 0)] if len(names.phon) else np.zeros(len(codes), np.int32)
        hashes = names.phonetics.hashes()
        value = hashes[np.maximum(phon, 0)] if len(hashes) else np.zeros(len(codes), np.int64)
        return value.astype(np.uint64), (codes >= 0) & (phon >= 0)
    if part == "sole_name":  # the given name of a record with no family name
        value, present = _part(table, "given")
        return value, present & (table.family < 0)
    if part in ("given", "family"):
        codes = getattr(table, part)
        hashes = names.hashes()
        value = hashes[np.maximum(codes, 0)] if len(hashes) else np.zeros(len(codes), np.int64)
        return value.astype(np.uint64), codes >= 0
    if part == "locality_without_postcode":
        value, present = _part(table, "locality")
        return value, present & (table.postcode < 0)
    if part in ("postcode", "sector", "dwelling", "number", "locality"):
        codes = getattr(table, part)
        hashes = table.vocabs.of(part).hashes()
        value = hashes[np.maximum(codes, 0)] if len(hashes) else np.zeros(len(table), np.int64)
        return value.astype(np.uint64), codes >= 0
    if part == "flat_or_none":
        hashes = table.vocabs.numbers.hashes()
        value = np.where(table.flat >= 0, hashes[np.maximum(table.flat, 0)] if len(hashes) else 0, 0)
        return value.astype(np.uint64), np.ones(len(table), dtype=bool)
    if part in ("nhs", "uprn"):
        column = getattr(table, part)
        return column.astype(np.uint64), column != 0
    raise KeyError(part)


def rule_keys(table: RecordTable, rule: KeyRule, salt: str,
              parts_cache: dict[str, tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Keys of every record under ``rule`` (int64, 0 where the record has no such key).

    ``salt`` (a secret held by the deployment) makes keys unguessable: without it, anyone holding
    the index could enumerate dates of birth and initials to see which keys exist. ``parts_cache``
    holds the parts already derived for other rules of the same table (many rules share parts).
    """
    values = []
    for p in rule.parts:
        if p not in parts_cache:
            parts_cache[p] = _part(table, p)
        values.append(parts_cache[p])
    present = np.ones(len(table), dtype=bool)
    for _, mask in values:
        present &= mask
    if not present.any():
        return np.zeros(len(table), dtype=np.int64)
    parts = [v for v, _ in values]
    if rule.unordered and len(parts) == 2:
        parts = [np.minimum(parts[0], parts[1]), np.maximum(parts[0], parts[1])]
    acc = np.full(len(table), np.uint64(stable_hash(salt + rule.namespace)), dtype=np.uint64)
    for v in parts:
        acc = mix(acc, v)
    keys = (acc >> np.uint64(1)).astype(np.int64) + 1  # positive, never 0
    return np.where(present, keys, 0)


def block_limits(rules: tuple[KeyRule, ...], default: int) -> np.ndarray:
    """The largest block each rule's keys may form."""
    return np.asarray([rule.max_block or default for rule in rules], dtype=np.int64)


#: Records keyed at a time. A record's keys depend on its own values alone, and keying a range at a
#: time bounds what the key parts hold while they are made (each part's values and mask, each rule's
#: hash). Meant to cut an export shard's memory that grows with the population; `mast bench capacity`
#: has not shown the cut (its two-size fit moves by a third between runs).
KEY_ROWS = 200_000


def record_keys(table: RecordTable, rules: tuple[KeyRule, ...] = LOOKUP_KEYS, salt: str = "") -> np.ndarray:
    """Every record's keys, one column per rule (N x R int64, 0 where absent), :data:`KEY_ROWS`
    records at a time."""
    n = len(table)
    keys = np.zeros((n, len(rules)), dtype=np.int64)
    for start in range(0, n, KEY_ROWS):
        part = table if n <= KEY_ROWS else table.take(np.arange(start, min(n, start + KEY_ROWS)))
        cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for column, rule in enumerate(rules):
            keys[start : start + len(part), column] = rule_keys(part, rule, salt, cache)
    return keys


def key_strings(keys_row: np.ndarray, rules: tuple[KeyRule, ...] = LOOKUP_KEYS) -> list[str]:
    """The index (DynamoDB) form of one record's keys: ``<namespace>#<hex>``; no personal data."""
    return [f"{rule.namespace}#{int(k):016x}" for rule, k in zip(rules, keys_row.tolist(), strict=True) if k]
