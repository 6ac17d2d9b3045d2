"""Who looked at our records (issue 17, point 3): from the audit's stream, each partner learns who
outside it opened or printed people whose records it supplied, with when, gateway and purpose; its
org-admins read the latest 25, and that reading is audited."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mast.access.caller import Caller
from mast.audit import AuditStore, deserialise
from mast.audit.accesses import access_items, read_accesses, write_accesses
from mast.config import load_partnership
from tests.conftest import load_function_app
from tests.unit.test_audit_export_queries import ev, stream_records

ROOT = Path(__file__).resolve().parents[2]
WHEN = dt.datetime(2026, 12, 4, 10, 30, tzinfo=dt.UTC)
POLICE_LOOKS = ev(WHEN, "pc.jones@wmp.example", "open-person", organisation="wm-police",
                  record_ids=("walsall-children:C-1", "wm-police:P-1", "walsall-nhs-ae:A-1"))


def admin(organisation: str) -> Caller:
    return Caller(sub=f"u-{organisation}", email=f"admin@{organisation}.example", organisation=organisation,
                  groups=frozenset({"org-admins"}))


def test_each_supplying_partner_outside_the_users_organisation_learns_of_a_look() -> None:
    items = access_items([POLICE_LOOKS, ev(WHEN, record_ids=("wm-police:P-1",))], load_partnership())
    by_partner = {item["pk"]["S"]: json.loads(item["access"]["S"]) for item in items}
    # the police's own record is not news to the police; a search lists, it does not open
    assert set(by_partner) == {"ACCESSED#walsall-council", "ACCESSED#walsall-healthcare"}
    council = by_partner["ACCESSED#walsall-council"]
    assert council["record_ids"] == ["walsall-children:C-1"] and council["username"] == "pc.jones@wmp.example"
    assert council["organisation_name"] == "West Midlands Police" and council["purpose"] == "case 1"
    assert access_items([POLICE_LOOKS], load_partnership()) == access_items([POLICE_LOOKS], load_partnership())


@pytest.fixture
def tables() -> Iterator[Any]:
    saved = dict(os.environ)
    os.environ.update({"AWS_DEFAULT_REGION": "eu-west-2", "AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t"})
    try:
        with mock_aws():
            ddb = boto3.client("dynamodb")
            for name in ("control", "audit"):
                ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                                 AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                       {"AttributeName": "sk", "AttributeType": "S"}],
                                 KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                            {"AttributeName": "sk", "KeyType": "RANGE"}])
            yield ddb
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_audit_stream_writes_them_and_an_org_admin_reads_their_own_audited(tables: Any) -> None:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="audit-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"},
                     ObjectLockEnabledForBucket=True)
    os.environ.update({"CONTROL_TABLE": "control", "AUDIT_TABLE": "audit", "AUDIT_BUCKET": "audit-bucket",
                       "POWERTOOLS_SERVICE_NAME": "audit-test"})
    app = load_function_app("audit")
    later = ev(WHEN + dt.timedelta(hours=1), "nurse@walsall-healthcare.example", "print-person",
               organisation="walsall-healthcare", record_ids=("walsall-children:C-1",))
    reply = app._export({"Records": stream_records([POLICE_LOOKS, later])})
    assert reply == {"batchItemFailures": []}
    app._export({"Records": stream_records([POLICE_LOOKS, later])})  # a retried batch: the same items

    seen = read_accesses(admin("walsall-council"), tables, "control", AuditStore("audit", tables))
    assert [(a.organisation, a.action) for a in seen.accesses] == [("walsall-healthcare", "print-person"),
                                                                    ("wm-police", "open-person")]
    assert read_accesses(admin("wm-fire"), tables, "control", AuditStore("audit", tables)).accesses == []
    audited = [deserialise(i) for i in tables.scan(TableName="audit")["Items"]]
    assert [e["target"] for e in audited] == ["walsall-council", "wm-fire"]
    assert all(e["action"] == "audit-view" for e in audited)
    with pytest.raises(Exception, match="organisation administrators"):
        read_accesses(Caller(sub="p", email="p@x", organisation="walsall-council", groups=frozenset({"practitioners"})),
                      tables, "control", AuditStore("audit", tables))


def test_write_accesses_writes_in_batches_of_25(tables: Any) -> None:
    events = [ev(WHEN + dt.timedelta(seconds=i), "pc@wmp.example", "open-person", organisation="wm-police",
                 record_ids=("walsall-children:C-1",)) for i in range(60)]
    write_accesses(tables, "control", access_items(events, load_partnership()))
    assert tables.scan(TableName="control", Select="COUNT")["Count"] == 60
