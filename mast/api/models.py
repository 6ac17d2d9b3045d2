"""The bodies every API route shares: errors and health. Each domain's own bodies live with it
(:mod:`mast.search.models`, :mod:`mast.access`, :mod:`mast.audit.view`); the OpenAPI document
(:mod:`mast.api.openapi`) is generated from them all."""

from __future__ import annotations

from typing import Literal

from mast.schema import StrictModel

#: Largest request body the API reads (bytes); more is a 413.
MAX_BODY_BYTES = 16 * 1024


# ------------------------------------------------------------------------------------------ shared
class ErrorField(StrictModel):
    field: str
    message: str


class ErrorResponse(StrictModel):
    """Every 4xx and 5xx the API gives: a message a person can act on."""

    message: str
    errors: list[ErrorField] | None = None


class Health(StrictModel):
    status: Literal["ok"]


