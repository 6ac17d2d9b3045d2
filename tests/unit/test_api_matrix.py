"""Authorisation matrix of the search function: every route x every kind of caller, in the handler
(the gateway's authorizer is not relied on: a route that lost it must still refuse)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_api_search import DECLARATION, PERSONAS, WILLIAM, Deployment, call, deployed  # noqa: F401

SEARCH = {"declaration": DECLARATION,
          "query": {"given_name": "William", "family_name": "Hargreaves", "dob": {"day": 7, "month": 3, "year": 1984}}}
DECISION = {"decision": "same", "record_ids": [WILLIAM, "walsall-nhs-ae:A-9002"], "reason": "same NHS number seen"}
WRONG_MATCH = {"record_ids": ["walsall-nhs-ae:A-9002"], "reason": "not the same man: A&E says a cousin"}

#: route -> expected status per persona (the person route opens the practitioner's own search)
MATRIX: dict[str, dict[str, int]] = {
    "GET /health": dict.fromkeys(PERSONAS, 200),
    "GET /openapi.json": dict.fromkeys(PERSONAS, 200),
    "GET /declaration-options": {"no token": 401, "practitioner": 200, "other practitioner": 200,
                                 "org-admin same org": 403, "org-admin other org": 403, "auditor": 403,
                                 "data steward": 200},
    "POST /search": {"no token": 401, "practitioner": 200, "other practitioner": 200, "org-admin same org": 403,
                     "org-admin other org": 403, "auditor": 403, "data steward": 200},
    "GET /people/{id}": {"no token": 401, "practitioner": 200, "other practitioner": 404,
                         "org-admin same org": 403, "org-admin other org": 403, "auditor": 403,
                         "data steward": 404},
    "POST /people/{id}/print": {"no token": 401, "practitioner": 201, "other practitioner": 404,
                                "org-admin same org": 403, "org-admin other org": 403, "auditor": 403,
                                "data steward": 404},
    "POST /people/{id}/wrong-match": {"no token": 401, "practitioner": 201, "other practitioner": 404,
                                      "org-admin same org": 403, "org-admin other org": 403, "auditor": 403,
                                      "data steward": 404},
    "GET /review-queue": {"no token": 401, "practitioner": 403, "other practitioner": 403,
                          "org-admin same org": 403, "org-admin other org": 403, "auditor": 403,
                          "data steward": 200},
    "GET /coverage": {"no token": 401, "practitioner": 200, "other practitioner": 200, "org-admin same org": 200,
                      "org-admin other org": 200, "auditor": 200, "data steward": 200},
    "GET /linkage-report": {"no token": 401, "practitioner": 403, "other practitioner": 403,
                            "org-admin same org": 200, "org-admin other org": 200, "auditor": 200,
                            "data steward": 200},
    "POST /link-decisions": {"no token": 401, "practitioner": 403, "other practitioner": 403,
                             "org-admin same org": 403, "org-admin other org": 403, "auditor": 403,
                             "data steward": 201},
    # the alert is Walsall Council's: another organisation's users find none of that id
    "GET /alerts": {"no token": 401, "practitioner": 200, "other practitioner": 200, "org-admin same org": 200,
                    "org-admin other org": 200, "auditor": 403, "data steward": 403},
    "GET /alerts/count": {"no token": 401, "practitioner": 200, "other practitioner": 200,
                          "org-admin same org": 200, "org-admin other org": 200, "auditor": 403,
                          "data steward": 403},
    "POST /alerts/{id}/seen": {"no token": 401, "practitioner": 200, "other practitioner": 404,
                               "org-admin same org": 200, "org-admin other org": 404, "auditor": 403,
                               "data steward": 403},
    "POST /alerts/{id}/open": {"no token": 401, "practitioner": 201, "other practitioner": 404,
                               "org-admin same org": 403, "org-admin other org": 403, "auditor": 403,
                               "data steward": 403},
}


@pytest.fixture(scope="module")
def own_search(deployed: Deployment) -> tuple[str, str]:  # noqa: F811
    status, body = call(deployed, "POST", "/search", "practitioner", SEARCH)
    assert status == 200
    return body["search_id"], deployed.person_of(WILLIAM)


@pytest.fixture(scope="module")
def walsall_alert(deployed: Deployment) -> str:  # noqa: F811
    """An alert of Walsall Council's about William's case (stored as the match run stores one)."""
    import datetime as dt

    from mast.alerts import Alert, AlertStore
    from mast.records import PartnerContact

    now = dt.datetime.now(dt.UTC)
    alert = Alert(alert_id=Alert.make_id("walsall-council", "walsall-nhs-ae:A-9002", dt.date(2026, 11, 30)),
                  organisation="walsall-council", made_at=now, expires_at=now + dt.timedelta(days=90), kind="person",
                  partner="walsall-healthcare", partner_name="Walsall Healthcare NHS Trust", feed_name="A&E",
                  record_date=dt.date(2026, 11, 30), contact=PartnerContact(team="A&E safeguarding"),
                  record_id="walsall-nhs-ae:A-9002", case_record_ids=(WILLIAM,), case_references=("C-1",))
    AlertStore("control", deployed.ddb).add([alert])
    return alert.alert_id


@pytest.mark.parametrize("persona", list(PERSONAS))
@pytest.mark.parametrize("route", list(MATRIX))
def test_route_by_caller(deployed: Deployment, own_search: tuple[str, str], walsall_alert: str, route: str,  # noqa: F811
                         persona: str) -> None:
    method, path = route.split(" ")
    body: Any = None
    query = None
    if path == "/search":
        body = SEARCH
    elif path == "/link-decisions":
        body = DECISION
    elif path == "/people/{id}/wrong-match":
        body = WRONG_MATCH
    elif path == "/alerts/{id}/open":
        body = {"declaration": SEARCH["declaration"]}
    if path.startswith("/alerts/{id}"):
        path = path.replace("{id}", walsall_alert)
    if path in ("/people/{id}", "/people/{id}/print", "/people/{id}/wrong-match"):
        search_id, person = own_search
        path, query = path.replace("{id}", person), {"search": search_id}
    status, answer = call(deployed, method, path, persona, body, query)
    assert status == MATRIX[route][persona], (route, persona, answer)
    if status in (401, 403, 404):
        assert answer["message"]


def test_the_matrix_covers_every_route_of_the_search_function() -> None:
    from mast.api.openapi import operations

    assert {f"{op.method} {op.path}" for op in operations() if op.function == "SearchFunction"} == set(MATRIX)
