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
import uuid
from typing import Any, Final

from mast.api.caller import Caller
from mast.linkage.decisions import Decision

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
