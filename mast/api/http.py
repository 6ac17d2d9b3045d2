"""The HTTP edge every API handler shares: its resolver, its one body reader, its error mapping.

Every function builds its resolver here so that a denied caller is 403, a missing identity 401, a
bad body a 400 that says what is wrong, a refusal from the domain (:class:`mast.schema.Refused`) its
own status, and an unavailable store a 503 with a message, the same way on every route; and so
that nothing logs a request body (DESIGN.md: logs never hold personal data).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import re
from collections.abc import Mapping
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ValidationError

from mast.access.caller import AccessDenied, Caller, Group, NotSignedIn
from mast.api.models import MAX_BODY_BYTES
from mast.audit import AuditStore, AuditUnavailable
from mast.index import IndexUnavailable, KeySaltUnavailable
from mast.schema import Refused

#: What a caller is told when their action could not be audited, so nothing was done or shown.
AUDIT_UNAVAILABLE_MESSAGE = (
    "the action could not be recorded in the audit, so it was not done and no results are shown; try again shortly"
)
INDEX_UNAVAILABLE_MESSAGE = "the index cannot be read (or nothing has been linked yet); try again shortly"
SALT_UNAVAILABLE_MESSAGE = "search is not available: its configuration cannot be read"
#: What a caller is told when a store MAST reads or writes (a table, the user directory) does not answer.
STORE_UNAVAILABLE_MESSAGE = (
    "MAST cannot reach the data it needs just now, so nothing was done and nothing is shown; try again shortly"
)
#: AWS error codes that mean "not available now" (a table missing or being restored, throttling, an
#: outage), as opposed to a refusal of this request: 503 with a message, never a bare 502.
UNAVAILABLE_CODES = frozenset({
    "ResourceNotFoundException", "ResourceInUseException", "ProvisionedThroughputExceededException",
    "RequestLimitExceeded", "ThrottlingException", "TooManyRequestsException", "InternalServerError",
    "InternalErrorException", "ServiceUnavailable", "ServiceUnavailableException", "LimitExceededException",
})

Body = TypeVar("Body", bound=BaseModel)


def json_response(status: int, body: Any) -> Response:
    """A JSON reply (dates and other values pydantic did not already make text are made text)."""
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps(body, default=str))


def _error(status: int, message: str, details: list[dict[str, str]] | None = None) -> Response:
    body: dict[str, object] = {"message": message}
    if details:
        body["errors"] = details
    return json_response(status, body)


def validation_details(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as ``{field, message}`` pairs, without echoing the input values back."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
        for e in error.errors(include_url=False, include_input=False)
    ]


def read_body(app: APIGatewayRestResolver, model: type[Body]) -> Body:
    """The request's JSON body as ``model``, the one way every handler reads a body.

    413 past :data:`MAX_BODY_BYTES` (counted after base64 decoding), 400 when it is not JSON or not
    valid (the fields at fault named, the values not echoed). An absent body reads as ``{}``, so a
    model with nothing required (a confirmation) needs none and any other says what is missing.
    """
    event = app.current_event
    raw = event.body
    if raw is None or not raw.strip():
        data = b"{}"
    elif event.is_base64_encoded:
        try:
            data = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise Refused("the body is not valid base64") from None
    else:
        data = raw.encode("utf-8", "surrogatepass")
    if len(data) > MAX_BODY_BYTES:
        raise Refused(f"the body is too large: at most {MAX_BODY_BYTES // 1024} KB", 413)
    return model.model_validate_json(data)  # ValidationError: 400 with the fields at fault


def caller_in(app: APIGatewayRestResolver, *groups: Group) -> Caller:
    """The signed-in caller, who must be in one of ``groups`` (401 or 403 otherwise)."""
    caller = Caller.from_event(app.current_event.raw_event)
    caller.require(*groups)
    return caller


class _RefusalAuditingResolver(APIGatewayRestResolver):
    """A resolver that writes an audit event for every refusal (4xx, but 401: no one to name) of
    the routes it is told hold people's data, whatever refused it: a probe of what exists (a record
    id, a person, a search) is on the record like a search. If that event cannot be written the
    answer is 503: nothing is answered unaudited."""

    def __init__(self, audited: frozenset[tuple[str, str]], logger: Logger) -> None:
        super().__init__(strip_prefixes=["/api"])
        self.audited = audited
        self.logger = logger
        # a route is known by its resource ("/users/{id}") on API Gateway, and by its path
        # ("/api/users/u-1") wherever the resource is not given as a template: both are matched
        self._patterns = [(method, resource, re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(resource)) + "$"))
                          for method, resource in audited]

    def audited_route(self, event: Mapping[str, Any]) -> tuple[str, str] | None:
        """The audited (method, resource) ``event`` asks for, if any."""
        method, resource = str(event.get("httpMethod", "")), str(event.get("resource", ""))
        if (method, resource) in self.audited:
            return method, resource
        path = str(event.get("path", "")).removeprefix("/api")
        return next(((m, r) for m, r, pattern in self._patterns if m == method and pattern.match(path)), None)

    def resolve(self, event: Mapping[str, Any], context: Any) -> dict[str, Any]:
        result = super().resolve(event, context)
        status = int(result.get("statusCode") or 0)
        route = self.audited_route(event) if 400 <= status < 500 and status != 401 else None
        if route is not None:
            try:
                _audit_refusal(event, route, status, result)
            except AuditUnavailable:
                self.logger.error("a refusal could not be audited", extra={"route": route[1]})
                return {"statusCode": 503, "headers": {"Content-Type": content_types.APPLICATION_JSON},
                        "body": json.dumps({"message": AUDIT_UNAVAILABLE_MESSAGE}), "isBase64Encoded": False}
        return result


def _audit_refusal(event: Mapping[str, Any], route: tuple[str, str], status: int, result: Mapping[str, Any]) -> None:
    context = event.get("requestContext") or {}
    claims = (context.get("authorizer") or {}).get("claims") or {}
    try:
        message = str(json.loads(result.get("body") or "{}").get("message", ""))[:300]
    except (ValueError, AttributeError):
        message = ""
    fields: dict[str, Any] = {
        "action": "refused", "target": f"{route[0]} {route[1]}",
        "detail": json.dumps({"status": status, "path": str(event.get("path", ""))[:300], "message": message}),
    }
    try:
        audited = Caller.from_claims(claims).audit_event(context.get("requestId"), **fields)
    except (NotSignedIn, AccessDenied):  # signed in, but with no organisation: named as far as it goes
        from mast.audit import AuditEvent, new_event_id  # noqa: PLC0415 - the rare path

        sub = str(claims.get("sub") or "unknown")
        audited = AuditEvent(event_id=new_event_id(), event_time=dt.datetime.now(dt.UTC), user_sub=sub,
                             username=str(claims.get("cognito:username") or sub),
                             organisation=str(claims.get("custom:organisation") or ""),
                             request_id=context.get("requestId"), **fields)
    AuditStore(os.environ.get("AUDIT_TABLE", "")).write(audited)


def make_resolver(logger: Logger, audited_refusals: frozenset[tuple[str, str]] = frozenset()) -> APIGatewayRestResolver:
    """A REST (v1) resolver with MAST's error mapping; ``audited_refusals`` are the (method,
    resource) routes holding people's data, each refusal of which is audited."""
    app = _RefusalAuditingResolver(audited_refusals, logger)

    @app.exception_handler(NotSignedIn)
    def _not_signed_in(error: NotSignedIn) -> Response:
        return _error(401, str(error) or "sign in first")

    @app.exception_handler(AccessDenied)
    def _denied(error: AccessDenied) -> Response:
        logger.info("access denied", extra={"route": app.current_event.path})
        return _error(403, str(error) or "not allowed")

    @app.exception_handler(ValidationError)
    def _invalid(error: ValidationError) -> Response:
        return _error(400, "the request is not valid", validation_details(error))

    @app.exception_handler(Refused)
    def _refused(error: Refused) -> Response:
        return _error(error.status, str(error))

    @app.exception_handler(AuditUnavailable)
    def _audit_unavailable(_: AuditUnavailable) -> Response:
        logger.error("audit unavailable", extra={"route": app.current_event.path})
        return _error(503, AUDIT_UNAVAILABLE_MESSAGE)

    @app.exception_handler(IndexUnavailable)
    def _index_unavailable(_: IndexUnavailable) -> Response:
        logger.error("index unavailable", extra={"route": app.current_event.path})
        return _error(503, INDEX_UNAVAILABLE_MESSAGE)

    @app.exception_handler(KeySaltUnavailable)
    def _salt_unavailable(_: KeySaltUnavailable) -> Response:
        logger.error("lookup-key salt unavailable")
        return _error(503, SALT_UNAVAILABLE_MESSAGE)

    @app.exception_handler(ClientError)
    def _store_error(error: ClientError) -> Response:
        code = str(error.response.get("Error", {}).get("Code", ""))
        if code not in UNAVAILABLE_CODES:
            raise error  # a refusal this request earned is a fault to see, not an outage to hide
        logger.error("a data store is unavailable", extra={"route": app.current_event.path, "code": code,
                                                           "operation": error.operation_name})
        return _error(503, STORE_UNAVAILABLE_MESSAGE)

    @app.exception_handler(BotoCoreError)
    def _store_unreachable(error: BotoCoreError) -> Response:
        logger.error("a data store is unreachable", extra={"route": app.current_event.path,
                                                           "error": type(error).__name__})
        return _error(503, STORE_UNAVAILABLE_MESSAGE)

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return _error(404, "no such route")

    return app
