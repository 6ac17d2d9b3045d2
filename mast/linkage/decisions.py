"""Data stewards' decisions: "these records are the same person", "these are not".

A decision names two record ids (never person ids, which change between versions) and is applied
by every link — batch rebuild, incremental link — as a hard constraint: "same" joins the two
records' people, "not same" keeps them apart whatever the scores say. When a pair has several
decisions the latest wins. The API stores and audits them; offline, ``mast link --decisions``
reads them from a CSV (``record_id_a,record_id_b,decision[,decided_by,decided_at,reason]``) or
JSON-lines file.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mast.linkage.cluster import Constraints

SAME = "same"
NOT_SAME = "not_same"
_ALIASES = {"same": SAME, "same_person": SAME, "match": SAME, "not_same": NOT_SAME, "not same": NOT_SAME,
            "different": NOT_SAME, "not_same_person": NOT_SAME, "no_match": NOT_SAME}


@dataclass(frozen=True)
class Decision:
    record_a: str
    record_b: str
    decision: str  # SAME or NOT_SAME
    decided_by: str = ""
    decided_at: str = ""
    reason: str = ""

    def __post_init__(self) -> None:
        if self.decision not in (SAME, NOT_SAME):
            raise ValueError(f"decision must be {SAME!r} or {NOT_SAME!r}, not {self.decision!r}")
        if self.record_a == self.record_b:
            raise ValueError("a decision needs two different records")

    @property
    def pair(self) -> tuple[str, str]:
        return (self.record_a, self.record_b) if self.record_a < self.record_b else (self.record_b, self.record_a)


def latest(decisions: Iterable[Decision]) -> list[Decision]:
    """One decision per pair: the last given (input order is time order)."""
    by_pair: dict[tuple[str, str], Decision] = {}
    for d in decisions:
        by_pair[d.pair] = d
    return list(by_pair.values())


def constraints_for(decisions: Iterable[Decision], row_of: Mapping[str, int]) -> tuple[Constraints, int]:
    """Row-pair constraints for the decisions whose records are present; also how many were skipped."""
    same: list[tuple[int, int]] = []
    apart: list[tuple[int, int]] = []
    skipped = 0
    for d in latest(decisions):
        a, b = row_of.get(d.record_a), row_of.get(d.record_b)
        if a is None or b is None:
            skipped += 1
            continue
        (same if d.decision == SAME else apart).append((min(a, b), max(a, b)))

    def arr(pairs: list[tuple[int, int]], i: int) -> np.ndarray:
        return np.asarray([p[i] for p in pairs], dtype=np.int64)

    return Constraints(arr(same, 0), arr(same, 1), arr(apart, 0), arr(apart, 1)), skipped


def parse_decision(row: Mapping[str, str]) -> Decision:
    kind = _ALIASES.get(str(row.get("decision", "")).strip().lower())
    if kind is None:
        raise ValueError(f"unknown decision {row.get('decision')!r}")
    return Decision(str(row["record_id_a"]).strip(), str(row["record_id_b"]).strip(), kind,
                    str(row.get("decided_by") or ""), str(row.get("decided_at") or ""), str(row.get("reason") or ""))


def load_decisions(path: str | Path) -> list[Decision]:
    """Read decisions from CSV (with a header) or JSON lines (``.jsonl``/``.json``)."""
    path = Path(path)
    text = path.read_text("utf-8")
    if path.suffix in (".jsonl", ".json"):
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        rows = list(csv.DictReader(text.splitlines()))
    return [parse_decision(r) for r in rows]


def dump_decisions(decisions: Iterable[Decision], path: str | Path) -> None:
    """Write decisions as JSON lines, which :func:`load_decisions` reads back unchanged (a rebuild
    hands the stewards' decisions to its prepare step so)."""
    Path(path).write_text("".join(json.dumps({
        "record_id_a": d.record_a, "record_id_b": d.record_b, "decision": d.decision, "decided_by": d.decided_by,
        "decided_at": d.decided_at, "reason": d.reason}) + "\n" for d in decisions), "utf-8")
