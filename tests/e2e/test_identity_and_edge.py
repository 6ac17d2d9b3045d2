"""Identity cannot be edited by its owner, and the edge holds, against `mast local --demo` as an
attacker with a user's account would try it: through the page's own Cognito endpoint and API.

Each was open before (issue 19): an org-admin rewrote their own ``custom:organisation`` and read
another organisation's users; SignUp made an account in an admin-only pool; a user with no MFA got
tokens for a password alone; a token whose ``aud`` is a list left the request unanswered; an
oversized query string dropped the connection; the page came without a Content-Security-Policy."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from joserfc import jwt

from infra.local.demo import DEMO_USERS
from tests.conftest import LocalStackProcess
from tests.e2e.test_local_stack import moto_signing_key, sign_in

pytestmark = pytest.mark.e2e

ADMIN = next(u for u in DEMO_USERS if u.groups == ("org-admins",) and u.organisation == "walsall-council")


def _error_type(response: requests.Response) -> str:
    return str(response.json().get("__type", "")).rsplit("#", 1)[-1]


def _claims(id_token: str) -> dict[str, Any]:
    return dict(jwt.decode(id_token, moto_signing_key()).claims)


@pytest.mark.parametrize("name, value", [
    ("custom:organisation", "wm-police"),
    ("email", "chief.constable@wmp.example"),
    ("name", "Chief Constable"),
])
def test_a_user_cannot_write_an_attribute_that_names_them(local_stack: LocalStackProcess, name: str,
                                                          value: str) -> None:
    tokens = sign_in(local_stack, ADMIN.email, ADMIN.password)
    response = local_stack.cognito("UpdateUserAttributes", {
        "AccessToken": tokens["AccessToken"], "UserAttributes": [{"Name": name, "Value": value}]})
    assert response.status_code == 400 and _error_type(response) == "NotAuthorizedException", response.text
    again = _claims(sign_in(local_stack, ADMIN.email, ADMIN.password)["IdToken"])
    assert again["custom:organisation"] == "walsall-council" and again["email"] == ADMIN.email
    users = requests.get(f"{local_stack.url}/api/users", headers={"Authorization": tokens["IdToken"]}, timeout=30)
    assert users.status_code == 200 and {u["organisation"] for u in users.json()["users"]} == {"walsall-council"}


def test_get_user_shows_only_the_app_clients_readable_attributes(local_stack: LocalStackProcess) -> None:
    tokens = sign_in(local_stack, ADMIN.email, ADMIN.password)
    response = local_stack.cognito("GetUser", {"AccessToken": tokens["AccessToken"]})
    assert response.status_code == 200, response.text
    names = {a["Name"] for a in response.json()["UserAttributes"]}
    assert names <= {"sub", "email", "email_verified", "name", "custom:organisation"}, names


def test_sign_up_is_refused_in_the_admin_only_pool(local_stack: LocalStackProcess) -> None:
    email = "newcomer@wmp.example"
    response = local_stack.cognito("SignUp", {
        "ClientId": local_stack.config["userPoolClientId"], "Username": email, "Password": "Newcomer-Pass-2026!",
        "UserAttributes": [{"Name": "email", "Value": email}, {"Name": "custom:organisation", "Value": "wm-police"}]})
    assert response.status_code == 400 and _error_type(response) == "NotAuthorizedException", response.text
    pool = local_stack.config["userPoolId"]
    listed = local_stack.client("cognito-idp").list_users(UserPoolId=pool, Filter=f'email = "{email}"')["Users"]
    assert listed == []


def test_mfa_is_asked_on_every_sign_in_even_of_a_user_without_it(local_stack: LocalStackProcess) -> None:
    """A user made by an administrator with a permanent password and no authenticator gets the
    MFA set-up challenge, never tokens; and cannot end that challenge without verifying a code."""
    cognito = local_stack.client("cognito-idp")
    pool, client_id = local_stack.config["userPoolId"], local_stack.config["userPoolClientId"]
    email, password = "no.mfa@walsall.example", "No-Mfa-Pass-2026!"
    cognito.admin_create_user(UserPoolId=pool, Username=email, MessageAction="SUPPRESS", UserAttributes=[
        {"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"},
        {"Name": "custom:organisation", "Value": "walsall-council"}])
    cognito.admin_set_user_password(UserPoolId=pool, Username=email, Password=password, Permanent=True)
    first = local_stack.cognito("InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
                                                 "AuthParameters": {"USERNAME": email, "PASSWORD": password}})
    assert first.status_code == 200, first.text
    assert first.json().get("ChallengeName") == "MFA_SETUP" and "AuthenticationResult" not in first.json()
    skipped = local_stack.cognito("RespondToAuthChallenge", {
        "ClientId": client_id, "ChallengeName": "MFA_SETUP", "Session": first.json()["Session"],
        "ChallengeResponses": {"USERNAME": email}})
    assert skipped.status_code == 400 and "AuthenticationResult" not in skipped.json(), skipped.text
    # a user whose authenticator is enabled but not "preferred" is still asked for a code
    cognito.admin_set_user_mfa_preference(UserPoolId=pool, Username=ADMIN.email,
                                          SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": False})
    try:
        again = local_stack.cognito("InitiateAuth", {
            "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
            "AuthParameters": {"USERNAME": ADMIN.email, "PASSWORD": ADMIN.password}})
        assert again.json().get("ChallengeName") == "SOFTWARE_TOKEN_MFA" and "AuthenticationResult" not in again.json()
    finally:
        cognito.admin_set_user_mfa_preference(UserPoolId=pool, Username=ADMIN.email,
                                              SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True})


def _forged(stack: LocalStackProcess, **changes: Any) -> str:
    """A token the pool's own key signed, with claims the pool would never write."""
    pool, client_id = stack.config["userPoolId"], stack.config["userPoolClientId"]
    now = int(time.time())
    claims: dict[str, Any] = {"iss": f"https://cognito-idp.eu-west-2.amazonaws.com/{pool}", "aud": client_id,
                              "token_use": "id", "sub": "u-forged", "iat": now, "exp": now + 600,
                              "custom:organisation": "walsall-council", "cognito:groups": ["practitioners"]}
    claims.update(changes)
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, moto_signing_key())


@pytest.mark.parametrize("changes", [
    {"aud": ["CLIENT"]}, {"nbf": int(time.time()) + 3600}, {"exp": "later"}, {"sub": ["a", "b"]},
], ids=["aud-list", "nbf-future", "exp-text", "sub-list"])
def test_malformed_tokens_get_401(local_stack: LocalStackProcess, changes: dict[str, Any]) -> None:
    if changes.get("aud") == ["CLIENT"]:
        changes = {"aud": [local_stack.config["userPoolClientId"]]}
    response = requests.get(f"{local_stack.url}/api/declaration-options",
                            headers={"Authorization": _forged(local_stack, **changes)}, timeout=30)
    assert response.status_code == 401, response.text


def test_an_oversized_query_string_gets_414(local_stack: LocalStackProcess) -> None:
    response = requests.get(f"{local_stack.url}/api/audit?user=" + "x" * 70_000, timeout=30)
    assert response.status_code == 414, response.text


@pytest.mark.parametrize("method, path", [
    ("GET", "/"), ("GET", "/index.html"), ("GET", "/js/app.js"), ("GET", "/dist/mast.css"), ("GET", "/config.json"),
    ("GET", "/api/health"), ("GET", "/api/declaration-options"), ("GET", "/nowhere.html"), ("POST", "/cognito/"),
    ("TRACE", "/"),
])
def test_every_answer_carries_the_security_headers(local_stack: LocalStackProcess, method: str, path: str) -> None:
    response = requests.request(method, f"{local_stack.url}{path}", timeout=30,
                                data=b"{}" if method == "POST" else None)
    headers = response.headers
    csp = headers.get("Content-Security-Policy", "")
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp, (path, csp)
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert headers.get("X-Frame-Options") == "DENY"
    assert headers.get("X-Content-Type-Options") == "nosniff"
    assert headers.get("Referrer-Policy") == "no-referrer"
    assert headers.get("Strict-Transport-Security", "").startswith("max-age=")


SEARCH = {"declaration": {"gateway": "ca1989-s47", "purpose": "outage check"},
          "query": {"given_name": "William", "family_name": "Hargreaves", "dob": {"year": 1984}}}


@pytest.mark.parametrize("table, groups, method, path, body", [
    ("ControlTable", ("practitioners",), "GET", "/coverage", None),
    ("ControlTable", ("org-admins",), "GET", "/access-requests", None),
    ("ControlTable", ("practitioners",), "POST", "/search", SEARCH),
    ("IndexTable", ("practitioners",), "POST", "/search", SEARCH),
    ("IndexTable", ("data-stewards",), "POST", "/link-decisions",
     {"decision": "same", "record_ids": ["wm-police:A-1", "wm-fire:B-2"], "reason": "outage check"}),
    ("AuditTable", ("auditors",), "GET", "/audit", None),
    ("AuditTable", ("org-admins",), "GET", "/users", None),
    ("AuditTable", ("practitioners",), "POST", "/search", SEARCH),
], ids=["control-coverage", "control-access-requests", "control-search", "index-search", "index-link-decision",
        "audit-read", "audit-users", "audit-search"])
def test_an_unavailable_table_gives_503_with_a_message(local_stack: LocalStackProcess, table: str,
                                                       groups: tuple[str, ...], method: str, path: str,
                                                       body: dict[str, Any] | None) -> None:
    from tests.e2e.test_search_api import api, token_of

    token = token_of(local_stack, groups)
    with local_stack.unavailable(table):
        response = api(local_stack, method, path, token, json=body)
    assert response.status_code == 503, (table, path, response.status_code, response.text)
    assert set(response.json()) == {"message"} and len(response.json()["message"].split()) > 5
