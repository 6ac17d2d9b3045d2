"""A Lambda handler that tests put in place of a function in a copy of the template, to see the
local stack hold a function to its limits (timeout, memory, /tmp, no /dev/shm, concurrency).

What it does is said by the event: an SQS message body or the API's query string,
``{"action": "sleep", "seconds": 5, "log": "/path"}``; each invocation appends ``start <id>`` (and
``end <id>`` if it finishes) to the ``log`` file, so a test sees what ran and what was stopped.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any


def _note(log: str | None, line: str) -> None:
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")


def _shm() -> dict[str, str]:
    """Try each multiprocessing primitive; what happened to each."""
    import multiprocessing
    from multiprocessing import shared_memory

    outcome: dict[str, str] = {}
    trials = {
        "Pool": lambda: multiprocessing.Pool(2).terminate(),
        "Queue": lambda: multiprocessing.Queue(),
        "Lock": lambda: multiprocessing.Lock(),
        "SharedMemory": lambda: shared_memory.SharedMemory(create=True, size=1024).unlink(),
    }
    for name, trial in trials.items():
        try:
            trial()
            outcome[name] = "works"
        except OSError as error:
            outcome[name] = f"OSError {error.errno}"
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=_child, args=(child,))
    process.start()
    outcome["Process+Pipe"] = parent.recv()
    process.join()
    return outcome


def _child(conn: Any) -> None:
    conn.send("works")


def _act(request: dict[str, Any], invocation: str) -> dict[str, Any]:
    log = request.get("log")
    _note(log, f"start {invocation} {time.time():.3f} pid {os.getpid()}")
    action = request.get("action", "")
    result: dict[str, Any] = {"action": action}
    if action == "sleep":
        time.sleep(float(request.get("seconds", 1)))
    elif action == "allocate":
        hold = bytearray(int(request["mb"]) * 1024 * 1024)
        for i in range(0, len(hold), 4096):  # touch every page: resident, not just reserved
            hold[i] = 1
        time.sleep(float(request.get("seconds", 2)))
        result["held_mb"] = len(hold) // (1024 * 1024)
    elif action == "write":  # a file of ``mb`` MB in the function's /tmp, kept (as a cache would be)
        with tempfile.NamedTemporaryFile(delete=False, prefix="probe-") as handle:
            block = b"\1" * (1024 * 1024)
            for _ in range(int(request["mb"])):
                handle.write(block)
        time.sleep(float(request.get("seconds", 2)))
        result.update(written_mb=int(request["mb"]), tmpdir=tempfile.gettempdir())
    elif action == "shm":
        result["shm"] = _shm()
    _note(log, f"end {invocation} {time.time():.3f}")
    return result


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if "Records" in event:
        for record in event["Records"]:
            _act(json.loads(record["body"]), record["messageId"])
        return {}
    query = event.get("queryStringParameters") or {}
    result = _act(dict(query), context.aws_request_id)
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(result)}
