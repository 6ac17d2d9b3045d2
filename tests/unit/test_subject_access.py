"""Subject access (issue 17, point 5): for a person named by a record id, every record the index holds
about them and every audited search and view that showed them, as JSON and CSV; auditors only;
producing it is audited."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from mast.access.caller import Caller
from mast.audit import AuditStore
from mast.audit.subject_access import report_csv, subject_access
from mast.audit.view import SubjectAccessRequest
from mast.index import IndexReader
from mast.schema import Refused
from tests.unit.test_api_search import DECLARATION, WILLIAM, Deployment, call, deployment

AUDITOR = Caller(sub="u-audit", email="auditor@mast.example", organisation="walsall-council",
                 groups=frozenset({"auditors"}))
TODAY = dt.datetime.now(dt.UTC).date()


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployment]:
    yield from deployment()


def test_the_report_holds_the_persons_records_and_who_saw_them(deployed: Deployment) -> None:
    query = {"given_name": "William", "family_name": "Hargreaves", "dob": {"day": 7, "month": 3, "year": 1984}}
    status, found = call(deployed, "POST", "/search", "practitioner", {"declaration": DECLARATION, "query": query})
    assert status == 200
    person = deployed.person_of(WILLIAM)
    status, _view = call(deployed, "GET", f"/people/{person}", "practitioner", query={"search": found["search_id"]})
    assert status == 200

    index = IndexReader("index", deployed.ddb)
    audit = AuditStore("audit", deployed.ddb)
    request = SubjectAccessRequest.model_validate({"record_ids": WILLIAM, "from": TODAY.isoformat(),
                                                   "to": TODAY.isoformat()})
    report = subject_access(AUDITOR, request, index, audit, dt.datetime.now(dt.UTC), "req-sar")
    expected = set(index.person_record_ids(person))
    assert {r.record_id for r in report.records} == expected and WILLIAM in expected
    assert report.person_ids == [person]
    actions = [e.action for e in report.events]
    assert "search" in actions and "open-person" in actions and "subject-access" not in actions
    assert all(expected & set(e.record_ids) for e in report.events)
    # producing it is itself on the record, naming every record it holds
    produced = [e for e in audit.query(organisation=None, since=dt.datetime.now(dt.UTC)
                                       - dt.timedelta(hours=1), until=dt.datetime.now(dt.UTC)
                                       + dt.timedelta(minutes=1)).events if e.action == "subject-access"]
    assert len(produced) == 1 and set(produced[0].record_ids) == expected

    text = report_csv(report)
    rows = text.lstrip("\ufeff").splitlines()
    assert rows[0].startswith("section,record_id,partner")
    assert sum(r.startswith("record,") for r in rows) == len(expected)
    assert sum(r.startswith("audit,") for r in rows) == len(report.events)
    assert json.loads(report.model_dump_json())["records"][0]["record_id"]


def test_only_auditors_and_only_records_held(deployed: Deployment) -> None:
    index = IndexReader("index", deployed.ddb)
    audit = AuditStore("audit", deployed.ddb)
    request = SubjectAccessRequest.model_validate({"record_ids": "nope:1", "from": TODAY.isoformat(),
                                                   "to": TODAY.isoformat()})
    with pytest.raises(Refused) as refused:
        subject_access(AUDITOR, request, index, audit, dt.datetime.now(dt.UTC))
    assert refused.value.status == 404
    practitioner = Caller(sub="p", email="p@x.example", organisation="walsall-council",
                          groups=frozenset({"practitioners"}))
    with pytest.raises(Exception, match="auditors|permission"):
        subject_access(practitioner, request, index, audit, dt.datetime.now(dt.UTC))
