"""Who is known to which agency, and when: the involvements behind every generated row.

One involvement is one record a partner holds: an open case (snapshot feeds) or an attendance or
incident (delta feeds). Each has the day of the run on which it is first sent, and for an open
case the last day it is still open, so a run of daily extracts falls out of the same table:
a snapshot on day d holds the cases open on day d; a delta holds what was first sent on day d,
plus the withdrawal of a row sent in error the day before.

Agencies see the same households: a household's *need* (gamma distributed, mean 1) raises its
members' chances with every agency at once, which is what makes the overlaps MAST exists to show.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from mast.feeds.definition import FeedDefinition
from tools.generate.partners import Profile, profile_for
from tools.generate.population import ROLE_CHILD, ROLE_LEAD, ROLE_PARTNER, Population

HISTORY_DAYS = 730  # deltas carry two years of history on the first day
CASE_HISTORY_DAYS = 1095  # open cases started up to three years ago


@dataclass
class Involvements:
    """Aligned arrays, one entry per involvement."""

    feed: np.ndarray  # index into the run's feed list
    person: np.ndarray  # -1: no person (a fire at a car park)
    address: np.ndarray  # -1: the person's address at the time; else the incident address
    start: np.ndarray  # datetime64[D]: record date
    first_day: np.ndarray  # day of the run it is first sent (1-based)
    last_day: np.ndarray  # snapshot: last day it is open; delta: same as first_day
    withdraw_day: np.ndarray  # delta: day a withdrawal row is sent for it (0 = never)
    group: np.ndarray  # shared occurrence / incident (-1 none)
    member: np.ndarray  # position within the group (1-based)
    relevant: np.ndarray  # bool: false for incidents the feed's relevance rule drops
    bad: np.ndarray  # int8: deliberate fault (see render.BAD_*), 0 none
    case_ref: np.ndarray  # object

    def __len__(self) -> int:
        return len(self.feed)


def build_involvements(
    pop: Population,
    definitions: list[FeedDefinition],
    rng: np.random.Generator,
    day_dates: list[dt.date],
) -> Involvements:
    days = len(day_dates)
    d1 = np.datetime64(day_dates[0], "D")
    age = pop.age_at(np.datetime64(day_dates[-1], "D"))
    need = pop.hh_need[pop.household]
    parts: list[dict[str, np.ndarray]] = []
    for fi, definition in enumerate(definitions):
        profile = profile_for(definition.id)
        if definition.mode == "snapshot":
            parts.append(_snapshot(fi, profile, pop, age, need, rng, day_dates))
        else:
            parts.append(_delta(fi, profile, definition, pop, age, need, rng, day_dates))
    inv = _concat(parts)
    # everyone appears at least once on day one: give the unseen an involvement with the most
    # common kind of agency (a delta feed, preferring health)
    seen = np.zeros(len(pop), dtype=bool)
    seen[inv.person[(inv.person >= 0) & (inv.first_day == 1)]] = True
    unseen = np.flatnonzero(~seen)
    if len(unseen):
        target = _fallback_feed(definitions)
        start = d1 - rng.integers(0, HISTORY_DAYS, len(unseen)).astype("timedelta64[D]")
        snap = definitions[target].mode == "snapshot"
        extra = _rows(target, unseen, start, 1, days if snap else 1, rng)
        inv = _concat([_as_dict(inv), extra])
    # nobody is involved with an agency before they are born
    has = inv.person >= 0
    inv.start[has] = np.maximum(inv.start[has], pop.dob[inv.person[has]])
    _assign_case_refs(inv, definitions, rng)
    return inv


def _fallback_feed(definitions: list[FeedDefinition]) -> int:
    kinds = [profile_for(d.id).kind for d in definitions]
    for wanted in ("health", "generic", "police"):
        for i, (k, d) in enumerate(zip(kinds, definitions, strict=True)):
            if k == wanted and d.mode == "delta" and d.relevance is None:
                return i
    return 0


def _rows(fi: int, people: np.ndarray, start: np.ndarray, first_day: int | np.ndarray,
          last_day: int | np.ndarray, rng: np.random.Generator,
          group: np.ndarray | None = None, member: np.ndarray | None = None) -> dict[str, np.ndarray]:  # fmt: skip
    k = len(people)
    return {
        "feed": np.full(k, fi),
        "person": people.astype(np.int64),
        "address": np.full(k, -1),
        "start": start.astype("datetime64[D]"),
        "first_day": np.broadcast_to(np.asarray(first_day), (k,)).astype(np.int64),
        "last_day": np.broadcast_to(np.asarray(last_day), (k,)).astype(np.int64),
        "withdraw_day": np.zeros(k, np.int64),
        "group": group if group is not None else np.full(k, -1),
        "member": member if member is not None else np.ones(k, np.int64),
        "relevant": np.ones(k, dtype=bool),
        "bad": np.zeros(k, np.int8),
        "case_ref": np.empty(k, dtype=object),
    }


def _snapshot(fi: int, profile: Profile, pop: Population, age: np.ndarray, need: np.ndarray,
              rng: np.random.Generator, day_dates: list[dt.date]) -> dict[str, np.ndarray]:  # fmt: skip
    n, days = len(pop), len(day_dates)
    d1 = np.datetime64(day_dates[0], "D")
    if profile.kind == "child_care":
        eligible = pop.role == ROLE_CHILD
        hh_open = rng.random(len(pop.hh_need)) < np.minimum(0.08 * pop.hh_need, 0.8)
        chosen = eligible & hh_open[pop.household] & (rng.random(n) < 0.85)
        hh_start = d1 - rng.integers(0, CASE_HISTORY_DAYS, len(pop.hh_need)).astype("timedelta64[D]")
        start = np.maximum(hh_start[pop.household], pop.dob)
    else:
        eligible = age >= (18 if profile.kind == "adult_care" else 0)
        p = np.clip(0.03 + 0.008 * np.maximum(age - 60, 0), 0, 0.5) * need
        chosen = eligible & (rng.random(n) < np.minimum(p, 0.9))
        start = d1 - rng.integers(0, CASE_HISTORY_DAYS, n).astype("timedelta64[D]")
        start = np.maximum(start, pop.dob + np.timedelta64(18 * 365, "D"))
    people = np.flatnonzero(chosen)
    out = _rows(fi, people, np.minimum(start[people], d1), 1, days, rng)
    # later days: some cases close, some open
    for d in range(2, days + 1):
        open_now = np.flatnonzero(out["last_day"] >= d)
        k = max(2, len(open_now) // 100)
        closing = rng.choice(open_now, size=min(k, len(open_now)), replace=False)
        out["last_day"][closing] = d - 1
        pool = np.flatnonzero(eligible & ~np.isin(np.arange(n), out["person"]))
        new = rng.choice(pool, size=min(k, len(pool)), replace=False)
        when = np.full(len(new), np.datetime64(day_dates[d - 1], "D") - np.timedelta64(1, "D"))
        new_rows = _rows(fi, new, when, d, days, rng)
        out = {key: np.concatenate([out[key], new_rows[key]]) for key in out}
    return out


def _delta(fi: int, profile: Profile, definition: FeedDefinition, pop: Population,
           age: np.ndarray, need: np.ndarray, rng: np.random.Generator,
           day_dates: list[dt.date]) -> dict[str, np.ndarray]:  # fmt: skip
    n, days = len(pop), len(day_dates)
    d1 = np.datetime64(day_dates[0], "D")
    parts: list[dict[str, np.ndarray]] = []
    group_base = 0

    def history(k: int) -> np.ndarray:
        return d1 - rng.integers(0, HISTORY_DAYS, k).astype("timedelta64[D]")

    if profile.kind in ("health", "generic"):
        rate = np.select([age < 5, age < 16, age < 65, age < 80], [0.9, 0.45, 0.5, 0.7], 1.2)
        rate = rate * need * (0.6 if profile.kind == "generic" else 1.0)
        count = rng.poisson(rate)
        people = np.repeat(np.arange(n), count)
        parts.append(_rows(fi, people, history(len(people)), 1, 1, rng))
    elif profile.kind == "police":
        rate = np.select([age < 10, age < 18, age < 31, age < 51, age < 71], [0.0, 0.15, 0.45, 0.35, 0.12], 0.04)
        count = rng.poisson(rate * need**1.5)
        people = np.repeat(np.arange(n), count)
        occ = np.arange(len(people))
        parts.append(_rows(fi, people, history(len(people)), 1, 1, rng, group=occ))
        group_base = len(people)
        # domestic incidents: both adults of a couple in one occurrence
        leads = np.flatnonzero(pop.role == ROLE_LEAD)
        partners = np.full(len(pop.hh_need), -1)
        p_idx = np.flatnonzero(pop.role == ROLE_PARTNER)
        partners[pop.household[p_idx]] = p_idx
        lp = partners[pop.household[leads]]
        couples = leads[lp >= 0]
        inc = rng.poisson(0.08 * pop.hh_need[pop.household[couples]] ** 1.5)
        a = np.repeat(couples, inc)
        b = partners[pop.household[a]]
        g = group_base + np.arange(len(a))
        when = history(len(a))
        parts.append(_rows(fi, a, when, 1, 1, rng, group=g, member=np.ones(len(a), np.int64)))
        parts.append(_rows(fi, b, when, 1, 1, rng, group=g, member=np.full(len(a), 2)))
        group_base += len(a)
    elif profile.kind == "fire":
        h = len(pop.hh_need)
        count = rng.poisson(0.12 * pop.hh_need)
        hh = np.repeat(np.arange(h), count)
        leads = np.flatnonzero(pop.role == ROLE_LEAD)
        lead_of = np.full(h, -1)
        lead_of[pop.household[leads]] = leads
        when = history(len(hh))
        g = np.arange(len(hh))
        parts.append(_rows(fi, lead_of[hh], when, 1, 1, rng, group=g))
        partners = np.full(h, -1)
        p_idx = np.flatnonzero(pop.role == ROLE_PARTNER)
        partners[pop.household[p_idx]] = p_idx
        two = (partners[hh] >= 0) & (rng.random(len(hh)) < 0.3)
        parts.append(_rows(fi, partners[hh][two], when[two], 1, 1, rng, group=g[two],
                           member=np.full(int(two.sum()), 2)))  # fmt: skip
        group_base = len(hh)
        if definition.relevance is not None:  # incidents elsewhere: cars, shops, grass fires
            k = int(len(hh) * 0.4) + 2
            other = _rows(fi, np.full(k, -1), history(k), 1, 1, rng,
                          group=group_base + np.arange(k))  # fmt: skip
            other["relevant"][:] = False
            other["address"] = rng.integers(0, len(pop.addresses), k)
            parts.append(other)
            group_base += k
    out = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}

    # later days: fresh rows dated the day before, and a withdrawal of one row sent the day before
    per_day = max(3, int(round(len(out["person"]) / HISTORY_DAYS * 2)))
    eligible = np.flatnonzero(age >= (10 if profile.kind == "police" else 0))
    for d in range(2, days + 1):
        people = rng.choice(eligible, size=per_day, replace=True)
        when = np.full(per_day, np.datetime64(day_dates[d - 1], "D") - np.timedelta64(1, "D"))
        new = _rows(fi, people, when, d, d, rng, group=group_base + np.arange(per_day))
        group_base += per_day
        out = {key: np.concatenate([out[key], new[key]]) for key in out}
        if definition.withdrawal is not None:
            sent_before = np.flatnonzero((out["first_day"] == d - 1) & out["relevant"]
                                         & (out["person"] >= 0) & (out["withdraw_day"] == 0))  # fmt: skip
            if len(sent_before):
                out["withdraw_day"][rng.choice(sent_before)] = d
    return out


def _as_dict(inv: Involvements) -> dict[str, np.ndarray]:
    return {k: getattr(inv, k) for k in Involvements.__dataclass_fields__}


def _concat(parts: list[dict[str, np.ndarray]]) -> Involvements:
    keys = list(Involvements.__dataclass_fields__)
    return Involvements(**{k: np.concatenate([p[k] for p in parts]) for k in keys})


def _assign_case_refs(inv: Involvements, definitions: list[FeedDefinition], rng: np.random.Generator) -> None:
    """References in each partner's own style, increasing with the record date as real ones do."""
    for fi, definition in enumerate(definitions):
        idx = np.flatnonzero(inv.feed == fi)
        if not len(idx):
            continue
        kind = profile_for(definition.id).kind
        order = idx[np.lexsort((inv.person[idx], inv.start[idx]))]
        seq = np.empty(len(idx), np.int64)
        seq[np.searchsorted(idx, order)] = np.arange(len(order))
        start_year = (inv.start[idx].astype("datetime64[Y]").astype(np.int64) + 1970) % 100
        grp = inv.group[idx].copy()
        alone = grp < 0  # rows in no occurrence get one of their own
        grp[alone] = grp.max(initial=0) + 1 + np.arange(int(alone.sum()))
        member = inv.member[idx]
        if kind in ("police", "fire"):
            # one reference per occurrence, the member number after it
            first = {}
            occ = np.empty(len(idx), np.int64)
            for j in np.argsort(seq, kind="stable"):
                occ[j] = first.setdefault(int(grp[j]), len(first))
        offset = int(rng.integers(1000, 90000))
        if kind == "adult_care":
            refs = [f"{1_000_000 + offset * 3 + int(p)}" for p in inv.person[idx]]
        elif kind == "child_care":
            refs = [f"{2_000_000 + offset * 3 + int(p)}" for p in inv.person[idx]]
        elif kind == "health":
            refs = [f"RBK-AE-{y:02d}-{offset * 10 + s:07d}" for y, s in zip(start_year, seq, strict=True)]
        elif kind == "police":
            refs = [f"{y:02d}WM{offset * 10 + o:07d}-N{m}"
                    for y, o, m in zip(start_year, occ, member, strict=True)]  # fmt: skip
        elif kind == "fire":
            refs = [f"WMFS-{y:02d}{offset + o:06d}-{m:02d}"
                    for y, o, m in zip(start_year, occ, member, strict=True)]  # fmt: skip
        else:
            prefix = "".join(w[0] for w in definition.id.split("-")).upper()
            refs = [f"{prefix}{offset * 10 + s:08d}" for s in seq]
        inv.case_ref[idx] = np.array(refs, dtype=object)
