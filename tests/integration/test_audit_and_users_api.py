"""The audit and user-administration routes, handler to moto: who may call what (the authorisation
matrix), bad input as a 4xx that says what is wrong, and each admin action audited before it acts.

The handlers run in process with REST v1 events as API Gateway's Cognito authorizer builds them
(string claims, groups comma-joined); Cognito, DynamoDB and S3 are moto.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mast.audit import AuditEvent, AuditStore, new_event_id
from tests.unit.test_audit_store import create_audit_table

ROOT = Path(__file__).resolve().parents[2]
AUDIT_TABLE, CONTROL_TABLE = "mast-it-audit", "mast-it-control"


def load_function(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"mast_it_{name}_app", ROOT / "functions" / name / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


USERS = load_function("users")
AUDIT = load_function("audit")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[SimpleNamespace]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-2")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        ddb = boto3.client("dynamodb")
        create_audit_table(ddb, AUDIT_TABLE)
        ddb.create_table(TableName=CONTROL_TABLE, BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}])
        idp = boto3.client("cognito-idp")
        pool = idp.create_user_pool(
            PoolName="mast-it", UsernameAttributes=["email"],
            Schema=[{"Name": "organisation", "AttributeDataType": "String", "Mutable": False},
                    {"Name": "name", "AttributeDataType": "String", "Mutable": True}],
        )["UserPool"]["Id"]
        for group in ("practitioners", "org-admins", "auditors", "data-stewards"):
            idp.create_group(UserPoolId=pool, GroupName=group)
        monkeypatch.setenv("USER_POOL_ID", pool)
        monkeypatch.setenv("AUDIT_TABLE", AUDIT_TABLE)
        monkeypatch.setenv("CONTROL_TABLE", CONTROL_TABLE)
        people: dict[str, str] = {}
        for email, org, group in [
            ("pat@walsall.example", "walsall-council", "practitioners"),
            ("admin@walsall.example", "walsall-council", "org-admins"),
            ("auditor@mast.example", "walsall-council", "auditors"),
            ("steward@mast.example", "walsall-council", "data-stewards"),
            ("jo@wmp.example", "wm-police", "practitioners"),
            ("admin@wmp.example", "wm-police", "org-admins"),
        ]:
            user = idp.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS", UserAttributes=[
                {"Name": "email", "Value": email}, {"Name": "name", "Value": email.split("@")[0]},
                {"Name": "custom:organisation", "Value": org}])["User"]
            idp.admin_add_user_to_group(UserPoolId=pool, Username=user["Username"], GroupName=group)
            people[email] = user["Username"]
        yield SimpleNamespace(pool=pool, idp=idp, ddb=ddb, ids=people, audit=AuditStore(AUDIT_TABLE, client=ddb))


ROLES: dict[str, tuple[str, str, str] | None] = {
    # role: (email, organisation, group)
    "none": None,
    "practitioner": ("pat@walsall.example", "walsall-council", "practitioners"),
    "admin": ("admin@walsall.example", "walsall-council", "org-admins"),
    "other-admin": ("admin@wmp.example", "wm-police", "org-admins"),
    "auditor": ("auditor@mast.example", "walsall-council", "auditors"),
    "steward": ("steward@mast.example", "walsall-council", "data-stewards"),
}


def call(module: ModuleType, method: str, path: str, role: str, aws: SimpleNamespace, *,
         body: Any = None, query: dict[str, str] | None = None) -> tuple[int, Any]:
    who = ROLES[role]
    context: dict[str, Any] = {"requestId": uuid.uuid4().hex, "stage": "api", "path": f"/api{path}",
                               "httpMethod": method, "identity": {"sourceIp": "127.0.0.1"}}
    if who:
        email, org, group = who
        # as Cognito writes an ID token's claims (REST: strings); the pool verifies every email
        context["authorizer"] = {"claims": {"sub": aws.ids[email], "email": email, "email_verified": "true",
                                            "token_use": "id", "custom:organisation": org, "cognito:groups": group}}
    event = {"resource": path, "path": f"/api{path}", "httpMethod": method, "headers": {"content-type": "application/json"},
             "multiValueHeaders": {}, "queryStringParameters": query, "multiValueQueryStringParameters": None,
             "pathParameters": None, "requestContext": context, "isBase64Encoded": False,
             "body": body if isinstance(body, str) or body is None else json.dumps(body)}
    lambda_context = SimpleNamespace(function_name="f", memory_limit_in_mb=128, aws_request_id="r",
                                     invoked_function_arn="arn:aws:lambda:eu-west-2:123456789012:function:f")
    reply = module.handler(event, lambda_context)
    return reply["statusCode"], json.loads(reply["body"]) if reply.get("body") else None


def audit_actions(aws: SimpleNamespace) -> list[str]:
    now = dt.datetime.now(dt.UTC)
    page = aws.audit.query(organisation=None, since=now - dt.timedelta(days=1), until=now + dt.timedelta(minutes=1),
                           limit=200)
    return [e.action for e in reversed(page.events)]


def access_request(**overrides: Any) -> dict[str, Any]:
    return {"name": "New Person", "email": "new.person@walsall.example", "organisation": "walsall-council",
            "role": "practitioner", "reason": "MASH duty officer from December", **overrides}


# --- the authorisation matrix -----------------------------------------------------------------------

ROUTES = [
    ("GET", "/users", None),
    ("POST", "/users", {"email": "m1@walsall.example", "name": "Matrix One", "group": "practitioners"}),
    ("PATCH", "/users/{pat}", {"name": "Pat Renamed"}),
    ("POST", "/users/{pat}/disable", None),
    ("POST", "/users/{pat}/enable", None),
    ("GET", "/access-requests", None),
    ("POST", "/access-requests/{request}/approve", None),
    ("POST", "/access-requests/{request}/refuse", None),
    ("GET", "/audit", None),
]

EXPECTED = {
    # role:            users..........................  access requests.........  audit
    "none":           [401, 401, 401, 401, 401, 401, 401, 401, 401],
    "practitioner":   [403, 403, 403, 403, 403, 403, 403, 403, 403],
    "admin":          [200, 201, 200, 200, 200, 200, 200, 409, 200],
    "other-admin":    [200, 201, 403, 403, 403, 200, 404, 404, 200],
    "auditor":        [403, 403, 403, 403, 403, 403, 403, 403, 200],
    "steward":        [403, 403, 403, 403, 403, 403, 403, 403, 403],
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_authorisation_matrix(aws: SimpleNamespace, role: str) -> None:
    status, submitted = call(USERS, "POST", "/access-requests", "none", aws, body=access_request())
    assert status == 202
    got = []
    for method, path, body in ROUTES:
        concrete = path.replace("{pat}", aws.ids["pat@walsall.example"]).replace("{request}", submitted["id"])
        module = AUDIT if path == "/audit" else USERS
        status, reply = call(module, method, concrete, role, aws, body=body)
        assert status != 500, reply
        if status >= 400:
            assert reply["message"], (method, path)
        got.append(status)
    assert got == EXPECTED[role]


def test_public_access_request_needs_no_token_and_anyone_may_submit(aws: SimpleNamespace) -> None:
    for index, role in enumerate(ROLES):
        status, reply = call(USERS, "POST", "/access-requests", role, aws,
                             body=access_request(email=f"r{index}@walsall.example"))
        assert status == 202 and reply["status"] == "pending"


# --- users ---------------------------------------------------------------------------------------------


def test_admin_lists_only_their_organisation(aws: SimpleNamespace) -> None:
    status, reply = call(USERS, "GET", "/users", "admin", aws)
    assert status == 200
    emails = {u["email"] for u in reply["users"]}
    assert emails == {"pat@walsall.example", "admin@walsall.example", "auditor@mast.example", "steward@mast.example"}
    manageable = {u["email"]: u["manageable"] for u in reply["users"]}
    assert manageable["auditor@mast.example"] is False and manageable["pat@walsall.example"] is True
    assert audit_actions(aws) == ["user-list"]


def test_add_edit_disable_enable_each_audited_first(aws: SimpleNamespace) -> None:
    status, user = call(USERS, "POST", "/users", "admin", aws,
                        body={"email": "New.Worker@Walsall.example", "name": "New Worker", "group": "practitioners"})
    assert status == 201
    assert user["email"] == "new.worker@walsall.example" and user["organisation"] == "walsall-council"
    assert user["status"] == "FORCE_CHANGE_PASSWORD" and user["groups"] == ["practitioners"]
    uid = user["id"]
    status, user = call(USERS, "PATCH", f"/users/{uid}", "admin", aws, body={"name": "Newer Worker", "group": "org-admins"})
    assert status == 200 and user["name"] == "Newer Worker" and user["groups"] == ["org-admins"]
    status, user = call(USERS, "POST", f"/users/{uid}/disable", "admin", aws)
    assert status == 200 and user["enabled"] is False
    status, user = call(USERS, "POST", f"/users/{uid}/enable", "admin", aws)
    assert status == 200 and user["enabled"] is True
    assert audit_actions(aws) == ["user-add", "user-edit", "user-disable", "user-enable"]
    assert call(USERS, "POST", "/users", "admin", aws,
                body={"email": "new.worker@walsall.example", "name": "Again", "group": "practitioners"})[0] == 409


def test_admin_cannot_touch_another_organisation_or_operator_groups(aws: SimpleNamespace) -> None:
    police = aws.ids["jo@wmp.example"]
    for method, path in [("PATCH", f"/users/{police}"), ("POST", f"/users/{police}/disable"),
                         ("POST", f"/users/{police}/enable")]:
        status, reply = call(USERS, method, path, "admin", aws, body={"name": "x"} if method == "PATCH" else None)
        assert status == 403 and "another organisation" in reply["message"]
    auditor = aws.ids["auditor@mast.example"]
    status, reply = call(USERS, "POST", f"/users/{auditor}/disable", "admin", aws)
    assert status == 403 and "operator" in reply["message"]
    assert aws.idp.admin_get_user(UserPoolId=aws.pool, Username=police)["Enabled"] is True
    assert aws.idp.admin_get_user(UserPoolId=aws.pool, Username=auditor)["Enabled"] is True
    # nothing was done; each refusal is on the record, naming the route and why (issue 19: no probe
    # of another organisation's users goes unaudited)
    now = dt.datetime.now(dt.UTC)
    events = list(reversed(aws.audit.query(organisation=None, since=now - dt.timedelta(days=1),
                                           until=now + dt.timedelta(minutes=1), limit=200).events))
    assert [e.action for e in events] == ["refused"] * 4
    assert [e.target for e in events] == ["PATCH /users/{id}", "POST /users/{id}/disable",
                                          "POST /users/{id}/enable", "POST /users/{id}/disable"]
    assert all(e.organisation == "walsall-council" and json.loads(str(e.detail))["status"] == 403 for e in events)


def test_operator_groups_cannot_be_granted_through_the_api(aws: SimpleNamespace) -> None:
    pat = aws.ids["pat@walsall.example"]
    for group in ("auditors", "data-stewards", "admins"):
        status, reply = call(USERS, "PATCH", f"/users/{pat}", "admin", aws, body={"group": group})
        assert status == 400 and reply["errors"][0]["field"] == "group"
        status, _ = call(USERS, "POST", "/users", "admin", aws,
                         body={"email": "x@walsall.example", "name": "X", "group": group})
        assert status == 400


def test_admin_cannot_disable_or_demote_themselves(aws: SimpleNamespace) -> None:
    me = aws.ids["admin@walsall.example"]
    assert call(USERS, "POST", f"/users/{me}/disable", "admin", aws)[0] == 409
    assert call(USERS, "PATCH", f"/users/{me}", "admin", aws, body={"group": "practitioners"})[0] == 409


def test_audit_unavailable_means_503_and_nothing_done(aws: SimpleNamespace) -> None:
    aws.ddb.delete_table(TableName=AUDIT_TABLE)
    status, reply = call(USERS, "POST", "/users", "admin", aws,
                         body={"email": "ghost@walsall.example", "name": "Ghost", "group": "practitioners"})
    assert status == 503 and "audit" in reply["message"]
    assert not [u for u in aws.idp.list_users(UserPoolId=aws.pool)["Users"]
                if any(a["Value"] == "ghost@walsall.example" for a in u["Attributes"])]
    pat = aws.ids["pat@walsall.example"]
    assert call(USERS, "POST", f"/users/{pat}/disable", "admin", aws)[0] == 503
    assert aws.idp.admin_get_user(UserPoolId=aws.pool, Username=pat)["Enabled"] is True
    assert call(AUDIT, "GET", "/audit", "auditor", aws)[0] == 503


BAD_USER_BODIES = [
    ("not json", None),
    ({"email": "nope", "name": "A", "group": "practitioners"}, "email"),
    ({"email": "a@b.example", "name": "", "group": "practitioners"}, "name"),
    ({"email": "a@b.example", "name": "A\u0000B", "group": "practitioners"}, "name"),
    ({"email": "a@b.example", "name": "A", "group": "practitioners", "organisation": "wm-police"}, "organisation"),
    ({"email": "a@b.example", "name": "x" * 5000, "group": "practitioners"}, "name"),
    ({"email": "'; DROP TABLE users; --@x.example", "name": "A", "group": "practitioners"}, "email"),
    ("{" + '"name": "' + "x" * (10 * 1024 * 1024) + '"}', None),
    ([], None),
]


@pytest.mark.parametrize(("body", "field"), BAD_USER_BODIES, ids=range(len(BAD_USER_BODIES)))
def test_bad_user_bodies_are_400_with_a_reason(aws: SimpleNamespace, body: Any, field: str | None) -> None:
    """400 saying what is wrong; a body past the API's one size cap is 413, as on every route (the
    users function read any size before it shared the one body reader)."""
    status, reply = call(USERS, "POST", "/users", "admin", aws, body=body)
    too_large = isinstance(body, str) and len(body) > 16 * 1024
    assert status == (413 if too_large else 400)
    assert reply["message"]
    if field:
        assert field in {e["field"] for e in reply["errors"]}


@pytest.mark.parametrize("path", ["/users/..%2F..", "/users/" + "x" * 300, "/users/a b"])
def test_bad_user_ids_are_4xx(aws: SimpleNamespace, path: str) -> None:
    status, reply = call(USERS, "POST", f"{path}/disable", "admin", aws)
    assert 400 <= status < 500 and reply["message"]


# --- access requests --------------------------------------------------------------------------------


def test_access_request_flows_to_approval(aws: SimpleNamespace) -> None:
    status, submitted = call(USERS, "POST", "/access-requests", "none", aws, body=access_request(role="org-admin"))
    assert status == 202
    assert call(USERS, "GET", "/access-requests", "other-admin", aws)[1] == {"requests": []}
    status, listed = call(USERS, "GET", "/access-requests", "admin", aws, query={"status": "pending"})
    assert status == 200 and [r["id"] for r in listed["requests"]] == [submitted["id"]]
    assert listed["requests"][0]["reason"] == "MASH duty officer from December"
    status, decided = call(USERS, "POST", f"/access-requests/{submitted['id']}/approve", "admin", aws)
    assert status == 200
    assert decided["request"]["status"] == "approved" and decided["request"]["decided_by"] == "admin@walsall.example"
    assert decided["user"]["groups"] == ["org-admins"] and decided["user"]["organisation"] == "walsall-council"
    assert decided["user"]["status"] == "FORCE_CHANGE_PASSWORD"
    assert call(USERS, "POST", f"/access-requests/{submitted['id']}/approve", "admin", aws)[0] == 409
    assert call(USERS, "POST", f"/access-requests/{submitted['id']}/refuse", "admin", aws)[0] == 409
    assert call(USERS, "GET", "/access-requests", "admin", aws, query={"status": "pending"})[1] == {"requests": []}
    assert audit_actions(aws) == ["access-request", "access-request-list", "access-request-list", "access-approve",
                                  "refused", "refused", "access-request-list"]  # the two 409s on the record


def test_access_request_refused_creates_no_user(aws: SimpleNamespace) -> None:
    _, submitted = call(USERS, "POST", "/access-requests", "none", aws, body=access_request())
    status, decided = call(USERS, "POST", f"/access-requests/{submitted['id']}/refuse", "admin", aws)
    assert status == 200 and decided["request"]["status"] == "refused"
    assert len(aws.idp.list_users(UserPoolId=aws.pool)["Users"]) == 6
    assert call(USERS, "POST", "/access-requests", "none", aws, body=access_request())[0] == 202  # may ask again


@pytest.mark.parametrize(("overrides", "field"), [
    ({"organisation": "acme"}, "organisation"),
    ({"role": "auditor"}, "role"),
    ({"role": "data-steward"}, "role"),
    ({"email": "no-at-sign"}, "email"),
    ({"name": "   "}, "name"),
    ({"reason": ""}, "reason"),
    ({"reason": "x" * 1001}, "reason"),
    ({"name": "Robert'); DROP TABLE Students;--\u202e"}, "name"),
    ({"extra": "field"}, "extra"),
])
def test_bad_access_requests_are_400(aws: SimpleNamespace, overrides: dict[str, Any], field: str) -> None:
    status, reply = call(USERS, "POST", "/access-requests", "none", aws, body=access_request(**overrides))
    assert status == 400, reply
    assert field in {e["field"] for e in reply["errors"]}
    if field == "organisation":
        assert "walsall-council" in reply["errors"][0]["message"]


def test_unicode_names_are_welcome(aws: SimpleNamespace) -> None:
    status, _ = call(USERS, "POST", "/access-requests", "none", aws,
                     body=access_request(name="Zoë O'Brien-Łukasik 李", email="zoe@walsall.example"))
    assert status == 202


def test_duplicate_pending_request_is_409(aws: SimpleNamespace) -> None:
    assert call(USERS, "POST", "/access-requests", "none", aws, body=access_request())[0] == 202
    status, reply = call(USERS, "POST", "/access-requests", "none", aws, body=access_request())
    assert status == 409 and "waiting" in reply["message"]


@pytest.mark.parametrize("request_id", ["nope", "20260101000000-zzzzzzzzzzzz", "20260101000000-0123456789ab"])
def test_unknown_or_malformed_request_ids(aws: SimpleNamespace, request_id: str) -> None:
    status, reply = call(USERS, "POST", f"/access-requests/{request_id}/approve", "admin", aws)
    assert status in (400, 404) and reply["message"]


def test_bad_status_filter_is_400(aws: SimpleNamespace) -> None:
    assert call(USERS, "GET", "/access-requests", "admin", aws, query={"status": "maybe"})[0] == 400


# --- GET /api/audit ---------------------------------------------------------------------------------


def seed_audit(aws: SimpleNamespace) -> dict[str, AuditEvent]:
    now = dt.datetime.now(dt.UTC)
    events = {
        "walsall-today": AuditEvent(event_id=new_event_id(), event_time=now - dt.timedelta(hours=1), action="search",
                                    user_sub="s1", username="pat@walsall.example", organisation="walsall-council",
                                    gateway="care-act-2014-s42", purpose="case 7", records_returned=3),
        "walsall-lastweek": AuditEvent(event_id=new_event_id(), event_time=now - dt.timedelta(days=5), action="search",
                                       user_sub="s2", username="kim@walsall.example", organisation="walsall-council"),
        "police-today": AuditEvent(event_id=new_event_id(), event_time=now - dt.timedelta(hours=2), action="search",
                                   user_sub="s3", username="jo@wmp.example", organisation="wm-police"),
        "walsall-old": AuditEvent(event_id=new_event_id(), event_time=now - dt.timedelta(days=20), action="search",
                                  user_sub="s1", username="pat@walsall.example", organisation="walsall-council"),
    }
    for event in events.values():
        aws.audit.write(event)
    return events


def ids(reply: dict[str, Any]) -> set[str]:
    """The seeded events a page shows (not the audit's own reads, nor the refusals the test causes)."""
    return {e["event_id"] for e in reply["events"] if e["action"] not in ("audit-view", "refused")}


def test_audit_scope_by_group_and_organisation(aws: SimpleNamespace) -> None:
    events = seed_audit(aws)
    e = {k: v.event_id for k, v in events.items()}
    status, reply = call(AUDIT, "GET", "/audit", "admin", aws, query={"period": "week"})
    assert status == 200 and ids(reply) == {e["walsall-today"], e["walsall-lastweek"]}
    assert call(AUDIT, "GET", "/audit", "admin", aws, query={"organisation": "wm-police"})[0] == 403
    status, reply = call(AUDIT, "GET", "/audit", "other-admin", aws)
    assert ids(reply) == {e["police-today"]}
    status, reply = call(AUDIT, "GET", "/audit", "auditor", aws, query={"period": "month"})
    assert ids(reply) == set(e.values())
    # the org-admin's attempt on the police audit is itself on the record, for the auditor to see
    refusals = [r for r in reply["events"] if r["action"] == "refused"]
    assert [(r["username"], r["organisation"], r["target"]) for r in refusals] == [
        ("admin@walsall.example", "walsall-council", "GET /audit")]
    status, reply = call(AUDIT, "GET", "/audit", "auditor", aws, query={"period": "day", "organisation": "wm-police"})
    assert ids(reply) == {e["police-today"]}
    status, reply = call(AUDIT, "GET", "/audit", "auditor", aws, query={"user": "pat@walsall.example", "period": "month"})
    assert ids(reply) == {e["walsall-today"], e["walsall-old"]}
    today = dt.datetime.now(dt.UTC).date()
    status, reply = call(AUDIT, "GET", "/audit", "auditor", aws,
                         query={"from": str(today - dt.timedelta(days=25)), "to": str(today - dt.timedelta(days=3))})
    assert ids(reply) == {e["walsall-lastweek"], e["walsall-old"]}
    shown = next(x for x in call(AUDIT, "GET", "/audit", "auditor", aws)[1]["events"] if x["event_id"] == e["walsall-today"])
    assert shown["gateway"] == "care-act-2014-s42" and shown["records_returned"] == 3


def test_audit_viewing_is_itself_audited(aws: SimpleNamespace) -> None:
    call(AUDIT, "GET", "/audit", "admin", aws, query={"period": "day", "user": "pat@walsall.example"})
    now = dt.datetime.now(dt.UTC)
    page = aws.audit.query(organisation="walsall-council", since=now - dt.timedelta(minutes=5),
                           until=now + dt.timedelta(minutes=1))
    view = next(x for x in page.events if x.action == "audit-view")
    assert view.username == "admin@walsall.example" and json.loads(view.detail or "{}")["user"] == "pat@walsall.example"


def test_audit_paging(aws: SimpleNamespace) -> None:
    now = dt.datetime.now(dt.UTC)
    for i in range(7):
        aws.audit.write(AuditEvent(event_id=new_event_id(), event_time=now - dt.timedelta(hours=i + 1),
                                   action="search", user_sub="s", username="p@walsall.example",
                                   organisation="walsall-council"))
    seen: list[str] = []
    token = None
    while True:
        query = {"limit": "3", "user": "p@walsall.example", **({"next": token} if token else {})}
        status, reply = call(AUDIT, "GET", "/audit", "admin", aws, query=query)
        assert status == 200 and len(reply["events"]) <= 3
        seen += [x["event_id"] for x in reply["events"]]
        token = reply["next"]
        if not token:
            break
    assert len(seen) == 7 == len(set(seen))


@pytest.mark.parametrize("query", [
    {"period": "year"},
    {"period": "day", "from": "2026-01-01"},
    {"from": "2026-02-31"},
    {"from": "0000-00-00"},
    {"from": "2026-05-01", "to": "2026-04-01"},
    {"from": "2020-01-01", "to": "2026-01-01"},
    {"limit": "0"},
    {"limit": "lots"},
    {"next": "garbage"},
    {"next": "eyJxIjoiMSIsInAiOiJ4IiwiayI6bnVsbH0"},
    {"unknown": "1"},
    {"user": "\u0000"},
])
def test_bad_audit_queries_are_400(aws: SimpleNamespace, query: dict[str, str]) -> None:
    status, reply = call(AUDIT, "GET", "/audit", "auditor", aws, query=query)
    assert status == 400, reply
    assert reply["message"]


@pytest.mark.parametrize("method, action, body", [
    ("PATCH", "", {"name": "x"}), ("POST", "/disable", None), ("POST", "/enable", None),
])
def test_an_unknown_user_and_another_organisations_user_answer_alike(aws: SimpleNamespace, method: str, action: str,
                                                                      body: dict[str, str] | None) -> None:
    """No oracle for which users exist (issue 19): an id of no user at all and an id of another
    organisation's user get the same status and the same words."""
    import uuid as uuid_module

    police = aws.ids["jo@wmp.example"]
    nobody = str(uuid_module.uuid4())
    foreign = call(USERS, method, f"/users/{police}{action}", "admin", aws, body=body)
    unknown = call(USERS, method, f"/users/{nobody}{action}", "admin", aws, body=body)
    assert foreign == unknown, (foreign, unknown)
    assert foreign[0] == 403
