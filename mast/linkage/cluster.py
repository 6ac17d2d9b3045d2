"""Clustering records into people so that every cluster holds together as a whole.

Connected components over "match" edges chain A–B–C into one person even where A and C clearly
disagree: one ambiguous record (``J SMITH``, no date of birth, at the family's address) would
merge a whole household. So:

1. Components of the match edges are only a first cut. Within each component every pair is
   scored (the components are small: they are people), so nothing is judged on a chain alone.
2. A component in which no pair conflicts — no guard fired (twins, parent and child, siblings), no
   pair with evidence against them stronger than the model's ``conflict_bf``, no steward's "not the
   same person" — is one person.
3. A pair that disagrees the way one person's records seldom do (date of birth and address at once:
   :class:`mast.linkage.comparisons.Coherence`) must be held together by evidence between them: its own
   score at or above the link threshold, a path of links whose weakest link clears the threshold by at
   least as much as the pair's own score falls short of it (the chain outweighs the doubt), or two
   records that each link to both (corroboration, not a chain through one record). Otherwise
   it is a conflict like the others, so the component splits at its weakest link.
4. Any other component is split by constrained agglomeration: edges in descending order of weight
   (steward's "same person" first), and two groups merge only if no pair across them conflicts.

The same function clusters a full rebuild and the neighbourhood touched by an incremental link.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mast.linkage.arrays import isin_sorted, unique
from mast.linkage.pairs import Blocks, block_pairs

#: (lo, hi) -> (match weight, log2 Bayes factor, guard bits[, coherence bits]): the model's scorer over row
#: pairs; coherence bits (see :class:`mast.linkage.comparisons.Coherence`) are optional
ScoreFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]

#: Components of up to this many records have the paths between their records weighed (a pair that
#: disagrees on date of birth and address may be held together by a strong path of links); in a larger
#: one such a pair needs a link of its own. Such components are rare (people have a handful of records)
#: and the path closure costs the cube of the size.
MAX_PATH_CHECK = 300



def _find(parent: Any, x: int) -> int:
    """Union-find root of ``x`` with path halving; ``parent`` is a list or a dict of ints."""
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x

def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label (the smallest row in it) of every row; vectorised."""
    labels = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return labels
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    while True:
        la, lb = labels[a], labels[b]
        if np.array_equal(la, lb):
            return labels
        low = np.minimum(la, lb)
        np.minimum.at(labels, la, low)
        np.minimum.at(labels, lb, low)
        while True:  # pointer jumping until every row points at its root
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped


@dataclass
class ClusterStats:
    components: int = 0
    clean: int = 0
    split: int = 0
    pairs_scored: int = 0
    conflicts: int = 0
    #: pairs that disagree on date of birth and address with neither a link nor a strong path between them
    unsupported: int = 0
    giant: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Constraints:
    """Steward decisions as row pairs: forced together, and kept apart."""

    same_lo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    same_hi: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    apart_lo: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    apart_hi: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


def _pair_code(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    lo, hi = np.minimum(lo, hi), np.maximum(lo, hi)
    return lo.astype(np.int64) << 32 | hi.astype(np.int64)


def cluster(n: int, edge_lo: np.ndarray, edge_hi: np.ndarray, score: ScoreFn, threshold_weight: float,
            conflict_bf: float, constraints: Constraints | None = None, max_complete: int = 2000,
            rows: np.ndarray | None = None, undated: np.ndarray | None = None,
            home: np.ndarray | None = None) -> tuple[np.ndarray, ClusterStats]:
    """Cluster rows ``0..n-1`` (or only ``rows``) into people; returns a label per row and stats.

    ``edge_lo``/``edge_hi`` are the candidate pairs at or above the threshold that no guard vetoed.
    ``undated``: rows without a date of birth (a bool per row) and ``home``: each row's dwelling (a code,
    -1 where unknown): an undated record joins a person of its home only where its links say whose it is
    (see :func:`_detach_ambiguous`). Labels are the smallest row of each cluster.
    """
    constraints = constraints or Constraints()
    stats = ClusterStats()
    a = np.concatenate([edge_lo, constraints.same_lo]).astype(np.int64)
    b = np.concatenate([edge_hi, constraints.same_hi]).astype(np.int64)
    labels = components(n, a, b)
    active = unique(np.concatenate([a, b])) if rows is None else np.asarray(rows, dtype=np.int64)
    if len(active) == 0:
        return labels, stats

    # Members of each multi-record component, grouped.
    comp = labels[active]
    order = np.argsort(comp, kind="stable")
    members, comp_sorted = active[order], comp[order]
    starts = np.nonzero(np.r_[True, comp_sorted[1:] != comp_sorted[:-1]])[0]
    sizes = np.diff(np.append(starts, len(members)))
    multi = sizes >= 2
    stats.components = int(multi.sum())
    small = multi & (sizes <= max_complete)
    giant = multi & (sizes > max_complete)
    stats.giant = int(giant.sum())

    same_codes = set(_pair_code(constraints.same_lo, constraints.same_hi).tolist())
    apart_codes = _pair_code(constraints.apart_lo, constraints.apart_hi)

    # 1. every pair within each small component, scored at once
    blocks = Blocks(comp_sorted[starts[small]], starts[small], sizes[small], members, 0)
    lo, hi = block_pairs(blocks)
    stats.pairs_scored = int(len(lo))
    if len(lo):
        scored = score(lo, hi)
        weight, bf, guards = scored[:3]
        codes = _pair_code(lo, hi)
        same_sorted = np.sort(np.fromiter(same_codes, np.int64, len(same_codes)))
        forced = isin_sorted(codes, same_sorted)
        apart = isin_sorted(codes, np.sort(apart_codes))
        unsupported = np.zeros(len(lo), dtype=bool)
        if len(scored) > 3:
            unsupported = (scored[3] != 0) & (weight < threshold_weight) & ~forced
            if unsupported.any():
                unsupported &= ~_path_supported(labels, lo, hi, weight, guards, unsupported, threshold_weight,
                                                stats)
        stats.unsupported = int(unsupported.sum())
        conflict = (((guards != 0) | (bf < conflict_bf) | unsupported) & ~forced) | apart
        stats.conflicts = int(conflict.sum())
        conflicted = unique(labels[lo[conflict]])
        split = isin_sorted(labels[lo], conflicted)
        stats.split = int(len(conflicted))
        stats.clean = int(small.sum()) - stats.split
        if len(conflicted):
            _split_components(labels, lo[split], hi[split], weight[split], conflict[split], forced[split],
                              apart[split], threshold_weight, guards[split], undated, home)

    # 2. components too large to score completely: agglomerate with conflicts checked on demand
    for g in np.nonzero(giant)[0]:
        comp_rows = members[starts[g] : starts[g] + sizes[g]]
        sorted_rows = np.sort(comp_rows)
        inside = isin_sorted(a, sorted_rows) & isin_sorted(b, sorted_rows)
        _agglomerate_lazily(labels, comp_rows, a[inside], b[inside], score, threshold_weight, conflict_bf,
                            same_codes, set(apart_codes.tolist()))
        stats.notes.append(f"component of {len(comp_rows)} records agglomerated without complete scoring")
    return labels, stats


def _path_supported(labels: np.ndarray, lo: np.ndarray, hi: np.ndarray, weight: np.ndarray, guards: np.ndarray,
                    pending: np.ndarray, threshold_weight: float, stats: ClusterStats) -> np.ndarray:
    """Of the ``pending`` pairs (each below the link threshold, disagreeing on date of birth and address),
    those a strong path joins: a path of links (at or above the threshold, no guard) whose weakest link
    clears the threshold by at least as much as the pair's own weight falls short of it; or two records
    or more that each link to both (a person with many records is joined many ways; namesakes are
    chained through the one record that looks like both).

    The strongest path between two records is the one whose weakest link is heaviest (the bottleneck),
    found for every pair of a component at once by a Floyd-Warshall pass over (max, min). In components
    over :data:`MAX_PATH_CHECK` records no path is weighed: such a pair needs a link of its own."""
    out = np.zeros(len(lo), dtype=bool)
    comp = labels[lo]
    wanted = unique(comp[pending])
    idx = np.nonzero(isin_sorted(comp, wanted))[0]
    idx = idx[np.argsort(comp[idx], kind="stable")]
    bounds = np.nonzero(np.r_[True, comp[idx][1:] != comp[idx][:-1], True])[0]
    for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        seg = idx[s:e]
        rows = unique(np.concatenate([lo[seg], hi[seg]]))
        k = len(rows)
        if k > MAX_PATH_CHECK:
            stats.notes.append(f"component of {k} records: pairs disagreeing on date of birth and address "
                               "need a link of their own (no path weighed)")
            continue
        la, lb = np.searchsorted(rows, lo[seg]), np.searchsorted(rows, hi[seg])
        link = (weight[seg] >= threshold_weight) & (guards[seg] == 0)
        linked = np.zeros((k, k), dtype=np.int32)
        linked[la[link], lb[link]] = 1
        linked |= linked.T
        best = np.full((k, k), -np.inf, dtype=np.float64)
        best[la[link], lb[link]] = weight[seg][link]
        best = np.maximum(best, best.T)
        for m in range(k):  # bottleneck closure: best[i, j] = max over paths of the weakest link
            np.maximum(best, np.minimum(best[:, m, None], best[None, m, :]), out=best)
        ask = pending[seg]
        a, b = la[ask], lb[ask]
        shortfall = threshold_weight - weight[seg][ask]
        # two or more records that each link to both: corroboration, not a chain through one record
        vouched = (linked[a] * linked[b]).sum(axis=1) >= 2
        out[seg[ask]] = (best[a, b] - threshold_weight >= shortfall) | vouched
    return out


def _split_components(labels: np.ndarray, lo: np.ndarray, hi: np.ndarray, weight: np.ndarray,
                      conflict: np.ndarray, forced: np.ndarray, apart: np.ndarray, threshold_weight: float,
                      guards: np.ndarray, undated: np.ndarray | None = None,
                      home: np.ndarray | None = None) -> None:
    """Constrained agglomeration inside each conflicted component (complete pair information)."""
    comp = labels[lo]
    order = np.lexsort((-weight, comp))
    lo, hi, weight, conflict, forced, apart, comp = (x[order] for x in (lo, hi, weight, conflict, forced, apart, comp))
    guards = guards[order]
    bounds = np.nonzero(np.r_[True, comp[1:] != comp[:-1], True])[0]
    for s, e in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        rows = unique(np.concatenate([lo[s:e], hi[s:e]]))
        k = len(rows)
        la = np.searchsorted(rows, lo[s:e])
        lb = np.searchsorted(rows, hi[s:e])
        cannot = np.zeros((k, k), dtype=bool)
        cannot[la[conflict[s:e]], lb[conflict[s:e]]] = True
        cannot |= cannot.T
        never = np.zeros((k, k), dtype=bool)
        never[la[apart[s:e]], lb[apart[s:e]]] = True
        never |= never.T
        w = weight[s:e]
        f = forced[s:e]
        link = f | ((w >= threshold_weight) & (guards[s:e] == 0))
        idx = np.nonzero(link)[0]
        idx = idx[np.lexsort((-w[idx], ~f[idx]))]  # forced first, then strongest
        parent = list(range(k))
        groups: dict[int, list[int]] = {i: [i] for i in range(k)}

        for t in idx.tolist():
            ra, rb = _find(parent, int(la[t])), _find(parent, int(lb[t]))
            if ra == rb:
                continue
            ga, gb = groups[ra], groups[rb]
            cross = np.ix_(ga, gb)
            if never[cross].any() or (not f[t] and cannot[cross].any()):
                continue
            if len(ga) < len(gb):
                ra, rb, ga, gb = rb, ra, gb, ga
            parent[rb] = ra
            ga.extend(gb)
            del groups[rb]
        if not f.any():
            _reassign(groups, k, la, lb, w, link, cannot | never)
            if undated is not None and home is not None and (undated[rows] & (home[rows] >= 0)).any():
                _detach_ambiguous(groups, k, la, lb, w, link, threshold_weight, undated[rows], home[rows])
        for members in groups.values():
            member_rows = rows[members]
            labels[member_rows] = member_rows.min()


def _reassign(groups: dict[int, list[int]], k: int, la: np.ndarray, lb: np.ndarray, w: np.ndarray,
              link: np.ndarray, cannot: np.ndarray, passes: int = 3) -> None:
    """Greedy agglomeration is order-dependent: a record joined early to the group its strongest edge
    leads to can keep it apart from a larger group of the same person that a member of the first one
    conflicts with. So, once agglomeration is done, a record moves to another group of its component
    when that group is at least as large as its own, it links (at or above the threshold, no guard) to a
    member there, conflicts with no member there, the sum of its match weights to that group's members is
    greater than to its own group's (the move raises the clustering's total weight), and the group it
    leaves stays connected by links. "At least as large": a mover with two records at the old home, one
    of them with a slip in the date of birth (which conflicts with the new home's records), and two at
    the new home was split at the move, since the old home's records had joined first; the record whose
    date agrees moves to the new home, where its links weigh more, and the slipped one is cut off. Every
    group still holds together as a whole: no pair in it
    conflicts. Not used in a component where records are forced together (a steward's "same
    person", or in an incremental link the people already linked): forced groups are not reshuffled.

    A move the old group's connectivity refused is not tried again until that group changes, so a
    long chain costs one connectivity test per member and pass, not one per member per pass each
    time any group changes."""
    if len(groups) < 2:
        return
    weights = np.zeros((k, k), dtype=np.float32)
    weights[la, lb] = w
    weights += weights.T
    linked = np.zeros((k, k), dtype=bool)
    linked[la[link], lb[link]] = True
    linked |= linked.T
    group_of = np.empty(k, dtype=np.int64)
    for g, members in groups.items():
        group_of[members] = g
    version = dict.fromkeys(groups, 0)  # bumped whenever a group's members change
    refused: set[tuple[int, int, int]] = set()  # (record, its group, that group's version)
    for _ in range(passes):
        moved = False
        for i in range(k):
            own = int(group_of[i])
            if not linked[i].any() or (i, own, version[own]) in refused:
                continue
            to_group = np.bincount(group_of, weights=weights[i], minlength=k)
            conflicts = np.bincount(group_of, weights=cannot[i].astype(np.float64), minlength=k)
            reach = np.bincount(group_of, weights=linked[i].astype(np.float64), minlength=k)
            allowed = (conflicts == 0) & (reach > 0)
            allowed &= np.bincount(group_of, minlength=k) >= len(groups[own])
            allowed[own] = False
            if not allowed.any():
                continue
            best = int(np.argmax(np.where(allowed, to_group, -np.inf)))
            if to_group[best] <= to_group[own]:
                continue
            rest = [m for m in groups[own] if m != i]
            if rest and not _connected(rest, linked):
                refused.add((i, own, version[own]))
                continue
            groups[own] = rest
            version[own] += 1
            if not rest:
                del groups[own]
            groups[best].append(i)
            version[best] += 1
            group_of[i] = best
            moved = True
        if not moved:
            break


def _detach_ambiguous(groups: dict[int, list[int]], k: int, la: np.ndarray, lb: np.ndarray, w: np.ndarray,
                      link: np.ndarray, threshold_weight: float, undated: np.ndarray, home: np.ndarray) -> None:
    """A record without a date of birth that links as well to another person of its home as to its own
    is left alone.

    In a conflicted component the groups are different people (something holds them apart). A record
    with no date of birth that links to two of them alike (a son's record at the home he shares with
    his father of the same name; a record with only an initial at the twins' address) cannot say whose
    it is: placed with either, it shows one person's involvement under the other's name half the time.
    So such a record stays in its group only if its strongest link there outweighs its strongest link
    to a member of any other group at the same home (dwelling) by the odds a link itself needs (the
    threshold weight); otherwise it becomes a person of its own (and the rest of its group, if the
    record was what joined it, splits into its connected parts). A record with a date of birth is not
    moved: the date already told the people apart (the guards). Nor is one whose rival is elsewhere:
    away from a shared home, two groups of one name are often one person split by a conflict, and
    leaving records out of both costs more people found than it saves."""
    if len(groups) < 2:
        return
    weights = np.zeros((k, k), dtype=np.float32)
    linked = np.zeros((k, k), dtype=bool)
    weights[la[link], lb[link]] = w[link]
    linked[la[link], lb[link]] = True
    weights += weights.T
    linked |= linked.T
    group_of = np.empty(k, dtype=np.int64)
    for g, members in groups.items():
        group_of[members] = g
    detached = []
    for g, members in groups.items():
        if len(members) < 2:
            continue
        for i in members:
            if not undated[i] or home[i] < 0:
                continue
            own = weights[i][linked[i] & (group_of == g)].max(initial=-np.inf)
            rivals = linked[i] & (group_of != g) & (home == home[i])
            if rivals.any() and own - weights[i][rivals].max() < threshold_weight:
                detached.append(i)
    if not detached:
        return
    alone = set(detached)
    rebuilt: dict[int, list[int]] = {}
    for members in groups.values():
        for piece in _pieces([m for m in members if m not in alone], linked):
            rebuilt[min(piece)] = piece
    for i in detached:
        rebuilt[i] = [i]
    groups.clear()
    groups.update(rebuilt)


def _pieces(members: list[int], linked: np.ndarray) -> list[list[int]]:
    """``members`` split into the pieces ``linked`` edges connect."""
    left = list(members)
    out = []
    while left:
        seen = {left[0]}
        frontier = [left[0]]
        while frontier:
            nxt = np.nonzero(linked[frontier[-1]])[0]
            frontier.pop()
            for j in nxt.tolist():
                if j in left and j not in seen:
                    seen.add(j)
                    frontier.append(j)
        piece = [m for m in left if m in seen]
        out.append(piece)
        left = [m for m in left if m not in seen]
    return out


def _connected(members: list[int], linked: np.ndarray) -> bool:
    """Whether ``members`` form one connected piece over ``linked`` edges."""
    sub = linked[np.ix_(members, members)]
    seen = np.zeros(len(members), dtype=bool)
    seen[0] = True
    frontier = seen.copy()
    while frontier.any():
        frontier = sub[frontier].any(axis=0) & ~seen
        seen |= frontier
    return bool(seen.all())


def _agglomerate_lazily(labels: np.ndarray, rows: np.ndarray, a: np.ndarray, b: np.ndarray, score: ScoreFn,
                        threshold_weight: float, conflict_bf: float, same_codes: set[int],
                        apart_codes: set[int]) -> None:
    """Agglomeration for a very large component: cross pairs are scored when a merge is tried."""
    weight = score(a, b)[0] if len(a) else np.zeros(0)
    codes = _pair_code(a, b)
    forced = np.asarray([c in same_codes for c in codes.tolist()], dtype=bool)
    order = np.lexsort((-weight, ~forced))
    parent = {int(r): int(r) for r in rows.tolist()}
    groups = {int(r): [int(r)] for r in rows.tolist()}

    for t in order.tolist():
        if not forced[t] and weight[t] < threshold_weight:
            continue
        ra, rb = _find(parent, int(a[t])), _find(parent, int(b[t]))
        if ra == rb:
            continue
        ga, gb = groups[ra], groups[rb]
        cross_lo = np.repeat(np.asarray(ga), len(gb))
        cross_hi = np.tile(np.asarray(gb), len(ga))
        cross_codes = _pair_code(cross_lo, cross_hi).tolist()
        if any(c in apart_codes for c in cross_codes):
            continue
        if not forced[t]:
            scored = score(np.minimum(cross_lo, cross_hi), np.maximum(cross_lo, cross_hi))
            cross_weight, bf, guards = scored[:3]
            conflict = (guards != 0) | (bf < conflict_bf)
            if len(scored) > 3:  # too large to weigh paths: a pair disagreeing on date and address needs a link
                conflict |= (scored[3] != 0) & (cross_weight < threshold_weight)
            if conflict.any():
                continue
        if len(ga) < len(gb):
            ra, rb, ga, gb = rb, ra, gb, ga
        parent[rb] = ra
        ga.extend(gb)
        del groups[rb]
    for members in groups.values():
        member_rows = np.asarray(members)
        labels[member_rows] = member_rows.min()


def unsupported(lo: np.ndarray, hi: np.ndarray, weight: np.ndarray, guards: np.ndarray, coherence: np.ndarray,
                threshold_weight: float) -> np.ndarray:
    """Which pairs of one group of records (every pair among them scored: ``lo``, ``hi`` positions
    ``0..k-1``) a cluster-coherence rule holds apart: they meet its pattern, their own score is below a
    link, and no strong path of links, nor two records linking to both, joins them (as :func:`cluster`
    decides it). For explaining a split after the fact."""
    pending = (coherence != 0) & (weight < threshold_weight)
    if not pending.any():
        return pending
    labels = np.zeros(int(max(lo.max(), hi.max())) + 1, dtype=np.int64)
    return pending & ~_path_supported(labels, lo, hi, weight, guards, pending, threshold_weight, ClusterStats())
