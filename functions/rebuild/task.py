"""The rebuild's container task: one step that holds every record, run on Fargate.

Past ``FargateRebuildFrom`` records the steps that hold every record (prepare, cluster, finish and
the export shards) outgrow a Lambda function; ``RebuildStateMachine`` then runs each as a task of
``RebuildTaskDefinition`` (``ecs:runTask.sync``), with this module as the container's command. A task
takes no payload and returns none: the state machine's ``stage`` step wrote the step's input to S3,
and the task's environment names it (``MAST_STEP_INPUT``) and where the output goes
(``MAST_STEP_OUTPUT``), which the ``collect`` step then returns. The work is
:func:`mast.index.rebuild.run_staged`, the very code a Lambda step runs.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from aws_lambda_powertools import Logger

logger = Logger()


def run(environment: dict[str, str]) -> dict[str, Any]:
    """Run the staged step the environment names; its output's counts (it is written to S3)."""
    from mast.index.rebuild import Staged, run_staged  # pyarrow and linkage: on first use

    staged = Staged(input=environment["MAST_STEP_INPUT"], output=environment["MAST_STEP_OUTPUT"])
    result = run_staged(staged)
    logger.info("rebuild task done", extra={"input": staged.input, "seconds": result.get("seconds"),
                                            "peak_mb": result.get("peak_mb")})
    return {"output": staged.output}


def handler(event: dict[str, str], context: Any) -> dict[str, Any]:
    """The local stack's way in: its ECS stand-in runs the task as a function, the container's
    environment overrides as the event."""
    return run(event)


def main() -> int:
    """The container's command: exit 0 once the output is written, 1 (logged) if the step failed."""
    try:
        run(dict(os.environ))
    except Exception:
        logger.exception("rebuild task failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
