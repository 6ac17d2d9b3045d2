"""The HTTP edge every API handler shares: its resolver, its one body reader, its error mapping.

Every function builds its resolver here so that a denied caller is 403, a missing identity 401, a
bad body a 400 that says what is wrong, a refusal from the domain (:class:`mast.schema.Refused`) its
own status, and an unavailable store a 503 with a message, the same way on every route; and so
that nothing logs a request body (DESIGN.md: logs never hold personal data).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, TypeVar

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from pydantic import BaseModel, ValidationError

from mast.access.caller import AccessDenied, Caller, Group, NotSignedIn
from mast.api.models import MAX_BODY_BYTES
from mast.audit import AuditUnavailable
from mast.index import IndexUnavailable, KeySaltUnavailable
from mast.schema import Refused

#: What a caller is told when their action could not be audited, so nothing was done or shown.
AUDIT_UNAVAILABLE_MESSAGE = (
    "the action could not be recorded in the audit, so it was not done and no results are shown; try again shortly"
)
INDEX_UNAVAILABLE_MESSAGE = "the index cannot be read (or nothing has been linked yet); try again shortly"
SALT_UNAVAILABLE_MESSAGE = "search is not available: its configuration cannot be read"

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


def make_resolver(logger: Logger) -> APIGatewayRestResolver:
    """A REST (v1) resolver with MAST's error mapping."""
    app = APIGatewayRestResolver(strip_prefixes=["/api"])

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

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return _error(404, "no such route")

    return app
