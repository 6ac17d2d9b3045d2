"""Reading the index: what the search function imports (boto3, pydantic, numpy — no pandas/pyarrow).

A reader reads one version. :meth:`IndexReader.live_version` reads the ``INDEX``/``LIVE``
pointer (strongly consistent) and pins the reader to that version; every later read names it in
its keys. A rebuild writes a new version beside the live one and switches the pointer in one
write, and the old version stays whole until it expires, so a search that started before the
switch finishes on the old version and one that starts after it sees only the new: never half of
each. Call ``live_version()`` at the start of each request (a warm container reuses the reader).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mast.index import layout
from mast.index.address_keys import index_linkage
from mast.index.layout import IndexedRecord
from mast.index.salt import key_salt
from mast.linkage.model import Model

#: BatchGetItem takes at most 100 keys
_BATCH_GET = 100
_MODELS: dict[tuple[str, str], Model] = {}
_MODELS_LOCK = threading.Lock()


class IndexUnavailable(RuntimeError):
    """There is no live index yet (nothing has been linked), or it cannot be read."""


class IndexReader:
    """Reads one version of the index in ``table_name``.

    ``version`` pins a version explicitly; otherwise the first read (or :meth:`live_version`)
    pins the live one. ``salt_secret_arn`` defaults to ``KEY_SALT_SECRET_ARN``.
    """

    def __init__(self, table_name: str, client: Any = None, *, version: str | None = None,
                 salt_secret_arn: str | None = None, secrets_client: Any = None, threads: int = 8) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client = client
        self._version = version
        self._salt_secret_arn = salt_secret_arn
        self._secrets_client = secrets_client
        self._threads = threads

    # ------------------------------------------------------------------ version, model, salt
    def live_version(self) -> str | None:
        """The live version now (None before the first link); the reader reads it from here on.

        Raises :class:`IndexUnavailable` when the live version was linked by another linkage than
        this code's (:mod:`mast.linkage.fingerprint`): its keys and model may not be this code's,
        and a search on it could miss people without saying so. The match run rebuilds it."""
        item = self.client.get_item(
            TableName=self.table_name,
            Key={"pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.LIVE_SK}},
            ConsistentRead=True,
        ).get("Item")
        if item and item.get("linkage", {}).get("S") != index_linkage():
            raise IndexUnavailable("the live index was linked by another version of MAST; it is being rebuilt")
        self._version = item["version"]["S"] if item else None
        return self._version

    @property
    def version(self) -> str:
        """The version this reader reads; raises :class:`IndexUnavailable` when there is none."""
        if self._version is None and self.live_version() is None:
            raise IndexUnavailable("there is no index yet: no feed has been linked")
        assert self._version is not None
        return self._version

    def model(self) -> Model:
        """The linkage model this version was linked with (cached per container and version)."""
        version = self.version
        cache_key = (self.table_name, version)
        with _MODELS_LOCK:
            if cache_key in _MODELS:
                return _MODELS[cache_key]
        parts = [item["text"]["S"] for item in self._query(layout.model_pk(version), ("text",))]
        if not parts:
            raise IndexUnavailable(f"index version {version} has no model")
        model = Model.from_json("".join(parts))
        with _MODELS_LOCK:
            _MODELS[cache_key] = model
        return model

    def key_salt(self) -> str:
        """The deployment's lookup-key salt (see :mod:`mast.index.salt`)."""
        return key_salt(self._salt_secret_arn, self._secrets_client)

    # ------------------------------------------------------------------ lookups
    def record_ids_for_keys(self, keys: Sequence[str], max_per_key: int | None = None) -> dict[str, list[str]]:
        """Record ids under each lookup key (``[]`` for a key no record has).

        With ``max_per_key``, a key held by more records than that is left out of the answer, as
        the link leaves out blocks that large (a common name; a hostel's postcode).
        """
        version = self.version
        distinct = list(dict.fromkeys(keys))

        def one(key: str) -> tuple[str, list[str] | None]:
            limit = None if max_per_key is None else max_per_key + 1
            ids = [item["sk"]["S"] for item in self._query(layout.key_pk(version, key), ("sk",), limit)]
            return key, (None if max_per_key is not None and len(ids) > max_per_key else ids)

        if len(distinct) <= 1 or self._threads <= 1:
            answers = [one(k) for k in distinct]
        else:
            with ThreadPoolExecutor(min(self._threads, len(distinct))) as pool:
                answers = list(pool.map(one, distinct))
        return {key: ids for key, ids in answers if ids is not None}

    def records(self, record_ids: Iterable[str]) -> list[IndexedRecord]:
        """The indexed records, in the order asked (ids not in the index are left out)."""
        version = self.version
        wanted = list(dict.fromkeys(record_ids))
        found: dict[str, IndexedRecord] = {}
        for start in range(0, len(wanted), _BATCH_GET):
            keys = [{"pk": {"S": layout.record_pk(version, rid)}, "sk": {"S": layout.RECORD_SK}}
                    for rid in wanted[start : start + _BATCH_GET]]
            for item in batch_get(self.client, self.table_name, keys, projection=(layout.RECORD_ATTRIBUTE,)):
                record = layout.record_from_item(item)
                found[record.record_id] = record
        return [found[rid] for rid in wanted if rid in found]

    def person_record_ids(self, person_id: str) -> list[str]:
        """Every record of a person in this version."""
        return [item["sk"]["S"] for item in self._query(layout.person_pk(self.version, person_id), ("sk",))]

    def address_record_ids(self, address_id: str) -> list[str]:
        """Every record at an address in this version."""
        return [item["sk"]["S"] for item in self._query(layout.address_pk(self.version, address_id), ("sk",))]

    # ------------------------------------------------------------------ plumbing
    def _query(self, pk: str, attributes: Sequence[str], limit: int | None = None) -> list[dict[str, Any]]:
        names = {f"#a{i}": a for i, a in enumerate(attributes)}
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ProjectionExpression": ", ".join(names),
            "ExpressionAttributeNames": names,
        }
        items: list[dict[str, Any]] = []
        while True:
            if limit is not None:
                kwargs["Limit"] = limit - len(items)
            page = self.client.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) >= limit):
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def batch_get(client: Any, table_name: str, keys: list[dict[str, Any]], attempts: int = 8,
              projection: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """BatchGetItem (at most 100 keys), retrying what DynamoDB left unprocessed, with backoff;
    ``projection`` names the only attributes wanted."""
    items: list[dict[str, Any]] = []
    wanted: dict[str, Any] = {"Keys": keys}
    if projection:
        names = {f"#a{i}": a for i, a in enumerate(projection)}
        wanted.update(ProjectionExpression=", ".join(names), ExpressionAttributeNames=names)
    request: dict[str, Any] = {table_name: wanted}
    for attempt in range(attempts):
        reply = client.batch_get_item(RequestItems=request)
        items.extend(reply.get("Responses", {}).get(table_name, []))
        request = reply.get("UnprocessedKeys") or {}
        if not request:
            return items
        time.sleep(min(0.05 * 2**attempt, 2.0))
    raise IndexUnavailable("the index did not answer every read (throttled); try again")
