"""The audit in words and unusual use (issue 18, points 1, 2 and 6), handler to moto.

Actions, gateways and organisations by their names; the organisation filter by name (an unknown
name is a 400 that lists the organisations, never a silent "No events"); an action filter; each
event saying whom it concerned and what the user saw; the filtered audit exported as CSV, audited,
with no active formula in it; the template's saved queries run by the audit function over the audit
table, audited, auditors only.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from types import SimpleNamespace

from mast.audit import AuditEvent, new_event_id
from mast.audit.words import ACTION_NAMES
from mast.schema import FORMULA_LEADS
from tests.integration import test_audit_and_users_api as base
from tests.integration.test_audit_and_users_api import AUDIT, audit_actions, call

aws = base.aws  # the moto fixture: Cognito users of two organisations, the audit and control tables

NOW = dt.datetime.now(dt.UTC)


def event(minutes_ago: float, action: str = "search", **fields: object) -> AuditEvent:
    base: dict[str, object] = {"user_sub": "s1", "username": "pat@walsall.example", "organisation": "walsall-council"}
    base.update(fields)
    return AuditEvent(event_id=new_event_id(), event_time=NOW - dt.timedelta(minutes=minutes_ago),
                      action=action, **base)  # type: ignore[arg-type]


def test_every_action_has_a_name() -> None:
    from typing import get_args

    from mast.audit.event import AuditAction

    assert set(ACTION_NAMES) == set(get_args(AuditAction))


def test_events_in_words_whom_they_concerned_and_what_was_seen(aws: SimpleNamespace) -> None:
    terms = json.dumps({"given_name": "Imran", "family_name": "Khan", "dob": {"day": 19, "month": 8, "year": 1990}})
    aws.audit.write(event(30, gateway="care2014-s42", purpose="case 7", search_terms=terms, records_returned=16,
                          record_ids=tuple(f"wm-police:A{i}" for i in range(16)),
                          detail=json.dumps({"kind": "person", "people": 1, "left_out": 0})))
    aws.audit.write(event(20, "open-person", gateway="care2014-s42", purpose="case 7", records_returned=3,
                          record_ids=("wm-police:A1", "walsall-adults:P9", "wm-fire:F2"), sensitive_returned=True,
                          detail=json.dumps({"name": "Imran Ali KHAN"})))
    status, reply = call(AUDIT, "GET", "/audit", "admin", aws, query={"period": "day"})
    assert status == 200
    by_action = {e["action"]: e for e in reply["events"]}
    search, opened = by_action["search"], by_action["open-person"]
    assert search["action_name"] == "Searched" and search["organisation_name"] == "Walsall Council"
    assert search["gateway_name"].startswith("Care Act 2014, section 42")
    assert search["concerned"] == "Imran, Khan, born 19/8/1990"
    assert search["saw"] == "1 person listed (16 records)"
    assert opened["concerned"] == "Imran Ali KHAN (records wm-police:A1, walsall-adults:P9, wm-fire:F2)"
    assert opened["saw"] == "3 records shown, sensitive records among them"
    assert by_action["audit-view"]["action_name"] == "Looked at the audit"
    assert reply["action_names"]["user-list"] == "Looked at the users"


def test_auditor_filters_by_organisation_name_and_action(aws: SimpleNamespace) -> None:
    aws.audit.write(event(10))
    aws.audit.write(event(11, "user-list", target="walsall-council"))
    aws.audit.write(event(12, username="jo@wmp.example", organisation="wm-police"))
    status, reply = call(AUDIT, "GET", "/audit", "auditor", aws,
                         query={"organisation": "walsall council", "action": "search", "period": "day"})
    assert status == 200, reply
    assert [(e["organisation_name"], e["action"]) for e in reply["events"]] == [("Walsall Council", "search")]
    assert reply["organisation"] == "walsall-council" and reply["organisation_name"] == "Walsall Council"
    # an action by its name, two at once
    status, reply = call(AUDIT, "GET", "/audit", "auditor", aws,
                         query={"organisation": "Walsall Council", "action": "Searched,user-list", "period": "day"})
    assert sorted(e["action"] for e in reply["events"]) == ["search", "user-list"]
    # an unknown name says so, naming the organisations (before: "No events")
    status, reply = call(AUDIT, "GET", "/audit", "auditor", aws, query={"organisation": "Walsal Council"})
    assert status == 400 and "no organisation called 'Walsal Council'" in reply["message"]
    assert "Walsall Council" in reply["message"] and "West Midlands Police" in reply["message"]
    status, reply = call(AUDIT, "GET", "/audit", "auditor", aws, query={"action": "hacking"})
    assert status == 400 and "no audit action called 'hacking'" in reply["message"]
    # an org-admin naming another organisation by name is refused as by id
    assert call(AUDIT, "GET", "/audit", "admin", aws, query={"organisation": "West Midlands Police"})[0] == 403


def test_export_is_the_filtered_audit_as_safe_csv_and_is_audited(aws: SimpleNamespace) -> None:
    attack = json.dumps({"given_name": "=cmd|' /C calc'!A0", "family_name": "@SUM(1+1)"})
    aws.audit.write(event(5, search_terms=attack, purpose="+1+cmd|' /C calc'!A0", records_returned=2,
                          detail=json.dumps({"people": 2})))
    aws.audit.write(event(6, "user-list", target="walsall-council"))
    aws.audit.write(event(7, username="jo@wmp.example", organisation="wm-police", purpose="-2+3"))
    call(AUDIT, "GET", "/audit", "admin", aws)  # an audit-view event, not a search
    reply = AUDIT.handler(_event("/audit/export", {"action": "search", "period": "day"}), _context())
    headers = {k: v[0] for k, v in reply["multiValueHeaders"].items()}
    assert reply["statusCode"] == 200 and headers["Content-Type"].startswith("text/csv")
    assert 'filename="mast-audit-walsall-council-' in headers["Content-Disposition"]
    assert headers["X-MAST-Events"] == "1" and headers["X-MAST-Complete"] == "true"
    text = reply["body"]
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    head, body = rows[0], rows[1:]
    assert head[:8] == ["When (UTC)", "User", "Organisation", "Action", "Legal gateway", "Purpose", "Concerned",
                        "What they saw"]
    assert len(body) == 1  # walsall's one search: no other action, no other organisation
    row = dict(zip(head, body[0], strict=True))
    assert row["Action"] == "Searched" and row["Organisation"] == "Walsall Council"
    assert row["Purpose"] == "'+1+cmd|' /C calc'!A0" and row["What they saw"] == "2 people listed (2 records)"
    assert not [c for r in rows for c in r if c.startswith(FORMULA_LEADS)]
    assert "audit-export" in audit_actions(aws)


def _event(path: str, query: dict[str, str], role: tuple[str, str, str] | None = None) -> dict[str, object]:
    email, org, group = role or ("admin@walsall.example", "walsall-council", "org-admins")
    return {"resource": path, "path": f"/api{path}", "httpMethod": "GET", "headers": {}, "multiValueHeaders": {},
            "queryStringParameters": query, "multiValueQueryStringParameters": None, "pathParameters": None,
            "isBase64Encoded": False, "body": None,
            "requestContext": {"requestId": "r", "stage": "api", "path": f"/api{path}", "httpMethod": "GET",
                               "identity": {"sourceIp": "127.0.0.1"},
                               "authorizer": {"claims": {"sub": "sub-" + email, "email": email, "token_use": "id",
                                                         "custom:organisation": org, "cognito:groups": group}}}}


def _context() -> SimpleNamespace:
    return SimpleNamespace(function_name="f", memory_limit_in_mb=128, aws_request_id="r",
                           invoked_function_arn="arn:aws:lambda:eu-west-2:123456789012:function:f")


def test_saved_queries_run_on_the_page_for_auditors_only(aws: SimpleNamespace) -> None:
    # a search at 02:30 London time yesterday, and one user with many searches today
    yesterday = (NOW - dt.timedelta(days=1)).date()
    night = dt.datetime.combine(yesterday, dt.time(2, 30), dt.UTC)
    aws.audit.write(AuditEvent(event_id=new_event_id(), event_time=night, action="search", user_sub="n",
                               username="night.owl@walsall.example", organisation="walsall-council"))
    # the busy user's thirty within one day (the query counts a user's searches a day), whenever this runs:
    # an hour ago and before, or, in the first hour and a half of a day, in yesterday's last hour
    since_midnight = (NOW - NOW.replace(hour=0, minute=0, second=0, microsecond=0)).total_seconds() / 60
    first = 60.0 if since_midnight >= 90 else since_midnight + 31
    for i in range(30):
        aws.audit.write(event(first + i, username="busy@walsall.example"))
    for who in range(20):  # the usual: one search a day each
        aws.audit.write(event(200, username=f"user{who}@walsall.example"))
    status, listing = call(AUDIT, "GET", "/audit/queries", "auditor", aws)
    assert status == 200
    assert {"searches-outside-office-hours", "users-with-unusually-many-searches", "who-opened-record"} <= {
        q["name"] for q in listing["queries"]}
    period = {"from": str(yesterday - dt.timedelta(days=1)), "to": str(NOW.date())}
    status, result = call(AUDIT, "GET", "/audit/queries/searches-outside-office-hours", "auditor", aws, query=period)
    assert status == 200, result
    users = [dict(zip(result["columns"], r, strict=True))["username"] for r in result["rows"]]
    assert "night.owl@walsall.example" in users
    status, result = call(AUDIT, "GET", "/audit/queries/users-with-unusually-many-searches", "auditor", aws,
                          query=period)
    assert status == 200, result
    rows = [dict(zip(result["columns"], r, strict=True)) for r in result["rows"]]
    assert [r["username"] for r in rows] == ["busy@walsall.example"] and rows[0]["searches"] == 30
    assert "audit-query" in audit_actions(aws)
    # who-opened-record needs its record id; unknown queries are 404; only auditors
    status, reply = call(AUDIT, "GET", "/audit/queries/who-opened-record", "auditor", aws, query=period)
    assert status == 400 and "record id" in reply["message"]
    assert call(AUDIT, "GET", "/audit/queries/no-such-query", "auditor", aws, query=period)[0] == 404
    assert call(AUDIT, "GET", "/audit/queries", "admin", aws)[0] == 403
    assert call(AUDIT, "GET", "/audit/queries/searches-outside-office-hours", "admin", aws, query=period)[0] == 403
    assert call(AUDIT, "GET", "/audit/queries/searches-outside-office-hours", "auditor", aws,
                query={"from": "2026-02-31", "to": "2026-03-01"})[0] == 400
