"""Stored searches: what a search returned, kept so that only its own user can open only the people
it returned (DESIGN.md, "Security model"); the person view checks every opening against one."""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from typing import Any

#: How long a search may be used to open the people it returned.
SEARCH_TTL = dt.timedelta(hours=12)

# ------------------------------------------------------------------------------------- stored search
@dataclass(frozen=True)
class StoredSearch:
    """What a search returned, kept so that only its own user can open only the people it returned."""

    search_id: str
    user_sub: str
    created_at: dt.datetime
    people: dict[str, tuple[str, ...]]  # person id -> record ids the search matched
    #: the declaration the search was made under: opening a person is audited under it too
    gateway: str = ""
    purpose: str = ""

    @property
    def expired(self) -> bool:
        return dt.datetime.now(dt.UTC) >= self.created_at + SEARCH_TTL


def new_search_id() -> str:
    return "s-" + secrets.token_urlsafe(18)


class SearchStore:
    """Searches in the control table: ``SEARCH#<id>`` / ``SEARCH``, expiring with the table's TTL."""

    def __init__(self, table_name: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client = client
        #: searches this store has read (a store lives for one request: a handler may read the search
        #: ahead, beside its other first reads)
        self._loaded: dict[str, StoredSearch | None] = {}

    def save(self, search: StoredSearch) -> None:
        expires = search.created_at + SEARCH_TTL
        self.client.put_item(
            TableName=self.table_name,
            Item={
                "pk": {"S": f"SEARCH#{search.search_id}"},
                "sk": {"S": "SEARCH"},
                "user_sub": {"S": search.user_sub},
                "created_at": {"S": search.created_at.isoformat()},
                "expires_at": {"N": str(int(expires.timestamp()))},
                "people": {"S": json.dumps({p: list(r) for p, r in search.people.items()})},
                "gateway": {"S": search.gateway},
                "purpose": {"S": search.purpose or "-"},
            },
            ConditionExpression="attribute_not_exists(pk)",
        )

    def forget(self, search_id: str) -> None:
        """Delete a search (one whose audit event could not be written: it must not be opened)."""
        self.client.delete_item(TableName=self.table_name,
                                Key={"pk": {"S": f"SEARCH#{search_id}"}, "sk": {"S": "SEARCH"}})
        self._loaded.pop(search_id, None)

    def load(self, search_id: str) -> StoredSearch | None:
        """The search, or None when there is none (or it has expired, whatever the TTL sweeper did)."""
        if search_id not in self._loaded:
            self._loaded[search_id] = self._load(search_id)
        return self._loaded[search_id]

    def _load(self, search_id: str) -> StoredSearch | None:
        item = self.client.get_item(
            TableName=self.table_name, Key={"pk": {"S": f"SEARCH#{search_id}"}, "sk": {"S": "SEARCH"}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return None
        stored = StoredSearch(
            search_id=search_id,
            user_sub=item["user_sub"]["S"],
            created_at=dt.datetime.fromisoformat(item["created_at"]["S"]),
            people={p: tuple(r) for p, r in json.loads(item["people"]["S"]).items()},
            gateway=item.get("gateway", {}).get("S", ""),
            purpose=item.get("purpose", {}).get("S", ""),
        )
        return None if stored.expired else stored

    def add_people(self, search: StoredSearch, people: dict[str, tuple[str, ...]]) -> StoredSearch:
        """The search with ``people`` joined to it: the others a person view listed at the person's
        dwelling, so that they open through this same search (and its declaration), and only them."""
        new = {p: r for p, r in people.items() if p not in search.people}
        if not new:
            return search
        merged = {**search.people, **new}
        self.client.update_item(
            TableName=self.table_name, Key={"pk": {"S": f"SEARCH#{search.search_id}"}, "sk": {"S": "SEARCH"}},
            UpdateExpression="SET people = :p", ConditionExpression="user_sub = :u",
            ExpressionAttributeValues={":p": {"S": json.dumps({p: list(r) for p, r in merged.items()})},
                                       ":u": {"S": search.user_sub}},
        )
        return StoredSearch(search.search_id, search.user_sub, search.created_at, merged, search.gateway,
                            search.purpose)
