"""Synthetic partner extracts for England: ``mast generate`` and the local demo's daily files.

Public API::

    generate(people, seed, *, as_of=None, definitions=None) -> GeneratedDay
    generate_days(people, seed, days=3, *, as_of=None, definitions=None) -> list[GeneratedDay]
    GeneratedDay.write(out_dir) -> list[Path]      # <feed id>.csv for each feed, and truth.csv
    GeneratedDay.truth_csv() -> bytes               # file,row,person_id,address_id

``people`` is how many distinct people appear across the extracts (each at least once).
The same ``people``, ``seed``, ``days`` and ``as_of`` give the same bytes. ``as_of`` (the date of
the last day's extracts) defaults to today, so record dates fall in the last 12 months a search
shows; pass it for reproducible files across days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mast.feeds.csvout import buffer_bytes, csv_lines
from mast.feeds.definition import FeedDefinition, load_feed_definitions
from tools.generate.partners import profile_for
from tools.generate.population import build_population
from tools.generate.render import (
    BAD_DATE,
    BAD_FLAG,
    BAD_FUTURE_DOB,
    BAD_MISSING,
    BAD_NAME_FORM,
    BAD_NHS,
    BAD_RAGGED,
    BAD_REF,
    BAD_RELEVANCE,
    BAD_SEX,
    ExtractFile,
    FileRenderer,
)
from tools.generate.timeline import Involvements, build_involvements
from tools.generate.vocab import load_vocab

__all__ = ["ExtractFile", "GeneratedDay", "generate", "generate_days"]


@dataclass(frozen=True)
class GeneratedDay:
    """One day's extracts: a file per feed (by feed id) and the truth behind their rows."""

    day: int
    date: dt.date
    files: dict[str, ExtractFile]

    def truth_csv(self) -> bytes:
        """``file,row,person_id,address_id``; row is the 1-based data row (header excluded);
        ids are blank for rows about no one (a car fire; a withdrawal)."""
        parts = [b"file,row,person_id,address_id\n"]
        for f in self.files.values():
            table = pa.table({
                "file": pa.array([f.file_name] * f.rows, pa.string()),
                "row": pa.array(np.arange(1, f.rows + 1)).cast(pa.string()),
                "person_id": _ids("P", f.truth_person),
                "address_id": _ids("A", f.truth_address),
            })  # fmt: skip
            parts.append(buffer_bytes(csv_lines(table, ",")))
        return b"".join(parts)

    def write(self, out_dir: Path) -> list[Path]:
        out_dir.mkdir(parents=True, exist_ok=True)
        written = []
        for f in self.files.values():
            path = out_dir / f.file_name
            path.write_bytes(f.data)
            written.append(path)
        truth = out_dir / "truth.csv"
        truth.write_bytes(self.truth_csv())
        written.append(truth)
        return written


def _ids(prefix: str, values: np.ndarray) -> pa.Array:
    """P0000042 style ids; blank where the row is about nobody."""
    text = pc.utf8_lpad(pa.array(np.maximum(values, 0)).cast(pa.string()), width=7, padding="0")
    ids = pc.binary_join_element_wise(prefix, text, "")
    return pc.if_else(pa.array(values >= 0), ids, pa.scalar(None, pa.string()))


def generate(
    people: int,
    seed: int,
    *,
    as_of: dt.date | None = None,
    definitions: list[FeedDefinition] | None = None,
) -> GeneratedDay:
    """One extract per feed as of ``as_of``: snapshots of open cases, deltas with two years of
    history."""
    return generate_days(people, seed, days=1, as_of=as_of, definitions=definitions)[0]


def generate_days(
    people: int,
    seed: int,
    days: int = 3,
    *,
    as_of: dt.date | None = None,
    definitions: list[FeedDefinition] | None = None,
) -> list[GeneratedDay]:
    """``days`` consecutive days of extracts ending on ``as_of``. Day 1 is the first full load;
    on each later day snapshots are re-sent with cases closed and opened and households moved,
    and deltas carry the previous day's new rows and the withdrawal of a row sent in error."""
    if people < 1 or days < 1:
        raise ValueError("people and days must be at least 1")
    defs = definitions if definitions is not None else list(load_feed_definitions().values())
    as_of = as_of or dt.date.today()
    day_dates = [as_of - dt.timedelta(days=days - d) for d in range(1, days + 1)]
    rng = np.random.default_rng(seed)
    vocab = load_vocab()
    pop = build_population(people, rng, as_of, vocab, recent_days=days)
    inv = build_involvements(pop, defs, rng, day_dates)
    _assign_faults(inv, defs, seed, days)
    out = []
    for d in range(1, days + 1):
        files = {}
        for fi, definition in enumerate(defs):
            renderer = FileRenderer(definition, pop, inv, vocab, salt=seed * 7919 + fi)
            files[definition.id] = _render_file(renderer, inv, fi, d, day_dates[d - 1], seed)
        out.append(GeneratedDay(day=d, date=day_dates[d - 1], files=files))
    return out


def _applicable_faults(definition: FeedDefinition) -> list[int]:
    has = {c.field for c in definition.columns}
    kinds = [BAD_DATE, BAD_MISSING]
    if "nhs_number" in has:
        kinds.append(BAD_NHS)
    if "sex" in has:
        kinds.append(BAD_SEX)
    if "full_name" in has and definition.name_order == "family_first":
        kinds.append(BAD_NAME_FORM)
    if "dob" in has:
        kinds.append(BAD_FUTURE_DOB)
    if "sensitive" in has:
        kinds.append(BAD_FLAG)
    rel = definition.column_for("relevance")
    if rel is not None and rel.required:
        kinds.append(BAD_RELEVANCE)
    kinds.append(BAD_REF)
    return kinds


def _assign_faults(inv: Involvements, defs: list[FeedDefinition], seed: int, days: int) -> None:
    """A few deliberately bad rows per file: on day one as many as the profile says, later one
    per delta file (a snapshot's bad rows are re-sent until fixed, as in life)."""
    for fi, definition in enumerate(defs):
        profile = profile_for(definition.id)
        kinds = _applicable_faults(definition)
        for d in range(1, days + 1):
            rng = np.random.default_rng([seed, fi, d, 1])
            pool = np.flatnonzero((inv.feed == fi) & (inv.first_day == d) & inv.relevant
                                  & (inv.person >= 0) & (inv.withdraw_day == 0))  # fmt: skip
            want = profile.bad_rows if d == 1 else (1 if definition.mode == "delta" else 0)
            k = min(want, len(pool) // 3)
            if k <= 0:
                continue
            chosen = np.sort(rng.choice(pool, size=k, replace=False))
            start = int(rng.integers(0, len(kinds)))
            for j, rec in enumerate(chosen):
                inv.bad[rec] = kinds[(start + j) % len(kinds)]
            if d == 1 and profile.ragged_row and definition.mode == "delta":
                rest = np.setdiff1d(pool, chosen)
                if len(rest):
                    inv.bad[rng.choice(rest)] = BAD_RAGGED


def _render_file(renderer: FileRenderer, inv: Involvements, fi: int, d: int, day_date: dt.date,
                 seed: int) -> ExtractFile:  # fmt: skip
    definition = renderer.d
    mine = inv.feed == fi
    if definition.mode == "snapshot":
        rows = np.flatnonzero(mine & (inv.first_day <= d) & (inv.last_day >= d))
        rows = rows[np.argsort(inv.case_ref[rows], kind="stable")]
        withdrawal = np.zeros(len(rows), dtype=bool)
    else:
        new = np.flatnonzero(mine & (inv.first_day == d))
        new = new[np.lexsort((inv.case_ref[new], inv.start[new]))]
        back = np.flatnonzero(mine & (inv.withdraw_day == d))
        rows = np.concatenate([new, back])
        withdrawal = np.concatenate([np.zeros(len(new), bool), np.ones(len(back), bool)])
    duplicate_of: dict[int, int] = {}
    if definition.mode == "delta" and d == 1 and len(rows) > 5:
        rng = np.random.default_rng([seed, fi, d, 2])
        ok = np.flatnonzero((inv.bad[rows] == 0) & ~withdrawal & inv.relevant[rows])
        if len(ok):
            of = int(rng.choice(ok))
            duplicate_of[int(rng.integers(of + 1, len(rows) + 1))] = of
    return renderer.render(rows, d, day_date, withdrawal, duplicate_of)
