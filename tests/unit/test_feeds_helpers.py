"""The pure helpers the ingest handler leans on, the spec a data lead reads, and `mast feeds`."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow as pa
import pytest

from mast.feeds.definition import load_feed_definition, load_feed_definitions
from mast.feeds.parse import parse_extract
from mast.feeds.receipt import FeedTotals, Receipt
from mast.feeds.spec import render_spec, template_csv
from mast.feeds.supersede import (
    apply_withdrawals,
    content_hash,
    ended_record_ids,
    ended_record_ids_arrow,
)
from tools.cli import main


def test_content_hash_is_of_the_bytes() -> None:
    assert content_hash(b"a,b\n") == content_hash(b"a,b\n")
    assert content_hash(b"a,b\n") != content_hash(b"a,b\r\n")


def test_ended_record_ids_are_those_missing_from_the_new_snapshot() -> None:
    assert ended_record_ids(["f:3", "f:1", "f:2"], ["f:2", "f:4"]) == ["f:1", "f:3"]
    got = ended_record_ids_arrow(pa.array(["f:3", "f:1", "f:2", "f:1"]), pa.array(["f:2"]))
    assert got.to_pylist() == ["f:1", "f:3"]


def test_apply_withdrawals_marks_the_rows() -> None:
    header = "ChildID\tFirstName\tLastName\tAddressLine1\tPostCode\tEpisodeStartDate\n"
    data = (header + "C1\tA\tB\t1 Elm Road\tWS1 1AA\t2025-01-01\nC2\tC\tD\t2 Elm Road\tWS1 1AA\t2025-01-01\n")
    parsed = parse_extract(data.encode(), load_feed_definition("walsall-children"), ingest_id="i",
                           file_name="f", ingest_date=dt.date(2025, 6, 30))  # fmt: skip
    out = apply_withdrawals(parsed.records, ["walsall-children:C2", "walsall-children:C9"])
    assert out.column("withdrawn").to_pylist() == [False, True]
    assert out.schema == parsed.records.schema


def test_the_receipt_takes_the_feed_totals_from_the_handler() -> None:
    r = Receipt(file_name="f.csv", feed="wm-police", partner="wm-police", ingest_id="i",
                ingest_date=dt.date(2025, 6, 30), content_sha256="0" * 64, size_bytes=3,
                status="accepted")  # fmt: skip
    after = r.model_copy(update={"feed_totals": FeedTotals(records=10, searchable=9, withdrawn=1)})
    assert json.loads(after.model_dump_json())["feed_totals"]["searchable"] == 9


@pytest.mark.parametrize("feed", sorted(load_feed_definitions()))
def test_the_spec_lists_every_column_and_the_template_parses(feed: str) -> None:
    definition = load_feed_definition(feed)
    spec = render_spec(definition)
    for column in definition.columns:
        assert column.name in spec
    assert definition.date_format in spec
    template = template_csv(definition).encode("utf-8")
    parsed = parse_extract(template, definition, ingest_id="t", file_name="template.csv",
                           ingest_date=dt.date(2026, 1, 1))  # fmt: skip
    assert parsed.receipt.rows_read == 1 and not parsed.receipt.dropped_columns


def test_mast_feeds_list_and_spec(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feeds", "list"]) == 0
    out = capsys.readouterr().out
    assert "wm-fire" in out and "delta" in out and "snapshot" in out
    assert main(["feeds", "spec", "wm-police"]) == 0
    assert "SURNAME, Forename Middle" in capsys.readouterr().out
    assert main(["feeds", "spec", "nope"]) == 2


def test_mast_feeds_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(b"")
    assert main(["feeds", "check", str(path), "--feed", "wm-police"]) == 1
    assert json.loads(capsys.readouterr().out)["quarantine"] == "empty file (0 bytes)"


def test_hash64_equal_strings_hash_alike_whatever_the_array_around_them() -> None:
    import numpy as np

    from mast.feeds.columns import hash64

    values = pa.array(["wm-police:A1", "", None, "wm-police:A1", "ab", "ba", "é" * 40, "", None, "wm-police:A2"])
    h = hash64(values)
    assert h.dtype == np.uint64 and len(h) == len(values)
    assert h[0] == h[3] and h[1] == h[7] and h[2] == h[8]
    assert len(set(h.tolist())) == 7  # the seven distinct values (null is one) hash apart
    assert hash64(values.slice(3, 6)).tolist() == h[3:9].tolist()  # a slice: same hashes
    chunked = pa.chunked_array([values.slice(0, 4), values.slice(4)])
    assert hash64(chunked).tolist() == h.tolist()
    assert hash64(pa.array([], pa.string())).tolist() == []


def test_table_csv_a_few_rows_at_a_time_writes_the_same_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    from mast.feeds import csvout

    table = pa.table({"ref": [f"A{i}" for i in range(10)],
                      "note": ["plain", 'say "hi"', "a, b", "two\r\nlines", None, "", "é", "x", "y", "z"]})  # fmt: skip
    whole = csvout.table_csv(table, crlf=True, bom=True)
    assert whole.startswith(b"\xef\xbb\xbfref,note\r\nA0,plain\r\nA1,\"say \"\"hi\"\"\"\r\n")
    monkeypatch.setattr(csvout, "CSV_ROWS", 3)
    assert csvout.table_csv(table, crlf=True, bom=True) == whole
    assert csvout.buffer_bytes(csvout.csv_lines(table.slice(2, 2))) == b'A2,"a, b"\nA3,"two\r\nlines"\n'


def test_squash_of_a_cell_does_not_depend_on_the_other_cells() -> None:
    from mast.feeds.columns import squash

    alone = squash(pa.array(["Flat\f2", "Elm Road"])).to_pylist()
    beside = squash(pa.array(["Flat\f2", "Elm  Road"])).to_pylist()
    assert alone[0] == beside[0] == "Flat 2"
