"""Users function: organisation administrators manage their users and access requests.

Wired in the API issue (#5).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raise NotImplementedError("user administration arrives with issue #5")
