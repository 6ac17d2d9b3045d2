"""Candidate pairs from lookup keys, vectorised.

Keys are sorted once; every run of equal keys is a block, and all pairs within a block are made
with numpy index arithmetic (no Python loop per block). Blocks larger than ``max_block`` are
skipped: a key shared by thousands of records (a placeholder surname, a hostel's postcode) says
nothing about any two of them, and other keys still reach the real matches.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_MAX_BLOCK = 400


@dataclass
class Blocks:
    """Records grouped by key: ``rows[starts[b] : starts[b] + sizes[b]]`` share key ``keys[b]``."""

    keys: np.ndarray
    starts: np.ndarray
    sizes: np.ndarray
    rows: np.ndarray
    skipped: int  # blocks over the size limit

    @property
    def pair_counts(self) -> np.ndarray:
        s = self.sizes.astype(np.int64)
        return s * (s - 1) // 2

    def select(self, mask: np.ndarray) -> Blocks:
        return Blocks(self.keys[mask], self.starts[mask], self.sizes[mask], self.rows, self.skipped)


def make_blocks(key_matrix: np.ndarray, max_block: int | np.ndarray = DEFAULT_MAX_BLOCK, row_offset: int = 0) -> Blocks:
    """Group records by key (all columns of ``key_matrix`` pooled; 0 means no key).

    ``max_block`` is one limit, or one per column (keys of one namespace must share it).
    """
    n, r = key_matrix.shape
    flat_keys = key_matrix.reshape(-1)
    flat_rows = np.repeat(np.arange(n, dtype=np.int64) + row_offset, r)
    limits = np.broadcast_to(np.asarray(max_block, dtype=np.int64), (r,))
    flat_limits = np.tile(limits, n)
    keep = flat_keys != 0
    flat_keys, flat_rows, flat_limits = flat_keys[keep], flat_rows[keep], flat_limits[keep]
    order = np.lexsort((flat_rows, flat_keys))
    flat_keys, flat_rows, flat_limits = flat_keys[order], flat_rows[order], flat_limits[order]
    # a record emitting one key twice (its date and its swapped date can coincide) counts once
    dup = np.zeros(len(flat_keys), dtype=bool)
    if len(flat_keys) > 1:
        dup[1:] = (flat_keys[1:] == flat_keys[:-1]) & (flat_rows[1:] == flat_rows[:-1])
    flat_keys, flat_rows, flat_limits = flat_keys[~dup], flat_rows[~dup], flat_limits[~dup]
    if len(flat_keys) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Blocks(empty, empty, empty, flat_rows, 0)
    boundary = np.ones(len(flat_keys), dtype=bool)
    boundary[1:] = flat_keys[1:] != flat_keys[:-1]
    starts = np.nonzero(boundary)[0]
    sizes = np.diff(np.append(starts, len(flat_keys)))
    cap = flat_limits[starts]
    usable = (sizes >= 2) & (sizes <= cap)
    skipped = int(((sizes > cap)).sum())
    return Blocks(flat_keys[starts[usable]], starts[usable], sizes[usable], flat_rows, skipped)


def block_pairs(blocks: Blocks) -> tuple[np.ndarray, np.ndarray]:
    """All pairs within the blocks, as (lo, hi) row arrays with lo < hi, duplicates removed."""
    if len(blocks.sizes) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    sizes = blocks.sizes.astype(np.int64)
    # position of every member, and how many later members of its block it pairs with
    member_pos = np.repeat(blocks.starts.astype(np.int64), sizes) + _ranges(sizes)
    member_later = np.repeat(sizes, sizes) - 1 - _ranges(sizes)
    left_pos = np.repeat(member_pos, member_later)
    right_pos = left_pos + 1 + _ranges(member_later)
    a = blocks.rows[left_pos]
    b = blocks.rows[right_pos]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return dedupe(lo, hi)


def dedupe(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique (lo, hi) pairs with lo != hi."""
    keep = lo != hi
    lo, hi = lo[keep], hi[keep]
    if len(lo) == 0:
        return lo, hi
    code = np.unique(lo.astype(np.int64) << 32 | hi.astype(np.int64))
    return code >> 32, code & 0xFFFFFFFF


def _ranges(counts: np.ndarray) -> np.ndarray:
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
