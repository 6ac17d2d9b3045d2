"""Search function: health, declaration options (and, with the API issue, search and people).

Thin by rule: parse the event, call ``mast``, shape the reply. Must not import pandas or pyarrow:
its cold start is a practitioner waiting.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from mast.api.caller import Caller
from mast.api.http import make_resolver
from mast.declarations import legal_gateways

logger = Logger()
app = make_resolver(logger)


@app.get("/health")
def health() -> dict[str, str]:
    """Unauthenticated liveness: says nothing about data."""
    return {"status": "ok"}


@app.get("/declaration-options")
def declaration_options() -> dict[str, Any]:
    """The legal gateways a practitioner can declare before searching."""
    caller = Caller.from_event(app.current_event.raw_event)
    caller.require("practitioners", "data-stewards")
    return {"gateways": [g.model_dump() for g in legal_gateways()]}


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
