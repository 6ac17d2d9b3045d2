"""The Alerts page (issue 17), in Debian's headless Chromium on `mast local --demo`: a police
incident for a child with an open children's case reaches Walsall Council's practitioner as an
alert (a count in the navigation, the card naming the police, the date and whom to call); opening
the person asks for a declaration first and then shows the police record; marking it seen clears
the count; the police, whose record the person view showed, see who looked and why ("who looked at
our records"). Every state is checked by axe at WCAG 2.2 AA, and the pages reflow at 320 px."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from pathlib import Path
from typing import Any

import pytest

from infra.local.demo import DEMO_USERS
from tests.browser.test_practitioner import fits
from tests.browser.test_web import sign_in
from tests.conftest import LocalStackProcess
from tests.e2e.test_alerts import an_open_childrens_case, police_extract, wait_for_alert
from tests.e2e.test_local_stack import _sftp
from tests.e2e.test_search_api import token_of

pytestmark = [pytest.mark.e2e, pytest.mark.browser]
PRACTITIONER = next(u for u in DEMO_USERS if u.groups == ("practitioners",) and u.organisation == "walsall-council")
AUDITOR = next(u for u in DEMO_USERS if u.groups == ("auditors",))
POLICE_ADMIN = next(u for u in DEMO_USERS if u.groups == ("org-admins",) and u.organisation == "wm-police")


def test_a_practitioner_reads_an_alert_opens_the_person_under_a_declaration_and_marks_it_seen(
        visit_factory: Any, local_stack: LocalStackProcess, tmp_path: Path) -> None:
    case = an_open_childrens_case(local_stack)
    reference = f"26WM{secrets.randbelow(10**7):07d}-N1"
    extract = tmp_path / "police-alert.csv"
    extract.write_bytes(police_extract(case, reference, dt.datetime.now(dt.UTC).date()))
    assert _sftp(local_stack, "wm-police", f"put {extract} police-alert-{reference}.csv\n").returncode == 0
    alert = wait_for_alert(local_stack, token_of(local_stack, ("practitioners",)), f"wm-police:{reference}")

    visit = visit_factory()
    page = visit.page
    sign_in(visit, PRACTITIONER.email, PRACTITIONER.password)
    page.wait_for_selector("a[href='#/alerts'] .mast-nav-count")  # new alerts counted in the navigation
    page.click("a[href='#/alerts']")
    page.wait_for_selector("h1:has-text('Alerts')")
    card = page.locator(f".mast-alert[data-alert='{alert['alert_id']}']")
    assert card.count() == 1
    text = card.inner_text()
    assert "West Midlands Police" in text and "New" in text and "Walsall Public Protection Unit" in text
    assert case["source_record_id"] in text  # the council's own case reference
    assert case["family_name"].lower() not in text.lower()  # the person is named only once opened
    visit.checkpoint("alerts")
    page.set_viewport_size({"width": 320, "height": 800})
    fits(visit, "alerts")
    page.set_viewport_size({"width": 1280, "height": 900})

    # opening the person is a search: a declaration first, then the person with the police record
    card.locator("button.mast-open-alert").click()
    page.wait_for_selector("h1:has-text('Declare why you are searching')")
    assert "Opening the person of an alert is a search" in page.inner_text("main")
    page.check("input[name=gateway][value=ca1989-s47]")
    page.fill("#purpose", f"Police alert {reference}")
    page.click("button:has-text('Confirm and continue')")
    page.wait_for_selector("#records")
    assert reference in page.inner_text("#records") or f"wm-police:{reference}" in page.content()
    assert page.locator("a.govuk-back-link:has-text('Back to the alerts')").count() == 1
    visit.checkpoint("person opened from an alert")
    # and watch them beyond the case: the council is alerted for 90 days whatever happens to it
    page.click("#watch")
    page.wait_for_selector(".govuk-notification-banner:has-text('will be alerted until')")
    visit.checkpoint("person watched")

    page.click("a.govuk-back-link:has-text('Back to the alerts')")
    page.wait_for_selector("h1:has-text('Alerts')")
    card = page.locator(f".mast-alert[data-alert='{alert['alert_id']}']")
    card.locator("button.mast-seen-alert").click()
    page.wait_for_selector(".govuk-notification-banner:has-text('marked as seen')")
    card = page.locator(f".mast-alert[data-alert='{alert['alert_id']}']")
    assert "Not yet" not in card.inner_text() and PRACTITIONER.email in card.inner_text()
    visit.checkpoint("alert marked as seen")
    visit.assert_clean()

    # the police learn who outside them opened a person whose records they supplied, and why
    police = visit_factory()
    sign_in(police, POLICE_ADMIN.email, POLICE_ADMIN.password)
    police.goto("audit")
    police.page.wait_for_selector("h1:has-text('Audit')")
    police.page.click("a:has-text('Who looked at our records')")
    deadline = time.time() + 60
    while f"Police alert {reference}" not in police.page.inner_text("main") and time.time() < deadline:
        time.sleep(2)  # the audit's stream writes it a moment after the look
        police.reload()
        police.page.wait_for_selector("h1:has-text('Who looked at our records')")
    rows = police.page.locator("#accesses tr", has_text=f"Police alert {reference}")
    # opening from the alert, then the person view it led to: two looks, both on the police's page
    assert sorted(rows.nth(i).locator("td[data-label=What]").inner_text() for i in range(rows.count())) == [
        "Opened a person", "Opened a person from an alert"]
    for i in range(rows.count()):
        text = rows.nth(i).inner_text()
        assert PRACTITIONER.email in text and "Walsall Council" in text and f"wm-police:{reference}" in text
    police.checkpoint("who looked at our records")
    police.page.set_viewport_size({"width": 320, "height": 800})
    fits(police, "who looked at our records")
    police.assert_clean()


def test_an_auditor_downloads_a_subject_access_file(visit_factory: Any, local_stack: LocalStackProcess) -> None:
    case = an_open_childrens_case(local_stack)
    visit = visit_factory()
    page = visit.page
    sign_in(visit, AUDITOR.email, AUDITOR.password)
    visit.goto("audit")
    page.wait_for_selector("h1:has-text('Audit')")
    page.click("a:has-text('Subject access')")
    page.wait_for_selector("h1:has-text('Subject access')")
    page.click("button:has-text('Download CSV')")
    page.wait_for_selector(".govuk-error-summary:has-text('Enter a record id of the person')")
    visit.checkpoint("subject access with an error")
    page.fill("#record-ids", case["record_id"])
    with page.expect_download() as info:
        page.click("button:has-text('Download CSV')")
    text = Path(info.value.path()).read_text(encoding="utf-8-sig")
    rows = text.splitlines()
    assert rows[0].startswith("section,record_id")
    assert any(r.startswith(f"record,{case['record_id']},") for r in rows)
    page.wait_for_selector("#subject-access-notice:has-text('recorded in the audit')")
    visit.checkpoint("subject access downloaded")
    page.set_viewport_size({"width": 320, "height": 800})
    fits(visit, "subject access")
    visit.assert_clean()


def test_an_auditor_names_the_person_by_the_requesters_details(visit_factory: Any, local_stack: LocalStackProcess) -> None:
    """Subject access as an Article 15 request names its writer: name, date of birth, postcode."""
    case = an_open_childrens_case(local_stack)
    dob = dt.date.fromisoformat(case["dob"])
    visit = visit_factory()
    page = visit.page
    sign_in(visit, AUDITOR.email, AUDITOR.password)
    visit.goto("subject-access")
    page.wait_for_selector("h1:has-text('Subject access')")
    page.fill("#sar-given-name", case["given_name"])
    page.fill("#sar-family-name", case["family_name"])
    page.click("button:has-text('Download CSV')")
    page.wait_for_selector(".govuk-error-summary:has-text('full date of birth')")
    visit.checkpoint("subject access by details with an error")
    page.fill("#sar-dob-day", str(dob.day))
    page.fill("#sar-dob-month", str(dob.month))
    page.fill("#sar-dob-year", str(dob.year))
    page.fill("#sar-postcode", case["postcode"])
    with page.expect_download() as info:
        page.click("button:has-text('Download CSV')")
    rows = Path(info.value.path()).read_text(encoding="utf-8-sig").splitlines()
    assert any(r.startswith(f"record,{case['record_id']},") for r in rows)
    page.wait_for_selector("#subject-access-notice:has-text('recorded in the audit')")
    visit.checkpoint("subject access by details downloaded")
    page.set_viewport_size({"width": 320, "height": 800})
    fits(visit, "subject access by details")
    visit.assert_clean()


def test_the_linkage_report_shows_overdue_feeds_and_the_weeks_new_overlaps(visit_factory: Any) -> None:
    visit = visit_factory()
    page = visit.page
    sign_in(visit, POLICE_ADMIN.email, POLICE_ADMIN.password)
    visit.goto("linkage")
    page.wait_for_selector("h1:has-text('Linkage report')")
    page.wait_for_selector("h2#new-overlaps:has-text('New overlaps since the previous week')")
    page.wait_for_selector("h2#overdue-feeds:has-text('Overdue feeds')")
    # overdue by coverage's rule (the unit tests hold each state): a table of them, or a line saying none is
    page.wait_for_selector("#overdue-list")
    overdue = page.locator("dl#overdue-list .govuk-summary-list__row")
    for i in range(overdue.count()):
        assert "due every" in overdue.nth(i).inner_text()
    if not overdue.count():
        assert "Every feed has sent data within its cadence" in page.inner_text("#overdue-list")
    page.wait_for_selector("#weekly-change")
    visit.checkpoint("linkage report with feed health")
    page.set_viewport_size({"width": 320, "height": 800})
    fits(visit, "linkage report with feed health")
    visit.assert_clean()


POLICE_PRACTITIONER = next(u for u in DEMO_USERS if u.groups == ("practitioners",) and u.organisation == "wm-police")


def test_older_alerts_are_a_page_away(visit_factory: Any, local_stack: LocalStackProcess) -> None:
    """More alerts than a page: the first page, newest first, offers "Older alerts", which shows the
    rest and a way back. 105 alerts for the police, written by the alert store into the stack's
    control table (as a match run writes them; a hundred linked incidents would take the suite far
    longer), dated last year so that they sort after any the stack's own runs make."""
    from mast.alerts import Alert, AlertStore
    from mast.alerts.store import PAGE
    from mast.records import PartnerContact

    ddb = local_stack.client("dynamodb")
    control = next(t for t in ddb.list_tables()["TableNames"] if t.endswith("-control"))
    now = dt.datetime.now(dt.UTC)
    day0 = dt.date(now.year - 1, 1, 1)
    alerts = []
    for n in range(PAGE + 5):
        record_id, day = f"walsall-nhs-ae:PAGING-{n:03d}", day0 + dt.timedelta(days=n)
        alerts.append(Alert(
            alert_id=Alert.make_id("wm-police", record_id, day), organisation="wm-police", made_at=now,
            expires_at=now + dt.timedelta(days=90), kind="person", partner="walsall-healthcare",
            partner_name="Walsall Healthcare NHS Trust", feed_name="A&E attendances", record_date=day,
            contact=PartnerContact(team="Safeguarding team", phone="01922 000000"), record_id=record_id,
            case_record_ids=("wm-police:PAGING-CASE",), case_references=("PAGING-CASE",)))
    AlertStore(control, ddb).add(alerts)
    oldest = sorted(alerts, key=lambda a: a.alert_id)[:5]

    visit = visit_factory()
    page = visit.page
    sign_in(visit, POLICE_PRACTITIONER.email, POLICE_PRACTITIONER.password)
    visit.goto("alerts")
    page.wait_for_selector("h1:has-text('Alerts')")
    assert page.locator(".mast-alert").count() == PAGE
    assert not [a for a in oldest if page.locator(f".mast-alert[data-alert='{a.alert_id}']").count()]
    page.click("#older-alerts")
    page.wait_for_selector("a[rel=prev]:has-text('Newest alerts')")
    for alert in oldest:
        assert page.locator(f".mast-alert[data-alert='{alert.alert_id}']").count() == 1
    assert page.locator("#older-alerts").count() == 0  # the last page
    visit.checkpoint("older alerts")
    page.set_viewport_size({"width": 320, "height": 800})
    fits(visit, "older alerts")
    visit.assert_clean()
