"""The scorer as the search function uses it: a query against candidate records from the index.

The search Lambda imports this module on a cold start, so it (and everything it imports) uses
numpy and rapidfuzz only — never pandas or pyarrow (a unit test holds that). It scores with the
same :class:`~mast.linkage.model.Model` and lookup keys as the batch and incremental links:

* :func:`query_keys` — the index keys to read for a query (same function as linkage uses);
* :func:`score_query` — score a query against the candidate records those keys returned,
  each with its explanation; candidates carry their stored term frequencies (see
  :func:`term_frequencies`, which the match function writes beside each record);
* :func:`rank_people` — the one ranking: people by their best record, best first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from mast.linkage.keys import LOOKUP_KEYS, KeyRule, key_strings, record_keys
from mast.linkage.model import Explanation, Model
from mast.linkage.table import TF_FIELDS, RecordTable, prepare_records

QUERY_ID = "__query__"


@dataclass(frozen=True)
class ScoredCandidate:
    record_id: str
    weight: float
    probability: float
    #: names of the household guards the pair met (a search shows these as "not the same person")
    guards: tuple[str, ...]
    explanation: Explanation


def prepare_query(query: Mapping[str, Any] | RecordTable) -> RecordTable:
    """A search query as a one-row table, normalised once: its keys and its scores both read it."""
    if isinstance(query, RecordTable):
        return query
    return prepare_records([{"record_id": QUERY_ID, **query}], compute_tf=False)


def query_keys(query: Mapping[str, Any] | RecordTable, salt: str = "",
               rules: tuple[KeyRule, ...] = LOOKUP_KEYS) -> list[str]:
    """Index keys of a search query (``<namespace>#<hex>``), exactly as records' keys are made
    (``salt``: the deployment's key secret, the same the match function used; ``rules``: the link's
    lookup keys, plus any the index adds, such as its address-search keys)."""
    table = prepare_query(query)
    return key_strings(record_keys(table, rules, salt)[0], rules)


def term_frequencies(table: RecordTable, row: int) -> dict[str, float]:
    """The value frequencies of one record, to store beside it in the index."""
    return {name: float(table.tf[name][row]) for name in TF_FIELDS if name in table.tf}


def score_query(model: Model, query: Mapping[str, Any] | RecordTable, candidates: Sequence[Mapping[str, Any]],
                frequencies: Sequence[Mapping[str, float]] | None = None) -> list[ScoredCandidate]:
    """Score ``query`` (a dict, or the table :func:`prepare_query` made of it) against ``candidates``
    (canonical record dicts with ``record_id``)."""
    if not candidates:
        return []
    q = prepare_query(query)
    table = q.concat(prepare_records(candidates, q.vocabs, compute_tf=False))
    if frequencies is not None:
        for name in TF_FIELDS:
            table.tf[name] = np.asarray([0.0, *(float(f.get(name, 0.0)) for f in frequencies)], dtype=np.float32)
    return scored_candidates(model, table, [str(c["record_id"]) for c in candidates])


def scored_candidates(model: Model, table: RecordTable, record_ids: Sequence[str]) -> list[ScoredCandidate]:
    """Score row 0 of ``table`` (the query) against each later row, whose record ids are given."""
    k = len(record_ids)
    scores = model.score(table, np.zeros(k, np.int64), np.arange(1, k + 1, dtype=np.int64))
    out = []
    for i in range(k):
        explanation = model.explain(scores, i)
        out.append(ScoredCandidate(record_ids[i], float(scores.weight[i]), float(scores.probability[i]),
                                   explanation.guards, explanation))
    return out


@dataclass(frozen=True)
class RankedPerson:
    """One person a search may be about: their best candidate, and every candidate of theirs that
    matched (above the floor, no guard), best first."""

    person_id: str
    best: ScoredCandidate
    matched: tuple[ScoredCandidate, ...]


def rank_people(scored: Sequence[ScoredCandidate], person_of: Mapping[str, str],
                min_probability: float = 0.5) -> list[RankedPerson]:
    """The one ranking of search results (the API, :meth:`Linker.search` and the benches use it):
    candidates grouped by person, a person as good as their best candidate, best first (ties by
    person id, so the order is stable).

    A candidate a guard fired on (a twin, a namesake a generation apart) never speaks for its
    person, and one below ``min_probability`` is not shown at all.
    """
    matched: dict[str, list[ScoredCandidate]] = {}
    for candidate in scored:
        if candidate.guards or candidate.probability < min_probability:
            continue
        matched.setdefault(person_of.get(candidate.record_id, candidate.record_id), []).append(candidate)
    people = []
    for person, candidates in matched.items():
        candidates.sort(key=lambda c: -c.weight)
        people.append(RankedPerson(person, candidates[0], tuple(candidates)))
    people.sort(key=lambda p: (-p.best.weight, p.person_id))
    return people
