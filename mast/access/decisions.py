"""Data stewards' linkage decisions, kept in the control table and honoured by every link.

A decision names two record ids (never person ids, which change when the index is rebuilt) and
says "the same person" or "not the same person". Decisions are an append-only log under one
partition (``DECISION#LOG``), sorted by when they were made, so reading them back in order gives
:func:`mast.linkage.decisions.latest` the time order it needs (the last word on a pair wins).
The match function reads them all on every run, rebuild included.

The API (``POST /api/link-decisions``) calls :meth:`DecisionStore.record`, writes the audit event,
and puts a ``relink`` message on the match queue (see :mod:`mast.index.messages`) so the
decision takes effect at once.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Annotated, Any, Final, Literal, Protocol

from pydantic import Field, model_validator

from mast.access.caller import Caller
from mast.audit.store import AuditStore
from mast.linkage.decisions import NOT_SAME, SAME, Decision
from mast.schema import Refused, StrictModel, clean_text

DECISIONS_PK: Final = "DECISION#LOG"
REASON_LIMIT: Final = 500


class DecisionStore:
    """Steward decisions in the control table."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client = client

    def record(self, decision: Decision, caller: Caller, now: dt.datetime | None = None) -> Decision:
        """Keep a decision by ``caller`` (who must be a data steward); returns it as kept, with who and when.

        The decision's own ``decided_by``/``decided_at`` are ignored: the store says who and when.
        """
        caller.require("data-stewards")
        if len(decision.reason) > REASON_LIMIT:
            raise ValueError(f"the reason may be at most {REASON_LIMIT} characters")
        now = now or dt.datetime.now(dt.UTC)
        kept = Decision(decision.record_a, decision.record_b, decision.decision, caller.sub, now.isoformat(),
                        decision.reason)
        item: dict[str, Any] = {
            "pk": {"S": DECISIONS_PK},
            "sk": {"S": f"{kept.decided_at}#{uuid.uuid4().hex}"},
            "record_a": {"S": kept.record_a},
            "record_b": {"S": kept.record_b},
            "decision": {"S": kept.decision},
            "decided_by": {"S": kept.decided_by},
            "organisation": {"S": caller.organisation},
            "decided_at": {"S": kept.decided_at},
        }
        if kept.reason:
            item["reason"] = {"S": kept.reason}
        self.client.put_item(TableName=self.table_name, Item=item, ConditionExpression="attribute_not_exists(pk)")
        return kept

    def all(self) -> list[Decision]:
        """Every decision, oldest first (so the latest about a pair wins)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": DECISIONS_PK}},
            "ConsistentRead": True,
        }
        decisions: list[Decision] = []
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                decisions.append(Decision(
                    item["record_a"]["S"], item["record_b"]["S"], item["decision"]["S"],
                    item.get("decided_by", {}).get("S", ""), item.get("decided_at", {}).get("S", ""),
                    item.get("reason", {}).get("S", ""),
                ))
            if "LastEvaluatedKey" not in page:
                return decisions
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ---------------------------------------------------------------------------------- link decisions
RecordId = Annotated[str, Field(min_length=3, max_length=200, pattern=r"^[A-Za-z0-9._-]+:[^\x00-\x1f]+$")]


class LinkDecisionRequest(StrictModel):
    """A steward's decision on a set of records: all one person, or none the same as another; or
    on an item of the review queue (``review_item``: its two records), where "leave" closes the
    item with no decision, leaving the pair as the linkage has it."""

    decision: Literal["same", "different", "leave"]
    record_ids: list[RecordId] = Field(default_factory=list, max_length=10,
                                       description="two or more; may be left out when review_item names the pair")
    reason: str = Field(min_length=3, max_length=500)
    review_item: str | None = Field(default=None, max_length=40, pattern=r"^[LW]-[0-9a-f]{20}$",
                                    description="the review queue's item this decides (each is decided once)")

    @model_validator(mode="after")
    def _distinct(self) -> LinkDecisionRequest:
        if self.review_item is None and len(self.record_ids) < 2:
            raise ValueError("name at least two record ids, or the review queue's item (review_item)")
        if self.review_item is None and self.decision == "leave":
            raise ValueError("'leave' decides an item of the review queue: name it in review_item")
        if self.review_item is not None and self.record_ids and len(self.record_ids) != 2:
            raise ValueError("an item of the review queue is a pair: name its two record ids, or none")
        if len(set(self.record_ids)) != len(self.record_ids):
            raise ValueError("each record id may appear only once")
        clean_text(self.reason)
        for record_id in self.record_ids:
            clean_text(record_id)
        return self


class LinkDecisionResponse(StrictModel):
    decision_id: str
    decision: Literal["same", "different", "leave"]
    record_ids: list[str]
    relink_queued: bool
    review_item: str | None = None




class UnknownRecords(Refused):
    """A decision named a record the index does not hold."""

    status = 404


class RecordLookup(Protocol):
    """What a decision needs of the index: which of these record ids it holds."""

    def records(self, record_ids: Iterable[str]) -> Sequence[Any]: ...


class ReviewItems(Protocol):
    """What a decision needs of the stewards' review queue (:class:`mast.stewardship.ReviewQueue`)."""

    def get(self, ident: str) -> Any: ...
    def claim(self, ident: str, decision: Literal["same", "different", "leave"], caller: Caller) -> Any: ...
    def release(self, ident: str) -> None: ...


class NotInQueue(Refused):
    """The review item named is not in the queue (HTTP 404)."""

    status = 404


def decide(request: LinkDecisionRequest, caller: Caller, index: RecordLookup, store: DecisionStore,
           audit: AuditStore, request_id: str | None = None,
           relink: Callable[[list[str]], bool] | None = None, queue: ReviewItems | None = None) -> LinkDecisionResponse:
    """A steward's decision: checked against the index, audited, kept as pairwise decisions, then a
    relink queued (``relink``) so it shows at once; every later link, rebuild included, honours it.

    "Same" joins each record to the first; "different" keeps every pair apart. A decision on an
    item of the review queue (``request.review_item``) is about that item's two records, claims the
    item first (once only: a second decision is refused, 409) and gives the claim back if the
    audit cannot be written; "leave" decides nothing about the records, so nothing is relinked.
    """
    caller.require("data-stewards")
    ids = list(request.record_ids)
    if request.review_item is not None:
        item = queue.get(request.review_item) if queue is not None else None
        if item is None:
            raise NotInQueue(f"there is no item {request.review_item} in the review queue")
        pair = [item.record_a, item.record_b]
        if ids and set(ids) != set(pair):
            raise Refused("the records named are not the review item's: name its two records, or none")
        ids = pair
    if request.decision != "leave":
        known = {r.record_id for r in index.records(ids)}
        if any(r not in known for r in ids):
            # The same answer whichever id is missing, or whatever it names (an unknown case reference,
            # another partnership's feed): it must not say which of them exist. The handler audits it.
            raise UnknownRecords(f"not every record named is in the index, so nothing was decided: {', '.join(ids)}")
    if request.decision == "same":
        pairs = [(ids[0], other) for other in ids[1:]]
    elif request.decision == "different":
        pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    else:
        pairs = []
    if request.review_item is not None and queue is not None:
        queue.claim(request.review_item, request.decision, caller)
    decision_id = uuid.uuid4().hex
    detail: dict[str, Any] = {"decision": request.decision, "reason": request.reason}
    if request.review_item is not None:
        detail["review_item"] = request.review_item
    try:
        audit.write(caller.audit_event(
            request_id, action="link-decision", record_ids=tuple(ids), records_returned=len(ids), target=decision_id,
            detail=json.dumps(detail),
        ))
    except Exception:
        if request.review_item is not None and queue is not None:
            queue.release(request.review_item)  # not audited, so not decided: the item is open again
        raise
    kind = SAME if request.decision == "same" else NOT_SAME
    for a, b in pairs:
        store.record(Decision(a, b, kind, reason=request.reason), caller)
    queued = relink(ids) if relink is not None and pairs else False
    return LinkDecisionResponse(decision_id=decision_id, decision=request.decision, record_ids=ids,
                                relink_queued=queued, review_item=request.review_item)
