"""Reading the index: what the search function imports (boto3, pydantic, numpy — no pandas/pyarrow).

A reader reads one version. :meth:`IndexReader.live_version` reads the ``INDEX``/``LIVE``
pointer (strongly consistent) and pins the reader to that version; every later read names it in
its keys. A rebuild writes a new version beside the live one and switches the pointer in one
write, and the old version stays whole until it expires, so a search that started before the
switch finishes on the old version and one that starts after it sees only the new: never half of
each. Call ``live_version()`` at the start of each request (a warm container reuses the reader).

Round trips. A search waits for each DynamoDB call it makes in sequence, so a reader that has not
yet read the pointer reads it *beside* its first read: that read is made on the version this
container saw live last (:data:`_LAST_LIVE`), and kept if the pointer still names it (it nearly
always does; a retired version stays whole for a day, so the read was of one whole version either
way); otherwise it is made again on the live one. Every key of a query is read in one BatchGetItem
(:meth:`IndexReader.lookup`), and records, people and addresses in batches of 100 on threads.

Tables. The pointer lives in the table the reader is given (the template's ``IndexTable``); a
version a rebuild imported lives in a table of its own, which the pointer names (``table``), and
the reader reads that version's items there (a version without one is in the given table). The old
table stays until its grace has passed, so a search pinned to it before the switch finishes on it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mast.index import layout
from mast.index.address_keys import index_linkage
from mast.index.layout import IndexedRecord
from mast.index.salt import key_salt
from mast.linkage.model import Model

#: BatchGetItem takes at most 100 keys
_BATCH_GET = 100
_MODELS: dict[tuple[str, str], Model] = {}
_MODELS_LOCK = threading.Lock()
#: the version each index table was last seen live at in this container, with the table holding its
#: items (see the module docstring)
_LAST_LIVE: dict[str, tuple[str, layout.VersionTables]] = {}
T = TypeVar("T")


@dataclass(frozen=True)
class KeyLookup:
    """What the key items of a query hold: the record ids under each key read (``[]`` for a key no
    record has), and the keys held by more records than a search reads, with how many hold each."""

    ids: dict[str, list[str]] = field(default_factory=dict)
    #: keys not read, with the records holding each: split by birth year, and no year was given
    shared: dict[str, int] = field(default_factory=dict)
    #: the most records under any one key read that its items left out (a year held by more than a
    #: block); the most, not the sum, as the same records are left out under each of their keys
    left_out: int = 0
    #: the addresses the address-search keys read name (:func:`mast.index.layout.key_items`)
    addresses: list[str] = field(default_factory=list)
    #: a key split by birth year and read for some years (:func:`years_read`) for a complete date of
    #: birth: the most records of any one such key born in the years not read (0: none), so the page
    #: can say so (a partial date filters by its year: nothing is counted)
    other_years: int = 0
    #: the birth years read of the keys split by year (empty: none was split; :func:`years_read`)
    years: tuple[str, ...] = ()


def years_read(year: int, slipped: bool = True) -> list[str]:
    """The birth years a key split by year is read for when a search gives ``year``.

    A key held by more than a block of records is split by birth year, and a search reads only the
    years it gives; a year typed wrong would then miss the person altogether (the tool exists so that
    no one is missed). So with ``slipped`` (the search scores a complete date of birth) it also reads
    the years a typed year most often slips to: one either side (1985 for 1986: a slip of a key, or a
    date near the new year) and the last two digits swapped (1986 for 1968); and always the records
    with no date of birth. Why no wider band: each year read may bring a block (500) of candidates
    whose records the search reads and scores, in the same round trips; four years bound that to
    four blocks a key, and the records of the key's other years are counted instead
    (:attr:`KeyLookup.other_years`) and the page says how many were not read, so a practitioner unsure
    of the year knows to search again. Without ``slipped`` (a partial date, which a search filters
    by its year exactly) only the year is read."""
    years = [year]
    if slipped:
        tens, units = divmod(year % 100, 10)
        years += [y for y in (year - 1, year + 1, year - year % 100 + 10 * units + tens) if y not in years]
    return [str(y) for y in years] + [layout.NO_YEAR]


class IndexUnavailable(RuntimeError):
    """There is no live index yet (nothing has been linked), or it cannot be read."""


class IndexReader:
    """Reads one version of the index in ``table_name``.

    ``version`` pins a version explicitly; otherwise the first read (or :meth:`live_version`)
    pins the live one. ``salt_secret_arn`` defaults to ``KEY_SALT_SECRET_ARN``.
    """

    def __init__(self, table_name: str, client: Any = None, *, version: str | None = None,
                 salt_secret_arn: str | None = None, secrets_client: Any = None, threads: int = 8,
                 items_table: str | layout.VersionTables | None = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("dynamodb")
        self.table_name = table_name
        self.client = client
        self._version = version
        #: the table(s) each version's items are read from (a version not here: ``table_name``);
        #: ``items_table`` names the pinned ``version``'s
        if isinstance(items_table, str):
            items_table = layout.VersionTables(items_table)
        self._tables: dict[str, layout.VersionTables] = {version: items_table} if version and items_table else {}
        self._salt_secret_arn = salt_secret_arn
        self._secrets_client = secrets_client
        self._threads = threads
        self._read_ids: dict[tuple[str, str], list[str]] = {}
        self._tags: dict[tuple[str, str], dict[str, str]] = {}
        #: what the address items read summarise: records by address, and people's involvement
        self._residents: dict[str, dict[str, IndexedRecord]] = {}
        self._involvement: dict[str, list[IndexedRecord]] = {}

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
        if item is not None and self._version is not None:
            tables = layout.VersionTables.of_item(item, self.table_name)
            self._tables[self._version] = tables
            _LAST_LIVE[self.table_name] = (self._version, tables)
        return self._version

    @property
    def items_table(self) -> str:
        """The table holding this reader's version's items (the pointer's ``table``; with parts, their
        names' stem: :attr:`tables`)."""
        return self.tables.name

    @property
    def tables(self) -> layout.VersionTables:
        """The table(s) holding this reader's version's items."""
        return self._tables.get(self.version) or layout.VersionTables(self.table_name)

    def _table_of(self, pk: str) -> str:
        """The table holding an item of a version (its key begins ``V#<version>#``)."""
        if not pk.startswith("V#"):
            return self.table_name
        tables = self._tables.get(pk.split("#", 2)[1])
        return tables.of(pk) if tables is not None else self.table_name

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
    def lookup(self, keys: Sequence[str], year: int | None = None, *, slipped: bool = True) -> KeyLookup:
        """The record ids under each lookup key, every key read in one BatchGetItem.

        A key split by birth year (held by more than :data:`layout.KEY_BLOCK` records) gives the ids
        of the years :func:`years_read` names for ``year`` (and of records with no date of birth),
        read in the same call, and (``slipped``: a complete date) counts the records of its other
        years (:attr:`KeyLookup.other_years`); without a year it is in :attr:`KeyLookup.shared` with how
        many records hold it."""
        distinct = list(dict.fromkeys(keys))
        if not distinct:
            return KeyLookup()
        years = years_read(year, slipped) if year else []
        sks = [layout.KEY_SK] + [layout.year_sk(y) for y in years]

        def read(version: str) -> dict[tuple[str, str], dict[str, Any]]:
            wanted = [(layout.key_pk(version, k), sk) for k in distinct for sk in sks]
            return self._items(wanted, ("pk", "sk", "ids", "count", "years", "addresses"))

        found = self._on_live(read)
        version = self.version
        ids: dict[str, list[str]] = {}
        shared: dict[str, int] = {}
        left_out = 0
        other_years = 0
        split = False
        addresses: dict[str, None] = {}
        for key in distinct:
            pk = layout.key_pk(version, key)
            item = found.get((pk, layout.KEY_SK))
            if item is None or "years" not in item:
                ids[key] = layout.ids_of(item)
                addresses.update(dict.fromkeys(sorted((item or {}).get("addresses", {}).get("SS", []))))
                left_out = max(left_out, layout.count_of(item) - len(ids[key]))
            elif year:
                parts = [found.get((pk, sk)) for sk in sks[1:]]
                ids[key] = [rid for part in parts for rid in layout.ids_of(part)]
                left_out = max(left_out, sum(layout.count_of(part) - len(layout.ids_of(part)) for part in parts))
                if slipped:  # a partial date is a filter by its year: the other years are not wanted
                    per_year = layout.years_of(item)
                    other_years = max(other_years, layout.count_of(item) - sum(per_year.get(y, 0) for y in years))
                split = True
            else:
                shared[key] = layout.count_of(item)
        return KeyLookup(ids, shared, left_out, list(addresses), other_years, tuple(years) if split else ())

    def record_ids_for_keys(self, keys: Sequence[str], max_per_key: int | None = None,
                            year: int | None = None) -> dict[str, list[str]]:
        """Record ids under each lookup key (``[]`` for a key no record has); a key held by more
        records than a search reads (or than ``max_per_key``) is left out unless ``year`` narrows it."""
        found = self.lookup(keys, year)
        return {k: ids for k, ids in found.ids.items() if max_per_key is None or len(ids) <= max_per_key}

    def records(self, record_ids: Iterable[str]) -> list[IndexedRecord]:
        """The indexed records, in the order asked (ids not in the index are left out)."""
        wanted = list(dict.fromkeys(record_ids))
        if not wanted:
            return []

        def read(version: str) -> dict[tuple[str, str], dict[str, Any]]:
            return self._items([(layout.record_pk(version, rid), layout.RECORD_SK) for rid in wanted],
                               ("pk", "sk", layout.RECORD_ATTRIBUTE))

        found = {layout.record_id_of(item): layout.record_from_item(item) for item in self._on_live(read).values()}
        return [found[rid] for rid in wanted if rid in found]

    def people_record_ids(self, person_ids: Iterable[str]) -> dict[str, list[str]]:
        """Every record of each person in this version (one BatchGetItem per hundred people)."""
        return self._id_items(person_ids, layout.person_pk, layout.PERSON_SK)

    def addresses_record_ids(self, address_ids: Iterable[str]) -> dict[str, list[str]]:
        """Every record at each address in this version (one BatchGetItem per hundred addresses)."""
        return self._id_items(address_ids, layout.address_pk, layout.ADDRESS_SK)

    def person_addresses(self, person_id: str) -> list[str]:
        """The addresses of a person's records (from the person's item: read once with its ids)."""
        self.people_record_ids([person_id])
        return sorted(set(self._tags[(layout.PERSON_SK, person_id)].values()) - {""})

    def people_at(self, address_ids: Iterable[str]) -> dict[str, list[str]]:
        """The people with a record at each address (from the addresses' items, read once with their ids)."""
        wanted = list(dict.fromkeys(address_ids))
        self.addresses_record_ids(wanted)
        return {a: sorted(set(self._tags[(layout.ADDRESS_SK, a)].values()) - {""}) for a in wanted}

    def residents(self, address_ids: Iterable[str]) -> dict[str, IndexedRecord]:
        """The records at these addresses that their items summarise (:func:`layout.resident_summary`:
        what the household views show, no more), by record id; the items are read if they were not."""
        wanted = list(dict.fromkeys(address_ids))
        self.addresses_record_ids(wanted)
        return {rid: record for a in wanted for rid, record in self._residents.get(a, {}).items()}

    def involvement(self, person_ids: Iterable[str]) -> dict[str, list[IndexedRecord]]:
        """Each person's non-sensitive records as the address items read so far summarise them
        (:func:`layout.involvement_summary`): nothing is read; a person none of them summarises is left out."""
        return {p: list(self._involvement[p]) for p in dict.fromkeys(person_ids) if p in self._involvement}

    def person_record_ids(self, person_id: str) -> list[str]:
        """Every record of a person in this version."""
        return self.people_record_ids([person_id])[person_id]

    def address_record_ids(self, address_id: str) -> list[str]:
        """Every record at an address in this version."""
        return self.addresses_record_ids([address_id])[address_id]

    def _id_items(self, ids: Iterable[str], pk_of: Callable[[str, str], str], sk: str) -> dict[str, list[str]]:
        """Person or address items' ids; each read once per reader (a request may ask ahead, on a
        thread beside its other first reads, and again when it comes to it)."""
        asked = list(dict.fromkeys(ids))
        wanted = [i for i in asked if (sk, i) not in self._read_ids]
        if wanted:
            # an address's household item is read beside its address item (the same partition)
            summaries = (layout.HOUSEHOLD_SK,) if sk == layout.ADDRESS_SK else ()

            def read(version: str) -> dict[tuple[str, str], dict[str, Any]]:
                return self._items([(pk_of(version, i), s) for i in wanted for s in (sk, *summaries)],
                                   ("pk", "sk", "ids", "count", "of", *(("at", "inv") if summaries else ())))

            found = self._on_live(read)
            version = self.version
            for i in wanted:
                item = found.get((pk_of(version, i), sk))
                self._read_ids[(sk, i)] = layout.ids_of(item)
                self._tags[(sk, i)] = layout.tags_of(item)
                if summaries:
                    household = found.get((pk_of(version, i), layout.HOUSEHOLD_SK))
                    self._residents[i] = layout.residents_of(household, i)
                    for person, records in layout.involvement_of(household).items():
                        self._involvement.setdefault(person, records)
        return {i: list(self._read_ids[(sk, i)]) for i in asked}

    def _on_live(self, read: Callable[[str], T]) -> T:
        """``read(version)`` on the live version; before the pointer has been read, made on the version
        last seen live beside the pointer's read, and made again only if the pointer moved."""
        if self._version is not None:
            return read(self._version)
        last = _LAST_LIVE.get(self.table_name)
        if last is None:
            return read(self.version)
        guess, self._tables[last[0]] = last
        with ThreadPoolExecutor(2) as pool:
            pointer = pool.submit(self.live_version)
            early = pool.submit(read, guess)
            live = pointer.result()
            if live is not None and live == guess:
                return early.result()
        if live is None:
            raise IndexUnavailable("there is no index yet: no feed has been linked")
        # the guess was of another version: its answer is dropped unread (its table may be gone)
        return read(live)

    def _items(self, wanted: Sequence[tuple[str, str]], projection: Sequence[str]) -> dict[tuple[str, str], dict[str, Any]]:
        """Items by (pk, sk): BatchGetItem in batches of 100, on threads."""
        by_table: dict[str, list[dict[str, Any]]] = {}
        for pk, sk in dict.fromkeys(wanted):
            by_table.setdefault(self._table_of(pk), []).append({"pk": {"S": pk}, "sk": {"S": sk}})
        chunks = [(table, keys[i : i + _BATCH_GET]) for table, keys in by_table.items()
                  for i in range(0, len(keys), _BATCH_GET)]

        def one(job: tuple[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
            return batch_get(self.client, job[0], job[1], projection=projection)

        if len(chunks) <= 1 or self._threads <= 1:
            pages = [one(c) for c in chunks]
        else:
            with ThreadPoolExecutor(min(self._threads, len(chunks))) as pool:
                pages = list(pool.map(one, chunks))
        return {(item["pk"]["S"], item["sk"]["S"]): item for page in pages for item in page}

    # ------------------------------------------------------------------ plumbing
    def _query(self, pk: str, attributes: Sequence[str], limit: int | None = None) -> list[dict[str, Any]]:
        names = {f"#a{i}": a for i, a in enumerate(attributes)}
        kwargs: dict[str, Any] = {
            "TableName": self._table_of(pk),
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
              projection: Sequence[str] | None = None, consistent: bool = False) -> list[dict[str, Any]]:
    """BatchGetItem (at most 100 keys), retrying what DynamoDB left unprocessed, with backoff;
    ``projection`` names the only attributes wanted."""
    items: list[dict[str, Any]] = []
    wanted: dict[str, Any] = {"Keys": keys}
    if consistent:
        wanted["ConsistentRead"] = True
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
