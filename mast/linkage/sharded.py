"""The batch link in shards, as steps that pass file paths: the rebuild's distributed map.

One Lambda cannot hold a region's link (about 2.1 KB per record: a 10 GB function stops near four
million records), so a rebuild runs as steps, each reading and writing files under a prefix (a
folder here, an S3 prefix in AWS: every path goes through pyarrow's filesystems) and passing only
their paths on, small enough for Step Functions' 256 KiB payload:

1. :func:`prepare_shards` normalises the records (most distinct address lines parsed in a forked
   process meanwhile), makes their lookup keys and candidate blocks (with the oversize limits of
   :func:`mast.linkage.keys.block_limits`), trains the model unless one is given (in a forked
   process, beside the rest), and writes every record's address id and shards of blocks, each with
   only the records its blocks hold (:meth:`mast.linkage.table.RecordTable.columns`: their values,
   not the whole vocabularies). A second core is what a 10 GB Lambda has (six);
2. :func:`score_shard` (one per shard: the distributed map) scores one shard's candidate pairs with
   the one scorer, :meth:`mast.linkage.model.Model.score`, and writes its links (row pairs at or
   above the threshold that no guard vetoed);
3. :func:`cluster_links` joins all links (small: int32 pairs) with the stewards' decisions into
   connected components in one step and groups the components that hold more than one record,
   with their records, into refine shards;
4. :func:`refine_shard` (a second map) clusters each one's components with
   :func:`mast.linkage.cluster.cluster`, exactly as :meth:`mast.linkage.link.Linker.build` does:
   every pair in a component scored, the household guards, the decisions;
5. :func:`finish` gives every record its person id (and the address id prepare made).

The people are those :meth:`Linker.build` finds from the same records and model: a pair is scored
in one shard only (the shard of the smallest usable lookup key the two records share, so a pair
sharing many keys is not scored many times), the clustering of a component needs nothing outside
it, and a shard's table scores pairs exactly as the whole table does.

:func:`link_locally` runs the steps on one machine, each in a forked process holding only its own
inputs, at most ``processes`` at a time (Process and Pipe: no Pool or shared memory, which Lambda
lacks), with at least one score shard per process. Prepare, which runs alone, forks one process at a
time beside itself (:class:`mast.linkage.background.Background`).

Sizes (measured on the generated million, 1,035,019 records, 42.8 million candidate pair occurrences,
23.7 million distinct pairs). A score shard holds about :data:`PAIRS_PER_SHARD` (24 million) pair
occurrences: two shards at the million, each about 1.03 million records (a record's ten or so blocks
fall in both), 11.9 million pairs scored, 30 to 34 CPU-seconds, 1.2 GB peak: a 3 GB Lambda takes
one with room, far inside 15 minutes. At ten million records (estimated, not measured) that is about
18 shards of some 4.4 million records each (about 3.5 GB: a 6 GB Lambda), each still about 30
CPU-seconds. A refine shard
holds at most :data:`RECORDS_PER_REFINE` (250,000) records of multi-record components (0.4 GB at the
million; 22 of them at ten million). The steps that hold every record in one process:

- :func:`prepare_shards` (the whole table, its keys and blocks, training): 1.6 GB at the million
  (its largest process; the forked trainer shares the table's pages),
  so a 10 GB Lambda prepares about five million records. Past that this step itself must become a
  map: normalising partitions of the records against a shared vocabulary, term frequencies summed in
  a reduce, block keys counted by key hash to find the oversize ones. That is where this design
  stops today.
- :func:`cluster_links` (the links, about 0.6 a record, and the table's columns, memory-mapped): 0.35
  GB at the million, about 3.5 GB at ten million (estimated).
- :func:`finish` (record ids and the vocabularies as Python strings, to hash person and address
  ids): 0.6 GB at the million, about 7 GB at ten million (estimated): the next to split (by ranges of rows) if
  a region outgrows that.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import resource
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, Field

from mast.linkage.arrays import isin_sorted, small_pages, unique, unique_inverse
from mast.linkage.background import Background, BackgroundFailed
from mast.linkage.cluster import cluster, components
from mast.linkage.decisions import NOT_SAME, SAME, Decision, constraints_for, load_decisions
from mast.linkage.keys import LOOKUP_KEYS, block_limits, record_keys
from mast.linkage.link import BATCH_PAIRS, NEAR_PER_RANGE, PairScorer, address_ids, person_ids_for
from mast.linkage.model import Model
from mast.linkage.pairs import DEFAULT_MAX_BLOCK, Blocks, block_key, make_blocks, pair_codes, ranges
from mast.linkage.report import linkage_report
from mast.linkage.review import MARGIN_BITS, ReviewPair, review_pairs
from mast.linkage.table import RecordTable, positions, prepare, select_rows, take_rows
from mast.linkage.training import TrainingOptions, train
from mast.normalise.dates import MISSING_DAY

#: candidate pair occurrences (within blocks, before a shard drops those another shard owns) per score shard
PAIRS_PER_SHARD = 24_000_000
#: beside a score shard's links: the pairs kept for the stewards' review that are not links
NEAR_FILE = "near.arrow"
#: in the rebuild's folder: every pair the review may pick from, gathered by the cluster step
REVIEW_CANDIDATES = "review-candidates.arrow"
#: in the rebuild's folder: the partners' linkage report (:func:`mast.linkage.report.linkage_report`)
REPORT = "report.json"
#: beside a refine shard's labels: its clustering statistics (JSON)
CLUSTER_STATS = "cluster.json"
#: in the table's folder: every record's address id (:func:`mast.linkage.link.address_ids`), from prepare
ADDRESS_IDS = "address-ids.arrow"
#: records of multi-record components per refine shard
RECORDS_PER_REFINE = 250_000
#: complete-scoring limit of a component (as :class:`mast.linkage.link.LinkOptions`)
MAX_COMPLETE = 2000


# ---------------------------------------------------------------------- step inputs and outputs
class StepCost(BaseModel):
    """What a step cost in its process: wall seconds, CPU seconds and peak resident memory (MB)."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_mb: float = 0.0


class PrepareInput(BaseModel):
    """The rebuild's records and where its files go (the key salt is the deployment's secret: it is
    passed beside, never in, a payload that the execution history keeps)."""

    records: str = Field(description="canonical records, CSV or Parquet")
    prefix: str = Field(description="folder or S3 prefix for this rebuild's files")
    model: str | None = Field(None, description="a trained model's JSON; trained here when absent")
    decisions: str | None = Field(None, description="the stewards' decisions (CSV or JSON lines)")
    max_block: int = DEFAULT_MAX_BLOCK
    pairs_per_shard: int = PAIRS_PER_SHARD
    min_shards: int = 1


class PrepareOutput(StepCost):
    prefix: str
    model: str
    table: str
    constraints: str
    records: int
    shards: list[str]
    candidate_pair_occurrences: int
    max_block: int
    blocks_skipped_over_limit: int
    decisions_skipped: int
    stage_seconds: dict[str, float] = {}


class ScoreInput(BaseModel):
    shard: str
    model: str
    #: which shard this is, of how many: a pair is scored by the shard of its smallest shared key
    index: int
    count: int
    max_block: int = DEFAULT_MAX_BLOCK


class ScoreOutput(StepCost):
    links: str
    records: int
    candidate_pairs: int
    scored_pairs: int
    linked_pairs: int
    #: pairs kept for the stewards' review that are not links (held apart by a guard, or just under)
    near_pairs: int = 0


class ClusterInput(BaseModel):
    prefix: str
    table: str
    constraints: str
    links: list[str]
    records_per_refine: int = RECORDS_PER_REFINE


class ClusterOutput(StepCost):
    refine: list[str]
    linked_pairs: int
    components: int
    records_in_components: int


class RefineInput(BaseModel):
    shard: str
    model: str
    max_complete: int = MAX_COMPLETE


class RefineOutput(StepCost):
    labels: str
    records: int
    components: int
    split: int
    conflicts: int


class FinishInput(BaseModel):
    prefix: str
    table: str
    labels: list[str]
    #: the model (its threshold and guards name the review's pairs); default the one prepare trained
    model: str | None = None


class FinishOutput(StepCost):
    people: str
    records: int
    persons: int
    #: the link's closest calls for the stewards' review queue (JSON list of :class:`ReviewPair`)
    review: str | None = None
    review_pairs: int = 0
    #: the refine shards' clustering statistics, summed (as :attr:`Linker.stats` ``["cluster"]``)
    cluster: dict[str, Any] = {}


# ---------------------------------------------------------------------- files
def _filesystem(uri: str) -> tuple[Any, str]:
    from pyarrow import fs

    if uri.startswith("s3://"):
        # the SDK's own settings, which pyarrow's S3 client does not all read: an endpoint other
        # than AWS's (the local stack's) and the CA bundle its certificate is trusted by
        options: dict[str, Any] = {"region": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")}
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if endpoint:
            scheme, _, host = endpoint.rpartition("://")
            options.update(endpoint_override=host.rstrip("/"), scheme=scheme or "https")
        if os.environ.get("AWS_CA_BUNDLE"):
            options["tls_ca_file_path"] = os.environ["AWS_CA_BUNDLE"]
        return fs.S3FileSystem(**options), uri.removeprefix("s3://")
    if "://" in uri:
        return fs.FileSystem.from_uri(uri)
    return fs.LocalFileSystem(), str(Path(uri).resolve())


def _join(prefix: str, *parts: str) -> str:
    return "/".join([prefix.rstrip("/"), *parts])


def _sibling(uri: str, name: str) -> str:
    """The file ``name`` in the folder that holds ``uri``."""
    return _join(uri.rsplit("/", 1)[0], name)


def _exists(uri: str) -> bool:
    from pyarrow import fs

    filesystem, path = _filesystem(uri)
    return bool(filesystem.get_file_info(path).type == fs.FileType.File)


def _arrow(values: Any) -> Any:
    import pyarrow as pa

    if isinstance(values, list) or values.dtype == object:
        return _strings(values if isinstance(values, list) else values.tolist())
    if values.ndim == 2:
        return pa.FixedSizeListArray.from_arrays(_arrow(np.ascontiguousarray(values).reshape(-1)), values.shape[1])
    if values.dtype == bool:
        return pa.Array.from_buffers(pa.bool_(), len(values), [None, pa.py_buffer(np.packbits(values, bitorder="little"))])
    values = np.ascontiguousarray(values)  # from its buffer: pa.array(numpy) imports pandas too
    return pa.Array.from_buffers(pa.from_numpy_dtype(values.dtype), len(values), [None, pa.py_buffer(values)])


#: numpy's names of Arrow's fixed-width types where they differ
_NUMPY_TYPES = {"float": "float32", "double": "float64", "halffloat": "float16"}


def _strings(values: list[str]) -> Any:
    """A string column made from its UTF-8 bytes and offsets (``pa.array`` of a list imports pandas)."""
    import pyarrow as pa

    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    if offsets[-1] >= 2**31:
        return pa.Array.from_buffers(pa.large_string(), len(encoded),
                                     [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))])


def _python_strings(column: Any) -> np.ndarray:
    """A string column as an object array of str, decoded once from its buffer (``to_pylist`` makes an
    Arrow scalar of every value first: seconds for a shard's million)."""
    import pyarrow as pa

    if column.null_count:
        raise ValueError("a shard's string column holds nulls")
    wide = pa.types.is_large_string(column.type)
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64 if wide else np.int32, count=len(column) + 1,
                            offset=column.offset * (8 if wide else 4))
    data = column.buffers()[2]
    start, end = int(offsets[0]), int(offsets[-1])
    raw = data.to_pybytes()[start:end] if data is not None else b""
    text = raw.decode("utf-8")
    out = np.empty(len(column), dtype=object)
    bounds = (offsets - start).tolist()
    if len(text) == len(raw):  # ASCII: byte offsets are character offsets
        out[:] = [text[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    else:
        out[:] = [raw[a:b].decode("utf-8") for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return out


def _numpy(column: Any) -> np.ndarray:
    """A column :func:`write_columns` wrote, as numpy, read straight from its buffer (pyarrow's
    ``to_numpy`` imports pandas on first use: a second of every short-lived step's time)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):  # one chunk as written: taken as it is (combining copies it)
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    if pa.types.is_fixed_size_list(column.type):
        size = column.type.list_size
        return _numpy(column.values.slice(column.offset * size, len(column) * size)).reshape(-1, size)
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return _python_strings(column)
    if column.null_count:
        raise ValueError(f"a shard column holds nulls ({column.type})")
    if pa.types.is_boolean(column.type):  # a bitmap, least significant bit first
        bits = np.frombuffer(column.buffers()[1], dtype=np.uint8)
        return np.unpackbits(bits, bitorder="little")[column.offset : column.offset + len(column)].astype(bool)
    dtype = np.dtype(_NUMPY_TYPES.get(str(column.type), str(column.type)))
    return np.frombuffer(column.buffers()[1], dtype=dtype, count=len(column), offset=column.offset * dtype.itemsize)


def write_columns(uri: str, columns: Mapping[str, Any]) -> None:
    """Equal-length columns (numpy arrays, 2-D ones as fixed-size lists; lists of str) as an Arrow IPC file."""
    import pyarrow as pa

    _write_arrow(uri, pa.table({name: _arrow(values) for name, values in columns.items()}))


def _write_arrow(uri: str, table: Any) -> None:
    import pyarrow as pa

    filesystem, path = _filesystem(uri)
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path) as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_arrow(uri: str, skip: Sequence[str] = ()) -> Any:
    """An Arrow IPC file (as :func:`write_columns` writes them) as a pyarrow Table, its columns
    left in Arrow: a local file memory-mapped, so nothing is copied and only the pages read count
    against the process's memory (:func:`read_columns` makes numpy and Python objects of them)."""
    import pyarrow as pa

    if "://" not in uri:  # left open: the arrays read are views of the mapping (closed when they go)
        table = pa.ipc.open_file(pa.memory_map(str(Path(uri).resolve()))).read_all()
    else:
        filesystem, path = _filesystem(uri)
        with filesystem.open_input_file(path) as source:
            table = pa.ipc.open_file(source).read_all()
    return table.select([c for c in table.column_names if c not in skip])


def read_columns(uri: str, skip: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The columns :func:`write_columns` wrote (but those in ``skip``)."""
    table = read_arrow(uri, skip)
    return {name: _numpy(table.column(name)) for name in table.column_names}


def _write_text(uri: str, text: str) -> None:
    filesystem, path = _filesystem(uri)
    filesystem.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with filesystem.open_output_stream(path) as sink:
        sink.write(text.encode("utf-8"))


def _read_text(uri: str) -> str:
    filesystem, path = _filesystem(uri)
    with filesystem.open_input_stream(path) as source:
        return bytes(source.read()).decode("utf-8")


class TableFiles:
    """A table's columns, ready to write many shards of its rows: the records as numpy arrays, the
    vocabularies as Arrow tables, so a shard's share of a vocabulary is a take in Arrow's C++ rather
    than a Python loop over its values (the generated million's shards hold millions of values)."""

    def __init__(self, records: dict[str, np.ndarray], vocabs: dict[str, Any], code_columns: list[str]) -> None:
        self.records, self.vocabs = records, vocabs
        self.code_columns = {a: {c: _numpy(t.column(c)) for c in code_columns if c in t.column_names}
                             for a, t in vocabs.items()}

    @classmethod
    def of(cls, table: RecordTable) -> TableFiles:
        import pyarrow as pa

        records, vocabs = table.columns()
        arrow = {a: pa.table({name: _arrow(values) for name, values in columns.items()}) for a, columns in vocabs.items()}
        return cls(records, arrow, _code_columns())

    @classmethod
    def read(cls, prefix: str, skip: Sequence[str] = ()) -> TableFiles:
        """The files :meth:`write` wrote under ``prefix`` (the record columns ``skip`` left out)."""
        records = read_columns(_join(prefix, "records.arrow"), skip=skip)
        return cls(records, {a: read_arrow(_join(prefix, f"vocab-{a}.arrow")) for a in _vocab_names()},
                   _code_columns())

    def write(self, prefix: str, rows: np.ndarray | None = None, extra: Mapping[str, np.ndarray] | None = None,
              drop: Sequence[str] = ()) -> None:
        """Records (all, or ``rows``: then with only the vocabularies' values they use) under ``prefix``;
        ``extra``: more columns, one value per written record; ``drop``: record columns left out."""
        import pyarrow as pa

        if rows is None:
            records, vocabs = dict(self.records), self.vocabs
        else:
            records, kept = select_rows(self.records, self.code_columns, rows)
            vocabs = {}
            for attribute, table in self.vocabs.items():
                codes = kept[attribute]
                part = table.take(pa.Array.from_buffers(pa.int64(), len(codes), [None, pa.py_buffer(codes)]))
                for name, column in self.code_columns[attribute].items():
                    renumbered = take_rows({name: column}, codes, {name: column})[name]
                    part = part.set_column(part.column_names.index(name), name, _arrow(renumbered))
                vocabs[attribute] = part
        for name in drop:
            records.pop(name, None)
        write_columns(_join(prefix, "records.arrow"), {**records, **(extra or {})})
        for attribute, table in vocabs.items():
            _write_arrow(_join(prefix, f"vocab-{attribute}.arrow"), table)


def _vocab_names() -> list[str]:
    from mast.linkage.table import Vocabs

    return list(vars(Vocabs()))


def _code_columns() -> list[str]:
    from mast.linkage.table import Vocabs

    return sorted({c for vocab in vars(Vocabs()).values() for c in vocab.CODE_COLUMNS})


def write_records(prefix: str, table: RecordTable, rows: np.ndarray | None = None,
                  extra: Mapping[str, np.ndarray] | None = None) -> None:
    """Records (all, or ``rows``) with vocabularies of only their values, under ``prefix``; ``extra``:
    more columns, one value per written record."""
    TableFiles.of(table).write(prefix, rows, extra)


def record_table_files() -> list[str]:
    """The files of a folder :func:`read_records` reads (a step that downloads a table fetches these
    and no others)."""
    return ["records.arrow", *(f"vocab-{attribute}.arrow" for attribute in _vocab_names())]


def read_records(prefix: str) -> tuple[RecordTable, dict[str, np.ndarray]]:
    """The table :func:`write_records` wrote, and all its record columns (the extra ones too). A shard
    written without record ids gets '' for each (scoring and clustering never read them)."""
    records_file, *vocab_files = record_table_files()
    records = read_columns(_join(prefix, records_file))
    vocabs = {attribute: read_columns(_join(prefix, name))
              for attribute, name in zip(_vocab_names(), vocab_files, strict=True)}
    return RecordTable.from_columns(records, vocabs), records


# ---------------------------------------------------------------------- the steps
def _namespace_columns() -> list[list[int]]:
    """Key columns by namespace: only keys of one namespace can be equal (a date meets its swap)."""
    groups: dict[str, list[int]] = {}
    for i, rule in enumerate(LOOKUP_KEYS):
        groups.setdefault(rule.namespace, []).append(i)
    return list(groups.values())


def _cost(started: float) -> dict[str, float]:
    """Seconds since ``started``; CPU seconds and peak memory of this process and of the processes it
    ran (:class:`Background`: their CPU counts, and the largest process is the peak)."""
    usage, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime
    return {"seconds": round(time.perf_counter() - started, 3), "cpu_seconds": round(cpu, 2),
            "peak_mb": round(max(usage.ru_maxrss, children.ru_maxrss) / 1024, 1)}


class _Stages:
    """Prepare's stages: wall seconds of each (in ``seconds`` under its name) and the CPU-seconds this
    process spent in it (under ``cpu:<name>``); work done beside (in a process of its own, overlapping
    the stages) under its own name and ``cpu:<name>``, not in the stages' sum. The CPU-seconds tell
    what a stage costs on an idle machine when a shared one stretches its wall time."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def __call__(self, name: str) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.seconds[name] = round(wall - self._wall, 3)
        self.seconds[f"cpu:{name}"] = round(cpu - self._cpu, 3)
        self._wall, self._cpu = wall, cpu

    def beside(self, name: str, seconds: float, cpu: float) -> None:
        self.seconds[name], self.seconds[f"cpu:{name}"] = round(seconds, 3), round(cpu, 3)


def prepare_shards(step: PrepareInput, key_salt: str = "",
                   training: TrainingOptions | None = None) -> PrepareOutput:
    """Records -> the model, the whole prepared table (for refining and the ids), the decisions as row
    pairs, and shards of candidate blocks, each with the records its blocks hold."""
    from mast.linkage.io import read_canonical

    started = time.perf_counter()
    stage = _Stages()
    table = prepare(read_canonical(step.records), beside=True)  # part of the address parse on a second core
    stage("read_and_normalise")
    keys = record_keys(table, LOOKUP_KEYS, key_salt)
    blocks = make_blocks(keys, block_limits(LOOKUP_KEYS, step.max_block))
    stage("keys")
    trained: Background[dict[str, Any]] | None = None
    if step.model:
        model_uri = step.model
    else:
        # training needs only the table and its blocks, which are made: it runs in a process of its
        # own beside the writing of the table and the shards, which do not need the model
        model_uri = _join(step.prefix, "model.json")

        def train_and_write() -> dict[str, Any]:
            # the model comes back to be written here: an S3 client forked from this process's
            # (its threads left behind) is not to be trusted in the child
            began, cpu = time.perf_counter(), time.process_time()
            model = train(Model(), table, keys, blocks, training or TrainingOptions()).to_json()
            return {"model": model, "seconds": time.perf_counter() - began, "cpu": time.process_time() - cpu}

        trained = Background(train_and_write)
    try:
        return _write_prepared(step, table, keys, blocks, model_uri, trained, started, stage)
    except BaseException:
        if trained is not None:
            trained.cancel()
        raise


def _write_prepared(step: PrepareInput, table: RecordTable, keys: np.ndarray, blocks: Blocks, model_uri: str,
                    trained: Background[dict[str, Any]] | None, started: float, stage: _Stages) -> PrepareOutput:
    """The rest of :func:`prepare_shards`, while the model trains: the decisions as row pairs, the table,
    the shards; then the wait for the model."""
    row_of = {rid: i for i, rid in enumerate(table.record_id.tolist())}
    constraints, skipped = constraints_for(load_decisions(step.decisions) if step.decisions else [], row_of)
    del row_of
    constraints_uri = _join(step.prefix, "constraints.arrow")
    write_columns(constraints_uri, {
        "lo": np.concatenate([constraints.same_lo, constraints.apart_lo]).astype(np.int32),
        "hi": np.concatenate([constraints.same_hi, constraints.apart_hi]).astype(np.int32),
        "same": np.r_[np.ones(len(constraints.same_lo), bool), np.zeros(len(constraints.apart_lo), bool)]})
    table_uri = _join(step.prefix, "table")
    files = TableFiles.of(table)
    files.write(table_uri)
    # every record's address id depends on its record alone: made here, while the model trains,
    # rather than in finish, when nothing else runs
    write_columns(_join(table_uri, ADDRESS_IDS), {"address_id": address_ids(table)})
    stage("write_table")

    occurrences = int(blocks.pair_counts.sum())
    count = max(step.min_shards, math.ceil(occurrences / step.pairs_per_shard), 1)
    # each record's usable block keys (0 where it has none, or its block is over the size limit):
    # a shard keeps a pair only when the smallest key its two records share is one of the shard's
    usable = block_key(keys)  # a key that is absent, or whose block is over the limit, is no shared key
    usable[isin_sorted(usable, blocks.oversize)] = 0
    shard_of_block = blocks.keys % count
    shards = []
    for index in range(count):
        mine = blocks.select(shard_of_block == index)
        sizes = mine.sizes.astype(np.int64)
        members = mine.rows[np.repeat(mine.starts.astype(np.int64), sizes) + ranges(sizes)]
        rows = np.flatnonzero(np.bincount(members, minlength=len(table)))
        uri = _join(step.prefix, "shards", f"{index:05d}")
        files.write(uri, rows, {"row": rows.astype(np.int32), "keys": usable[rows]}, drop=("record_id",))
        write_columns(_join(uri, "blocks.arrow"), {"key": mine.keys, "size": mine.sizes.astype(np.int32)})
        write_columns(_join(uri, "members.arrow"), {"row": positions(rows, len(table))[members]})
        shards.append(uri)
    stage("write_shards")
    if trained is not None:
        model = trained.result()
        _write_text(model_uri, model["model"])
        stage("wait_for_train")
        stage.beside("train", model["seconds"], model["cpu"])
    return PrepareOutput(prefix=step.prefix, model=model_uri, table=table_uri, constraints=constraints_uri,
                         records=len(table), shards=shards, candidate_pair_occurrences=occurrences, max_block=step.max_block,
                         blocks_skipped_over_limit=blocks.skipped, decisions_skipped=skipped, stage_seconds=stage.seconds,
                         **_cost(started))


def _pool_columns(max_block: int) -> list[list[int]]:
    """Key columns by block-size limit: :func:`mast.linkage.pairs.make_blocks` pools every column of
    one limit, so two keys of different namespaces whose block ids (their high bits) collide form one
    block there."""
    groups: dict[int, list[int]] = {}
    for i, limit in enumerate(block_limits(LOOKUP_KEYS, max_block).tolist()):
        groups.setdefault(limit, []).append(i)
    return list(groups.values())


def _smallest_shared(lo: np.ndarray, hi: np.ndarray, key_columns: np.ndarray,
                     groups: list[list[int]]) -> np.ndarray:
    """Per pair, the smallest usable key (block id) the two records share within a group of columns
    (int64 max where none)."""
    smallest = np.full(len(lo), np.iinfo(np.int64).max, dtype=np.int64)
    for columns in groups:
        right = [key_columns[j][hi] for j in columns]
        for i in columns:
            a = key_columns[i][lo]
            for b in right:
                shared = (a == b) & (a != 0)
                np.minimum(smallest, np.where(shared, a, smallest), out=smallest)
    return smallest


def _owned(lo: np.ndarray, hi: np.ndarray, key_columns: np.ndarray, index: int, count: int,
           max_block: int = DEFAULT_MAX_BLOCK) -> np.ndarray:
    """Which pairs this shard owns: those whose smallest shared usable key falls in it.
    ``key_columns``: the records' usable keys, one row per key column (each row contiguous).

    Keys are compared within a namespace (only there can two records' keys be equal). The rare pair
    that shares none there met in a block of two keys whose block ids collide (1,035,019 records:
    22 such pairs); for those the block ids are compared across each pool of columns that
    :func:`make_blocks` groups, so they too are scored once, as the one-process link scores them."""
    smallest = _smallest_shared(lo, hi, key_columns, _namespace_columns())
    lonely = np.flatnonzero(smallest == np.iinfo(np.int64).max)
    if len(lonely):
        smallest[lonely] = _smallest_shared(lo[lonely], hi[lonely], key_columns, _pool_columns(max_block))
    return smallest % count == index


def score_shard(step: ScoreInput) -> ScoreOutput:
    """One shard's candidate pairs (those it owns) scored; its links written as global row pairs."""
    started = time.perf_counter()
    model = Model.from_json(_read_text(step.model))
    table, records = read_records(step.shard)
    rows, key_columns = records["row"], np.ascontiguousarray(records["keys"].T)
    blocks_file = read_columns(_join(step.shard, "blocks.arrow"))
    members = read_columns(_join(step.shard, "members.arrow"))["row"].astype(np.int64)
    sizes = blocks_file["size"].astype(np.int64)
    starts = np.cumsum(sizes) - sizes
    codes = pair_codes(Blocks(blocks_file["key"], starts, sizes, members, 0), BATCH_PAIRS)
    parts, near_parts = [], []
    scored = 0
    for at in range(0, len(codes), BATCH_PAIRS):
        lo, hi = codes[at : at + BATCH_PAIRS] >> 32, codes[at : at + BATCH_PAIRS] & 0xFFFFFFFF
        mine = _owned(lo, hi, key_columns, step.index, step.count, step.max_block)
        lo, hi = lo[mine], hi[mine]
        scored += len(lo)
        scores = model.score(table, lo, hi)
        above = scores.weight >= model.threshold_weight
        link = above & (scores.guards == 0)
        parts.append((rows[lo[link]], rows[hi[link]], scores.weight[link]))
        # the stewards' review, as Linker.build keeps it: every pair a guard held apart, and the
        # closest few just under the threshold (at most NEAR_PER_RANGE a batch, bounding memory)
        near = np.nonzero((scores.weight >= model.threshold_weight - MARGIN_BITS) & ~above)[0]
        if len(near) > NEAR_PER_RANGE:
            near = near[np.argpartition(-scores.weight[near], NEAR_PER_RANGE - 1)[:NEAR_PER_RANGE]]
        keep = np.sort(np.r_[np.nonzero(above & ~link)[0], near])
        near_parts.append((rows[lo[keep]], rows[hi[keep]], scores.weight[keep], scores.guards[keep]))
    lo, hi, weight = (np.concatenate([p[i] for p in parts]) if parts else np.zeros(0, np.int32) for i in range(3))
    uri = _join(step.shard, "links.arrow")
    write_columns(uri, {"lo": lo.astype(np.int32), "hi": hi.astype(np.int32), "weight": weight.astype(np.float32)})
    n_lo, n_hi, n_weight, n_guards = (np.concatenate([p[i] for p in near_parts]) if near_parts else np.zeros(0, np.int32)
                                      for i in range(4))
    write_columns(_join(step.shard, NEAR_FILE), {"lo": n_lo.astype(np.int32), "hi": n_hi.astype(np.int32),
                                                 "weight": n_weight.astype(np.float32),
                                                 "guards": n_guards.astype(np.int64)})
    return ScoreOutput(links=uri, records=len(table), candidate_pairs=len(codes), scored_pairs=scored,
                       linked_pairs=len(lo), near_pairs=len(n_lo), **_cost(started))


def cluster_links(step: ClusterInput) -> ClusterOutput:
    """All links and the decisions -> connected components, in one step; components of more than one
    record grouped, with their records, their links and decisions, into refine shards."""
    started = time.perf_counter()
    parts = [read_columns(uri) for uri in step.links]
    _write_review_candidates(step.prefix, parts, [_sibling(uri, NEAR_FILE) for uri in step.links])
    codes = unique(np.concatenate([p["lo"].astype(np.int64) << 32 | p["hi"].astype(np.int64) for p in parts])
                   if parts else np.zeros(0, np.int64))
    del parts
    lo, hi = codes >> 32, codes & 0xFFFFFFFF  # sorted as the one-process link orders them
    decided = read_columns(step.constraints)
    same = decided["same"].astype(bool)
    d_lo, d_hi = decided["lo"].astype(np.int64), decided["hi"].astype(np.int64)
    files = TableFiles.read(step.table, skip=("record_id",))
    n = len(files.records["uprn"])
    labels = components(n, np.concatenate([lo, d_lo[same]]), np.concatenate([hi, d_hi[same]]))
    in_any = np.zeros(n, bool)
    in_any[lo], in_any[hi] = True, True
    in_any[d_lo[same]], in_any[d_hi[same]] = True, True
    active = np.nonzero(in_any)[0]
    order = np.argsort(labels[active], kind="stable")
    active = active[order]
    comp = labels[active]
    starts = np.nonzero(np.r_[True, comp[1:] != comp[:-1]])[0]
    ends = np.append(starts[1:], len(active))
    refine: list[str] = []
    first = 0
    while first < len(starts):  # whole components, about records_per_refine records a shard
        last = max(int(np.searchsorted(ends, ends[first - 1] + step.records_per_refine if first else
                                       step.records_per_refine, side="right")), first + 1)
        rows = np.sort(active[starts[first] : ends[last - 1]])
        uri = _join(step.prefix, "refine", f"{len(refine):05d}")
        files.write(uri, rows, {"row": rows.astype(np.int32)})
        local = positions(rows, n)
        inside = local[lo] >= 0  # a link's two records are in one component
        write_columns(_join(uri, "links.arrow"), {"lo": local[lo[inside]], "hi": local[hi[inside]]})
        here = (local[d_lo] >= 0) & (local[d_hi] >= 0)
        write_columns(_join(uri, "constraints.arrow"), {"lo": local[d_lo[here]], "hi": local[d_hi[here]],
                                                        "same": same[here]})
        refine.append(uri)
        first = last
    return ClusterOutput(refine=refine, linked_pairs=len(lo), components=len(starts), records_in_components=len(active),
                         **_cost(started))


def _write_review_candidates(prefix: str, links: list[dict[str, np.ndarray]], near_uris: list[str]) -> None:
    """Every scored pair the stewards' review may pick from (links, pairs held apart by a guard, the
    closest just under), in pair order as :meth:`Linker.build` holds them, to ``review-candidates.arrow``:
    the pick needs the final people, which only ``finish`` knows."""
    near = [read_columns(uri) for uri in near_uris if _exists(uri)]
    def column(name: str, dtype: Any) -> np.ndarray:
        values = [p[name].astype(dtype) for p in links + near] if name != "guards" else \
            [np.zeros(len(p["lo"]), np.int64) for p in links] + [p["guards"].astype(np.int64) for p in near]
        return np.concatenate(values) if values else np.zeros(0, dtype)

    lo, hi, weight, guards = column("lo", np.int64), column("hi", np.int64), column("weight", np.float32), \
        column("guards", np.int64)
    _, first = np.unique(lo << 32 | hi, return_index=True)  # sorted by pair; a pair once
    write_columns(_join(prefix, REVIEW_CANDIDATES), {"lo": lo[first].astype(np.int32), "hi": hi[first].astype(np.int32),
                                                     "weight": weight[first], "guards": guards[first]})


def refine_shard(step: RefineInput) -> RefineOutput:
    """One refine shard's components clustered into people, as :meth:`Linker.build` clusters them."""
    from mast.linkage.cluster import Constraints

    started = time.perf_counter()
    model = Model.from_json(_read_text(step.model))
    table, records = read_records(step.shard)
    links = read_columns(_join(step.shard, "links.arrow"))
    decided = read_columns(_join(step.shard, "constraints.arrow"))
    same = decided["same"].astype(bool)
    d_lo, d_hi = decided["lo"].astype(np.int64), decided["hi"].astype(np.int64)
    constraints = Constraints(d_lo[same], d_hi[same], d_lo[~same], d_hi[~same])
    labels, stats = cluster(len(table), links["lo"].astype(np.int64), links["hi"].astype(np.int64),
                            PairScorer(table, model, None, 0), model.threshold_weight, model.conflict_bf,
                            constraints, step.max_complete, undated=table.dob == MISSING_DAY, home=table.dwelling)
    rows = records["row"].astype(np.int64)
    uri = _join(step.shard, "labels.arrow")
    write_columns(uri, {"row": rows.astype(np.int32), "label": rows[labels].astype(np.int32)})
    _write_text(_sibling(uri, CLUSTER_STATS), json.dumps(stats.__dict__))
    return RefineOutput(labels=uri, records=len(table), components=stats.components, split=stats.split,
                        conflicts=stats.conflicts, **_cost(started))


def finish(step: FinishInput) -> FinishOutput:
    """Every record's person id (its cluster's first record names it, as in :meth:`Linker.build`) and
    address id, written as ``people.arrow``: record_id, person_id, address_id."""
    started = time.perf_counter()
    table, _ = read_records(step.table)
    labels = np.arange(len(table), dtype=np.int64)
    for uri in step.labels:
        part = read_columns(uri)
        labels[part["row"].astype(np.int64)] = part["label"]
    uri = _join(step.prefix, "people.arrow")
    people = person_ids_for(table, labels)
    # the record and address ids go from file to file as Arrow strings, never decoded to Python's
    addresses_uri = _join(step.table, ADDRESS_IDS)
    columns = read_arrow(_join(step.table, "records.arrow")).select(["record_id"])
    if _exists(addresses_uri):
        address_column = read_arrow(addresses_uri).column("address_id")
        addresses = _python_strings(address_column.combine_chunks())
    else:  # a table prepared before prepare wrote them
        addresses = address_ids(table)
        address_column = _arrow(addresses)
    _write_arrow(uri, columns.append_column("person_id", _ids_column(people, labels))
                 .append_column("address_id", address_column))
    # the partners' linkage report, as the one-run rebuild publishes it (the switch publishes this one)
    _write_text(_join(step.prefix, REPORT), json.dumps(linkage_report(table, people.tolist(), addresses.tolist()), indent=1))
    review = _review(step, table.record_id, labels)
    review_uri = None
    if review is not None:
        review_uri = _join(step.prefix, "review.json")
        _write_text(review_uri, json.dumps([pair.__dict__ for pair in review]))
    return FinishOutput(people=uri, records=len(table), persons=len(unique(labels)), review=review_uri,
                        review_pairs=len(review or []), cluster=_cluster_stats(step.labels), **_cost(started))


def _ids_column(ids: np.ndarray, labels: np.ndarray) -> Any:
    """Each record's person id (``ids``, one value per label: :func:`person_ids_for`) as an Arrow string
    column, each distinct id encoded once and then taken (a person's id is on all its records)."""
    import pyarrow as pa

    roots, inverse = unique_inverse(labels)
    one = np.empty(len(roots), dtype=np.int64)
    one[inverse] = np.arange(len(labels))  # a record of each cluster
    indices = np.ascontiguousarray(inverse, dtype=np.int64)
    return _arrow(ids[one]).take(pa.Array.from_buffers(pa.int64(), len(indices), [None, pa.py_buffer(indices)]))


def _review(step: FinishInput, record_ids: np.ndarray, labels: np.ndarray) -> list[ReviewPair] | None:
    """The link's closest calls, picked as :meth:`Linker.build` picks them (:func:`review_pairs`) from
    the candidates the cluster step gathered; ``None`` when there are none to pick from (a link
    whose score step kept none, as before this was built)."""
    candidates_uri = _join(step.prefix, REVIEW_CANDIDATES)
    model_uri = step.model or _join(step.prefix, "model.json")
    if not _exists(candidates_uri) or not _exists(model_uri):
        return None
    model = Model.from_json(_read_text(model_uri))
    candidates = read_columns(candidates_uri)
    decided = read_columns(_join(step.prefix, "constraints.arrow"))
    decisions = [Decision(str(record_ids[a]), str(record_ids[b]), SAME if same else NOT_SAME)
                 for a, b, same in zip(decided["lo"].tolist(), decided["hi"].tolist(), decided["same"].tolist(),
                                       strict=True)]
    return review_pairs(record_ids, labels, candidates["lo"].astype(np.int64), candidates["hi"].astype(np.int64),
                        candidates["weight"], candidates["guards"], model.threshold_weight,
                        [g.name for g in model.settings.guards], decisions)


def _cluster_stats(label_uris: Sequence[str]) -> dict[str, Any]:
    """The refine shards' :class:`ClusterStats`, summed (notes joined)."""
    total: dict[str, Any] = {}
    for uri in label_uris:
        stats_uri = _sibling(uri, CLUSTER_STATS)
        if not _exists(stats_uri):
            continue
        for name, value in json.loads(_read_text(stats_uri)).items():
            total[name] = total.get(name, [] if isinstance(value, list) else 0) + value
    return total


# ---------------------------------------------------------------------- on one machine
Out = TypeVar("Out", bound=BaseModel)


class StepFailed(BackgroundFailed):
    """A step raised, or its process died (killed, out of memory): the rebuild fails, loudly."""


def _child(conn: Connection, function: Callable[[Any], BaseModel], step: BaseModel) -> None:
    try:
        with small_pages():
            out = function(step)
        conn.send(("ok", out.model_dump_json()))
    except BaseException:  # reported to the parent, which raises it
        conn.send(("error", traceback.format_exc()))
    finally:
        conn.close()


def run_steps(function: Callable[[Any], Out], steps: Sequence[BaseModel], output: type[Out],
              processes: int) -> list[Out]:
    """``[function(step) for step in steps]``, each in a process of its own forked for it (it holds
    only what its step reads), at most ``processes`` at a time; outputs cross a Pipe as JSON, as a
    Lambda's would."""
    context = multiprocessing.get_context("fork")
    results: list[Out | None] = [None] * len(steps)
    pending = iter(enumerate(steps))
    running: dict[Connection, tuple[int, Any]] = {}

    def start() -> None:
        nxt = next(pending, None)
        if nxt is None:
            return
        parent, child = context.Pipe(duplex=False)
        process = context.Process(target=_child, args=(child, function, nxt[1]), daemon=True)
        process.start()
        child.close()
        running[parent] = (nxt[0], process)

    for _ in range(max(processes, 1)):
        start()
    while running:
        for ready in wait(list(running)):
            conn: Connection = ready  # type: ignore[assignment]  # wait() returns what it was given
            index, process = running.pop(conn)
            try:
                status, value = conn.recv()
                value = str(value)
            except (EOFError, OSError):
                status, value = "error", f"the process died (exit code {process.join() or process.exitcode})"
            process.join()
            if status != "ok":
                for other in running.values():
                    other[1].kill()
                raise StepFailed(f"{function.__name__} failed on step {index}:\n{value}")
            results[index] = output.model_validate_json(value)
            start()
    return [r for r in results if r is not None]


class LocalLink(BaseModel):
    """A sharded link run on this machine: every step's output (with its seconds and peak memory)."""

    prepare: PrepareOutput
    score: list[ScoreOutput]
    cluster: ClusterOutput
    refine: list[RefineOutput]
    finish: FinishOutput
    seconds: float


def link_locally(records: str, prefix: str, processes: int = 2, model: str | None = None,
                 decisions: str | None = None, key_salt: str = "", pairs_per_shard: int = PAIRS_PER_SHARD,
                 records_per_refine: int = RECORDS_PER_REFINE, min_shards: int = 1,
                 training: TrainingOptions | None = None) -> LocalLink:
    """The sharded link of ``records`` under ``prefix``, every step in a process of its own; at least
    one score shard per process (a region too small for two shards of :data:`PAIRS_PER_SHARD` pairs
    would leave all but one idle while one scores them all)."""
    started = time.perf_counter()
    min_shards = max(min_shards, processes)

    def prepare_step(step: PrepareInput) -> PrepareOutput:
        return prepare_shards(step, key_salt, training)

    prepared = run_steps(prepare_step, [PrepareInput(records=records, prefix=prefix, model=model, decisions=decisions,
                                                     pairs_per_shard=pairs_per_shard, min_shards=min_shards)],
                         PrepareOutput, 1)[0]
    scored = run_steps(score_shard, [ScoreInput(shard=s, model=prepared.model, index=i, count=len(prepared.shards),
                                                max_block=prepared.max_block)
                                     for i, s in enumerate(prepared.shards)], ScoreOutput, processes)
    clustered = run_steps(cluster_links, [ClusterInput(prefix=prefix, table=prepared.table,
                                                       constraints=prepared.constraints,
                                                       links=[s.links for s in scored],
                                                       records_per_refine=records_per_refine)], ClusterOutput, 1)[0]
    refined = run_steps(refine_shard, [RefineInput(shard=s, model=prepared.model) for s in clustered.refine],
                        RefineOutput, processes)
    finished = run_steps(finish, [FinishInput(prefix=prefix, table=prepared.table, labels=[r.labels for r in refined])],
                         FinishOutput, 1)[0]
    return LocalLink(prepare=prepared, score=scored, cluster=clustered, refine=refined, finish=finished,
                     seconds=round(time.perf_counter() - started, 3))
