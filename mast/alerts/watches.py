"""Watching a person explicitly: beyond its open cases, an organisation may watch a person it has
found (a child just discharged, an adult whose case is about to close), from the person view, under
that search's declaration. The watch names the person's record ids at that moment, never the person
id (a rebuild may change it), and expires after the days chosen (at most 180): a watch is a
purpose-bound interest, not a standing flag. Making one is audited; the match run reads every
active watch and treats the watched records as it treats the organisation's open cases
(:mod:`mast.alerts.detect`).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from mast.access.caller import Caller
from mast.audit.store import AuditStore
from mast.schema import StrictModel
from mast.search.actions import own_search
from mast.search.query import IndexReading
from mast.search.store import SearchStore

#: one partition for every watch: the match run reads them all at once (thousands at most)
WATCHES_PK: Final = "WATCHES"
MAX_DAYS: Final = 180


class WatchRequest(StrictModel):
    """``POST /api/people/{id}/watch?search=``: how long to watch."""

    days: int = Field(default=90, ge=1, le=MAX_DAYS, description="how many days the watch lasts (at most 180)")


class Watch(BaseModel):
    """An organisation's watch on the records of one person."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    watch_id: str
    organisation: str
    record_ids: tuple[str, ...]
    made_by: str
    made_at: dt.datetime
    expires_at: dt.datetime
    purpose: str = Field(description="the declared purpose of the search it was made from")


class WatchStore:
    """Watches in the control table (``WATCHES`` / ``<organisation>#<watch id>``), expiring by TTL."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client = client

    def add(self, watch: Watch) -> None:
        self.client.put_item(TableName=self.table_name, Item={
            "pk": {"S": WATCHES_PK}, "sk": {"S": f"{watch.organisation}#{watch.watch_id}"},
            "watch": {"S": watch.model_dump_json()}, "expires_at": {"N": str(int(watch.expires_at.timestamp()))}})

    def active(self, now: dt.datetime) -> list[Watch]:
        """Every watch not yet expired (DynamoDB's TTL lags; an expired one is ignored here)."""
        kwargs: dict[str, Any] = {"TableName": self.table_name, "KeyConditionExpression": "pk = :pk",
                                  "ExpressionAttributeValues": {":pk": {"S": WATCHES_PK}}}
        watches: list[Watch] = []
        while True:
            page = self.client.query(**kwargs)
            watches += [Watch.model_validate_json(i["watch"]["S"]) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return [w for w in watches if w.expires_at > now]
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def watch_person(caller: Caller, person_id: str, search_id: str, request: WatchRequest, index: IndexReading,
                 audit: AuditStore, searches: SearchStore, store: WatchStore, request_id: str | None = None,
                 now: dt.datetime | None = None) -> Watch:
    """Watch a person the caller's own search returned, under its declaration; audited first."""
    stored = own_search(caller, person_id, search_id, searches)
    now = now or dt.datetime.now(dt.UTC)
    record_ids = tuple(index.person_record_ids(person_id)) or stored.people.get(person_id, ())
    watch = Watch(watch_id="w-" + secrets.token_hex(8), organisation=caller.organisation, record_ids=record_ids,
                  made_by=caller.email, made_at=now, expires_at=now + dt.timedelta(days=request.days),
                  purpose=stored.purpose)
    audit.write(caller.audit_event(
        request_id, action="watch-add", gateway=stored.gateway, purpose=stored.purpose, search_id=search_id,
        people_returned=(person_id,), record_ids=record_ids,
        detail=json.dumps({"watch": watch.watch_id, "days": request.days}),
    ))
    store.add(watch)
    return watch
