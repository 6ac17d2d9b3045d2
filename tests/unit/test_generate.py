"""The generator: same seed, same bytes; every file parses with its definition, rejecting
exactly the deliberately bad rows; the truth lines up; daily runs change as they should."""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path

import pytest
import yaml

from mast.config import config_dir
from mast.feeds.definition import load_feed_definition, load_feed_definitions
from mast.feeds.parse import parse_extract
from tools.cli import main
from tools.generate import GeneratedDay, generate, generate_days

AS_OF = dt.date(2025, 6, 30)


@pytest.fixture(scope="module")
def day() -> GeneratedDay:
    return generate(3000, 42, as_of=AS_OF)


def test_same_seed_same_bytes_and_another_seed_other_bytes(day: GeneratedDay) -> None:
    again = generate(3000, 42, as_of=AS_OF)
    for fid, f in day.files.items():
        assert again.files[fid].data == f.data
    assert again.truth_csv() == day.truth_csv()
    other = generate(3000, 43, as_of=AS_OF)
    assert other.files["wm-police"].data != day.files["wm-police"].data


def test_one_file_per_feed_in_the_partners_format(day: GeneratedDay) -> None:
    assert set(day.files) == set(load_feed_definitions())
    assert day.files["walsall-adults"].data.startswith(b"\xef\xbb\xbfPerson ID,")
    assert day.files["walsall-children"].data.startswith(b"ChildID\tFirstName\t")
    police = day.files["wm-police"].data
    assert b"\r\n" in police
    police.decode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        police.decode("utf-8")  # Windows-1252 really: accented names are single bytes


@pytest.mark.parametrize("feed", sorted(load_feed_definitions()))
def test_every_file_parses_with_only_the_deliberately_bad_rows_rejected(day: GeneratedDay, feed: str) -> None:
    f = day.files[feed]
    parsed = parse_extract(f.data, load_feed_definition(feed), ingest_id="g", file_name=f.file_name,
                           ingest_date=AS_OF)  # fmt: skip
    r = parsed.receipt
    assert not parsed.quarantined
    assert f.bad_rows, "a demo needs a real receipt"
    assert {r - 1 for r in parsed.rejected.column("row").to_pylist()} == set(f.bad_rows)  # data row = spreadsheet row - 1
    assert r.rows_rejected == len(f.bad_rows)
    assert r.rows_duplicate == len(f.duplicate_rows)
    assert r.rows_filtered == len(f.filtered_rows)
    assert r.rows_read == f.rows
    assert r.dropped_columns  # every partner sends something MAST must not keep
    accepted = set((parsed.source_rows - 1).tolist())
    expected = set(range(1, f.rows + 1)) - set(f.bad_rows) - set(f.duplicate_rows) - set(f.filtered_rows)
    assert accepted == expected


def test_the_truth_has_a_row_per_data_row(day: GeneratedDay) -> None:
    rows = list(csv.DictReader(io.StringIO(day.truth_csv().decode())))
    assert list(rows[0]) == ["file", "row", "person_id", "address_id"]
    for f in day.files.values():
        mine = [r for r in rows if r["file"] == f.file_name]
        assert [int(r["row"]) for r in mine] == list(range(1, f.rows + 1))
    people = {r["person_id"] for r in rows if r["person_id"]}
    assert len(people) == 3000  # everyone appears at least once
    fire = [r for r in rows if r["file"] == "wm-fire.csv"]
    assert any(not r["person_id"] for r in fire)  # car fires are about nobody


def test_the_data_is_realistically_messy(day: GeneratedDay) -> None:
    people = {}
    for feed, f in day.files.items():
        parsed = parse_extract(f.data, load_feed_definition(feed), ingest_id="g", file_name=f.file_name,
                               ingest_date=AS_OF)  # fmt: skip
        truth = dict(zip(range(1, f.rows + 1), f.truth_person.tolist(), strict=True))
        for rec, row in zip(parsed.records.to_pylist(), parsed.source_rows.tolist(), strict=True):
            people.setdefault(truth[row - 1], []).append(rec)
    linked = [recs for recs in people.values() if len(recs) > 1]
    assert len(linked) > 300  # people known to several agencies or more than once
    given_variants = sum(len({r["given_name"] for r in recs if r["given_name"]}) > 1 for recs in linked)
    assert given_variants > 20  # nicknames, typos, transpositions
    postcodes = [r["postcode"] for recs in people.values() for r in recs if r["postcode"]]
    assert any(" " not in p for p in postcodes) and any(p.startswith(("WS", "WV", "B", "DY")) for p in postcodes)
    families = {r["family_name"] for recs in people.values() for r in recs if r["family_name"]}
    assert any("-" in f for f in families)
    assert families & {"Khan", "KHAN", "Begum", "Kaur", "Singh", "Nowak", "NOWAK", "Okafor", "Mensah", "Patel"}
    by_dob_address: dict[tuple, set] = {}
    for pid, recs in people.items():
        for r in recs:
            if r["dob"] and r["address_line1"]:
                by_dob_address.setdefault((r["dob"], r["postcode"]), set()).add(pid)
    assert any(len(s) > 1 for s in by_dob_address.values())  # twins: same birthday, same home
    # movers: one person, two postcodes over time
    assert sum(len({r["postcode"].replace(" ", "").upper() for r in recs if r["postcode"]}) > 1
               for recs in linked) > 10  # fmt: skip
    # a parent and a child with the same name at the same address, a generation apart
    by_name_address: dict[tuple, set] = {}
    for pid, recs in people.items():
        for r in recs:
            if r["dob"] and r["given_name"] and r["family_name"]:
                by_name_address.setdefault((r["given_name"], r["family_name"], r["postcode"]), set()).add(
                    (pid, r["dob"].year))  # fmt: skip
    assert any(len({p for p, _ in s}) > 1 and max(y for _, y in s) - min(y for _, y in s) > 15
               for s in by_name_address.values())  # fmt: skip


def test_a_few_days_of_extracts() -> None:
    days = generate_days(1500, 5, days=3, as_of=AS_OF)
    assert [d.date for d in days] == [AS_OF - dt.timedelta(days=2), AS_OF - dt.timedelta(days=1), AS_OF]
    d1, d2, d3 = days
    # snapshots are re-sent, with some cases closed and others opened
    for feed in ("walsall-adults", "walsall-children"):
        a = d1.files[feed].data.splitlines()
        b = d2.files[feed].data.splitlines()
        assert a != b and len(set(a) & set(b)) > len(a) * 0.8
    # deltas carry only new rows and a withdrawal
    for feed in ("walsall-nhs-ae", "wm-police", "wm-fire"):
        f2 = d2.files[feed]
        assert 0 < f2.rows < d1.files[feed].rows / 10
        assert len(f2.withdrawal_rows) == 1
        parsed = parse_extract(f2.data, load_feed_definition(feed), ingest_id="d2", file_name=f2.file_name,
                               ingest_date=d2.date)  # fmt: skip
        assert parsed.receipt.rows_withdrawal == 1 and len(parsed.withdrawals) == 1
        assert {r - 1 for r in parsed.rejected.column("row").to_pylist()} == set(f2.bad_rows)
    assert generate_days(1500, 5, days=3, as_of=AS_OF)[2].files["wm-police"].data == d3.files["wm-police"].data


def test_a_sixth_feed_is_generated_from_its_definition(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tmp_path / "infra"
    shutil.copytree(config_dir() / "feeds", base / "feeds")
    partnership = yaml.safe_load((config_dir() / "partnership.yaml").read_text())
    partnership["organisations"].append({"id": "whg", "name": "Walsall Housing"})
    partnership["feeds"].append({"id": "whg-tenancy", "partner": "whg", "name": "Tenancy concerns"})
    (base / "partnership.yaml").write_text(yaml.safe_dump(partnership))
    sixth = {
        "id": "whg-tenancy", "partner": "whg", "name": "Tenancy concerns", "mode": "snapshot",
        "date_format": "DD-MON-YYYY", "file": {"delimiter": "\t"},
        "columns": [
            {"name": "Ref", "field": "source_record_id", "required": True},
            {"name": "Opened", "field": "record_date", "required": True},
            {"name": "First", "field": "given_name", "required": True},
            {"name": "Last", "field": "family_name", "required": True},
            {"name": "Born", "field": "dob", "date_format": "YYYY-MM-DD"},
            {"name": "Addr1", "field": "address_line1", "required": True},
            {"name": "Addr2", "field": "address_line2"},
            {"name": "Addr3", "field": "address_line2"},
            {"name": "PC", "field": "postcode", "required": True},
        ],
        "contact": {"email": "tenancy@whg.example"},
    }  # fmt: skip
    (base / "feeds" / "whg-tenancy.yaml").write_text(yaml.safe_dump(sixth))
    monkeypatch.setenv("MAST_CONFIG_DIR", str(base))
    day = generate(800, 1, as_of=AS_OF)
    f = day.files["whg-tenancy"]
    assert f.data.startswith(b"Ref\tOpened\tFirst")
    parsed = parse_extract(f.data, load_feed_definition("whg-tenancy"), ingest_id="g", file_name=f.file_name,
                           ingest_date=AS_OF)  # fmt: skip
    assert {r - 1 for r in parsed.rejected.column("row").to_pylist()} == set(f.bad_rows)
    assert parsed.receipt.rows_accepted == f.rows - len(f.bad_rows) > 0


def test_mast_generate_writes_the_files_and_truth(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--people", "300", "--seed", "9", "--out", str(tmp_path), "--as-of", "2025-06-30"]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted([f"{fid}.csv" for fid in load_feed_definitions()] + ["truth.csv"])
    first = (tmp_path / "wm-police.csv").read_bytes()
    out = tmp_path / "again"
    assert main(["generate", "--people", "300", "--seed", "9", "--out", str(out), "--as-of", "2025-06-30"]) == 0
    assert (out / "wm-police.csv").read_bytes() == first
    assert main(["generate", "--people", "300", "--out", str(tmp_path / "d"), "--days", "2"]) == 0
    assert (tmp_path / "d" / "day-2" / "truth.csv").exists()
    assert "rows for 300 people" in capsys.readouterr().out
