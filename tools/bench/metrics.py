"""Precision, recall and F1 of a linkage against known truth, pairwise and of clusters.

Counting is done on contingency tables (predicted cluster x true cluster), never by listing pairs,
so a million records are measured in a second. For a link between two files (``link_only``) only
pairs with one record from each file count, as in Splink's ``link_only`` mode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mast.linkage.arrays import unique_inverse


@dataclass(frozen=True)
class Quality:
    true_positives: int
    predicted: int
    actual: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted if self.predicted else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.actual if self.actual else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {"precision": round(self.precision, 4), "recall": round(self.recall, 4), "f1": round(self.f1, 4),
                "tp": self.true_positives, "predicted": self.predicted, "actual": self.actual}


def _codes(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values)
    if values.dtype.kind not in "iub":
        index: dict[object, int] = {}
        return np.fromiter((index.setdefault(v, len(index)) for v in values.tolist()), dtype=np.int64, count=len(values))
    return unique_inverse(values.astype(np.int64))[1]


def cluster_quality(predicted: np.ndarray, truth: np.ndarray, side: np.ndarray | None = None) -> Quality:
    """Quality of the pairs implied by ``predicted`` cluster labels against ``truth`` labels.

    ``side`` (0/1 per record) restricts counting to pairs across the two sides (link only).
    """
    p = _codes(predicted)
    t = _codes(truth)
    if side is None:
        def pairs(*labels: np.ndarray) -> int:
            code = labels[0] if len(labels) == 1 else labels[0] * (labels[1].max() + 1) + labels[1]
            counts = np.bincount(_codes(code)).astype(np.int64)
            return int((counts * (counts - 1) // 2).sum())
        return Quality(pairs(p, t), pairs(p), pairs(t))
    s = np.asarray(side).astype(bool)

    def cross(*labels: np.ndarray) -> int:
        code = labels[0] if len(labels) == 1 else labels[0] * (labels[1].max() + 1) + labels[1]
        c = _codes(code)
        a = np.bincount(c[~s], minlength=c.max() + 1).astype(np.int64)
        b = np.bincount(c[s], minlength=c.max() + 1).astype(np.int64)
        return int((a * b).sum())

    return Quality(cross(p, t), cross(p), cross(t))


def pairwise_quality(lo: np.ndarray, hi: np.ndarray, truth: np.ndarray, side: np.ndarray | None = None) -> Quality:
    """Quality of a list of predicted pairs (record row indices) against ``truth`` labels."""
    t = _codes(truth)
    lo = np.asarray(lo, dtype=np.int64)
    hi = np.asarray(hi, dtype=np.int64)
    if side is not None:
        s = np.asarray(side).astype(bool)
        keep = s[lo] != s[hi]
        lo, hi = lo[keep], hi[keep]
        actual = cluster_quality(t, t, side).actual
    else:
        actual = cluster_quality(t, t).actual
    tp = int((t[lo] == t[hi]).sum())
    return Quality(tp, int(len(lo)), actual)
