"""The local API Gateway: routes from the template's REST API body, Cognito tokens checked as AWS does.

For a route with the Cognito authorizer, the ``Authorization`` header must hold an ID token that
moto's user pool signed: RS256 signature against the pool's JWKS, ``iss`` the pool, ``aud`` one of
the pool's app clients (one string), not expired, not used before its ``nbf``, ``token_use`` =
``id``. Anything else, a malformed token included, is 401 and the handler never runs, as with API
Gateway. The handler then gets a complete REST (v1) proxy event whose
claims are strings (``cognito:groups`` comma-joined), as API Gateway delivers them.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import requests
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from infra.local.functions import FunctionThrottled

logger = logging.getLogger(__name__)

#: API Gateway's integration timeout for a REST API (seconds): past it the caller gets 504
INTEGRATION_TIMEOUT = 29.0


@dataclass(frozen=True)
class Route:
    """One method on one resource path, the function behind it, and the pool that guards it."""

    method: str
    resource: str  # e.g. /people/{id}
    function: str
    user_pool_arn: str | None  # None: no authorizer
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class ApiResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def routes_from_swagger(body: Mapping[str, Any]) -> list[Route]:
    """Every (method, path) of a SAM-generated swagger body, with its function and authorizer."""
    authorizers = {
        name: definition["x-amazon-apigateway-authorizer"]["providerARNs"][0]
        for name, definition in (body.get("securityDefinitions") or {}).items()
        if definition.get("x-amazon-apigateway-authorizer", {}).get("type") == "cognito_user_pools"
    }
    routes = []
    for resource, methods in body.get("paths", {}).items():
        for method, operation in methods.items():
            uri = operation["x-amazon-apigateway-integration"]["uri"]
            function = re.search(r"function:([^/:]+)", uri)
            if not function:
                raise ValueError(f"cannot find the function behind {method.upper()} {resource}")
            security = [name for entry in operation.get("security", []) for name in entry]
            pool = next((authorizers[name] for name in security if name in authorizers), None)
            regex = "^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(resource)) + "$"
            routes.append(Route(method.upper(), resource, function.group(1), pool, re.compile(regex)))
    return routes


@dataclass
class Throttle:
    """One of the stage's method settings that limits requests, as API Gateway applies it: a token
    bucket of ``burst`` requests, refilled at ``rate`` a second, shared by every caller."""

    resource: str  # "/access-requests", or "*" for every resource
    method: str  # "POST", or "*"
    rate: float
    burst: int
    #: seconds, rising (a test steps its own)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    _tokens: float = field(init=False)
    _updated: float = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._tokens = float(self.burst)
        self._updated = self.clock()

    def covers(self, route: Route) -> bool:
        return self.resource in ("*", route.resource) and self.method in ("*", route.method)

    def take(self) -> bool:
        """Whether one more request may go through now."""
        with self._lock:
            now = self.clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
            self._updated = now
            if self._tokens < 1:
                return False
            self._tokens -= 1
            return True


def throttles_from_method_settings(settings: list[Mapping[str, Any]]) -> list[Throttle]:
    """The stage's ``MethodSettings`` that set a limit, most specific first (API Gateway applies the
    setting of the method itself over the stage-wide ``/*``). A ``ResourcePath`` escapes the
    resource's slashes as ``~1`` after a leading ``/``: ``/~1access-requests`` is ``/access-requests``."""
    throttles = []
    for setting in settings:
        if "ThrottlingRateLimit" not in setting and "ThrottlingBurstLimit" not in setting:
            continue
        path = str(setting.get("ResourcePath", "/*"))
        resource = "*" if path == "/*" else path[1:].replace("~1", "/").replace("~0", "~")
        rate = float(setting.get("ThrottlingRateLimit", 10_000))
        throttles.append(Throttle(resource, str(setting.get("HttpMethod", "*")).upper(), rate,
                                  int(setting.get("ThrottlingBurstLimit", max(1, int(rate))))))
    return sorted(throttles, key=lambda t: (t.resource == "*", t.method == "*"))


class TokenVerifier:
    """Checks Cognito ID tokens against the pool's published keys, exactly as API Gateway would."""

    def __init__(self, *, region: str, aws_endpoint: str, pool_clients: Mapping[str, set[str]]) -> None:
        self.region = region
        self.aws_endpoint = aws_endpoint.rstrip("/")
        self.pool_clients = pool_clients  # pool id -> app client ids
        self._keys: dict[str, KeySet] = {}
        self._lock = threading.Lock()

    def _key_set(self, pool_id: str) -> KeySet:
        with self._lock:
            if pool_id not in self._keys:
                # moto serves the JWKS at /<pool>/.well-known/jwks.json; the credential scope in the
                # Authorization header only tells moto's dispatcher that this is cognito-idp.
                response = requests.get(
                    f"{self.aws_endpoint}/{pool_id}/.well-known/jwks.json",
                    headers={"Authorization": cognito_scope_header(self.region)},
                    timeout=10,
                )
                response.raise_for_status()
                self._keys[pool_id] = KeySet.import_key_set(response.json())
            return self._keys[pool_id]

    def verify(self, authorization: str | None, pool_arn: str) -> dict[str, Any]:
        """The token's claims, or :class:`Unauthorized` saying why not (kept out of the response).

        Fails closed: a token whose claims are not of the shape Cognito writes (``aud`` a list, a
        time that is not a number, claims that are not an object) is refused like a forged one,
        never an error that leaves the request unanswered."""
        if not authorization:
            raise Unauthorized("no Authorization header")
        token = authorization.removeprefix("Bearer ").strip()
        pool_id = pool_arn.rsplit("/", 1)[1]
        try:
            decoded = jwt.decode(token, self._key_set(pool_id), algorithms=["RS256"])
            claims = decoded.claims
        except (JoseError, ValueError, TypeError, KeyError, UnicodeError) as error:
            raise Unauthorized(f"bad token: {type(error).__name__}") from None
        if not isinstance(claims, dict):
            raise Unauthorized("claims are not an object")
        issuer = f"https://cognito-idp.{self.region}.amazonaws.com/{pool_id}"
        if claims.get("iss") != issuer:
            raise Unauthorized("token issued by another pool")
        if claims.get("token_use") != "id":
            raise Unauthorized("not an ID token")
        audience = claims.get("aud")
        if not isinstance(audience, str) or audience not in self.pool_clients.get(pool_id, set()):
            raise Unauthorized("token for another client")
        now = time.time()
        if not _is_time(claims.get("exp")) or claims["exp"] <= now:
            raise Unauthorized("token expired")
        for name in ("nbf", "iat"):  # not valid before it was made (a minute's leeway for clocks)
            if name in claims and (not _is_time(claims[name]) or claims[name] > now + CLOCK_LEEWAY):
                raise Unauthorized(f"token not valid yet ({name})")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise Unauthorized("token names no subject")
        return claims


#: Seconds a token's ``nbf``/``iat`` may be ahead of this clock.
CLOCK_LEEWAY = 60


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class Unauthorized(Exception):
    """The request has no valid ID token (HTTP 401, as API Gateway answers it)."""


def cognito_scope_header(region: str) -> str:
    """An Authorization header whose only job is to route an unsigned call to moto's cognito-idp."""
    return (
        f"AWS4-HMAC-SHA256 Credential=local/20260101/{region}/cognito-idp/aws4_request, "
        "SignedHeaders=host, Signature=local"
    )


def _string_claims(claims: Mapping[str, Any]) -> dict[str, str]:
    """Claims as REST API Gateway passes them to Lambda: every value a string, lists comma-joined."""
    out = {}
    for key, value in claims.items():
        if isinstance(value, list):
            out[key] = ",".join(str(v) for v in value)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


class LocalApi:
    """Matches a request to a route, authorises it, builds the event and calls the function."""

    def __init__(
        self,
        routes: list[Route],
        verifier: TokenVerifier,
        invoke: Callable[[str, dict[str, Any]], Any],
        *,
        stage: str,
        account: str,
        api_id: str,
        throttles: list[Throttle] | None = None,
        integration_timeout: float = INTEGRATION_TIMEOUT,
    ) -> None:
        self.routes = routes
        self.throttles = throttles or []
        self.verifier = verifier
        self.invoke = invoke
        self.stage = stage
        self.account = account
        self.api_id = api_id
        self.integration_timeout = integration_timeout
        #: one thread per request in flight (the web server's own thread waits on it, at most 29 s)
        self._calls = concurrent.futures.ThreadPoolExecutor(max_workers=64, thread_name_prefix="api-call")

    def handle(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, source_ip: str
    ) -> ApiResponse:
        """``path`` is the path below the stage, e.g. ``/people/p-1``."""
        matched = [r for r in self.routes if r.pattern.match(path)]
        if not matched:
            return _json(404, {"message": "Missing Authentication Token"})  # what API Gateway says
        route = next((r for r in matched if r.method == method), None)
        if route is None:
            return _json(403 if method != "OPTIONS" else 404, {"message": "Missing Authentication Token"})
        throttle = next((t for t in self.throttles if t.covers(route)), None)
        if throttle is not None and not throttle.take():
            return _json(429, {"message": "Too Many Requests"})  # before the authorizer, as API Gateway
        authorizer: dict[str, Any] | None = None
        if route.user_pool_arn:
            lowered = {k.lower(): v for k, v in headers.items()}
            try:
                claims = self.verifier.verify(lowered.get("authorization"), route.user_pool_arn)
            except Unauthorized as error:
                logger.info("401 from the local authorizer", extra={"reason": str(error)})
                return _json(401, {"message": "Unauthorized"})
            except Exception:  # the authorizer fails closed, whatever the token held
                logger.exception("the local authorizer failed on a token")
                return _json(401, {"message": "Unauthorized"})
            authorizer = {"claims": _string_claims(claims)}
        event = self._event(route, method, path, query, headers, body, source_ip, authorizer)
        call = self._calls.submit(self.invoke, route.function, event)
        try:
            result = call.result(timeout=self.integration_timeout)
        except concurrent.futures.TimeoutError:
            # API Gateway stops waiting at 29 s; the function runs on to its own Timeout
            logger.warning("integration timed out", extra={"function": route.function})
            return _json(504, {"message": "Endpoint request timed out"})
        except FunctionThrottled:  # Lambda's 429 reaches the caller as API Gateway's 500
            return _json(500, {"message": "Internal server error"})
        except Exception:  # what API Gateway answers when the integration fails
            logger.exception("handler raised", extra={"function": route.function})
            return _json(502, {"message": "Internal server error"})
        return _from_proxy_result(result)

    def _event(
        self,
        route: Route,
        method: str,
        path: str,
        query: str,
        headers: Mapping[str, str],
        body: bytes,
        source_ip: str,
        authorizer: dict[str, Any] | None,
    ) -> dict[str, Any]:
        match = route.pattern.match(path)
        assert match
        names = re.findall(r"\{([^}]+)\}", route.resource)
        path_parameters = dict(zip(names, match.groups(), strict=True)) or None
        parsed = parse_qs(query, keep_blank_values=True)
        single = {k: v[-1] for k, v in parsed.items()} or None
        multi = {k: v for k, v in parsed.items()} or None
        multi_headers = {k: [v] for k, v in headers.items()}
        try:
            text, is_base64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, is_base64 = base64.b64encode(body).decode("ascii"), True
        now = time.time()
        request_id = str(uuid.uuid4())
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": method,
            "headers": dict(headers),
            "multiValueHeaders": multi_headers,
            "queryStringParameters": single,
            "multiValueQueryStringParameters": multi,
            "pathParameters": path_parameters,
            "stageVariables": None,
            "requestContext": {
                "accountId": self.account,
                "apiId": self.api_id,
                "authorizer": authorizer,
                "domainName": headers.get("Host", "localhost"),
                "domainPrefix": "localhost",
                "extendedRequestId": request_id,
                "httpMethod": method,
                "identity": {"sourceIp": source_ip, "userAgent": headers.get("User-Agent", "")},
                "path": f"/{self.stage}{path}",
                "protocol": "HTTP/1.1",
                "requestId": request_id,
                "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
                "requestTimeEpoch": int(now * 1000),
                "resourceId": "local",
                "resourcePath": route.resource,
                "stage": self.stage,
            },
            "body": text if body else None,
            "isBase64Encoded": is_base64,
        }


def _json(status: int, body: Mapping[str, Any]) -> ApiResponse:
    return ApiResponse(status, {"Content-Type": "application/json"}, json.dumps(body).encode())


def _from_proxy_result(result: Any) -> ApiResponse:
    if not isinstance(result, Mapping) or "statusCode" not in result:
        return _json(502, {"message": "Internal server error"})
    headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
    for key, values in (result.get("multiValueHeaders") or {}).items():
        headers[key] = ", ".join(str(v) for v in values)
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode("utf-8")
    return ApiResponse(int(result["statusCode"]), headers, data)
