"""Send an extract as a partner's data lead does: OpenSSH ``sftp`` with the feed's SSH key.

Used by ``mast ingest`` and by the local demo's seeding, so that demo data and a developer's test
file arrive through the same front door as a partner's (SFTP → upload completed → ingest), and the
receipt is read back from ``reports/`` through the same account. It drives the real ``sftp``
client in batch mode rather than an SSH library: what works here works for a partner.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mast.feeds.receipt import Receipt


class SftpFailed(RuntimeError):
    """``sftp`` refused or failed; the message carries what it said."""


@dataclass(frozen=True)
class SftpAccount:
    """A feed's SFTP account: the user is the feed id; the key is the feed's private key."""

    host: str
    port: int
    username: str
    key: Path
    #: the local gateway makes its host key per state folder; a real endpoint's key is checked
    check_host_key: bool = True

    def _command(self) -> list[str]:
        sftp = shutil.which("sftp")
        if sftp is None:
            raise SftpFailed("OpenSSH's sftp client is not installed (Debian: apt-get install openssh-client)")
        options = ["-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
        if not self.check_host_key:
            options += ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        return [sftp, "-b", "-", "-P", str(self.port), "-i", str(self.key), *options, f"{self.username}@{self.host}"]

    def run(self, commands: str, timeout: float = 120) -> str:
        """Run batch ``commands``; raises :class:`SftpFailed` if any fails."""
        done = subprocess.run(self._command(), input=commands, text=True, capture_output=True, timeout=timeout)
        if done.returncode != 0:
            raise SftpFailed(done.stderr.strip() or done.stdout.strip() or f"sftp exited with {done.returncode}")
        return done.stdout

    def put(self, local: Path, remote_name: str | None = None) -> str:
        """Upload ``local`` into the feed's folder; returns the remote file name."""
        name = remote_name or local.name
        self.run(f'put "{local}" "{name}"\n')
        return name

    def receipt(self, remote_name: str, *, after: float = 0.0, timeout: float = 120.0) -> Receipt:
        """Wait for ``reports/<remote_name>.report.json`` and read it (written after ``after``, a
        ``time.time()``, so an older receipt of a file with the same name is not mistaken for it)."""
        deadline = time.time() + timeout
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "receipt.json"
            while True:
                try:
                    self.run(f'get "reports/{remote_name}.report.json" "{target}"\n', timeout=60)
                    receipt = Receipt.model_validate_json(target.read_bytes())
                    if _written_after(receipt, after):
                        return receipt
                except SftpFailed:
                    pass  # not there yet
                if time.time() > deadline:
                    raise SftpFailed(f"no receipt for {remote_name} within {timeout:.0f} s")
                time.sleep(0.5)


def _written_after(receipt: Receipt, after: float) -> bool:
    """Ingest ids begin with the claim's UTC time (``mast.feeds.store.new_ingest_id``)."""
    stamp = dt.datetime.strptime(receipt.ingest_id.split("-", 1)[0], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=dt.UTC)
    return stamp.timestamp() >= after - 1.0


def summary(receipt: Receipt) -> dict[str, Any]:
    """The counts a data lead reads first."""
    keys = ("file_name", "feed", "status", "quarantine", "rows_read", "rows_accepted", "rows_rejected",
            "rows_filtered", "rows_duplicate", "rows_withdrawal", "dropped_columns", "feed_totals", "note")
    return {k: v for k, v in json.loads(receipt.model_dump_json()).items() if k in keys and v not in (None, [], 0)}
