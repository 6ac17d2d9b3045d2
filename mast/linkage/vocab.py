"""Vocabularies: every distinct string once, records carry integer codes.

A million records hold perhaps fifty thousand distinct given names. Comparing codes is one numpy
operation; comparing strings is a Python loop. So each field's values are interned in a
:class:`Vocab` (string -> int code, ``-1`` for missing), and anything derived from a value (its
phonetic code, nickname groups, a stable hash for lookup keys) is computed once per distinct value
and stored beside it. Vocabularies only grow, so an incremental link can add new values without
renumbering the ones already indexed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np

from mast.normalise.names import name_key, near_nickname_groups, nickname_groups, phonetic

MISSING = -1
#: Nickname groups kept per name: enough for names in several groups (ALEX, CHRIS; BERT is in seven).
NICK_SLOTS = 8
#: Tokens kept per multi-word name (double-barrelled family names).
TOKEN_SLOTS = 3


def stable_hash(value: str) -> int:
    """A 63-bit hash of ``value`` that is the same in every process and on every machine.

    Lookup keys are built from these, so a key computed by the search function equals the key the
    batch link wrote to the index. Python's ``hash`` is salted per process and cannot be used.
    """
    return int.from_bytes(hashlib.blake2b(value.encode("utf-8"), digest_size=8).digest(), "little") >> 1


class Vocab:
    """Interned strings of one domain (names, postcodes, streets …)."""

    def __init__(self, name: str, values: Iterable[str] = ()) -> None:
        self.name = name
        self.values: list[str] = []
        self.index: dict[str, int] = {}
        self._hashes = np.empty(0, dtype=np.int64)
        self._spaceless: list[str] = []
        self._letters: dict[bool, LetterSets] = {}
        for value in values:
            self.code(value)

    def __len__(self) -> int:
        return len(self.values)

    def code(self, value: str) -> int:
        """The code of ``value``, adding it if new; ``MISSING`` for ''."""
        if not value:
            return MISSING
        found = self.index.get(value)
        if found is None:
            found = len(self.values)
            self.index[value] = found
            self.values.append(value)
        return found

    def lookup(self, value: str) -> int:
        """The code of ``value`` without adding it (``MISSING`` when unknown)."""
        return self.index.get(value, MISSING) if value else MISSING

    def encode(self, values: Sequence[str]) -> np.ndarray:
        """Codes of many values at once (int32)."""
        code = self.code
        return np.fromiter((code(v) for v in values), dtype=np.int32, count=len(values))

    def hashes(self) -> np.ndarray:
        """Stable hashes of every value, index-aligned with the codes (int64, non-negative)."""
        if len(self._hashes) < len(self.values):
            extra = np.fromiter(
                (stable_hash(f"{self.name}:{v}") for v in self.values[len(self._hashes):]),
                dtype=np.int64,
                count=len(self.values) - len(self._hashes),
            )
            self._hashes = np.concatenate([self._hashes, extra])
        return self._hashes

    def spaceless(self) -> list[str]:
        """Every value with its spaces removed, index-aligned with the codes (made once per value, not
        once per comparison: a slip often moves a space, ``VICTORIAKTREET``)."""
        source = self.comparable()
        self._spaceless.extend(v.replace(" ", "") for v in source[len(self._spaceless):])
        return self._spaceless

    def comparable(self) -> list[str]:
        """The form of each value that string similarities compare."""
        return self.values

    def letter_sets(self, spaceless: bool = False) -> LetterSets:
        """The letters of each value's comparable form (or spaceless form), index-aligned with the
        codes: what :meth:`mast.linkage.predicates.PairContext.similarity` bounds a metric with before
        it spends a string comparison on a pair. Extended as values are added."""
        strings = self.spaceless() if spaceless else self.comparable()
        known = self._letters.get(spaceless, LetterSets.of([]))
        if len(known.length) < len(strings):
            known = known.extended(LetterSets.of(strings[len(known.length):]))
            self._letters[spaceless] = known
        return known

    def strings(self, codes: np.ndarray) -> list[str]:
        """Strings of ``codes`` ('' for missing)."""
        values = self.values
        return [values[c] if c >= 0 else "" for c in codes.tolist()]

    # ------------------------------------------------------------------ shards
    #: columns of :meth:`columns` holding codes of this same vocabulary (kept together, and renumbered,
    #: when a shard keeps some of the rows: see :func:`mast.linkage.table.select_rows`)
    CODE_COLUMNS: tuple[str, ...] = ()

    def columns(self) -> dict[str, list[str] | np.ndarray]:
        """This vocabulary as plain columns, one row per code, with what is derived from each value
        carried along: a shard of a sharded link keeps the rows its records use and rebuilds the
        vocabulary with :meth:`from_columns` without normalising anything again."""
        return {"value": self.values}

    @classmethod
    def from_columns(cls, name: str, columns: dict[str, list[str] | np.ndarray]) -> Vocab:
        """The vocabulary :meth:`columns` wrote (its codes are the rows' positions)."""
        vocab = cls(name)
        vocab.values = list(columns["value"])
        vocab.index = {v: i for i, v in enumerate(vocab.values)}
        return vocab


class LetterSets:
    """Which letters each string holds, as a 64-bit mask (a letter's code point modulo 64 names its
    bit), with its length and how many bits its mask sets.

    Two strings share at most ``popcount(a & b) + min(len_a - bits_a, len_b - bits_b)`` letters,
    counted with repeats (each shared bit once, and no more repeats than either string has):
    whatever letters fold onto one bit, it is an upper bound, and from it an upper bound on how
    alike the two can be under an edit distance or Jaro-Winkler. Most pairs of different names share
    too few letters to pass a threshold, and are settled without comparing their strings."""

    def __init__(self, mask: np.ndarray, length: np.ndarray, bits: np.ndarray) -> None:
        self.mask, self.length, self.bits = mask, length, bits

    @classmethod
    def of(cls, strings: Sequence[str]) -> LetterSets:
        length = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
        mask = np.zeros(len(strings), dtype=np.uint64)
        points = np.frombuffer("".join(strings).encode("utf-32-le"), dtype=np.uint32)
        if points.size:
            letters = np.left_shift(np.uint64(1), (points & 63).astype(np.uint64))
            filled = length > 0
            mask[filled] = np.bitwise_or.reduceat(letters, (np.cumsum(length) - length)[filled])
        return cls(mask, length, np.bitwise_count(mask).astype(np.int64))

    def extended(self, more: LetterSets) -> LetterSets:
        return LetterSets(np.concatenate([self.mask, more.mask]), np.concatenate([self.length, more.length]),
                          np.concatenate([self.bits, more.bits]))

    def shared(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per pair of codes: at most how many letters (with repeats) ``x`` and ``y`` share, and their
        two lengths."""
        lx, ly = self.length[x], self.length[y]
        at_most = np.bitwise_count(self.mask[x] & self.mask[y]).astype(np.int64)
        at_most += np.minimum(lx - self.bits[x], ly - self.bits[y])
        return np.minimum(at_most, np.minimum(lx, ly)), lx, ly


class NameVocab(Vocab):
    """Names, with what comparisons need derived once per name.

    Given, middle and family names share one vocabulary so that "this record's given name is the
    other's middle name" is a comparison of two integers.
    """

    def __init__(self, name: str = "name") -> None:
        super().__init__(name)
        self.phonetics = Vocab(f"{name}.phonetic")
        self.phon = np.empty(0, dtype=np.int32)
        self.nick = np.empty((0, NICK_SLOTS), dtype=np.int32)
        self.initial = np.empty(0, dtype=np.int32)
        self.length = np.empty(0, dtype=np.int32)
        self.tokens = np.empty((0, TOKEN_SLOTS), dtype=np.int32)
        self.compact: list[str] = []
        #: nickname groups of table names one slip away (given names only; computed on demand)
        self.near = np.empty((0, NICK_SLOTS), dtype=np.int32)
        self._near_done = np.empty(0, dtype=bool)

    CODE_COLUMNS = ("tokens",)  # a multi-word name's words are names too

    def columns(self) -> dict[str, list[str] | np.ndarray]:
        self.refresh()
        codes = np.arange(len(self.values), dtype=np.int64)
        phonetics = self.phonetics.values
        return {"value": self.values, "phonetic": [phonetics[p] for p in self.phon.tolist()],
                "compact": self.compact, "nick": self.nick, "initial": self.initial, "length": self.length,
                "tokens": self.tokens, "near": _fill_rows(self.near, codes),
                "near_done": _fill_rows(self._near_done[:, None], codes)[:, 0]}

    @classmethod
    def from_columns(cls, name: str, columns: dict[str, list[str] | np.ndarray]) -> NameVocab:
        vocab = cls(name)
        vocab.values = list(columns["value"])
        vocab.index = {v: i for i, v in enumerate(vocab.values)}
        code = vocab.phonetics.code
        vocab.phon = np.fromiter((code(p) for p in columns["phonetic"]), dtype=np.int32, count=len(vocab.values))
        vocab.compact = list(columns["compact"])
        vocab.nick = np.asarray(columns["nick"], dtype=np.int32).reshape(-1, NICK_SLOTS)
        vocab.initial = np.asarray(columns["initial"], dtype=np.int32)
        vocab.length = np.asarray(columns["length"], dtype=np.int32)
        vocab.tokens = np.asarray(columns["tokens"], dtype=np.int32).reshape(-1, TOKEN_SLOTS)
        vocab.near = np.asarray(columns["near"], dtype=np.int32).reshape(-1, NICK_SLOTS)
        vocab._near_done = np.asarray(columns["near_done"], dtype=bool)
        return vocab

    def refresh_near(self, codes: np.ndarray) -> None:
        """Fill :attr:`near` for the names ``codes`` refers to (those used as given names)."""
        self.refresh()
        size = len(self.values)
        if len(self.near) < size:
            grow = size - len(self.near)
            self.near = np.concatenate([self.near, np.full((grow, NICK_SLOTS), MISSING, np.int32)])
            self._near_done = np.concatenate([self._near_done, np.zeros(grow, bool)])
        wanted = np.unique(codes[codes >= 0]) if len(codes) else codes
        todo = wanted[~self._near_done[wanted]] if len(wanted) else wanted
        for code in todo.tolist():
            groups = near_nickname_groups(self.values[code])[:NICK_SLOTS]
            if groups:
                self.near[code, : len(groups)] = groups
        self._near_done[todo] = True

    def comparable(self) -> list[str]:
        self.refresh()
        return self.compact

    def prefix_hashes(self) -> np.ndarray:
        """Stable hashes of each name's first two letters (run together)."""
        cached = getattr(self, "_prefix", np.empty(0, np.int64))
        self.refresh()
        if len(cached) < len(self.values):
            extra = np.fromiter((stable_hash("prefix:" + c[:2]) for c in self.compact[len(cached):]), dtype=np.int64,
                                count=len(self.values) - len(cached))
            cached = np.concatenate([cached, extra])
            self._prefix = cached
        return cached

    def refresh(self) -> None:
        """Derive phonetic code, nickname groups, initial and tokens for values added since."""
        start = len(self.phon)
        if start == len(self.values):
            return
        # Tokens are names too: intern them first (this may append more values, handled in turn).
        token_rows: list[list[int]] = []
        i = start
        while i < len(self.values):
            words = self.values[i].split(" ")
            row = [self.code(w) for w in words[:TOKEN_SLOTS]] if len(words) > 1 else [i]
            token_rows.append(row + [MISSING] * (TOKEN_SLOTS - len(row)))
            i += 1
        new = self.values[start:]
        self.compact.extend(name_key(v) for v in new)
        phon = np.fromiter((self.phonetics.code(phonetic(v)) for v in new), dtype=np.int32, count=len(new))
        nick = np.full((len(new), NICK_SLOTS), MISSING, dtype=np.int32)
        for k, value in enumerate(new):
            groups = nickname_groups(value)[:NICK_SLOTS]
            if groups:
                nick[k, : len(groups)] = groups
        initial = np.fromiter((ord(v[0]) for v in new), dtype=np.int32, count=len(new))
        length = np.fromiter((len(name_key(v)) for v in new), dtype=np.int32, count=len(new))
        self.phon = np.concatenate([self.phon, phon])
        self.nick = np.concatenate([self.nick, nick])
        self.initial = np.concatenate([self.initial, initial])
        self.length = np.concatenate([self.length, length])
        self.tokens = np.concatenate([self.tokens, np.asarray(token_rows, dtype=np.int32).reshape(-1, TOKEN_SLOTS)])


def _fill_rows(derived: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Rows ``codes`` of an array derived on demand (it may be shorter than the vocabulary: the
    rows past its end are not derived yet, so MISSING / False)."""
    out = np.full((len(codes), derived.shape[1]), MISSING if derived.dtype != bool else False, dtype=derived.dtype)
    have = codes < len(derived)
    out[have] = derived[codes[have]]
    return out


def gather(table: np.ndarray, codes: np.ndarray, fill: int = MISSING) -> np.ndarray:
    """``table[codes]`` with ``fill`` where ``codes`` is missing (vectorised lookup of derived data)."""
    if len(table) == 0:
        return np.full(len(codes), fill, dtype=table.dtype)
    out = table[np.maximum(codes, 0)]
    missing = codes < 0
    if missing.any():
        out = out.copy()
        out[missing] = fill
    return out
