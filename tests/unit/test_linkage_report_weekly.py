"""The linkage report's week (issue 17): new overlaps since the previous week and overdue feeds.

The new overlaps are read against the dated copy the match run writes each day (a week before, or
up to six days more when runs skipped days); the overdue feeds come from coverage, the one rule the
coverage page and the Alerts page use. Counts and feed names only.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mast.linkage.report import REPORT_KEY, REPORTS_PREFIX, read_report
from tests.unit.test_api_search import Deployment, call, deployed  # noqa: F401 - the fixture

BUCKET = "curated"


def _report(day: str, pairs: dict[tuple[str, str], int], shared: int) -> dict[str, Any]:
    return {
        "generated_at": f"{day}T06:00:00+00:00", "records": 10, "people": 8, "addresses": 5,
        "people_per_partner": {}, "people_known_to_more_than_one_partner": shared,
        "people_shared_between_partners": [{"partners": list(p), "people": n} for p, n in pairs.items()],
        "addresses_with_more_than_one_partner": 0, "addresses_with_repeated_records": 0, "repeat_threshold": 3,
    }


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-2")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
        yield client


def _put(s3: Any, key: str, report: dict[str, Any]) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(report).encode())


def test_new_overlaps_compare_each_pair_with_the_report_of_a_week_before(s3: Any) -> None:
    week_before = _report("2026-11-26", {("fire", "police"): 4, ("children", "police"): 2}, 5)
    yesterday = _report("2026-12-02", {("fire", "police"): 40, ("children", "police"): 40}, 70)  # not a week
    today = _report("2026-12-03", {("fire", "police"): 7, ("adults", "fire"): 3, ("children", "police"): 2}, 11)
    _put(s3, f"{REPORTS_PREFIX}2026-11-26.json", week_before)
    _put(s3, f"{REPORTS_PREFIX}2026-12-02.json", yesterday)
    _put(s3, REPORT_KEY, today)
    report = read_report(s3, BUCKET)
    assert report.new_overlaps is not None
    assert report.new_overlaps.since == "2026-11-26"
    assert report.new_overlaps.people_known_to_more_than_one_partner == 6
    by_pair = {tuple(p.partners): (p.people, p.week_before, p.new) for p in report.new_overlaps.pairs}
    assert by_pair == {("fire", "police"): (7, 4, 3), ("adults", "fire"): (3, 0, 3), ("children", "police"): (2, 2, 0)}
    assert [p.new for p in report.new_overlaps.pairs] == [3, 3, 0]  # the largest gain first
    assert "person" not in json.dumps(report.model_dump(mode="json"))  # counts only: no person ids


def test_a_skipped_day_falls_back_to_an_older_report_and_none_without_one(s3: Any) -> None:
    _put(s3, REPORT_KEY, _report("2026-12-03", {("fire", "police"): 7}, 7))
    assert read_report(s3, BUCKET).new_overlaps is None  # the first week: nothing to compare with
    _put(s3, f"{REPORTS_PREFIX}2026-11-14.json", _report("2026-11-14", {("fire", "police"): 1}, 1))  # 19 days
    assert read_report(s3, BUCKET).new_overlaps is None
    _put(s3, f"{REPORTS_PREFIX}2026-11-22.json", _report("2026-11-22", {("fire", "police"): 5}, 5))  # 11 days
    overlaps = read_report(s3, BUCKET).new_overlaps
    assert overlaps is not None and overlaps.since == "2026-11-22"
    assert [(p.partners, p.new) for p in overlaps.pairs] == [(["fire", "police"], 2)]


def test_the_served_report_names_the_overdue_feeds_by_coverages_rule(deployed: Deployment) -> None:  # noqa: F811
    _, covered = call(deployed, "GET", "/coverage", "auditor")
    other = next(f for f in covered["feeds"] if f["feed"] != "wm-police")
    now = dt.datetime.now(dt.UTC).isoformat()
    deployed.ddb.put_item(TableName="control", Item={
        "pk": {"S": "FEED#wm-police"}, "sk": {"S": "STATE"}, "partner": {"S": "wm-police"},
        "name": {"S": "Police incidents"}, "state": {"S": "live"}, "last_accepted": {"S": "2020-01-02T06:00:00Z"}})
    deployed.ddb.put_item(TableName="control", Item={
        "pk": {"S": f"FEED#{other['feed']}"}, "sk": {"S": "STATE"}, "partner": {"S": other["partner"]},
        "name": {"S": other["name"]}, "state": {"S": "live"}, "last_accepted": {"S": now}})
    _, covered = call(deployed, "GET", "/coverage", "auditor")
    status, body = call(deployed, "GET", "/linkage-report", "auditor")
    assert status == 200, body
    overdue = {f["feed"] for f in covered["feeds"] if f["overdue"]}
    assert "wm-police" in overdue
    assert {f["feed"] for f in body["overdue_feeds"]} == overdue
    police = next(f for f in body["overdue_feeds"] if f["feed"] == "wm-police")
    assert police["last_accepted"] == "2020-01-02T06:00:00Z" and police["partner"] == "wm-police"
    assert other["feed"] not in {f["feed"] for f in body["overdue_feeds"]}  # on time today
    assert not next(f for f in covered["feeds"] if f["feed"] == other["feed"])["overdue"]
