"""User administration and the audit on the running local stack (`mast local --demo`).

Real parts only: the local API verifies Cognito tokens from moto, the handlers run as Lambda would
run them, invitations land in the local outbox, the audit stream reaches the audit bucket, and the
saved Athena queries run in DuckDB over what the export wrote.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import requests

from infra.local.demo import totp_code
from tests.conftest import LocalStackProcess
from tests.e2e.test_local_stack import sign_in

NEW_PASSWORD = "Chosen-Passw0rd-2026!"


def api(stack: LocalStackProcess, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": token} if token else {}
    return requests.request(method, f"{stack.url}/api{path}", headers=headers, timeout=30, **kwargs)


def token_of(stack: LocalStackProcess, email: str, password: str) -> str:
    return str(sign_in(stack, email, password)["IdToken"])


def invitation_password(stack: LocalStackProcess, email: str) -> str:
    """The temporary password from the invitation in the local outbox (waits for the mail)."""
    outbox = stack.state_dir / "outbox"
    deadline = time.time() + 20
    while time.time() < deadline:
        for path in sorted(outbox.glob(f"*-{email.replace('@', '_at_')}.txt")):
            match = re.search(r"temporary password (\S+?);", path.read_text())
            if match:
                return match.group(1)
        time.sleep(0.2)
    raise AssertionError(f"no invitation for {email} in {outbox}")


def first_sign_in(stack: LocalStackProcess, email: str, temporary: str) -> dict[str, Any]:
    """As a new user's browser does: temporary password → new password → TOTP set-up → tokens."""
    client_id = stack.config["userPoolClientId"]
    first = stack.cognito("InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
                                           "AuthParameters": {"USERNAME": email, "PASSWORD": temporary}}).json()
    assert first["ChallengeName"] == "NEW_PASSWORD_REQUIRED", first
    second = stack.cognito("RespondToAuthChallenge", {
        "ClientId": client_id, "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": first["Session"],
        "ChallengeResponses": {"USERNAME": email, "NEW_PASSWORD": NEW_PASSWORD}}).json()
    assert second["ChallengeName"] == "MFA_SETUP", second  # the pool requires TOTP: no tokens yet
    associated = stack.cognito("AssociateSoftwareToken", {"Session": second["Session"]}).json()
    assert associated["SecretCode"]
    verified = stack.cognito("VerifySoftwareToken", {"Session": associated["Session"], "UserCode": totp_code()}).json()
    assert verified["Status"] == "SUCCESS", verified
    done = stack.cognito("RespondToAuthChallenge", {
        "ClientId": client_id, "ChallengeName": "MFA_SETUP", "Session": verified["Session"],
        "ChallengeResponses": {"USERNAME": email}}).json()
    return dict(done["AuthenticationResult"])


def test_admin_manages_users_and_auditor_reads_the_audit(local_stack: LocalStackProcess, tmp_path: Path) -> None:
    stack = local_stack
    admin = token_of(stack, "admin@walsall.example", "Demo-OrgAdmin-2026!")
    police_admin = token_of(stack, "admin@wmp.example", "Demo-PoliceAdmin-2026!")
    practitioner = token_of(stack, "practitioner@walsall.example", "Demo-Practitioner-2026!")

    # lists: their own organisation only
    listed = api(stack, "GET", "/users", admin)
    assert listed.status_code == 200, listed.text
    emails = {u["email"] for u in listed.json()["users"]}
    assert "practitioner@walsall.example" in emails and "police.practitioner@wmp.example" not in emails
    assert api(stack, "GET", "/users", practitioner).status_code == 403
    assert api(stack, "GET", "/users").status_code == 401

    # adds (the invitation lands in the outbox), edits, disables, enables
    added = api(stack, "POST", "/users", admin, json={"email": "e2e.worker@walsall.example", "name": "E2E Worker",
                                                       "group": "practitioners"})
    assert added.status_code == 201, added.text
    worker = added.json()
    assert worker["status"] == "FORCE_CHANGE_PASSWORD"
    invitation_password(stack, "e2e.worker@walsall.example")
    edited = api(stack, "PATCH", f"/users/{worker['id']}", admin, json={"name": "E2E Worker Renamed"})
    assert edited.status_code == 200 and edited.json()["name"] == "E2E Worker Renamed"
    disabled = api(stack, "POST", f"/users/{worker['id']}/disable", admin)
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert api(stack, "POST", f"/users/{worker['id']}/enable", admin).json()["enabled"] is True

    # cannot touch a West Midlands Police user
    police_users = api(stack, "GET", "/users", police_admin).json()["users"]
    constable = next(u for u in police_users if u["email"] == "police.practitioner@wmp.example")
    for method, path in [("PATCH", f"/users/{constable['id']}"), ("POST", f"/users/{constable['id']}/disable")]:
        refused = api(stack, method, path, admin, json={"name": "Hijacked"})
        assert refused.status_code == 403, refused.text
    assert next(u for u in api(stack, "GET", "/users", police_admin).json()["users"]
                if u["id"] == constable["id"])["enabled"] is True

    # an access request, with no sign-in, flows to approval; the invitation lands in the outbox
    email = "new.starter@walsall.example"
    submitted = api(stack, "POST", "/access-requests", json={
        "name": "New Starter", "email": email, "organisation": "walsall-council", "role": "practitioner",
        "reason": "Joining the MASH team"})
    assert submitted.status_code == 202, submitted.text
    bad = api(stack, "POST", "/access-requests", json={"name": "X", "email": "x@y.example", "organisation": "acme",
                                                        "role": "auditor", "reason": "r"})
    assert bad.status_code == 400 and {e["field"] for e in bad.json()["errors"]} == {"organisation", "role"}
    assert api(stack, "GET", "/access-requests", police_admin).json()["requests"] == []
    pending = api(stack, "GET", "/access-requests", admin, params={"status": "pending"}).json()["requests"]
    assert [r["email"] for r in pending] == [email]
    assert api(stack, "POST", f"/access-requests/{pending[0]['id']}/approve", police_admin).status_code == 404
    approved = api(stack, "POST", f"/access-requests/{pending[0]['id']}/approve", admin)
    assert approved.status_code == 200, approved.text
    assert approved.json()["user"]["groups"] == ["practitioners"]

    # the new user's first sign-in: new password, then TOTP set-up; then signs in as anyone does
    tokens = first_sign_in(stack, email, invitation_password(stack, email))
    assert tokens["IdToken"]
    starter = token_of(stack, email, NEW_PASSWORD)
    assert api(stack, "GET", "/declaration-options", starter).status_code == 200
    assert api(stack, "GET", "/audit", starter).status_code == 403

    # the operator grants data-stewards (never through the API); the org-admin can no longer change them
    env = {**os.environ, "AWS_ENDPOINT_URL": f"https://127.0.0.1:{stack.aws_port}",
           "AWS_CA_BUNDLE": str(stack.state_dir / "tls" / "aws-local.pem"), "AWS_ACCESS_KEY_ID": "local",
           "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": "eu-west-2",
           "USER_POOL_ID": stack.config["userPoolId"], "AUDIT_TABLE": audit_table(stack)}
    mast = str(Path(sys.executable).parent / "mast")
    granted = subprocess.run([mast, "users", "grant", email, "data-stewards"], env=env, capture_output=True, text=True)
    assert granted.returncode == 0, granted.stderr
    assert "data-stewards" in granted.stdout
    assert api(stack, "POST", f"/users/{approved.json()['user']['id']}/disable", admin).status_code == 403

    # the auditor reads the audit: every organisation, the admin actions among them
    auditor = token_of(stack, "auditor@mast.example", "Demo-Auditor-2026!")
    read = api(stack, "GET", "/audit", auditor, params={"period": "day", "user": "admin@walsall.example"})
    assert read.status_code == 200, read.text
    actions = [e["action"] for e in read.json()["events"]]
    for action in ("user-list", "user-add", "user-edit", "user-disable", "user-enable", "access-approve"):
        assert action in actions
    assert all(e["username"] == "admin@walsall.example" for e in read.json()["events"])
    # org-admins see their own organisation only
    police_view = api(stack, "GET", "/audit", police_admin, params={"period": "day"}).json()["events"]
    assert police_view and {e["organisation"] for e in police_view} == {"wm-police"}

    # the audit stream reaches the audit bucket, and the saved queries run over it
    bucket = audit_bucket(stack)
    s3 = stack.client("s3")
    deadline = time.time() + 60
    while time.time() < deadline and not s3.list_objects_v2(Bucket=bucket, Prefix="audit/").get("KeyCount"):
        time.sleep(1)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="audit/").get("Contents", [])]
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert any(k.startswith(f"audit/event_date={today}/") and k.endswith(".parquet") for k in keys), keys
    ran = subprocess.run([mast, "audit", "query", "searches-per-user-per-day", "--param", f"from_date={today}",
                          "--param", f"to_date={today}", "--from-stack", "--bucket", bucket],
                         env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[0] == "event_date,organisation,username,searches"


def audit_table(stack: LocalStackProcess) -> str:
    names = stack.client("dynamodb").list_tables()["TableNames"]
    return next(n for n in names if n.endswith("-audit"))


def audit_bucket(stack: LocalStackProcess) -> str:
    names = [b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]]
    return next(n for n in names if "-audit-" in n)


def test_mast_audit_query_from_the_local_stack_needs_nothing_set_by_hand(local_stack: LocalStackProcess) -> None:
    """`mast audit query NAME --from-stack` finds the running local stack from its state folder and port
    (as given to `mast local`): no bucket name, endpoint, CA bundle or credentials set by hand."""
    stack = local_stack
    bucket = audit_bucket(stack)
    s3 = stack.client("s3")
    deadline = time.time() + 60
    while time.time() < deadline and not s3.list_objects_v2(Bucket=bucket, Prefix="audit/").get("KeyCount"):
        time.sleep(1)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AUDIT_", "REQUESTS_CA"))}
    today = dt.datetime.now(dt.UTC).date().isoformat()
    mast = str(Path(sys.executable).parent / "mast")
    ran = subprocess.run([mast, "audit", "query", "searches-per-user-per-day", "--param", f"from_date={today}",
                          "--param", f"to_date={today}", "--from-stack", "--aws-port", str(stack.aws_port),
                          "--state-dir", str(stack.state_dir)], env=env, capture_output=True, text=True)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[0] == "event_date,organisation,username,searches"
    missing = subprocess.run([mast, "audit", "query", "searches-per-user-per-day", "--param", f"from_date={today}",
                              "--param", f"to_date={today}", "--from-stack", "--state-dir", str(stack.state_dir / "x")],
                             env=env, capture_output=True, text=True)
    assert missing.returncode == 2 and "no local stack state" in missing.stderr
