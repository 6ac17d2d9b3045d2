"""The pairs a data steward should look at after a link: the closest calls the linkage made.

A link decides every candidate pair on its own; the ones worth a person's eye are those it left
apart but nearly joined:

* **held apart**: the pair scores at or above the link threshold, yet its records ended in two
  people, because a guard fired (twins, a parent and child of one name, two different NHS
  numbers...) or because the people they joined conflict elsewhere (the clustering split them);
* **just under**: the pair scores within :data:`MARGIN_BITS` below the threshold (match odds up to
  four times lower than a link needs) and its records are in two people.

Each link keeps at most ``limit`` of them (:data:`PAIRS_PER_RUN`): half of each kind, the closest
first (the highest match weight), the other kind filling what one leaves unused; pairs a steward
has already decided are left out (their decision holds). Pairs name record ids, never person ids,
which change when the index is rebuilt.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from mast.linkage.decisions import Decision

#: how far below the link threshold (log2 odds) a pair is still "just under" it
MARGIN_BITS: Final = 2.0
#: the most pairs one link puts in the stewards' queue
PAIRS_PER_RUN: Final = 50

ReviewKind = Literal["held-apart", "just-under"]


@dataclass(frozen=True)
class ReviewPair:
    """Two records the link left in two people, and why they are worth a look."""

    record_a: str
    record_b: str
    kind: ReviewKind
    weight: float
    probability: float
    #: the guards that fired (names from the model's settings); empty for a clustering split or just-under
    guards: tuple[str, ...] = ()

    @property
    def pair(self) -> tuple[str, str]:
        return (self.record_a, self.record_b) if self.record_a < self.record_b else (self.record_b, self.record_a)


def review_pairs(record_ids: Sequence[str] | np.ndarray, labels: np.ndarray, lo: np.ndarray, hi: np.ndarray, weight: np.ndarray,
                 guards: np.ndarray, threshold_weight: float, guard_names: Sequence[str],
                 decided: Iterable[Decision] = (), limit: int = PAIRS_PER_RUN,
                 margin: float = MARGIN_BITS) -> list[ReviewPair]:
    """The closest calls among scored pairs ``(lo[k], hi[k])`` (rows of ``record_ids``), given the
    link's final ``labels``: at most ``limit``, half held apart and half just under (see the module)."""
    if limit <= 0 or len(lo) == 0:
        return []
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    weight = np.asarray(weight, dtype=np.float64)
    guards = np.asarray(guards)
    apart = labels[lo] != labels[hi]
    held = apart & (weight >= threshold_weight)
    under = apart & (weight < threshold_weight) & (weight >= threshold_weight - margin)
    done = {d.pair for d in decided}

    def closest(mask: np.ndarray, room: int) -> list[int]:
        idx = np.nonzero(mask)[0]
        idx = idx[np.argsort(-weight[idx], kind="stable")]
        out: list[int] = []
        for k in idx.tolist():
            a, b = str(record_ids[lo[k]]), str(record_ids[hi[k]])
            if (min(a, b), max(a, b)) in done:
                continue
            out.append(k)
            if len(out) >= room:
                break
        return out

    held_k, under_k = closest(held, limit), closest(under, limit)
    n_under = min(len(under_k), max(limit - len(held_k), limit // 2))
    chosen = held_k[: limit - n_under] + under_k[:n_under]
    pairs: list[ReviewPair] = []
    seen: set[tuple[str, str]] = set()
    for k in chosen:
        a, b = str(record_ids[lo[k]]), str(record_ids[hi[k]])
        bits = int(guards[k])
        fired = tuple(name for i, name in enumerate(guard_names) if bits >> i & 1)
        w = float(weight[k])
        pair = ReviewPair(a, b, "held-apart" if w >= threshold_weight else "just-under", round(w, 3),
                          round(1.0 / (1.0 + 2.0 ** -w), 4), fired)
        if pair.pair not in seen:
            seen.add(pair.pair)
            pairs.append(pair)
    return pairs
