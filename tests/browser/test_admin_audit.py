"""Administrators and auditors in the browser (issue 18): the audit in words, unusual use on the
page, the filtered audit exported, and safe admin actions. Each page is checked by axe (WCAG 2.2
AA) at its checkpoints, with no console error and no failed request beyond those expected.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest

from mast.audit import AuditEvent, AuditStore, new_event_id
from mast.schema import FORMULA_LEADS
from tests.browser.test_web import ADMIN, AUDITOR, sign_in
from tests.conftest import LocalStackProcess
from tests.e2e.test_admin import audit_table

pytestmark = [pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def seeded(local_stack: LocalStackProcess) -> LocalStackProcess:
    seed_unusual_use(local_stack)
    return local_stack


def wait_for_only_action(page: Any, name: str) -> None:
    """The filtered audit has replaced the page before it (the old table stays until the new answer)."""
    page.wait_for_function("""(name) => {
        const cells = [...document.querySelectorAll('#audit-events tbody tr td:nth-child(3)')];
        return cells.length > 0 && cells.every((td) => td.textContent.trim() === name);
    }""", arg=name)


def seed_unusual_use(stack: LocalStackProcess) -> None:
    """Yesterday 02:30 London time, one search by night.owl; today at 10:00 busy@ searched 30 times
    while twenty colleagues searched once each. And a search whose terms would be a formula in a sheet."""
    store = AuditStore(audit_table(stack), client=stack.client("dynamodb"))
    now = dt.datetime.now(dt.UTC)
    yesterday = (now - dt.timedelta(days=1)).date()

    def search(when: dt.datetime, username: str, **fields: Any) -> None:
        store.write(AuditEvent(event_id=new_event_id(), event_time=when, action="search", user_sub=f"sub-{username}",
                               username=username, organisation="walsall-council", groups=("practitioners",),
                               gateway="ca1989-s47", **{"purpose": "seeded", **fields}))

    search(dt.datetime.combine(yesterday, dt.time(2, 30), dt.UTC), "night.owl@walsall.example")
    office = dt.datetime.combine(now.date(), dt.time(10, 0), dt.UTC)  # office hours in London all year
    for i in range(30):
        search(office + dt.timedelta(seconds=30 + i), "busy@walsall.example")
    for i in range(20):
        search(office + dt.timedelta(seconds=90 + i), f"colleague{i}@walsall.example")
    search(now - dt.timedelta(seconds=5), "pat@walsall.example", purpose="=cmd|' /C calc'!A0",
           search_terms='{"given_name": "@SUM(1+1)", "family_name": "Smith"}')


def test_auditor_finds_out_of_hours_and_unusually_many_searches_on_the_page(
    visit_factory: Any, seeded: LocalStackProcess
) -> None:
    auditor = visit_factory()
    sign_in(auditor, AUDITOR.email, AUDITOR.password)
    page = auditor.page
    page.wait_for_selector("h1:has-text('Audit')")
    page.click("a:has-text('Look for unusual use')")
    page.wait_for_selector("h1:has-text('Unusual use')")
    auditor.checkpoint("unusual use")
    page.check("input[name=query][value=searches-outside-office-hours]")
    page.click("button:has-text('Run the query')")
    page.wait_for_selector("#query-results")
    assert page.locator("#query-results tr", has_text="night.owl@walsall.example").count() == 1
    assert page.locator("#query-results tr", has_text="busy@walsall.example").count() == 0
    auditor.checkpoint("searches out of hours")
    page.check("input[name=query][value=users-with-unusually-many-searches]")
    page.click("button:has-text('Run the query')")
    page.wait_for_selector("#query-results caption:has-text('User-days')")
    rows = page.locator("#query-results tbody tr")
    assert rows.count() == 1 and "busy@walsall.example" in rows.inner_text() and "30" in rows.inner_text()
    auditor.checkpoint("unusually many searches")
    # who opened a record needs its record id: the page asks for it
    page.check("input[name=query][value=who-opened-record]")
    page.click("button:has-text('Run the query')")
    page.wait_for_selector(".govuk-error-summary:has-text('Enter the record id')")
    auditor.checkpoint("record id missing")
    auditor.assert_clean()


def test_auditor_filters_by_organisation_name_and_action_and_exports(
    visit_factory: Any, seeded: LocalStackProcess, tmp_path: Path
) -> None:
    auditor = visit_factory()
    sign_in(auditor, AUDITOR.email, AUDITOR.password)
    page = auditor.page
    page.wait_for_selector("h1:has-text('Audit')")
    page.select_option("#organisation", label="Walsall Council")
    page.select_option("#action", label="Searched")
    page.check("input[name=period][value=day]")
    page.click("button:has-text('Show the audit')")
    page.wait_for_selector("#audit-events caption:has-text('in Walsall Council')")
    actions = page.locator("#audit-events tbody tr td:nth-child(3)").all_inner_texts()
    assert actions and set(actions) == {"Searched"}
    assert "organisation=Walsall+Council" in page.url and "action=search" in page.url
    auditor.checkpoint("audit by organisation name and action")
    with page.expect_download() as download_info:
        page.click("button:has-text('Export these events (CSV)')")
    saved = tmp_path / "audit.csv"
    download_info.value.save_as(saved)
    assert download_info.value.suggested_filename.startswith("mast-audit-walsall-council-")
    page.wait_for_selector("#export-notice:has-text('recorded in the audit')")
    auditor.checkpoint("audit exported")
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"), newline="")))
    assert rows and {r["Action"] for r in rows} == {"Searched"}
    assert {r["Organisation"] for r in rows} == {"Walsall Council"}
    cells = [c for r in rows for c in r.values()]
    assert "'=cmd|' /C calc'!A0" in cells and not [c for c in cells if c.startswith(FORMULA_LEADS)]
    # the export is itself in the audit
    page.select_option("#action", label="Exported the audit")
    page.click("button:has-text('Show the audit')")
    wait_for_only_action(page, "Exported the audit")
    page.wait_for_selector(f"#audit-events tr:has-text('{AUDITOR.email}'):has-text('Exported the audit')")
    auditor.assert_clean()


def test_org_admin_filters_by_action_and_exports(visit_factory: Any, local_stack: LocalStackProcess,
                                                 tmp_path: Path) -> None:
    admin = visit_factory()
    sign_in(admin, ADMIN.email, ADMIN.password)
    admin.goto("audit")
    page = admin.page
    page.wait_for_selector("h1:has-text('Audit')")
    assert page.locator("#organisation").count() == 0  # their own organisation only
    page.select_option("#action", label="Looked at the users")
    page.click("button:has-text('Show the audit')")
    wait_for_only_action(page, "Looked at the users")
    page.wait_for_selector(f"#audit-events tr:has-text('{ADMIN.email}'):has-text('Looked at the users')")
    assert set(page.locator("#audit-events tbody tr td:nth-child(3)").all_inner_texts()) == {"Looked at the users"}
    admin.checkpoint("org-admin audit by action")
    with page.expect_download() as download_info:
        page.click("button:has-text('Export these events (CSV)')")
    saved = tmp_path / "admin.csv"
    download_info.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"), newline="")))
    assert rows and {r["Action"] for r in rows} == {"Looked at the users"}
    assert {r["Organisation"] for r in rows} == {"Walsall Council"}
    admin.assert_clean()


def test_refusing_asks_for_a_reason_that_shows_in_the_audit_and_no_one_disables_themselves(
    visit_factory: Any, local_stack: LocalStackProcess
) -> None:
    import uuid

    import requests

    email = f"refused.{uuid.uuid4().hex[:8]}@walsall.example"
    asked = requests.post(f"{local_stack.url}/api/access-requests", timeout=30, json={
        "name": "Rene Refused", "email": email, "organisation": "walsall-council", "role": "practitioner",
        "reason": "Curious"})
    assert asked.status_code == 202, asked.text
    admin = visit_factory()
    sign_in(admin, ADMIN.email, ADMIN.password)
    page = admin.page
    page.wait_for_selector("h1:has-text('Users')")
    # their own row offers no Disable; the API refuses it anyway
    mine = page.locator("#users tr", has_text=ADMIN.email)
    assert mine.locator(".govuk-button:has-text('Disable')").count() == 0
    assert "This is you" in mine.inner_text()
    admin.checkpoint("users: no disable on one's own row")
    admin.expect_failure(409, "/disable")
    refused = page.evaluate("""async () => {
        const tokens = JSON.parse(sessionStorage.getItem('mast.tokens') || 'null');
        const users = await (await fetch('/api/users', { headers: { Authorization: tokens.idToken } })).json();
        const me = users.users.find((u) => u.is_you);
        const reply = await fetch(`/api/users/${encodeURIComponent(me.id)}/disable`, { method: 'POST',
          headers: { Authorization: tokens.idToken, 'Content-Type': 'application/json' }, body: '{"reason": "x"}' });
        return { status: reply.status, body: await reply.json() };
    }""")
    assert refused["status"] == 409 and refused["body"]["message"].startswith("You cannot disable your own account")
    # refusing asks for confirmation and a reason
    page.locator("#access-requests tr", has_text=email).locator(".govuk-button--warning:has-text('Refuse')").click()
    page.wait_for_selector("h1:has-text('Refuse access for Rene Refused')")
    page.click("button:has-text('Yes, refuse access')")
    page.wait_for_selector(".govuk-error-summary:has-text('Enter the reason')")
    admin.checkpoint("refuse without a reason")
    page.fill("#reason", "Not in a safeguarding role")
    page.click("button:has-text('Yes, refuse access')")
    page.wait_for_selector(f".govuk-notification-banner:has-text('Access refused for {email}')")
    # the reason is in the audit, in words
    admin.goto("audit")
    page.wait_for_selector("h1:has-text('Audit')")
    page.select_option("#action", label="Refused an access request")
    page.click("button:has-text('Show the audit')")
    wait_for_only_action(page, "Refused an access request")
    row = page.locator("#audit-events tr", has_text=email)
    row.wait_for()
    assert "reason given: Not in a safeguarding role" in row.inner_text()
    admin.checkpoint("refusal in the audit")
    admin.assert_clean()


def test_linkage_report_names_partners_draws_each_table_once_and_clips_no_label(visit_factory: Any) -> None:
    admin = visit_factory()
    sign_in(admin, ADMIN.email, ADMIN.password)
    page = admin.page
    page.click("a:has-text('Linkage report')")
    page.wait_for_selector("svg.mast-chart")
    text = page.locator("main").inner_text()
    assert "West Midlands Police" in text and "wm-police" not in text and "walsall-council" not in text
    assert page.locator("table").count() == 1 and page.locator("svg.mast-chart").count() == 1
    clipped = page.evaluate("""() => [...document.querySelectorAll('svg.mast-chart')].flatMap((svg) => {
        const box = svg.viewBox.baseVal;
        return [...svg.querySelectorAll('text')].map((t) => [t.textContent, t.getBBox()])
          .filter(([, b]) => b.x < box.x || b.x + b.width > box.x + box.width).map(([label]) => label);
    })""")
    assert clipped == []
    admin.checkpoint("linkage report in names")
    admin.assert_clean()
