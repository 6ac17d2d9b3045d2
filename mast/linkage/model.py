"""The Fellegi–Sunter model: weights per comparison level, term-frequency adjustment, scoring.

For every comparison level, ``m`` is the probability that two records of one person land in it and
``u`` the probability that two records of different people do. A pair's match weight is
``log2(λ/(1-λ)) + Σ log2(m/u)`` over its comparisons (λ: the probability that two records drawn at
random are the same person), so a weight of 0 is even odds and each +1 doubles them. Exact
agreement on a value is weighed by how common the value is (term frequency): SMITH agreeing says
less than a rare surname. A dependent comparison (surname, given a shared address) is weighed
against chance agreement in that context (see :mod:`mast.linkage.comparisons`).

This module is the scorer: the batch link, the incremental link and a search all call
:meth:`Model.score`, so they cannot disagree. It imports numpy and rapidfuzz only (no pandas, no
pyarrow): the search function loads it on a cold start.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mast.linkage.comparisons import DEFAULT_SETTINGS, Comparison, Settings
from mast.linkage.predicates import NARROW_SHARE, PairContext
from mast.linkage.table import RecordTable

MODEL_FORMAT = "mast-linkage-model/1"


@dataclass
class PairScores:
    """Scores of candidate pairs ``(left[k], right[k])``."""

    left: np.ndarray
    right: np.ndarray
    #: match weight: prior + Σ field weights (log2 odds)
    weight: np.ndarray
    #: level index per pair and comparison (P x C, int8)
    gamma: np.ndarray
    #: effective weight per pair and comparison (P x C, float32), after term frequencies and context (dependences)
    field_weights: np.ndarray
    #: bit k set when guard k fired
    guards: np.ndarray
    prior: float
    #: bit k set when coherence rule k's pattern holds (see :class:`mast.linkage.comparisons.Coherence`)
    coherence: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint8))

    @property
    def bayes_factor(self) -> np.ndarray:
        """log2 Bayes factor: the evidence in the records alone, without the prior."""
        return self.weight - self.prior

    @property
    def probability(self) -> np.ndarray:
        return 1.0 / (1.0 + np.exp2(-self.weight.astype(np.float64)))


@dataclass(frozen=True)
class FieldWeight:
    """What one comparison added to a pair's score, and why."""

    comparison: str
    level: str
    explanation: str
    weight: float
    note: str = ""


@dataclass(frozen=True)
class Explanation:
    """A pair's score, field by field. ``prior + sum(f.weight for f in fields) == weight``."""

    prior: float
    fields: tuple[FieldWeight, ...]
    weight: float
    probability: float
    guards: tuple[str, ...]
    #: cluster-coherence rules whose pattern the pair meets (see :class:`mast.linkage.comparisons.Coherence`)
    coherence: tuple[str, ...] = ()
    #: what the pair's score alone does not say, in words (a person split by a cluster-coherence rule)
    notes: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "prior": round(self.prior, 4),
            "weight": round(self.weight, 4),
            "probability": self.probability,
            "fields": [f.__dict__ for f in self.fields],
            "guards": list(self.guards),
            "coherence": list(self.coherence),
            "notes": list(self.notes),
        }


def probability_to_weight(p: float) -> float:
    return math.log2(p / (1.0 - p))


@dataclass
class Model:
    """A trained linkage model: settings plus m, u and λ, and the decision thresholds."""

    settings: Settings = DEFAULT_SETTINGS
    m: dict[str, np.ndarray] = field(default_factory=dict)
    u: dict[str, np.ndarray] = field(default_factory=dict)
    #: probability that two records drawn at random are the same person
    lam: float = 1e-4
    #: match probability at or above which two records are linked
    threshold: float = 0.95
    #: log2 Bayes factor below which two records may not share a person (evidence against)
    conflict_bf: float = -4.0
    #: most a rare value may add over the level's average weight (bits)
    tf_max_bonus: float = 8.0
    #: what training saw (counts, sessions): reported, never used to score
    training: dict[str, Any] = field(default_factory=dict)
    #: u of dependent comparisons per context name
    u_context: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for dep in self.settings.dependences:
            for ctx in dep.contexts:
                if ctx.name not in self.u_context:
                    self.u_context[ctx.name] = np.asarray(ctx.u_prior, dtype=np.float64)
        for comp in self.settings.comparisons:
            if comp.name not in self.m:
                self.m[comp.name] = np.asarray([lvl.m_prior for lvl in comp.levels], dtype=np.float64)
            if comp.name not in self.u:
                # Before training, u says "each non-null level equally likely by chance": a placeholder
                # only; training replaces it from random pairs.
                free = [lvl for lvl in comp.levels if not lvl.null and lvl.u_prior is None]
                fixed = sum(lvl.u_prior or 0.0 for lvl in comp.levels if not lvl.null and lvl.u_prior is not None)
                share = max(1.0 - fixed, 0.0) / max(len(free), 1)
                self.u[comp.name] = np.asarray([
                    0.0 if lvl.null else (lvl.u_prior if lvl.u_prior is not None else share) for lvl in comp.levels
                ])
        self._cache_weights()

    # ------------------------------------------------------------------ parameters
    def _cache_weights(self) -> None:
        self._level_weights: list[np.ndarray] = []
        for comp in self.settings.comparisons:
            m = np.clip(self.m[comp.name], 1e-9, 1.0)
            u = np.clip(self.u[comp.name], 1e-12, 1.0)
            w = np.log2(m / u)
            for i, lvl in enumerate(comp.levels):
                if lvl.null:
                    w[i] = 0.0
            self._level_weights.append(w.astype(np.float32))
        names = [c.name for c in self.settings.comparisons]
        self._dependences = []
        for dep in self.settings.dependences:
            c = names.index(dep.comparison)
            comp = self.settings.comparisons[c]
            m = np.clip(self.m[comp.name], 1e-9, 1.0)
            for ctx in dep.contexts:
                k = names.index(ctx.comparison)
                levels = np.asarray([self.settings.comparisons[k].index(lbl) for lbl in ctx.labels])
                u = np.clip(self.u_context[ctx.name], 1e-9, 1.0)
                w = np.where([lvl.null for lvl in comp.levels], 0.0, np.log2(m / u)).astype(np.float32)
                self._dependences.append((c, k, levels, w, ctx.name))

    def set_parameters(self, m: dict[str, np.ndarray] | None = None, u: dict[str, np.ndarray] | None = None,
                       lam: float | None = None, u_context: dict[str, np.ndarray] | None = None) -> None:
        if u_context:
            self.u_context.update({k: np.asarray(v, dtype=np.float64) for k, v in u_context.items()})
        if m:
            self.m.update({k: np.asarray(v, dtype=np.float64) for k, v in m.items()})
        if u:
            self.u.update({k: np.asarray(v, dtype=np.float64) for k, v in u.items()})
        if lam is not None:
            self.lam = float(lam)
        self._cache_weights()

    @property
    def prior_weight(self) -> float:
        return probability_to_weight(min(max(self.lam, 1e-12), 1 - 1e-12))

    @property
    def threshold_weight(self) -> float:
        return probability_to_weight(self.threshold)

    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        return self.settings.comparisons

    def level_weight(self, comparison: str, label: str) -> float:
        for c, comp in enumerate(self.comparisons):
            if comp.name == comparison:
                return float(self._level_weights[c][comp.index(label)])
        raise KeyError(comparison)

    # ------------------------------------------------------------------ scoring
    def gamma(self, ctx: PairContext) -> np.ndarray:
        """Level index of every pair in every comparison (P x C, int8)."""
        out = np.empty((ctx.size, len(self.comparisons)), dtype=np.int8)
        for c, comp in enumerate(self.comparisons):
            levels = np.full(ctx.size, len(comp.levels) - 1, dtype=np.int8)
            # A level is tried only on the pairs no earlier one took: once those are few, on a context of
            # their own (most pairs agree exactly, so the string metrics of the later levels run on few).
            part, where = ctx, None  # the pairs still open, and their positions in ctx (None: all)
            todo = np.ones(ctx.size, dtype=bool)
            for i, lvl in enumerate(comp.levels[:-1]):
                left = int(np.count_nonzero(todo))
                if left == 0:
                    break
                if left <= NARROW_SHARE * part.size:
                    keep = np.nonzero(todo)[0]
                    where = keep if where is None else where[keep]
                    part, todo = part.subset(keep), np.ones(left, dtype=bool)
                hit = todo & lvl.when(part)
                levels[np.nonzero(hit)[0] if where is None else where[hit]] = i
                todo &= ~hit
            out[:, c] = levels
            ctx.gamma[comp.name] = levels
        return out

    def field_weights(self, gamma: np.ndarray, ctx: PairContext) -> np.ndarray:
        """Weight each comparison adds to each pair, with term frequencies and dependences."""
        weights = np.empty(gamma.shape, dtype=np.float32)
        tf = ctx.table.tf
        for c, comp in enumerate(self.comparisons):
            w = self._level_weights[c][gamma[:, c]]
            for i, lvl in enumerate(comp.levels):
                if lvl.tf is None or lvl.tf not in tf:
                    continue
                rows = np.nonzero(gamma[:, c] == i)[0]
                if rows.size == 0:
                    continue
                column = tf[lvl.tf]
                freq = np.maximum(column[ctx.left[rows]], column[ctx.right[rows]]).astype(np.float64)
                known = freq > 0
                u = max(float(self.u[comp.name][i]), 1e-12)
                m = max(float(self.m[comp.name][i]), 1e-9)
                adjusted = np.log2(m / np.maximum(freq, u * 2.0 ** -self.tf_max_bonus))
                w[rows[known]] = adjusted[known].astype(np.float32)
            weights[:, c] = w
        for c, k, levels, w, _ in self._dependences:
            lookup = np.zeros(128, dtype=bool)
            lookup[levels] = True
            inside = lookup[gamma[:, k]]
            weights[inside, c] = w[gamma[inside, c]]
        self._weigh_combinations(weights, ctx)
        return weights

    def _weigh_combinations(self, weights: np.ndarray, ctx: PairContext) -> None:
        """Take off what agreement on values that go together was over-counted as independent (see
        :class:`mast.linkage.comparisons.Combination`)."""
        tf = ctx.table.tf
        names = [c.name for c in self.comparisons]
        for combination in self.settings.combinations:
            if combination.tf not in tf:
                continue
            rows = np.nonzero(combination.when(ctx))[0]
            if rows.size == 0:
                continue
            left, right = ctx.left[rows], ctx.right[rows]
            joint = np.maximum(tf[combination.tf][left], tf[combination.tf][right]).astype(np.float64)
            independent = np.ones(rows.size)
            for comparison, field_name in combination.parts:
                c = names.index(comparison)
                exact = self.comparisons[c].index("exact")
                u = max(float(self.u[comparison][exact]), 1e-12)
                freq = np.maximum(tf[field_name][left], tf[field_name][right]).astype(np.float64)
                # the frequency the part's own weight used: its value's, floored as in field_weights, or
                # the level's u where the value's is unknown
                independent *= np.where(freq > 0, np.maximum(freq, u * 2.0 ** -self.tf_max_bonus), u)
            with np.errstate(divide="ignore", invalid="ignore"):
                excess = np.where(joint > independent, np.log2(joint / independent), 0.0)
            weights[rows, names.index(combination.comparison)] -= excess.astype(np.float32)

    def context_of(self, gamma_row: np.ndarray, comparison: int) -> str | None:
        """The context (if any) in which ``comparison`` was weighed for one pair."""
        for c, k, levels, _, name in self._dependences:
            if c == comparison and int(gamma_row[k]) in levels.tolist():
                return name
        return None

    def guard_bits(self, ctx: PairContext) -> np.ndarray:
        bits = np.zeros(ctx.size, dtype=np.uint8)
        for k, guard in enumerate(self.settings.guards):
            bits |= guard.when(ctx).astype(np.uint8) << k
        return bits

    def coherence_bits(self, ctx: PairContext) -> np.ndarray:
        bits = np.zeros(ctx.size, dtype=np.uint8)
        for k, rule in enumerate(self.settings.coherence):
            bits |= rule.when(ctx).astype(np.uint8) << k
        return bits

    def score(self, table: RecordTable, left: np.ndarray, right: np.ndarray) -> PairScores:
        """Score candidate pairs of ``table``: the one scorer every link and search uses."""
        left = np.asarray(left, dtype=np.int64)
        right = np.asarray(right, dtype=np.int64)
        ctx = PairContext(table, left, right)
        gamma = self.gamma(ctx)
        weights = self.field_weights(gamma, ctx)
        prior = self.prior_weight
        total = weights.sum(axis=1, dtype=np.float64) + prior
        return PairScores(left, right, total.astype(np.float32), gamma, weights, self.guard_bits(ctx), prior,
                          self.coherence_bits(ctx))

    def explain(self, scores: PairScores, k: int) -> Explanation:
        """The explanation of pair ``k`` of ``scores``."""
        fields = []
        for c, comp in enumerate(self.comparisons):
            lvl = comp.levels[int(scores.gamma[k, c])]
            w = float(scores.field_weights[k, c])
            base = float(self._level_weights[c][int(scores.gamma[k, c])])
            note = ""
            context = self.context_of(scores.gamma[k], c)
            if context:
                note = f"weighed against different people in the {context.replace('_', ' ')} context"
            elif lvl.tf and abs(w - base) > 1e-6:
                note = "weighed by how common the value is"
                if any(comb.comparison == comp.name for comb in self.settings.combinations):
                    note += " (and, where it goes with another value, how common the combination is)"
            fields.append(FieldWeight(comp.name, lvl.label, lvl.explanation, w, note))
        guards = tuple(g.name for i, g in enumerate(self.settings.guards) if int(scores.guards[k]) >> i & 1)
        bits = int(scores.coherence[k]) if len(scores.coherence) > k else 0
        rules = tuple(r for i, r in enumerate(self.settings.coherence) if bits >> i & 1)
        weight = scores.prior + sum(f.weight for f in fields)
        notes = tuple(
            f"{rule.name.replace('_', ' ')} (a cluster-coherence rule): {rule.explanation}; "
            + ("their own score is a link, so they may share a person" if weight >= self.threshold_weight else
               "their own score is below a link, so they share a person only if a strong path of links joins them")
            for rule in rules)
        return Explanation(scores.prior, tuple(fields), weight, 1.0 / (1.0 + 2.0 ** -weight), guards,
                           tuple(r.name for r in rules), notes)

    # ------------------------------------------------------------------ persistence
    def to_dict(self) -> dict[str, Any]:
        return {
            "format": MODEL_FORMAT,
            "lam": self.lam,
            "threshold": self.threshold,
            "conflict_bf": self.conflict_bf,
            "tf_max_bonus": self.tf_max_bonus,
            "comparisons": {
                comp.name: {
                    lvl.label: {"m": float(self.m[comp.name][i]), "u": float(self.u[comp.name][i])}
                    for i, lvl in enumerate(comp.levels)
                }
                for comp in self.comparisons
            },
            "guards": [g.name for g in self.settings.guards],
            "u_context": {k: [float(x) for x in v] for k, v in self.u_context.items()},
            "training": self.training,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=float)

    @classmethod
    def from_dict(cls, data: dict[str, Any], settings: Settings = DEFAULT_SETTINGS) -> Model:
        if data.get("format") != MODEL_FORMAT:
            raise ValueError(f"not a {MODEL_FORMAT} model")
        m: dict[str, np.ndarray] = {}
        u: dict[str, np.ndarray] = {}
        for comp in settings.comparisons:
            levels = data["comparisons"][comp.name]
            if set(levels) != set(comp.labels):
                raise ValueError(f"model levels of {comp.name} do not match this version's settings")
            m[comp.name] = np.asarray([levels[lbl]["m"] for lbl in comp.labels])
            u[comp.name] = np.asarray([levels[lbl]["u"] for lbl in comp.labels])
        u_context = {k: np.asarray(v) for k, v in data.get("u_context", {}).items()}
        return cls(settings, m, u, float(data["lam"]), float(data["threshold"]), float(data["conflict_bf"]),
                   float(data.get("tf_max_bonus", 8.0)), dict(data.get("training", {})), u_context)

    @classmethod
    def from_json(cls, text: str, settings: Settings = DEFAULT_SETTINGS) -> Model:
        return cls.from_dict(json.loads(text), settings)
