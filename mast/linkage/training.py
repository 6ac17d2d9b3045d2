"""Unsupervised training: u from random pairs, m by expectation maximisation, λ from the candidates.

* ``u`` (how often two different people agree by chance) comes from pairs of records drawn at
  random: almost all of them are different people, so the level frequencies are the u's.
* ``m`` (how often one person's records agree) is estimated by EM, as Splink does, in separate
  sessions, each on the pairs sharing one field: within same-date-of-birth blocks every field but
  the date is trained; within same-name blocks the date is. A field used to form a session's
  blocks is never trained in it (it agrees by construction). The priors in the comparison
  definitions act as Dirichlet pseudo-counts, so a sparse level cannot run away.
* No session blocks on surname or address alone: within those blocks the commonest pairs are
  members of one household, and EM would learn households instead of people (DESIGN.md).
* λ (the probability that two random records are the same person) is solved with m and u fixed,
  over a uniform sample of all candidate pairs, then scaled from candidates to all pairs.

Everything is vectorised over distinct comparison vectors, so training costs a few seconds on a
million records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mast.linkage.arrays import isin_sorted, unique_counts
from mast.linkage.keys import CONTEXT_KEYS, TRAINING_KEYS, record_keys
from mast.linkage.model import Model
from mast.linkage.pairs import Blocks, block_key, block_pairs, make_blocks, sample_block_pairs
from mast.linkage.predicates import PairContext
from mast.linkage.table import RecordTable


@dataclass(frozen=True)
class TrainingOptions:
    u_pairs: int = 600_000
    em_pairs: int = 300_000
    lambda_pairs: int = 200_000
    max_iterations: int = 40
    tolerance: float = 1e-5
    #: pseudo-count of matched pairs behind each comparison's prior m-probabilities
    prior_strength: float = 30.0
    max_block: int = 1000
    min_u_observations: int = 1000
    #: fewest (weighted) pairs of different people in a context before its u is learnt from data
    min_context_pairs: float = 200.0
    seed: int = 42


def _random_pairs(n: int, size: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    total = n * (n - 1) // 2
    if total <= size:
        i, j = np.triu_indices(n, k=1)
        return i.astype(np.int64), j.astype(np.int64)
    a = rng.integers(0, n, size=size)
    b = rng.integers(0, n - 1, size=size)
    b = b + (b >= a)  # never the same record
    return np.minimum(a, b), np.maximum(a, b)


def estimate_u(model: Model, table: RecordTable, options: TrainingOptions, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """u-probabilities from random pairs (non-null levels sum to 1; null levels 0)."""
    left, right = _random_pairs(len(table), options.u_pairs, rng)
    gamma = model.gamma(PairContext(table, left, right))
    out: dict[str, np.ndarray] = {}
    for c, comp in enumerate(model.comparisons):
        counts = np.bincount(gamma[:, c], minlength=len(comp.levels)).astype(np.float64)
        null = np.asarray([lvl.null for lvl in comp.levels])
        counts[null] = 0.0
        if counts.sum() < options.min_u_observations:
            # Too few random pairs where both records have this field (an identifier few records
            # carry): keep the definition's prior u.
            out[comp.name] = model.u[comp.name]
            continue
        smoothed = np.where(null, 0.0, counts + 0.5)
        out[comp.name] = smoothed / smoothed.sum()
    return out


def _patterns(gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct comparison vectors and how many pairs have each."""
    if len(gamma) == 0:
        return gamma, np.zeros(0)
    radix = np.int64(128)
    code = np.zeros(len(gamma), dtype=np.int64)
    for c in range(gamma.shape[1]):
        code = code * radix + gamma[:, c].astype(np.int64)
    values, counts = unique_counts(code)
    patterns = np.empty((len(values), gamma.shape[1]), dtype=gamma.dtype)
    rest = values.copy()
    for c in range(gamma.shape[1] - 1, -1, -1):
        patterns[:, c] = rest % radix
        rest //= radix
    return patterns, counts.astype(np.float64)


def run_em(model: Model, gamma: np.ndarray, free: list[int], options: TrainingOptions,
           ) -> tuple[dict[str, np.ndarray], float, int]:
    """EM over one session's pairs: returns m for the ``free`` comparisons, λ in the session, iterations."""
    patterns, counts = _patterns(gamma)
    comps = model.comparisons
    m = {comp.name: model.m[comp.name].copy() for comp in comps}
    u = {comp.name: np.clip(model.u[comp.name], 1e-12, 1.0) for comp in comps}
    priors = {comp.name: np.asarray([lvl.m_prior for lvl in comp.levels]) for comp in comps}
    nulls = {comp.name: np.asarray([lvl.null for lvl in comp.levels]) for comp in comps}
    lam = 0.1
    iterations = 0
    free_set = set(free)
    if len(patterns) == 0:
        return {comps[c].name: m[comps[c].name] for c in free}, lam, 0
    for iterations in range(1, options.max_iterations + 1):  # noqa: B007 - returned: how many ran
        log_bf = np.zeros(len(patterns))
        for c, comp in enumerate(comps):
            if c not in free_set:
                continue  # the session's blocking field agrees by construction: it says nothing here
            mm = np.clip(m[comp.name], 1e-12, 1.0)
            ratio = np.where(nulls[comp.name], 0.0, np.log(mm) - np.log(u[comp.name]))
            log_bf += ratio[patterns[:, c]]
        log_odds = np.log(lam) - np.log1p(-lam) + log_bf
        post = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
        weighted = post * counts
        new_lam = float(weighted.sum() / counts.sum())
        change = abs(new_lam - lam)
        lam = min(max(new_lam, 1e-9), 1 - 1e-9)
        for c in free:
            comp = comps[c]
            k = len(comp.levels)
            sums = np.bincount(patterns[:, c], weights=weighted, minlength=k)
            prior = priors[comp.name] * options.prior_strength
            sums = np.where(nulls[comp.name], 0.0, sums + prior)
            new = sums / max(sums.sum(), 1e-12)
            change = max(change, float(np.abs(new - m[comp.name]).max()))
            m[comp.name] = new
        if change < options.tolerance:
            break
    return {comps[c].name: m[comps[c].name] for c in free}, lam, iterations


def _shared_key_counts(keys: np.ndarray, block_keys: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """How many distinct keys in usable blocks each pair shares (at least 1 for pairs drawn from blocks)."""
    a = np.sort(block_key(keys[left]), axis=1)
    b = block_key(keys[right])
    dup = np.zeros(a.shape, dtype=bool)
    dup[:, 1:] = a[:, 1:] == a[:, :-1]
    a[dup] = 0
    shared_key = np.zeros(a.shape, dtype=np.int64)
    for i in range(a.shape[1]):
        col = a[:, i : i + 1]
        hit = ((col == b) & (col != 0)).any(axis=1)
        shared_key[hit, i] = col[hit, 0]
    # only keys whose block was used (not over its size limit) made candidates
    nonzero = shared_key != 0
    usable = np.zeros(a.shape, dtype=bool)
    usable[nonzero] = isin_sorted(shared_key[nonzero], block_keys)
    return np.maximum(usable.sum(axis=1), 1)


def estimate_lambda(model: Model, table: RecordTable, keys: np.ndarray, blocks: Blocks,
                    options: TrainingOptions, rng: np.random.Generator) -> tuple[float, dict[str, float]]:
    """λ over all record pairs, from a uniform sample of candidate pairs (m and u fixed)."""
    n = len(table)
    total_pairs = n * (n - 1) / 2
    occurrences = float(blocks.pair_counts.sum())
    if occurrences == 0 or total_pairs == 0:
        return 1.0 / max(n, 2), {"candidate_pairs": 0.0, "expected_matches": 0.0}
    if occurrences <= options.lambda_pairs:
        # few enough to take every candidate pair once (sample_block_pairs returns them deduplicated):
        # no pair is over-represented, so none is weighed down by the keys it shares
        left, right = block_pairs(blocks)
        inv_k = np.ones(len(left))
    else:
        # a uniform sample of pair occurrences: a pair sharing k keys is drawn k times as often
        left, right = sample_block_pairs(blocks, options.lambda_pairs, rng)
        inv_k = 1.0 / _shared_key_counts(keys, np.sort(blocks.keys), left, right)
    scores = model.score(table, left, right)
    bf = (scores.weight - scores.prior).astype(np.float64)
    lam_c = 0.01
    for _ in range(200):
        post = 1.0 / (1.0 + np.exp2(-np.clip(bf + np.log2(lam_c / (1 - lam_c)), -1000, 1000)))
        new = float((post * inv_k).sum() / inv_k.sum())
        new = min(max(new, 1e-9), 1 - 1e-9)
        if abs(new - lam_c) < 1e-9:
            lam_c = new
            break
        lam_c = new
    if occurrences <= options.lambda_pairs:
        unique_candidates = float(len(left))
    else:
        unique_candidates = occurrences * float(inv_k.mean()) if len(inv_k) else 0.0
    expected = lam_c * unique_candidates
    lam = min(max(expected / total_pairs, 1.0 / total_pairs), 0.5)
    return lam, {"candidate_pairs": unique_candidates, "expected_matches": expected, "lambda_candidates": lam_c}


def _at_least_general(u_context: np.ndarray, u_general: np.ndarray, null: np.ndarray) -> np.ndarray:
    """A context's u with every agreeing level raised to at least its rate among different people in
    general, then renormalised (the last level, disagreement, keeps its estimate before that).

    Sharing an address can only make agreement commoner among different people, never rarer. A level
    the context's sample saw too seldom to estimate (a reversed name among neighbours) would
    otherwise keep its prior's tiny rate and be worth more bits between neighbours than between
    strangers: the opposite of what the context is for. Renormalising, rather than taking the
    raise out of disagreement, matters in a household context, where disagreement can be rare:
    left near zero, a differing surname would count as evidence *for* a match."""
    out = np.where(null, 0.0, np.maximum(u_context, u_general))
    out[-1] = u_context[-1]
    return out / out.sum()


def estimate_context_u(model: Model, table: RecordTable, options: TrainingOptions, rng: np.random.Generator,
                       ) -> tuple[dict[str, np.ndarray], list[dict[str, object]]]:
    """u of each dependent comparison within each context (e.g. surname among different people at one address).

    Pairs in the context are sampled from blocks sharing the context's field; how likely each is to
    be two different people is judged from the fields that do not depend on the context (given name,
    date of birth, middle name, sex, NHS number), with λ fitted on those pairs; the dependent
    comparison's levels are then counted with those weights. Where the data holds too few such
    pairs, the definition's prior stays.
    """
    comps = model.comparisons
    names = [c.name for c in comps]
    out: dict[str, np.ndarray] = {}
    info: list[dict[str, object]] = []
    for dep in model.settings.dependences:
        d = names.index(dep.comparison)
        dep_comp = comps[d]
        null = np.asarray([lvl.null for lvl in dep_comp.levels])
        for ctx in dep.contexts:
            rule = CONTEXT_KEYS.get(ctx.name)
            k = names.index(ctx.comparison)
            if rule is None:
                continue
            blocks = make_blocks(record_keys(table, (rule,)), options.max_block)
            left, right = sample_block_pairs(blocks, options.em_pairs, rng)
            pctx = PairContext(table, left, right)
            gamma = model.gamma(pctx)
            levels = [comps[k].index(lbl) for lbl in ctx.labels]
            lookup = np.zeros(128, dtype=bool)
            lookup[levels] = True
            inside = lookup[gamma[:, k]] & ~null[gamma[:, d]]
            gamma = gamma[inside]
            if len(gamma) == 0:
                info.append({"context": ctx.name, "pairs": 0, "prior_kept": True})
                continue
            # EM over the context's pairs: two classes (same person / different people); everything
            # fixed but λ and the dependent comparison's u among different people.
            fixed_bf = np.zeros(len(gamma))
            for c, comp in enumerate(comps):
                if c in (d, k):
                    continue
                m = np.clip(model.m[comp.name], 1e-12, 1.0)
                u = np.clip(model.u[comp.name], 1e-12, 1.0)
                ratio = np.where([lvl.null for lvl in comp.levels], 0.0, np.log(m) - np.log(u))
                fixed_bf += ratio[gamma[:, c]]
            m_dep = np.clip(model.m[dep_comp.name], 1e-12, 1.0)
            prior = np.asarray(ctx.u_prior)
            u_ctx = np.clip(prior, 1e-6, 1.0)
            lam = 0.5
            different = np.zeros(len(gamma))
            for _ in range(options.max_iterations * 2):
                dep_ratio = np.where(null, 0.0, np.log(m_dep) - np.log(np.clip(u_ctx, 1e-12, 1.0)))
                log_odds = np.log(lam / (1 - lam)) + fixed_bf + dep_ratio[gamma[:, d]]
                post = 1.0 / (1.0 + np.exp(-np.clip(log_odds, -700, 700)))
                different = 1.0 - post
                new_lam = min(max(float(post.mean()), 1e-6), 1 - 1e-6)
                counts = np.bincount(gamma[:, d], weights=different, minlength=len(dep_comp.levels))
                counts = np.where(null, 0.0, counts + options.prior_strength * prior)
                new_u = counts / counts.sum()
                change = max(abs(new_lam - lam), float(np.abs(new_u - u_ctx).max()))
                lam, u_ctx = new_lam, new_u
                if change < options.tolerance:
                    break
            effective = float(different.sum())
            if effective < options.min_context_pairs:
                info.append({"context": ctx.name, "pairs": int(len(gamma)), "different_people": effective,
                             "prior_kept": True})
                continue
            out[ctx.name] = _at_least_general(u_ctx, model.u[dep_comp.name], null)
            info.append({"context": ctx.name, "pairs": int(len(gamma)), "different_people": effective})
    return out, info


def train(model: Model, table: RecordTable, keys: np.ndarray, blocks: Blocks,
          options: TrainingOptions | None = None) -> Model:
    """Fill ``model`` with u, m and λ estimated from ``table`` itself (no labels)."""
    options = options or TrainingOptions()
    rng = np.random.default_rng(options.seed)
    comps = model.comparisons
    u = estimate_u(model, table, options, rng)
    model.set_parameters(u=u)
    info: dict[str, object] = {"records": len(table), "u_pairs": min(options.u_pairs, len(table) * (len(table) - 1) // 2)}

    training_keys = record_keys(table, TRAINING_KEYS)
    estimates: dict[str, list[np.ndarray]] = {comp.name: [] for comp in comps}
    sessions = []
    fixed_by_session = {"train_dob": {"dob"}, "train_names": {"given_name", "family_name", "middle_name"}}
    for r, rule in enumerate(TRAINING_KEYS):
        session_blocks = make_blocks(training_keys[:, r : r + 1], options.max_block)
        left, right = sample_block_pairs(session_blocks, options.em_pairs, rng)
        if len(left) < 50:
            sessions.append({"session": rule.name, "pairs": int(len(left)), "skipped": True})
            continue
        gamma = model.gamma(PairContext(table, left, right))
        fixed = fixed_by_session.get(rule.name, set())
        free = [c for c, comp in enumerate(comps) if comp.name not in fixed]
        m_session, lam_session, iterations = run_em(model, gamma, free, options)
        for name, values in m_session.items():
            estimates[name].append(values)
        sessions.append({"session": rule.name, "pairs": int(len(left)), "lambda": lam_session,
                         "iterations": iterations})
    m = {name: np.mean(values, axis=0) for name, values in estimates.items() if values}
    model.set_parameters(m=m)
    u_context, context_info = estimate_context_u(model, table, options, rng)
    model.set_parameters(u_context=u_context)
    info["contexts"] = context_info
    lam, lam_info = estimate_lambda(model, table, keys, blocks, options, rng)
    model.set_parameters(lam=lam)
    info["sessions"] = sessions
    info.update(lam_info)
    model.training = info
    return model
