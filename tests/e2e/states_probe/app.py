"""A Lambda handler that tests run as a state machine's task, to see the local stack run the
template's state machines through the stack's own functions (and Step Functions' payload quota).

The event says what to do: ``{"n": 3}`` answers ``{"n": 6}``; ``{"fail_first": "/path", "n": 1}``
fails the first time it sees that path (it writes the file), so a retry then succeeds;
``{"big": 300000}`` answers a result that many bytes long.
"""

from __future__ import annotations

import os
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    marker = event.get("fail_first")
    if marker and not os.path.exists(marker):
        with open(marker, "w", encoding="utf-8") as handle:
            handle.write("failed once\n")
        raise RuntimeError("the first attempt fails")
    if "big" in event:
        return {"data": "x" * int(event["big"])}
    return {"n": int(event.get("n", 0)) * 2, "pid": os.getpid()}
