"""Subject access for a person named by a search (issue 17, point 5): an auditor holding an Article
15 request has the requester's name, date of birth and address, not MAST's record ids. The person
search runs on those; exactly one strong match produces the report (the same report as by the
person's record ids), none or several produce nothing and say what to add. Auditors only; audited
with the search's terms, as a search is."""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from mast.access.caller import Caller
from mast.audit import AuditStore
from mast.audit.subject_access import subject_access
from mast.audit.view import SubjectAccessRequest
from mast.index import IndexReader
from mast.schema import Refused
from tests.unit.test_api_search import PERSONAS, WILLIAM, Deployment, call, canonical, deployment, write_index

AUDITOR = Caller(sub="u-audit", email="auditor@mast.example", organisation="walsall-council",
                 groups=frozenset({"auditors"}))
TODAY = dt.datetime.now(dt.UTC).date()
PERIOD = {"from": TODAY.isoformat(), "to": TODAY.isoformat()}
WILLIAMS_DETAILS = {"given_name": "William", "family_name": "Hargreaves", "dob": "1984-03-07"}


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployment]:
    yield from deployment()


def _report(deployed: Deployment, **named: Any) -> Any:
    request = SubjectAccessRequest.model_validate({**named, **PERIOD})
    return subject_access(AUDITOR, request, IndexReader("index", deployed.ddb), AuditStore("audit", deployed.ddb),
                          dt.datetime.now(dt.UTC), "req-sar-search")


def test_the_requesters_details_name_the_same_person_as_their_record_ids(deployed: Deployment) -> None:
    by_search = _report(deployed, **WILLIAMS_DETAILS, postcode="WS3 9QZ")
    by_ids = _report(deployed, record_ids=WILLIAM)
    assert by_search.named_by == "search" and by_ids.named_by == "record ids"
    assert by_search.person_ids == by_ids.person_ids == [deployed.person_of(WILLIAM)]
    assert [r.record_id for r in by_search.records] == [r.record_id for r in by_ids.records]
    audit = AuditStore("audit", deployed.ddb)
    now = dt.datetime.now(dt.UTC)
    produced = [e for e in audit.query(organisation=None, since=now - dt.timedelta(hours=1),
                                       until=now + dt.timedelta(minutes=1)).events
                if e.action == "subject-access" and e.search_terms]
    assert produced, "the search's subject access is audited with its terms"
    terms = json.loads(produced[0].search_terms or "{}")
    assert terms["family_name"] == "Hargreaves" and terms["dob"] == {"day": 7, "month": 3, "year": 1984}
    assert set(produced[0].record_ids) == {r.record_id for r in by_search.records}


def test_details_that_match_no_one_strongly_produce_nothing(deployed: Deployment) -> None:
    with pytest.raises(Refused) as refused:
        _report(deployed, given_name="William", family_name="Hargreaves", dob="1971-01-30")
    assert refused.value.status == 404 and "record ids" in str(refused.value)


def test_the_request_names_the_person_one_way_with_enough_to_be_sure() -> None:
    with pytest.raises(ValidationError, match="not both"):
        SubjectAccessRequest.model_validate({"record_ids": WILLIAM, **WILLIAMS_DETAILS, **PERIOD})
    with pytest.raises(ValidationError, match="full date of birth"):
        SubjectAccessRequest.model_validate({"given_name": "William", "family_name": "Hargreaves", **PERIOD})
    with pytest.raises(ValidationError, match="by record ids, or by"):
        SubjectAccessRequest.model_validate(PERIOD)


def test_namesakes_need_the_postcode_to_tell_them_apart(deployed: Deployment) -> None:  # its salt and secrets
    """Two men of one name and date of birth at opposite ends of the borough, each known to one
    partner: the name and date of birth alone match both strongly, so nothing is produced."""
    import boto3
    from moto import mock_aws

    namesakes = canonical([
        {"record_id": "P-1", "source": "police", "given_name": "JOHN", "middle_name": "PETER", "family_name": "SMITH",
         "dob": "1980-01-01", "sex": "M", "address_line1": "1 Birch Road", "address_line2": "Aldridge",
         "postcode": "WS9 8AA", "days_ago": 5},
        {"record_id": "F-1", "source": "fire", "given_name": "JOHN", "middle_name": "ARTHUR", "family_name": "SMITH",
         "dob": "1980-01-01", "sex": "M", "address_line1": "77 Canal Street", "address_line2": "Darlaston",
         "postcode": "WS10 8ZZ", "days_ago": 9},
    ])
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="eu-west-2")
        for name in ("namesakes-index", "namesakes-audit"):  # beside the module's stack, also in moto
            ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": "sk", "AttributeType": "S"}],
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                        {"AttributeName": "sk", "KeyType": "RANGE"}])
        rows = [*deployed.rows, *namesakes]  # the town, and the two of them
        linker = write_index(ddb, "namesakes-index", rows)
        if len(set(linker.person_ids().tolist()[-2:])) != 2:
            pytest.skip("the model links these namesakes into one person: no ambiguity to show")
        index, audit = IndexReader("namesakes-index", ddb), AuditStore("namesakes-audit", ddb)
        details = {"given_name": "John", "family_name": "Smith", "dob": "1980-01-01", **PERIOD}
        with pytest.raises(Refused) as refused:
            subject_access(AUDITOR, SubjectAccessRequest.model_validate(details), index, audit, dt.datetime.now(dt.UTC))
        assert refused.value.status == 409 and "postcode" in str(refused.value)
        report = subject_access(AUDITOR, SubjectAccessRequest.model_validate({**details, "postcode": "WS10 8ZZ"}),
                                index, audit, dt.datetime.now(dt.UTC))
        assert [r.record_id for r in report.records] == [namesakes[1]["record_id"]]


def _audit_app(deployed: Deployment) -> Deployment:
    path = Path(__file__).resolve().parents[2] / "functions" / "audit" / "app.py"
    spec = importlib.util.spec_from_file_location("audit_app_for_subject_access", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return dataclasses.replace(deployed, app=module)


def test_only_auditors_may_name_a_person_by_search(deployed: Deployment) -> None:
    import os

    os.environ.setdefault("INDEX_TABLE", "index")
    os.environ.setdefault("AUDIT_TABLE", "audit")
    audit_app = _audit_app(deployed)
    query = {**WILLIAMS_DETAILS, **PERIOD, "format": "json"}
    expected = {"no token": 401, "practitioner": 403, "other practitioner": 403, "org-admin same org": 403,
                "org-admin other org": 403, "auditor": 200, "data steward": 403}
    assert set(expected) == set(PERSONAS)
    got = {who: call(audit_app, "GET", "/audit/subject-access", who, query=query)[0] for who in PERSONAS}
    assert got == expected
    status, body = call(audit_app, "GET", "/audit/subject-access", "auditor", query=query)
    assert status == 200 and body["named_by"] == "search" and body["person_ids"] == [deployed.person_of(WILLIAM)]
    status, body = call(audit_app, "GET", "/audit/subject-access", "auditor",
                        query={"given_name": "William", "family_name": "Hargreaves", **PERIOD})
    assert status == 400 and "date of birth" in json.dumps(body)  # says what is missing
