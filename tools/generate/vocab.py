"""The generator's word lists: names by community, sex and era; streets and places.

The lists are small text files shipped in the package (``mast/generate/data``), written for MAST:
approximate rank frequencies shaped like the ONS's, not copied from any dataset. English surnames
get a long tail built from morphemes, so that SMITH is common and ASHWORTH is rare, as in life.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np

#: Communities of the generated population and their shares of households (Walsall-like).
COMMUNITIES: tuple[str, ...] = (
    "anglo", "caribbean", "pakistani", "bangladeshi", "sikh", "hindu", "polish", "romanian",
    "west_african",
)  # fmt: skip
COMMUNITY_SHARES: tuple[float, ...] = (0.745, 0.02, 0.065, 0.03, 0.04, 0.03, 0.025, 0.015, 0.03)
#: Where a community's given names come from when it has no list of its own.
GIVEN_SOURCE: dict[str, str] = {"caribbean": "anglo"}
ERAS: tuple[str, ...] = ("old", "mid", "young")


@dataclass(frozen=True)
class Weighted:
    """Names with sampling probabilities; ``female`` holds the female form where one differs."""

    names: np.ndarray  # object array of str
    p: np.ndarray
    female: np.ndarray

    def sample(self, rng: np.random.Generator, k: int) -> np.ndarray:
        return rng.choice(len(self.names), size=k, p=self.p)


@dataclass(frozen=True)
class Locality:
    name: str
    town: str
    districts: tuple[str, ...]
    weight: float


@dataclass(frozen=True)
class Vocab:
    given: dict[tuple[str, str, str], Weighted]  # (community, sex, era)
    surnames: dict[str, Weighted]
    nicknames: dict[str, tuple[str, ...]]
    localities: tuple[Locality, ...]
    street_stems: tuple[str, ...]
    street_suffixes: tuple[str, ...]
    blocks: tuple[str, ...]

    def given_for(self, community: str, sex: str, era: str) -> Weighted:
        source = GIVEN_SOURCE.get(community, community)
        return self.given.get((source, sex, era)) or self.given[(source, sex, "any")]


def _lines(name: str) -> list[str]:
    text = resources.files("tools.generate").joinpath("data", name).read_text(encoding="utf-8")
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def _weighted(names: list[str], weights: list[float]) -> Weighted:
    male = [n.split("|")[0] for n in names]
    female = [n.split("|")[-1] for n in names]
    w = np.asarray(weights, dtype=np.float64)
    return Weighted(np.array(male, dtype=object), w / w.sum(), np.array(female, dtype=object))


@functools.lru_cache(maxsize=1)
def load_vocab() -> Vocab:
    """Read the data files once per process."""
    given_raw: dict[tuple[str, str, str], tuple[list[str], list[float]]] = {}
    for line in _lines("given_names.txt"):
        community, sex, era, name, weight = line.split("\t")
        names, weights = given_raw.setdefault((community, sex, era), ([], []))
        names.append(name)
        weights.append(float(weight))
    given = {k: _weighted(*v) for k, v in given_raw.items()}

    surname_raw: dict[str, tuple[list[str], list[float]]] = {}
    for line in _lines("surnames.txt"):
        community, name, weight = line.split("\t")
        names, weights = surname_raw.setdefault(community, ([], []))
        names.append(name)
        weights.append(float(weight))
    parts = dict(line.split(":", 1) for line in _lines("surname_parts.txt"))
    prefixes, suffixes = parts["prefixes"].split(), parts["suffixes"].split()
    listed = {n for n in surname_raw["anglo"][0]}
    tail: list[tuple[str, float]] = []
    for i, pre in enumerate(prefixes):
        for j, suf in enumerate(suffixes):
            name = pre + suf
            if name not in listed:
                tail.append((name, 1.0 / ((i + 1) ** 0.5 * (j + 1) ** 0.7)))
    tail_share = 100_000 - sum(surname_raw["anglo"][1])
    tail_total = sum(w for _, w in tail)
    surname_raw["anglo"][0].extend(n for n, _ in tail)
    surname_raw["anglo"][1].extend(tail_share * w / tail_total for _, w in tail)
    surnames = {k: _weighted(*v) for k, v in surname_raw.items()}

    nicknames = {}
    for line in _lines("nicknames.txt"):
        formal, rest = line.split(":", 1)
        nicknames[formal.strip()] = tuple(n.strip() for n in rest.split(",") if n.strip())

    localities = []
    for line in _lines("localities.txt"):
        name, town, districts, weight = line.split("\t")
        localities.append(Locality(name, town, tuple(districts.split()), float(weight)))

    streets = dict(line.split(":", 1) for line in _lines("streets.txt"))
    return Vocab(
        given=given,
        surnames=surnames,
        nicknames=nicknames,
        localities=tuple(localities),
        street_stems=tuple(streets["stems"].split()),
        street_suffixes=tuple(streets["suffixes"].split()),
        blocks=tuple(streets["blocks"].split()),
    )
