"""The audit table, the hot copy: one event written before the answer leaves, events read by period.

Writing fails loudly (:class:`~mast.audit.event.AuditUnavailable`) so that a lost event can never be
mistaken for a written one; reading pages through a period with an opaque ``next`` token that only
the query that issued it may use.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Iterator, Mapping
from typing import Any, Final

from pydantic import BaseModel, Field

from mast.audit.event import (
    EVENT_TIME_FORMAT,
    AuditEvent,
    AuditUnavailable,
    deserialise,
    event_to_item,
    format_event_time,
    item_to_event,
    serialise,
)
from mast.schema import Refused

# --- The audit table (the hot copy) ---------------------------------------------------------------
#
# Item design. The table answers two questions without a scan:
#   * an organisation's events in a period (org-admins): the ``by-organisation`` GSI,
#     ``organisation`` + ``event_time``;
#   * every organisation's events in a period (auditors): the base table, one partition per UTC
#     day, ``pk = DAY#<YYYY-MM-DD>``, ``sk = <event_time>#<event_id>``.
# ``event_time`` is stored as fixed-width ISO text (microseconds, ``Z``) so that text order is time
# order. ``expires_at`` (epoch seconds) lets DynamoDB drop the hot copy after :data:`HOT_DAYS`; the
# Object Lock bucket keeps the audit for years.

ORGANISATION_INDEX: Final = "by-organisation"
_MAX_PAGE: Final = 200


class BadPageToken(Refused, ValueError):
    """A ``next`` token that this query did not issue (HTTP 400)."""


class AuditPage(BaseModel):
    """One page of audit events, newest first, and the opaque token of the next page."""

    events: list[AuditEvent]
    next: str | None = None
    since: dt.datetime | None = Field(default=None, description="the period read (a token keeps the first page's)")
    until: dt.datetime | None = None


class AuditStore:
    """The audit table: write one event (or fail loudly), read events back by period.

    ``write`` raises :class:`AuditUnavailable` on *any* failure, so a caller cannot mistake a lost
    audit event for a written one; it never overwrites an existing event.
    """

    def __init__(self, table_name: str, client: Any = None, page_key: bytes | None = None) -> None:
        """``page_key`` signs the ``next`` tokens (HMAC-SHA256), so that nobody can edit one to read
        another period or organisation; the audit function passes the stack's (:func:`page_key`).
        Without one, a key made once per process signs them: tokens then hold within it only."""
        self.table_name = table_name
        self.page_key = page_key or _PROCESS_PAGE_KEY
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.client = client

    def write(self, event: AuditEvent) -> None:
        try:
            self.client.put_item(
                TableName=self.table_name,
                Item=serialise(event_to_item(event)),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except Exception as error:  # noqa: BLE001 - any failure means "not audited"
            raise AuditUnavailable("the audit event could not be written") from error

    def query(
        self,
        *,
        organisation: str | None,
        since: dt.datetime,
        until: dt.datetime,
        user: str | None = None,
        limit: int = 50,
        page_token: str | None = None,
        actions: tuple[str, ...] = (),
    ) -> AuditPage:
        """Events with ``since <= event_time < until``, newest first, at most ``limit`` per page.

        ``organisation=None`` reads every organisation (auditors); ``user`` matches the caller's
        email or Cognito ``sub``; ``actions``, when given, keeps only events of those actions. The
        token is bound to the query it came from: reusing it with
        other filters is a :class:`BadPageToken`, never a read of something else, and a token
        carries the first page's period, so "the last week" does not drift while paging.
        """
        if since.tzinfo is None or until.tzinfo is None:
            raise ValueError("since and until must be timezone-aware")
        if until <= since:
            raise ValueError("the period is empty: 'from' must be before 'to'")
        limit = max(1, min(limit, _MAX_PAGE))
        low, high = format_event_time(since), format_event_time(until)
        actions = tuple(sorted(set(actions)))
        bound = [organisation, user, *([list(actions)] if actions else [])]
        fingerprint = hashlib.sha256(json.dumps(bound).encode()).hexdigest()[:16]
        position = None
        if page_token:
            # The period is the first page's: a relative period ("the last week") must not drift
            # between pages, nor a page pick up events written since the first.
            low, high, partition, key = _decode_token(page_token, fingerprint, self.page_key)
            position = (partition, key)

        events: list[AuditEvent] = []
        for partition, start_key in self._partitions(organisation, low, high, position):
            for item, last_key in self._query_partition(partition, organisation, low, high, user, start_key,
                                                        actions, page_size=_page_size(limit, user, actions)):
                events.append(item_to_event(item))
                if len(events) == limit:
                    token = (_encode_token(self.page_key, fingerprint, low, high, partition, last_key)
                             if last_key else None)
                    if token is None:
                        token = self._after_partition(organisation, partition, low, high, fingerprint)
                    return AuditPage(events=events, next=token, since=_parse_time(low), until=_parse_time(high))
        return AuditPage(events=events, next=None, since=_parse_time(low), until=_parse_time(high))

    # -- paging across partitions -----------------------------------------------------------------

    def _partitions(
        self, organisation: str | None, low: str, high: str, position: tuple[str, dict[str, Any] | None] | None
    ) -> Iterator[tuple[str, dict[str, Any] | None]]:
        """The partitions to read in order (newest first), resuming at ``position``."""
        if organisation is not None:
            if position is not None and (
                position[0] != organisation
                or (position[1] and position[1].get("organisation") != {"S": organisation})
            ):
                raise BadPageToken("the 'next' token does not belong to this query")
            yield organisation, position[1] if position else None
            return
        day = dt.date.fromisoformat(high[:10])
        if high[11:] == "00:00:00.000000Z":
            day -= dt.timedelta(days=1)
        first = dt.date.fromisoformat(low[:10])
        if position is not None:
            resume = dt.date.fromisoformat(position[0].removeprefix("DAY#"))
            if not first <= resume <= day or (position[1] and position[1].get("pk") != {"S": position[0]}):
                raise BadPageToken("the 'next' token does not belong to this query")
            day = resume
        start_key = position[1] if position else None
        while day >= first:
            yield f"DAY#{day.isoformat()}", start_key
            start_key = None
            day -= dt.timedelta(days=1)

    def _after_partition(
        self, organisation: str | None, partition: str, low: str, high: str, fingerprint: str
    ) -> str | None:
        """The token of the partition after a fully read one, or None when it was the last."""
        if organisation is not None:
            return None
        day = dt.date.fromisoformat(partition.removeprefix("DAY#")) - dt.timedelta(days=1)
        if day < dt.date.fromisoformat(low[:10]):
            return None
        return _encode_token(self.page_key, fingerprint, low, high, f"DAY#{day.isoformat()}", None)

    def _query_partition(
        self,
        partition: str,
        organisation: str | None,
        low: str,
        high: str,
        user: str | None,
        start_key: dict[str, Any] | None,
        actions: tuple[str, ...] = (),
        page_size: int | None = None,
    ) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
        """Items of one partition, newest first, each with the key to resume *after* it.

        ``page_size`` caps what each Query reads (DynamoDB's ``Limit``, before the filters): without
        it a Query reads up to 1 MB, a thousand events and some 128 read units, to answer a page of
        50; and moto, which answers it in Python, took seconds once the audit held a few thousand
        events (the users list and the export then passed their functions' timeouts)."""
        request: dict[str, Any] = {"TableName": self.table_name, "ScanIndexForward": False}
        if page_size:
            request["Limit"] = page_size
        values: dict[str, Any] = {":low": {"S": low}, ":high": {"S": high}}
        if organisation is not None:
            request["IndexName"] = ORGANISATION_INDEX
            request["KeyConditionExpression"] = "organisation = :p AND event_time BETWEEN :low AND :high"
            values[":p"] = {"S": organisation}
        else:
            request["KeyConditionExpression"] = "pk = :p AND sk BETWEEN :low AND :high"
            values[":p"] = {"S": partition}
        filters = ["event_time < :high"]
        if user:
            filters.append("(username = :user OR user_sub = :user)")
            values[":user"] = {"S": user}
        if actions:
            names = [f":a{i}" for i in range(len(actions))]
            filters.append(f"#action IN ({', '.join(names)})")
            values.update({n: {"S": a} for n, a in zip(names, actions, strict=True)})
            request["ExpressionAttributeNames"] = {"#action": "action"}
        request["FilterExpression"] = " AND ".join(filters)
        request["ExpressionAttributeValues"] = values
        while True:
            if start_key:
                request["ExclusiveStartKey"] = start_key
            response = self.client.query(**request)
            items = response.get("Items", [])
            more = response.get("LastEvaluatedKey")
            for index, raw in enumerate(items):
                last = index == len(items) - 1
                resume = None if (last and not more) else _key_of(raw, organisation is not None)
                yield deserialise(raw), resume
            if not more:
                return
            start_key = more


def _page_size(limit: int, user: str | None, actions: tuple[str, ...]) -> int:
    """What each Query reads (DynamoDB's ``Limit``, counted before the filters): a page's worth when
    nothing is filtered; with a user or an action filter most events read are dropped, so ten pages'
    worth (at most 1,000) a call, else a filtered page of a busy organisation took one round trip per
    50 events read (tens of seconds on the local stack, past API Gateway's 29 s)."""
    return limit if not (user or actions) else min(1000, limit * 10)


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, EVENT_TIME_FORMAT).replace(tzinfo=dt.UTC)


def _key_of(raw: Mapping[str, Any], by_organisation: bool) -> dict[str, Any]:
    names = ("pk", "sk", "organisation", "event_time") if by_organisation else ("pk", "sk")
    return {name: raw[name] for name in names}


#: Signs page tokens when no key is given (tests, tools): random, so valid within this process only.
_PROCESS_PAGE_KEY: Final = secrets.token_bytes(32)
_PAGE_KEYS: dict[str, bytes] = {}
PAGE_KEY_ENV: Final = "AUDIT_PAGE_KEY_SECRET_ARN"


def page_key(secret_arn: str | None = None, client: Any = None) -> bytes | None:
    """The stack's key for signing audit page tokens (the template's ``AuditPageKeySecret``, named by
    ``AUDIT_PAGE_KEY_SECRET_ARN``; never in the repository), read once per container; ``None`` when
    no secret is configured. A secret that cannot be read raises: the store then cannot page."""
    arn = secret_arn or os.environ.get(PAGE_KEY_ENV, "")
    if not arn:
        return None
    if arn not in _PAGE_KEYS:
        if client is None:
            import boto3

            client = boto3.client("secretsmanager")
        value = client.get_secret_value(SecretId=arn)["SecretString"]
        if not value:
            raise RuntimeError("the audit page-key secret is empty")
        _PAGE_KEYS[arn] = value.encode("utf-8")
    return _PAGE_KEYS[arn]


def _signature(page_key: bytes, body: str) -> str:
    digest = hmac.new(page_key, body.encode("ascii"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _encode_token(page_key: bytes, fingerprint: str, low: str, high: str, partition: str,
                  key: dict[str, Any] | None) -> str:
    """``<body>.<HMAC of body>``: the body says where the next page starts and over which period."""
    text = json.dumps({"q": fingerprint, "lo": low, "hi": high, "p": partition, "k": key}, separators=(",", ":"))
    body = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    return f"{body}.{_signature(page_key, body)}"


def _decode_token(token: str, fingerprint: str, page_key: bytes) -> tuple[str, str, str, dict[str, Any] | None]:
    """``(low, high, partition, start key)`` of a token this query (organisation, user) issued, signed
    with this store's key: an edited token (a wider period, another partition) is refused."""
    try:
        body, _, signature = token.partition(".")
        if not signature or not hmac.compare_digest(signature, _signature(page_key, body)):
            raise BadPageToken("the 'next' token is not valid")
        padded = body + "=" * (-len(body) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()).decode())
        low, high, partition, key = data["lo"], data["hi"], data["p"], data["k"]
        if data["q"] != fingerprint:
            raise BadPageToken("the 'next' token does not belong to this query")
        for bound in (low, high):
            dt.datetime.strptime(bound, EVENT_TIME_FORMAT)
        if low >= high or not isinstance(partition, str) or not (key is None or _valid_key(key)):
            raise ValueError
    except BadPageToken:
        raise
    except Exception as error:  # noqa: BLE001 - anything unreadable is simply a bad token
        raise BadPageToken("the 'next' token is not valid") from error
    return low, high, partition, key


def _valid_key(key: Any) -> bool:
    return (
        isinstance(key, dict)
        and set(key) <= {"pk", "sk", "organisation", "event_time"}
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
    )
