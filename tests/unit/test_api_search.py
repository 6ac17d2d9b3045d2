"""A linked index on moto for the search API tests: a small town plus one hand-made household.

The index is written in the layout the match function writes (:mod:`mast.index.layout`): records
linked by :class:`mast.linkage.link.Linker` (the model trained on the town), lookup keys made with
the deployment's salt, people and addresses from the link, term frequencies from the link's table.
The search handler then reads it through the real :class:`mast.index.IndexReader`.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3

from mast.index import layout
from mast.index.address_keys import address_key_strings, record_address_keys
from mast.index.layout import IndexedRecord
from mast.index.writer import IndexWriter
from mast.linkage.keys import LOOKUP_KEYS, key_strings
from mast.linkage.link import Linker, LinkOptions
from mast.linkage.report import REPORT_KEY, linkage_report
from mast.linkage.scorer import term_frequencies
from mast.linkage.table import prepare_records
from mast.records import PartnerContact
from tests.unit.test_linkage_households import build_town

ROOT = Path(__file__).resolve().parents[2]
SALT = "unit-test-salt"
TODAY = dt.datetime.now(dt.UTC).date()
FEEDS = {"police": ("wm-police", "wm-police"), "nhs-ae": ("walsall-healthcare", "walsall-nhs-ae"),
         "adults": ("walsall-council", "walsall-adults"), "children": ("walsall-council", "walsall-children"),
         "fire": ("wm-fire", "wm-fire")}

#: The hand-made household at 12 Oak Close: William (three records, one sensitive, one too old),
#: Mary (his mother: same surname and address), and Sarah, known there only through a sensitive
#: record (a refuge): she must never be listed at the address.
HOUSEHOLD: tuple[dict[str, Any], ...] = (
    {"record_id": "wm-police:P-9001", "source": "police", "given_name": "WILLIAM", "middle_name": "JOHN",
     "family_name": "HARGREAVES", "dob": "1984-03-07", "sex": "M", "address_line1": "12 Oak Close",
     "address_line2": "Bloxwich", "postcode": "WS3 9QZ", "days_ago": 10},
    {"record_id": "walsall-nhs-ae:A-9002", "source": "nhs-ae", "given_name": "WILLIAM", "middle_name": None,
     "family_name": "HARGREAVES", "dob": "1984-03-07", "sex": "M", "address_line1": "12 Oak Close",
     "address_line2": "Bloxwich", "postcode": "WS39QZ", "days_ago": 70},
    {"record_id": "walsall-adults:C-9003", "source": "adults", "given_name": "WILLIAM", "middle_name": "J",
     "family_name": "HARGREAVES", "dob": "1984-03-07", "sex": "M", "address_line1": "12 Oak Close",
     "address_line2": "Bloxwich", "postcode": "WS3 9QZ", "days_ago": 130, "sensitive": True},
    {"record_id": "wm-police:P-9004", "source": "police", "given_name": "WILLIAM", "middle_name": None,
     "family_name": "HARGREAVES", "dob": "1984-03-07", "sex": "M", "address_line1": "12 Oak Close",
     "address_line2": "Bloxwich", "postcode": "WS3 9QZ", "days_ago": 250},
    {"record_id": "wm-police:P-9005", "source": "police", "given_name": "WILLIAM", "middle_name": None,
     "family_name": "HARGREAVES", "dob": "1984-03-07", "sex": "M", "address_line1": "12 Oak Close",
     "address_line2": "Bloxwich", "postcode": "WS3 9QZ", "days_ago": 420},
    {"record_id": "walsall-adults:C-9010", "source": "adults", "given_name": "MARY", "middle_name": None,
     "family_name": "HARGREAVES", "dob": "1956-11-20", "sex": "F", "address_line1": "12 Oak Close",
     "address_line2": "Bloxwich", "postcode": "WS3 9QZ", "days_ago": 40},
    {"record_id": "walsall-children:K-9020", "source": "children", "given_name": "SARAH", "middle_name": None,
     "family_name": "QUILLFEATHER", "dob": "1990-06-02", "sex": "F", "address_line1": "12 Oak Close",
     "address_line2": "Bloxwich", "postcode": "WS3 9QZ", "days_ago": 20, "sensitive": True},
)
WILLIAM = "wm-police:P-9001"
#: A name typed with characters that show nothing: a zero-width space in the given name, a zero-width
#: joiner and a right-to-left mark in the family name (issue 19). Found by the name as it reads.
INVISIBLE: tuple[dict[str, Any], ...] = (
    {"record_id": "wm-fire:F-9030", "source": "fire", "given_name": "Otti\u200blie", "middle_name": None,
     "family_name": "Bracken\u200dbury\u200f", "dob": "1979-02-14", "sex": "F", "address_line1": "4 Elm\u200b Row",
     "address_line2": "Walsall", "postcode": "WS2 8AA", "days_ago": 15},
)
OTTILIE = "wm-fire:F-9030"


def canonical(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Town rows in the canonical shape: partner, feed, case ref, record date, contact."""
    rng = random.Random(5)
    out = []
    for row in rows:
        partner, feed = FEEDS[row["source"]]
        record_id = row["record_id"] if ":" in row["record_id"] else f"{feed}:{row['record_id']}"
        days = row.get("days_ago", rng.randint(0, 500))
        out.append({**{k: v for k, v in row.items() if k != "days_ago"}, "record_id": record_id, "partner": partner,
                    "feed": feed, "source_record_id": record_id.split(":", 1)[1],
                    "record_date": (TODAY - dt.timedelta(days=days)).isoformat(),
                    "sensitive": bool(row.get("sensitive", False))})
    return out


def write_index(client: Any, table: str, rows: list[dict[str, Any]]) -> Linker:
    """Link ``rows`` and write them as the live version of the index in ``table``."""
    writer = IndexWriter(table, client)
    linker = Linker.build(prepare_records([{**r, "source": r["partner"]} for r in rows]),
                          options=LinkOptions(key_salt=SALT))
    people, addresses = linker.person_ids(), linker.address_ids()
    address_keys = record_address_keys(linker.table, SALT)
    version = writer.begin_version(linker.model)  # the model, and the linkage it was built with
    indexed: list[tuple[IndexedRecord, list[str]]] = []
    for i, row in enumerate(rows):
        record = IndexedRecord(
            record_id=row["record_id"], partner=row["partner"], feed=row["feed"],
            source_record_id=row["source_record_id"], record_date=row["record_date"], given_name=row["given_name"],
            middle_name=row.get("middle_name"), family_name=row["family_name"], dob=row.get("dob"), sex=row.get("sex"),
            address_line1=row.get("address_line1"), address_line2=row.get("address_line2"),
            postcode=row.get("postcode"), contact=PartnerContact(team=f"{row['feed']} safeguarding", phone="01922 000000"),
            sensitive=row["sensitive"], ingest_id="i-test", person_id=str(people[i]), address_id=str(addresses[i]),
            term_frequencies=term_frequencies(linker.table, i),
        )
        keys = key_strings(linker.keys[i], LOOKUP_KEYS) + address_key_strings(address_keys[i])  # as the match run does
        indexed.append((record, keys))
    items = layout.version_items(version, indexed)
    for start in range(0, len(items), 25):
        client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in items[start : start + 25]]})
    writer.switch(version, None)
    return linker


@dataclass
class Deployment:
    """The search function loaded against moto, with its tables, queue and the linked index."""

    app: ModuleType
    ddb: Any
    sqs: Any
    env: dict[str, str]
    linker: Linker
    rows: list[dict[str, Any]]

    def person_of(self, record_id: str) -> str:
        i = [r["record_id"] for r in self.rows].index(record_id)
        return str(self.linker.person_ids()[i])


def _table(ddb: Any, name: str) -> None:
    ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                           {"AttributeName": "sk", "AttributeType": "S"}],
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])


def load_search_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("search_app_under_test", ROOT / "functions" / "search" / "app.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def deployment() -> Iterator[Deployment]:
    """Inside moto: tables, queue, salt secret, the index; the search app with its clients fresh."""
    from moto import mock_aws

    from mast.index.salt import forget_cached_salts

    saved = dict(os.environ)
    os.environ.update({"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                       "POWERTOOLS_SERVICE_NAME": "search-test"})
    try:
        with mock_aws():
            ddb = boto3.client("dynamodb")
            sqs = boto3.client("sqs")
            env = {"INDEX_TABLE": "index", "AUDIT_TABLE": "audit", "CONTROL_TABLE": "control"}
            for name in env.values():
                _table(ddb, name)
            env["MATCH_QUEUE_URL"] = sqs.create_queue(
                QueueName="match.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
            env["KEY_SALT_SECRET_ARN"] = boto3.client("secretsmanager").create_secret(
                Name="salt", SecretString=SALT)["ARN"]
            os.environ.update(env)
            forget_cached_salts()
            town, _truth = build_town(seed=3, households=120)
            rows = canonical(town + list(HOUSEHOLD) + list(INVISIBLE))
            linker = write_index(ddb, "index", rows)
            s3 = boto3.client("s3")
            env["CURATED_BUCKET"] = "curated"
            os.environ["CURATED_BUCKET"] = "curated"
            s3.create_bucket(Bucket="curated", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
            report = linkage_report(linker.table, [str(p) for p in linker.person_ids()],
                                    [str(a) for a in linker.address_ids()])  # as the match run writes it
            s3.put_object(Bucket="curated", Key=REPORT_KEY, Body=json.dumps(report).encode())
            app = load_search_app()
            yield Deployment(app, ddb, sqs, env, linker, rows)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        forget_cached_salts()


def claims(sub: str, organisation: str, *groups: str, email: str = "") -> dict[str, str]:
    return {"sub": sub, "token_use": "id", "custom:organisation": organisation, "cognito:groups": ",".join(groups),
            "email": email or f"{sub}@example.test", "email_verified": "true"}


PERSONAS: dict[str, dict[str, str] | None] = {
    "no token": None,
    "practitioner": claims("u-prac", "walsall-council", "practitioners"),
    "other practitioner": claims("u-prac2", "wm-police", "practitioners"),
    "org-admin same org": claims("u-admin", "walsall-council", "org-admins"),
    "org-admin other org": claims("u-admin2", "wm-police", "org-admins"),
    "auditor": claims("u-audit", "walsall-council", "auditors"),
    "data steward": claims("u-steward", "walsall-council", "data-stewards"),
}


def event(method: str, path: str, who: dict[str, str] | None, body: Any = None, query: dict[str, str] | None = None,
          raw_body: str | None = None) -> dict[str, Any]:
    """A REST (v1) proxy event as API Gateway (and the local API) builds it, claims as strings."""
    import json
    import re
    import uuid

    resource = re.sub(r"^/(alerts|people)/(?!count$)[^/]+(/[a-z-]+)?$", r"/\1/{id}\2", path)
    text = raw_body if raw_body is not None else (json.dumps(body) if body is not None else None)
    return {
        "resource": resource, "path": path, "httpMethod": method, "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {}, "queryStringParameters": query, "multiValueQueryStringParameters":
            {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"id": path.split("/")[2]} if "{id}" in resource else None,
        "requestContext": {"requestId": str(uuid.uuid4()), "stage": "api", "resourcePath": resource,
                           "httpMethod": method, "path": f"/api{path}",
                           "authorizer": {"claims": who} if who is not None else None},
        "body": text, "isBase64Encoded": False,
    }


# ------------------------------------------------------------------------------------------- tests

import pytest  # noqa: E402

DECLARATION = {"gateway": "ca1989-s47", "purpose": "MASH referral 2026/114"}


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployment]:
    yield from deployment()


def call(d: Deployment, method: str, path: str, who: str | dict[str, str] | None, body: Any = None,
         query: dict[str, str] | None = None, raw_body: str | None = None) -> tuple[int, dict[str, Any]]:
    persona = PERSONAS[who] if isinstance(who, str) else who
    result = d.app.handler(event(method, path, persona, body, query, raw_body), LambdaContextStub())
    return result["statusCode"], json.loads(result["body"]) if result.get("body") else {}


class LambdaContextStub:
    function_name = "SearchFunction"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:SearchFunction"
    aws_request_id = "req-1"


def audit_events(d: Deployment) -> list[dict[str, Any]]:
    from mast.audit import deserialise

    return [deserialise(i) for i in d.ddb.scan(TableName="audit")["Items"]]


def search_for(d: Deployment, query: dict[str, Any], who: str = "practitioner") -> tuple[int, dict[str, Any]]:
    return call(d, "POST", "/search", who, {"declaration": DECLARATION, "query": query})


def test_swapped_date_of_birth_and_nickname_find_the_person_and_the_search_is_audited(deployed: Deployment) -> None:
    before = len(audit_events(deployed))
    status, body = search_for(deployed, {"given_name": "Bill", "family_name": "Hargreaves",
                                         "dob": {"day": 3, "month": 7, "year": 1984}})
    assert status == 200, body
    william = deployed.person_of(WILLIAM)
    assert body["people"][0]["person_id"] == william
    first = body["people"][0]
    assert first["band"] == "strong" and first["postcode_district"] == "WS3"
    assert {w["field"]: w["level"] for w in first["why"]}["dob"] == "swapped"
    assert {w["field"]: w["level"] for w in first["why"]}["given_name"] == "nickname"
    # in words, of the names themselves (issue 16): the record's William is a form of the searched Bill
    words = {w["field"]: w["explanation"] for w in first["why"]}
    assert words["given_name"] == "William is a form of Bill" and first["name"].split()[0].title() == "William"
    assert words["dob"] == "day and month exchanged"
    assert body["left_out"] == 0 and body["search_id"]
    events = audit_events(deployed)
    assert len(events) == before + 1
    event_ = next(e for e in events if e.get("search_id") == body["search_id"])
    assert event_["action"] == "search" and event_["gateway"] == "ca1989-s47"
    assert event_["purpose"] == DECLARATION["purpose"] and event_["user_sub"] == "u-prac"
    assert william in event_["people_returned"] and WILLIAM in event_["record_ids"]
    assert event_["records_returned"] == len(event_["record_ids"])
    assert json.loads(event_["search_terms"])["family_name"] == "Hargreaves"


def test_a_partial_date_of_birth_narrows_by_year(deployed: Deployment) -> None:
    status, body = search_for(deployed, {"given_name": "William", "family_name": "Hargreaves", "dob": {"year": 1984}})
    assert status == 200 and body["people"][0]["person_id"] == deployed.person_of(WILLIAM)
    status, body = search_for(deployed, {"given_name": "William", "family_name": "Hargreaves", "dob": {"year": 1971}})
    assert status == 200 and deployed.person_of(WILLIAM) not in {p["person_id"] for p in body["people"]}


def test_opening_the_person_shows_bands_records_and_household_but_hides_sensitive_detail(deployed: Deployment) -> None:
    _, found = search_for(deployed, {"given_name": "William", "family_name": "Hargreaves",
                                     "dob": {"day": 7, "month": 3, "year": 1984}})
    william = deployed.person_of(WILLIAM)
    status, view = call(deployed, "GET", f"/people/{william}", "practitioner", query={"search": found["search_id"]})
    assert status == 200, view
    counts = view["involvement"]
    assert counts == {"within_1_month": 1, "from_1_to_3_months": 1, "from_3_to_6_months": 1,
                      "from_6_to_12_months": 1, "total": 4}  # the record of 14 months ago is left out
    assert len(view["records"]) == 4
    sensitive = [r for r in view["records"] if r["sensitive"]]
    assert len(sensitive) == 1
    assert sensitive[0]["partner"] == "walsall-council" and sensitive[0]["contact"]["phone"]
    assert all(sensitive[0][k] is None for k in ("record_id", "case_ref", "full_name", "date_of_birth", "full_address"))
    open_record = next(r for r in view["records"] if r["record_id"] == WILLIAM)
    assert open_record["case_ref"] == "P-9001" and "12 Oak Close" in open_record["full_address"]
    others = [o["name"] for a in view["addresses"] for o in a["others"]]
    assert "MARY HARGREAVES" in others
    assert not any("QUILLFEATHER" in name for name in others)  # known there only through a sensitive record
    opened = [e for e in audit_events(deployed) if e["action"] == "open-person"]
    assert opened[-1]["search_id"] == found["search_id"] and opened[-1]["gateway"] == "ca1989-s47"
    assert WILLIAM in opened[-1]["record_ids"] and "walsall-adults:C-9010" in opened[-1]["record_ids"]
    assert opened[-1]["sensitive_returned"] is True


def test_an_address_search_lists_the_household_but_not_a_refuge_resident(deployed: Deployment) -> None:
    status, body = search_for(deployed, {"address_line1": "12 Oak Close", "postcode": "ws3 9qz"})
    assert status == 200, body
    assert body["kind"] == "address"
    names = {p["name"] for p in body["people"]}
    assert any("MARY" in n for n in names) and any("WILLIAM" in n for n in names)
    assert not any("QUILLFEATHER" in n for n in names)
    assert all(p["band"] == "strong" for p in body["people"])


@pytest.mark.parametrize("query", [{"postcode": "WS3 9QZ"}, {"address_line1": "12 Oak Close", "address_line2": "Bloxwich"}],
                         ids=["postcode alone", "address lines without a postcode"])
def test_an_address_search_by_postcode_alone_or_by_lines_alone_finds_the_household(deployed: Deployment,
                                                                                   query: dict[str, str]) -> None:
    status, body = search_for(deployed, query)
    assert status == 200, body
    assert body["kind"] == "address"
    names = {p["name"] for p in body["people"]}
    assert any("MARY" in n for n in names) and any("WILLIAM" in n for n in names)
    assert not any("QUILLFEATHER" in n for n in names)


def test_a_person_opens_only_through_the_same_users_search_that_returned_them(deployed: Deployment) -> None:
    _, found = search_for(deployed, {"given_name": "William", "family_name": "Hargreaves",
                                     "dob": {"day": 7, "month": 3, "year": 1984}})
    william = deployed.person_of(WILLIAM)
    mary = deployed.person_of("walsall-adults:C-9010")
    assert mary not in {p["person_id"] for p in found["people"]}
    sid = {"search": found["search_id"]}
    assert call(deployed, "GET", f"/people/{mary}", "practitioner", query=sid)[0] == 403
    assert call(deployed, "GET", f"/people/{william}", "other practitioner", query=sid)[0] == 404
    assert call(deployed, "GET", f"/people/{william}", "data steward", query=sid)[0] == 404
    assert call(deployed, "GET", f"/people/{william}", "practitioner", query={"search": "s-made-up"})[0] == 404
    assert call(deployed, "GET", f"/people/{william}", "practitioner")[0] == 400
    assert call(deployed, "GET", f"/people/{william}", "practitioner", query=sid)[0] == 200


BAD_BODIES: dict[str, Any] = {
    "no body": None,
    "not json": "{not json",
    "no declaration": {"query": {"given_name": "A", "family_name": "B"}},
    "unknown gateway": {"declaration": {"gateway": "because", "purpose": "x y z"}, "query": {"given_name": "A", "family_name": "B"}},
    "other not named": {"declaration": {"gateway": "other", "purpose": "x y z"}, "query": {"given_name": "A", "family_name": "B"}},
    "no purpose": {"declaration": {"gateway": "ca1989-s47"}, "query": {"given_name": "A", "family_name": "B"}},
    "no query": {"declaration": DECLARATION},
    "family name only": {"declaration": DECLARATION, "query": {"family_name": "Smith"}},
    "given name and dob only": {"declaration": DECLARATION, "query": {"given_name": "A", "dob": {"year": 1990}}},
    "address line 1 only": {"declaration": DECLARATION, "query": {"address_line1": "12 Oak Close"}},
    "31/02/2020": {"declaration": DECLARATION, "query": {"family_name": "B", "dob": {"day": 31, "month": 2, "year": 2020}}},
    "00/00/0000": {"declaration": DECLARATION, "query": {"family_name": "B", "dob": {"day": 0, "month": 0, "year": 0}}},
    "year 3000": {"declaration": DECLARATION, "query": {"family_name": "B", "dob": {"day": 1, "month": 1, "year": 3000}}},
    "future date": {"declaration": DECLARATION, "query": {"family_name": "B", "dob": {"day": 31, "month": 12, "year": TODAY.year}}},
    "bad postcode": {"declaration": DECLARATION, "query": {"postcode": "NOT A POSTCODE"}},
    "unknown field": {"declaration": DECLARATION, "query": {"given_name": "A", "family_name": "B", "nhs": "1"}},
    "dob as text": {"declaration": DECLARATION, "query": {"family_name": "B", "dob": "01/02/1990"}},
}


@pytest.mark.parametrize("name", list(BAD_BODIES))
def test_every_bad_search_gets_a_400_that_says_what_is_wrong(deployed: Deployment, name: str) -> None:
    body = BAD_BODIES[name]
    raw = body if isinstance(body, str) else None
    status, answer = call(deployed, "POST", "/search", "practitioner", None if raw else body, raw_body=raw)
    assert status == 400, (name, answer)
    assert answer["message"]
    if name == "family name only":
        assert "a given name or a date of birth" in json.dumps(answer)
    if name == "unknown gateway":
        assert "unknown legal gateway" in json.dumps(answer)
    if name == "other not named":
        assert "name the legal basis" in json.dumps(answer)


def test_a_10_mb_body_is_413_not_a_server_error(deployed: Deployment) -> None:
    status, answer = call(deployed, "POST", "/search", "practitioner",
                          raw_body=json.dumps({"declaration": DECLARATION, "query": {"family_name": "x" * 10_000_000}}))
    assert status == 413 and "too large" in answer["message"]


HOSTILE = ["Robert'); DROP TABLE records;--", "' OR '1'='1", "{\"$ne\": null}", "<script>alert(1)</script>",
           "../../etc/passwd", "%00", "Zoë Ðặng 李小龙 محمد", "🙂🙃" * 10, "\u202eevil", "A" * 101, "\x00nul", "  ",
           "${jndi:ldap://x}", "\\u0000"]


@pytest.mark.parametrize("field", ["given_name", "middle_name", "family_name", "address_line1", "address_line2",
                                   "postcode", "purpose", "gateway", "gateway_other"])
def test_hostile_text_in_every_field_is_a_4xx_or_a_normal_answer(deployed: Deployment, field: str) -> None:
    for text in HOSTILE:
        declaration = dict(DECLARATION)
        query: dict[str, Any] = {"given_name": "William", "family_name": "Hargreaves", "address_line1": "12 Oak Close",
                                 "address_line2": "Bloxwich"}
        if field in ("purpose", "gateway", "gateway_other"):
            declaration[field] = text
        else:
            query[field] = text
        status, answer = call(deployed, "POST", "/search", "practitioner", {"declaration": declaration, "query": query})
        assert status in (200, 400), (field, text, status, answer)
        if status == 200:
            assert "people" in answer
        else:
            assert answer["message"]


def test_no_results_when_the_audit_cannot_be_written(deployed: Deployment) -> None:
    from mast.api.http import AUDIT_UNAVAILABLE_MESSAGE

    deployed.env_saved = os.environ["AUDIT_TABLE"]  # type: ignore[attr-defined]
    os.environ["AUDIT_TABLE"] = "no-such-audit-table"
    try:
        before = deployed.ddb.scan(TableName="control")["Count"]
        status, answer = search_for(deployed, {"given_name": "William", "family_name": "Hargreaves",
                                               "dob": {"day": 7, "month": 3, "year": 1984}})
        assert status == 503
        assert answer == {"message": AUDIT_UNAVAILABLE_MESSAGE}
        assert deployed.ddb.scan(TableName="control")["Count"] == before  # the search was not kept either
    finally:
        os.environ["AUDIT_TABLE"] = "audit"


def test_the_linkage_report_is_served_to_those_who_oversee_the_partnership(deployed: Deployment) -> None:
    status, body = call(deployed, "GET", "/linkage-report", "auditor")
    assert status == 200, body
    assert body["records"] == len(deployed.rows)
    assert body["people"] == len(set(deployed.linker.person_ids().tolist()))
    assert all(set(pair) == {"partners", "people"} for pair in body["people_shared_between_partners"])
    assert call(deployed, "GET", "/linkage-report", "practitioner")[0] == 403


def test_coverage_lists_every_feed_with_state_and_last_accepted_upload(deployed: Deployment) -> None:
    deployed.ddb.put_item(TableName="control", Item={
        "pk": {"S": "FEED#wm-police"}, "sk": {"S": "STATE"}, "partner": {"S": "wm-police"},
        "name": {"S": "Police incidents"}, "state": {"S": "live"}, "last_accepted": {"S": "2026-11-24T06:02:00Z"}})
    status, body = call(deployed, "GET", "/coverage", "auditor")
    assert status == 200
    feeds = {f["feed"]: f for f in body["feeds"]}
    assert set(feeds) == {"walsall-adults", "walsall-children", "walsall-nhs-ae", "wm-police", "wm-fire"}
    assert feeds["wm-police"]["state"] == "live" and feeds["wm-police"]["last_accepted"] == "2026-11-24T06:02:00Z"
    assert feeds["wm-fire"]["state"] == "sample" and feeds["wm-fire"]["last_accepted"] is None
    assert feeds["walsall-nhs-ae"]["partner_name"] == "Walsall Healthcare NHS Trust"


def test_a_stewards_decision_is_stored_audited_and_queued_for_relink(deployed: Deployment) -> None:
    from mast.access.decisions import DecisionStore

    body = {"decision": "different", "record_ids": ["wm-police:P-9001", "walsall-nhs-ae:A-9002"],
            "reason": "different people: checked with A&E"}
    assert call(deployed, "POST", "/link-decisions", "practitioner", body)[0] == 403
    status, answer = call(deployed, "POST", "/link-decisions", "data steward", body)
    assert status == 201, answer
    assert answer["relink_queued"] is True and answer["decision"] == "different"
    stored = DecisionStore("control", deployed.ddb).all()
    assert [(d.record_a, d.record_b, d.decision) for d in stored][-1] == ("wm-police:P-9001", "walsall-nhs-ae:A-9002",
                                                                           "not_same")
    message = deployed.sqs.receive_message(QueueUrl=deployed.env["MATCH_QUEUE_URL"])["Messages"][0]
    assert json.loads(message["Body"]) == {"type": "relink", "record_ids": body["record_ids"]}
    audited = [e for e in audit_events(deployed) if e["action"] == "link-decision"]
    assert audited[-1]["target"] == answer["decision_id"] and audited[-1]["user_sub"] == "u-steward"
    missing = {**body, "record_ids": ["wm-police:P-9001", "wm-police:NOPE"]}
    status, answer = call(deployed, "POST", "/link-decisions", "data steward", missing)
    assert status == 404 and "wm-police:NOPE" in answer["message"]


def test_a_name_typed_with_invisible_characters_is_found_by_the_name_as_it_reads(deployed: Deployment) -> None:
    status, body = search_for(deployed, {"given_name": "Ottilie", "family_name": "Brackenbury",
                                         "dob": {"day": 14, "month": 2, "year": 1979}})
    assert status == 200, body
    assert body["people"] and body["people"][0]["person_id"] == deployed.person_of(OTTILIE)
    first = body["people"][0]
    assert first["band"] == "strong" and first["name"] == "Ottilie Brackenbury"  # shown without them too
    assert {w["field"]: w["level"] for w in first["why"]}["given_name"] == "exact"
    status, body = search_for(deployed, {"given_name": "Ottilie", "family_name": "Brackenbury"})  # the name alone
    assert status == 200 and deployed.person_of(OTTILIE) in {p["person_id"] for p in body["people"]}


@pytest.mark.parametrize("declaration", [
    {"gateway": "ca1989-s47", "purpose": "..."},
    {"gateway": "ca1989-s47", "purpose": "\u200b\u200b\u200b"},  # three zero-width spaces
    {"gateway": "ca1989-s47", "purpose": "\u200f\u200f\u200f"},  # three right-to-left marks
    {"gateway": "ca1989-s47", "purpose": "a\u200bb\u2060 \u00ad-"},  # two letters among invisible ones
    {"gateway": "other", "gateway_other": ".", "purpose": "MASH referral 2026/114"},
    {"gateway": "other", "gateway_other": "\u202e\u200b\u200d", "purpose": "MASH referral 2026/114"},
], ids=["dots", "zero-width", "rtl-marks", "two-letters", "other-dot", "other-invisible"])
def test_a_declaration_that_says_nothing_is_refused_and_nothing_is_audited(deployed: Deployment,
                                                                            declaration: dict[str, str]) -> None:
    before = len(audit_events(deployed))
    status, body = call(deployed, "POST", "/search", "practitioner",
                        {"declaration": declaration, "query": {"given_name": "William", "family_name": "Hargreaves"}})
    assert status == 400, body
    assert any(e["field"].startswith("declaration.") for e in body["errors"]), body
    added = _new_events(deployed, before)
    assert [e["action"] for e in added] == ["refused"]  # no search, and the refusal on the record
    assert json.loads(added[0]["detail"])["status"] == 400 and added[0]["target"] == "POST /search"


def _new_events(d: Deployment, before: int) -> list[dict[str, Any]]:
    """Events written since there were ``before`` (by time: a scan is in no order)."""
    events = sorted(audit_events(d), key=lambda e: str(e["event_time"]))
    return events[before:]


def test_a_purpose_is_audited_without_its_invisible_characters(deployed: Deployment) -> None:
    declaration = {"gateway": "ca1989-s47", "purpose": "MASH\u200b referral\u202e 2026/115"}
    status, body = call(deployed, "POST", "/search", "practitioner",
                        {"declaration": declaration, "query": {"given_name": "William", "family_name": "Hargreaves"}})
    assert status == 200, body
    audited = next(e for e in audit_events(deployed) if e.get("search_id") == body["search_id"])
    assert audited["purpose"] == "MASH referral 2026/115"


def test_an_unverified_email_is_not_what_the_audit_names(deployed: Deployment) -> None:
    """A practitioner who changed their email to the chief constable's, never verified, is audited
    under their Cognito username."""
    who = {**claims("u-prac", "walsall-council", "practitioners", email="chief.constable@wmp.example"),
           "email_verified": "false", "cognito:username": "u-prac"}
    status, body = call(deployed, "POST", "/search", who,
                        {"declaration": DECLARATION, "query": {"given_name": "William", "family_name": "Hargreaves"}})
    assert status == 200, body
    audited = next(e for e in audit_events(deployed) if e.get("search_id") == body["search_id"])
    assert audited["username"] == "u-prac"


@pytest.mark.parametrize("record_ids", [
    ["wm-police:P-9001", "wm-police:NOPE-1"],  # one real case reference, one that does not exist
    ["wm-police:NOPE-2", "walsall-nhs-ae:A-9002"],
    ["other-la:X-1", "wm-police:P-9001"],  # a feed of no partner of this partnership
], ids=["unknown-second", "unknown-first", "foreign-feed"])
def test_a_steward_decision_naming_an_unknown_or_foreign_record_answers_alike_and_is_audited(
        deployed: Deployment, record_ids: list[str]) -> None:
    """No oracle: whichever id is missing, the answer is the same words but for the ids given back,
    says nothing of which exists, and the refusal is audited (issue 19)."""
    before = len(audit_events(deployed))
    status, answer = call(deployed, "POST", "/link-decisions", "data steward",
                          {"decision": "same", "record_ids": record_ids, "reason": "probing check"})
    assert status == 404
    template = answer["message"]
    for record_id in record_ids:
        template = template.replace(record_id, "<id>")
    assert template == "not every record named is in the index, so nothing was decided: <id>, <id>"
    added = _new_events(deployed, before)
    assert [e["action"] for e in added] == ["refused"] and added[0]["user_sub"] == "u-steward"
    assert json.loads(added[0]["detail"])["status"] == 404 and added[0]["target"] == "POST /link-decisions"


@pytest.mark.parametrize("who, path, query, expected", [
    ("org-admin same org", "/people/P-x", {"search": "s-x"}, 403),
    ("practitioner", "/people/P-unknown", {"search": "s-unknown"}, 404),
], ids=["wrong-group", "no-such-search"])
def test_every_refusal_of_a_data_route_is_audited(deployed: Deployment, who: str, path: str,
                                                  query: dict[str, str], expected: int) -> None:
    before = len(audit_events(deployed))
    status, _ = call(deployed, "GET", path, who, query=query)
    assert status == expected
    added = _new_events(deployed, before)
    assert [e["action"] for e in added] == ["refused"] and added[0]["target"] == "GET /people/{id}"


@pytest.mark.parametrize("variable, method, path, who, body", [
    ("CONTROL_TABLE", "GET", "/coverage", "practitioner", None),
    ("CONTROL_TABLE", "POST", "/search", "practitioner", "search"),
    ("INDEX_TABLE", "POST", "/search", "practitioner", "search"),
    ("INDEX_TABLE", "POST", "/link-decisions", "data steward", "decision"),
], ids=["control-coverage", "control-search", "index-search", "index-decision"])
def test_an_unavailable_table_is_a_503_with_a_message(deployed: Deployment, variable: str, method: str, path: str,
                                                      who: str, body: str | None) -> None:
    """A table DynamoDB does not find (deleted, being restored: ResourceNotFoundException) is an
    outage, answered 503 in words; it was a raised error, which API Gateway turns into 502."""
    bodies = {"search": {"declaration": DECLARATION, "query": {"given_name": "William", "family_name": "Hargreaves"}},
              "decision": {"decision": "same", "record_ids": [WILLIAM, "walsall-nhs-ae:A-9002"], "reason": "checked"}}
    saved = os.environ[variable]
    os.environ[variable] = "no-such-table"
    try:
        status, answer = call(deployed, method, path, who, bodies.get(body or ""))
    finally:
        os.environ[variable] = saved
    assert status == 503, answer
    assert set(answer) == {"message"} and "try again" in answer["message"]


def test_the_family_opens_from_the_person_view_under_the_same_search_and_is_audited(deployed: Deployment) -> None:
    """Issue 16, point 3: the others at the dwelling are links that open under the same search (and
    declaration); only after the view listed them, only for the same user; printing is audited."""
    _, found = search_for(deployed, {"given_name": "William", "family_name": "Hargreaves",
                                     "dob": {"day": 7, "month": 3, "year": 1984}})
    william, mary = deployed.person_of(WILLIAM), deployed.person_of("walsall-adults:C-9010")
    sid = {"search": found["search_id"]}
    assert call(deployed, "GET", f"/people/{mary}", "practitioner", query=sid)[0] == 403  # not yet listed
    status, view = call(deployed, "GET", f"/people/{william}", "practitioner", query=sid)
    assert status == 200
    listed = next(o for a in view["addresses"] for o in a["others"] if o["name"] == "MARY HARGREAVES")
    assert listed["person_id"] == mary and listed["agencies"] == ["Walsall Council"]
    assert listed["open_now"] == ["Walsall Council"]  # an adults' case with no end date: open in the snapshot
    assert all(o["person_id"] for a in view["addresses"] for o in a["others"])
    assert call(deployed, "GET", f"/people/{mary}", "other practitioner", query=sid)[0] == 404
    status, theirs = call(deployed, "GET", f"/people/{mary}", "practitioner", query=sid)
    assert status == 200 and theirs["person_id"] == mary
    opened = sorted((e for e in audit_events(deployed) if e["action"] == "open-person"
                     and e["search_id"] == sid["search"]), key=lambda e: e["event_time"])
    assert [tuple(e["people_returned"]) for e in opened] == [(william,), (mary,)]
    assert "walsall-adults:C-9010" in opened[0]["record_ids"]  # her record was shown in William's view
    assert all(e["gateway"] == "ca1989-s47" for e in opened)
    status, printed = call(deployed, "POST", f"/people/{mary}/print", "practitioner", query=sid)
    assert status == 201, printed
    event = next(e for e in audit_events(deployed) if e["action"] == "print-person")
    assert tuple(event["people_returned"]) == (mary,) and event["search_id"] == sid["search"]


def test_a_name_only_search_lists_everyone_with_the_name_and_an_initial_without_a_date_is_not_strong(
        deployed: Deployment) -> None:
    """Issue 16, point 5: no date of birth, no address: every record whose names agree is listed."""
    status, body = search_for(deployed, {"given_name": "William", "family_name": "Hargreaves"})
    assert status == 200
    assert deployed.person_of(WILLIAM) in {p["person_id"] for p in body["people"]}
    status, body = search_for(deployed, {"family_name": "Hargreaves", "dob": {"year": 1956}})
    assert status == 200
    assert deployed.person_of("walsall-adults:C-9010") in {p["person_id"] for p in body["people"]}
    for person in body["people"]:
        if person["date_of_birth"] is None and len(person["name"].split()[0]) == 1:
            assert person["band"] == "possible"
