"""Alerts after a link (:mod:`mast.alerts.detect`), their store, and the mail that carries nothing
personal: each rule of issue 17's point 2 as a case."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mast.alerts import Alert, AlertStore
from mast.alerts.detect import alerts_after_link
from mast.alerts.nudge import nudge_text, send_nudges
from mast.config import AlertSettings, Partnership, load_partnership

SNAPSHOTS = ("walsall-children", "walsall-adults")
NOW = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)


def row(record_id: str, partner: str, feed: str, *, day: int = 1, ended: dt.date | None = None,
        sensitive: bool = False, team: str | None = None, email: str | None = None) -> dict[str, Any]:
    return {"record_id": record_id, "source_record_id": record_id.split(":")[1], "partner": partner, "feed": feed,
            "record_date": dt.date(2026, 11, day), "end_date": ended, "sensitive": sensitive,
            "contact_name": None, "contact_team": team, "contact_phone": "0121 496 0404", "contact_email": email}


CHILD_CASE = row("walsall-children:C-1", "walsall-council", "walsall-children", team="Walsall MASH",
                 email="mash@walsall.example")
POLICE = row("wm-police:P-1", "wm-police", "wm-police", day=30, team="Walsall PPU")


def link(rows: list[dict[str, Any]], people: list[str], dwellings: list[str], new: list[str],
         partnership: Partnership | None = None) -> list[Alert]:
    table = pa.Table.from_pylist(rows)
    return alerts_after_link(table, np.array(people, dtype=object), np.array(dwellings, dtype=object), new,
                             partnership or load_partnership(), SNAPSHOTS, NOW)


def test_a_police_incident_for_a_child_with_an_open_case_alerts_the_council_only() -> None:
    fire = row("wm-fire:F-1", "wm-fire", "wm-fire", day=3)
    alerts = link([CHILD_CASE, fire, POLICE], ["p1", "p1", "p1"], ["a1", "a1", "a1"], ["wm-police:P-1"])
    assert len(alerts) == 1  # the fire service has no open case: it watches no one
    alert = alerts[0]
    assert (alert.organisation, alert.kind, alert.partner, alert.partner_name) == (
        "walsall-council", "person", "wm-police", "West Midlands Police")
    assert alert.record_date == dt.date(2026, 11, 30) and alert.contact.team == "Walsall PPU"
    assert alert.case_record_ids == ("walsall-children:C-1",) and alert.case_references == ("C-1",)
    assert alert.case_team == "Walsall MASH" and alert.case_email == "mash@walsall.example"
    assert alert.feed_name == "Police incidents"


def test_someone_new_at_a_watched_persons_home_alerts_as_the_dwelling() -> None:
    alerts = link([CHILD_CASE, POLICE], ["child", "adult"], ["flat-1", "flat-1"], ["wm-police:P-1"])
    assert [(a.organisation, a.kind) for a in alerts] == [("walsall-council", "dwelling")]


def test_no_alert_from_the_same_partner_another_dwelling_an_ended_case_or_an_old_record() -> None:
    adults = row("walsall-adults:A-1", "walsall-council", "walsall-adults", day=29)
    assert link([CHILD_CASE, adults], ["p1", "p1"], ["a1", "a1"], ["walsall-adults:A-1"]) == []
    assert link([CHILD_CASE, POLICE], ["child", "adult"], ["flat-1", "house-1"], ["wm-police:P-1"]) == []
    ended = {**CHILD_CASE, "end_date": dt.date(2026, 11, 20)}
    assert link([ended, POLICE], ["p1", "p1"], ["a1", "a1"], ["wm-police:P-1"]) == []
    # the police record was in the index before this run: a relabelled person is not news
    assert link([CHILD_CASE, POLICE], ["p1", "p1"], ["a1", "a1"], []) == []
    # no address on either side is not "the same dwelling"
    assert link([CHILD_CASE, POLICE], ["child", "adult"], ["", ""], ["wm-police:P-1"]) == []


def test_an_organisation_chooses_which_partners_alert_it() -> None:
    partnership = load_partnership()
    only_ae = tuple(o.model_copy(update={"alerts": AlertSettings(partners=("walsall-healthcare",))})
                    if o.id == "walsall-council" else o for o in partnership.organisations)
    chosen = partnership.model_copy(update={"organisations": only_ae})
    assert link([CHILD_CASE, POLICE], ["p1", "p1"], ["a1", "a1"], ["wm-police:P-1"], chosen) == []


def test_a_sensitive_record_alerts_with_partner_date_and_contact_only() -> None:
    restricted = {**POLICE, "sensitive": True}
    (alert,) = link([CHILD_CASE, restricted], ["p1", "p1"], ["a1", "a1"], ["wm-police:P-1"])
    assert alert.sensitive and alert.feed_name is None
    assert alert.partner_name == "West Midlands Police" and alert.contact.phone == "0121 496 0404"


def test_the_same_record_makes_the_same_alert_whichever_run_makes_it() -> None:
    first = link([CHILD_CASE, POLICE], ["p1", "p1"], ["a1", "a1"], ["wm-police:P-1"])
    again = link([POLICE, CHILD_CASE], ["q", "q"], ["b", "b"], ["wm-police:P-1"])
    assert [a.alert_id for a in first] == [a.alert_id for a in again]
    assert first[0].alert_id.startswith("20261130-")  # sorts by the involvement's date


def test_the_mail_names_no_one() -> None:
    subject, body = nudge_text("Walsall Council", 2, "https://mast.example.org/")
    assert subject == "MAST: new alerts for Walsall Council"
    assert "2 new alerts" in body and "https://mast.example.org/#/alerts" in body
    (alert,) = link([CHILD_CASE, POLICE], ["p1", "p1"], ["a1", "a1"], ["wm-police:P-1"])
    for private in ("C-1", "P-1", "Police", "PPU", "30/11", "2026-11-30"):
        assert private not in subject + body


# ------------------------------------------------------------------------------------ store and mail
@pytest.fixture
def ddb() -> Iterator[Any]:
    import os

    import boto3
    from moto import mock_aws

    saved = dict(os.environ)
    os.environ.update({"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"})
    try:
        with mock_aws():
            client = boto3.client("dynamodb")
            client.create_table(TableName="control", BillingMode="PAY_PER_REQUEST",
                                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                      {"AttributeName": "sk", "AttributeType": "S"}],
                                KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                           {"AttributeName": "sk", "KeyType": "RANGE"}])
            yield client
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_store_keeps_one_alert_per_record_lists_newest_first_and_marks_seen(ddb: Any) -> None:
    store = AlertStore("control", ddb)
    older = {**POLICE, "record_id": "wm-police:P-0", "record_date": dt.date(2026, 10, 2)}
    alerts = link([CHILD_CASE, POLICE, older], ["p1"] * 3, ["a1"] * 3, ["wm-police:P-1", "wm-police:P-0"])
    assert len(store.add(alerts)) == 2
    assert store.add(alerts) == []  # a retried run: nothing new, nothing doubled
    listed, unseen = store.list("walsall-council", NOW)
    assert [a.record_id for a in listed] == ["wm-police:P-1", "wm-police:P-0"] and unseen == 2
    assert store.list("wm-police", NOW) == ([], 0)
    assert store.mark_seen("walsall-council", listed[0].alert_id, "sam@walsall.example", NOW)
    assert not store.mark_seen("wm-police", listed[0].alert_id, "x@wm-police.example", NOW)
    listed, unseen = store.list("walsall-council", NOW)
    assert unseen == 1 and listed[0].seen_by == "sam@walsall.example"
    assert store.unseen("walsall-council", NOW) == 1 and store.unseen("wm-police", NOW) == 0
    # expired alerts are gone as far as anyone can see, whatever DynamoDB's TTL has done yet
    assert store.list("walsall-council", NOW + dt.timedelta(days=91)) == ([], 0)
    assert store.unseen("walsall-council", NOW + dt.timedelta(days=91)) == 0


def _daily(partnership: Partnership) -> Partnership:
    daily = tuple(o.model_copy(update={"alerts": AlertSettings(delivery="daily")}) if o.id == "walsall-council" else o
                  for o in partnership.organisations)
    return partnership.model_copy(update={"organisations": daily})


def _outbox(ses: Any) -> list[dict[str, Any]]:
    """What moto's SES has sent (its backend: SES keeps no readable outbox of its own)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return [{"to": m.destinations["ToAddresses"], "subject": m.subject, "body": m.body}
            for m in ses_backends[DEFAULT_ACCOUNT_ID]["eu-west-2"].sent_messages]


def test_a_daily_digest_collects_the_days_new_alerts_into_one_mail_at_the_hour(ddb: Any) -> None:
    """Issue 17: daily is a digest that collects, not the first link's mail of the day. With a moved
    clock: alerts made through one day go out together at 07:00 UTC next morning, once, as a count."""
    import boto3

    from mast.alerts.nudge import DIGEST_HOUR, digest_window, send_digests

    ses = boto3.client("ses")
    ses.verify_email_identity(EmailAddress="alerts@mast.example.org")
    partnership = _daily(load_partnership())
    env = {"ALERTS_FROM": "alerts@mast.example.org", "WEB_URL": "https://mast.example.org/", "CONTROL_TABLE": "control"}
    store = AlertStore("control", ddb)
    rows = [CHILD_CASE] + [{**POLICE, "record_id": f"wm-police:P-{i}", "record_date": dt.date(2026, 11, 1 + i)}
                           for i in range(4)]
    morning, evening, next_day = NOW, NOW.replace(hour=22), NOW + dt.timedelta(days=1, hours=1)  # 09:00, 22:00
    made = []
    for i, at in enumerate((morning, evening, evening)):
        (alert,) = alerts_after_link(pa.Table.from_pylist([CHILD_CASE, rows[1 + i]]), np.array(["p", "p"], dtype=object),
                                     np.array(["a", "a"], dtype=object), [rows[1 + i]["record_id"]], partnership,
                                     SNAPSHOTS, at)
        made += store.add([alert])
        assert send_nudges([alert], partnership, env, ses, ddb, at) == 0  # no mail after the link itself
    store.mark_seen("walsall-council", made[2].alert_id, "sam@walsall.example", evening)  # read already
    (late,) = alerts_after_link(pa.Table.from_pylist([CHILD_CASE, rows[4]]), np.array(["p", "p"], dtype=object),
                                np.array(["a", "a"], dtype=object), [rows[4]["record_id"]], partnership, SNAPSHOTS,
                                next_day)  # made 10:00 the next day: the following day's digest
    store.add([late])
    assert _outbox(ses) == []
    before_the_hour = NOW.replace(hour=DIGEST_HOUR) + dt.timedelta(days=1, minutes=-1)
    assert digest_window(before_the_hour)[1] == NOW.replace(hour=DIGEST_HOUR)  # today 07:00: before the alerts
    assert send_digests(partnership, env, ses, ddb, before_the_hour) == 0
    at_the_hour = NOW.replace(hour=DIGEST_HOUR) + dt.timedelta(days=1)
    assert send_digests(partnership, env, ses, ddb, at_the_hour) == 1
    assert send_digests(partnership, env, ses, ddb, at_the_hour + dt.timedelta(minutes=20)) == 0  # a retried run
    (mail,) = _outbox(ses)
    assert mail["to"] == ["mash@walsall.example"]
    assert "There are 2 new alerts" in mail["body"] and "https://mast.example.org/#/alerts" in mail["body"]
    for private in ("P-0", "P-1", "C-1", "Police", "0121", "PPU"):
        assert private not in mail["subject"] + mail["body"]
    late_run = at_the_hour + dt.timedelta(days=1, hours=5)  # the next day's schedule ran five hours late
    assert send_digests(partnership, env, ses, ddb, late_run) == 1
    assert "There is 1 new alert" in _outbox(ses)[-1]["body"]
    assert send_digests(partnership, env, ses, ddb, late_run + dt.timedelta(days=1)) == 0  # nothing new
    assert send_digests(partnership, env, ses, ddb, late_run + dt.timedelta(days=5)) == 0
    assert send_digests(partnership, {**env, "ALERTS_FROM": ""}, ses, ddb, at_the_hour) == 0
    immediate = load_partnership()  # an immediate organisation has no digest: its mail went with the link
    assert send_digests(immediate, env, ses, ddb, at_the_hour + dt.timedelta(days=7)) == 0


def test_a_watched_person_alerts_the_watching_organisation_whoever_holds_their_records() -> None:
    from mast.alerts.watches import Watch

    ae = row("walsall-nhs-ae:A-1", "walsall-healthcare", "walsall-nhs-ae", day=2)
    watch = Watch(watch_id="w-1", organisation="walsall-council", record_ids=("walsall-nhs-ae:A-1",),
                  made_by="sam@walsall.example", made_at=NOW, expires_at=NOW + dt.timedelta(days=90),
                  purpose="discharged from care: check-in period")
    table = pa.Table.from_pylist([ae, POLICE])
    people, dwellings = np.array(["p1", "p1"], dtype=object), np.array(["a1", "a1"], dtype=object)
    (alert,) = alerts_after_link(table, people, dwellings, ["wm-police:P-1"], load_partnership(), SNAPSHOTS, NOW,
                                 [watch])
    assert (alert.organisation, alert.kind, alert.partner) == ("walsall-council", "person", "wm-police")
    assert alert.case_record_ids == ("walsall-nhs-ae:A-1",)
    assert alert.case_references == ("watched: discharged from care: check-in period (by sam@walsall.example)",)
    assert alert.case_email is None  # the hospital's mailbox is not the council's
    # no watch, no open case: nothing; the watching organisation's own new record: nothing
    assert alerts_after_link(table, people, dwellings, ["wm-police:P-1"], load_partnership(), SNAPSHOTS, NOW) == []
    council = row("walsall-adults:X-9", "walsall-council", "walsall-adults", day=29)
    table = pa.Table.from_pylist([ae, council])
    assert alerts_after_link(table, people, dwellings, ["walsall-adults:X-9"], load_partnership(), SNAPSHOTS, NOW,
                             [watch]) == []


def test_an_alert_is_audited_before_it_is_written_so_none_is_ever_unaudited(ddb: Any) -> None:
    store = AlertStore("control", ddb)
    alerts = link([CHILD_CASE, POLICE], ["p1", "p1"], ["a1", "a1"], ["wm-police:P-1"])
    audited: list[str] = []

    def audit_fails(alert: Alert) -> None:
        raise RuntimeError("the audit table is unavailable")

    with pytest.raises(RuntimeError):
        store.add(alerts, before=audit_fails)
    assert store.list("walsall-council", NOW) == ([], 0)  # not written without its audit event
    assert store.add(alerts, before=lambda a: audited.append(a.alert_id)) == alerts  # the retry
    assert store.add(alerts, before=lambda a: audited.append(a.alert_id)) == []  # already made: nothing
    assert audited == [alerts[0].alert_id]


def test_the_digest_is_scheduled_at_its_hour_and_the_match_function_sends_it(ddb: Any) -> None:
    """The template's schedule names the hour the digest's window ends at, and the scheduled event
    reaches the digest (not the link) in the match function's handler."""
    import importlib.util
    import os
    from pathlib import Path

    import boto3

    from infra.local.template import load_template
    from mast.alerts.nudge import DIGEST_HOUR

    root = Path(__file__).resolve().parents[2]
    events = load_template(root / "template.yaml")["Resources"]["MatchFunction"]["Properties"]["Events"]
    assert events["AlertDigest"]["Type"] == "Schedule"
    assert events["AlertDigest"]["Properties"]["Schedule"] == f"cron(0 {DIGEST_HOUR} * * ? *)"
    ses = boto3.client("ses")
    ses.verify_email_identity(EmailAddress="alerts@mast.example.org")
    alert = link([CHILD_CASE, POLICE], ["p1", "p1"], ["a1", "a1"], ["wm-police:P-1"])[0]
    AlertStore("control", ddb).add([alert])
    spec = importlib.util.spec_from_file_location("match_app_under_test", root / "functions" / "match" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import shutil
    import tempfile

    config = Path(tempfile.mkdtemp())
    for name in ("partnership.yaml", "gateways.yaml"):
        shutil.copy(root / "infra" / name, config / name)
    shutil.copytree(root / "infra" / "feeds", config / "feeds")
    text = (config / "partnership.yaml").read_text()
    (config / "partnership.yaml").write_text(text.replace(  # the council chose a daily digest
        "  - id: walsall-council\n    name: Walsall Council\n",
        "  - id: walsall-council\n    name: Walsall Council\n    alerts: {delivery: daily}\n", 1))
    saved = dict(os.environ)
    os.environ.update({"ALERTS_FROM": "alerts@mast.example.org", "WEB_URL": "https://mast.example.org/",
                       "CONTROL_TABLE": "control", "POWERTOOLS_SERVICE_NAME": "match", "MAST_CONFIG_DIR": str(config)})
    try:
        at = (NOW + dt.timedelta(days=1)).replace(hour=DIGEST_HOUR)
        event = {"source": "aws.events", "detail-type": "Scheduled Event", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "resources": ["arn:aws:events:eu-west-2:123456789012:rule/AlertDigest"], "detail": {}}
        context = type("Context", (), {"function_name": "match", "memory_limit_in_mb": 128, "aws_request_id": "r",
                                       "invoked_function_arn": "arn:aws:lambda:eu-west-2:1:function:match"})()
        assert module.handler(event, context) == {"mails": 1}
        assert module.handler(event, context) == {"mails": 0}  # Lambda's retry of the same firing
    finally:
        os.environ.clear()
        os.environ.update(saved)
        shutil.rmtree(config)
    (mail,) = _outbox(ses)
    assert mail["to"] == ["mash@walsall.example"] and "There is 1 new alert" in mail["body"]
