"""Match function: link each ingested feed into people and addresses, and write the index.

Triggered by the FIFO "feed ingested" queue (one message group: index writes are serial).
The linkage itself is :mod:`mast.linkage`; this handler is wired in the linkage issue (#4).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    raise NotImplementedError("linking ingested feeds into the index arrives with issue #4")
