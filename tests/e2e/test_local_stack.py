"""The foundation, end to end: `mast local --demo` up, sign-in with a real TOTP code, tokens
checked as API Gateway checks them, and a feed user's upload with OpenSSH's `sftp`."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from infra.local.demo import DEMO_USERS, totp_code
from tests.conftest import LocalStackProcess

pytestmark = pytest.mark.e2e

PRACTITIONER = next(u for u in DEMO_USERS if u.groups == ("practitioners",) and u.organisation == "walsall-council")


def sign_in(stack: LocalStackProcess, email: str, password: str) -> dict[str, Any]:
    """Password, then the TOTP challenge, through the local Cognito endpoint the page uses."""
    client_id = stack.config["userPoolClientId"]
    first = stack.cognito("InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
                                           "AuthParameters": {"USERNAME": email, "PASSWORD": password}})
    assert first.status_code == 200, first.text
    challenge = first.json()
    assert challenge["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    second = stack.cognito("RespondToAuthChallenge", {
        "ClientId": client_id, "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": challenge["Session"],
        "ChallengeResponses": {"USERNAME": email, "SOFTWARE_TOKEN_MFA_CODE": totp_code()},
    })
    assert second.status_code == 200, second.text
    return second.json()["AuthenticationResult"]


def get_options(stack: LocalStackProcess, token: str | None) -> requests.Response:
    headers = {"Authorization": token} if token is not None else {}
    return requests.get(f"{stack.url}/api/declaration-options", headers=headers, timeout=10)


def moto_signing_key() -> RSAKey:
    """moto's own token-signing key: lets a test mint a token the pool itself could have issued."""
    from moto.utilities.utils import load_resource

    return RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))


def test_health_needs_no_token(local_stack: LocalStackProcess) -> None:
    assert requests.get(f"{local_stack.url}/api/health", timeout=10).json() == {"status": "ok"}


def test_config_names_pool_client_and_endpoints(local_stack: LocalStackProcess) -> None:
    config = local_stack.config
    assert config["apiUrl"] == f"{local_stack.url}/api"
    assert config["region"] == "eu-west-2"
    pools = local_stack.client("cognito-idp").list_user_pools(MaxResults=10)["UserPools"]
    assert config["userPoolId"] in {p["Id"] for p in pools}


def test_practitioner_signs_in_with_totp_and_calls_the_api(local_stack: LocalStackProcess) -> None:
    tokens = sign_in(local_stack, PRACTITIONER.email, PRACTITIONER.password)
    response = get_options(local_stack, tokens["IdToken"])
    assert response.status_code == 200, response.text
    gateways = {g["id"] for g in response.json()["gateways"]}
    assert {"ca1989-s47", "care2014-s42", "cda1998-s115", "other"} <= gateways


def answer_mfa(stack: LocalStackProcess, code: str) -> requests.Response:
    """The practitioner's password, then ``code`` as the answer to the TOTP challenge."""
    client_id = stack.config["userPoolClientId"]
    first = stack.cognito("InitiateAuth", {"AuthFlow": "USER_PASSWORD_AUTH", "ClientId": client_id,
                                           "AuthParameters": {"USERNAME": PRACTITIONER.email,
                                                              "PASSWORD": PRACTITIONER.password}}).json()
    return stack.cognito("RespondToAuthChallenge", {
        "ClientId": client_id, "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": first["Session"],
        "ChallengeResponses": {"USERNAME": PRACTITIONER.email, "SOFTWARE_TOKEN_MFA_CODE": code},
    })


def test_wrong_totp_code_is_refused(local_stack: LocalStackProcess) -> None:
    now = time.time()
    near = {totp_code(at=now + step * 30) for step in (-2, -1, 0, 1, 2)}
    wrong = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in near)
    second = answer_mfa(local_stack, wrong)
    assert second.status_code == 400
    assert "CodeMismatch" in second.text


def test_totp_tolerates_one_step_of_clock_skew_and_no_more(local_stack: LocalStackProcess) -> None:
    """As Cognito does (RFC 6238 section 5.2): a code read just before its 30 s step ended still
    signs in; a code three steps old does not (unless it happens to equal a nearer one)."""
    now = time.time()
    assert answer_mfa(local_stack, totp_code(at=now - 30)).status_code == 200
    stale = totp_code(at=now - 90)
    if stale not in {totp_code(at=now + step * 30) for step in (-1, 0, 1, 2)}:
        refused = answer_mfa(local_stack, stale)
        assert refused.status_code == 400 and "CodeMismatch" in refused.text


def test_wrong_password_is_refused(local_stack: LocalStackProcess) -> None:
    response = local_stack.cognito("InitiateAuth", {
        "AuthFlow": "USER_PASSWORD_AUTH", "ClientId": local_stack.config["userPoolClientId"],
        "AuthParameters": {"USERNAME": PRACTITIONER.email, "PASSWORD": "Not-The-Password-1!"}})
    assert response.status_code == 400
    assert "NotAuthorized" in response.text


def test_no_token_is_401(local_stack: LocalStackProcess) -> None:
    assert get_options(local_stack, None).status_code == 401


def test_access_requests_are_throttled_as_the_stage_says(local_stack: LocalStackProcess) -> None:
    """POST /api/access-requests needs no sign-in, so the template's stage limits it to a burst of 5
    and 1 a second: a quick run of requests is cut off with 429 before the handler, and a second
    later one more goes through (these bodies are empty, so nothing is stored: 400 from the handler)."""
    url = f"{local_stack.url}/api/access-requests"
    started = time.monotonic()
    statuses = [requests.post(url, data=b"", timeout=30).status_code for _ in range(10)]
    elapsed = time.monotonic() - started
    assert set(statuses) == {400, 429}, statuses
    assert statuses.count(400) <= 5 + int(elapsed) + 1, (statuses, elapsed)  # the burst, and what refilled
    time.sleep(1.5)
    refilled = requests.post(url, data=b"", timeout=30)
    assert refilled.status_code == 400 and refilled.json()["message"], refilled.text


def test_forged_signature_is_401(local_stack: LocalStackProcess) -> None:
    tokens = sign_in(local_stack, PRACTITIONER.email, PRACTITIONER.password)
    claims = jwt.decode(tokens["IdToken"], moto_signing_key()).claims
    claims["cognito:groups"] = ["practitioners", "org-admins", "auditors"]  # the point of forging
    forger = RSAKey.generate_key(2048, parameters={"kid": "dummy"})
    forged = jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, forger)
    assert get_options(local_stack, forged).status_code == 401
    # and a token whose payload was edited after signing
    header, _payload, signature = tokens["IdToken"].split(".")
    import base64

    edited = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    assert get_options(local_stack, f"{header}.{edited}.{signature}").status_code == 401


def test_expired_token_is_401(local_stack: LocalStackProcess) -> None:
    tokens = sign_in(local_stack, PRACTITIONER.email, PRACTITIONER.password)
    key = moto_signing_key()
    claims = jwt.decode(tokens["IdToken"], key).claims
    assert get_options(local_stack, jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, key)).status_code == 200
    claims["exp"] = int(time.time()) - 60
    claims["iat"] = int(time.time()) - 3660
    expired = jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, key)
    assert get_options(local_stack, expired).status_code == 401


def test_access_token_instead_of_id_token_is_401(local_stack: LocalStackProcess) -> None:
    tokens = sign_in(local_stack, PRACTITIONER.email, PRACTITIONER.password)
    assert get_options(local_stack, tokens["AccessToken"]).status_code == 401


def test_token_from_another_pool_is_401(local_stack: LocalStackProcess) -> None:
    cognito = local_stack.client("cognito-idp")
    pool = cognito.create_user_pool(PoolName="not-mast")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(UserPoolId=pool, ClientName="other",
                                             ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"])["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(UserPoolId=pool, Username="intruder", MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "custom:organisation", "Value": "walsall-council"}])
    cognito.admin_set_user_password(UserPoolId=pool, Username="intruder", Password="Intruder-Pass-2026!", Permanent=True)
    result = cognito.admin_initiate_auth(UserPoolId=pool, ClientId=client, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                         AuthParameters={"USERNAME": "intruder", "PASSWORD": "Intruder-Pass-2026!"})
    assert get_options(local_stack, result["AuthenticationResult"]["IdToken"]).status_code == 401


def test_route_checks_group_in_the_handler(local_stack: LocalStackProcess) -> None:
    admin = next(u for u in DEMO_USERS if u.groups == ("org-admins",))
    tokens = sign_in(local_stack, admin.email, admin.password)
    response = get_options(local_stack, tokens["IdToken"])
    assert response.status_code == 403
    assert "practitioners" in response.json()["message"]


def _sftp(stack: LocalStackProcess, user: str, commands: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sftp", "-b", "-", "-P", str(stack.sftp_port), "-i", str(stack.state_dir / "keys" / user),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "LogLevel=ERROR", f"{user}@127.0.0.1"],
        input=commands, text=True, capture_output=True, timeout=60,
    )


def _landing_keys(s3: Any, bucket: str) -> set[str]:
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys |= {o["Key"] for o in page.get("Contents", [])}
    return keys


def test_feed_user_uploads_with_openssh_sftp_and_is_confined(local_stack: LocalStackProcess, tmp_path: Path) -> None:
    extract = tmp_path / "police-upload-check.csv"
    extract.write_text("incident_ref,surname\nX1,Test\n", encoding="utf-8")
    uploaded = _sftp(local_stack, "wm-police", f"put {extract} police-upload-check.csv\nls\n")
    assert uploaded.returncode == 0, uploaded.stderr
    assert "police-upload-check.csv" in uploaded.stdout

    s3 = local_stack.client("s3")
    landing = next(b["Name"] for b in s3.list_buckets()["Buckets"] if "-landing-" in b["Name"])
    # the completed upload fired ingest: its receipt appears beside it (this file lacks the feed's
    # required columns, so it is quarantined) and the upload itself moves to the raw archive
    receipt_key = "wm-police/wm-police/reports/police-upload-check.csv.report.json"
    deadline = time.time() + 120
    keys: set[str] = set()
    while receipt_key not in keys and time.time() < deadline:
        time.sleep(0.5)
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket=landing).get("Contents", [])}
    assert receipt_key in keys
    assert json.loads(s3.get_object(Bucket=landing, Key=receipt_key)["Body"].read())["status"] == "quarantined"

    # Outside its folder: another feed's folder is unreachable, whatever the path.
    for attempt in ("ls ../../walsall-council/walsall-adults", "cd /../wm-fire", "get /../../wm-fire/wm-fire/any.csv"):
        refused = _sftp(local_stack, "wm-police", attempt + "\n")
        assert refused.returncode != 0, attempt
    others_before = {k for k in _landing_keys(s3, landing) if not k.startswith("wm-police/")}
    _sftp(local_stack, "wm-police", f"put {extract} ../../wm-fire/wm-fire/x.csv\n")  # stays in its own folder
    time.sleep(1)
    others_after = {k for k in _landing_keys(s3, landing) if not k.startswith("wm-police/")}
    assert others_after == others_before  # nothing written in another feed's folder

    # Another feed's key does not open this feed's account.
    wrong_key = subprocess.run(
        ["sftp", "-b", "-", "-P", str(local_stack.sftp_port), "-i", str(local_stack.state_dir / "keys" / "wm-fire"),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "LogLevel=ERROR", "wm-police@127.0.0.1"],
        input="ls\n", text=True, capture_output=True, timeout=60)
    assert wrong_key.returncode != 0


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    import socket
    import sys

    from tests.conftest import free_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        result = subprocess.run(
            [str(Path(sys.executable).parent / "mast"), "local", "--port", str(free_port()), "--sftp-port", str(busy),
             "--aws-port", str(free_port()), "--state-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=120,
        )
    assert result.returncode == 2
    assert f"port {busy}" in result.stderr and "--sftp-port" in result.stderr


def test_invitation_mail_lands_in_the_local_outbox(local_stack: LocalStackProcess) -> None:
    cognito = local_stack.client("cognito-idp")
    pool = local_stack.config["userPoolId"]
    email = "outbox.check@walsall.example"  # a name no other test of the shared stack uses
    cognito.admin_create_user(UserPoolId=pool, Username=email,
                              UserAttributes=[{"Name": "email", "Value": email},
                                              {"Name": "custom:organisation", "Value": "walsall-council"}])
    mails = list((local_stack.state_dir / "outbox").glob("*outbox.check_at_walsall.example.txt"))
    assert len(mails) == 1
    text = mails[0].read_text()
    assert "Subject: Your MAST account" in text and email in text
    assert "{####}" not in text  # the temporary password was filled in
    deadline = time.time() + 10
    while time.time() < deadline and not any(f"mail to {email}" in line for line in local_stack.output):
        time.sleep(0.2)
    assert any(f"mail to {email}" in line for line in local_stack.output)
