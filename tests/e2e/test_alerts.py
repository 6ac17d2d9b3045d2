"""Issue 17's alert, end to end on `mast local --demo`: a police incident sent over SFTP for a child
with an open children's social care case makes, in the match run that links it, an alert for
Walsall Council's practitioners (the police, the date, whom to call), none for another
organisation's, and a mail in the outbox that names no one; listing it is audited; opening the
person from it needs a declaration."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LocalStackProcess
from tests.e2e.test_local_stack import _sftp
from tests.e2e.test_search_api import api, indexed_records, token_of

pytestmark = pytest.mark.e2e
DECLARATION = {"gateway": "ca1989-s47", "purpose": "alert from police: strategy discussion 2026/201"}


def an_open_childrens_case(stack: LocalStackProcess) -> dict[str, Any]:
    """A child in the latest children's snapshot with a name, date of birth and a whole address."""
    cases = [r for r in indexed_records(stack) if r["feed"] == "walsall-children" and not r.get("end_date")
             and r.get("given_name") and r.get("family_name") and r.get("dob") and r.get("address_line1")
             and r.get("postcode") and not r.get("sensitive")]
    assert cases, "the demo has no open children's case"
    return sorted(cases, key=lambda r: r["record_id"])[0]


def police_extract(case: dict[str, Any], reference: str, day: dt.date) -> bytes:
    """One police nominal for the child, as the police system writes it (wm-police.yaml)."""
    header = ("Occurrence Nominal Ref,Occurrence Date,Nominal Name,DOB,Gender,Address,Postcode,OIC Team,"
              "Team Mailbox,Restricted,Record Status")
    dob = dt.date.fromisoformat(case["dob"])
    address = ", ".join(p for p in (case["address_line1"], case.get("address_line2")) if p)
    row = [reference, f"{day:%d/%m/%Y}", f"\"{case['family_name'].upper()}, {case['given_name']}\"", f"{dob:%d/%m/%Y}",
           "U", f'"{address}"', case["postcode"], "Walsall Public Protection Unit",
           "walsall.ppu@wm-police.example", "N", "ACTIVE"]
    return (header + "\r\n" + ",".join(row) + "\r\n").encode("windows-1252")


def wait_for_alert(stack: LocalStackProcess, token: str, record_id: str, seconds: float = 300) -> dict[str, Any]:
    deadline = time.time() + seconds
    while time.time() < deadline:
        answer = api(stack, "GET", "/alerts", token)
        assert answer.status_code == 200, answer.text
        found = [a for a in answer.json()["alerts"] if a["record_id"] == record_id]
        if found:
            return found[0]
        time.sleep(3)
    pytest.fail(f"no alert for {record_id} after {seconds} s:\n" + "".join(stack.output[-40:]))


def test_a_police_incident_for_a_child_with_an_open_case_alerts_the_council(local_stack: LocalStackProcess,
                                                                            tmp_path: Path) -> None:
    case = an_open_childrens_case(local_stack)
    reference = f"26WM{secrets.randbelow(10**7):07d}-N1"
    today = dt.datetime.now(dt.UTC).date()
    extract = tmp_path / "police-alert.csv"
    extract.write_bytes(police_extract(case, reference, today))
    uploaded = _sftp(local_stack, "wm-police", f"put {extract} police-alert-{reference}.csv\n")
    assert uploaded.returncode == 0, uploaded.stderr

    walsall = token_of(local_stack, ("practitioners",))
    alert = wait_for_alert(local_stack, walsall, f"wm-police:{reference}")
    assert alert["organisation"] == "walsall-council" and alert["kind"] == "person"
    assert alert["partner_name"] == "West Midlands Police" and alert["record_date"] == today.isoformat()
    assert alert["contact"]["team"] == "Walsall Public Protection Unit"
    # the open case (and, when another test of this stack watched the child, the watched records)
    assert case["record_id"] in alert["case_record_ids"]
    for private in ("given_name", "family_name", "dob", "address_line1"):
        assert private not in alert

    police = token_of(local_stack, ("practitioners",), "wm-police")
    theirs = api(local_stack, "GET", "/alerts", police).json()["alerts"]
    assert all(a["organisation"] == "wm-police" for a in theirs)
    assert api(local_stack, "POST", f"/alerts/{alert['alert_id']}/open", police,
               json={"declaration": DECLARATION}).status_code == 404

    # the mail to the case's team: that there are alerts, and nothing of whom
    if alert["case_email"]:
        mailbox = alert["case_email"].replace("@", "_at_")
        mails = [m.read_text() for m in (local_stack.state_dir / "outbox").glob(f"*{mailbox}.txt")]
        assert any("new alert" in m and "#/alerts" in m for m in mails)
        for mail in mails:
            for private in (case["given_name"], case["family_name"], case["dob"], case["postcode"], reference):
                assert private.lower() not in mail.lower()

    # made and viewed, both on the record
    made = [e for e in local_stack.audit_events("alert-made") if f"wm-police:{reference}" in e["record_ids"]]
    assert len(made) == 1 and made[0]["organisation"] == "walsall-council"
    viewed = [e for e in local_stack.audit_events("alert-view") if f"wm-police:{reference}" in e["record_ids"]]
    assert viewed

    # opening the person needs a declaration, and then opens as after a search
    refused = api(local_stack, "POST", f"/alerts/{alert['alert_id']}/open", walsall, json={})
    assert refused.status_code == 400 and "declaration" in refused.text
    opened = api(local_stack, "POST", f"/alerts/{alert['alert_id']}/open", walsall, json={"declaration": DECLARATION})
    assert opened.status_code == 201, opened.text
    person = api(local_stack, "GET", f"/people/{opened.json()['person_id']}", walsall,
                 params={"search": opened.json()["search_id"]})
    assert person.status_code == 200, person.text
    shown = {r["record_id"] for r in person.json()["records"]}
    assert {case["record_id"], f"wm-police:{reference}"} <= shown
    assert [e for e in local_stack.audit_events("alert-open") if e.get("search_id") == opened.json()["search_id"]]

    seen = api(local_stack, "POST", f"/alerts/{alert['alert_id']}/seen", walsall)
    assert seen.status_code == 200 and seen.json()["seen_at"]


def test_alerts_come_a_page_at_a_time_and_the_count_is_of_the_unseen(local_stack: LocalStackProcess) -> None:
    """On the local stack: ``next`` pages through older alerts, newest first, none twice; a token
    not given by a page is a 400; the navigation's count agrees with the listing's."""
    walsall = token_of(local_stack, ("practitioners",))
    first = api(local_stack, "GET", "/alerts", walsall)
    assert first.status_code == 200, first.text
    listed = first.json()
    seen_ids = [a["alert_id"] for a in listed["alerts"]]
    assert seen_ids == sorted(seen_ids, reverse=True)  # newest first
    pages = 1
    while listed["next"] and pages < 20:
        listed = api(local_stack, "GET", "/alerts", walsall, params={"after": listed["next"]}).json()
        ids = [a["alert_id"] for a in listed["alerts"]]
        assert ids and max(ids) < seen_ids[-1]  # older than every alert of the page before
        seen_ids += ids
        pages += 1
    assert len(seen_ids) == len(set(seen_ids))
    count = api(local_stack, "GET", "/alerts/count", walsall).json()["unseen"]
    assert count == first.json()["unseen"]
    if pages == 1:  # the whole list is one page: every unseen alert is on it
        assert count == sum(1 for a in first.json()["alerts"] if not a["seen_at"])
    bad = api(local_stack, "GET", "/alerts", walsall, params={"after": "ALERTS#wm-police"})
    assert bad.status_code == 400 and "token" in bad.text
