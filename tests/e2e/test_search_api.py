"""Search on the local stack, end to end: the demo's generated extracts, ingested through SFTP and
linked by the match function, searched by a signed-in practitioner with a swapped date of birth and
a nickname; the audit (read by the auditor through the API) shows that search; schemathesis fuzzes
every documented route with real tokens and finds no server error."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from infra.local.demo import DEMO_USERS
from mast.index import layout
from mast.normalise.names import nickname_groups, nickname_names
from tests.conftest import LocalStackProcess
from tests.e2e.test_local_stack import sign_in

pytestmark = pytest.mark.e2e
DECLARATION = {"gateway": "care2014-s42", "purpose": "adult safeguarding enquiry 2026/77"}


def token_of(stack: LocalStackProcess, groups: tuple[str, ...], organisation: str = "walsall-council") -> str:
    user = next(u for u in DEMO_USERS if u.groups == groups and u.organisation == organisation)
    return str(sign_in(stack, user.email, user.password)["IdToken"])


def api(stack: LocalStackProcess, method: str, path: str, token: str | None, **kwargs: Any) -> requests.Response:
    headers = {**({"Authorization": token} if token else {}), **kwargs.pop("headers", {})}
    return requests.request(method, f"{stack.url}/api{path}", headers=headers, timeout=60, **kwargs)


def indexed_records(stack: LocalStackProcess) -> list[dict[str, Any]]:
    """The live version's records, read straight from the table holding them (waits for the first link), as
    plain JSON values (:func:`mast.index.layout.record_from_item`: the reader's own decoding)."""
    ddb = stack.client("dynamodb")
    table = next(t for t in ddb.list_tables()["TableNames"] if t.endswith("-index"))
    deadline = time.time() + 240
    while time.time() < deadline:
        live = ddb.get_item(TableName=table, Key={"pk": {"S": "INDEX"}, "sk": {"S": "LIVE"}}).get("Item")
        if live:
            prefix = f"V#{live['version']['S']}#R#"
            items: list[dict[str, Any]] = []
            # an imported version's items are in the table(s) the pointer names (issue 15)
            for holding in layout.VersionTables.of_item(live, table).names():
                kwargs: dict[str, Any] = {"TableName": holding, "FilterExpression": "begins_with(pk, :p) AND sk = :r",
                                          "ExpressionAttributeValues": {":p": {"S": prefix}, ":r": {"S": "R"}}}
                while True:
                    page = ddb.scan(**kwargs)
                    items.extend(page["Items"])
                    if "LastEvaluatedKey" not in page:
                        break
                    kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
            return [layout.record_from_item(item).model_dump(mode="json") for item in items]
        time.sleep(3)
    pytest.fail("the demo data was never linked into the index")


def a_person_to_disguise(items: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """A non-sensitive record whose given name has a nickname and whose date of birth can be swapped."""
    by_group: dict[int, list[str]] = {}
    for name in nickname_names():
        for group in nickname_groups(name):
            by_group.setdefault(group, []).append(name)
    for item in sorted(items, key=lambda i: i["record_id"]):
        given = item.get("given_name") or ""
        dob = item.get("dob")
        if item.get("sensitive") or not given or not dob or not item.get("family_name"):
            continue
        born = dt.date.fromisoformat(dob)
        if born.day > 12 or born.day == born.month:
            continue
        others = [n for g in nickname_groups(given.upper()) for n in by_group.get(g, []) if n.upper() != given.upper()]
        if others:
            return item, sorted(others, key=len)[0]
    pytest.fail("no record with a nickname-able given name and a swappable date of birth")


def test_swapped_dob_and_nickname_find_the_person_and_the_audit_shows_the_search(local_stack: LocalStackProcess) -> None:
    item, nickname = a_person_to_disguise(indexed_records(local_stack))
    born = dt.date.fromisoformat(item["dob"])
    practitioner = token_of(local_stack, ("practitioners",))
    query = {"given_name": nickname.title(), "family_name": item["family_name"].title(),
             "dob": {"day": born.month, "month": born.day, "year": born.year}}
    response = api(local_stack, "POST", "/search", practitioner, json={"declaration": DECLARATION, "query": query})
    assert response.status_code == 200, response.text
    found = response.json()
    assert item["person_id"] in [p["person_id"] for p in found["people"]]
    hit = next(p for p in found["people"] if p["person_id"] == item["person_id"])
    levels = {w["field"]: w["level"] for w in hit["why"]}
    assert levels["dob"] == "swapped"

    opened = api(local_stack, "GET", f"/people/{hit['person_id']}", practitioner, params={"search": found["search_id"]})
    assert opened.status_code == 200, opened.text
    counts = opened.json()["involvement"]
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")

    auditor = token_of(local_stack, ("auditors",))
    audit = api(local_stack, "GET", "/audit", auditor, params={"period": "day", "limit": 200})
    assert audit.status_code == 200, audit.text
    event = next(e for e in audit.json()["events"] if e.get("search_id") == found["search_id"] and e["action"] == "search")
    assert event["gateway"] == "care2014-s42" and event["purpose"] == DECLARATION["purpose"]
    assert event["records_returned"] == len(event["record_ids"]) > 0
    assert hit["person_id"] in event["people_returned"]


def test_while_the_audit_table_is_unavailable_a_search_answers_503_and_shows_nothing(
        local_stack: LocalStackProcess) -> None:
    """No results without an audit event: with the audit table refusing every call (as DynamoDB does
    for a missing table), the same search that works before and after answers 503 with only a message,
    opening a person found earlier answers 503 too, and the audit never holds the refused search."""
    item, _ = a_person_to_disguise(indexed_records(local_stack))
    born = dt.date.fromisoformat(item["dob"])
    practitioner = token_of(local_stack, ("practitioners",))
    purpose = f"audit outage check {time.time_ns()}"
    body = {"declaration": {"gateway": "ca1989-s47", "purpose": purpose},
            "query": {"given_name": item["given_name"], "family_name": item["family_name"],
                      "dob": {"day": born.day, "month": born.month, "year": born.year}}}
    before = api(local_stack, "POST", "/search", practitioner, json=body)
    assert before.status_code == 200 and before.json()["people"], before.text
    person = before.json()["people"][0]["person_id"]

    with local_stack.unavailable("AuditTable"):
        refused = api(local_stack, "POST", "/search", practitioner, json=body)
        opened = api(local_stack, "GET", f"/people/{person}", practitioner, params={"search": before.json()["search_id"]})
    assert refused.status_code == 503, refused.text
    assert set(refused.json()) == {"message"} and "audit" in refused.json()["message"]
    assert item["family_name"].lower() not in refused.text.lower()
    assert opened.status_code == 503 and set(opened.json()) == {"message"}, opened.text

    after = api(local_stack, "POST", "/search", practitioner, json=body)
    assert after.status_code == 200 and after.json()["people"], after.text
    auditor = token_of(local_stack, ("auditors",))
    events = api(local_stack, "GET", "/audit", auditor, params={"period": "day", "limit": 200}).json()["events"]
    mine = [e for e in events if e.get("purpose") == purpose and e["action"] == "search"]
    assert sorted(e["search_id"] for e in mine) == sorted([before.json()["search_id"], after.json()["search_id"]])


def test_another_users_search_does_not_open_a_person(local_stack: LocalStackProcess) -> None:
    item, _ = a_person_to_disguise(indexed_records(local_stack))
    practitioner = token_of(local_stack, ("practitioners",))
    police = token_of(local_stack, ("practitioners",), "wm-police")
    born = item["dob"].split("-")
    query = {"given_name": item["given_name"], "family_name": item["family_name"],
             "dob": {"day": int(born[2]), "month": int(born[1]), "year": int(born[0])}}
    found = api(local_stack, "POST", "/search", practitioner, json={"declaration": DECLARATION, "query": query}).json()
    person = found["people"][0]["person_id"]
    assert api(local_stack, "GET", f"/people/{person}", police, params={"search": found["search_id"]}).status_code == 404
    assert api(local_stack, "GET", f"/people/{person}", None, params={"search": found["search_id"]}).status_code == 401


def test_a_10_mb_body_is_refused_with_a_message(local_stack: LocalStackProcess) -> None:
    practitioner = token_of(local_stack, ("practitioners",))
    body = b'{"declaration": {"gateway": "other", "purpose": "' + b"x" * (10 * 1024 * 1024) + b'"}}'
    response = api(local_stack, "POST", "/search", practitioner, data=body,
                   headers={"Authorization": practitioner, "Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["message"]


def _operations(groups: tuple[str, ...], own: bool) -> list[str]:
    """The operation ids a caller in ``groups`` may use (``own``; those needing no sign-in too), or those
    it may not."""
    from mast.api.openapi import operations

    return [op.operation_id for op in operations() if (not op.groups or bool(set(op.groups) & set(groups))) == own]


@pytest.mark.parametrize("groups", [("practitioners",), ("data-stewards",), ("org-admins",)])
def test_schemathesis_finds_no_server_error(local_stack: LocalStackProcess, groups: tuple[str, ...],
                                            tmp_path: Path) -> None:
    """Every documented route, fuzzed with a real token of each kind, never answers 5xx: the group's own
    routes in every phase (the schema's examples, its boundary values, random data, sequences of calls);
    the routes it may not use, which refuse it (the refusal itself is ``tests/unit/test_api_matrix.py``'s),
    with their examples and a few random requests each: still never a 5xx."""
    indexed_records(local_stack)  # search answers 503 until the first link: not what is tested here
    token = token_of(local_stack, groups)
    base = [str(Path(sys.executable).parent / "schemathesis"), "run", f"{local_stack.url}/api/openapi.json",
            "--url", local_stack.url, "--checks", "not_a_server_error",
            "--header", f"Authorization: {token}", "--request-timeout", "30",
            "--rate-limit", "20/s"]  # a client that keeps under the stage's limit of 25 a second
    for own, options in ((True, ["--max-examples", "15"]),
                         (False, ["--max-examples", "3", "--phases", "examples,fuzzing"])):
        chosen = [arg for op in _operations(groups, own) for arg in ("--include-operation-id", op)]
        assert chosen, f"no {'own' if own else 'other'} operations for {groups}"
        result = subprocess.run(base + options + chosen, capture_output=True, text=True, timeout=900, cwd=tmp_path)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
