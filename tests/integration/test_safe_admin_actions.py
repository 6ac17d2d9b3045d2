"""Safe admin actions (issue 18, point 3), handler to moto: the reason for approving, refusing,
disabling and re-enabling kept in the audit (and shown in words there); nobody disables themselves
or removes the organisation's last administrator; an invitation sent again; messages for people.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tests.integration import test_audit_and_users_api as base
from tests.integration.test_audit_and_users_api import AUDIT, USERS, access_request, call

aws = base.aws  # the moto fixture: Cognito users of two organisations, the audit and control tables


def _event_of(aws: SimpleNamespace, action: str) -> dict[str, object]:
    status, reply = call(AUDIT, "GET", "/audit", "admin", aws, query={"period": "day", "action": action})
    assert status == 200 and reply["events"], reply
    return reply["events"][0]


def test_the_reason_for_a_refusal_is_kept_in_the_audit_and_read_in_words(aws: SimpleNamespace) -> None:
    _, submitted = call(USERS, "POST", "/access-requests", "none", aws, body=access_request())
    status, _ = call(USERS, "POST", f"/access-requests/{submitted['id']}/refuse", "admin", aws,
                     body={"reason": "Not in a safeguarding role"})
    assert status == 200
    refused = _event_of(aws, "access-refuse")
    assert json.loads(str(refused["detail"]))["reason"] == "Not in a safeguarding role"
    assert refused["action_name"] == "Refused an access request"
    assert refused["concerned"] == "new.person@walsall.example"
    assert "reason given: Not in a safeguarding role" in str(refused["saw"])


def test_disable_and_enable_keep_their_reasons(aws: SimpleNamespace) -> None:
    pat = aws.ids["pat@walsall.example"]
    assert call(USERS, "POST", f"/users/{pat}/disable", "admin", aws, body={"reason": "Left in November"})[0] == 200
    assert call(USERS, "POST", f"/users/{pat}/enable", "admin", aws, body={"reason": "Came back"})[0] == 200
    assert json.loads(str(_event_of(aws, "user-disable")["detail"])) == {"email": "pat@walsall.example",
                                                                         "reason": "Left in November"}
    assert json.loads(str(_event_of(aws, "user-enable")["detail"]))["reason"] == "Came back"
    status, reply = call(USERS, "POST", f"/users/{pat}/disable", "admin", aws, body={"reason": "x" * 501})
    assert status == 400 and reply["errors"][0]["field"] == "reason"


def test_nobody_disables_themselves_and_the_list_says_who_you_are(aws: SimpleNamespace) -> None:
    me = aws.ids["admin@walsall.example"]
    status, reply = call(USERS, "POST", f"/users/{me}/disable", "admin", aws, body={"reason": "test"})
    assert status == 409 and reply["message"] == "You cannot disable your own account. Ask another administrator."
    assert aws.idp.admin_get_user(UserPoolId=aws.pool, Username=me)["Enabled"] is True
    users = call(USERS, "GET", "/users", "admin", aws)[1]["users"]
    assert [u["email"] for u in users if u["is_you"]] == ["admin@walsall.example"]


def test_the_last_enabled_administrator_of_an_organisation_stays(aws: SimpleNamespace) -> None:
    """Nobody can disable themselves, so the last administrator is reached when the one acting has
    been disabled by the operator while their token still lives (up to an hour): they may not then
    disable or demote the organisation's last enabled administrator."""
    status, deputy = call(USERS, "POST", "/users", "admin", aws,
                          body={"email": "deputy@walsall.example", "name": "Deputy", "group": "org-admins"})
    assert status == 201
    me = aws.ids["admin@walsall.example"]
    aws.idp.admin_disable_user(UserPoolId=aws.pool, Username=me)  # by the operator; the token still works
    status, reply = call(USERS, "POST", f"/users/{deputy['id']}/disable", "admin", aws, body={"reason": "r"})
    assert status == 409
    assert reply["message"] == ("deputy@walsall.example is the last administrator of your organisation. "
                                "Make someone else an administrator first.")
    status, reply = call(USERS, "PATCH", f"/users/{deputy['id']}", "admin", aws, body={"group": "practitioners"})
    assert status == 409 and "last administrator" in reply["message"]
    assert aws.idp.admin_get_user(UserPoolId=aws.pool, Username=deputy["id"])["Enabled"] is True
    # with the first administrator enabled again, the deputy may go
    aws.idp.admin_enable_user(UserPoolId=aws.pool, Username=me)
    assert call(USERS, "POST", f"/users/{deputy['id']}/disable", "admin", aws, body={"reason": "r"})[0] == 200


def test_an_invitation_is_sent_again_only_before_the_first_sign_in(aws: SimpleNamespace) -> None:
    status, new = call(USERS, "POST", "/users", "admin", aws,
                       body={"email": "invited@walsall.example", "name": "Invited", "group": "practitioners"})
    assert status == 201 and new["status"] == "FORCE_CHANGE_PASSWORD"
    status, again = call(USERS, "POST", f"/users/{new['id']}/resend", "admin", aws)
    assert status == 200, again
    assert _event_of(aws, "user-resend")["concerned"] == "invited@walsall.example"
    pat = aws.ids["pat@walsall.example"]
    aws.idp.admin_set_user_password(UserPoolId=aws.pool, Username=pat, Password="Signed-In-2026!", Permanent=True)
    status, reply = call(USERS, "POST", f"/users/{pat}/resend", "admin", aws)
    assert status == 409
    assert reply["message"].endswith("has already signed in, so there is no invitation to send again.")
    assert call(USERS, "POST", f"/users/{pat}/resend", "practitioner", aws)[0] == 403


def test_messages_are_written_for_people(aws: SimpleNamespace) -> None:
    body = {"email": "pat@walsall.example", "name": "Pat Again", "group": "practitioners"}
    status, reply = call(USERS, "POST", "/users", "admin", aws, body=body)
    assert status == 409
    assert reply["message"] == ("There is already a user with the email address pat@walsall.example. "
                                "Find them in the list of users.")
    status, reply = call(USERS, "GET", "/users", "practitioner", aws)
    assert status == 403 and reply["message"] == ("You do not have permission to do this. "
                                                  "It is for organisation administrators.")


def test_the_users_list_says_when_each_last_used_mast(aws: SimpleNamespace) -> None:
    import datetime as dt

    from mast.audit import AuditEvent, new_event_id

    pat = aws.ids["pat@walsall.example"]
    users = {u["email"]: u for u in call(USERS, "GET", "/users", "admin", aws)[1]["users"]}
    assert users["pat@walsall.example"]["last_active"] is None
    assert users["admin@walsall.example"]["last_active"] is not None  # listing the users is an action
    when = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    aws.audit.write(AuditEvent(event_id=new_event_id(), event_time=when, action="search", user_sub=pat,
                               username="pat@walsall.example", organisation="walsall-council"))
    users = {u["email"]: u for u in call(USERS, "GET", "/users", "admin", aws)[1]["users"]}
    assert dt.datetime.fromisoformat(users["pat@walsall.example"]["last_active"]) == when


def test_the_daily_schedule_disables_accounts_unused_for_90_days(aws: SimpleNamespace,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Ninety-one days on, with no action of theirs in the audit since: the practitioners are disabled,
    each audited with the reason; the operator's auditor and steward are not the schedule's; Walsall's
    one administrator stays (never no administrator). A user active in the window stays enabled."""
    import datetime as dt

    from mast.audit import AuditEvent, new_event_id

    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=91)
    monkeypatch.setattr(USERS, "_now", lambda: later)
    police = aws.ids["jo@wmp.example"]
    aws.audit.write(AuditEvent(event_id=new_event_id(), event_time=later - dt.timedelta(days=10), action="search",
                               user_sub=police, username="jo@wmp.example", organisation="wm-police"))
    scheduled = {"id": "ev-1", "source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    reply = USERS.handler(scheduled, base.SimpleNamespace(function_name="f", memory_limit_in_mb=128,
                                                          aws_request_id="r", invoked_function_arn="arn:x"))
    assert reply == {"disabled": 1}

    def enabled(email: str) -> bool:
        return bool(aws.idp.admin_get_user(UserPoolId=aws.pool, Username=aws.ids[email])["Enabled"])

    assert not enabled("pat@walsall.example")
    assert enabled("jo@wmp.example")  # searched ten days before
    assert enabled("admin@walsall.example") and enabled("admin@wmp.example")  # each organisation's last admin
    assert enabled("auditor@mast.example") and enabled("steward@mast.example")
    page = aws.audit.query(organisation="walsall-council", since=later - dt.timedelta(minutes=1),
                           until=later + dt.timedelta(minutes=1))
    [event] = [e for e in page.events if e.action == "user-disable"]
    assert event.user_sub == "mast-schedule" and json.loads(event.detail or "{}") == {
        "email": "pat@walsall.example", "reason": "not used for 90 days"}


def test_an_administrator_confirms_their_users_access_audited(aws: SimpleNamespace) -> None:
    status, review = call(USERS, "GET", "/access-reviews", "admin", aws)
    assert status == 200 and review["reviewed_at"] is None and review["overdue"] is True
    users = call(USERS, "GET", "/users", "admin", aws)[1]["users"]
    mine = [u["id"] for u in users if u["enabled"] and u["manageable"]]
    assert len(mine) == 2  # pat and the admin; the auditor and steward are the operator's
    assert call(USERS, "POST", "/access-reviews", "admin", aws, body={"users": mine[:1]})[0] == 409
    status, review = call(USERS, "POST", "/access-reviews", "admin", aws, body={"users": mine})
    assert status == 200 and review["users_confirmed"] == 2 and review["overdue"] is False
    assert review["reviewed_by"] == "admin@walsall.example" and review["due"]
    assert call(USERS, "GET", "/access-reviews", "admin", aws)[1]["reviewed_at"] == review["reviewed_at"]
    assert call(USERS, "GET", "/access-reviews", "other-admin", aws)[1]["reviewed_at"] is None
    event = _event_of(aws, "access-review")
    assert json.loads(str(event["detail"]))["users"] == ["admin@walsall.example", "pat@walsall.example"]
    assert call(USERS, "POST", "/access-reviews", "practitioner", aws, body={"users": mine})[0] == 403


def test_another_organisations_user_is_403_whatever_the_body(aws: SimpleNamespace) -> None:
    police = aws.ids["jo@wmp.example"]
    for action in ("disable", "enable"):
        status, reply = call(USERS, "POST", f"/users/{police}/{action}", "admin", aws, body={"name": "Hijacked"})
        assert status == 403 and "another organisation" in reply["message"]
