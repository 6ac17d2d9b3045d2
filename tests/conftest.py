"""Shared fixtures. The local stack fixture runs the README's own command, `mast local --demo`."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def load_function_app(function: str, module_name: str | None = None) -> Any:
    """A function's handler module (``functions/<function>/app.py``) loaded fresh, as Lambda loads it:
    its module-level clients and environment reads happen now, under the caller's moto."""
    import importlib.util

    name = module_name or f"{function}_app_under_test"
    spec = importlib.util.spec_from_file_location(name, ROOT / "functions" / function / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


#: What a program run "as on Lambda" does first: no /dev/shm, so multiprocessing's semaphores and
#: shared memory fail (Process and Pipe still work); it stops if they still work, for then the test
#: it serves would prove nothing.
WITHOUT_DEV_SHM = """
import sys
from infra.local.lambda_worker import remove_dev_shm

remove_dev_shm()
import multiprocessing
try:
    multiprocessing.Lock()
except OSError:
    pass
else:
    sys.exit("semaphores still work: the test would prove nothing")
"""


def run_without_dev_shm(program: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``program`` (Python source) in a fresh interpreter without /dev/shm, as Lambda runs code."""
    return subprocess.run([sys.executable, "-c", WITHOUT_DEV_SHM + program, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def recording_moto() -> tuple[Any, list[bytes]]:
    """A WSGI stand-in for moto that answers every request ``{}`` and keeps each body, for testing
    the local stack's middlewares (faults, the index's IAM check) by what reaches moto."""
    from werkzeug.wrappers import Request, Response

    seen: list[bytes] = []

    @Request.application  # type: ignore[arg-type]
    def moto(request: Request) -> Response:
        seen.append(request.get_data())
        return Response("{}", content_type="application/x-amz-json-1.0")

    return moto, seen


@contextlib.contextmanager
def stack_in_this_process(options: Any) -> Iterator[Any]:
    """The local stack started in this process with ``options`` (an ``infra.local.stack.LocalOptions``),
    stopped after; the environment it sets is put back even when it fails to start."""
    from infra.local import stack

    saved = dict(os.environ)
    try:
        running = stack.start(options, announce=lambda _: None)
        try:
            yield running
        finally:
            running.stop()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range. A port the kernel picks (binding port 0)
    is from that range, where this machine's outgoing connections take theirs: between the pick and
    the server's bind (seconds, while a stack provisions) a connection could take it, and the server
    failed "Address already in use" (once in a CI run)."""
    with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as ranges:
        ephemeral_low = int(ranges.read().split()[0])
    for _ in range(200):
        port = random.randint(10_000, ephemeral_low - 1)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


@dataclass
class LocalStackProcess:
    """A running `mast local --demo` and how to reach each of its parts."""

    process: subprocess.Popen[str]
    url: str
    sftp_port: int
    aws_port: int
    state_dir: Path
    output: list[str]

    @property
    def config(self) -> dict[str, Any]:
        return requests.get(f"{self.url}/config.json", timeout=10).json()

    def client(self, service: str) -> Any:
        return boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name="eu-west-2"
        ).client(service, endpoint_url=f"https://127.0.0.1:{self.aws_port}",
                 verify=str(self.state_dir / "tls" / "aws-local.pem"))

    def audit_events(self, action: str) -> list[dict[str, Any]]:
        """Every audit event of one action, read straight from the stack's audit table (plain values)."""
        from mast.audit.event import deserialise

        ddb = self.client("dynamodb")
        table = next(t for t in ddb.list_tables()["TableNames"] if t.endswith("-audit"))
        found: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": table, "FilterExpression": "#a = :a",
                                  "ExpressionAttributeNames": {"#a": "action"},
                                  "ExpressionAttributeValues": {":a": {"S": action}}}
        while True:
            page = ddb.scan(**kwargs)
            found.extend(deserialise(item) for item in page["Items"])
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def fault(self, *options: str) -> str:
        """Run `mast local fault OPTIONS` against this stack, as a developer would; its output."""
        mast = Path(sys.executable).parent / "mast"
        result = subprocess.run([str(mast), "local", "fault", *options, "--aws-port", str(self.aws_port),
                                 "--state-dir", str(self.state_dir)], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    @contextmanager
    def unavailable(self, *tables: str) -> Iterator[None]:
        """The tables are unavailable (DynamoDB answers ResourceNotFound) inside the block only."""
        assert "unavailable: " in self.fault("--unavailable", *tables)
        try:
            yield
        finally:
            assert self.fault("--clear").strip() == "nothing is made unavailable"

    def cognito(self, target: str, payload: dict[str, Any]) -> requests.Response:
        """Call Cognito as the browser does: unsigned JSON to the configured endpoint."""
        return requests.post(
            self.config["cognitoEndpoint"],
            data=json.dumps(payload),
            headers={"Content-Type": "application/x-amz-json-1.1",
                     "X-Amz-Target": f"AWSCognitoIdentityProviderService.{target}"},
            timeout=30,
        )


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackProcess]:
    """`mast local --demo` as a user runs it, on free ports, in a throwaway state folder."""
    state_dir = tmp_path_factory.mktemp("local-stack")
    port, sftp_port, aws_port = free_port(), free_port(), free_port()
    mast = Path(sys.executable).parent / "mast"
    command = [str(mast), "local", "--demo", "--port", str(port), "--sftp-port", str(sftp_port),
               "--aws-port", str(aws_port), "--state-dir", str(state_dir)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert process.stdout
        for line in process.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    # start, seed the demo users and send three days of extracts through SFTP, ingest and link them
    deadline = time.time() + 900
    url = None
    while time.time() < deadline and url is None:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if line.startswith("MAST is ready: "):
            url = line.removeprefix("MAST is ready: ").strip().rstrip("/")
    if url is None:
        process.kill()
        pytest.fail("mast local --demo did not become ready:\n" + "".join(output[-60:]))
    yield LocalStackProcess(process, url, sftp_port, aws_port, state_dir, output)
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
