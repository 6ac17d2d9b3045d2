"""Feed health (issue 17, point 4): each feed's overdue alarm in template.yaml watches the metric
the ingest function emits for it, over the feed's cadence and a day's grace, as coverage counts
overdue; on time and overdue as coverage reads them."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from infra.local.template import load_template
from mast.feeds.definition import load_feed_definitions
from mast.search.coverage import is_overdue
from tests.conftest import load_function_app

ROOT = Path(__file__).resolve().parents[2]
SEVEN_DAYS = 7 * 86_400


def ingest_app() -> Any:
    return load_function_app("ingest")


def overdue_alarms() -> dict[str, dict[str, Any]]:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    return {r["Properties"]["Dimensions"][0]["Value"]: r["Properties"] for r in resources.values()
            if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("MetricName") == ingest_app().FEED_METRIC}


@pytest.mark.parametrize("feed", sorted(load_feed_definitions()))
def test_each_feed_has_an_alarm_for_missing_its_cadence(feed: str) -> None:
    definition = load_feed_definitions()[feed]
    window = (definition.cadence_days + 1) * 86_400  # coverage: overdue once older than the cadence
    alarm = overdue_alarms().get(feed)
    if window > SEVEN_DAYS:  # CloudWatch evaluates at most 7 days: coverage alone says overdue
        assert alarm is None
        return
    assert alarm is not None, f"template.yaml has no overdue alarm for {feed}"
    assert alarm["Namespace"] == "MAST" and alarm["Statistic"] == "Sum"
    assert int(alarm["Period"]) * int(alarm["EvaluationPeriods"]) == window
    assert alarm["DatapointsToAlarm"] == alarm["EvaluationPeriods"]  # every period without data, not some
    assert (alarm["ComparisonOperator"], float(alarm["Threshold"])) == ("LessThanThreshold", 1.0)
    assert alarm["TreatMissingData"] == "breaching"  # no upload at all is the case to catch
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_an_accepted_upload_emits_the_metric_its_alarm_watches(capsys: pytest.CaptureFixture[str]) -> None:
    ingest_app().record_accepted("wm-police", 12)
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (metric,) = [m for m in emitted if "FeedRowsAccepted" in m]
    directive = metric["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "MAST" and ["Feed"] in directive["Dimensions"]
    assert metric["Feed"] == "wm-police"
    assert metric["FeedRowsAccepted"] in (12, [12])


def test_on_time_and_overdue() -> None:
    today = dt.date(2026, 12, 5)
    assert not is_overdue(today - dt.timedelta(days=1), 1, today)  # yesterday's daily extract: on time
    assert is_overdue(today - dt.timedelta(days=2), 1, today)  # the day before's: overdue
    assert is_overdue(None, 1, today)  # never sent
