"""Sort-based set operations on integer arrays.

``numpy.unique`` on tens of millions of int64 values is far slower in this numpy than sorting
(a hash-based path); linkage calls these on every batch of candidate pairs, so they are written
here once on top of ``np.sort``/``np.argsort``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from numpy._core import multiarray as _multiarray


def unique(values: np.ndarray) -> np.ndarray:
    """Sorted distinct values."""
    if len(values) == 0:
        return values.copy()
    ordered = np.sort(values, kind="stable")  # see unique_inverse: much the quicker on sorted runs
    keep = np.empty(len(ordered), dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, index of each input value in them)."""
    if len(values) == 0:
        return values.copy(), np.zeros(0, dtype=np.int64)
    # a stable sort: in this numpy it is the quicker one on integer keys (often sorted in runs, as pair codes are)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.empty(len(ordered), dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return ordered[new], inverse


def unique_first(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, index of the first occurrence of each)."""
    if len(values) == 0:
        return values.copy(), np.zeros(0, dtype=np.int64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    new = np.empty(len(ordered), dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    return ordered[new], order[new]


def unique_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted distinct values, how many times each occurs)."""
    if len(values) == 0:
        return values.copy(), np.zeros(0, dtype=np.int64)
    ordered = np.sort(values, kind="stable")  # see unique_inverse: much the quicker on sorted runs
    new = np.empty(len(ordered), dtype=bool)
    new[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    starts = np.nonzero(new)[0]
    return ordered[starts], np.diff(np.append(starts, len(ordered)))


def isin_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """``np.isin(values, sorted_set)`` for a sorted ``sorted_set`` (binary search)."""
    if len(sorted_set) == 0:
        return np.zeros(np.shape(values), dtype=bool)
    if (np.size(values) >= _FILTER_FROM and len(sorted_set) <= _FILTER_SET_MAX and values.dtype.kind in "iu"
            and sorted_set.dtype.kind in "iu"):
        # a binary search per value misses the cache at every step (16 million block keys against a
        # few thousand oversize ones: 1.1 s); a bitmap of the set's low bits, small enough to stay
        # in cache, rules most values out first, and only the rest are searched
        bits = 1 << min(max(len(sorted_set).bit_length() + 4, 12), 24)
        seen = np.zeros(bits, dtype=bool)
        seen[sorted_set & (bits - 1)] = True
        flat = values.reshape(-1)
        maybe = np.flatnonzero(seen[flat & (bits - 1)])
        out = np.zeros(len(flat), dtype=bool)
        out[maybe] = _searched(flat[maybe], sorted_set)
        return out.reshape(values.shape)
    return _searched(values, sorted_set)


#: :func:`isin_sorted` filters by a bitmap first from this many values, for a set at most this large
_FILTER_FROM = 1 << 16
_FILTER_SET_MAX = 1 << 20


def _searched(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    pos = np.searchsorted(sorted_set, values)
    pos = np.minimum(pos, len(sorted_set) - 1)
    return sorted_set[pos] == values


@contextmanager
def small_pages() -> Iterator[None]:
    """Large arrays made inside use the kernel's ordinary pages, not huge pages.

    numpy asks the kernel for transparent huge pages on every large array (``madvise``). Where the
    kernel defragments memory to grant them at the first touch (``defrag`` = ``madvise``, this
    project's machine, and a host whose memory is fragmented by its page cache), that first touch
    costs about ten times what zeroing the memory costs: a fresh 320 MB array took 1.8 to 2.0 s to
    sort into, against 0.2 s without the advice. A link makes many fresh arrays of that size (the
    candidate pairs, their union, per-pair columns); with the advice off the generated million's
    link spent 22.7 CPU-s in its main process instead of 34.0 (its workers, which reuse their
    memory batch after batch, 44 either way). The setting is numpy's own (``NUMPY_MADVISE_HUGEPAGE``
    at import); forked workers inherit it. Restored on the way out."""
    setter = getattr(_multiarray, "_set_madvise_hugepage", None)
    previous = setter(False) if setter is not None else None
    try:
        yield
    finally:
        if setter is not None and previous is not None:
            setter(previous)
