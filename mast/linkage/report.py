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

from mast.linkage.table import RecordTable
from mast.schema import Refused

#: Where the match function writes the latest report in the curated bucket (and dated copies).
REPORT_KEY = "linkage/report.json"
REPORTS_PREFIX = "linkage/reports/"


def linkage_report(table: RecordTable, person_ids: Sequence[str] | np.ndarray, address_ids: Sequence[str] | np.ndarray,
                   repeat_threshold: int = 3) -> dict[str, Any]:
    """Counts of shared people and addresses between partners, and addresses with repeated records.

    Counted by column (distinct person and partner pairs, distinct address and partner pairs), not
    by a Python loop over every record: a day's link writes it for the whole index."""
    sources = table.vocabs.sources.values
    # each record's partner name ("unknown" without one), as its rank among the names used
    named = np.asarray([*sources, "unknown"], dtype=object)
    names, name_of = np.unique(named, return_inverse=True)
    source = name_of.reshape(-1)[np.where(table.source >= 0, table.source, len(sources))]
    width = np.int64(len(names))
    person_values, person = np.unique(np.asarray(person_ids, dtype=str), return_inverse=True)
    person = person.reshape(-1)
    # distinct (person, partner): sorted by person, then partner name
    known = np.unique(person.astype(np.int64) * width + source)
    who, partner = known // width, known % width
    partners_of = np.bincount(who, minlength=len(person_values))
    per_source = np.bincount(partner, minlength=len(names))
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    several = partners_of[who] > 1
    starts = np.flatnonzero(np.diff(np.concatenate([[-1], who[several]])) != 0)
    for group in np.split(partner[several], starts[1:]) if several.any() else []:
        for a, b in combinations(group.tolist(), 2):
            pairs[(str(names[a]), str(names[b]))] += 1
    addresses = np.asarray(address_ids, dtype=str)
    placed = np.flatnonzero(addresses != "")
    place_values, place = np.unique(addresses[placed], return_inverse=True)
    place = place.reshape(-1)
    place_partners = np.bincount(np.unique(place.astype(np.int64) * width + source[placed]) // width,
                                 minlength=len(place_values))
    records_at = np.bincount(place, minlength=len(place_values))
    return {
        "records": len(table),
        "people": len(person_values),
        "addresses": len(place_values),
        "people_per_partner": {str(names[k]): int(n) for k, n in enumerate(per_source.tolist()) if n},
        "people_shared_between_partners": [
            {"partners": [a, b], "people": n} for (a, b), n in sorted(pairs.items())
        ],
        "people_known_to_more_than_one_partner": int((partners_of > 1).sum()),
        "addresses_with_more_than_one_partner": int((place_partners > 1).sum()),
        "addresses_with_repeated_records": int((records_at >= repeat_threshold).sum()),
        "repeat_threshold": repeat_threshold,
    }


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
