"""One warm Lambda execution environment of the local stack: a spawned Python process.

Started by :class:`infra.local.functions.FunctionRunner` as ``python -m infra.local.lambda_worker FD``
with one end of a socket pair as ``FD``; it receives the function to load, loads it (as Lambda's
init phase), says ``ready`` and then serves invocations one at a time, as one Lambda instance does.
Events and results cross as JSON text, as they do on Lambda (a result that is not JSON fails as
``Runtime.MarshalError``).

Before the handler loads, the primitives Lambda lacks are made to fail as they fail there: Lambda
has no ``/dev/shm``, so POSIX semaphores (every ``multiprocessing`` Lock, Queue and Pool) raise
``OSError: [Errno 38] Function not implemented`` and ``SharedMemory`` cannot be created;
``multiprocessing.Process`` and ``Pipe`` keep working, as on Lambda. The runner outside holds the
rest of the function's limits: its ``Timeout`` and ``MemorySize`` (it stops this process), and how
many run at once.
"""

from __future__ import annotations

import errno
import importlib.util
import json
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, NoReturn


@dataclass
class LambdaContext:
    """The attributes of the Lambda runtime's context object that handlers and Powertools read."""

    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline_ms: int
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, self.deadline_ms - int(time.time() * 1000))


def _no_dev_shm(*_: Any, **__: Any) -> NoReturn:
    raise OSError(errno.ENOSYS, os.strerror(errno.ENOSYS))


class _NoSemLock:
    """``_multiprocessing.SemLock`` where POSIX semaphores cannot be made: creating one raises."""

    SEM_VALUE_MAX = 2**31 - 1

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _no_dev_shm()

    @classmethod
    def _rebuild(cls, *args: Any) -> NoReturn:
        _no_dev_shm()


def remove_dev_shm() -> None:
    """Make semaphores and shared memory fail in this process, as on Lambda (no ``/dev/shm``).

    ``multiprocessing.synchronize`` binds ``_multiprocessing.SemLock`` when first imported and
    ``shared_memory`` calls ``_posixshmem.shm_open`` at each creation: both are replaced here, before
    anything imports them, so every Lock, Semaphore, Queue, Pool and SharedMemory raises ``OSError``.
    """
    import _multiprocessing
    import _posixshmem

    if "multiprocessing.synchronize" in sys.modules:
        raise RuntimeError("multiprocessing.synchronize was imported before /dev/shm was removed")
    _multiprocessing.SemLock = _NoSemLock  # type: ignore[attr-defined, misc]
    _posixshmem.shm_open = _no_dev_shm  # type: ignore[attr-defined]


def _die_with_parent() -> None:
    """End this process when the local stack's process ends (no orphaned handlers).

    Not ``prctl(PR_SET_PDEATHSIG)``: Linux sends that signal when the *thread* that started the
    process ends, and environments are started by whichever thread first needs one (an API request's,
    a state machine's Map worker's), which ends long before the stack: a warm environment was killed
    under the next invocation (``Runtime.ExitError``). The parent process is watched instead.
    """
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _load(path: str, module_name: str, attribute: str) -> Any:
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    assert loader_spec and loader_spec.loader
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    loader_spec.loader.exec_module(module)
    handler = getattr(module, attribute, None)
    if handler is None:
        raise AttributeError(f"{attribute} is not defined in {path}")
    return handler


def _error(error_type: str, message: str, trace: list[str] | None = None) -> tuple[str, dict[str, Any]]:
    return "error", {"errorType": error_type, "errorMessage": message, "stackTrace": trace or []}


def serve(conn: Connection) -> None:
    """Load the function the runner names, then run invocations until the pipe closes."""
    setup = conn.recv()
    os.environ.update(setup["environment"])
    try:
        handler = _load(setup["path"], setup["module"], setup["attribute"])
    except BaseException as error:  # noqa: BLE001 - reported to the runner, which refuses to start
        conn.send(_error("Runtime.ImportModuleError", f"{type(error).__name__}: {error}",
                         traceback.format_exc().splitlines()))
        return
    conn.send(("ready", None))
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        event = json.loads(request["event"])
        context = LambdaContext(**request["context"])
        try:
            result = handler(event, context)
        except Exception as error:
            reply = _error(type(error).__name__, str(error), traceback.format_exc().splitlines())
        else:
            try:
                reply = ("ok", json.dumps(result))
            except (TypeError, ValueError) as error:
                reply = _error("Runtime.MarshalError", f"Unable to marshal response: {error}")
        conn.send(reply)


def main() -> None:
    _die_with_parent()
    remove_dev_shm()
    conn = Connection(int(sys.argv[1]))
    try:
        serve(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    main()
