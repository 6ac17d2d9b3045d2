"""Writing the index: new versions, the switch, incremental changes, retiring old versions.

Only the match function writes, and its queue is FIFO with one message group, so writes are
serial; the switch is still a conditional write (the pointer must still name the version the
rebuild started from), so two rebuilds racing could never both win.

Retiring a version costs no scan and no rewrite: :meth:`IndexWriter.retire` only marks its state
item (``retired``, with the time from which it may go: a day on, so a search that started on it
finishes on it whole). The items are deleted afterwards by key, enumerated from the version's
manifest, which the match run writes to S3 before it writes the items it lists
(:mod:`mast.index.linking`), so the manifest always names at least every item the version holds.
A version made before manifests existed (its state item has no ``manifest`` flag) is retired as it
was then: each item given a TTL (:meth:`IndexWriter.retire_by_scan`).

Tables (issue 15): the writer's table (the template's ``IndexTable``) holds the ``INDEX`` pointer and
every version's state item. A version the match run writes item by item lives in that table too; a
version a rebuild imports (:mod:`mast.index.imported`) lives in a table of its own, which its state
item and the pointer name (``table``). :meth:`IndexWriter.live` points the item methods at the live
version's table, so a day's link writes the live table directly; a retired version's own table is
dropped whole once its grace has passed (:meth:`IndexWriter.drop_retired_tables`), never item by item.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from mast.index import layout
from mast.index.address_keys import index_linkage
from mast.index.reader import IndexUnavailable, batch_get
from mast.linkage.model import Model

#: BatchWriteItem takes at most 25 requests
_BATCH_WRITE = 25
#: calls a writer keeps in flight at once (its threads): an incremental run's UpdateItems wait on
#: DynamoDB's round trips, not on this process (``mast bench capacity`` counts its calls by this).
#: Its client needs as many connections (:func:`writer_client`): botocore keeps 10 by default, and
#: a thread finding none opens a connection it then throws away.
THREADS = 16


def writer_client(session: Any = None) -> Any:
    """A DynamoDB client whose connection pool holds :data:`THREADS` connections, for a writer."""
    import boto3
    from botocore.config import Config

    return (session or boto3.session.Session()).client("dynamodb", config=Config(max_pool_connections=THREADS))
#: how long an old version stays readable after the switch (searches in flight finish on it)
RETIRED_GRACE = dt.timedelta(days=1)


class IndexConflict(RuntimeError):
    """The live version changed while a rebuild was being written; the rebuild did not switch."""


class IndexWriter:
    def __init__(self, table_name: str, client: Any = None, threads: int = THREADS) -> None:
        if client is None:
            client = writer_client()
        self.table_name = table_name
        #: where the item methods read and write: the live version's table(s) once :meth:`live` has
        #: read the pointer (a version imported into a table of its own), else this writer's own table
        self.tables = layout.VersionTables(table_name)
        self.client = client
        self.threads = threads

    @property
    def items_table(self) -> str:
        """The table the item methods use (with parts, their names' stem: :attr:`tables`)."""
        return self.tables.name

    @items_table.setter
    def items_table(self, table: str | layout.VersionTables) -> None:
        self.tables = table if isinstance(table, layout.VersionTables) else layout.VersionTables(table)

    # ------------------------------------------------------------------ versions
    def live(self) -> tuple[str | None, bool]:
        """The live version (None before the first link) and whether it was linked as this code
        links (:mod:`mast.linkage.fingerprint`; False: only a rebuild makes it searchable), in one read."""
        item = self.client.get_item(TableName=self.table_name, ConsistentRead=True,
                                    Key={"pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.LIVE_SK}}).get("Item")
        if item is None:
            return None, False
        self.tables = layout.VersionTables.of_item(item, self.table_name)
        return item["version"]["S"], item.get("linkage", {}).get("S") == index_linkage()

    def begin_version(self, model: Model, now: dt.datetime | None = None) -> str:
        """A new, empty version (state ``building``) holding ``model``."""
        now = now or dt.datetime.now(dt.UTC)
        version = layout.new_version(now)
        self.client.put_item(TableName=self.table_name, Item={
            "pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.version_sk(version)},
            "state": {"S": "building"}, "created_at": {"S": now.isoformat()}, "linkage": {"S": index_linkage()},
            # its items are listed in a manifest (retired by deleting them: see the module docstring)
            "manifest": {"BOOL": True},
        })
        self.put(layout.model_items(version, model.to_json()), table=self.table_name)
        return version

    def switch(self, version: str, expected: str | None, stats: dict[str, int] | None = None,
               table: str | layout.VersionTables | None = None) -> None:
        """Make ``version`` live in one conditional write: only if ``expected`` is still live.
        ``table``: the table(s) holding the version's items, when they are not this writer's own (an
        imported version's): the pointer names them, and searches read them from there."""
        now = dt.datetime.now(dt.UTC).isoformat()
        built = self.client.get_item(TableName=self.table_name, ConsistentRead=True,
                                     Key={"pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.version_sk(version)}}).get("Item")
        # the pointer names the linkage the version was built with (begin_version recorded it)
        linkage = (built or {}).get("linkage", {"S": "unknown"})
        item = {"pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.LIVE_SK}, "version": {"S": version},
                "switched_at": {"S": now}, "linkage": linkage}
        tables = layout.VersionTables(table) if isinstance(table, str) else table
        if tables is not None and tables != layout.VersionTables(self.table_name):
            item.update(tables.attributes())
        if expected is None:
            condition: dict[str, Any] = {"ConditionExpression": "attribute_not_exists(pk)"}
        else:
            condition = {"ConditionExpression": "version = :expected",
                         "ExpressionAttributeValues": {":expected": {"S": expected}}}
        try:
            self.client.put_item(TableName=self.table_name, Item=item, **condition)
        except self.client.exceptions.ConditionalCheckFailedException as error:
            raise IndexConflict(f"the live index changed while version {version} was written") from error
        self._set_state(version, "live", stats)

    def retire(self, version: str, grace: dt.timedelta = RETIRED_GRACE, now: dt.datetime | None = None) -> None:
        """Mark a version that is no longer live as retired: its items may be deleted from ``grace``
        on (:meth:`retired_versions`), long after any search that started on it has finished.
        Nothing is scanned or rewritten."""
        now = now or dt.datetime.now(dt.UTC)
        self.client.update_item(
            TableName=self.table_name, Key={"pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.version_sk(version)}},
            UpdateExpression="SET #s = :s, purge_after = :p",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":s": {"S": "retired"}, ":p": {"S": (now + grace).isoformat()}},
        )

    def retired_versions(self, now: dt.datetime | None = None) -> dict[str, bool]:
        """Retired versions whose grace has passed, each with whether it has a manifest (False: a
        version written before manifests, whose items carry a TTL instead)."""
        now = now or dt.datetime.now(dt.UTC)
        out: dict[str, bool] = {}
        for item in self._version_items():
            after = item.get("purge_after", {}).get("S")
            if ("table" not in item and item.get("state", {}).get("S") == "retired" and after
                    and dt.datetime.fromisoformat(after) <= now):
                out[item["sk"]["S"][2:]] = "manifest" in item
        return out

    def drop_retired_tables(self, now: dt.datetime | None = None) -> list[str]:
        """Delete the table of each retired version that has one of its own (an imported version)
        once its grace has passed, and mark the version ``gone``; returns the tables deleted. A table
        the pointer names is never deleted (a version is retired only once it is no longer live)."""
        now = now or dt.datetime.now(dt.UTC)
        pointer = self.client.get_item(TableName=self.table_name, ConsistentRead=True,
                                       Key={"pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.LIVE_SK}}).get("Item")
        live_table = (pointer or {}).get("table", {}).get("S")
        dropped: list[str] = []
        for item in self._version_items():
            after = item.get("purge_after", {}).get("S")
            if ("table" not in item or item["table"].get("S") == live_table
                    or item.get("state", {}).get("S") != "retired" or not after
                    or dt.datetime.fromisoformat(after) > now):
                continue
            for table in layout.VersionTables.of_item(item, self.table_name).names():
                try:
                    self.client.delete_table(TableName=table)
                except self.client.exceptions.ResourceNotFoundException:
                    pass  # never made (its import failed), or deleted by a run that stopped before the state
                dropped.append(table)
            self._set_state(item["sk"]["S"][2:], "gone")
        return dropped

    def forget(self, version: str) -> None:
        """Delete what is left of a retired version once its items are gone: its model and its state."""
        parts = self.client.query(TableName=self.table_name, KeyConditionExpression="pk = :pk",
                                  ExpressionAttributeValues={":pk": {"S": layout.model_pk(version)}},
                                  ProjectionExpression="pk, sk").get("Items", [])
        self.delete([(i["pk"]["S"], i["sk"]["S"]) for i in parts]
                    + [(layout.POINTER_PK, layout.version_sk(version))], table=self.table_name)

    def retire_by_scan(self, version: str, grace: dt.timedelta = RETIRED_GRACE) -> int:
        """A version written before manifests: give each of its items an ``expires_at`` (DynamoDB's
        TTL deletes them after ``grace``). Scans the table: only for such versions."""
        expires = int((dt.datetime.now(dt.UTC) + grace).timestamp())
        prefix = layout.version_prefix(version)
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "FilterExpression": "begins_with(pk, :prefix) AND attribute_not_exists(expires_at)",
            "ExpressionAttributeValues": {":prefix": {"S": prefix}},
        }
        retired = 0
        while True:
            page = self.client.scan(**kwargs)
            items = page.get("Items", [])
            for item in items:
                item["expires_at"] = {"N": str(expires)}
            self.put(items, table=self.table_name)
            retired += len(items)
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        self.client.update_item(
            TableName=self.table_name, Key={"pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.version_sk(version)}},
            UpdateExpression="SET #s = :s, expires_at = :e",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":s": {"S": "gone"}, ":e": {"N": str(expires)}},
        )
        return retired

    def _version_items(self) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table_name, "KeyConditionExpression": "pk = :pk AND begins_with(sk, :v)",
            "ExpressionAttributeValues": {":pk": {"S": layout.POINTER_PK}, ":v": {"S": "V#"}}}
        items: list[dict[str, Any]] = []
        while True:
            page = self.client.query(**kwargs)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def versions(self) -> dict[str, str]:
        """Every version the table knows, with its state (``building``, ``live``, ``retired``, ``gone``)."""
        return {item["sk"]["S"][2:]: item.get("state", {}).get("S", "") for item in self._version_items()}

    def trained_records(self, version: str) -> int:
        """How many records the version's model was trained on (its rebuild's record count)."""
        item = self.client.get_item(TableName=self.table_name, ConsistentRead=True,
                                    Key={"pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.version_sk(version)}}).get("Item")
        return int(item["records"]["N"]) if item and "records" in item else 0

    def _set_state(self, version: str, state: str, stats: dict[str, int] | None = None) -> None:
        values: dict[str, Any] = {":s": {"S": state}}
        expression = "SET #s = :s"
        for name, value in (stats or {}).items():
            values[f":{name}"] = {"N": str(int(value))}
            expression += f", {name} = :{name}"
        self.client.update_item(
            TableName=self.table_name, Key={"pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.version_sk(version)}},
            UpdateExpression=expression, ExpressionAttributeNames={"#s": "state"}, ExpressionAttributeValues=values,
        )

    # ------------------------------------------------------------------ items
    def get_records(self, version: str, record_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Record items by record id, only the attributes naming the items they occupy (what an
        update must undo; the record's JSON, the bulk of each item, is not read)."""
        chunks = self._chunks([(layout.record_pk(version, rid), layout.RECORD_SK) for rid in record_ids])

        def one(chunk: tuple[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
            return batch_get(self.client, chunk[0], chunk[1], projection=layout.RECORD_ITEM_KEYS)

        found: dict[str, dict[str, Any]] = {}
        for items in self._map(one, chunks):
            for item in items:
                found[layout.record_id_of(item)] = item
        return found

    def get_items(self, wanted: Iterable[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """Items by (pk, sk), strongly consistent (an update reads what it is about to rewrite)."""
        def one(chunk: tuple[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
            return batch_get(self.client, chunk[0], chunk[1], consistent=True)

        return {(i["pk"]["S"], i["sk"]["S"]): i for items in self._map(one, self._chunks(wanted)) for i in items}

    def _chunks(self, wanted: Iterable[tuple[str, str]]) -> list[tuple[str, list[dict[str, Any]]]]:
        """Keys (pk, sk) as BatchGetItem's batches of 100, each of one table (:attr:`tables`)."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        for pk, sk in dict.fromkeys(wanted):
            by_table.setdefault(self.tables.of(pk), []).append({"pk": {"S": pk}, "sk": {"S": sk}})
        return [(table, keys[i : i + 100]) for table, keys in by_table.items() for i in range(0, len(keys), 100)]

    def add_and_remove_ids(self, changes: Sequence[tuple[str, str, list[str], list[str], list[str]]],
                           block: int | None = None) -> tuple[list[str], int]:
        """Take record ids out of and put them into unsplit key items without reading them: one
        UpdateItem each way (DELETE, then ADD, on the ``ids`` string set; ``count`` removed, so that
        the set's size is the count). ``changes``: (pk, sk, ids to add, ids to take out, addresses to
        add to an address-search key's ``addresses``).

        Adding an id that is there, or taking out one that is not, changes nothing, so a retried run
        ends exactly where one run would. DynamoDB still bills each update's write units on the whole
        item (the larger of before and after), as if it were put; only the read is saved. An item
        emptied is deleted. An update is refused (its pk returned, nothing changed by the refused
        call) when the key is split by birth year, or would grow past ``block`` ids (a key new to the
        index given more than a block at once included), or is taken
        from but does not exist: the caller reads and rewrites those (addresses alone, refused by a
        split key, are not wanted there: an address search reads no split key). Returns those
        refused, and how many items were emptied and deleted. ``block``: :data:`layout.KEY_BLOCK`
        unless given."""
        block = layout.KEY_BLOCK if block is None else block

        def one(change: tuple[str, str, list[str], list[str], list[str]]) -> tuple[str | None, int]:
            pk, sk, adds, removes, addresses = change
            key = {"pk": {"S": pk}, "sk": {"S": sk}}
            names = {"#i": "ids", "#y": "years"}
            try:
                if removes:
                    reply = self.client.update_item(
                        TableName=self.tables.of(pk), Key=key, UpdateExpression="DELETE #i :r REMOVE #c",
                        ConditionExpression="attribute_exists(pk) AND attribute_not_exists(#y)",
                        ExpressionAttributeNames={**names, "#c": "count"},
                        ExpressionAttributeValues={":r": {"SS": sorted(removes)}}, ReturnValues="ALL_NEW")
                    if not adds and "ids" not in reply.get("Attributes", {}):
                        self.client.delete_item(TableName=self.tables.of(pk), Key=key,
                                                ConditionExpression="attribute_not_exists(#i)",
                                                ExpressionAttributeNames={"#i": "ids"})
                        return None, 1
                if len(adds) > block:  # a key new to the index can only be made within a block by an update
                    return pk, 0
                if adds:
                    values: dict[str, Any] = {":a": {"SS": sorted(adds)}, ":room": {"N": str(block - len(adds))}}
                    if addresses:
                        values[":d"] = {"SS": sorted(addresses)}
                    self.client.update_item(
                        TableName=self.tables.of(pk), Key=key,
                        UpdateExpression="ADD #i :a" + (", #d :d" if addresses else "") + " REMOVE #c",
                        ConditionExpression="attribute_not_exists(#y) AND (attribute_not_exists(#i) OR size(#i) <= :room)",
                        ExpressionAttributeNames={**names, "#c": "count", **({"#d": "addresses"} if addresses else {})},
                        ExpressionAttributeValues=values, ReturnValues="ALL_NEW")
                elif addresses:
                    try:
                        self.client.update_item(
                            TableName=self.tables.of(pk), Key=key, UpdateExpression="ADD #d :d",
                            ConditionExpression="attribute_exists(#i) AND attribute_not_exists(#y)",
                            ExpressionAttributeNames={**names, "#d": "addresses"},
                            ExpressionAttributeValues={":d": {"SS": sorted(addresses)}}, ReturnValues="ALL_NEW")
                    except self.client.exceptions.ConditionalCheckFailedException:
                        return None, 0
            except self.client.exceptions.ConditionalCheckFailedException:
                return pk, 0
            return None, 0

        done = list(self._map(one, list(changes)))
        return [pk for pk, _ in done if pk is not None], sum(n for _, n in done)

    def put(self, items: Sequence[dict[str, Any]], table: str | None = None) -> None:
        """Put ``items`` in ``table`` (default: each in its table of :attr:`tables`)."""
        self._write([(item["pk"]["S"], {"PutRequest": {"Item": item}}) for item in items], table)

    def delete(self, keys: Sequence[tuple[str, str]], table: str | None = None) -> None:
        """Delete the items of ``keys`` from ``table`` (default: each from its table of :attr:`tables`)."""
        self._write([(pk, {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}) for pk, sk in keys], table)

    def _write(self, requests: list[tuple[str, dict[str, Any]]], table: str | None) -> None:
        """BatchWriteItem in batches of 25 (each of one table), several in flight, retrying what was
        left unprocessed."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        for pk, request in requests:
            by_table.setdefault(table or self.tables.of(pk), []).append(request)
        batches = [(name, mine[i : i + _BATCH_WRITE]) for name, mine in by_table.items()
                   for i in range(0, len(mine), _BATCH_WRITE)]
        list(self._map(self._write_batch, batches))

    def _write_batch(self, job: tuple[str, list[dict[str, Any]]], attempts: int = 10) -> None:
        table, batch = job
        request = {table: batch}
        for attempt in range(attempts):
            reply = self.client.batch_write_item(RequestItems=request)
            request = reply.get("UnprocessedItems") or {}
            if not request:
                return
            time.sleep(min(0.05 * 2**attempt, 5.0))
        raise IndexUnavailable("the index did not accept every write (throttled)")

    def _map(self, fn: Any, jobs: list[Any]) -> Iterable[Any]:
        if len(jobs) <= 1 or self.threads <= 1:
            return [fn(j) for j in jobs]
        with ThreadPoolExecutor(self.threads) as pool:
            return list(pool.map(fn, jobs))
