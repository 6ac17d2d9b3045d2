"""The scorer as the search function uses it: a query against candidate records from the index.

The search Lambda imports this module on a cold start, so it (and everything it imports) uses
numpy and rapidfuzz only — never pandas or pyarrow (a unit test holds that). It scores with the
same :class:`~mast.linkage.model.Model` and lookup keys as the batch and incremental links:

* :func:`query_keys` — the index keys to read for a query (same function as linkage uses);
* :func:`score_query` — score a query against the candidate records those keys returned,
  each with its explanation; candidates carry their stored term frequencies (see
  :func:`term_frequencies`, which the match function writes beside each record);
* :func:`rank_people` — the best record per person, best first.
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


def query_keys(query: Mapping[str, Any], salt: str = "", rules: tuple[KeyRule, ...] = LOOKUP_KEYS) -> list[str]:
    """Index keys of a search query (``<namespace>#<hex>``), exactly as records' keys are made
    (``salt``: the deployment's key secret, the same the match function used; ``rules``: the link's
    lookup keys, plus any the index adds, such as its address-search keys)."""
    table = prepare_records([{"record_id": QUERY_ID, **query}], compute_tf=False)
    return key_strings(record_keys(table, rules, salt)[0], rules)


def term_frequencies(table: RecordTable, row: int) -> dict[str, float]:
    """The value frequencies of one record, to store beside it in the index."""
    return {name: float(table.tf[name][row]) for name in TF_FIELDS if name in table.tf}


def score_query(model: Model, query: Mapping[str, Any], candidates: Sequence[Mapping[str, Any]],
                frequencies: Sequence[Mapping[str, float]] | None = None) -> list[ScoredCandidate]:
    """Score ``query`` against ``candidates`` (canonical record dicts with ``record_id``)."""
    if not candidates:
        return []
    table = prepare_records([{"record_id": QUERY_ID, **query}, *candidates], compute_tf=False)
    if frequencies is not None:
        for name in TF_FIELDS:
            table.tf[name] = np.asarray([0.0, *(float(f.get(name, 0.0)) for f in frequencies)], dtype=np.float32)
    k = len(candidates)
    scores = model.score(table, np.zeros(k, np.int64), np.arange(1, k + 1, dtype=np.int64))
    out = []
    for i in range(k):
        explanation = model.explain(scores, i)
        out.append(ScoredCandidate(str(candidates[i]["record_id"]), float(scores.weight[i]),
                                   float(scores.probability[i]), explanation.guards, explanation))
    return out


def rank_people(scored: Sequence[ScoredCandidate], person_of: Mapping[str, str], min_probability: float = 0.5,
                limit: int = 10) -> list[tuple[str, ScoredCandidate]]:
    """(person id, best candidate) for each person with a candidate above ``min_probability``, best first.

    A candidate a guard fired on (a twin, a namesake a generation apart) is never that person's best.
    """
    best: dict[str, ScoredCandidate] = {}
    for candidate in scored:
        if candidate.guards or candidate.probability < min_probability:
            continue
        person = person_of.get(candidate.record_id, candidate.record_id)
        if person not in best or candidate.weight > best[person].weight:
            best[person] = candidate
    return sorted(best.items(), key=lambda item: -item[1].weight)[:limit]
