"""The stewards' review queue through the search function (moto): a practitioner reports a wrong
match on a person view, a steward lists the queue (both records side by side, as a steward may see
them) and decides each item once through ``POST /link-decisions``; every step audited, and every
route refusing the wrong group and a token of an organisation outside the partnership."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from mast.linkage.review import ReviewPair
from mast.stewardship.queue import ReviewQueue
from tests.unit.test_api_search import (
    DECLARATION,
    WILLIAM,
    Deployment,
    audit_events,
    call,
    claims,
    deployment,
    search_for,
)

A_AND_E = "walsall-nhs-ae:A-9002"
SENSITIVE = "walsall-adults:C-9003"
OUTSIDER_STEWARD = claims("u-out", "elsewhere-council", "data-stewards")


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployment]:
    yield from deployment()


def opened(d: Deployment, who: str = "practitioner") -> tuple[str, str]:
    status, found = search_for(d, {"given_name": "William", "family_name": "Hargreaves",
                                   "dob": {"day": 7, "month": 3, "year": 1984}}, who)
    assert status == 200, found
    person = d.person_of(WILLIAM)
    status, view = call(d, "GET", f"/people/{person}", who, query={"search": found["search_id"]})
    assert status == 200, view
    return found["search_id"], person


def report(d: Deployment, who: str | dict[str, str], person: str, search_id: str, body: Any) -> tuple[int, dict[str, Any]]:
    return call(d, "POST", f"/people/{person}/wrong-match", who, body, {"search": search_id})


def queue_items(d: Deployment) -> list[dict[str, Any]]:
    status, body = call(d, "GET", "/review-queue", "data steward")
    assert status == 200, body
    return list(body["items"])


def test_a_practitioners_report_reaches_the_queue_side_by_side_and_is_decided_once(deployed: Deployment) -> None:
    search_id, person = opened(deployed)
    before = len(audit_events(deployed))
    status, answer = report(deployed, "practitioner", person, search_id,
                            {"record_ids": [A_AND_E], "reason": "A&E says this is his cousin, born the same day"})
    assert status == 201, answer
    [item_id] = answer["items"]
    reported = [e for e in audit_events(deployed)[before:] if e["action"] == "wrong-match-report"]
    assert len(reported) == 1 and reported[0]["user_sub"] == "u-prac" and reported[0]["search_id"] == search_id
    assert reported[0]["gateway"] == DECLARATION["gateway"] and A_AND_E in reported[0]["record_ids"]
    assert "cousin" in json.loads(reported[0]["detail"])["reason"]

    before = len(audit_events(deployed))
    item = next(i for i in queue_items(deployed) if i["item_id"] == item_id)
    assert item["kind"] == "reported" and item["reports"] == 1 and "cousin" in item["reason"]
    assert item["reported_by"] == "Walsall Council" and item["together_now"] is True
    sides = {item["record_a"]["record_id"], item["record_b"]["record_id"]}
    assert A_AND_E in sides and WILLIAM in sides  # beside the record the search matched
    assert all(side["full_name"] and side["partner_name"] for side in (item["record_a"], item["record_b"]))
    listed = [e for e in audit_events(deployed)[before:] if e["action"] == "review-queue-list"]
    assert len(listed) == 1 and {A_AND_E, WILLIAM} <= set(listed[0]["record_ids"])
    assert listed[0]["user_sub"] == "u-steward"

    decision = {"decision": "different", "review_item": item_id, "reason": "checked with A&E: two men"}
    status, decided = call(deployed, "POST", "/link-decisions", "data steward", decision)
    assert status == 201, decided
    assert set(decided["record_ids"]) == {A_AND_E, WILLIAM} and decided["relink_queued"] is True
    assert decided["review_item"] == item_id
    audited = [e for e in audit_events(deployed) if e["action"] == "link-decision"][-1]
    assert json.loads(audited["detail"])["review_item"] == item_id and set(audited["record_ids"]) == sides
    from mast.access.decisions import DecisionStore

    kept = DecisionStore("control", deployed.ddb).all()[-1]
    assert {kept.record_a, kept.record_b} == sides and kept.decision == "not_same"
    assert item_id not in {i["item_id"] for i in queue_items(deployed)}
    status, again = call(deployed, "POST", "/link-decisions", "data steward", {**decision, "decision": "same"})
    assert status == 409 and "already decided (not the same person)" in again["message"]
    assert "Each item is decided once." in again["message"]
    refused = [e for e in audit_events(deployed) if e["action"] == "refused"][-1]
    assert json.loads(refused["detail"])["status"] == 409


def test_leave_closes_an_item_without_deciding_about_its_records(deployed: Deployment) -> None:
    from mast.access.decisions import DecisionStore

    ReviewQueue("control", deployed.ddb).add_pairs([ReviewPair(WILLIAM, "walsall-adults:C-9010", "held-apart", 7.5,
                                                               0.99, ("namesakes",))])
    item = next(i for i in queue_items(deployed) if i["kind"] == "held-apart")
    assert "Held apart by a guard" in item["why"] and "parent and child" in item["why"]
    assert item["together_now"] is False
    decisions_before = len(DecisionStore("control", deployed.ddb).all())
    status, left = call(deployed, "POST", "/link-decisions", "data steward",
                        {"decision": "leave", "review_item": item["item_id"], "reason": "his mother: rightly apart"})
    assert status == 201, left
    assert left["relink_queued"] is False and len(DecisionStore("control", deployed.ddb).all()) == decisions_before
    audited = [e for e in audit_events(deployed) if e["action"] == "link-decision"][-1]
    assert json.loads(audited["detail"])["decision"] == "leave"


def test_a_sensitive_record_is_shown_to_a_steward_only_as_the_person_view_shows_it(deployed: Deployment) -> None:
    ReviewQueue("control", deployed.ddb).add_pairs([ReviewPair(SENSITIVE, A_AND_E, "just-under", 3.0, 0.89)])
    item = next(i for i in queue_items(deployed) if i["kind"] == "just-under")
    sensitive = next(s for s in (item["record_a"], item["record_b"]) if s["sensitive"])
    assert all(sensitive[k] is None for k in ("record_id", "case_ref", "full_name", "date_of_birth", "full_address"))
    assert sensitive["partner_name"] == "Walsall Council" and sensitive["contact"]["phone"]
    # decided by the item alone: the sensitive record's id never went to the page
    status, decided = call(deployed, "POST", "/link-decisions", "data steward",
                           {"decision": "different", "review_item": item["item_id"], "reason": "different people"})
    assert status == 201 and SENSITIVE in decided["record_ids"]


@pytest.mark.parametrize("body, words", [
    ({"record_ids": [SENSITIVE], "reason": "not him at all"}, "only records shown to you"),
    ({"record_ids": [A_AND_E], "reason": "..."}, "must say something"),
    ({"record_ids": [A_AND_E], "reason": "\u200b\u200b\u200b\u200b"}, "must say something"),
    ({"record_ids": [], "reason": "not him at all"}, None),
], ids=["sensitive-record", "no-words", "invisible-words", "no-record"])
def test_a_report_names_records_shown_and_gives_a_reason_in_words(deployed: Deployment, body: dict[str, Any],
                                                                   words: str | None) -> None:
    search_id, person = opened(deployed)
    status, answer = report(deployed, "practitioner", person, search_id, body)
    assert status == 400, answer
    if words:
        assert words in json.dumps(answer)


def test_every_record_of_a_person_cannot_be_reported_as_someone_else(deployed: Deployment) -> None:
    status, found = search_for(deployed, {"given_name": "Mary", "family_name": "Hargreaves",
                                          "dob": {"day": 20, "month": 11, "year": 1956}})
    assert status == 200, found
    mary = deployed.person_of("walsall-adults:C-9010")
    assert call(deployed, "GET", f"/people/{mary}", "practitioner", query={"search": found["search_id"]})[0] == 200
    status, answer = report(deployed, "practitioner", mary, found["search_id"],
                            {"record_ids": ["walsall-adults:C-9010"], "reason": "not her"})
    assert status == 400 and "leave at least one record" in answer["message"]


@pytest.mark.parametrize("who, expected", [
    ("no token", 401), ("org-admin same org", 403), ("auditor", 403), ("other practitioner", 404),
])
def test_reporting_is_for_the_searcher_of_the_person(deployed: Deployment, who: str, expected: int) -> None:
    search_id, person = opened(deployed)
    status, answer = report(deployed, who, person, search_id, {"record_ids": [A_AND_E], "reason": "not him at all"})
    assert status == expected and answer["message"]


@pytest.mark.parametrize("who", ["practitioner", "org-admin same org", "auditor", "no token"])
def test_only_data_stewards_see_the_queue(deployed: Deployment, who: str) -> None:
    status, answer = call(deployed, "GET", "/review-queue", who)
    assert status in (401, 403) and answer["message"]
    assert "items" not in answer


def test_a_steward_of_an_organisation_outside_the_partnership_is_refused_and_audited(deployed: Deployment) -> None:
    before = len(audit_events(deployed))
    status, answer = call(deployed, "GET", "/review-queue", OUTSIDER_STEWARD)
    assert status == 403 and "not a member of this partnership" in answer["message"]
    status, answer = call(deployed, "POST", "/link-decisions", OUTSIDER_STEWARD,
                          {"decision": "same", "record_ids": [WILLIAM, A_AND_E], "reason": "same man"})
    assert status == 403 and "not a member of this partnership" in answer["message"]
    added = audit_events(deployed)[before:]
    assert [e["action"] for e in added] == ["refused", "refused"] and all(e["user_sub"] == "u-out" for e in added)


@pytest.mark.parametrize("body, field", [
    ({"decision": "leave", "record_ids": [WILLIAM, A_AND_E], "reason": "fine as it is"}, "review_item"),
    ({"decision": "same", "reason": "same man"}, "record ids"),
    ({"decision": "same", "review_item": "L-0000", "reason": "same man"}, "review_item"),
])
def test_a_decision_body_says_what_is_wrong(deployed: Deployment, body: dict[str, Any], field: str) -> None:
    status, answer = call(deployed, "POST", "/link-decisions", "data steward", body)
    assert status == 400 and field in json.dumps(answer)


def test_an_unknown_item_is_404_and_another_items_records_are_refused(deployed: Deployment) -> None:
    status, answer = call(deployed, "POST", "/link-decisions", "data steward",
                          {"decision": "same", "review_item": "W-" + "0" * 20, "reason": "same man"})
    assert status == 404 and "no item" in answer["message"]
    ReviewQueue("control", deployed.ddb).add_pairs([ReviewPair("wm-police:P-9004", "wm-police:P-9005", "just-under",
                                                               3.5, 0.9)])
    item = next(i for i in queue_items(deployed) if i["record_a"] and i["record_a"]["case_ref"] == "P-9004")
    status, answer = call(deployed, "POST", "/link-decisions", "data steward",
                          {"decision": "same", "review_item": item["item_id"], "record_ids": [WILLIAM, A_AND_E],
                           "reason": "same man"})
    assert status == 400 and "not the review item's" in answer["message"]
    assert item["item_id"] in {i["item_id"] for i in queue_items(deployed)}  # still open: nothing was decided


def test_a_decision_that_cannot_be_audited_is_not_made_and_the_item_stays_open(deployed: Deployment) -> None:
    import os

    ReviewQueue("control", deployed.ddb).add_pairs([ReviewPair("wm-police:P-9005", A_AND_E, "just-under", 3.2, 0.9)])
    item = next(i for i in queue_items(deployed) if i["record_a"] and i["record_a"]["case_ref"] == "P-9005"
                or i["record_b"] and i["record_b"]["case_ref"] == "P-9005")
    saved = os.environ["AUDIT_TABLE"]
    os.environ["AUDIT_TABLE"] = "no-such-audit-table"
    try:
        status, answer = call(deployed, "POST", "/link-decisions", "data steward",
                              {"decision": "same", "review_item": item["item_id"], "reason": "one man"})
    finally:
        os.environ["AUDIT_TABLE"] = saved
    assert status == 503 and "could not be recorded in the audit" in answer["message"]
    assert item["item_id"] in {i["item_id"] for i in queue_items(deployed)}  # given back: still to decide
    status, decided = call(deployed, "POST", "/link-decisions", "data steward",
                           {"decision": "same", "review_item": item["item_id"], "reason": "one man"})
    assert status == 201, decided
