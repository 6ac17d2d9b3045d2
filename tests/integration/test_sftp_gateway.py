"""The local Transfer Family stand-in, driven by the real OpenSSH sftp client against moto S3.

What is promised to partners and checked here: a feed user sees only its own folder, `reports/`
is read-only, only a completely written file becomes an object and exactly one upload-completed
event, and only the right key gets in. The PolicyEvaluator the gateway relies on is unit-tested
at the end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import asyncssh
import boto3
import pytest
from moto.server import ThreadedMotoServer

from infra.local.iam import PolicyEvaluator
from infra.local.sftp import SftpGateway, SftpUser, UploadCompleted

SFTP = "/usr/bin/sftp"
HOME = "walsall-council/walsall-adults/"
OTHER_HOME = "walsall-council/walsall-childrens/"

pytestmark = pytest.mark.skipif(
    not os.access(SFTP, os.X_OK), reason="/usr/bin/sftp (openssh-client) is not installed"
)


def feed_policy(bucket: str, home: str) -> PolicyEvaluator:
    """The shape of a feed user's role: its own prefix, with reports/ read-only."""
    return PolicyEvaluator([{
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListOwnFolder", "Effect": "Allow", "Action": "s3:ListBucket",
                "Resource": f"arn:aws:s3:::{bucket}",
                "Condition": {"StringLike": {"s3:prefix": [f"{home}*"]}},
            },
            {
                "Sid": "ReadWriteOwnFolder", "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{bucket}/{home}*",
            },
            {
                "Sid": "ReportsReadOnly", "Effect": "Deny",
                "Action": ["s3:PutObject", "s3:DeleteObject"],
                "Resource": f"arn:aws:s3:::{bucket}/{home}reports/*",
            },
        ],
    }])


ALLOW_EVERYTHING = PolicyEvaluator([{"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}])


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture()
def s3(moto_endpoint: str):
    return boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name="eu-west-2",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


@pytest.fixture()
def bucket(s3) -> str:
    name = f"landing-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    return name


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pathlib.Path]:
    folder = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("adults", "childrens", "stranger"):
        path = folder / name
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(path)], check=True
        )
        out[name] = path
    return out


def public(key: pathlib.Path) -> str:
    return key.with_suffix(".pub").read_text().strip()


@dataclass
class Harness:
    gateway: SftpGateway
    events: list[UploadCompleted]
    bucket: str
    s3: object
    workdir: pathlib.Path

    def sftp(self, commands: list[str], *, user: str = "walsall-adults", key: pathlib.Path,
             extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
        """Run the real OpenSSH client in batch mode (which stops at the first failing command)."""
        batch = self.workdir / f"batch-{uuid.uuid4().hex[:8]}"
        batch.write_text("\n".join(commands) + "\n")
        env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
        return subprocess.run(
            self.command(batch, user=user, key=key, extra=extra),
            cwd=self.workdir, env=env, capture_output=True, text=True, timeout=30,
        )

    def command(self, batch: pathlib.Path, *, user: str, key: pathlib.Path,
                extra: tuple[str, ...] = ()) -> list[str]:
        return [
            SFTP, "-b", str(batch), "-i", str(key), "-P", str(self.gateway.port), "-F", "/dev/null",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
            *extra, f"{user}@127.0.0.1",
        ]

    def keys_in_bucket(self) -> set[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return {obj["Key"] for page in pages for obj in page.get("Contents", [])}

    def body(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()


@pytest.fixture()
def make_harness(s3, bucket: str, keys, tmp_path: pathlib.Path) -> Iterator[Callable[..., Harness]]:
    started: list[SftpGateway] = []

    def make(policy: PolicyEvaluator | None = None,
             on_upload: Callable[[UploadCompleted], None] | None = None) -> Harness:
        events: list[UploadCompleted] = []
        users = [
            SftpUser("walsall-adults", (public(keys["adults"]),), bucket, HOME,
                     policy or feed_policy(bucket, HOME)),
            SftpUser("walsall-childrens", (public(keys["childrens"]),), bucket, OTHER_HOME,
                     feed_policy(bucket, OTHER_HOME)),
        ]
        gateway = SftpGateway(
            users=users, s3_client=s3, on_upload_completed=on_upload or events.append,
            port=0, host_key_path=tmp_path / "host" / "ssh_host_ed25519_key",
        )
        gateway.start()
        started.append(gateway)
        workdir = tmp_path / "work"
        workdir.mkdir(exist_ok=True)
        return Harness(gateway, events, bucket, s3, workdir)

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture()
def harness(make_harness) -> Harness:
    return make_harness()


def wait_for_log(caplog: pytest.LogCaptureFixture, text: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(text in record.getMessage() for record in list(caplog.records)):
            return
        time.sleep(0.02)
    raise AssertionError(f"no log record containing {text!r} within {timeout} s")


# -- uploads -----------------------------------------------------------------------------------


def test_upload_becomes_one_object_and_one_event(harness: Harness, keys) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)  # many pipelined SFTP writes, odd tail
    (harness.workdir / "extract.csv").write_bytes(payload)

    result = harness.sftp(["put extract.csv", "ls -l", "get extract.csv back.csv"], key=keys["adults"])

    assert result.returncode == 0, result.stderr
    assert harness.keys_in_bucket() == {f"{HOME}extract.csv"}
    assert harness.body(f"{HOME}extract.csv") == payload
    assert (harness.workdir / "back.csv").read_bytes() == payload
    assert "extract.csv" in result.stdout

    assert len(harness.events) == 1
    detail = harness.events[0].detail
    head = harness.s3.head_object(Bucket=harness.bucket, Key=f"{HOME}extract.csv")
    assert detail["file-path"] == f"/{harness.bucket}/{HOME}extract.csv"
    assert detail["bytes"] == len(payload)
    assert detail["username"] == "walsall-adults"
    assert detail["status-code"] == "COMPLETED"
    assert detail["protocol"] == "SFTP"
    assert detail["server-id"] == "s-local"
    assert detail["client-ip"] == "127.0.0.1"
    assert detail["etag"] == head["ETag"].strip('"')
    assert detail["session-id"]
    assert detail["start-timestamp"] <= detail["end-timestamp"]
    assert head["Metadata"] == {"user-agent": "AWSTransfer", "user-agent-id": "walsall-adults@s-local"}
    event = harness.events[0].as_event()
    assert event["source"] == "aws.transfer"
    assert event["detail-type"] == "SFTP Server File Upload Completed"


def test_small_and_empty_files_are_stored_exactly(harness: Harness, keys) -> None:
    (harness.workdir / "tiny.csv").write_bytes(b"abc")
    (harness.workdir / "empty.csv").write_bytes(b"")

    result = harness.sftp(["put tiny.csv", "put empty.csv"], key=keys["adults"])

    assert result.returncode == 0, result.stderr
    assert harness.body(f"{HOME}tiny.csv") == b"abc"
    assert harness.body(f"{HOME}empty.csv") == b""
    assert [e.detail["bytes"] for e in harness.events] == [3, 0]


def test_directories_rename_and_remove(harness: Harness, keys) -> None:
    (harness.workdir / "a.csv").write_text("id\n1\n")

    result = harness.sftp(
        ["mkdir inbox", "cd inbox", "put a.csv", "rename a.csv b.csv", "ls -1", "rm b.csv",
         "cd ..", "rmdir inbox", "ls -1"],
        key=keys["adults"],
    )

    assert result.returncode == 0, result.stderr
    assert "b.csv" in result.stdout
    assert harness.keys_in_bucket() == set()
    assert [e.detail["file-path"] for e in harness.events] == [f"/{harness.bucket}/{HOME}inbox/a.csv"]


def test_callback_failure_does_not_break_the_session(make_harness, keys) -> None:
    calls: list[str] = []

    def explode(event: UploadCompleted) -> None:
        calls.append(event.detail["file-path"])
        raise RuntimeError("router down")

    harness = make_harness(on_upload=explode)
    (harness.workdir / "one.csv").write_text("1\n")
    (harness.workdir / "two.csv").write_text("2\n")

    result = harness.sftp(["put one.csv", "put two.csv"], key=keys["adults"])

    assert result.returncode == 0, result.stderr
    assert harness.keys_in_bucket() == {f"{HOME}one.csv", f"{HOME}two.csv"}
    assert len(calls) == 2


def test_killed_client_mid_upload_leaves_nothing(harness: Harness, keys, caplog) -> None:
    caplog.set_level(logging.INFO, logger="infra.local.sftp")
    (harness.workdir / "big.csv").write_bytes(os.urandom(2 * 1024 * 1024))
    batch = harness.workdir / "slow-batch"
    batch.write_text("put big.csv\n")
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    # -l 400 Kbit/s: the upload would take ~40 s, so it is certainly under way when killed.
    proc = subprocess.Popen(
        harness.command(batch, user="walsall-adults", key=keys["adults"], extra=("-l", "400")),
        cwd=harness.workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_log(caplog, "upload of /big.csv opened")
        time.sleep(0.3)  # let some bytes arrive
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # sftp and the ssh it spawned
        proc.wait(timeout=10)

    wait_for_log(caplog, "upload of /big.csv by walsall-adults interrupted")
    assert harness.keys_in_bucket() == set()
    assert harness.events == []


def test_connection_dropped_with_file_open_leaves_nothing(harness: Harness, keys, caplog) -> None:
    caplog.set_level(logging.INFO, logger="infra.local.sftp")

    async def write_then_drop() -> None:
        conn = await asyncssh.connect(
            "127.0.0.1", harness.gateway.port, username="walsall-adults",
            client_keys=[str(keys["adults"])], known_hosts=None, agent_path=None,
        )
        sftp = await conn.start_sftp_client()
        remote = await sftp.open("partial.csv", "wb")
        await remote.write(b"id,name\n" * 10_000)
        conn.abort()  # no close of the file: the session just goes away

    asyncio.run(write_then_drop())

    wait_for_log(caplog, "upload of /partial.csv by walsall-adults interrupted")
    assert harness.keys_in_bucket() == set()
    assert harness.events == []


def test_stopping_the_gateway_discards_open_uploads(harness: Harness, keys, caplog) -> None:
    caplog.set_level(logging.INFO, logger="infra.local.sftp")

    async def write_then_stop() -> float:
        async with asyncssh.connect(
            "127.0.0.1", harness.gateway.port, username="walsall-adults",
            client_keys=[str(keys["adults"])], known_hosts=None, agent_path=None,
        ) as conn:
            sftp = await conn.start_sftp_client()
            remote = await sftp.open("open.csv", "wb")
            await remote.write(b"id\n1\n")
            started = time.monotonic()
            await asyncio.to_thread(harness.gateway.stop)
            return time.monotonic() - started

    assert asyncio.run(write_then_stop()) < 5
    assert any("upload of /open.csv by walsall-adults interrupted" in r.getMessage() for r in caplog.records)
    assert harness.keys_in_bucket() == set()
    assert harness.events == []


# -- confinement -------------------------------------------------------------------------------


def seed(harness: Harness, *keys: str) -> None:
    for key in keys:
        harness.s3.put_object(Bucket=harness.bucket, Key=key, Body=b"not yours\n")


def test_user_cannot_leave_its_folder(make_harness, keys) -> None:
    # A policy that allows everything, so any confinement seen here comes from the path mapping.
    harness = make_harness(policy=ALLOW_EVERYTHING)
    outside = {f"{OTHER_HOME}secret.csv", "walsall-council/other/x", "top.csv"}
    seed(harness, f"{HOME}mine.csv", *outside)

    result = harness.sftp(
        ["cd ..", "pwd", "ls -1", "ls -1 /..", "ls -1 ../../..", "cd /", "ls -1 ."], key=keys["adults"]
    )
    assert result.returncode == 0, result.stderr
    assert "Remote working directory: /\n" in result.stdout
    assert "mine.csv" in result.stdout
    for hidden in ("secret", "walsall-childrens", "walsall-council", "other", "top.csv"):
        assert hidden not in result.stdout

    for command in (
        "cd ../walsall-childrens",
        "cd /../walsall-council",
        "ls ../walsall-childrens",
        "get ../walsall-childrens/secret.csv",
        "get /../walsall-council/other/x",
        "get /../../top.csv",
        "get ../../../top.csv",
        "ln -s /../walsall-council/other/x link",
    ):
        refused = harness.sftp([command], key=keys["adults"])
        assert refused.returncode != 0, f"{command!r} succeeded: {refused.stdout}"
    assert not any((harness.workdir / name).exists() for name in ("secret.csv", "x", "top.csv"))

    # Writing "outside" lands inside: '..' above the root stays at the root.
    (harness.workdir / "evil.csv").write_text("x\n")
    result = harness.sftp(["put evil.csv ../walsall-childrens/evil.csv", "put evil.csv /../../evil.csv"],
                          key=keys["adults"])
    assert result.returncode == 0, result.stderr
    assert harness.keys_in_bucket() - outside == {
        f"{HOME}mine.csv", f"{HOME}walsall-childrens/evil.csv", f"{HOME}evil.csv"
    }
    assert all(e.detail["file-path"].startswith(f"/{harness.bucket}/{HOME}") for e in harness.events)


def test_reports_folder_is_read_only(harness: Harness, keys) -> None:
    report = f"{HOME}reports/extract.report.json"
    seed(harness, report)
    (harness.workdir / "extract.csv").write_text("id\n1\n")

    got = harness.sftp(["get reports/extract.report.json report.json"], key=keys["adults"])
    assert got.returncode == 0, got.stderr
    assert (harness.workdir / "report.json").read_bytes() == b"not yours\n"

    for command in ("put extract.csv reports/extract.csv", "rm reports/extract.report.json",
                    "rename reports/extract.report.json moved.json", "mkdir reports/sub"):
        refused = harness.sftp([command], key=keys["adults"])
        assert refused.returncode != 0, f"{command!r} succeeded"
        assert "Permission denied" in refused.stderr, refused.stderr

    assert harness.keys_in_bucket() == {report}
    assert harness.events == []

    allowed = harness.sftp(["put extract.csv"], key=keys["adults"])
    assert allowed.returncode == 0, allowed.stderr
    assert len(harness.events) == 1


def test_other_feed_sees_only_its_own_folder(harness: Harness, keys) -> None:
    seed(harness, f"{HOME}adults.csv", f"{OTHER_HOME}childrens.csv")

    result = harness.sftp(["ls -1"], user="walsall-childrens", key=keys["childrens"])

    assert result.returncode == 0, result.stderr
    assert "childrens.csv" in result.stdout
    assert "adults.csv" not in result.stdout


# -- authentication ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("user", "key"),
    [("walsall-adults", "stranger"), ("walsall-adults", "childrens"), ("nobody", "adults")],
    ids=["unknown-key", "another-feeds-key", "unknown-user"],
)
def test_login_refused(harness: Harness, keys, user: str, key: str) -> None:
    result = harness.sftp(["ls"], user=user, key=keys[key])

    assert result.returncode != 0
    assert "Permission denied" in result.stderr, result.stderr


def test_password_authentication_is_not_offered(harness: Harness, keys) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    ssh = shutil.which("ssh") or "/usr/bin/ssh"
    result = subprocess.run(
        [ssh, "-F", "/dev/null", "-p", str(harness.gateway.port), "-o", "StrictHostKeyChecking=no",
         "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "PubkeyAuthentication=no",
         "walsall-adults@127.0.0.1", "true"],
        env=env, capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "Permission denied (publickey)" in result.stderr, result.stderr


# -- lifecycle ---------------------------------------------------------------------------------


def test_port_in_use_is_reported(s3, bucket: str, tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        gateway = SftpGateway(users=[], s3_client=s3, on_upload_completed=lambda e: None,
                              port=port, host_key_path=tmp_path / "key")
        with pytest.raises(OSError, match=str(port)):
            gateway.start()


def test_host_key_is_created_once_and_reused(s3, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "keys" / "host"
    gateway = SftpGateway(users=[], s3_client=s3, on_upload_completed=lambda e: None, port=0,
                          host_key_path=path)
    gateway.start()
    gateway.stop()
    first = path.read_bytes()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    gateway = SftpGateway(users=[], s3_client=s3, on_upload_completed=lambda e: None, port=0,
                          host_key_path=path)
    gateway.start()
    gateway.stop()
    assert path.read_bytes() == first


# -- PolicyEvaluator ---------------------------------------------------------------------------


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_policy_explicit_deny_wins_over_allow() -> None:
    policy = PolicyEvaluator([
        doc({"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"}),
        doc({"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b/reports/*"}),
    ])
    assert policy.allows("s3:PutObject", "arn:aws:s3:::b/extract.csv")
    assert not policy.allows("s3:PutObject", "arn:aws:s3:::b/reports/x")
    assert policy.allows("s3:GetObject", "arn:aws:s3:::b/reports/x")
    assert not policy.allows("s3:GetObject", "arn:aws:s3:::other/x")  # implicit deny


def test_policy_wildcards_and_case() -> None:
    policy = PolicyEvaluator([doc(
        {"Effect": "Allow", "Action": ["S3:get*", "s3:ListBucke?"], "Resource": "arn:aws:s3:::b/feed-?/*"},
    )])
    assert policy.allows("s3:GetObject", "arn:aws:s3:::b/feed-a/x.csv")
    assert policy.allows("s3:getobjectversion", "arn:aws:s3:::b/feed-a/deep/x.csv")
    assert policy.allows("s3:ListBucket", "arn:aws:s3:::b/feed-a/")
    assert not policy.allows("s3:GetObject", "arn:aws:s3:::b/feed-ab/x.csv")
    assert not policy.allows("s3:GetObject", "arn:aws:s3:::B/feed-a/x.csv")  # ARNs are case-sensitive
    assert not policy.allows("s3:PutObject", "arn:aws:s3:::b/feed-a/x.csv")


def test_policy_not_action_and_not_resource() -> None:
    policy = PolicyEvaluator([doc(
        {"Effect": "Allow", "NotAction": "s3:DeleteObject", "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:s3:::b/*"},
    )])
    assert policy.allows("s3:PutObject", "arn:aws:s3:::b/x")
    assert not policy.allows("s3:DeleteObject", "arn:aws:s3:::b/x")
    assert not policy.allows("s3:GetObject", "arn:aws:s3:::elsewhere/x")


def test_policy_conditions() -> None:
    policy = PolicyEvaluator([doc(
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "arn:aws:s3:::b",
         "Condition": {"ForAnyValue:StringLike": {"s3:prefix": ["feed/*", "shared"]},
                       "StringNotLike": {"s3:prefix": "feed/secret*"}}},
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*",
         "Condition": {"StringEquals": {"aws:username": "alice"}, "StringNotEquals": {"team": "red"}}},
        {"Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"Bool": {"aws:SecureTransport": False}}},
    )])
    assert policy.allows("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "feed/"})
    assert policy.allows("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "shared"})
    assert not policy.allows("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "feed/secret/"})
    assert not policy.allows("s3:ListBucket", "arn:aws:s3:::b", {"s3:prefix": "other/"})
    assert not policy.allows("s3:ListBucket", "arn:aws:s3:::b")  # key absent: StringLike fails
    assert policy.allows("s3:GetObject", "arn:aws:s3:::b/x", {"aws:username": "alice"})
    assert not policy.allows("s3:GetObject", "arn:aws:s3:::b/x", {"aws:username": "alice", "team": "red"})
    assert not policy.allows("s3:GetObject", "arn:aws:s3:::b/x", {"aws:username": "bob"})
    assert not policy.allows("s3:GetObject", "arn:aws:s3:::b/x",
                             {"aws:username": "alice", "AWS:SecureTransport": "false"})
    assert policy.allows("s3:GetObject", "arn:aws:s3:::b/x",
                         {"aws:username": "alice", "aws:SecureTransport": "true"})


def test_policy_variables_come_from_the_context() -> None:
    policy = PolicyEvaluator([doc(
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/${transfer:HomeFolder}/*"},
    )])
    assert policy.allows("s3:GetObject", "arn:aws:s3:::b/feed/x", {"transfer:HomeFolder": "feed"})
    assert not policy.allows("s3:GetObject", "arn:aws:s3:::b/other/x", {"transfer:HomeFolder": "feed"})
    with pytest.raises(ValueError, match="transfer:HomeFolder"):
        policy.allows("s3:GetObject", "arn:aws:s3:::b/feed/x")


@pytest.mark.parametrize(
    "operator", ["NumericLessThan", "DateGreaterThan", "IpAddress", "StringEqualsIgnoreCase"]
)
def test_policy_unknown_condition_operator_raises(operator: str) -> None:
    with pytest.raises(ValueError, match=operator):
        PolicyEvaluator([doc({"Effect": "Allow", "Action": "*", "Resource": "*",
                              "Condition": {operator: {"some:key": "1"}}})])


def test_policy_malformed_statements_raise() -> None:
    with pytest.raises(ValueError, match="Effect"):
        PolicyEvaluator([doc({"Effect": "Maybe", "Action": "*", "Resource": "*"})])
    with pytest.raises(ValueError, match="Action or NotAction"):
        PolicyEvaluator([doc({"Effect": "Allow", "Action": "*", "NotAction": "s3:*", "Resource": "*"})])
    with pytest.raises(ValueError, match="intrinsics"):
        PolicyEvaluator([doc({"Effect": "Allow", "Action": "*", "Resource": {"Fn::Sub": "x"}})])
