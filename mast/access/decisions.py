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
    """A steward's decision on a set of records: all one person, or none the same as another."""

    decision: Literal["same", "different"]
    record_ids: list[RecordId] = Field(min_length=2, max_length=10)
    reason: str = Field(min_length=3, max_length=500)

    @model_validator(mode="after")
    def _distinct(self) -> LinkDecisionRequest:
        if len(set(self.record_ids)) != len(self.record_ids):
            raise ValueError("each record id may appear only once")
        clean_text(self.reason)
        for record_id in self.record_ids:
            clean_text(record_id)
        return self


class LinkDecisionResponse(StrictModel):
    decision_id: str
    decision: Literal["same", "different"]
    record_ids: list[str]
    relink_queued: bool




class UnknownRecords(Refused):
    """A decision named a record the index does not hold."""

    status = 404


class RecordLookup(Protocol):
    """What a decision needs of the index: which of these record ids it holds."""

    def records(self, record_ids: Iterable[str]) -> Sequence[Any]: ...


def decide(request: LinkDecisionRequest, caller: Caller, index: RecordLookup, store: DecisionStore,
           audit: AuditStore, request_id: str | None = None,
           relink: Callable[[list[str]], bool] | None = None) -> LinkDecisionResponse:
    """A steward's decision: checked against the index, audited, kept as pairwise decisions, then a
    relink queued (``relink``) so it shows at once; every later link, rebuild included, honours it.

    "Same" joins each record to the first; "different" keeps every pair apart.
    """
    caller.require("data-stewards")
    ids = list(request.record_ids)
    known = {r.record_id for r in index.records(ids)}
    missing = [r for r in ids if r not in known]
    if missing:
        raise UnknownRecords(f"not in the index: {', '.join(missing)}")
    if request.decision == "same":
        pairs = [(ids[0], other) for other in ids[1:]]
    else:
        pairs = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1 :]]
    decision_id = uuid.uuid4().hex
    audit.write(caller.audit_event(
        request_id, action="link-decision", record_ids=tuple(ids), records_returned=len(ids), target=decision_id,
        detail=json.dumps({"decision": request.decision, "reason": request.reason}),
    ))
    kind = SAME if request.decision == "same" else NOT_SAME
    for a, b in pairs:
        store.record(Decision(a, b, kind, reason=request.reason), caller)
    queued = relink(ids) if relink is not None else False
    return LinkDecisionResponse(decision_id=decision_id, decision=request.decision, record_ids=ids,
                                relink_queued=queued)
