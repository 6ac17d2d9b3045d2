"""A synthetic population of households at addresses, built with numpy a column at a time.

Households are what makes linkage hard (DESIGN.md, "Linkage"): a household shares a surname, an
address and a postcode; twins share a date of birth too; a father and son may share a whole name.
So the population is built household first: type (single, couple, family, lone parent,
three generations, shared house), then its members with consistent ages, sexes and names, then an
address, and for some households a previous address and the date they moved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from tools.generate.vocab import COMMUNITIES, COMMUNITY_SHARES, Vocab

# household types
SINGLE, COUPLE, FAMILY, LONE_PARENT, MULTIGEN, SHARED = range(6)
_TYPE_P_DEFAULT = (0.27, 0.22, 0.26, 0.11, 0.04, 0.10)
_TYPE_P_SOUTH_ASIAN = (0.10, 0.12, 0.42, 0.07, 0.24, 0.05)
_SOUTH_ASIAN = {"pakistani", "bangladeshi", "sikh", "hindu"}
_MUSLIM = {"pakistani", "bangladeshi"}
_LETTERS = np.array(list("ABDEFGHJLNPQRSTUWXYZ"), dtype=object)  # postcode unit letters

ROLE_LEAD, ROLE_PARTNER, ROLE_ADULT, ROLE_ELDER, ROLE_CHILD = range(5)


@dataclass(frozen=True)
class Addresses:
    """One row per address (index = address id)."""

    number: np.ndarray  # int, house or building number
    flat: np.ndarray  # int, 0 = not a flat
    block: np.ndarray  # object: block name for some flats, else ""
    street: np.ndarray  # object
    locality: np.ndarray  # object
    town: np.ndarray  # object
    postcode: np.ndarray  # object, canonical "WS3 2PQ"
    uprn: np.ndarray  # object, 12 digits

    def __len__(self) -> int:
        return len(self.number)


@dataclass(frozen=True)
class Population:
    """One row per person (index = person id)."""

    household: np.ndarray
    role: np.ndarray
    sex: np.ndarray  # object 'M' / 'F'
    community: np.ndarray  # object
    given: np.ndarray  # object
    middle: np.ndarray  # object, None when absent
    family: np.ndarray  # object
    called_by_middle: np.ndarray  # bool: known day to day by the middle name (Mohammed Imran -> Imran)
    dob: np.ndarray  # datetime64[D]
    nhs: np.ndarray  # object, 10 digits
    # per household
    hh_address: np.ndarray  # int: current address
    hh_prev_address: np.ndarray  # int: previous address or -1
    hh_move_date: np.ndarray  # datetime64[D], NaT when not moved
    hh_need: np.ndarray  # float: how much the household needs services (mean 1)
    hh_sensitive: np.ndarray  # bool: e.g. in a refuge
    addresses: Addresses

    def __len__(self) -> int:
        return len(self.household)

    def age_at(self, when: np.datetime64) -> np.ndarray:
        return ((when - self.dob).astype(np.int64) // 365.2425).astype(np.int64)

    def address_at(self, people: np.ndarray, when: np.ndarray) -> np.ndarray:
        """Each person's address on a date: the previous one before the household moved."""
        hh = self.household[people]
        moved = self.hh_prev_address[hh] >= 0
        before = moved & (when < self.hh_move_date[hh])
        return np.where(before, self.hh_prev_address[hh], self.hh_address[hh])


def build_population(n: int, rng: np.random.Generator, as_of: dt.date, vocab: Vocab,
                     recent_days: int = 1) -> Population:  # fmt: skip
    """``n`` people in households; moves happen in the two years before ``as_of`` (a few in the
    last ``recent_days`` days, so a run of daily extracts shows somebody moving)."""
    today = np.datetime64(as_of, "D")
    h_est = int(n / 2.2) + 16
    comm_idx = rng.choice(len(COMMUNITIES), size=h_est, p=COMMUNITY_SHARES)
    communities = np.array(COMMUNITIES, dtype=object)
    south_asian = np.isin(communities[comm_idx], list(_SOUTH_ASIAN))
    htype = np.where(
        south_asian,
        rng.choice(6, size=h_est, p=_TYPE_P_SOUTH_ASIAN),
        rng.choice(6, size=h_est, p=_TYPE_P_DEFAULT),
    )
    n_adults = np.select(
        [htype == SINGLE, htype == LONE_PARENT, htype == SHARED],
        [1, 1, rng.integers(2, 5, size=h_est)],
        default=2,
    )
    kids = rng.choice([1, 2, 3, 4, 5], size=h_est, p=[0.36, 0.38, 0.17, 0.06, 0.03])
    n_kids = np.where(np.isin(htype, [FAMILY, LONE_PARENT, MULTIGEN]), kids, 0)
    n_kids = np.where(htype == LONE_PARENT, np.minimum(n_kids, 3), n_kids)
    n_elders = np.where(htype == MULTIGEN, rng.integers(1, 3, size=h_est), 0)
    size = n_adults + n_elders + n_kids
    cum = np.cumsum(size)
    h = int(np.searchsorted(cum, n)) + 1
    size = size[:h].copy()
    size[-1] -= int(cum[h - 1] - n)
    comm_idx, htype, n_adults, n_elders = comm_idx[:h], htype[:h], n_adults[:h], n_elders[:h]
    starts = np.concatenate(([0], np.cumsum(size)[:-1]))

    hh = np.repeat(np.arange(h), size)
    pos = np.arange(n) - starts[hh]
    role = np.where(
        pos == 0,
        ROLE_LEAD,
        np.where(
            pos < n_adults[hh],
            np.where((pos == 1) & (htype[hh] != SHARED), ROLE_PARTNER, ROLE_ADULT),
            np.where(pos < n_adults[hh] + n_elders[hh], ROLE_ELDER, ROLE_CHILD),
        ),
    )

    # ages (years) of the household's lead, then of everyone from it
    t = htype
    lead_age = np.select(
        [t == SINGLE, t == COUPLE, t == FAMILY, t == LONE_PARENT, t == MULTIGEN],
        [
            np.where(rng.random(h) < 0.45, rng.integers(18, 46, h),
                     np.where(rng.random(h) < 0.5, rng.integers(46, 71, h), rng.integers(71, 97, h))),
            rng.integers(20, 91, h),
            rng.integers(23, 53, h),
            rng.integers(18, 49, h),
            rng.integers(27, 51, h),
        ],
        default=rng.integers(18, 56, h),
    )  # fmt: skip
    lead = lead_age[hh]
    age = np.select(
        [role == ROLE_LEAD, role == ROLE_PARTNER, role == ROLE_ADULT, role == ROLE_ELDER],
        [
            lead,
            np.clip(lead + np.round(rng.normal(0, 3, n)).astype(np.int64), 18, 100),
            rng.integers(18, 56, n),
            np.clip(lead + rng.integers(24, 34, n), 0, 102),
        ],
        default=(rng.random(n) * np.maximum(np.minimum(18, lead - 16), 1)).astype(np.int64),
    )
    age_days = (age * 365.2425 + rng.integers(0, 365, n)).astype(np.int64)
    dob = today - age_days.astype("timedelta64[D]")
    # twins: in about 3% of households with two or more children, the first two share a birthday (and,
    # for half of them, each other's given name as a middle name: see the end)
    child_rank = pos - n_adults[hh] - n_elders[hh]
    twin_hh = (rng.random(h) < 0.03) & (size - n_adults - n_elders >= 2)
    first_child = np.full(h, -1)
    c0 = np.flatnonzero((role == ROLE_CHILD) & (child_rank == 0))
    first_child[hh[c0]] = c0
    twins = np.flatnonzero((role == ROLE_CHILD) & (child_rank == 1) & twin_hh[hh])
    dob[twins] = dob[first_child[hh[twins]]]

    # sexes
    lead_sex = np.where(htype == LONE_PARENT, rng.random(h) < 0.1, rng.random(h) < 0.5)  # True = M
    is_m = np.where(role == ROLE_LEAD, lead_sex[hh], rng.random(n) < 0.5)
    partner = role == ROLE_PARTNER
    is_m[partner] = np.where(rng.random(partner.sum()) < 0.95, ~lead_sex[hh[partner]], lead_sex[hh[partner]])
    sex = np.where(is_m, "M", "F").astype(object)

    # communities: the household's, a few partners and every sharer their own
    person_comm = comm_idx[hh].copy()
    own = (partner & (rng.random(n) < 0.06)) | (role == ROLE_ADULT)
    person_comm[own] = rng.choice(len(COMMUNITIES), size=int(own.sum()), p=COMMUNITY_SHARES)
    community = communities[person_comm]

    years = (dob.astype("datetime64[Y]").astype(np.int64) + 1970)
    era = np.where(years < 1970, "old", np.where(years < 2000, "mid", "young")).astype(object)

    given = np.empty(n, dtype=object)
    middle = np.full(n, None, dtype=object)
    for c in COMMUNITIES:
        for s in ("M", "F"):
            for e in ("old", "mid", "young"):
                idx = np.flatnonzero((community == c) & (sex == s) & (era == e))
                if len(idx) == 0:
                    continue
                w = vocab.given_for(c, s, e)
                given[idx] = w.names[w.sample(rng, len(idx))]
                mid = w.names[w.sample(rng, len(idx))]
                p_mid = 0.6 if c in ("anglo", "caribbean") else 0.45
                has = (rng.random(len(idx)) < p_mid) & (mid != given[idx])
                middle[idx[has]] = mid[has]
    sikh = community == "sikh"
    middle[sikh & (sex == "F")] = "Kaur"
    middle[sikh & (sex == "M")] = "Singh"
    called_by_middle = (
        np.isin(given, ["Mohammed", "Muhammad", "Abdul"]) & np.not_equal(middle, None)
        & (rng.random(n) < 0.7)
    )  # fmt: skip

    # surnames: the household's; some partners keep their own; sharers have their own
    hh_surname = np.empty(h, dtype=object)
    hh_surname_f = np.empty(h, dtype=object)
    for ci, c in enumerate(COMMUNITIES):
        idx = np.flatnonzero(comm_idx == ci)
        if len(idx):
            w = vocab.surnames[c]
            pick = w.sample(rng, len(idx))
            hh_surname[idx], hh_surname_f[idx] = w.names[pick], w.female[pick]
    own_surname = np.empty(n, dtype=object)
    own_surname_f = np.empty(n, dtype=object)
    for ci, c in enumerate(COMMUNITIES):
        idx = np.flatnonzero(person_comm == ci)
        if len(idx):
            w = vocab.surnames[c]
            pick = w.sample(rng, len(idx))
            own_surname[idx], own_surname_f[idx] = w.names[pick], w.female[pick]
    # a few households carry a double-barrelled name
    barrelled = (communities[comm_idx] == "anglo") & (rng.random(h) < 0.015)
    w = vocab.surnames["anglo"]
    second = w.names[w.sample(rng, int(barrelled.sum()))]
    hh_surname[barrelled] = hh_surname[barrelled] + "-" + second
    hh_surname_f[barrelled] = hh_surname_f[barrelled] + "-" + second

    keeps_own = (role == ROLE_ADULT) | (partner & (rng.random(n) < 0.22)) | own & partner
    family = np.where(sex == "F", hh_surname_f[hh], hh_surname[hh])
    family[keeps_own] = np.where(sex[keeps_own] == "F", own_surname_f[keeps_own], own_surname[keeps_own])
    # children of a partner who kept their own name: some carry both names
    partner_of = np.full(h, -1)
    p_idx = np.flatnonzero(partner)
    partner_of[hh[p_idx]] = p_idx
    kid = np.flatnonzero(role == ROLE_CHILD)
    kp = partner_of[hh[kid]]
    both = kid[(kp >= 0) & keeps_own[np.maximum(kp, 0)] & (rng.random(len(kid)) < 0.3)]
    if len(both):
        family[both] = family[both] + "-" + family[partner_of[hh[both]]]
    # South Asian Muslim women are often recorded as Begum or Bibi
    bb = np.isin(community, list(_MUSLIM)) & (sex == "F") & np.isin(role, [ROLE_LEAD, ROLE_PARTNER, ROLE_ELDER]) \
        & (rng.random(n) < 0.4)  # fmt: skip
    family[bb] = np.where(community[bb] == "bangladeshi", "Begum", "Bibi")

    # parent and child with the same name (junior): the case that must never merge
    lead_of = starts
    kid_m = kid[(sex[kid] == "M") & (sex[lead_of[hh[kid]]] == "M") & (rng.random(len(kid)) < 0.05)]
    given[kid_m] = given[lead_of[hh[kid_m]]]
    kid_f = kid[(sex[kid] == "F") & (sex[lead_of[hh[kid]]] == "F") & (rng.random(len(kid)) < 0.02)]
    given[kid_f] = given[lead_of[hh[kid_f]]]

    nhs = _nhs_numbers(rng, n)
    addresses, hh_address, hh_prev, hh_move = _addresses(rng, h, today, vocab, recent_days)
    need = rng.gamma(0.6, 1 / 0.6, h)
    sensitive = rng.random(h) < 0.01
    # twins named after each other (Patricia Zofia and Chantelle Patricia): half the twins carry their
    # twin's given name as their middle name (drawn last, so the rest of the population is unchanged)
    pair = twins[(rng.random(len(twins)) < 0.5)]
    other = first_child[hh[pair]]
    named = given[pair] != given[other]
    pair, other = pair[named], other[named]
    crossed = rng.random(len(pair)) < 0.5  # both ways round, or one twin only
    middle[pair] = given[other]
    middle[other[crossed]] = given[pair[crossed]]
    return Population(
        household=hh, role=role, sex=sex, community=community, given=given, middle=middle,
        family=family.astype(object), called_by_middle=called_by_middle, dob=dob, nhs=nhs,
        hh_address=hh_address, hh_prev_address=hh_prev, hh_move_date=hh_move, hh_need=need,
        hh_sensitive=sensitive, addresses=addresses,
    )  # fmt: skip


def _nhs_numbers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Unique numbers with a valid check digit, all starting with 9: a series never issued to
    patients in England, so no generated number is a real person's."""
    body = rng.choice(100_000_000, size=int(n * 1.15) + 32, replace=False)
    digits = np.empty((len(body), 9), dtype=np.int64)
    digits[:, 0] = 9
    rest = body.copy()
    for k in range(8, 0, -1):
        digits[:, k] = rest % 10
        rest //= 10
    check = 11 - (digits @ np.arange(10, 1, -1)) % 11
    check = np.where(check == 11, 0, check)
    ok = check != 10
    numbers = (900_000_000 + body[ok]) * 10 + check[ok]
    return np.array([f"{x:010d}" for x in numbers[:n]], dtype=object)


def _addresses(
    rng: np.random.Generator, h: int, today: np.datetime64, vocab: Vocab, recent_days: int
) -> tuple[Addresses, np.ndarray, np.ndarray, np.ndarray]:
    a = int(h * 1.15) + 8
    loc_w = np.array([loc.weight for loc in vocab.localities])
    n_streets = max(8, a // 30)
    street_loc = rng.choice(len(vocab.localities), size=n_streets, p=loc_w / loc_w.sum())
    stems = np.array(vocab.street_stems, dtype=object)
    suffixes = np.array(vocab.street_suffixes, dtype=object)
    street_name = stems[rng.integers(0, len(stems), n_streets)] + " " + suffixes[
        rng.integers(0, len(suffixes), n_streets)]  # fmt: skip
    district = np.array(
        [vocab.localities[i].districts[rng.integers(0, len(vocab.localities[i].districts))]
         for i in street_loc], dtype=object)  # fmt: skip
    sector = rng.integers(1, 10, n_streets)

    street = np.sort(rng.integers(0, n_streets, a))
    first = np.searchsorted(street, np.arange(n_streets))
    rank = np.arange(a) - first[street]
    gaps = rng.integers(1, 3, a)
    # house numbers: increasing within each street, with gaps
    numbers = np.cumsum(gaps)
    numbers = numbers - np.concatenate(([0], numbers))[first[street]] + (gaps[first[street]] == 0)
    is_flat = rng.random(a) < 0.18
    building = np.where(is_flat, numbers - (rank % 4), numbers)
    number = np.where(is_flat, np.maximum(building, 1), numbers)
    flat = np.where(is_flat, rank % 4 + 1, 0)
    blocks = np.array(vocab.blocks, dtype=object)
    named = is_flat & (rng.random(a) < 0.3)
    block = np.full(a, "", dtype=object)
    block[named] = stems[rng.integers(0, len(stems), int(named.sum()))] + " " + blocks[
        rng.integers(0, len(blocks), int(named.sum()))]  # fmt: skip
    # postcode units: one per ~25 addresses of a street
    unit = rank // 25
    l1 = _LETTERS[(street * 7 + unit * 3 + rng.integers(0, 1, a)) % len(_LETTERS)]
    l2 = _LETTERS[(street * 13 + unit * 11) % len(_LETTERS)]
    postcode = district[street] + " " + sector[street].astype(str).astype(object) + l1 + l2
    uprn = np.array([f"{x:012d}" for x in 100070000000 + np.arange(a) * 13 + rng.integers(0, 13, a)],
                    dtype=object)  # fmt: skip
    addresses = Addresses(
        number=number, flat=flat, block=block, street=street_name[street],
        locality=np.array([vocab.localities[i].name for i in street_loc], dtype=object)[street],
        town=np.array([vocab.localities[i].town for i in street_loc], dtype=object)[street],
        postcode=postcode, uprn=uprn,
    )  # fmt: skip
    order = rng.permutation(a)
    hh_address = order[:h]
    spare = order[h:]
    movers = np.flatnonzero(rng.random(h) < 0.10)[: len(spare)]
    hh_prev = np.full(h, -1)
    hh_prev[movers] = spare[: len(movers)]
    hh_move = np.full(h, np.datetime64("NaT"), dtype="datetime64[D]")
    ago = rng.integers(1, 700, len(movers))
    # a few moves land in the last days, so daily extracts show them
    recent = rng.random(len(movers)) < 0.05
    ago[recent] = rng.integers(0, max(recent_days, 1), int(recent.sum()))
    hh_move[movers] = today - ago.astype("timedelta64[D]")
    return addresses, hh_address, hh_prev, hh_move
