"""The linkage report partners were first shown: who is known to whom, and where.

Computed from a linked table (people and addresses), counts only — no names, no addresses:

* unique people matched between each pair of partners (sources);
* addresses with involvement from more than one partner;
* repeated incidents at one address (the same address in three or more records).

The match function writes it as JSON to the curated bucket after each run; the web page draws it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from itertools import combinations
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from mast.linkage.table import RecordTable
from mast.schema import Refused

#: Where the match function writes the latest report in the curated bucket (and dated copies).
REPORT_KEY = "linkage/report.json"
REPORTS_PREFIX = "linkage/reports/"


def linkage_report(table: RecordTable, person_ids: Sequence[str], address_ids: Sequence[str],
                   repeat_threshold: int = 3) -> dict[str, Any]:
    """Counts of shared people and addresses between partners, and addresses with repeated records."""
    sources = table.vocabs.sources.values
    source = [sources[c] if c >= 0 else "unknown" for c in table.source.tolist()]
    people: dict[str, set[str]] = defaultdict(set)
    places: dict[str, set[str]] = defaultdict(set)
    records_at: dict[str, int] = defaultdict(int)
    for s, person, address in zip(source, person_ids, address_ids, strict=True):
        people[str(person)].add(s)
        if address:
            places[str(address)].add(s)
            records_at[str(address)] += 1
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    for partners in people.values():
        for a, b in combinations(sorted(partners), 2):
            pairs[(a, b)] += 1
    per_source: defaultdict[str, int] = defaultdict(int)
    for partners in people.values():
        for s in partners:
            per_source[s] += 1
    shared_addresses = sum(1 for partners in places.values() if len(partners) > 1)
    repeats = np.asarray(list(records_at.values()) or [0])
    return {
        "records": len(table),
        "people": len(people),
        "addresses": len(places),
        "people_per_partner": dict(sorted(per_source.items())),
        "people_shared_between_partners": [
            {"partners": [a, b], "people": n} for (a, b), n in sorted(pairs.items())
        ],
        "people_known_to_more_than_one_partner": sum(1 for p in people.values() if len(p) > 1),
        "addresses_with_more_than_one_partner": shared_addresses,
        "addresses_with_repeated_records": int((repeats >= repeat_threshold).sum()),
        "repeat_threshold": repeat_threshold,
    }


class PartnerPairCount(BaseModel):
    """People known to both partners of a pair."""

    model_config = ConfigDict(extra="ignore")

    partners: list[str]
    people: int


class LinkageReport(BaseModel):
    """The linkage report the match function writes after each run (counts only, no names or
    addresses): the partner-overlap table and the figures the web page charts."""

    model_config = ConfigDict(extra="ignore")

    generated_at: str | None = None
    records: int
    people: int
    addresses: int
    people_per_partner: dict[str, int]
    people_shared_between_partners: list[PartnerPairCount]
    people_known_to_more_than_one_partner: int
    addresses_with_more_than_one_partner: int
    addresses_with_repeated_records: int
    repeat_threshold: int


class NoReport(Refused):
    """No feed has been linked yet, so there is no report."""

    status = 404


def read_report(s3: Any, bucket: str) -> LinkageReport:
    """The latest report in the curated bucket (:class:`NoReport` when there is none yet)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=REPORT_KEY)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise NoReport("there is no linkage report yet: no feed has been linked") from None
    return LinkageReport.model_validate_json(body)
