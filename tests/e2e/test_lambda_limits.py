"""The local stack holds each function to its limits from the template, as Lambda does.

A copy of ``template.yaml`` puts a probe handler (``tests/e2e/lambda_probe``) in place of the match
function (Timeout 2 s, its FIFO queue's VisibilityTimeout 3 s, maxReceiveCount 3 as in the template)
and of the search function (MemorySize 256, ReservedConcurrentExecutions 3), and the stack is
started from the copy in this process. What is tested is the local stack (runner and pollers), so
the functions' own work is the probe's: sleep, allocate, try multiprocessing's primitives.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from infra.local import stack
from infra.local.template import load_template
from tests.conftest import free_port, stack_in_this_process
from tools.bench.lambda_match import MatchWatch

ROOT = Path(__file__).resolve().parents[2]


def limited_template(folder: Path) -> Path:
    """A copy of the template with the probe in place of the match and search functions."""
    template = load_template(ROOT / "template.yaml")
    resources = template["Resources"]
    match = resources["MatchFunction"]["Properties"]
    match.update(CodeUri="tests/e2e/lambda_probe/", Timeout=2, MemorySize=256)
    match.pop("Layers", None)
    resources["MatchQueue"]["Properties"]["VisibilityTimeout"] = 3
    search = resources["SearchFunction"]["Properties"]
    search.update(CodeUri="tests/e2e/lambda_probe/", MemorySize=256, ReservedConcurrentExecutions=3, Timeout=10)
    path = folder / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[stack.RunningStack]:
    folder = tmp_path_factory.mktemp("limited")
    options = stack.LocalOptions(port=free_port(), sftp_port=free_port(), aws_port=free_port(), state_dir=folder,
                                 template=limited_template(folder), function_log_level="WARNING")
    with stack_in_this_process(options) as running:
        yield running


def _url(running: stack.RunningStack, name: str) -> str:
    sqs = running.client("sqs")
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def _health(running: stack.RunningStack, **query: Any) -> requests.Response:
    return requests.get(f"{running.options.url}/api/health", params=query, timeout=60)


def test_a_run_past_its_timeout_is_stopped_received_again_then_dead_lettered(
        limited: stack.RunningStack, tmp_path: Path) -> None:
    sqs = limited.client("sqs")
    queue = _url(limited, "mast-local-match.fifo")
    dlq = _url(limited, "mast-local-match-dlq.fifo")
    log = tmp_path / "runs.log"
    body = json.dumps({"action": "sleep", "seconds": 6, "log": str(log)})
    sent = sqs.send_message(QueueUrl=queue, MessageBody=body, MessageGroupId="index")["MessageId"]
    dead: list[dict[str, Any]] = []
    deadline = time.time() + 60
    while time.time() < deadline and not dead:
        dead = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1, AttributeNames=["All"]).get("Messages", [])
    assert dead, "the message never reached the dead-letter queue"
    assert dead[0]["MessageId"] == sent and dead[0]["Body"] == body
    sqs.change_message_visibility(QueueUrl=dlq, ReceiptHandle=dead[0]["ReceiptHandle"], VisibilityTimeout=0)
    lines = log.read_text().splitlines()
    starts = [float(line.split()[2]) for line in lines if line.startswith(f"start {sent}")]
    assert len(starts) == 3, lines  # received maxReceiveCount (3) times, then dead-lettered
    assert not any(line.startswith(f"end {sent}") for line in lines), "a run went on past its 2 s Timeout"
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    # each receive waited out the queue's 3 s VisibilityTimeout (not retried at once)
    assert all(gap >= 2.9 for gap in gaps), gaps
    # what a caller waiting on the match function sees of it, and says when it gives up
    match = limited.runner.name_of("MatchFunction")
    calls = limited.runner.invocations(match)
    assert calls.errors.get("Sandbox.Timedout", 0) >= 3 and not calls.running_since
    assert calls.last_error == "Sandbox.Timedout: Task timed out after 2.00 seconds"
    said: list[str] = []
    outcome = MatchWatch.of(limited, match).wait(30, said.append)
    assert outcome.startswith("gave up: 1 message(s) dead-lettered") and "Task timed out" in outcome, outcome
    assert said and "dead-lettered: 1" in said[-1] and "Sandbox.Timedout" in said[-1], said


def test_several_invocations_of_one_function_run_at_once_up_to_its_reserved_concurrency(
        limited: stack.RunningStack) -> None:
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: _health(limited, action="sleep", seconds=0.1).status_code, range(3)))  # warm
        started = time.perf_counter()
        statuses = list(pool.map(lambda _: _health(limited, action="sleep", seconds=2).status_code, range(3)))
        took = time.perf_counter() - started
        assert statuses == [200, 200, 200]
        assert took < 4.0, f"three 2 s invocations took {took:.1f} s: they did not run at once"
        # a fourth at once is past ReservedConcurrentExecutions (3): throttled, API Gateway's 500
        statuses = list(pool.map(lambda i: (time.sleep(0.5 * (i == 3)),
                                            _health(limited, action="sleep", seconds=2).status_code)[1], range(4)))
    assert sorted(statuses) == [200, 200, 200, 500]


def test_memory_past_memory_size_stops_the_run(limited: stack.RunningStack) -> None:
    over = _health(limited, action="allocate", mb=400)  # MemorySize 256
    assert over.status_code == 502
    under = _health(limited, action="allocate", mb=64, seconds=0.5)
    assert under.status_code == 200 and under.json()["held_mb"] == 64


def test_tmp_past_ephemeral_storage_stops_the_run_as_a_full_disk(limited: stack.RunningStack) -> None:
    runner = limited.runner
    name = runner.name_of("SearchFunction")
    assert runner.specs[name].ephemeral_mb == 512  # the template sets none: Lambda's default
    under = _health(limited, action="write", mb=64, seconds=0.5)
    assert under.status_code == 200, under.text
    # the environment's own directory, not the machine's /tmp
    tmpdir = Path(under.json()["tmpdir"])
    assert tmpdir.parent == runner.scratch and tmpdir.is_dir()
    over = _health(limited, action="write", mb=600)  # EphemeralStorage 512
    assert over.status_code == 502
    calls = runner.invocations(name)
    assert calls.errors.get("OSError", 0) >= 1
    assert "No space left on device" in calls.last_error and "512 MB" in calls.last_error
    assert runner.peak_disk_mb[name] > 512
    # the stopped environment's /tmp went with it
    assert not any(p.name.startswith("probe-") and p.stat().st_size > 512 * 1024 * 1024
                   for p in runner.scratch.rglob("probe-*"))


def test_no_dev_shm_as_on_lambda_but_process_and_pipe_work(limited: stack.RunningStack) -> None:
    reply = _health(limited, action="shm")
    assert reply.status_code == 200, reply.text
    assert reply.json()["shm"] == {"Pool": "OSError 38", "Queue": "OSError 38", "Lock": "OSError 38",
                                   "SharedMemory": "OSError 38", "Process+Pipe": "works"}


def _mast(running: stack.RunningStack, *args: str) -> subprocess.CompletedProcess[str]:
    mast = Path(sys.executable).parent / "mast"
    return subprocess.run([str(mast), "dlq", *args, "--local", "--aws-port", str(running.options.aws_port),
                           "--state-dir", str(running.options.state_dir)],
                          capture_output=True, text=True, timeout=120)


def test_an_operator_lists_shows_and_redrives_a_dead_lettered_message(limited: stack.RunningStack,
                                                                       tmp_path: Path) -> None:
    from mast.deadletters import FailedMessage, note_failure

    sqs = limited.client("sqs")
    dlq = _url(limited, "mast-local-match-dlq.fifo")
    log = tmp_path / "runs.log"
    body = json.dumps({"action": "sleep", "seconds": 0, "log": str(log)})
    sent = sqs.send_message(QueueUrl=dlq, MessageBody=body, MessageGroupId="index",
                            MessageDeduplicationId="dlq-test")["MessageId"]
    note_failure(limited.client("dynamodb"), limited.environment["CONTROL_TABLE"], "mast-local-match.fifo",
                 FailedMessage(sent, "ClientError ValidationException: Item size has exceeded the maximum"), 3)
    listed = _mast(limited, "list")
    assert listed.returncode == 1, listed.stderr  # something waits for the operator
    assert sent in listed.stdout and "Item size has exceeded" in listed.stdout
    shown = _mast(limited, "show", sent)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["body"] == json.loads(body)
    redriven = _mast(limited, "redrive", sent)
    assert redriven.returncode == 0, redriven.stderr
    deadline = time.time() + 30
    while time.time() < deadline and not (log.exists() and "end " in log.read_text()):
        time.sleep(0.5)
    assert "end " in log.read_text()  # back on the match queue, and run
    assert sent not in _mast(limited, "list").stdout
