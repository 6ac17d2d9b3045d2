"""The local stack's edge, held to what AWS does: the authorizer refuses every malformed token with
401 (never an unanswered request), checks ``nbf``; the web server answers an oversized request line
with 414 and serves the template's security headers on every answer."""

from __future__ import annotations

import gzip
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import moto.cognitoidp
import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from infra.local.api import LocalApi, Route, TokenVerifier, Unauthorized
from infra.local.template import Resolver, load_template
from infra.local.web import LocalWebServer, security_headers

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-2"
POOL = "eu-west-2_local"
CLIENT = "client-1"
POOL_ARN = f"arn:aws:cognito-idp:{REGION}:123456789012:userpool/{POOL}"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
#: moto signs every pool's tokens with the key it ships; the local authorizer trusts its public half
_RESOURCES = Path(moto.cognitoidp.__file__).parent / "resources"
PRIVATE = RSAKey.import_key(json.loads(gzip.open(_RESOURCES / "jwks-private.json.gz").read()))
PUBLIC = KeySet.import_key_set(json.loads(gzip.open(_RESOURCES / "jwks-public.json.gz").read()))


def _verifier() -> TokenVerifier:
    verifier = TokenVerifier(region=REGION, aws_endpoint="https://127.0.0.1:1", pool_clients={POOL: {CLIENT}})
    verifier._keys[POOL] = PUBLIC  # what it would fetch from moto's JWKS
    return verifier


def _token(**changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {"iss": ISSUER, "aud": CLIENT, "token_use": "id", "sub": "u-1", "iat": now,
                              "exp": now + 600, "custom:organisation": "walsall-council"}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, PRIVATE)


def test_a_well_formed_token_is_accepted() -> None:
    assert _verifier().verify(_token(), POOL_ARN)["sub"] == "u-1"


@pytest.mark.parametrize("changes", [
    {"aud": [CLIENT]},  # a list: crashed the authorizer (unhashable), leaving the request unanswered
    {"aud": [CLIENT, "other"]},
    {"aud": {"client": CLIENT}},
    {"nbf": int(time.time()) + 3600},  # not valid for an hour: was accepted
    {"nbf": "soon"},
    {"iat": int(time.time()) + 3600},
    {"exp": "tomorrow"},
    {"exp": True},
    {"sub": None},
    {"sub": ["u-1"]},
    {"token_use": ["id"]},
    {"iss": [ISSUER]},
], ids=lambda c: ",".join(f"{k}={v!r}"[:30] for k, v in c.items()))
def test_malformed_tokens_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        _verifier().verify(_token(**changes), POOL_ARN)


@pytest.mark.parametrize("authorization", [
    "Bearer", "Bearer a.b", "Bearer a.b.c", "Bearer ....", "Bearer \u00e9t\u00e9.x.y", "x" * 5000,
])
def test_garbage_is_refused(authorization: str) -> None:
    with pytest.raises(Unauthorized):
        _verifier().verify(authorization, POOL_ARN)


def _api(invoked: list[Any]) -> LocalApi:
    import re

    route = Route("GET", "/things", "fn", POOL_ARN, re.compile("^/things$"))
    def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
        invoked.append(event)
        return {"statusCode": 200, "body": "{}"}

    return LocalApi([route], _verifier(), invoke, stage="api", account="123456789012", api_id="local")


@pytest.mark.parametrize("changes", [{"aud": [CLIENT]}, {"nbf": int(time.time()) + 3600}])
def test_the_local_api_answers_401_to_a_malformed_token_and_never_runs_the_handler(changes: dict[str, Any]) -> None:
    invoked: list[Any] = []
    response = _api(invoked).handle("GET", "/things", "", {"Authorization": _token(**changes)}, b"", "127.0.0.1")
    assert response.status == 401 and not invoked
    good = _api(invoked).handle("GET", "/things", "", {"Authorization": _token()}, b"", "127.0.0.1")
    assert good.status == 200 and len(invoked) == 1


# --- the local web server (CloudFront's part) ------------------------------------------------------


def _template_headers() -> dict[str, str]:
    """The response-headers policy of template.yaml, resolved as the local stack resolves it."""
    resources = load_template(ROOT / "template.yaml")["Resources"]
    resolver = Resolver(parameters={"AWS::Region": REGION, "EnvironmentName": "test"})
    policy = resources["WebSecurityHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    return security_headers(resolver.resolve(policy))


def test_the_template_policy_sets_a_strict_csp_and_frame_protection() -> None:
    headers = _template_headers()
    csp = {d.split()[0]: d.split()[1:] for d in headers["Content-Security-Policy"].split("; ")}
    assert csp["default-src"] == ["'none'"] and csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'"]
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'none'"]
    assert not any("unsafe" in v for values in csp.values() for v in values)
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Strict-Transport-Security"].startswith("max-age=63072000")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def web(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "index.html").write_text("<!DOCTYPE html><title>t</title>")
    port = _free_port()
    server = LocalWebServer(host="127.0.0.1", port=port, web_root=tmp_path, api=_api([]), config={"local": True},
                            aws_endpoint="https://127.0.0.1:1", region=REGION, headers=_template_headers())
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_an_oversized_query_string_gets_414_not_a_dropped_connection(web: str) -> None:
    response = requests.get(f"{web}/api/things?q=" + "a" * 70_000, timeout=10)
    assert response.status_code == 414
    assert "longer than" in response.json()["message"]
    assert requests.get(f"{web}/", timeout=10).status_code == 200  # the server still answers


@pytest.mark.parametrize("path", ["/", "/index.html", "/config.json", "/missing.js", "/api/things", "/api/nowhere"])
def test_every_answer_carries_the_policy_headers(web: str, path: str) -> None:
    response = requests.get(f"{web}{path}", timeout=10)
    for name, value in _template_headers().items():
        assert response.headers.get(name) == value, (path, name)


def test_the_demo_totp_secret_is_the_one_moto_checks_codes_against() -> None:
    """The README and `mast local totp` give the demo users' secret; moto uses one secret for every
    user. moto 5.2.6 changed it, and every demo sign-in then failed (CodeMismatch at seeding): a moto
    other than the pinned one fails here first, by name."""
    from moto.cognitoidp.models import COGNITO_TOTP_MFA_SECRET

    from infra.local.demo import DEMO_TOTP_SECRET

    assert DEMO_TOTP_SECRET == COGNITO_TOTP_MFA_SECRET.upper()
