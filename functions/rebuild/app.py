"""Rebuild function: one step of the sharded batch link, a task of the rebuild state machine.

``RebuildStateMachine`` (template.yaml) invokes it once for ``prepare``, ``cluster`` and ``finish``
and once per shard for ``score`` and ``refine`` (distributed Maps); the work is
:func:`mast.index.rebuild.run_step`. Each step reads and writes files under the rebuild's S3 prefix
and returns only their keys and counts.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from mast.index.rebuild import run_step  # pyarrow and linkage: on first use

    result = run_step(event)
    logger.info("rebuild step done", extra={"step": event.get("step"), "seconds": result.get("seconds"),
                                            "peak_mb": result.get("peak_mb")})
    return result
