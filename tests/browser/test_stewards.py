"""The data stewards' review queue (issue 18, point 7), in Debian's headless Chromium on `mast local
--demo`: a practitioner reports from the person view that a record shown is someone else; a data
steward finds the report in the review queue, the two records side by side, and decides it; the
report, the steward's look at the queue and the decision are in the audit, and the item has left
the queue. Every page and state is checked by axe at WCAG 2.2 AA (:meth:`Visit.checkpoint`)."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from collections import defaultdict
from typing import Any

import pytest

from infra.local.demo import DEMO_USERS
from tests.browser.test_practitioner import fits
from tests.browser.test_web import STEWARD, declare, fill_search, sign_in
from tests.conftest import LocalStackProcess
from tests.e2e.test_search_api import indexed_records

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

#: Of West Midlands Police: what this test does never shows in Walsall Council's audit, which
#: test_web's audit test reads.
PRACTITIONER = next(u for u in DEMO_USERS if u.groups == ("practitioners",) and u.organisation == "wm-police")


def a_person_with_two_records_shown(stack: LocalStackProcess) -> tuple[dict[str, Any], dict[str, Any]]:
    """Two recent, non-sensitive records of one person (both shown on their page), the first with a
    name and date of birth to search by."""
    recent = (dt.date.today() - dt.timedelta(days=300)).isoformat()
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for item in indexed_records(stack):
        if not item.get("sensitive") and (item.get("record_date") or "") >= recent and not item.get("end_date"):
            by_person[item["person_id"]].append(item)
    for _person, items in sorted(by_person.items()):
        items.sort(key=lambda i: i["record_id"])
        first = next((i for i in items if i.get("given_name") and i.get("family_name") and i.get("dob")), None)
        if first is not None and len(items) >= 2:
            return first, next(i for i in items if i["record_id"] != first["record_id"])
    pytest.fail("the demo has no person with two recent records")


def audit_events(stack: LocalStackProcess, action: str) -> list[dict[str, Any]]:
    return stack.audit_events(action)


def wait_for(stack: LocalStackProcess, action: str, holds: Any) -> list[dict[str, Any]]:
    deadline = time.time() + 20
    while True:
        events = [e for e in audit_events(stack, action) if holds(e)]
        if events or time.time() > deadline:
            return events
        time.sleep(0.5)


def test_a_practitioner_reports_a_wrong_match_and_a_steward_decides_it_from_the_queue(
        visit_factory: Any, local_stack: LocalStackProcess) -> None:
    searched, other = a_person_with_two_records_shown(local_stack)
    reason = f"The police file says a cousin, born elsewhere {uuid.uuid4().hex[:6]}"

    # 1. the practitioner: the person view's "Report a wrong match", refused without words, then sent
    visit = visit_factory()
    page = visit.page
    sign_in(visit, PRACTITIONER.email, PRACTITIONER.password)
    page.wait_for_selector("h1:has-text('Declare why you are searching')")
    purpose = f"Joint visit {uuid.uuid4().hex[:6]}"
    declare(page, purpose)
    fill_search(page, searched)
    page.click("button:has-text('Search')")
    page.wait_for_selector("h1:has-text('found for the last 12 months')")
    page.click(f"#results a[href='#/person/{searched['person_id']}']")
    page.wait_for_selector("#records")
    details = page.locator("#report-details")
    assert details.count() == 1 and not details.get_attribute("open")
    page.click("#report-details summary")
    page.click("#report-submit")
    page.wait_for_selector(".govuk-error-summary:has-text('Select the records that are not this person')")
    assert page.locator(".govuk-error-summary:has-text('Say why these records are not this person')").count() == 1
    assert page.locator("#report-details").get_attribute("open") is not None  # still open, errors beside the fields
    visit.checkpoint("report a wrong match with errors")
    page.set_viewport_size({"width": 320, "height": 800})
    fits(visit, "report a wrong match with errors")  # reflows (WCAG 1.4.10)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.check(f"input[name=report-record][value='{other['record_id']}']")
    page.fill("#report-reason", reason)
    visit.checkpoint("report a wrong match filled in")
    page.click("#report-submit")
    page.wait_for_selector(".govuk-notification-banner:has-text('your report is with the data stewards')")
    visit.checkpoint("report sent")
    visit.assert_clean()
    reported = wait_for(local_stack, "wrong-match-report", lambda e: e.get("purpose") == purpose)
    assert len(reported) == 1 and other["record_id"] in reported[0]["record_ids"]
    assert json.loads(reported[0]["detail"])["reason"] == reason

    # 2. the steward: the report in the queue, both records side by side, decided once
    steward = visit_factory()
    page = steward.page
    sign_in(steward, STEWARD.email, STEWARD.password)
    page.click("a:has-text('Review queue')")
    page.wait_for_selector("h1:has-text('Review queue')")
    item = page.locator(".mast-review-item", has_text=reason)
    assert item.count() == 1
    item_id = item.get_attribute("data-item")
    assert item_id and item_id.startswith("W-")
    assert item.locator("h2").inner_text().endswith("A practitioner reported that these records are not one person")
    sides = item.locator("table").inner_text()
    assert other["source_record_id"] in sides and searched["family_name"].upper() in sides.upper()
    assert "by a practitioner of West Midlands Police" in item.inner_text() and reason in item.inner_text()
    assert "Now shown as one person." in item.inner_text()
    steward.checkpoint("review queue")
    item.locator("button:has-text('Record the decision')").click()
    page.wait_for_selector(".govuk-error-summary:has-text('choose your decision')")
    steward.checkpoint("review queue decision with errors")
    item = page.locator(f".mast-review-item[data-item='{item_id}']")
    item.locator("input[name=decision][value=different]").check()
    item.locator("textarea").fill("Checked with the police: two different men")
    item.locator("button:has-text('Record the decision')").click()
    page.wait_for_selector(".govuk-notification-banner:has-text('Recorded: not the same person')")
    assert page.locator(f".mast-review-item[data-item='{item_id}']").count() == 0  # decided: left the queue
    steward.checkpoint("review queue decision recorded")
    page.set_viewport_size({"width": 320, "height": 800})
    fits(steward, "review queue")
    steward.assert_clean()

    listed = wait_for(local_stack, "review-queue-list", lambda e: other["record_id"] in (e.get("record_ids") or []))
    assert listed and listed[0]["username"] == STEWARD.email
    decided = wait_for(local_stack, "link-decision",
                       lambda e: json.loads(e.get("detail") or "{}").get("review_item") == item_id)
    assert len(decided) == 1 and decided[0]["username"] == STEWARD.email
    assert json.loads(decided[0]["detail"])["decision"] == "different"
    assert other["record_id"] in decided[0]["record_ids"] and len(decided[0]["record_ids"]) == 2
