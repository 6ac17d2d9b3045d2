"""The one place an API handler's resolver is made: error mapping shared by every function.

Every function builds its resolver here so that a denied caller is 403, a missing identity 401, and
a bad body a 400 that says what is wrong, the same way on every route; and so that nothing logs a
request body (DESIGN.md: logs never hold personal data).
"""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response, content_types
from pydantic import ValidationError

from mast.api.caller import AccessDenied, NotSignedIn
from mast.audit import AuditUnavailable

#: What a caller is told when their action could not be audited, so nothing was done or shown.
AUDIT_UNAVAILABLE_MESSAGE = (
    "the action could not be recorded in the audit, so it was not done and no results are shown; try again shortly"
)


def _error(status: int, message: str, details: list[dict[str, str]] | None = None) -> Response:
    body: dict[str, object] = {"message": message}
    if details:
        body["errors"] = details
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def validation_details(error: ValidationError) -> list[dict[str, str]]:
    """Pydantic errors as ``{field, message}`` pairs, without echoing the input values back."""
    return [
        {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
        for e in error.errors(include_url=False, include_input=False)
    ]


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

    @app.exception_handler(AuditUnavailable)
    def _audit_unavailable(_: AuditUnavailable) -> Response:
        logger.error("audit unavailable", extra={"route": app.current_event.path})
        return _error(503, AUDIT_UNAVAILABLE_MESSAGE)

    @app.not_found
    def _not_found(_: Exception) -> Response:
        return _error(404, "no such route")

    return app
