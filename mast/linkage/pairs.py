"""Candidate pairs from lookup keys, vectorised.

Keys are sorted once; every run of equal keys is a block, and all pairs within a block are made
with numpy index arithmetic (no Python loop per block). Blocks larger than ``max_block`` are
skipped: a key shared by thousands of records (a placeholder surname, a hostel's postcode) says
nothing about any two of them, and other keys still reach the real matches.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mast.linkage.arrays import unique

DEFAULT_MAX_BLOCK = 400


@dataclass
class Blocks:
    """Records grouped by key: ``rows[starts[b] : starts[b] + sizes[b]]`` share key ``keys[b]``."""

    keys: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    rows: np.ndarray
    skipped: int  # blocks over the size limit
    #: the keys of those blocks, sorted (a sharded link must not count a pair as sharing them)
    oversize: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def pair_counts(self) -> np.ndarray:
        s = self.sizes.astype(np.int64)
        return s * (s - 1) // 2

    def select(self, mask: np.ndarray) -> Blocks:
        return Blocks(self.keys[mask], self.starts[mask], self.sizes[mask], self.rows, self.skipped, self.oversize)


#: rows are packed beside the key in one int64 when the table is smaller than this
_ROW_BITS = 24


def make_blocks(key_matrix: np.ndarray, max_block: int | np.ndarray = DEFAULT_MAX_BLOCK, row_offset: int = 0) -> Blocks:
    """Group records by key (all columns of ``key_matrix`` pooled; 0 means no key).

    ``max_block`` is one limit, or one per column (keys of one namespace must share it). Block
    keys are :func:`block_key` s of the lookup keys.
    """
    n, r = key_matrix.shape
    limits = np.broadcast_to(np.asarray(max_block, dtype=np.int64), (r,))
    parts = []
    offset = 0
    rows_parts = []
    for limit in np.unique(limits).tolist():
        cols = np.nonzero(limits == limit)[0]
        keys, starts, sizes, rows, oversize = _group(key_matrix[:, cols], int(limit), row_offset)
        parts.append((keys, starts + offset, sizes, oversize))
        rows_parts.append(rows)
        offset += len(rows)
    keys = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    starts = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    sizes = np.concatenate([p[2] for p in parts]) if parts else np.zeros(0, np.int64)
    rows = np.concatenate(rows_parts) if rows_parts else np.zeros(0, np.int64)
    oversize = np.sort(np.concatenate([p[3] for p in parts])) if parts else np.zeros(0, np.int64)
    return Blocks(keys, starts, sizes, rows, len(oversize), oversize)


def block_key(keys: np.ndarray) -> np.ndarray:
    """The block id of lookup keys (their high bits: the low bits carry the row while sorting)."""
    return keys >> _ROW_BITS


def _group(matrix: np.ndarray, limit: int,
           row_offset: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n, r = matrix.shape
    flat = matrix.reshape(-1)
    rows = np.repeat(np.arange(n, dtype=np.int64) + row_offset, r)
    keep = flat != 0
    flat, rows = flat[keep], rows[keep]
    if n + row_offset < (1 << _ROW_BITS):
        packed = (block_key(flat) << _ROW_BITS) | rows
        packed.sort()
        # one record emitting one key twice (a date and its swap can coincide) counts once
        first = np.empty(len(packed), dtype=bool)
        if len(packed):
            first[0] = True
            np.not_equal(packed[1:], packed[:-1], out=first[1:])
        packed = packed[first]
        keys = packed >> _ROW_BITS
        rows = packed & ((1 << _ROW_BITS) - 1)
    else:
        keys = block_key(flat)
        order = np.lexsort((rows, keys))
        keys, rows = keys[order], rows[order]
        first = np.ones(len(keys), dtype=bool)
        first[1:] = (keys[1:] != keys[:-1]) | (rows[1:] != rows[:-1])
        keys, rows = keys[first], rows[first]
    if len(keys) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, rows, empty
    boundary = np.empty(len(keys), dtype=bool)
    boundary[0] = True
    np.not_equal(keys[1:], keys[:-1], out=boundary[1:])
    starts = np.nonzero(boundary)[0]
    sizes = np.diff(np.append(starts, len(keys)))
    usable = (sizes >= 2) & (sizes <= limit)
    return keys[starts[usable]], starts[usable], sizes[usable], rows, keys[starts[sizes > limit]]


def block_pairs(blocks: Blocks) -> tuple[np.ndarray, np.ndarray]:
    """All pairs within the blocks, as (lo, hi) row arrays with lo < hi, duplicates removed."""
    if len(blocks.sizes) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    sizes = blocks.sizes.astype(np.int64)
    # position of every member, and how many later members of its block it pairs with
    member_pos = np.repeat(blocks.starts.astype(np.int64), sizes) + ranges(sizes)
    member_later = np.repeat(sizes, sizes) - 1 - ranges(sizes)
    left_pos = np.repeat(member_pos, member_later)
    right_pos = left_pos + 1 + ranges(member_later)
    a = blocks.rows[left_pos]
    b = blocks.rows[right_pos]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return dedupe(lo, hi)


def pair_codes(blocks: Blocks, batch: int) -> np.ndarray:
    """The unique pairs of ``blocks`` as sorted codes ``lo << 32 | hi``, made about ``batch`` pairs at a
    time (a pair in several blocks counts once; memory stays near the result's)."""
    counts = blocks.pair_counts
    cum = np.cumsum(counts)
    parts = []
    start = 0
    while start < len(counts):
        base = int(cum[start - 1]) if start else 0
        end = max(int(np.searchsorted(cum, base + batch, side="right")), start + 1)
        part = Blocks(blocks.keys[start:end], blocks.starts[start:end], blocks.sizes[start:end], blocks.rows, 0)
        lo, hi = block_pairs(part)
        parts.append(lo << 32 | hi)
        start = end
    segment = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    segment.sort(kind="stable")  # blocks give runs of sorted pairs: a merge, not a quicksort
    return unique(segment)


def dedupe(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique (lo, hi) pairs with lo != hi."""
    keep = lo != hi
    lo, hi = lo[keep], hi[keep]
    if len(lo) == 0:
        return lo, hi
    code = unique(lo.astype(np.int64) << 32 | hi.astype(np.int64))
    return code >> 32, code & 0xFFFFFFFF


def ranges(counts: np.ndarray) -> np.ndarray:
    """concatenate(arange(c) for c in counts), vectorised."""
    counts = counts.astype(np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(counts)
    out = np.arange(total, dtype=np.int64)
    out -= np.repeat(ends - counts, counts)
    return out


def sample_block_pairs(blocks: Blocks, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``n`` pairs drawn uniformly from all within-block pairs (with duplicates across keys)."""
    counts = blocks.pair_counts
    total = int(counts.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if total <= n:
        lo, hi = block_pairs(blocks)
        return lo, hi
    draws = np.sort(rng.integers(0, total, size=n))
    cum = np.cumsum(counts)
    block = np.searchsorted(cum, draws, side="right")
    offset = draws - (cum[block] - counts[block])
    size = blocks.sizes[block].astype(np.int64)
    # decode offset -> (i, j), i < j, in a block of `size` (row-major upper triangle)
    i = np.zeros_like(offset)
    # rows of the triangle: row i holds size-1-i pairs; solve by searching cumulative counts
    # closed form: i = floor((2s-1 - sqrt((2s-1)^2 - 8*offset)) / 2)
    s2 = 2 * size - 1
    i = np.floor((s2 - np.sqrt(s2.astype(np.float64) ** 2 - 8 * offset)) / 2).astype(np.int64)
    before = i * (2 * size - i - 1) // 2
    # guard against floating point edge cases
    too_far = offset < before
    i[too_far] -= 1
    before = i * (2 * size - i - 1) // 2
    j = offset - before + i + 1
    start = blocks.starts[block].astype(np.int64)
    a = blocks.rows[start + i]
    b = blocks.rows[start + j]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keep = lo != hi
    return lo[keep], hi[keep]
