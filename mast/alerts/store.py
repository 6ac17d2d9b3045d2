"""Alerts in the control table: ``ALERTS#<organisation>`` / ``<alert id>``, newest first, expiring
with the table's TTL (``expires_at``)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mast.alerts.models import Alert

#: the most alerts one page lists (newest first); older ones are still counted as unseen
PAGE = 100


def _pk(organisation: str) -> str:
    return f"ALERTS#{organisation}"


class AlertStore:
    """Writes the alerts a link made, lists an organisation's, and marks one seen."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client = client

    def add(self, alerts: Iterable[Alert], before: Callable[[Alert], None] | None = None,
            threads: int = 8) -> list[Alert]:
        """Write each alert unless it is there already (a retried run makes the same ids): the ones
        that are new, for the nudge. ``before(alert)`` runs first for each new one (the match run's
        audit event), so a run that dies between the two audits an alert twice on its retry, never
        makes one unaudited."""
        wanted = list({a.alert_id: a for a in alerts}.values())
        keys = [{"pk": {"S": _pk(a.organisation)}, "sk": {"S": a.alert_id}} for a in wanted]
        there: set[tuple[str, str]] = set()
        for start in range(0, len(keys), 100):
            request: dict[str, Any] = {self.table_name: {"Keys": keys[start : start + 100],
                                                         "ProjectionExpression": "pk, sk"}}
            while request:
                reply = self.client.batch_get_item(RequestItems=request)
                there |= {(i["pk"]["S"], i["sk"]["S"]) for i in reply.get("Responses", {}).get(self.table_name, [])}
                request = reply.get("UnprocessedKeys") or {}
        new = [a for a in wanted if (_pk(a.organisation), a.alert_id) not in there]

        def one(alert: Alert) -> Alert | None:
            if before is not None:
                before(alert)
            try:
                self.client.put_item(TableName=self.table_name, Item=_item(alert),
                                     ConditionExpression="attribute_not_exists(pk)")
            except self.client.exceptions.ConditionalCheckFailedException:
                return None
            return alert

        if len(new) <= 1:
            return [a for a in map(one, new) if a is not None]
        with ThreadPoolExecutor(threads) as pool:
            return [a for a in pool.map(one, new) if a is not None]

    def list(self, organisation: str, now: dt.datetime | None = None, limit: int = PAGE) -> tuple[list[Alert], int]:
        """The organisation's alerts, newest first (at most ``limit``), and how many are unseen."""
        now = now or dt.datetime.now(dt.UTC)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "KeyConditionExpression": "pk = :pk", "ScanIndexForward": False,
            "ExpressionAttributeValues": {":pk": {"S": _pk(organisation)}}, "ConsistentRead": True,
        }
        alerts: list[Alert] = []
        unseen = 0
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                alert = Alert.model_validate_json(item["alert"]["S"])
                if alert.expires_at <= now:
                    continue  # TTL lags; an expired alert is gone as far as anyone can see
                seen = "seen_at" in item
                unseen += not seen
                if len(alerts) < limit:
                    alerts.append(alert.model_copy(update={
                        "seen_at": dt.datetime.fromisoformat(item["seen_at"]["S"]) if seen else None,
                        "seen_by": item.get("seen_by", {}).get("S")}))
            if "LastEvaluatedKey" not in page:
                return alerts, unseen
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def unseen(self, organisation: str, now: dt.datetime | None = None) -> int:
        """How many of the organisation's alerts are unseen and unexpired: counted by DynamoDB
        (``Select=COUNT``), not parsed here, as every page's navigation asks."""
        now = now or dt.datetime.now(dt.UTC)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "KeyConditionExpression": "pk = :pk", "Select": "COUNT",
            "FilterExpression": "attribute_not_exists(seen_at) AND expires_at > :now",
            "ExpressionAttributeValues": {":pk": {"S": _pk(organisation)}, ":now": {"N": str(int(now.timestamp()))}},
        }
        count = 0
        while True:
            page = self.client.query(**kwargs)
            count += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                return count
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def get(self, organisation: str, alert_id: str) -> Alert | None:
        """One of the organisation's alerts (None for another organisation's: the key names it)."""
        item = self.client.get_item(TableName=self.table_name, ConsistentRead=True,
                                    Key={"pk": {"S": _pk(organisation)}, "sk": {"S": alert_id}}).get("Item")
        if item is None:
            return None
        alert = Alert.model_validate_json(item["alert"]["S"])
        return None if alert.expires_at <= dt.datetime.now(dt.UTC) else alert

    def mark_seen(self, organisation: str, alert_id: str, by: str, now: dt.datetime) -> bool:
        """Mark the organisation's alert seen (the first marking stands); False when there is none."""
        try:
            self.client.update_item(
                TableName=self.table_name, Key={"pk": {"S": _pk(organisation)}, "sk": {"S": alert_id}},
                UpdateExpression="SET seen_at = if_not_exists(seen_at, :at), seen_by = if_not_exists(seen_by, :by)",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues={":at": {"S": now.isoformat()}, ":by": {"S": by}},
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True


def _item(alert: Alert) -> dict[str, Any]:
    return {
        "pk": {"S": _pk(alert.organisation)}, "sk": {"S": alert.alert_id},
        "alert": {"S": alert.model_dump_json(exclude={"seen_at", "seen_by"})},
        "expires_at": {"N": str(int(alert.expires_at.timestamp()))},
    }
