"""Conditions over candidate pairs: the building blocks comparison levels are made of.

A comparison level in Splink is an SQL condition; here it is a small predicate object evaluated
over every candidate pair at once (numpy boolean arrays), so a level definition reads like data —
``JaroWinkler("given", 0.92)`` — and the scorer stays free of pandas, pyarrow and SQL. Similarities
of strings are computed once per distinct pair of values (a million pairs of records share far
fewer pairs of names) with rapidfuzz, then gathered back to pairs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from rapidfuzz.distance import DamerauLevenshtein as _DL
from rapidfuzz.distance import JaroWinkler as _JW
from rapidfuzz.distance import Levenshtein as _Lev
from rapidfuzz.distance import Prefix as _Prefix
from rapidfuzz.process import cpdist

from mast.linkage.arrays import unique_inverse
from mast.linkage.table import RecordTable
from mast.linkage.vocab import MISSING, Vocab
from mast.normalise.dates import MISSING_DAY

#: Damerau-Levenshtein distances are worked out up to this many edits; a greater one reads as
#: ``DL_MOST + 1``. No level asks about more than two slips, and stopping there makes the dearest
#: string metric about three times cheaper.
DL_MOST = 2


def _distinct_pairs(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct unordered pairs of value ids among ``(a[k], b[k])`` (all present) as two arrays
    ``x <= y``, and the index of each input pair among them: a symmetric test of two values runs
    once per distinct pair, and ``result[inverse]`` spreads it back to every pair."""
    width = np.int64(max(int(a.max()), int(b.max())) + 1)
    lo = np.minimum(a, b).astype(np.int64)
    hi = np.maximum(a, b).astype(np.int64)
    uniq, inverse = unique_inverse(lo * width + hi)
    return uniq // width, uniq % width, inverse


#: float rounding: a pair this near a similarity threshold is compared as strings, not judged by a bound
_SLACK = 1e-6


def _may_reach(shared: np.ndarray, lx: np.ndarray, ly: np.ndarray, metric: str, limit: float) -> np.ndarray:
    """Per pair of values, whether ``metric`` may reach ``limit`` (a distance at most it, a similarity
    at least it), judged by their lengths and the letters they share at most
    (:meth:`~mast.linkage.vocab.LetterSets.shared`): a pair that cannot is not compared as strings.
    Every bound is one no pair can pass, so nothing that would pass is left out (a unit test holds it
    to rapidfuzz on every pair of a few hundred names).

    * an edit (Damerau-)Levenshtein distance is at least ``longer - shared``: each letter of the
      longer string the other lacks takes an edit of its own;
    * so a normalised Levenshtein similarity is at most ``shared / longer``;
    * Jaro is at most ``(shared / len_a + shared / len_b + 1) / 3`` (its matches are shared letters),
      and Winkler's bonus for a common prefix (at most 4 letters, 0.1 each, of what Jaro falls short
      of 1) lifts that to at most ``0.6 * jaro + 0.4``."""
    longer = np.maximum(lx, ly)
    empty = np.minimum(lx, ly) == 0  # nothing to bound: left to rapidfuzz
    if metric == "dl":
        return empty | (longer - shared <= limit)
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "lev":
            bound = shared / longer
        else:
            jaro = np.where(shared > 0, (shared / lx + shared / ly + 1.0) / 3.0, 0.0)
            bound = np.where(shared > 0, 0.6 * jaro + 0.4, 0.0)
    return empty | (bound >= limit - _SLACK)


class _GammaOf(dict[str, np.ndarray]):
    """The levels of a part of a context's pairs (see :meth:`PairContext.subset`): read from the whole,
    cut to the part, when first asked for (the whole fills in comparisons as they are evaluated)."""

    def __init__(self, parent: PairContext, rows: np.ndarray) -> None:
        super().__init__()
        self._parent, self._rows = parent, rows

    def __missing__(self, name: str) -> np.ndarray:
        levels = self._parent.gamma[name][self._rows]
        self[name] = levels
        return levels


class PairContext:
    """Candidate pairs ``(left[k], right[k])`` of one table, with per-batch caches."""

    def __init__(self, table: RecordTable, left: np.ndarray, right: np.ndarray,
                 parent: PairContext | None = None, rows: np.ndarray | None = None) -> None:
        self.table = table
        self.left = left
        self.right = right
        self.size = len(left)
        self._cache: dict[Any, Any] = {}
        #: the context this one is a part of, and which of its pairs this one holds (see :meth:`subset`)
        self._parent = parent
        self._rows = rows
        #: comparison name -> level index per pair; filled as comparisons are evaluated (guards read it)
        self.gamma: dict[str, np.ndarray] = (_GammaOf(parent, rows) if parent is not None and rows is not None
                                             else {})

    def subset(self, rows: np.ndarray) -> PairContext:
        """The pairs ``rows`` of this context, as a context of their own.

        A level is tried only on the pairs no earlier level took, and a condition of an :class:`And`
        only where the earlier ones held: most candidate pairs agree exactly on a name, so the costly
        string metrics run on the few that do not. Every predicate is a test of each pair on its own,
        so a pair's answer is the same in a part as in the whole. Similarities the whole has already
        worked out are read from it, not worked out again."""
        return PairContext(self.table, self.left[rows], self.right[rows], self, rows)

    def _inherited(self, key: Any) -> np.ndarray | None:
        """A per-pair array an enclosing context has cached under ``key``, cut to this context's pairs."""
        if self._parent is None or self._rows is None:
            return None
        found = self._parent._cache.get(key)
        if found is None:
            found = self._parent._inherited(key)
        return None if found is None else found[self._rows]

    def values(self, field: str) -> tuple[np.ndarray, np.ndarray]:
        """The field's raw column values on the left and right of each pair."""
        key = ("values", field)
        if key not in self._cache:
            column = getattr(self.table, field)
            self._cache[key] = (column[self.left], column[self.right])
        return self._cache[key]

    def present(self, field: str) -> tuple[np.ndarray, np.ndarray]:
        key = ("present", field)
        if key not in self._cache:
            a, b = self.values(field)
            if field == "dob":
                self._cache[key] = (a != MISSING_DAY, b != MISSING_DAY)
            elif field in ("uprn", "nhs", "sex"):
                self._cache[key] = (a != 0, b != 0)
            else:
                self._cache[key] = (a >= 0, b >= 0)
        return self._cache[key]

    def both(self, field: str) -> np.ndarray:
        a, b = self.present(field)
        return a & b

    def distinct_pairs(self, field_l: str, field_r: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The pairs where left ``field_l`` and right ``field_r`` are both present and differ, as ``(rows,
        x, y, inverse)``: ``rows`` their positions, ``x < y`` the distinct unordered pairs of value ids
        among them, ``inverse`` the index of each row's pair among those. Made once per batch and field
        pair: every per-distinct-pair test of the fields, and every similarity asked without a limit,
        shares it (its sort is the dearest step of a test that is cheap per distinct pair). Pairs
        holding one value on both sides are left out: they are many (records of one person), and what
        a test says of a value and itself needs no sort (see :meth:`per_distinct_pair`)."""
        key = ("pairs", field_l, field_r)
        if key not in self._cache:
            a = self.values(field_l)[0]
            b = self.values(field_r)[1]
            # int32 positions: the cache holds them for the whole batch, one pair of arrays per field pair
            rows = np.nonzero((a >= 0) & (b >= 0) & (a != b))[0].astype(np.int32)
            if rows.size:
                x, y, inverse = _distinct_pairs(a[rows], b[rows])
                inverse = inverse.astype(np.int32)
            else:
                x = y = np.zeros(0, np.int64)
                inverse = np.zeros(0, np.int32)
            self._cache[key] = (rows, x, y, inverse)
        return self._cache[key]

    def per_distinct_pair(self, field: str, decide: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> np.ndarray:
        """``decide(x, y)`` (two arrays of the field's value ids -> bool) evaluated once per distinct
        unordered pair of present values, and spread back to every candidate pair (False where either
        side is missing). ``decide`` must be symmetric. Millions of candidate pairs share far fewer
        distinct pairs of names, so a test that is costly per pair (every nickname group of one name
        against every group of the other) is paid once per pair of names, not once per pair of records."""
        rows, x, y, inverse = self.distinct_pairs(field, field)
        out = np.zeros(self.size, bool)
        if rows.size:
            out[rows] = np.asarray(decide(x, y), dtype=bool)[inverse]
        a, b = self.values(field)
        same = np.nonzero((a == b) & (a >= 0))[0]
        if same.size:  # a value and itself: decided once per distinct value (marked, not sorted)
            seen = np.zeros(int(a[same].max()) + 1, bool)
            seen[a[same]] = True
            values = np.nonzero(seen)[0]
            verdict = np.zeros(len(seen), bool)
            verdict[values] = np.asarray(decide(values, values), dtype=bool)
            out[same] = verdict[a[same]]
        return out

    def vocab(self, field: str) -> Vocab:
        return self.table.vocabs.of(field)

    def similarity(self, field_l: str, field_r: str, metric: str, spaceless: bool = False,
                   cutoff: float | None = None) -> np.ndarray:
        """String similarity in [0, 1] of left ``field_l`` and right ``field_r`` (0 where missing).

        Computed once per distinct pair of values. ``metric``: ``"jw"`` (Jaro-Winkler) or ``"lev"``
        (normalised Levenshtein similarity) or ``"dl"`` (Damerau-Levenshtein *distance*, 0 where equal,
        ``DL_MOST + 1`` where greater than ``DL_MOST``, 99 where missing)
        or ``"prefix"`` (length of the common prefix; 0 where missing, 99 where equal). ``spaceless``:
        compare the values with their spaces removed (``PRIDDLE S TREET`` is ``PRIDDLE STREET``).
        ``cutoff`` (``"jw"`` and ``"lev"``): a similarity under it reads as 0, as rapidfuzz's
        ``score_cutoff`` has it; a test that asks only ``>= cutoff`` passes it, and the pairs whose
        letters cannot reach it (:class:`~mast.linkage.vocab.LetterSets`) are never compared as
        strings. A distance over ``DL_MOST`` is settled the same way.
        """
        key = ("sim", field_l, field_r, metric, spaceless, cutoff)
        if key in self._cache:
            return self._cache[key]
        inherited = self._inherited(key)
        if inherited is not None:
            self._cache[key] = inherited
            return inherited
        # the value where either side is missing, and where both hold the same value
        missing, same = {"dl": (99.0, 0.0), "prefix": (0.0, 99.0)}.get(metric, (0.0, 1.0))
        a, b = self.values(field_l)[0], self.values(field_r)[1]
        out = np.where((a == b) & (a >= 0), np.float32(same), np.float32(missing))
        limit = DL_MOST if metric == "dl" else cutoff
        if limit is None or metric == "prefix":
            # every differing pair's values compared, once per distinct pair
            rows, x, y, inverse = self.distinct_pairs(field_l, field_r)
        else:
            # the letters judged per pair first (cheap), and only the pairs that may reach the limit sorted
            # into distinct pairs and compared as strings (a sort of every differing pair is the dearest
            # step of a similarity once few pairs are compared)
            differing, shared, lx, ly = self._letters_shared(field_l, field_r, spaceless)
            out[differing] = DL_MOST + 1 if metric == "dl" else 0.0
            rows = differing[_may_reach(shared, lx, ly, metric, limit)]
            x, y, inverse = _distinct_pairs(a[rows], b[rows]) if rows.size else (rows, rows, rows)
        if rows.size:
            scorer = {"jw": _JW.normalized_similarity, "lev": _Lev.normalized_similarity, "dl": _DL.distance,
                      "prefix": _Prefix.similarity}[metric]
            strings = self.vocab(field_l).spaceless() if spaceless else self.vocab(field_l).comparable()
            # a similarity exactly at the threshold (0.92) is a hair under it in double precision and a
            # hair over it in the float32 the tests compare: rapidfuzz's cut is set just below it
            options = {} if limit is None else {"score_cutoff": limit if metric == "dl" else limit - _SLACK}
            # rapidfuzz's stubs type scorer keyword arguments (score_cutoff) per scorer; the call is right
            sims = cpdist([strings[i] for i in x.tolist()], [strings[i] for i in y.tolist()],  # type: ignore[call-overload]
                          scorer=scorer, dtype=np.float32, workers=1, **options)
            out[rows] = sims[inverse]
        self._cache[key] = out
        return out

    def _letters_shared(self, field_l: str, field_r: str,
                        spaceless: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The pairs where left ``field_l`` and right ``field_r`` are both present and differ (their
        positions), with at most how many letters their values share and the values' lengths
        (:class:`~mast.linkage.vocab.LetterSets`): made once per batch and field pair, for every
        metric of it."""
        key = ("letters", field_l, field_r, spaceless)
        if key not in self._cache:
            a, b = self.values(field_l)[0], self.values(field_r)[1]
            differing = np.flatnonzero((a >= 0) & (b >= 0) & (a != b))
            self._cache[key] = (differing, *self.vocab(field_l).letter_sets(spaceless).shared(a[differing], b[differing]))
        return self._cache[key]

    def dob_digits(self) -> tuple[np.ndarray, np.ndarray]:
        """Dates of birth as 8 digits (YYYYMMDD) on each side, for edit distances on dates."""
        key = ("dob_digits",)
        if key not in self._cache:
            digits = self.table.dob_digits()
            self._cache[key] = (digits[self.left], digits[self.right])
        return self._cache[key]


def _within_dl_most(k: int) -> None:
    if not 0 <= k <= DL_MOST:
        raise ValueError(f"edit distances are worked out up to {DL_MOST} (DL_MOST), not {k}")


class Predicate(Protocol):
    """A condition over candidate pairs."""

    def __call__(self, ctx: PairContext) -> np.ndarray: ...

    def describe(self) -> str: ...


# ---------------------------------------------------------------------- generic
@dataclass(frozen=True)
class Null:
    """Either side lacks every one of ``fields``' values: nothing to compare."""

    fields: tuple[str, ...]

    def __call__(self, ctx: PairContext) -> np.ndarray:
        left = np.zeros(ctx.size, bool)
        right = np.zeros(ctx.size, bool)
        for f in self.fields:
            a, b = ctx.present(f)
            left |= a
            right |= b
        return ~(left & right)

    def describe(self) -> str:
        return f"{' / '.join(self.fields)} missing on either side"


@dataclass(frozen=True)
class NotComparable:
    """No field of ``fields`` is present on both sides."""

    fields: tuple[str, ...]

    def __call__(self, ctx: PairContext) -> np.ndarray:
        any_both = np.zeros(ctx.size, bool)
        for f in self.fields:
            any_both |= ctx.both(f)
        return ~any_both

    def describe(self) -> str:
        return f"no field of {', '.join(self.fields)} present on both sides"


@dataclass(frozen=True)
class Exact:
    field: str

    def __call__(self, ctx: PairContext) -> np.ndarray:
        a, b = ctx.values(self.field)
        return (a == b) & ctx.both(self.field)

    def describe(self) -> str:
        return f"{self.field} equal"


@dataclass(frozen=True)
class Agrees:
    """The field is the same on both sides, or missing on both (a flat number: none is an answer too)."""

    field: str

    def __call__(self, ctx: PairContext) -> np.ndarray:
        a, b = ctx.values(self.field)
        return a == b

    def describe(self) -> str:
        return f"{self.field} equal or missing on both sides"


@dataclass(frozen=True)
class Reversed:
    """``a`` and ``b`` exchanged between the two records (given and family names typed the wrong way round)."""

    a: str
    b: str

    def __call__(self, ctx: PairContext) -> np.ndarray:
        la, ra = ctx.values(self.a)
        lb, rb = ctx.values(self.b)
        return (la == rb) & (lb == ra) & (la >= 0) & (lb >= 0) & (la != lb)

    def describe(self) -> str:
        return f"{self.a} and {self.b} exchanged"


@dataclass(frozen=True)
class Crossed:
    """Given and family names typed in each other's fields, allowing a slip in either
    (``THOMAS GREEN`` / ``GRTEEN THOMAS``).

    ``both``: both names crossed over; otherwise one record's given name is (one slip from) the other's
    family name or the other way round (``CALEB MENZIES`` / ``WALLER CALEB``: the names were typed in
    the wrong fields and one of them changed).
    """

    both: bool = True
    threshold: float = 0.92

    def _near(self, ctx: PairContext, field_l: str, field_r: str) -> np.ndarray:
        names = ctx.table.vocabs.names
        a, b = ctx.values(field_l)[0], ctx.values(field_r)[1]
        long_enough = (names.length[np.maximum(a, 0)] >= 2) & (names.length[np.maximum(b, 0)] >= 2)

        def near(part: PairContext) -> np.ndarray:
            return (part.similarity(field_l, field_r, "jw", cutoff=self.threshold) >= self.threshold) | (
                part.similarity(field_l, field_r, "dl") <= 1)

        return _only_where(ctx, long_enough & (a >= 0) & (b >= 0), near)

    def __call__(self, ctx: PairContext) -> np.ndarray:
        out = self._near(ctx, "given", "family")
        # the other direction only where it can still change the answer
        _narrowed(ctx, out if self.both else ~out, lambda part: self._near(part, "family", "given"),
                  np.logical_and if self.both else np.logical_or, None if self.both else out)
        return out

    def describe(self) -> str:
        return "given and family names in each other's fields" + ("" if self.both else " (at least one of them)")


def _only_where(ctx: PairContext, where: np.ndarray, test: Callable[[PairContext], np.ndarray]) -> np.ndarray:
    """``test`` of the pairs ``where`` holds (a part of the context: see :meth:`PairContext.subset`), False
    elsewhere: for a test that can hold only where a cheap condition does."""
    count = int(np.count_nonzero(where))
    if count > NARROW_SHARE * ctx.size:
        return test(ctx) & where
    out = np.zeros(ctx.size, bool)
    if count:
        rows = np.nonzero(where)[0]
        out[rows] = test(ctx.subset(rows))
    return out


def _share_slot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per row, whether a filled slot of ``x`` (nickname groups, words: ``MISSING`` pads) equals any
    slot of ``y``."""
    hit = np.zeros(len(x), bool)
    for i in range(x.shape[1]):
        col = x[:, i : i + 1]
        hit |= ((col == y) & (col >= 0)).any(axis=1)
    return hit


def _among_words(ctx: PairContext, name: np.ndarray, other: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Where ``where`` holds and ``other`` is present: is ``name`` one of the words of ``other``? (Both
    name codes; a one-word name's only word is itself.) Tested only on the rows ``where`` selects."""
    out = np.zeros(ctx.size, bool)
    rows = np.nonzero(where & (other >= 0))[0]
    if rows.size:
        out[rows] = (ctx.table.vocabs.names.tokens[other[rows]] == name[rows, None]).any(axis=1)
    return out


@dataclass(frozen=True)
class ShiftedName:
    """A record with no family name carries it in the given-name field: its given name is (one slip
    from) the other record's family name (``FROHAWK`` / ``FREDERICK FROHAWK``)."""

    threshold: float = 0.92

    def __call__(self, ctx: PairContext) -> np.ndarray:
        lg, rg = ctx.values("given")
        lf, rf = ctx.values("family")
        # only pairs where a record lacks its family name can hold one shifted: worked out on those alone
        return _only_where(ctx, ((lf < 0) & (lg >= 0)) | ((rf < 0) & (rg >= 0)), self._shifted)

    def _shifted(self, ctx: PairContext) -> np.ndarray:
        lg, rg = ctx.values("given")
        lf, rf = ctx.values("family")
        left = (lf < 0) & (lg >= 0)
        right = (rf < 0) & (rg >= 0)
        # the given name is a word of the other's (double-barrelled) family name
        in_right = _among_words(ctx, lg, rf, left)
        in_left = _among_words(ctx, rg, lf, right)
        left &= (ctx.similarity("given", "family", "jw", cutoff=self.threshold) >= self.threshold) | in_right
        right &= (ctx.similarity("family", "given", "jw", cutoff=self.threshold) >= self.threshold) | in_left
        return left | right

    def describe(self) -> str:
        return "the family name typed in the given-name field (its own family name missing)"


@dataclass(frozen=True)
class InNamesOf:
    """One record's ``a`` is one of the other's ``b`` names (a given name that is the other's middle name:
    people are often known by their middle name)."""

    a: str
    b: str

    def __call__(self, ctx: PairContext) -> np.ndarray:
        la, ra = ctx.values(self.a)
        lb, rb = ctx.values(self.b)
        return _among_words(ctx, la, rb, la >= 0) | _among_words(ctx, ra, lb, ra >= 0)

    def describe(self) -> str:
        return f"one record's {self.a} is among the other's {self.b} names"


def _names_other(ctx: PairContext, middle: np.ndarray, given: np.ndarray, where: np.ndarray) -> np.ndarray:
    """Where ``where`` holds: does a record with middle names ``middle`` name anyone but the person whose
    given name is ``given``? True when it has middle names and none of them is ``given`` or its initial."""
    names = ctx.table.vocabs.names
    out = np.zeros(ctx.size, bool)
    rows = np.nonzero(where & (middle >= 0) & (given >= 0))[0]
    if rows.size:
        words = names.tokens[middle[rows]]
        present = words >= 0
        safe = np.maximum(words, 0)
        own = given[rows, None]
        same = (words == own) | ((names.length[safe] == 1) & (names.initial[safe] == names.initial[own]))
        out[rows] = ~(same & present).any(axis=1)
    return out


@dataclass(frozen=True)
class KnownByMiddleName:
    """One record's given name is among the other's middle names (people are often known by a middle
    name: Mohammed Imran is Imran), and the first record names no one else: it has no middle name, or
    its middle names include the other's given name (or its initial).

    Twins named after each other's middle names (Patricia Zofia / Chantelle Patricia) each have a given
    name of their own, which the other's names do not hold: that is two people, and their given names
    compare as different (so the twins guard sees them)."""

    def __call__(self, ctx: PairContext) -> np.ndarray:
        lg, rg = ctx.values("given")
        lm, rm = ctx.values("middle")
        left = _among_words(ctx, lg, rm, lg >= 0)
        left &= ~_names_other(ctx, lm, rg, left)
        right = _among_words(ctx, rg, lm, rg >= 0)
        right &= ~_names_other(ctx, rm, lg, right)
        return left | right

    def describe(self) -> str:
        return "one record's given name is among the other's middle names, and it names no one else"


@dataclass(frozen=True)
class JaroWinkler:
    field: str
    threshold: float

    def __call__(self, ctx: PairContext) -> np.ndarray:
        return ctx.similarity(self.field, self.field, "jw", cutoff=self.threshold) >= self.threshold

    def describe(self) -> str:
        return f"{self.field} Jaro-Winkler similarity >= {self.threshold}"


@dataclass(frozen=True)
class EditDistanceAtMost:
    """Damerau-Levenshtein distance (insertions, deletions, substitutions, adjacent swaps) at most ``k``."""

    field: str
    k: int

    def __post_init__(self) -> None:
        _within_dl_most(self.k)

    def __call__(self, ctx: PairContext) -> np.ndarray:
        return ctx.similarity(self.field, self.field, "dl") <= self.k

    def describe(self) -> str:
        return f"{self.field} within {self.k} edit(s)"


@dataclass(frozen=True)
class SpacelessNear:
    """The values, spaces removed, are one typing slip apart (or equal): Damerau-Levenshtein distance
    at most ``k`` or Jaro-Winkler at least ``threshold``. For streets, where a slip often moves or
    adds a space (``KENNEWELLP LACE``, ``VICTORIAKTREET``)."""

    field: str
    k: int = 1
    threshold: float = 0.92

    def __post_init__(self) -> None:
        _within_dl_most(self.k)

    def __call__(self, ctx: PairContext) -> np.ndarray:
        near = (ctx.similarity(self.field, self.field, "dl", spaceless=True) <= self.k) | (
            ctx.similarity(self.field, self.field, "jw", spaceless=True, cutoff=self.threshold) >= self.threshold)
        return near & ctx.both(self.field)

    def describe(self) -> str:
        return f"{self.field} (spaces removed) within {self.k} slip(s) or Jaro-Winkler >= {self.threshold}"


@dataclass(frozen=True)
class EditSimilarity:
    """Normalised Levenshtein similarity (1 - distance / longer length) at least ``threshold``."""

    field: str
    threshold: float

    def __call__(self, ctx: PairContext) -> np.ndarray:
        return ctx.similarity(self.field, self.field, "lev", cutoff=self.threshold) >= self.threshold

    def describe(self) -> str:
        return f"{self.field} Levenshtein similarity >= {self.threshold}"


@dataclass(frozen=True)
class Phonetic:
    """Same NYSIIS code: sounds alike."""

    field: str

    def __call__(self, ctx: PairContext) -> np.ndarray:
        a, b = ctx.values(self.field)
        phon = ctx.table.vocabs.names.phon
        pa, pb = phon[np.maximum(a, 0)], phon[np.maximum(b, 0)]
        return (pa == pb) & (pa >= 0) & ctx.both(self.field)

    def describe(self) -> str:
        return f"{self.field} sounds alike (NYSIIS)"


@dataclass(frozen=True)
class Nickname:
    """Both names in one nickname group (BILL / WILLIAM)."""

    field: str

    def __call__(self, ctx: PairContext) -> np.ndarray:
        nick = ctx.table.vocabs.names.nick

        return ctx.per_distinct_pair(self.field, lambda x, y: _share_slot(nick[x], nick[y]))

    def describe(self) -> str:
        return f"{self.field} in the same nickname group"


@dataclass(frozen=True)
class NearNickname:
    """One name is a slip away from a nickname of the other (TOM / RHOMAS, a slip from THOMAS)."""

    field: str

    def __call__(self, ctx: PairContext) -> np.ndarray:
        a, b = ctx.values(self.field)
        names = ctx.table.vocabs.names
        # every name of these pairs (refresh_near works out only those not done yet): filling the names of
        # the first batch only left a later batch's new names without their near nicknames
        names.refresh_near(np.concatenate([a, b]))
        nick, near = names.nick, names.near

        def near_a_nickname(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:  # symmetric: both directions
            return _share_slot(nick[xs], near[ys]) | _share_slot(near[xs], nick[ys])

        return ctx.per_distinct_pair(self.field, near_a_nickname)

    def describe(self) -> str:
        return f"{self.field} a slip away from a nickname of the other"


@dataclass(frozen=True)
class MidNameSlip:
    """One typing slip (one letter wrong, missing, extra, or two exchanged) away from the end of the name:
    MARGWRET / MARGARET, MARGRET / MARGARET. One name mistyped, not two names.

    A slip in the last ``ending`` letters is not counted: that is where a boy's and a girl's form of a
    name differ (MARIO / MARIA, LOUIS / LOUISE, JOHN / JOAN), as do twins of each sex.
    """

    field: str
    ending: int = 2

    def __call__(self, ctx: PairContext) -> np.ndarray:
        a, b = ctx.values(self.field)
        names = ctx.table.vocabs.names
        one_slip = ctx.similarity(self.field, self.field, "dl") == 1
        common = ctx.similarity(self.field, self.field, "prefix")
        la, lb = names.length[np.maximum(a, 0)], names.length[np.maximum(b, 0)]
        in_ending = (la - common <= self.ending) & (lb - common <= self.ending)
        return one_slip & ~in_ending & ctx.both(self.field)

    def describe(self) -> str:
        return f"{self.field} one typing slip apart, not in the name's ending"


@dataclass(frozen=True)
class FirstLetterSlip:
    """One slip apart, and the slip is at the first letter: a letter added or dropped in front, the first
    letter changed, or the first two exchanged (WAYNE / DWAYNE, SHANE / DSHANE, KARL / CARL).

    Typists rarely miss a name's first letter (it is read and typed first), while given names one
    letter apart at the front are common names in their own right (Wayne and Dwayne, Ryan and Bryan,
    Aron and Caron): such a pair is as often two people as one person's slip. Apart from the typing
    slips inside a name, so that training learns from the data how often one person's records
    differ so, rather than counting it as the slip it seldom is."""

    field: str

    def __call__(self, ctx: PairContext) -> np.ndarray:
        one_slip = ctx.similarity(self.field, self.field, "dl") == 1
        return one_slip & (ctx.similarity(self.field, self.field, "prefix") == 0) & ctx.both(self.field)

    def describe(self) -> str:
        return f"{self.field} one typing slip apart, at the first letter"


@dataclass(frozen=True)
class Initial:
    """One side is only an initial and it is the other's first letter."""

    field: str

    def __call__(self, ctx: PairContext) -> np.ndarray:
        a, b = ctx.values(self.field)
        names = ctx.table.vocabs.names
        ia, ib = names.initial[np.maximum(a, 0)], names.initial[np.maximum(b, 0)]
        la, lb = names.length[np.maximum(a, 0)], names.length[np.maximum(b, 0)]
        return (ia == ib) & ((la == 1) | (lb == 1)) & ctx.both(self.field)

    def describe(self) -> str:
        return f"{self.field} given only as a matching initial"


@dataclass(frozen=True)
class SameInitial:
    field: str

    def __call__(self, ctx: PairContext) -> np.ndarray:
        a, b = ctx.values(self.field)
        initial = ctx.table.vocabs.names.initial
        return (initial[np.maximum(a, 0)] == initial[np.maximum(b, 0)]) & ctx.both(self.field)

    def describe(self) -> str:
        return f"{self.field} same first letter"


@dataclass(frozen=True)
class SharedToken:
    """Multi-word names share a word (SMITH / SMITH JONES)."""

    field: str

    def __call__(self, ctx: PairContext) -> np.ndarray:
        tokens = ctx.table.vocabs.names.tokens
        return ctx.per_distinct_pair(self.field, lambda x, y: _share_slot(tokens[x], tokens[y]))

    def describe(self) -> str:
        return f"{self.field} shares a word"


# ---------------------------------------------------------------------- dates
@dataclass(frozen=True)
class DayMonthSwapped:
    """Day and month exchanged (03/04 against 04/03), same year."""

    def __call__(self, ctx: PairContext) -> np.ndarray:
        y, m, d = ctx.table.dob_parts()
        l, r = ctx.left, ctx.right
        return (y[l] == y[r]) & (m[l] == d[r]) & (d[l] == m[r]) & (m[l] != d[l]) & ctx.both("dob")

    def describe(self) -> str:
        return "date of birth with day and month exchanged"


@dataclass(frozen=True)
class DateTypo:
    """The dates written as YYYYMMDD differ by one digit or one adjacent transposition."""

    def __call__(self, ctx: PairContext) -> np.ndarray:
        a, b = ctx.dob_digits()
        diff = a != b
        count = diff.sum(axis=1)
        transposed = np.zeros(ctx.size, bool)
        two = np.nonzero(count == 2)[0]
        if two.size:
            da, db, dd = a[two], b[two], diff[two]
            adjacent = dd[:, :-1] & dd[:, 1:] & (da[:, :-1] == db[:, 1:]) & (da[:, 1:] == db[:, :-1])
            transposed[two] = adjacent.any(axis=1)
        return ((count <= 1) | transposed) & ctx.both("dob")

    def describe(self) -> str:
        return "date of birth one typing slip away (one digit, or two adjacent digits swapped)"


@dataclass(frozen=True)
class DateTwoSlips:
    """The dates written as YYYYMMDD differ in exactly two digits (two typing slips)."""

    def __call__(self, ctx: PairContext) -> np.ndarray:
        a, b = ctx.dob_digits()
        return ((a != b).sum(axis=1) == 2) & ctx.both("dob")

    def describe(self) -> str:
        return "date of birth two digits wrong"


@dataclass(frozen=True)
class DaysApartAtMost:
    days: int

    def __call__(self, ctx: PairContext) -> np.ndarray:
        a, b = ctx.values("dob")
        return (np.abs(a.astype(np.int64) - b) <= self.days) & ctx.both("dob")

    def describe(self) -> str:
        return f"dates of birth within {self.days} days"


@dataclass(frozen=True)
class YearsApartAtLeast:
    years: int

    def __call__(self, ctx: PairContext) -> np.ndarray:
        a, b = ctx.values("dob")
        return (np.abs(a.astype(np.int64) - b) >= int(self.years * 365.25)) & ctx.both("dob")

    def describe(self) -> str:
        return f"dates of birth at least {self.years} years apart"


# ---------------------------------------------------------------------- levels of other comparisons
@dataclass(frozen=True)
class LevelIn:
    """The pair fell in one of ``labels`` of an already evaluated comparison (used by guards)."""

    comparison: str
    labels: tuple[str, ...]
    # filled in by the model: level indices for the labels
    indices: tuple[int, ...] = ()

    def __call__(self, ctx: PairContext) -> np.ndarray:
        gamma = ctx.gamma[self.comparison]
        table = np.zeros(max(self.indices, default=0) + 128, dtype=bool)
        table[list(self.indices)] = True
        return table[gamma.astype(np.int64)]

    def describe(self) -> str:
        return f"{self.comparison} is {' or '.join(self.labels)}"


# ---------------------------------------------------------------------- combinators
#: a condition is tried on a part of the pairs (:meth:`PairContext.subset`) once the part is at most this
#: share of them; above it, cutting the part out costs about what it saves
NARROW_SHARE = 0.5


def _narrowed(ctx: PairContext, open_: np.ndarray, part: Any, combine: Any, out: np.ndarray | None = None) -> None:
    """``out = combine(out, part(ctx))`` in place, ``part`` tried only where ``open_`` holds (where the
    answer may still change: where an And still holds, where an Or does not yet). ``out`` defaults to
    ``open_`` itself (an And)."""
    target = open_ if out is None else out
    count = int(np.count_nonzero(open_))
    if count == 0:
        return
    if count > NARROW_SHARE * ctx.size:
        combine(target, part(ctx), out=target)
        return
    rows = np.nonzero(open_)[0]
    target[rows] = combine(target[rows], part(ctx.subset(rows)))


@dataclass(frozen=True)
class And:
    parts: tuple[Any, ...]

    def __call__(self, ctx: PairContext) -> np.ndarray:
        out = np.array(self.parts[0](ctx), dtype=bool)
        for part in self.parts[1:]:
            _narrowed(ctx, out, part, np.logical_and)
        return out

    def describe(self) -> str:
        return " and ".join(f"({p.describe()})" for p in self.parts)


@dataclass(frozen=True)
class Or:
    parts: tuple[Any, ...]

    def __call__(self, ctx: PairContext) -> np.ndarray:
        out = np.array(self.parts[0](ctx), dtype=bool)
        for part in self.parts[1:]:
            _narrowed(ctx, ~out, part, np.logical_or, out)
        return out

    def describe(self) -> str:
        return " or ".join(f"({p.describe()})" for p in self.parts)


@dataclass(frozen=True)
class Not:
    part: Any

    def __call__(self, ctx: PairContext) -> np.ndarray:
        return ~self.part(ctx)

    def describe(self) -> str:
        return f"not ({self.part.describe()})"


@dataclass(frozen=True)
class Always:
    """The final "anything else" level."""

    def __call__(self, ctx: PairContext) -> np.ndarray:
        return np.ones(ctx.size, bool)

    def describe(self) -> str:
        return "anything else"


__all__ = [
    "Agrees", "Always", "And", "Crossed", "DateTypo", "DayMonthSwapped", "DaysApartAtMost", "EditDistanceAtMost",
    "EditSimilarity", "Exact", "FirstLetterSlip",
    "InNamesOf", "Initial", "JaroWinkler", "KnownByMiddleName", "MidNameSlip", "NearNickname", "ShiftedName", "LevelIn", "MISSING", "Nickname", "Not", "NotComparable", "Null", "Or", "PairContext",
    "DateTwoSlips", "Phonetic", "Predicate", "Reversed", "SameInitial", "SharedToken", "SpacelessNear", "YearsApartAtLeast",
]
