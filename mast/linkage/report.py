"""The linkage report partners were first shown: who is known to whom, and where.

Computed from a linked table (people and addresses), counts only — no names, no addresses:

* unique people matched between each pair of partners (sources);
* addresses with involvement from more than one partner;
* repeated incidents at one address (the same address in three or more records).

The match function writes it as JSON to the curated bucket after each run (the latest, and a copy
dated by the run's day); the web page draws it. Read back (:func:`read_report`) it gains two things
the data leads asked for, both counts or feed names only:

* **new overlaps since the previous week**: for each pair of partners, how many more people both
  know now than in the dated report of a week before (the latest copy 7 to 13 days older than this
  one: a run may skip days). It is the week's net change: people newly linked across the pair, less
  any who left it (retention, a partner's erasure, a steward's split). Counting the gross figure
  would need a person's first-linked day kept per person, which the report does not hold and, being
  counts only, should not;
* **overdue feeds** (:func:`with_feed_health`): the feeds whose data is older than their cadence, by
  the one rule coverage and the Alerts page use (``mast.search.coverage.is_overdue``), added when
  served, as overdue is a matter of today, not of the day of the link.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mast.linkage.arrays import unique, unique_counts
from mast.linkage.table import RecordTable
from mast.schema import Refused

#: Where the match function writes the latest report in the curated bucket (and dated copies).
REPORT_KEY = "linkage/report.json"
REPORTS_PREFIX = "linkage/reports/"


def linkage_report(table: RecordTable, person_ids: Sequence[str], address_ids: Sequence[str],
                   repeat_threshold: int = 3) -> dict[str, Any]:
    """Counts of shared people and addresses between partners, and addresses with repeated records.

    Counted on integer codes (each person, address and partner numbered once), not on a set per
    person: a rebuild's finish step reports a region's million records, where sets and tuples per
    record took about 9 s of a one-process step."""
    sources = table.vocabs.sources.values
    names = sorted({sources[c] if c >= 0 else "unknown" for c in unique(table.source).tolist()})
    # each record's partner, numbered in name order ("unknown" where the record names none)
    number = {name: i for i, name in enumerate(names)}
    code_of = np.asarray([number.get(s, 0) for s in sources] + [number.get("unknown", 0)], dtype=np.int64)
    source = code_of[np.where(table.source >= 0, table.source, len(sources))] if len(table) else np.zeros(0, np.int64)
    person = _codes(str(p) for p in person_ids)
    address = _codes(str(a) if a else None for a in address_ids)
    width = max(len(names), 1)
    # (person, partner) once each: who knows whom
    known = unique(person * width + source)
    known_person, known_source = known // width, known % width
    partners_of = np.bincount(known_person, minlength=int(person.max(initial=-1)) + 1)
    per_source = np.bincount(known_source, minlength=len(names))
    pairs: list[dict[str, Any]] = []
    if len(names) > 1:
        # the partners of each person as a sorted tuple of codes: people with two or more, counted by set
        shared = partners_of[known_person] > 1
        sets, set_count = _partner_sets(known_person[shared], known_source[shared])
        counts: dict[tuple[int, int], int] = defaultdict(int)
        for codes, n in zip(sets, set_count.tolist(), strict=True):
            for a, b in combinations(codes, 2):
                counts[(a, b)] += n
        pairs = [{"partners": [names[a], names[b]], "people": n} for (a, b), n in sorted(counts.items())]
    located = address >= 0
    at = unique(address[located] * width + source[located])
    address_partners = np.bincount(at // width)
    records_at = np.bincount(address[located])
    repeats = records_at[records_at > 0] if len(records_at) else np.zeros(1, np.int64)
    return {
        "records": len(table),
        "people": int((partners_of > 0).sum()),
        "addresses": int((records_at > 0).sum()),
        "people_per_partner": {names[i]: int(n) for i, n in enumerate(per_source.tolist()) if n},
        "people_shared_between_partners": pairs,
        "people_known_to_more_than_one_partner": int((partners_of > 1).sum()),
        "addresses_with_more_than_one_partner": int((address_partners > 1).sum()),
        "addresses_with_repeated_records": int((repeats >= repeat_threshold).sum()),
        "repeat_threshold": repeat_threshold,
    }


def _codes(values: Iterable[str | None]) -> np.ndarray:
    """Each value numbered in order of first appearance (None: -1)."""
    index: dict[str, int] = {}
    return np.fromiter((-1 if v is None else index.setdefault(v, len(index)) for v in values), dtype=np.int64)


def _partner_sets(person: np.ndarray, source: np.ndarray) -> tuple[list[tuple[int, ...]], np.ndarray]:
    """The distinct sets of partners among people (rows of ``(person, partner)`` sorted by person, then
    partner), and how many people hold each."""
    if len(person) == 0:
        return [], np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, person[1:] != person[:-1]])
    if int(source.max()) < 62:  # a set as one bit mask
        masks = np.bitwise_or.reduceat(np.left_shift(np.int64(1), source), starts)
        distinct, count = unique_counts(masks)
        return [tuple(i for i in range(63) if m >> i & 1) for m in distinct.tolist()], count
    found: dict[tuple[int, ...], int] = defaultdict(int)
    for group in np.split(source, starts[1:]):
        found[tuple(group.tolist())] += 1
    return list(found), np.asarray(list(found.values()), dtype=np.int64)


class PartnerPairCount(BaseModel):
    """People known to both partners of a pair."""

    model_config = ConfigDict(extra="ignore")

    partners: list[str]
    people: int


class PairChange(BaseModel):
    """People both partners of a pair know now, a week before, and the difference."""

    partners: list[str]
    people: int
    week_before: int
    new: int


class NewOverlaps(BaseModel):
    """The week's change in people shared between partners (see the module docstring: net)."""

    since: str = Field(description="the day of the earlier report compared with")
    people_known_to_more_than_one_partner: int = Field(description="the change in people known to more than one")
    pairs: list[PairChange] = Field(description="each pair of partners that shares anyone now or then")


class OverdueFeed(BaseModel):
    """A feed whose latest data is older than its cadence (from coverage: it names a feed, no one)."""

    model_config = ConfigDict(extra="ignore")

    feed: str
    name: str
    partner: str
    partner_name: str
    last_accepted: str | None = None
    cadence_days: int


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
    new_overlaps: NewOverlaps | None = Field(
        default=None, description="the change since the report of a week before (none: no report that old)")
    overdue_feeds: list[OverdueFeed] = Field(default_factory=list)

    def with_feed_health(self, feeds: Iterable[BaseModel]) -> LinkageReport:
        """This report with the overdue ones of ``feeds`` (coverage's ``FeedCoverage`` items, whose
        ``overdue`` is the one feed-health rule) added."""
        overdue = [OverdueFeed.model_validate(f.model_dump()) for f in feeds if getattr(f, "overdue", False)]
        return self.model_copy(update={"overdue_feeds": overdue})


class NoReport(Refused):
    """No feed has been linked yet, so there is no report."""

    status = 404


#: how far back the report compared with may be: a week, and up to six days more (runs may skip days)
WEEK = 7
WEEK_SLACK = 6


def read_report(s3: Any, bucket: str) -> LinkageReport:
    """The latest report in the curated bucket (:class:`NoReport` when there is none yet), with the
    week's new overlaps when a dated report of a week before is there."""
    try:
        body = s3.get_object(Bucket=bucket, Key=REPORT_KEY)["Body"].read()
    except s3.exceptions.NoSuchKey:
        raise NoReport("there is no linkage report yet: no feed has been linked") from None
    report = LinkageReport.model_validate_json(body)
    if not report.generated_at:
        return report
    day = dt.date.fromisoformat(report.generated_at[:10])
    for back in range(WEEK, WEEK + WEEK_SLACK + 1):  # at most seven reads of small objects, by key
        earlier = day - dt.timedelta(days=back)
        try:
            before = json.loads(s3.get_object(Bucket=bucket, Key=f"{REPORTS_PREFIX}{earlier.isoformat()}.json")
                                ["Body"].read())
        except s3.exceptions.NoSuchKey:
            continue
        return report.model_copy(update={"new_overlaps": new_overlaps(report, before, earlier)})
    return report


def new_overlaps(report: LinkageReport, before: dict[str, Any], since: dt.date) -> NewOverlaps:
    """Each pair's people now against ``before`` (an earlier report as written), largest gain first."""
    then = {tuple(p["partners"]): int(p["people"]) for p in before.get("people_shared_between_partners", [])}
    now = {tuple(p.partners): p.people for p in report.people_shared_between_partners}
    pairs = [PairChange(partners=list(pair), people=now.get(pair, 0), week_before=then.get(pair, 0),
                        new=now.get(pair, 0) - then.get(pair, 0)) for pair in sorted(now.keys() | then.keys())]
    pairs.sort(key=lambda p: -p.new)
    shared_then = int(before.get("people_known_to_more_than_one_partner", 0))
    return NewOverlaps(since=since.isoformat(), pairs=pairs,
                       people_known_to_more_than_one_partner=report.people_known_to_more_than_one_partner - shared_then)
