"""Alerts in the control table: ``ALERTS#<organisation>`` / ``<alert id>``, newest first, expiring
with the table's TTL (``expires_at``).

The unseen count is kept cheap by a sparse partition of its own: each unseen alert has a marker item
``UNSEEN#<organisation>`` / ``<alert id>`` (keys and ``expires_at`` only), written just before the
alert and deleted just before the alert is marked seen. The count is then a ``Select=COUNT`` query
whose key condition reads only the unseen markers (tiny items: a 1 MB page holds thousands), never
the organisation's whole history of alerts.

Chosen over a counter item because nothing here adds or subtracts: a retried write puts the same
marker again (conditionally) and a second "seen" deletes nothing, so retries cannot make the count
drift; and the marker carries the alert's ``expires_at``, so the table's TTL removes both together (a
counter would count expired alerts for ever, as TTL deletions decrement nothing). Chosen over a
sparse GSI because it needs no change to the control table's definition (deployed tables, and every
test's table, keep theirs) and reads strongly consistently, so a team that marks an alert seen sees
the count fall at once. Not a transaction: moto, which runs the local stack, copies the whole table
for each transaction and breaks when other writes come meanwhile; the order of the two writes is
chosen instead so that a failure between them is mended by the retry that follows (see each).
"""

from __future__ import annotations

import builtins
import datetime as dt
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mast.alerts.models import Alert
from mast.schema import Refused

#: the most alerts one page lists (newest first); the next page starts after the last one listed
PAGE = 100
#: an alert id (``Alert.make_id``): the only thing a page token may be
ALERT_ID = re.compile(r"^\d{8}-[0-9a-f]{20}$")


def _pk(organisation: str) -> str:
    return f"ALERTS#{organisation}"


def _unseen_pk(organisation: str) -> str:
    return f"UNSEEN#{organisation}"


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
            # the unseen marker first: a run that dies between the two leaves a marker its retry
            # completes (the alert is not there yet, so it is still new), never an uncounted alert
            try:
                self.client.put_item(TableName=self.table_name, Item=_marker(alert),
                                     ConditionExpression="attribute_not_exists(pk)")
            except self.client.exceptions.ConditionalCheckFailedException:
                pass  # an earlier try of this run wrote it
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
        """The organisation's newest alerts (at most ``limit``) and how many of all its alerts are unseen."""
        return self.page(organisation, now, limit)[0], self.unseen(organisation, now)

    def page(self, organisation: str, now: dt.datetime | None = None, limit: int = PAGE,
             after: str | None = None) -> tuple[builtins.list[Alert], str | None]:
        """One page of the organisation's alerts, newest first, starting after the alert id ``after``
        (the previous page's ``next``), and the ``next`` token for the one after (None: no more).
        Reads about a page's worth, not the partition: ``Limit`` is one more than the page."""
        now = now or dt.datetime.now(dt.UTC)
        if after is not None and not ALERT_ID.match(after):
            raise Refused("next must be the token a previous page of alerts gave", 400)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "KeyConditionExpression": "pk = :pk", "ScanIndexForward": False,
            "ExpressionAttributeValues": {":pk": {"S": _pk(organisation)}}, "ConsistentRead": True,
            "Limit": limit + 1,
        }
        if after is not None:
            kwargs["ExclusiveStartKey"] = {"pk": {"S": _pk(organisation)}, "sk": {"S": after}}
        alerts: builtins.list[Alert] = []
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                alert = Alert.model_validate_json(item["alert"]["S"])
                if alert.expires_at <= now:
                    continue  # TTL lags; an expired alert is gone as far as anyone can see
                seen = "seen_at" in item
                alerts.append(alert.model_copy(update={
                    "seen_at": dt.datetime.fromisoformat(item["seen_at"]["S"]) if seen else None,
                    "seen_by": item.get("seen_by", {}).get("S")}))
                if len(alerts) > limit:
                    return alerts[:limit], alerts[limit - 1].alert_id
            if "LastEvaluatedKey" not in page:
                return alerts, None
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def unseen(self, organisation: str, now: dt.datetime | None = None) -> int:
        """How many of the organisation's alerts are unseen and unexpired: counted by DynamoDB
        (``Select=COUNT``) over the unseen markers only (the module docstring says why), as every
        page's navigation asks."""
        now = now or dt.datetime.now(dt.UTC)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "KeyConditionExpression": "pk = :pk", "Select": "COUNT",
            "FilterExpression": "expires_at > :now", "ConsistentRead": True,
            "ExpressionAttributeValues": {":pk": {"S": _unseen_pk(organisation)},
                                          ":now": {"N": str(int(now.timestamp()))}},
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
        # the marker goes first: should the second write fail, the alert still reads as new, with its
        # button to mark it seen again, rather than seen yet counted for ever
        self.client.delete_item(TableName=self.table_name,
                                Key={"pk": {"S": _unseen_pk(organisation)}, "sk": {"S": alert_id}})
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
        "made_at": {"S": alert.made_at.astimezone(dt.UTC).isoformat()},  # the daily digest's window
        "expires_at": {"N": str(int(alert.expires_at.timestamp()))},
    }


def _marker(alert: Alert) -> dict[str, Any]:
    """The alert's place in the unseen count: keys and expiry only (nothing about anyone)."""
    return {"pk": {"S": _unseen_pk(alert.organisation)}, "sk": {"S": alert.alert_id},
            "expires_at": {"N": str(int(alert.expires_at.timestamp()))}}
