"""A rebuilt index version imported into a table of its own, not written item by item (issue 15).

A region's rebuild writes tens of millions of items; written one by one they take hours of a new
on-demand table's write rate and most of a rebuild's cost. DynamoDB's ImportTable instead makes a
new table from files in S3, uses no write capacity and is billed by the size it reads. So the
rebuild state machine's last steps are:

``export_plan`` (:func:`plan_export`): the new version named, and its state item (in the index
table, beside the pointer) written, naming the table ``<index table>-<version>`` from here on, so a
failed rebuild's table is found and dropped later; and the version's items cut into export shards,
one per :data:`RECORDS_PER_EXPORT` records.

``export`` (:func:`export_shard`, a distributed Map: one invocation per shard): the items of the
partitions a shard owns (by record row, person, address and key value: :func:`scan_shard`), built by
:mod:`mast.index.layout`'s own functions from the rebuild's records, the table its ``prepare`` step
normalised (once, for every shard: its term frequencies are the index's) and the people its
``finish`` step found (records, keys, people, addresses and their household items; the model's items
in shard 0), written to S3 as DynamoDB JSON, gzip. One Lambda building every item of a million records would
hold about 15 GB and run past its 15 minutes; a shard holds its share.

``import`` (:func:`import_version`): ImportTable started on every shard's files, creating the
version's table with the index table's own key schema, indexes and key: the index's name prefix,
which the roles that touch the index are limited to; the record → person state a day's link
restores from is written beside the curated records, as the match run writes it.

``import_status`` (:func:`import_status`): the import's state (the state machine waits and asks
again until it is done); a failed or cancelled import fails the step, and the rebuild, with the
live version untouched.

``catch_up`` (:func:`catch_up_version`, run by the match function, whose code and rights a day's
link uses): the records ingested, changed or gone since prepare read its input are linked into the
new version, in its own table, before anyone searches it, by the same incremental link a day's run
makes; the report and the stewards' review of the rebuild are published; what it read is kept
(``caught-up.parquet``) for the switch.

``switch`` (:func:`switch_version`): point-in-time recovery turned on for the new table, then one
conditional write of the ``INDEX``/``LIVE`` pointer to the
new version and its table, only if the version the rebuild started from is still live; every other
version is retired with the grace (the template's ``IndexGraceMinutes``). The records ingested in
the seconds between the catch-up's read and the switch (a day's link on the old version meanwhile)
are sent to the match function as ``relink`` messages, which link them into the version now live.

``sweep`` (:func:`sweep`), after the state machine has waited out the grace: the tables of retired
versions whose grace has passed are deleted whole. A search pinned to the old version before the
switch reads the old table until then.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import io
import itertools
import json
import math
import os
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from mast.index import layout
from mast.index.address_keys import ADDRESS_KEYS, address_key_strings, index_linkage, record_address_keys
from mast.index.linking import MatchSettings
from mast.index.writer import IndexWriter
from mast.linkage.table import RecordTable

#: rows in one row group of a rebuild's ``records.parquet``: an export shard reads whole records a
#: row group at a time, keeping only the rows it needs (:class:`ShardRecords`)
ROWS_PER_GROUP = 20_000
#: items in one import file (DynamoDB JSON, gzip); ImportTable reads the files in parallel
ITEMS_PER_FILE = 100_000
#: records an export shard is cut for: every shard keys and scans every record (a few seconds and
#: about 0.8 KB a record, ``mast bench capacity``) and builds a share of the items (about 0.5 ms and
#: 20 KB a record of its share, most of it a file's items held as they are serialised), so at a
#: million records ten shards each take under a minute and about 3 GB
RECORDS_PER_EXPORT = 100_000
#: records a version's table is cut for: a larger version is imported into several tables at once
#: (:class:`mast.index.layout.VersionTables`), each loaded by an import of its own beside the others.
#: About 2 GB of DynamoDB JSON (4 KB a record), 12 minutes at the 10 GB an hour ``mast bench
#: capacity`` assumes (AWS publishes no import rate)
RECORDS_PER_TABLE = 500_000
#: imports an account may run at once ("up to 50 simultaneous import table operations", the
#: DynamoDB API's LimitExceededException), so the tables a version is cut into
MAX_TABLES = 50
#: records turned into items at a time (as the match run's rebuild does)
ROWS_PER_CHUNK = 20_000
#: the grace an old version's table is kept after the switch unless the template says otherwise
DEFAULT_GRACE_MINUTES = 60
#: record ids in one relink message (the message's own limit)
RELINK_CHUNK = 1000
#: DescribeImport's states that end an import other than well
FAILED_STATES = frozenset({"FAILED", "CANCELLING", "CANCELLED"})
#: an import still running after this long fails the rebuild (the state machine's wait-and-ask loop
#: would otherwise go on for its execution's year): 50 million records are about 27 GB gzipped,
#: 3 hours at the 10 GB an hour ``mast bench capacity`` assumes; this allows eight times that
IMPORT_HOURS_AT_MOST = 24
#: what the catch-up read of the records, for the switch to compare with (under the rebuild's prefix)
CAUGHT_UP = "caught-up.parquet"


class ImportFailed(RuntimeError):
    """ImportTable ended without making the version's table (the rebuild fails; the live version stays)."""


def grace_seconds(env: dict[str, str] | None = None) -> int:
    """The grace an old version's table is kept after a switch: ``INDEX_GRACE_MINUTES`` (the
    template's ``IndexGraceMinutes``)."""
    env = dict(os.environ) if env is None else env
    return int(float(env.get("INDEX_GRACE_MINUTES") or DEFAULT_GRACE_MINUTES) * 60)


def version_table(index_table: str, version: str) -> str:
    """The table an imported version lives in: the index table's name, then the version, so that it
    carries the index's name prefix (the only tables the roles that touch the index reach)."""
    return f"{index_table}-{version}"


class ExportPlanStep(BaseModel):
    """``export_plan``'s input: the rebuild's prefix (its records and model), its prepared table, its
    people, how many."""

    prefix: str = Field(pattern=r"^s3://")
    model: str
    #: the link's prepared table (:func:`mast.linkage.sharded.prepare_shards`'s ``table``): every record
    #: normalised once, with its term frequencies, in the records' order
    prepared_table: str
    people: str
    previous: str | None = None
    records: int = Field(ge=0)
    records_per_export: int = Field(RECORDS_PER_EXPORT, ge=1)
    records_per_table: int = Field(RECORDS_PER_TABLE, ge=1)


class ExportShard(BaseModel):
    """One item of the ``export`` Map: which share of the version's items to write."""

    prefix: str = Field(pattern=r"^s3://")
    model: str
    prepared_table: str
    people: str
    version: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,80}$")
    shard: int = Field(ge=0)
    shards: int = Field(ge=1)
    #: the tables the version's items are cut into (:class:`mast.index.layout.VersionTables`)
    parts: int = Field(1, ge=1, le=MAX_TABLES)


class ExportPlan(BaseModel):
    version: str
    table: str
    parts: int
    previous: str | None
    shards: list[ExportShard]


class Exported(BaseModel):
    """What one export shard wrote (counts only) and what it cost."""

    shard: int
    items: int
    files: int
    json_bytes: int
    stage_seconds: dict[str, float] = Field(default_factory=dict)
    #: the process's peak memory once every record was read and scanned, before any item was built
    scan_peak_mb: float = 0.0
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_mb: float = 0.0


class ExportCount(BaseModel):
    items: int = Field(ge=0)
    files: int = Field(ge=0)


class ImportStep(BaseModel):
    """``import``'s input: the version and its table (from ``export_plan``), the rebuild's folder and
    people, and what the export shards wrote."""

    version: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,80}$")
    table: str = Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$")
    parts: int = Field(1, ge=1, le=MAX_TABLES)
    prefix: str = Field(pattern=r"^s3://")
    people: str
    previous: str | None = None
    exported: list[ExportCount]


class Imported(BaseModel):
    version: str
    table: str
    parts: int = 1
    #: one import per table of the version
    import_arns: list[str]
    previous: str | None
    records: int
    people: int
    items: int
    files: int
    seconds: float


class ImportStatusStep(BaseModel):
    import_arns: list[str] = Field(min_length=1, max_length=MAX_TABLES)


class ImportStatus(BaseModel):
    """``COMPLETED`` once every import of the version is; ``IN_PROGRESS`` until then."""

    status: str
    imported: int = 0


class CatchUpStep(BaseModel):
    """``catch_up``'s input: the imported version, the version live until now, the rebuild's folder."""

    version: str = Field(pattern=r"^[A-Za-z0-9_.:-]{1,80}$")
    table: str = Field(pattern=r"^[A-Za-z0-9_.-]{3,255}$")
    parts: int = Field(1, ge=1, le=MAX_TABLES)
    previous: str | None = None
    prefix: str = Field(pattern=r"^s3://")


class CaughtUp(BaseModel):
    """What the catch-up linked into the new version before the switch (counts only)."""

    version: str
    #: records new or changed since prepare read its input, linked into the version
    linked: int
    #: records gone since (withdrawn, erased, past retention), taken out of it
    removed: int
    #: alerts made for records the live version had not held (a release's rebuild: the day's links
    #: could not extend the live version while it ran)
    alerts: int
    #: the rebuild's closest calls, and the catch-up's, put in the stewards' review queue
    review_pairs: int
    seconds: float


class SwitchStep(BaseModel):
    version: str
    table: str
    parts: int = Field(1, ge=1, le=MAX_TABLES)
    previous: str | None
    records: int = Field(ge=0)
    people: int = Field(ge=0)
    grace_seconds: int = Field(ge=0)
    #: the rebuild's folder: its ``records.parquet`` says which records (and which of their ingests)
    #: the new version was built from, so those ingested since are relinked into it (:func:`catch_up`)
    prefix: str | None = Field(None, pattern=r"^s3://")


class Switched(BaseModel):
    version: str
    table: str
    retired: list[str]
    #: records ingested, changed or gone after the catch-up read them, sent to the match function
    caught_up: int = 0


class Swept(BaseModel):
    dropped: list[str]


def s3_location(uri: str) -> tuple[str, str]:
    """An ``s3://bucket/key`` URI's bucket and key."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _get(s3: Any, uri: str) -> bytes:
    bucket, key = s3_location(uri)
    return bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def plan_export(step: ExportPlanStep, settings: MatchSettings | None = None, *, session: Any = None,
                now: dt.datetime | None = None) -> ExportPlan:
    """The new version's name and table, known (its state item, ``importing``, names the table, so a
    failed rebuild's table is found and dropped later) before any of its items are written; and the
    export shards: one per :data:`RECORDS_PER_EXPORT` records."""
    import boto3

    settings = settings or MatchSettings.from_env()
    ddb = (session or boto3.session.Session()).client("dynamodb")
    now = now or dt.datetime.now(dt.UTC)
    version = layout.new_version(now)
    tables = layout.VersionTables(version_table(settings.index_table, version),
                                  min(MAX_TABLES, max(1, math.ceil(step.records / step.records_per_table))))
    ddb.put_item(TableName=settings.index_table, Item={
        "pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.version_sk(version)}, "state": {"S": "importing"},
        "created_at": {"S": now.isoformat()}, "linkage": {"S": index_linkage()}, **tables.attributes()})
    count = max(1, math.ceil(step.records / step.records_per_export))
    shards = [ExportShard(prefix=step.prefix, model=step.model, prepared_table=step.prepared_table, people=step.people,
                          version=version, shard=i,
                          shards=count, parts=tables.parts) for i in range(count)]
    return ExportPlan(version=version, table=tables.name, parts=tables.parts, previous=step.previous, shards=shards)


def _import_folder(prefix: str, version: str, part: int | None = None) -> tuple[str, str]:
    """The bucket and key prefix a version's import files go under (ImportTable reads them all); with
    ``part``, one table's of a version cut into several (:class:`mast.index.layout.VersionTables`)."""
    bucket, key = s3_location(prefix)
    return bucket, f"{key.rstrip('/')}/import/{version}/" + (f"p{part:02d}/" if part is not None else "")


def _year(value: Any) -> str:
    """:func:`mast.index.layout.year_of` of a record whose date of birth is ``value`` as read."""
    if value is None or value == "":
        return layout.NO_YEAR
    return str(value.year) if isinstance(value, dt.date) else str(dt.date.fromisoformat(str(value)[:10]).year)


@dataclasses.dataclass
class ShardScan:
    """Which rows export shard ``shard`` of ``shards`` needs, and which items are its own: every
    record's ids and keys read as columns (:func:`scan_shard`), nothing yet made a Python object."""

    shard: int
    shards: int
    record_ids: Any
    person_code: np.ndarray
    person_names: Any
    address_code: np.ndarray
    address_names: Any
    keys: np.ndarray
    address_keys: np.ndarray
    #: rows whose records' own items the shard writes (by row), whose people's (by person), whose
    #: addresses' and households' (by address)
    own_person: np.ndarray
    at_owned: np.ndarray
    #: the rows whose summaries the shard's household items hold: those at its addresses, and every
    #: record of the people there (their involvement)
    summarised: np.ndarray
    #: the rows whose full record the shard's items need
    needed: np.ndarray


def _large_strings(values: Any) -> Any:
    """Ids (an Arrow column, or a sequence of str) as Arrow large strings, without a Python string made
    of an Arrow column, and without a fixed-width NumPy copy of Python strings (``astype(str)`` holds
    every id at the longest id's width, four bytes a character). (pyarrow converts a large NumPy
    string array in chunks, as a ChunkedArray; large strings are one.)"""
    import pyarrow as pa

    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.cast(pa.large_string())
    return pa.array(np.asarray(values, dtype=object), pa.large_string())


def encoded(values: Any) -> Any:
    """``values`` (ids: an Arrow column, or a sequence of str) as one dictionary-encoded Arrow array: a
    code per row, each distinct id once."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = _large_strings(values)
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return pc.dictionary_encode(array)


def same_ids(one: Any, other: Any) -> bool:
    """Whether two columns of ids (Arrow, or sequences of str) hold the same ids in the same order,
    compared in Arrow."""
    import pyarrow.compute as pc

    a, b = _large_strings(one), _large_strings(other)
    return len(a) == len(b) and (len(a) == 0 or bool(pc.all(pc.equal(a, b)).as_py()))


class ShardRecords:
    """A rebuild's records (its ``records.parquet``) as an export shard reads them: every record's id
    and date of birth as columns; whole records only for the rows it needs (:meth:`load`), read a row
    group at a time. Whole, a million records are about 750 MB in Arrow: every shard held them all."""

    def __init__(self, path: str | Path) -> None:
        import pyarrow.parquet as pq

        self.file = pq.ParquetFile(path)
        columns = self.file.read(columns=["record_id", "dob"])
        self.record_id, self.dob = columns.column("record_id"), columns.column("dob")
        self._rows = np.zeros(0, np.int64)
        self._loaded: Any = None

    def load(self, rows: np.ndarray) -> None:
        """Hold the whole records of ``rows`` (ascending), and only those."""
        import pyarrow as pa

        parts, start = [], 0
        for group in range(self.file.num_row_groups):
            size = self.file.metadata.row_group(group).num_rows
            lo, hi = np.searchsorted(rows, [start, start + size])
            if hi > lo:
                parts.append(self.file.read_row_group(group).take(pa.array(rows[lo:hi] - start)))
            start += size
        self._rows = np.asarray(rows, dtype=np.int64)
        self._loaded = pa.concat_tables(parts) if parts else self.file.schema_arrow.empty_table()

    def take(self, rows: list[int]) -> list[dict[str, Any]]:
        """Whole records of ``rows`` (each loaded), as dicts."""
        import pyarrow as pa

        at = np.searchsorted(self._rows, rows)
        if len(rows) and (at.max() >= len(self._rows) or (self._rows[at] != rows).any()):
            raise ValueError("a row the shard did not load")
        return list(self._loaded.take(pa.array(at)).to_pylist())


def scan_shard(record_ids: Any, people: Any, keys: Any, address_keys: Any, shard: int,
               shards: int) -> ShardScan:
    """Every record's ids and keys read, as columns, for what export shard ``shard`` writes: a record's
    item by its row, a person's by the person, an address's (and its household's) by the address, a
    key's by the key's value, each taken modulo the shards. Every shard reads the same files in the
    same order, so each item is written by exactly one; only the shard's share is then made into
    Python objects (:func:`shard_items`). Which table each item goes to is a separate matter (the
    partition key's hash, :class:`mast.index.layout.VersionTables`)."""
    import pyarrow.compute as pc

    n = len(record_ids)
    persons, addresses = encoded(people["person_id"]), encoded(people["address_id"])
    person_code = np.asarray(persons.indices, dtype=np.int64)
    address_code = np.asarray(addresses.indices, dtype=np.int64)
    has_address = np.asarray(pc.not_equal(addresses.dictionary, ""), dtype=bool)[address_code] if n \
        else np.zeros(0, bool)
    at_owned = has_address & (address_code % shards == shard)
    there = np.zeros(len(persons.dictionary), dtype=bool)
    there[person_code[at_owned]] = True
    summarised = at_owned | there[person_code]
    needed = summarised | (np.arange(n) % shards == shard)
    return ShardScan(shard, shards, record_ids, person_code, persons.dictionary, address_code,
                     addresses.dictionary, np.asarray(keys, dtype=np.int64),
                     np.asarray(address_keys, dtype=np.int64), person_code % shards == shard, at_owned,
                     summarised, needed)


def shard_items(version: str, records: ShardRecords, table: Any, scan: ShardScan) -> Iterator[dict[str, Any]]:
    """The items of ``version`` that export shard ``scan.shard`` of ``scan.shards`` writes: those
    whose partition it owns (:func:`scan_shard`). Together the shards write exactly the items of
    :func:`mast.index.layout.iter_version_items` (less the model's), each once.

    Only the shard's share becomes Python objects: its own records, those at its addresses (for
    their household items) and every record of the people there (their involvement), in full; and
    the ids of its keys', people's and addresses' records. So a shard's work and memory are a share of
    the version's, beside the columns of every record it reads."""
    import pyarrow as pa

    from mast.index.linking import _indexed
    from mast.linkage.keys import LOOKUP_KEYS, key_strings
    from mast.linkage.scorer import term_frequencies

    touched = np.flatnonzero(scan.needed | scan.own_person | scan.at_owned)
    taken = pa.array(touched)
    record_ids = dict(zip(touched.tolist(), scan.record_ids.take(taken).to_pylist(), strict=True))
    person_ids = dict(zip(touched.tolist(), scan.person_names.take(pa.array(scan.person_code[touched])).to_pylist(),
                          strict=True))
    address_ids = dict(zip(touched.tolist(),
                           scan.address_names.take(pa.array(scan.address_code[touched])).to_pylist(), strict=True))

    summaries = layout.Summaries()
    needed = np.flatnonzero(scan.needed)
    for start in range(0, len(needed), ROWS_PER_CHUNK):  # rows as dicts a chunk at a time
        rows = needed[start : start + ROWS_PER_CHUNK].tolist()
        for i, row in zip(rows, records.take(rows), strict=True):
            strings = key_strings(scan.keys[i], LOOKUP_KEYS) + address_key_strings(scan.address_keys[i])
            record = _indexed(row, person_ids[i], address_ids[i], term_frequencies(table, i))
            if i % scan.shards == scan.shard:
                yield layout.record_item(version, record, strings)
            if scan.summarised[i]:
                summaries.add(record)

    # the shard's keys: those whose value falls to it, their records in row order
    key_members: dict[str, dict[str, str]] = {}
    key_addresses: dict[str, set[str]] = {}
    for values, rules in ((scan.keys, LOOKUP_KEYS), (scan.address_keys, ADDRESS_KEYS)):
        rows, columns = np.nonzero((values != 0) & (values.view(np.uint64) % np.uint64(scan.shards) == scan.shard))
        unique = np.unique(rows)
        at = dict(zip(unique.tolist(), zip(scan.record_ids.take(pa.array(unique)).to_pylist(),
                                           records.dob.take(pa.array(unique)).to_pylist(),
                                           scan.address_names.take(pa.array(scan.address_code[unique])).to_pylist(),
                                           strict=True), strict=True))
        for i, column in zip(rows.tolist(), columns.tolist(), strict=True):  # row by row, rules in order
            record_id, dob, address = at[i]
            key = f"{rules[column].namespace}#{int(values[i, column]):016x}"
            key_members.setdefault(key, {})[record_id] = _year(dob)
            if key.startswith(layout.ADDRESS_KEY_PREFIX):
                key_addresses.setdefault(key, set()).add(address)
    for key, members in key_members.items():
        yield from layout.key_items(version, key, members, key_addresses.get(key, ()))
    del key_members, key_addresses

    person_members: dict[str, dict[str, str]] = {}
    address_members: dict[str, dict[str, str]] = {}
    for i in np.flatnonzero(scan.own_person).tolist():
        person_members.setdefault(person_ids[i], {})[record_ids[i]] = address_ids[i]
    for i in np.flatnonzero(scan.at_owned).tolist():
        address_members.setdefault(address_ids[i], {})[record_ids[i]] = person_ids[i]
    yield from layout.person_and_address_items(version, person_members, address_members, summaries)


def export_shard(step: ExportShard, settings: MatchSettings | None = None, *, session: Any = None) -> Exported:
    """One export shard's items to S3 (:func:`write_export`), from the rebuild's files. A retry writes
    the same files."""
    import boto3

    from mast.index.salt import key_salt
    from mast.linkage.sharded import _cost, read_arrow, read_records, record_table_files

    started = time.perf_counter()
    settings = settings or MatchSettings.from_env()
    session = session or boto3.session.Session()
    s3 = session.client("s3")
    salt = key_salt(settings.key_salt_secret_arn, session.client("secretsmanager"))
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        # each file to the function's disk as it streams (never whole in memory), then read from there:
        # the Arrow files memory-mapped, so only the pages read count against the function's memory
        def fetch(uri: str, name: str) -> str:
            path = Path(folder) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(*s3_location(uri), str(path))
            return str(path)

        records = ShardRecords(fetch(f"{step.prefix.rstrip('/')}/records.parquet", "records.parquet"))
        people = read_arrow(fetch(step.people, "people.arrow"))
        for name in record_table_files():  # the table's files read_records reads, no others (not its address ids)
            fetch(f"{step.prepared_table.rstrip('/')}/{name}", f"table/{name}")
        table, _ = read_records(str(Path(folder) / "table"))
        model = _get(s3, step.model).decode("utf-8") if step.shard == 0 else None
        bucket, folder_key = _import_folder(step.prefix, step.version)

        def put(name: str, body: bytes) -> None:
            s3.put_object(Bucket=bucket, Key=f"{folder_key}{name}", Body=body)

        written = write_export(records, table, people, model, step.version, step.shard, step.shards, salt, put,
                               step.parts)
    return Exported(shard=step.shard, items=written.items, files=written.files, json_bytes=written.json_bytes,
                    stage_seconds=written.stage_seconds, scan_peak_mb=written.scan_peak_mb, **_cost(started))


def write_export(records: ShardRecords, table: RecordTable, people: Any, model: str | None, version: str,
                 shard: int, shards: int, salt: str, put: Callable[[str, bytes], None], parts: int = 1) -> Exported:
    """Export shard ``shard``'s items of ``version`` (:func:`shard_items`; the model's, when given)
    as DynamoDB JSON, gzip, :data:`ITEMS_PER_FILE` a file, each handed to ``put`` with its name as it
    is made: a shard's items are never all held at once. ``records``: the rebuild's records (whole
    only for the rows the shard needs, loaded once it knows them);
    ``people``: the finish step's file (record, person and address ids; an Arrow table, read
    memory-mapped: its ids never become Python strings but for the shard's share);
    ``table``: the same records as the link's prepare step normalised them (read, not normalised
    again: that was most of a shard's seconds and memory). Its stages' seconds: ``keys`` (every
    record's keys, from the table), ``scan`` (every record's ids and keys, for the partitions it owns),
    ``build`` (its items made, serialised, compressed and put). With ``parts`` tables, each item goes
    to its table's folder (``pNN/``), whose files one import reads."""
    from mast.linkage.keys import LOOKUP_KEYS, record_keys

    began = time.perf_counter()
    ids = records.record_id
    if not (same_ids(ids, people["record_id"]) and same_ids(ids, table.record_id)):
        raise ValueError("the rebuild's records, table and people are not of the same records "
                         "(another rebuild's files?)")
    keys = record_keys(table, LOOKUP_KEYS, salt)
    address_keys = record_address_keys(table, salt)
    stages = {"keys": time.perf_counter() - began}
    began = time.perf_counter()
    scanned = scan_shard(records.record_id, people, keys, address_keys, shard, shards)
    records.load(np.flatnonzero(scanned.needed))
    stages["scan"] = time.perf_counter() - began
    scan_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    began = time.perf_counter()
    stream: Iterator[dict[str, Any]] = shard_items(version, records, table, scanned)
    if model is not None:
        stream = itertools.chain(layout.model_items(version, model), stream)
    files = items = size = 0
    tables = layout.VersionTables("", parts)
    while batch := list(itertools.islice(stream, ITEMS_PER_FILE)):
        by_part: dict[int, list[dict[str, Any]]] = {}
        for item in batch:
            by_part.setdefault(layout.partition_of(item["pk"]["S"], parts) if parts > 1 else 0, []).append(item)
        for part, mine in sorted(by_part.items()):
            lines = "".join(json.dumps({"Item": item}, separators=(",", ":")) + "\n" for item in mine).encode("utf-8")
            folder = f"p{part:02d}/" if tables.parts > 1 else ""
            put(f"{folder}s{shard:05d}-{files:05d}.json.gz", gzip.compress(lines, compresslevel=6))
            size += len(lines)
        files += 1
        items += len(batch)
    stages["build"] = time.perf_counter() - began
    return Exported(shard=shard, items=items, files=files, json_bytes=size,
                    stage_seconds={k: round(v, 3) for k, v in stages.items()}, scan_peak_mb=round(scan_peak_mb, 1))


def import_version(step: ImportStep, settings: MatchSettings | None = None, *, session: Any = None) -> Imported:
    """ImportTable started on the export shards' files (see the module docstring), and the record ->
    person state a day's link restores from written beside the curated records."""
    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mast.index.linking import STATE_PREFIX
    from mast.linkage.sharded import read_columns

    started = time.perf_counter()
    settings = settings or MatchSettings.from_env()
    session = session or boto3.session.Session()
    s3, ddb = session.client("s3"), session.client("dynamodb")
    state = ddb.get_item(TableName=settings.index_table, ConsistentRead=True, Key={
        "pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.version_sk(step.version)}}).get("Item") or {}
    tables = layout.VersionTables(step.table, step.parts)
    if (layout.VersionTables.of_item(state, "") != tables or state.get("state", {}).get("S") != "importing"):
        raise ValueError(f"version {step.version} is not an export for {step.table} waiting to be imported")
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as folder:
        found = Path(folder) / "people.arrow"
        found.write_bytes(_get(s3, step.people))
        people = read_columns(str(found), skip=("address_id",))
    # the record -> person state a day's link restores from (as the match run writes it)
    sink = io.BytesIO()
    pq.write_table(pa.table({"record_id": pa.array([str(r) for r in people["record_id"]], pa.string()),
                             "person_id": pa.array([str(p) for p in people["person_id"]], pa.string())}), sink)
    s3.put_object(Bucket=settings.curated_bucket, Key=f"{STATE_PREFIX}{step.version}.parquet", Body=sink.getvalue())

    index = ddb.describe_table(TableName=settings.index_table)["Table"]
    creation: dict[str, Any] = {
        "AttributeDefinitions": index["AttributeDefinitions"], "KeySchema": index["KeySchema"],
        "BillingMode": "PAY_PER_REQUEST"}
    if index.get("GlobalSecondaryIndexes"):
        creation["GlobalSecondaryIndexes"] = [
            {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
            for g in index["GlobalSecondaryIndexes"]]
    key_arn = index.get("SSEDescription", {}).get("KMSMasterKeyArn")
    if key_arn:  # the index's own customer key
        creation["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn}
    arns = []
    for part, name in enumerate(tables.names()):  # every table's import at once, beside the others
        bucket, folder_key = _import_folder(step.prefix, step.version, part if tables.parts > 1 else None)
        started_import = ddb.import_table(
            ClientToken=f"{step.version}-{part}", S3BucketSource={"S3Bucket": bucket, "S3KeyPrefix": folder_key},
            InputFormat="DYNAMODB_JSON", InputCompressionType="GZIP",
            TableCreationParameters={**creation, "TableName": name})
        arns.append(started_import["ImportTableDescription"]["ImportArn"])
    return Imported(version=step.version, table=step.table, parts=tables.parts, import_arns=arns, previous=step.previous,
                    records=len(people["record_id"]), people=len(set(people["person_id"].tolist())),
                    items=sum(e.items for e in step.exported), files=sum(e.files for e in step.exported),
                    seconds=round(time.perf_counter() - started, 3))


def import_status(step: ImportStatusStep, *, session: Any = None, now: dt.datetime | None = None) -> ImportStatus:
    """How the version's imports are going: ``COMPLETED`` once every one is, else the state of one
    that is not; raises :class:`ImportFailed` when any failed, or has run past
    :data:`IMPORT_HOURS_AT_MOST` (the rebuild fails, the live version untouched)."""
    import boto3

    ddb = (session or boto3.session.Session()).client("dynamodb")
    status, imported = "COMPLETED", 0
    for arn in step.import_arns:
        described = ddb.describe_import(ImportArn=arn)["ImportTableDescription"]
        state = str(described["ImportStatus"])
        errors = int(described.get("ErrorCount") or 0)
        # an item left out is a person a search would miss: an import with any error fails the rebuild
        if state in FAILED_STATES or (state == "COMPLETED" and errors):
            table = str(described.get("TableArn") or arn).split("table/", 1)[-1].split("/", 1)[0]
            raise ImportFailed(f"the import into {table} ended {state}: "
                               f"{described.get('FailureCode') or 'items in error'} ({errors} items in error)")
        if state != "COMPLETED":
            status = state
        began = described.get("StartTime")
        if state != "COMPLETED" and isinstance(began, dt.datetime):
            running = (now or dt.datetime.now(dt.UTC)) - began.astimezone(dt.UTC)
            if running > dt.timedelta(hours=IMPORT_HOURS_AT_MOST):
                raise ImportFailed(f"the import is still {state} after {running.total_seconds() / 3600:.1f} hours "
                                   f"(at most {IMPORT_HOURS_AT_MOST})")
        imported += int(described.get("ImportedItemCount") or 0)
    return ImportStatus(status=status, imported=imported)


def switch_version(step: SwitchStep, settings: MatchSettings | None = None, *, session: Any = None,
                   now: dt.datetime | None = None) -> Switched:
    """The pointer moved to the imported version and its table in one conditional write (only if
    ``step.previous`` is still live: :class:`mast.index.writer.IndexConflict` otherwise); every other
    version retired with the grace."""
    import boto3

    settings = settings or MatchSettings.from_env()
    ddb = (session or boto3.session.Session()).client("dynamodb")
    writer = IndexWriter(settings.index_table, ddb)
    state = ddb.get_item(TableName=settings.index_table, ConsistentRead=True, Key={
        "pk": {"S": layout.POINTER_PK}, "sk": {"S": layout.version_sk(step.version)}}).get("Item") or {}
    tables = layout.VersionTables(step.table, step.parts)
    if layout.VersionTables.of_item(state, "") != tables or state.get("state", {}).get("S") != "importing":
        raise ValueError(f"version {step.version} is not an import into {step.table} waiting to be switched to")
    # the live table can be restored to any second of the last 35 days, as IndexTable can (ImportTable
    # makes a table without it; it is asked for again on a retry, which changes nothing)
    for name in tables.names():
        ddb.update_continuous_backups(TableName=name,
                                      PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    writer.switch(step.version, step.previous, {"records": step.records, "people": step.people}, table=tables)
    now = now or dt.datetime.now(dt.UTC)
    retired = []
    for old, old_state in writer.versions().items():
        if old != step.version and old_state not in ("retired", "gone"):
            writer.retire(old, grace=dt.timedelta(seconds=step.grace_seconds), now=now)
            retired.append(old)
    caught_up = 0
    if step.prefix:
        caught_up = relink_since(step.prefix, settings, session or boto3.session.Session(), now)
    return Switched(version=step.version, table=step.table, retired=retired, caught_up=caught_up)


def publish_findings(prefix: str, settings: MatchSettings, session: Any, now: dt.datetime) -> int:
    """What the one-run rebuild publishes when it switches, from the files the sharded link left:
    the partners' linkage report (the current one and the day's) and the link's closest calls in
    the stewards' review queue. Returns the review pairs queued."""
    from mast.linkage.report import REPORT_KEY, REPORTS_PREFIX
    from mast.linkage.review import ReviewPair
    from mast.linkage.sharded import REPORT
    from mast.stewardship.queue import ReviewQueue

    s3 = session.client("s3")
    folder = prefix.rstrip("/")
    try:
        report = json.loads(_get(s3, f"{folder}/{REPORT}"))
    except s3.exceptions.NoSuchKey:
        report = None  # a rebuild from before the report was written in its finish step
    if report is not None:
        report["generated_at"] = now.isoformat()
        body = json.dumps(report, indent=1).encode()
        for key in (REPORT_KEY, f"{REPORTS_PREFIX}{now.date().isoformat()}.json"):
            s3.put_object(Bucket=settings.curated_bucket, Key=key, Body=body, ContentType="application/json")
    try:
        pairs = [ReviewPair(**{**p, "guards": tuple(p["guards"])}) for p in json.loads(_get(s3, f"{folder}/review.json"))]
    except s3.exceptions.NoSuchKey:
        return 0
    return ReviewQueue(settings.control_table, session.client("dynamodb")).add_pairs(pairs, now)


def _read_ids(s3: Any, uri: str) -> set[tuple[str, str]] | None:
    """The (record id, ingest id) pairs of a records file under a rebuild's prefix (None if absent)."""
    import pyarrow.parquet as pq

    try:
        body = _get(s3, uri)
    except s3.exceptions.NoSuchKey:
        return None
    read = pq.read_table(io.BytesIO(body), columns=["record_id", "ingest_id"])
    return set(zip(read.column("record_id").to_pylist(), read.column("ingest_id").to_pylist(), strict=True))


def _differences(read: set[tuple[str, str]], current: Any) -> tuple[set[str], set[str]]:
    """The records ``current`` (a table with record and ingest ids) holds new or with a new ingest
    (an ended case, a changed address) since ``read``, and those ``read`` held that are gone."""
    now_ids = current.column("record_id").to_pylist()
    changed = {rid for rid, ingest in zip(now_ids, current.column("ingest_id").to_pylist(), strict=True)
               if (rid, ingest) not in read}
    return changed, {rid for rid, _ in read} - set(now_ids)


def catch_up_version(step: CatchUpStep, settings: MatchSettings | None = None, *, session: Any = None,
                     options: Any = None, now: dt.datetime | None = None) -> CaughtUp:
    """Link into the imported version, before the switch, what came since prepare read its input.

    A rebuild of a region runs for an hour or more; the day's links made meanwhile went into the
    live version (or, on a release's rebuild, could not be made at all), and the new version, built
    from what prepare read, lacks them. Here they are linked into it by the same incremental link a
    day's run makes (:func:`mast.index.linking.link_into`): the records new or ingested again since
    (an ended case, a changed address) linked, those gone taken out. Records the version live until
    now did not hold alert the organisations whose open cases they touch, as a day's link would
    have (alerts are made once each, so one the day's link made already is not made again). The
    rebuild's linkage report and its closest calls are published first, so the catch-up's own, more
    current, report is the one left. What this read is kept for the switch, which relinks only what
    came in the seconds after."""
    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mast.index.linking import link_into, saved_state, searchable_records

    started = time.perf_counter()
    settings = settings or MatchSettings.from_env()
    session = session or boto3.session.Session()
    now = now or dt.datetime.now(dt.UTC)
    s3 = session.client("s3")
    folder = step.prefix.rstrip("/")
    review = publish_findings(step.prefix, settings, session, now)
    read = _read_ids(s3, f"{folder}/records.parquet")
    if read is None:
        raise ValueError(f"{folder} holds no records.parquet: not a rebuild's folder")
    records = searchable_records(settings, now)
    changed, gone = _differences(read, records)
    known = saved_state(s3, settings.curated_bucket, step.previous) if step.previous else None
    unknown = known is not None and not known.held(records.column("record_id").combine_chunks()).all()
    linked = removed = alerts = 0
    if changed or gone or unknown:
        outcome = link_into(step.version, layout.VersionTables(step.table, step.parts), records, changed, settings,
                            known=known, session=session,
                            options=options, now=now)
        linked, removed, alerts = outcome.linked, outcome.removed, outcome.alerts
        review += outcome.review_pairs
    sink = io.BytesIO()
    pq.write_table(records.select(["record_id", "ingest_id"]).cast(
        pa.schema([("record_id", pa.string()), ("ingest_id", pa.string())])), sink)
    bucket, key = s3_location(f"{folder}/{CAUGHT_UP}")
    s3.put_object(Bucket=bucket, Key=key, Body=sink.getvalue())
    return CaughtUp(version=step.version, linked=linked, removed=removed, alerts=alerts, review_pairs=review,
                    seconds=round(time.perf_counter() - started, 3))


def relink_since(prefix: str, settings: MatchSettings, session: Any, now: dt.datetime) -> int:
    """Send the match function the records the new version lacks at the switch: those ingested,
    changed or gone after the catch-up read them (:func:`catch_up_version`; or, for a rebuild
    without one, after prepare read them): the day's links made in those seconds went into the old
    version. They go as ``relink`` messages on the match queue (FIFO, behind any ingest already
    queued), which link them into the version now live at once. Returns how many records were sent."""
    from mast.index.linking import searchable_records
    from mast.index.messages import RelinkRequested, send_match_message

    queue_url = settings.match_queue_url
    s3 = session.client("s3")
    folder = prefix.rstrip("/")
    read = _read_ids(s3, f"{folder}/{CAUGHT_UP}")
    if read is None:
        read = _read_ids(s3, f"{folder}/records.parquet") or set()
    changed, gone = _differences(read, searchable_records(settings, now).select(["record_id", "ingest_id"]))
    ids = sorted(changed | gone)
    if ids and not queue_url:
        raise RuntimeError(f"{len(ids)} records changed during the rebuild and no match queue is set (MATCH_QUEUE_URL)")
    sqs = session.client("sqs")
    for start in range(0, len(ids), RELINK_CHUNK):
        send_match_message(RelinkRequested(record_ids=ids[start : start + RELINK_CHUNK]), queue_url, sqs)
    return len(ids)


def sweep(settings: MatchSettings | None = None, *, session: Any = None, now: dt.datetime | None = None) -> Swept:
    """The tables of retired versions whose grace has passed, deleted whole."""
    import boto3

    settings = settings or MatchSettings.from_env()
    writer = IndexWriter(settings.index_table, (session or boto3.session.Session()).client("dynamodb"))
    return Swept(dropped=writer.drop_retired_tables(now))
