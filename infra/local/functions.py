"""Run the template's Lambda handlers as Lambda runs them: warm worker processes held to their limits.

Each function gets execution environments of its own: spawned Python processes
(:mod:`infra.local.lambda_worker`) that load its handler once and then serve one invocation at a
time. As on Lambda:

* **concurrency**: invocations of one function run at once, each in its own environment, a new one
  started when every warm one is busy, up to the function's ``ReservedConcurrentExecutions`` (or
  :data:`DEFAULT_CONCURRENCY` locally); past that an invocation is throttled
  (:class:`FunctionThrottled`, which API Gateway answers 500);
* **timeout**: a run past the function's ``Timeout`` is stopped (the environment and every process
  it started are killed) and fails ``Task timed out after N seconds``;
* **memory**: a watchdog stops an environment whose memory (the proportional set size of it and
  every process it started, as Lambda's cgroup counts pages once) passes ``MemorySize``; the run fails
  ``Runtime.OutOfMemory``. (Not an address-space limit: numpy's threads reserve far more address
  space than they use, which would fail where Lambda does not.)
* **no /dev/shm**: multiprocessing's semaphores and shared memory raise inside an environment
  (see :mod:`infra.local.lambda_worker`); Process and Pipe work.
* **/tmp**: each environment has a directory of its own as its ``TMPDIR`` (Python's ``tempfile``
  writes there), kept while the environment lives, as Lambda keeps ``/tmp`` between warm
  invocations; the watchdog stops a run whose directory holds more than the function's
  ``EphemeralStorage`` (512 MB unless the template says more), which fails as Lambda's full disk
  does, ``OSError: [Errno 28] No space left on device``. (Looked at every
  :data:`WATCH_INTERVAL`, as memory is: a file written and deleted between two looks escapes it;
  a path written outside ``TMPDIR`` escapes it too, and on Lambda fails, read-only.)

Every function is given the one environment they all agree on (the template's ``Globals``); a
function whose variables disagree with another's stops the local stack, as before.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from infra.local.access import function_access_key
from infra.local.lambda_worker import LambdaContext
from infra.local.provision import FunctionSpec
from infra.local.template import UnsupportedTemplateFeature, local_code_dir

logger = logging.getLogger(__name__)

#: most environments of one function at once when the template reserves no concurrency (Lambda's
#: account default is 1,000; a laptop is not)
DEFAULT_CONCURRENCY = 10
#: how often the memory watchdog looks (seconds)
WATCH_INTERVAL = 0.2
#: how long a new environment may take to load its handler (Lambda's init phase allows 10 s; a
#: shared 2-core machine needs more)
INIT_TIMEOUT = 120.0

#: a synchronous invocation's response may be at most 6 MB (Lambda's payload limit)
RESPONSE_LIMIT = 6_291_556

__all__ = ["FunctionError", "FunctionRunner", "FunctionThrottled", "Invocations", "LambdaContext"]


class FunctionError(RuntimeError):
    """An invocation failed as Lambda reports it: the handler raised, timed out or ran out of memory."""

    def __init__(self, function: str, error_type: str, message: str, trace: list[str] | None = None) -> None:
        super().__init__(f"{function}: {error_type}: {message}")
        self.function = function
        self.error_type = error_type
        self.message = message
        self.trace = trace or []


class FunctionThrottled(FunctionError):
    """Every environment the function may have is busy (Lambda's TooManyRequestsException)."""


@dataclass(eq=False)
class _Environment:
    """One warm execution environment: a worker process and the pipe to it."""

    function: str
    process: subprocess.Popen[bytes]
    conn: Connection
    #: the environment's /tmp (its TMPDIR)
    scratch: Path
    #: set by the watchdog when it stopped this environment for its memory
    killed_for_memory: bool = False
    #: set by the watchdog when it stopped this environment for its /tmp
    killed_for_disk: bool = False
    busy_since: float | None = None
    peak_mb: float = 0.0

    def stop(self) -> None:
        """Kill the worker and everything it started (it leads its own session); its /tmp goes with it."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.conn.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            logger.warning("a local Lambda environment did not stop", extra={"function": self.function})
        shutil.rmtree(self.scratch, ignore_errors=True)


@dataclass
class Invocations:
    """What one function's invocations came to so far (what CloudWatch's Lambda metrics would show:
    invocations, errors by type, duration), so that a caller waiting on a function can say what
    happened instead of waiting in silence. Counts, times and error types only (no event, no result)."""

    started: int = 0
    succeeded: int = 0
    #: failed invocations by error type (``Sandbox.Timedout``, ``Runtime.OutOfMemory``, a handler's exception …)
    errors: dict[str, int] = field(default_factory=dict)
    #: when each invocation still running started (epoch seconds)
    running_since: list[float] = field(default_factory=list)
    #: the last failure, as Lambda reports it (``type: message``), and when it ended
    last_error: str = ""
    last_error_at: float | None = None
    #: the last invocation that ended: its wall seconds and CPU seconds (its environment and every
    #: process the environment started and reaped)
    last_seconds: float = 0.0
    last_cpu_seconds: float = 0.0

    @property
    def failed(self) -> int:
        return sum(self.errors.values())


@dataclass
class _Function:
    spec: FunctionSpec
    limit: int
    idle: list[_Environment] = field(default_factory=list)
    running: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class FunctionRunner:
    """Starts, invokes and stops the template's functions' environments (see the module docstring)."""

    def __init__(self, specs: Mapping[str, FunctionSpec], root: Path, region: str, account: str,
                 default_concurrency: int = DEFAULT_CONCURRENCY) -> None:
        self.specs = dict(specs)
        self.root = root
        self.region = region
        self.account = account
        self._functions = {
            name: _Function(spec, spec.reserved_concurrency if spec.reserved_concurrency is not None
                            else default_concurrency)
            for name, spec in self.specs.items()
        }
        self._busy: set[_Environment] = set()
        self._busy_lock = threading.Lock()
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None
        #: the most memory (PSS, MB) any environment of each function has held while running
        self.peak_mb: dict[str, float] = {}
        #: the most /tmp (MB on disk) any environment of each function has held while running
        self.peak_disk_mb: dict[str, float] = {}
        #: where the environments' /tmp directories go (removed with the runner)
        self.scratch = Path(tempfile.mkdtemp(prefix="mast-lambda-tmp-"))
        self._invocations = {name: Invocations() for name in self.specs}
        self._invocations_lock = threading.Lock()

    def invocations(self, name: str) -> Invocations:
        """A copy of what ``name``'s invocations came to so far (see :class:`Invocations`)."""
        with self._invocations_lock:
            now = self._invocations[name]
            return dataclasses.replace(now, errors=dict(now.errors), running_since=list(now.running_since))

    def shared_environment(self) -> dict[str, str]:
        """The one environment every function agrees on; a clash is refused, naming it."""
        merged: dict[str, str] = {}
        owner: dict[str, str] = {}
        for spec in self.specs.values():
            for key, value in spec.environment.items():
                if key in merged and merged[key] != value:
                    raise UnsupportedTemplateFeature(
                        f"environment variable {key} differs between {owner[key]} and {spec.logical_id}; "
                        "the local stack gives every function one environment, so put it in Globals"
                    )
                merged[key] = value
                owner[key] = spec.logical_id
        return merged

    def load_all(self) -> None:
        """Start one warm environment per function now, so a broken handler stops the stack at start."""
        if self._watchdog is None:
            self._watchdog = threading.Thread(target=self._watch_memory, name="lambda-memory", daemon=True)
            self._watchdog.start()
        started: dict[str, _Environment | BaseException] = {}

        def start(name: str) -> None:
            try:
                started[name] = self._start(name)
            except BaseException as error:  # reported below, naming the function
                started[name] = error

        threads = [threading.Thread(target=start, args=(name,)) for name in self.specs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        failures = [f"{self.specs[n].logical_id}: {e}" for n, e in started.items() if isinstance(e, BaseException)]
        for name, env in started.items():
            if isinstance(env, _Environment):
                function = self._functions[name]
                with function.lock:
                    function.idle.append(env)
        if failures:
            self.stop()
            raise UnsupportedTemplateFeature("; ".join(failures))

    def stop(self) -> None:
        """Stop every environment (idle and running)."""
        self._stopping.set()
        for function in self._functions.values():
            with function.lock:
                idle, function.idle = function.idle, []
            for env in idle:
                env.stop()
        with self._busy_lock:
            busy = list(self._busy)
        for env in busy:
            env.stop()
        shutil.rmtree(self.scratch, ignore_errors=True)

    # ------------------------------------------------------------------ environments
    def _start(self, name: str) -> _Environment:
        spec = self.specs[name]
        module_name, _, attribute = spec.handler.rpartition(".")
        folder = local_code_dir(spec.code, self.root)
        path = folder / (module_name.replace(".", "/") + ".py")
        if not path.is_file():
            raise UnsupportedTemplateFeature(f"{spec.logical_id}: handler file {path} does not exist")
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(self.root), os.environ.get("PYTHONPATH")]))}
        # the function signs with a key of its own: the local stack checks its role on the index (infra.local.access)
        env["AWS_ACCESS_KEY_ID"] = function_access_key(spec.name)
        scratch = Path(tempfile.mkdtemp(prefix=f"{spec.logical_id}-", dir=self.scratch))
        env["TMPDIR"] = str(scratch)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "infra.local.lambda_worker", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], cwd=self.root, env=env, start_new_session=True,
            )
        finally:
            theirs.close()
        conn = Connection(ours.detach())
        environment = _Environment(name, process, conn, scratch)
        # the function's variables, as the stack set them (it may override one, e.g. the log level)
        variables = {key: os.environ.get(key, value) for key, value in spec.environment.items()}
        conn.send({"path": str(path), "module": f"mast_local_fn_{spec.logical_id}", "attribute": attribute,
                   "environment": variables})
        if not conn.poll(INIT_TIMEOUT):
            environment.stop()
            raise UnsupportedTemplateFeature(f"{spec.logical_id}: the handler did not load in {INIT_TIMEOUT:.0f} s")
        try:
            status, value = conn.recv()
        except (EOFError, OSError):
            environment.stop()
            raise UnsupportedTemplateFeature(f"{spec.logical_id}: the environment exited while loading") from None
        if status != "ready":
            environment.stop()
            raise UnsupportedTemplateFeature(f"{spec.logical_id}: {spec.handler} did not load: {value['errorMessage']}")
        return environment

    def _acquire(self, name: str) -> _Environment:
        function = self._functions[name]
        with function.lock:
            if function.running >= function.limit:
                raise FunctionThrottled(name, "TooManyRequestsException", "Rate Exceeded.")
            function.running += 1
            env = function.idle.pop() if function.idle else None
        if env is None or env.process.poll() is not None:
            try:
                env = self._start(name)
            except BaseException:
                with function.lock:
                    function.running -= 1
                raise
        return env

    def _release(self, env: _Environment, healthy: bool) -> None:
        function = self._functions[env.function]
        with function.lock:
            function.running -= 1
            if healthy and not self._stopping.is_set():
                function.idle.append(env)
                return
        env.stop()

    # ------------------------------------------------------------------ invoking
    def invoke(self, name: str, event: Mapping[str, Any]) -> Any:
        """Call a function with ``event`` in one of its environments; :class:`FunctionError` says
        why an invocation failed, as the Lambda service reports it."""
        if name not in self.specs:
            raise KeyError(f"no function {name}")
        spec = self.specs[name]
        env = self._acquire(name)
        started = time.time()
        context = LambdaContext(
            function_name=name,
            memory_limit_in_mb=spec.memory,
            invoked_function_arn=f"arn:aws:lambda:{self.region}:{self.account}:function:{name}",
            aws_request_id=str(uuid.uuid4()),
            deadline_ms=int(started * 1000) + spec.timeout * 1000,
            log_group_name=f"/aws/lambda/{name}",
        )
        healthy = False
        cpu_before = _cpu_seconds(env.process.pid)
        with self._invocations_lock:
            self._invocations[name].started += 1
            self._invocations[name].running_since.append(started)
        error: FunctionError | None = None
        try:
            env.killed_for_memory = env.killed_for_disk = False
            env.busy_since = started
            with self._busy_lock:
                self._busy.add(env)
            try:
                env.conn.send({"event": json.dumps(dict(event)), "context": asdict(context)})
                answered = env.conn.poll(spec.timeout)
                if not answered:
                    raise FunctionError(name, "Sandbox.Timedout", f"Task timed out after {spec.timeout:.2f} seconds")
                status, value = env.conn.recv()
            except (EOFError, OSError, BrokenPipeError):
                if env.killed_for_memory:
                    raise FunctionError(name, "Runtime.OutOfMemory",
                                        f"Runtime exited with error: signal: killed (memory above {spec.memory} MB)") from None
                if env.killed_for_disk:
                    raise FunctionError(name, "OSError", "[Errno 28] No space left on device "
                                        f"(/tmp above its EphemeralStorage, {spec.ephemeral_mb} MB)") from None
                raise FunctionError(name, "Runtime.ExitError", "Runtime exited without providing a reason") from None
            healthy = True
            if status != "ok":
                raise FunctionError(name, value["errorType"], value["errorMessage"], value.get("stackTrace"))
            if len(value.encode()) > RESPONSE_LIMIT:
                raise FunctionError(name, "Function.ResponseSizeTooLarge",
                                    f"Response payload size ({len(value.encode())} bytes) exceeded maximum allowed "
                                    f"payload size ({RESPONSE_LIMIT} bytes).")
            return json.loads(value)
        except FunctionError as failed:
            error = failed
            raise
        finally:
            ended = time.time()
            # the environment and what it started still running (a run stopped at its Timeout
            # leaves its linking workers unreaped); what it reaped is in its own children's times
            alive = _sessions().get(env.process.pid, []) if env.process.poll() is None else []
            cpu = sum(_cpu_seconds(pid) for pid in alive) - cpu_before
            with self._invocations_lock:
                calls = self._invocations[name]
                calls.running_since.remove(started)
                calls.last_seconds, calls.last_cpu_seconds = round(ended - started, 1), round(max(cpu, 0.0), 1)
                if error is None:
                    calls.succeeded += 1
                else:
                    calls.errors[error.error_type] = calls.errors.get(error.error_type, 0) + 1
                    calls.last_error, calls.last_error_at = f"{error.error_type}: {error.message}"[:500], ended
            with self._busy_lock:
                self._busy.discard(env)
            env.busy_since = None
            self._release(env, healthy)

    def name_of(self, logical_id: str) -> str:
        return next(name for name, spec in self.specs.items() if spec.logical_id == logical_id)

    # ------------------------------------------------------------------ memory and /tmp
    def _watch_memory(self) -> None:
        while not self._stopping.wait(WATCH_INTERVAL):
            with self._busy_lock:
                busy = list(self._busy)
            if not busy:
                continue
            sessions = _sessions()
            for env in busy:
                disk = _disk_mb(env.scratch)
                self.peak_disk_mb[env.function] = max(self.peak_disk_mb.get(env.function, 0.0), disk)
                if disk > self.specs[env.function].ephemeral_mb and env.busy_since is not None:
                    logger.warning("a function passed its EphemeralStorage and was stopped",
                                   extra={"function": env.function, "disk_mb": round(disk),
                                          "limit_mb": self.specs[env.function].ephemeral_mb})
                    env.killed_for_disk = True
                    try:
                        os.killpg(env.process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    continue
                limit = self.specs[env.function].memory
                used = sum(_pss_mb(pid) for pid in sessions.get(env.process.pid, [env.process.pid]))
                env.peak_mb = max(env.peak_mb, used)
                self.peak_mb[env.function] = max(self.peak_mb.get(env.function, 0.0), used)
                if used > limit and env.busy_since is not None:
                    logger.warning("a function passed its MemorySize and was stopped",
                                   extra={"function": env.function, "memory_mb": round(used), "limit_mb": limit})
                    env.killed_for_memory = True
                    try:
                        os.killpg(env.process.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass


def _sessions() -> dict[int, list[int]]:
    """Session id -> the processes in it (an environment leads its own session: it and what it forked)."""
    out: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        out.setdefault(int(fields[3]), []).append(int(entry.name))  # field 6 of stat: the session
    return out


def _disk_mb(folder: Path) -> float:
    """MB on disk under ``folder`` (blocks allocated, as a full disk counts them)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:  # removed while looked at
                continue
    return total / (1024 * 1024)


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user and system) of a process and of the children it has reaped (a linking
    worker's time counts once the environment joins it)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    # after the command: state is field 3, so utime/stime/cutime/cstime (14-17) are [11:15]
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _pss_mb(pid: int) -> float:
    """A process's proportional set size in MB (pages it shares counted once across the sharers)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
