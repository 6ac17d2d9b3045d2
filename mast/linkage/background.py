"""Work in a process forked for it while this one goes on: a step of the sharded link (or the
normalisation inside it) keeps a second core busy with what does not depend on the rest.

``os.fork`` and a pipe, not :mod:`multiprocessing`: a step runs in a daemon process locally (which
multiprocessing forbids children), and Lambda has no /dev/shm. The forked process starts with this
one's memory, shared until written, so it reads the table it was forked with without a copy.
"""

from __future__ import annotations

import os
import pickle
import traceback
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class BackgroundFailed(RuntimeError):
    """The background work raised (its traceback is the message) or its process died."""


class Background(Generic[T]):
    """``function()`` in a forked process; :meth:`result` waits for what it returned (pickled through
    the pipe: our own process's values, never outside input) and raises :class:`BackgroundFailed`
    if it raised or died.

    The background process uses no client it inherited (an S3 client's threads stay behind in a
    fork): it computes and returns, and this process writes. It ends with ``os._exit``, so it runs
    none of this process's exit handlers and flushes none of its buffers."""

    def __init__(self, function: Callable[[], T]) -> None:
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the background process
            os.close(read_end)
            code = 0
            try:
                message = pickle.dumps(("ok", function()), protocol=pickle.HIGHEST_PROTOCOL)
            except BaseException:
                message, code = pickle.dumps(("error", traceback.format_exc())), 1
            try:
                with os.fdopen(write_end, "wb") as out:
                    out.write(message)
            finally:
                os._exit(code)
        os.close(write_end)
        self.pid, self.read_end, self.done = pid, read_end, False

    def result(self) -> T:
        self.done = True
        with os.fdopen(self.read_end, "rb") as source:
            raw = source.read()
        _, status = os.waitpid(self.pid, 0)
        try:
            kind, value = pickle.loads(raw)  # noqa: S301 - written by our own forked process
        except Exception:
            kind, value = "error", ""
        if status != 0 or kind != "ok":
            raise BackgroundFailed(value or f"a background process died (wait status {status})")
        return value

    def cancel(self) -> None:
        """Kill it and reap it (the work that needed it failed: nothing may go on behind)."""
        if self.done:
            return
        self.done = True
        try:
            os.kill(self.pid, 9)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.read_end)
