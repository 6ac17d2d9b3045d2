"""The data stewards' review queue, kept in the control table: one item per pair of record ids.

Two things put a pair in it:

* the match run, after every link: the closest calls it made (:mod:`mast.linkage.review`: pairs
  held apart by a guard or a conflict, pairs just under the threshold), at most
  :data:`mast.linkage.review.PAIRS_PER_RUN` a run;
* a practitioner who reports that a person shown is not one person: the record they say is
  someone else, beside another record of that person.

An item names two record ids, never person ids (which change when the index is rebuilt), so a
pair found again by a later run is the same item (its score refreshed), not a new one. Each item
is small (two ids, a score, a reason of at most 500 characters): nowhere near DynamoDB's 400 KB.
An item is decided once: the claim is a conditional write (``status = open``), so a second
decision, however close behind the first, finds it decided (HTTP 409).

Layout: partition ``REVIEW#QUEUE``, sort key ``ITEM#<item id>``. A pair the linkage found that no
later run finds again and nobody decides expires (``expires_at``, the table's TTL) after
:data:`OPEN_DAYS`; a decided item after :data:`DECIDED_DAYS` (the audit keeps the decision for good).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from typing import Any, Final, Literal

from mast.access.caller import Caller
from mast.linkage.review import ReviewPair
from mast.schema import Refused, StrictModel

QUEUE_PK: Final = "REVIEW#QUEUE"
ITEM_PREFIX: Final = "ITEM#"
#: days a pair the linkage found stays open unless a later run finds it again
OPEN_DAYS: Final = 30
#: days a decided item stays listed as decided
DECIDED_DAYS: Final = 90

ItemKind = Literal["held-apart", "just-under", "reported"]
ItemDecision = Literal["same", "different", "leave"]


class ItemNotFound(Refused):
    """No such item in the review queue (HTTP 404)."""

    status = 404


class AlreadyDecided(Refused):
    """The item was decided before (HTTP 409): each item is decided once."""

    status = 409


class ReviewItem(StrictModel):
    """One pair of records for a steward to decide."""

    item_id: str
    kind: ItemKind
    record_a: str
    record_b: str
    status: Literal["open", "decided"] = "open"
    created_at: str
    updated_at: str
    weight: float | None = None
    probability: float | None = None
    guards: list[str] = []
    #: how many practitioners' reports, and the latest one's reason and organisation
    reports: int = 0
    reason: str | None = None
    reported_by_organisation: str | None = None
    decision: ItemDecision | None = None
    decided_by: str | None = None
    decided_at: str | None = None


def _pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


def item_id(kind: Literal["linkage", "reported"], record_a: str, record_b: str, salt: str = "") -> str:
    """The item's id: from the pair of record ids alone (so a pair found again is the same item)."""
    a, b = _pair(record_a, record_b)
    digest = hashlib.blake2b(f"{a}\x00{b}\x00{salt}".encode(), digest_size=10).hexdigest()
    return ("L-" if kind == "linkage" else "W-") + digest


def _epoch(when: dt.datetime, days: int) -> str:
    return str(int((when + dt.timedelta(days=days)).timestamp()))


def _item(raw: dict[str, Any]) -> ReviewItem:
    def s(name: str) -> str | None:
        value = raw.get(name)
        return None if value is None else str(value.get("S", value.get("N")))

    return ReviewItem(
        item_id=str(s("item_id")), kind=s("kind"), record_a=str(s("record_a")), record_b=str(s("record_b")),  # type: ignore[arg-type]
        status=s("status") or "open", created_at=s("created_at") or "", updated_at=s("updated_at") or "",  # type: ignore[arg-type]
        weight=float(raw["weight"]["N"]) if "weight" in raw else None,
        probability=float(raw["probability"]["N"]) if "probability" in raw else None,
        guards=[g["S"] for g in raw.get("guards", {}).get("L", [])], reports=int(raw.get("reports", {}).get("N", 0)),
        reason=s("reason"), reported_by_organisation=s("reported_by_organisation"),
        decision=s("decision"), decided_by=s("decided_by"), decided_at=s("decided_at"),  # type: ignore[arg-type]
    )


class ReviewQueue:
    """The review queue in the control table."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client = client

    def _key(self, item: str) -> dict[str, Any]:
        return {"pk": {"S": QUEUE_PK}, "sk": {"S": ITEM_PREFIX + item}}

    def _conditional(self, **kwargs: Any) -> dict[str, Any] | None:
        """An update that may find its condition false: the item's new state, or None."""
        try:
            return dict(self.client.update_item(TableName=self.table_name, ReturnValues="ALL_NEW", **kwargs))
        except self.client.exceptions.ConditionalCheckFailedException:
            return None

    # ------------------------------------------------------------------ the linkage's pairs
    def add_pairs(self, pairs: Iterable[ReviewPair], now: dt.datetime | None = None) -> int:
        """Put the link's closest calls in the queue: new pairs opened, open ones refreshed (score,
        expiry), decided ones left decided. Returns how many are open after it."""
        now = now or dt.datetime.now(dt.UTC)
        count = 0
        for pair in pairs:
            a, b = pair.pair
            ident = item_id("linkage", a, b)
            values: dict[str, Any] = {
                ":id": {"S": ident}, ":kind": {"S": pair.kind}, ":a": {"S": a}, ":b": {"S": b},
                ":open": {"S": "open"}, ":now": {"S": now.isoformat()}, ":w": {"N": repr(float(pair.weight))},
                ":p": {"N": repr(float(pair.probability))}, ":g": {"L": [{"S": g} for g in pair.guards]},
                ":exp": {"N": _epoch(now, OPEN_DAYS)},
            }
            done = self._conditional(
                Key=self._key(ident),
                UpdateExpression=("SET item_id = :id, kind = :kind, record_a = :a, record_b = :b, #s = :open, "
                                  "created_at = if_not_exists(created_at, :now), updated_at = :now, weight = :w, "
                                  "probability = :p, guards = :g, expires_at = :exp"),
                ConditionExpression="attribute_not_exists(pk) OR #s = :open",
                ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues=values,
            )
            count += done is not None
        return count

    # ------------------------------------------------------------------ practitioners' reports
    def report(self, record_a: str, record_b: str, reason: str, caller: Caller,
               now: dt.datetime | None = None) -> ReviewItem:
        """A practitioner's report that ``record_a`` is not the person ``record_b`` is: added to the
        pair's open item (counted, the latest reason kept), or a new item when there is none open
        (a pair decided before and reported again is a new question, so a new item)."""
        now = now or dt.datetime.now(dt.UTC)
        a, b = _pair(record_a, record_b)
        values: dict[str, Any] = {
            ":kind": {"S": "reported"}, ":a": {"S": a}, ":b": {"S": b}, ":open": {"S": "open"},
            ":now": {"S": now.isoformat()}, ":reason": {"S": reason}, ":org": {"S": caller.organisation},
            ":one": {"N": "1"}, ":zero": {"N": "0"},
        }
        update = ("SET item_id = :id, kind = :kind, record_a = :a, record_b = :b, #s = :open, "
                  "created_at = if_not_exists(created_at, :now), updated_at = :now, reason = :reason, "
                  "reported_by_organisation = :org, reports = if_not_exists(reports, :zero) + :one "
                  "REMOVE expires_at")
        for salt, condition in (("", "attribute_not_exists(pk) OR #s = :open"),
                                (now.isoformat(), "attribute_not_exists(pk)")):
            ident = item_id("reported", a, b, salt)
            done = self._conditional(Key=self._key(ident), UpdateExpression=update, ConditionExpression=condition,
                                     ExpressionAttributeNames={"#s": "status"},
                                     ExpressionAttributeValues={**values, ":id": {"S": ident}})
            if done is not None:
                return _item(done["Attributes"])
        raise AlreadyDecided("that report could not be added to the review queue just now; try again")

    # ------------------------------------------------------------------ reading and deciding
    def get(self, ident: str) -> ReviewItem | None:
        raw = self.client.get_item(TableName=self.table_name, Key=self._key(ident), ConsistentRead=True).get("Item")
        return _item(raw) if raw else None

    def items(self, status: Literal["open", "decided"] = "open") -> list[ReviewItem]:
        """Every item of ``status``: practitioners' reports first (oldest first: they waited
        longest), then the linkage's pairs, closest call first."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "KeyConditionExpression": "pk = :pk", "FilterExpression": "#s = :status",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":pk": {"S": QUEUE_PK}, ":status": {"S": status}}, "ConsistentRead": True,
        }
        found: list[ReviewItem] = []
        while True:
            page = self.client.query(**kwargs)
            found.extend(_item(raw) for raw in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        found.sort(key=lambda i: (i.kind != "reported", i.created_at if i.kind == "reported" else "",
                                  -(i.weight or 0.0), i.item_id))
        return found

    def claim(self, ident: str, decision: ItemDecision, caller: Caller, now: dt.datetime | None = None) -> ReviewItem:
        """Mark the item decided by ``caller``: once only (409 when it was decided already)."""
        now = now or dt.datetime.now(dt.UTC)
        done = self._conditional(
            Key=self._key(ident),
            UpdateExpression="SET #s = :decided, decision = :d, decided_by = :by, decided_at = :now, expires_at = :exp",
            ConditionExpression="#s = :open", ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":decided": {"S": "decided"}, ":open": {"S": "open"}, ":d": {"S": decision},
                                       ":by": {"S": caller.email}, ":now": {"S": now.isoformat()},
                                       ":exp": {"N": _epoch(now, DECIDED_DAYS)}},
        )
        if done is not None:
            return _item(done["Attributes"])
        before = self.get(ident)
        if before is None:
            raise ItemNotFound(f"there is no item {ident} in the review queue")
        words = {"same": "the same person", "different": "not the same person", "leave": "left as the linkage has it"}
        raise AlreadyDecided(f"This item was already decided ({words.get(before.decision or '', before.decision)}) "
                             f"by {before.decided_by} at {before.decided_at}. Each item is decided once.")

    def release(self, ident: str) -> None:
        """Undo a claim whose decision could not be audited (so it was not made)."""
        self.client.update_item(
            TableName=self.table_name, Key=self._key(ident),
            UpdateExpression="SET #s = :open REMOVE decision, decided_by, decided_at, expires_at",
            ConditionExpression="#s = :decided", ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":open": {"S": "open"}, ":decided": {"S": "decided"}},
        )
