"""Partner feeds end to end: the five generated extracts that `mast local --demo` sent with OpenSSH's
`sftp`, their receipts in each feed's own folder, the curated Parquet and the raw archive.

`mast local --demo` generates three days of extracts for the five feeds and sends each through the
SFTP gateway with the real `sftp` client (``mast.feeds.sftp_client``), exactly as `mast ingest`
does. The files it sent stay in ``<state dir>/demo/day-N``; this test regenerates them from the
same seed to know, row by row, what a correct ingest must have kept.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from infra.local import demo
from mast.feeds.definition import load_feed_definition
from tests.conftest import LocalStackProcess
from tools.generate import generate_days

pytestmark = pytest.mark.e2e

FEEDS = ("walsall-adults", "walsall-children", "walsall-nhs-ae", "wm-police", "wm-fire")


def sftp(stack: LocalStackProcess, user: str, commands: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sftp", "-b", "-", "-P", str(stack.sftp_port), "-i", str(stack.state_dir / "keys" / user),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
         "-o", "LogLevel=ERROR", f"{user}@127.0.0.1"],
        input=commands, text=True, capture_output=True, timeout=60,
    )  # fmt: skip


def bucket(stack: LocalStackProcess, kind: str) -> str:
    names = [b["Name"] for b in stack.client("s3").list_buckets()["Buckets"]]
    return next(n for n in names if f"-{kind}-" in n)


def partner_of(feed: str) -> str:
    return load_feed_definition(feed).partner


def read_receipt(stack: LocalStackProcess, feed: str, tmp_path: Path) -> dict[str, Any]:
    """The receipt as the partner fetches it: through its own SFTP account."""
    target = tmp_path / f"{feed}.report.json"
    done = sftp(stack, feed, f"get reports/{feed}.csv.report.json {target}\n")
    assert done.returncode == 0, done.stderr
    return json.loads(target.read_text())


def expected_record_ids(feed: str, data: bytes, skip: set[int]) -> set[str]:
    """``<feed>:<case ref>`` of every data row a correct ingest keeps (1-based rows, header excluded)."""
    definition = load_feed_definition(feed)
    ref_column = definition.column_for("source_record_id")
    assert ref_column is not None
    encoding = definition.file.encoding
    text = data.decode("utf-8-sig" if encoding.startswith("utf-8") else encoding)
    rows = list(csv.reader(io.StringIO(text), delimiter=definition.file.delimiter))
    header = [h.strip() for h in rows[0]]
    at = header.index(ref_column.name)
    return {f"{feed}:{row[at].strip()}" for n, row in enumerate(rows[1:], start=1) if n not in skip and row}


def test_demo_extracts_arrive_through_sftp_with_receipts_curated_rows_and_raw_archive(
        local_stack: LocalStackProcess, tmp_path: Path) -> None:  # fmt: skip
    demo_dir = local_stack.state_dir / "demo"
    last_day = demo_dir / f"day-{demo.DEMO_DAYS}"
    as_of = dt.date.fromisoformat(json.loads((local_stack.state_dir / "demo" / "as_of.json").read_text())["as_of"])
    days = generate_days(demo.DEMO_PEOPLE, demo.DEMO_SEED, demo.DEMO_DAYS, as_of=as_of)
    s3 = local_stack.client("s3")
    curated, raw, landing = bucket(local_stack, "curated"), bucket(local_stack, "raw"), bucket(local_stack, "landing")

    for feed in FEEDS:
        extract = days[-1].files[feed]
        assert (last_day / extract.file_name).read_bytes() == extract.data  # what was sent is what we regenerate
        receipt = read_receipt(local_stack, feed, tmp_path)
        assert receipt["status"] in ("accepted", "accepted_with_rejections"), receipt
        assert receipt["rows_rejected"] == len(extract.bad_rows)
        assert receipt["rows_duplicate"] == len(extract.duplicate_rows)
        assert receipt["rows_filtered"] == len(extract.filtered_rows)
        assert receipt["rows_withdrawal"] == len(extract.withdrawal_rows)
        assert {r["row"] - 1 for r in receipt["rejections"]} == set(extract.bad_rows)

        # the curated dataset holds exactly the accepted rows (plus, for a snapshot, the end-dated
        # versions of records it no longer holds; for a delta, the withdrawn versions of earlier rows)
        skip = set(extract.bad_rows) | set(extract.duplicate_rows) | set(extract.filtered_rows) | set(extract.withdrawal_rows)
        expected = expected_record_ids(feed, extract.data, skip)
        assert len(expected) == receipt["rows_accepted"]
        key = (f"records/partner={partner_of(feed)}/feed={feed}/ingest_date={receipt['ingest_date']}/"
               f"{receipt['ingest_id']}.parquet")  # fmt: skip
        versions = pq.read_table(io.BytesIO(s3.get_object(Bucket=curated, Key=key)["Body"].read())).to_pylist()
        stored = {v["record_id"] for v in versions}
        assert expected <= stored
        for version in versions:
            if version["record_id"] not in expected:
                assert version["end_date"] == dt.date.fromisoformat(receipt["ingest_date"]) or version["withdrawn"]

        # the raw upload: in the archive, untouched, and no longer in the landing folder
        archived = s3.get_object(Bucket=raw, Key=f"archive/{partner_of(feed)}/{feed}/{receipt['ingest_id']}/{extract.file_name}")
        assert archived["Body"].read() == extract.data
        listed = s3.list_objects_v2(Bucket=landing, Prefix=f"{partner_of(feed)}/{feed}/").get("Contents", [])
        # (the alerts tests of this shared stack send police extracts of their own, named police-alert-*)
        assert sorted(o["Key"].split("/", 2)[2] for o in listed if "/police-alert-" not in o["Key"]) == [
            f"reports/{extract.file_name}.rejected.csv", f"reports/{extract.file_name}.report.json"]


def test_receipts_are_read_only_and_private_to_their_feed(local_stack: LocalStackProcess, tmp_path: Path) -> None:
    report = "reports/walsall-adults.csv.report.json"
    listing = sftp(local_stack, "walsall-adults", "ls reports\n")
    assert listing.returncode == 0 and "walsall-adults.csv.report.json" in listing.stdout
    assert sftp(local_stack, "walsall-adults", f"rm {report}\n").returncode != 0
    forged = tmp_path / "forged.json"
    forged.write_text("{}")
    assert sftp(local_stack, "walsall-adults", f"put {forged} {report}\n").returncode != 0
    still = sftp(local_stack, "walsall-adults", f"get {report} {tmp_path / 'r.json'}\n")
    assert still.returncode == 0 and json.loads((tmp_path / "r.json").read_text())["feed"] == "walsall-adults"
    # Walsall's children's feed shares the partner but not the folder: it cannot see adults' receipts
    for attempt in (f"get ../walsall-adults/{report} {tmp_path / 'x.json'}", "ls ../walsall-adults/reports",
                    "ls /../walsall-adults"):  # fmt: skip
        assert sftp(local_stack, "walsall-children", attempt + "\n").returncode != 0, attempt
    children = sftp(local_stack, "walsall-children", "ls reports\n")
    assert "walsall-adults" not in children.stdout


def test_mast_ingest_sends_a_bad_file_and_prints_its_quarantine_receipt(local_stack: LocalStackProcess,
                                                                        tmp_path: Path) -> None:  # fmt: skip
    import sys

    binary = tmp_path / "incidents.csv"
    binary.write_bytes(b"\x00\x01\x02PK\x03\x04" + bytes(range(256)) * 8)
    mast = Path(sys.executable).parent / "mast"
    done = subprocess.run(
        [str(mast), "ingest", str(binary), "--feed", "wm-fire", "--sftp-port", str(local_stack.sftp_port),
         "--state-dir", str(local_stack.state_dir), "--timeout", "120"],
        text=True, capture_output=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    printed = json.loads(done.stdout.split("\n", 1)[1])
    assert printed["status"] == "quarantined" and printed["quarantine"]
    raw = local_stack.client("s3").list_objects_v2(Bucket=bucket(local_stack, "raw"), Prefix="quarantine/wm-fire/wm-fire/")
    assert any(o["Key"].endswith("/incidents.csv") for o in raw.get("Contents", []))
