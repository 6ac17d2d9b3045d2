"""The audit table store: every event written once, read back by organisation, user and period."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mast.audit import (
    AuditEvent,
    AuditStore,
    AuditUnavailable,
    BadPageToken,
    event_to_item,
    format_event_time,
    item_to_event,
    new_event_id,
)

UTC = dt.UTC
TABLE = "mast-test-audit"


def create_audit_table(client: Any, name: str = TABLE) -> None:
    """The template's AuditTable, as the tests need it (keys, GSI, stream)."""
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": a, "AttributeType": "S"} for a in ("pk", "sk", "organisation", "event_time")],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "by-organisation",
            "KeySchema": [{"AttributeName": "organisation", "KeyType": "HASH"},
                          {"AttributeName": "event_time", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )


def event(when: dt.datetime, organisation: str = "walsall-council", username: str = "a@walsall.example",
          **fields: Any) -> AuditEvent:
    return AuditEvent(event_id=new_event_id(), event_time=when, action=fields.pop("action", "search"),
                      user_sub=f"sub-{username}", username=username, organisation=organisation,
                      groups=("practitioners",), **fields)


@pytest.fixture
def store() -> Iterator[AuditStore]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-2")
        create_audit_table(client)
        yield AuditStore(TABLE, client=client)


def test_item_round_trip_keeps_every_field() -> None:
    original = event(dt.datetime(2026, 3, 1, 9, 30, 1, 5, tzinfo=UTC), gateway="care-act-2014-s42",
                     purpose="case 12", record_ids=("r1", "r2"), records_returned=2, sensitive_returned=True)
    item = event_to_item(original)
    assert item["pk"] == "DAY#2026-03-01"
    assert item["sk"].startswith("2026-03-01T09:30:01.000005Z#")
    assert item["expires_at"] > original.event_time.timestamp() + 300 * 86400
    assert item_to_event(item) == original


def test_write_then_query_by_organisation_newest_first(store: AuditStore) -> None:
    base = dt.datetime(2026, 3, 1, 12, tzinfo=UTC)
    ours = [event(base + dt.timedelta(hours=h)) for h in range(5)]
    theirs = event(base, organisation="wm-police", username="p@wmp.example")
    for e in [*ours, theirs]:
        store.write(e)
    page = store.query(organisation="walsall-council", since=base - dt.timedelta(days=1), until=base + dt.timedelta(days=1))
    assert [e.event_id for e in page.events] == [e.event_id for e in reversed(ours)]
    assert page.next is None
    everyone = store.query(organisation=None, since=base - dt.timedelta(days=1), until=base + dt.timedelta(days=1))
    assert {e.event_id for e in everyone.events} == {e.event_id for e in [*ours, theirs]}


def test_period_bounds_and_user_filter(store: AuditStore) -> None:
    base = dt.datetime(2026, 3, 10, tzinfo=UTC)
    inside = event(base + dt.timedelta(hours=1), username="x@walsall.example")
    other_user = event(base + dt.timedelta(hours=2), username="y@walsall.example")
    before = event(base - dt.timedelta(seconds=1), username="x@walsall.example")
    at_end = event(base + dt.timedelta(days=1), username="x@walsall.example")
    for e in (inside, other_user, before, at_end):
        store.write(e)
    for organisation in ("walsall-council", None):
        page = store.query(organisation=organisation, since=base, until=base + dt.timedelta(days=1), user="x@walsall.example")
        assert [e.event_id for e in page.events] == [inside.event_id]
        by_sub = store.query(organisation=organisation, since=base, until=base + dt.timedelta(days=1), user="sub-x@walsall.example")
        assert [e.event_id for e in by_sub.events] == [inside.event_id]


@pytest.mark.parametrize("organisation", ["walsall-council", None])
def test_paging_across_days_returns_everything_once(store: AuditStore, organisation: str | None) -> None:
    base = dt.datetime(2026, 4, 1, 10, tzinfo=UTC)
    written = [event(base + dt.timedelta(hours=7 * i)) for i in range(23)]  # spans 7 days
    for e in written:
        store.write(e)
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        page = store.query(organisation=organisation, since=base - dt.timedelta(days=1), until=base + dt.timedelta(days=9),
                           limit=5, page_token=token)
        pages += 1
        assert len(page.events) <= 5
        seen += [e.event_id for e in page.events]
        if not page.next:
            break
        token = page.next
    assert seen == [e.event_id for e in reversed(written)]
    assert pages >= 5


def test_token_from_another_query_is_refused(store: AuditStore) -> None:
    base = dt.datetime(2026, 4, 1, 10, tzinfo=UTC)
    for i in range(4):
        store.write(event(base + dt.timedelta(minutes=i)))
    page = store.query(organisation="walsall-council", since=base, until=base + dt.timedelta(days=1), limit=2)
    assert page.next
    with pytest.raises(BadPageToken):
        store.query(organisation="wm-police", since=base, until=base + dt.timedelta(days=1), limit=2, page_token=page.next)
    with pytest.raises(BadPageToken):
        store.query(organisation="walsall-council", since=base, until=base + dt.timedelta(days=1), page_token="not-a-token")


def test_write_never_overwrites_and_failures_raise_audit_unavailable(store: AuditStore) -> None:
    e = event(dt.datetime(2026, 5, 1, tzinfo=UTC))
    store.write(e)
    with pytest.raises(AuditUnavailable):
        store.write(e)
    missing = AuditStore("no-such-table", client=store.client)
    with pytest.raises(AuditUnavailable):
        missing.write(event(dt.datetime(2026, 5, 1, tzinfo=UTC)))


def test_resolver_maps_audit_unavailable_to_503() -> None:
    import json

    from aws_lambda_powertools import Logger

    from mast.api.http import make_resolver

    app = make_resolver(Logger(service="test"))

    @app.get("/thing")
    def thing() -> dict[str, str]:
        raise AuditUnavailable("down")

    reply = app.resolve({"path": "/api/thing", "httpMethod": "GET", "headers": {}, "requestContext": {},
                         "queryStringParameters": None, "body": None, "isBase64Encoded": False}, None)
    assert reply["statusCode"] == 503
    assert "audit" in json.loads(reply["body"])["message"]


def test_event_times_keep_four_digit_years_so_text_order_is_time_order() -> None:
    early = dt.datetime(18, 5, 10, tzinfo=dt.UTC)
    late = dt.datetime(2026, 5, 10, tzinfo=dt.UTC)
    assert format_event_time(early) == "0018-05-10T00:00:00.000000Z"
    assert format_event_time(early) < format_event_time(late)


@pytest.mark.parametrize("params", [{"to": "0018-06-13"}, {"from": "1999-12-31"}, {"to": "9999-12-31"},
                                    {"from": "3000-01-01", "to": "3000-01-02"}])
def test_audit_periods_outside_what_mast_can_hold_are_refused(params: dict[str, str]) -> None:
    """Schemathesis found `to=0018-06-13` answered 500: a period must name dates MAST can hold."""
    from pydantic import ValidationError

    from mast.audit.view import AuditListQuery

    with pytest.raises(ValidationError):
        AuditListQuery.model_validate(params)
