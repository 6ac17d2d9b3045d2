"""Linking: the batch rebuild, the incremental link of new rows, and scoring a search.

:class:`Linker` holds one linked population: the record table, the trained model, the person of
every record, and an index of lookup keys. It is built by a batch link (:meth:`Linker.build`),
grows by incremental links (:meth:`Linker.add`) and answers searches (:meth:`Linker.search`). All
three score with :meth:`mast.linkage.model.Model.score` and cluster with
:func:`mast.linkage.cluster.cluster`.

The batch link shards candidate generation and scoring by lookup key and runs the shards in forked
worker processes fed over pipes (:class:`Workers`: they share the table copy-on-write, and need no
semaphore or shared memory, which Lambda lacks); at national scale the same shards would be the
items of a Step Functions distributed map.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

import numpy as np

from mast.linkage.arrays import isin_sorted, small_pages, unique
from mast.linkage.cluster import MAX_PATH_CHECK, Constraints, cluster, unsupported
from mast.linkage.decisions import Decision, constraints_for
from mast.linkage.keys import LOOKUP_KEYS, block_limits, mix, record_keys
from mast.linkage.model import Explanation, Model
from mast.linkage.pairs import DEFAULT_MAX_BLOCK, Blocks, block_pairs, dedupe, make_blocks, pair_codes, ranges
from mast.linkage.review import MARGIN_BITS, PAIRS_PER_RUN, ReviewPair, review_pairs
from mast.linkage.scorer import QUERY_ID, rank_people, scored_candidates
from mast.linkage.table import Factorised, RecordTable, prepare, prepare_records
from mast.linkage.training import TrainingOptions, train
from mast.normalise.dates import MISSING_DAY

#: pairs just under the threshold kept per scored range, for the stewards' review (bounds their memory)
NEAR_PER_RANGE = 4 * PAIRS_PER_RUN
#: pairs scored per batch inside a worker (bounds memory: ~60 bytes per pair and comparison)
BATCH_PAIRS = 1_000_000


@dataclass(frozen=True)
class LinkOptions:
    workers: int | None = None
    shards: int = 16
    max_block: int = DEFAULT_MAX_BLOCK
    max_complete: int = 2000
    training: TrainingOptions = field(default_factory=TrainingOptions)
    #: below this many candidate pairs everything runs in this process
    parallel_min_pairs: int = 300_000
    #: secret mixed into lookup keys (see :func:`mast.linkage.keys.rule_keys`); '' offline
    key_salt: str = ""


# ---------------------------------------------------------------------- parallel scoring
# Workers are forked after the table, model, blocks (and later the candidate pairs) exist, so they
# read them copy-on-write from this dict; only small descriptions of work, and results, cross the
# process boundary, over one Pipe per worker. Nothing here needs a semaphore or /dev/shm (a
# multiprocessing Pool, Queue, Lock or SharedMemory), which AWS Lambda does not have: Process and
# Pipe are what it allows.
_WORK: dict[str, Any] = {}


def _generate_shard(shard: int) -> np.ndarray:
    """The unique candidate pairs (as lo << 32 | hi, sorted) of one key shard."""
    blocks: Blocks = _WORK["blocks"]
    return pair_codes(blocks.select(_WORK["shard_of_block"] == shard), BATCH_PAIRS)


def _score_range(bounds: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """Score pairs ``codes[start:end]``; keep those at or above the link threshold, and the closest
    few just under it (at most ``near_keep`` per range: the stewards' review, :mod:`mast.linkage.review`)."""
    start, end = bounds
    codes = _WORK["codes"][start:end]
    lo, hi = codes >> 32, codes & 0xFFFFFFFF
    scores = _WORK["model"].score(_WORK["table"], lo, hi)
    keep = scores.weight >= _WORK["keep_weight"]
    near = np.nonzero((scores.weight >= _WORK["near_weight"]) & ~keep)[0]
    room = int(_WORK["near_keep"])
    if len(near) > room:
        near = near[np.argpartition(-scores.weight[near], room - 1)[:room]]
    keep[near] = room > 0
    return lo[keep], hi[keep], scores.weight[keep], scores.guards[keep]


def _score_chunk(args: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, ...]:
    lo, hi = args
    scores = _WORK["model"].score(_WORK["table"], lo, hi)
    return scores.weight, scores.bayes_factor, scores.guards, scores.coherence


def _serve(conn: Connection) -> None:
    """A forked worker: run ``(function, argument)`` requests from the pipe until it is closed."""
    while True:
        try:
            request = conn.recv()
        except EOFError:
            return
        if request is None:
            return
        function, argument = request
        try:
            reply: tuple[str, Any] = ("ok", function(argument))
        except BaseException:  # reported to the parent, which raises it
            reply = ("error", traceback.format_exc())
        conn.send(reply)


class WorkerFailed(RuntimeError):
    """A linking worker raised, or died (killed, out of memory): the link fails, loudly."""


class Workers:
    """Processes forked now, each reading :data:`_WORK` as it is at this moment, fed over one Pipe
    each: the pool that Lambda allows (a ``multiprocessing.Pool`` needs semaphores in /dev/shm)."""

    def __init__(self, processes: int) -> None:
        context = multiprocessing.get_context("fork")
        self.processes = processes
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        for _ in range(processes):
            parent, child = context.Pipe()
            process = context.Process(target=_serve, args=(child,), daemon=True)
            process.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(process)

    def map(self, function: Callable[[Any], Any], jobs: Sequence[Any]) -> list[Any]:
        """``[function(job) for job in jobs]``, run in the workers, in the jobs' order."""
        results: list[Any] = [None] * len(jobs)
        pending = iter(enumerate(jobs))
        working: dict[Connection, int] = {}

        def feed(conn: Connection) -> None:
            nxt = next(pending, None)
            if nxt is not None:
                working[conn] = nxt[0]
                conn.send((function, nxt[1]))

        for conn in self._conns:
            feed(conn)
        while working:
            for ready in wait(list(working)):
                conn = ready  # type: ignore[assignment]
                try:
                    status, value = conn.recv()
                except (EOFError, OSError):
                    raise WorkerFailed("a linking worker died (killed, or out of memory)") from None
                if status != "ok":
                    raise WorkerFailed(f"a linking worker failed:\n{value}")
                results[working.pop(conn)] = value
                feed(conn)
        return results

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(None)
                conn.close()
            except OSError:
                pass
        for process in self._procs:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        self._conns, self._procs = [], []


def _in(workers: Workers | None, function: Callable[[Any], Any], jobs: Sequence[Any]) -> list[Any]:
    return workers.map(function, jobs) if workers is not None else [function(j) for j in jobs]


def score_candidates(table: RecordTable, model: Model, blocks: Blocks, shards: int,
                     processes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, Workers | None]:
    """Every candidate pair scored once; returns those at or above the threshold (and a bounded few
    within :data:`~mast.linkage.review.MARGIN_BITS` under it, for the stewards' review), the pair count, and
    the workers (forked when ``processes`` > 1, still running, for the clustering's scoring).

    Pairs are generated per key shard (by the workers when there are any), deduplicated across
    shards (a pair sharing several keys is scored once), then scored in ranges by workers forked
    after the pairs exist, which read them copy-on-write.
    """
    _WORK.update(table=table, model=model, keep_weight=model.threshold_weight, blocks=blocks,
                 near_weight=model.threshold_weight - MARGIN_BITS, near_keep=NEAR_PER_RANGE,
                 shard_of_block=blocks.keys % shards)
    workers = Workers(processes) if processes > 1 else None
    try:
        segments = _in(workers, _generate_shard, range(shards))
    finally:
        if workers is not None:
            workers.close()
    codes = unique(np.concatenate(segments)) if segments else np.zeros(0, np.int64)
    del segments
    n_unique = len(codes)
    _WORK["codes"] = codes
    workers = Workers(processes) if processes > 1 else None
    step = max(min(BATCH_PAIRS, n_unique // (4 * shards) + 1), 10_000)
    bounds = [(i, min(i + step, n_unique)) for i in range(0, n_unique, step)]
    try:
        parts = _in(workers, _score_range, bounds)
    except BaseException:
        if workers is not None:
            workers.close()
        raise
    if not parts:
        e = np.zeros(0, np.int64)
        return e, e, np.zeros(0, np.float32), np.zeros(0, np.uint8), 0, workers
    lo, hi, weight, guards = (np.concatenate([p[i] for p in parts]) for i in range(4))
    return lo, hi, weight, guards, n_unique, workers


class PairScorer:
    """Scores row pairs of one table, in the workers when there are many."""

    def __init__(self, table: RecordTable, model: Model, workers: Workers | None, parallel_min: int) -> None:
        self.table, self.model, self.workers, self.parallel_min = table, model, workers, parallel_min

    def __call__(self, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, ...]:
        if self.workers is None or len(lo) < self.parallel_min:
            parts = [_score_direct(self.table, self.model, lo[i : i + BATCH_PAIRS], hi[i : i + BATCH_PAIRS])
                     for i in range(0, max(len(lo), 1), BATCH_PAIRS)]
        else:
            size = max(len(lo) // (4 * self.workers.processes), 1)
            chunks = [(lo[i : i + size], hi[i : i + size]) for i in range(0, len(lo), size)]
            parts = self.workers.map(_score_chunk, chunks)
        return tuple(np.concatenate([p[i] for p in parts]) for i in range(4))


def _score_direct(table: RecordTable, model: Model, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, ...]:
    scores = model.score(table, lo, hi)
    return scores.weight, scores.bayes_factor, scores.guards, scores.coherence


def _guard_names(model: Model) -> list[str]:
    return [g.name for g in model.settings.guards]


# ---------------------------------------------------------------------- ids
def person_id(record_id: str) -> str:
    """A person's id: a hash of the record id that labels their cluster (no personal data in it)."""
    return "P-" + hashlib.blake2b(record_id.encode(), digest_size=8).hexdigest()


def person_ids_for(table: RecordTable, labels: np.ndarray) -> np.ndarray:
    """Person id of every record. A cluster is labelled by its first row, so ids stay put when
    records are appended (incremental link); they may change on a rebuild (DESIGN.md: the audit
    names record ids, never person ids)."""
    roots = unique(labels)
    lookup = np.asarray([person_id(str(table.record_id[r])) for r in roots.tolist()], dtype=object)
    ids = np.empty(len(labels), dtype=object)
    ids[:] = lookup[np.searchsorted(roots, labels)]
    return ids


def address_ids(table: RecordTable) -> np.ndarray:
    """One id per dwelling: the UPRN where known, else postcode with flat and number, else the address
    line with its locality. Records with too little address to place get ''. Ids are hashes: no
    address text leaks through them."""
    v = table.vocabs
    n = len(table)

    def h(vocab: Any, codes: np.ndarray) -> np.ndarray:
        hashes = vocab.hashes()
        if len(hashes) == 0:
            return np.zeros(n, np.uint64)
        return np.where(codes >= 0, hashes[np.maximum(codes, 0)], 0).astype(np.uint64)

    by_postcode = (table.postcode >= 0) & ((table.number >= 0) | (table.flat >= 0))
    by_line = ~by_postcode & (table.dwelling >= 0) & ((table.locality >= 0) | (table.postcode >= 0))
    acc = np.full(n, np.uint64(1), dtype=np.uint64)
    pc_key = mix(mix(mix(acc, h(v.postcodes, table.postcode)), h(v.numbers, table.number)), h(v.numbers, table.flat))
    line_key = mix(mix(mix(acc + np.uint64(7), h(v.dwellings, table.dwelling)), h(v.streets, table.locality)),
                   h(v.postcodes, table.postcode))
    key = np.where(by_postcode, pc_key, np.where(by_line, line_key, 0))
    out = np.empty(n, dtype=object)
    out[:] = ""
    has_uprn = table.uprn != 0
    if has_uprn.any():
        out[has_uprn] = np.char.mod("A-U%d", table.uprn[has_uprn].astype(np.int64)).astype(object)
    rest = np.nonzero(~has_uprn & (key != 0))[0]
    if len(rest):
        hexes = np.char.mod("A-%016x", (key[rest] >> np.uint64(1)).astype(np.int64))
        out[rest] = hexes.astype(object)
    return out


# ---------------------------------------------------------------------- key index
class KeyIndex:
    """Lookup key -> rows, as sorted arrays (the in-memory twin of the DynamoDB key items)."""

    def __init__(self, keys: np.ndarray, row_offset: int = 0) -> None:
        self.keys = np.zeros(0, np.int64)
        self.rows = np.zeros(0, np.int64)
        self.add(keys, row_offset)

    def add(self, keys: np.ndarray, row_offset: int) -> None:
        """Index new rows' keys: sorted in, not re-sorted (an incremental link adds few to many)."""
        flat = keys.reshape(-1)
        rows = np.repeat(np.arange(keys.shape[0], dtype=np.int64) + row_offset, keys.shape[1])
        keep = flat != 0
        flat, rows = flat[keep], rows[keep]
        order = np.argsort(flat, kind="stable")
        flat, rows = flat[order], rows[order]
        if len(self.keys) == 0:
            self.keys, self.rows = flat, rows
            return
        at = np.searchsorted(self.keys, flat, side="right")
        self.keys = np.insert(self.keys, at, flat)
        self.rows = np.insert(self.rows, at, rows)

    def lookup(self, keys: np.ndarray, max_block: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(query position, row) for every indexed row sharing a key with ``keys`` (0 = none).

        Keys already held by more than ``max_block`` rows are skipped, as in the batch link.
        """
        flat = keys.reshape(-1)
        qpos = np.repeat(np.arange(keys.shape[0], dtype=np.int64), keys.shape[1])
        limit = np.tile(np.broadcast_to(np.asarray(max_block, dtype=np.int64), (keys.shape[1],)), keys.shape[0])
        keep = flat != 0
        flat, qpos, limit = flat[keep], qpos[keep], limit[keep]
        lo = np.searchsorted(self.keys, flat, side="left")
        hi = np.searchsorted(self.keys, flat, side="right")
        count = hi - lo
        ok = (count > 0) & (count < limit)
        lo, count, qpos = lo[ok], count[ok], qpos[ok]
        positions = np.repeat(lo, count) + ranges(count)
        return np.repeat(qpos, count), self.rows[positions]


# ---------------------------------------------------------------------- results
@dataclass(frozen=True)
class SearchHit:
    """One person a search may be about: their best-matching record and why."""

    person_id: str
    record_id: str
    probability: float
    weight: float
    explanation: Explanation
    record_ids: tuple[str, ...]


@dataclass
class AddResult:
    """What an incremental link changed."""

    new_rows: int
    candidate_pairs: int
    touched_people: int
    #: record id -> person id for every record whose person id is new or changed
    changed: dict[str, str]
    seconds: float


@dataclass
class Linker:
    """A linked population: records, model, people, lookup-key index."""

    table: RecordTable
    model: Model
    labels: np.ndarray
    keys: np.ndarray
    decisions: list[Decision] = field(default_factory=list)
    options: LinkOptions = field(default_factory=LinkOptions)
    stats: dict[str, Any] = field(default_factory=dict)
    index: KeyIndex | None = None
    #: linked candidate pairs of the last batch link: (lo, hi, weight), at or above the threshold, no guard
    edges: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    #: the closest calls of the last link (batch or incremental), for the stewards' review queue
    review: list[ReviewPair] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._row_of: dict[str, int] | None = None

    def key_index(self) -> KeyIndex:
        """The lookup-key index, made on first use: an incremental link and a search need it, a batch
        rebuild whose result is written to DynamoDB does not (sorting every key of a million records
        costs seconds)."""
        if self.index is None:
            self.index = KeyIndex(self.keys)
        return self.index

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, table: RecordTable, model: Model | None = None, decisions: Iterable[Decision] = (),
              options: LinkOptions | None = None) -> Linker:
        """Batch link: train (unless a model is given), score all candidates, cluster."""
        with small_pages():
            return cls._build(table, model, decisions, options)

    @classmethod
    def _build(cls, table: RecordTable, model: Model | None, decisions: Iterable[Decision],
               options: LinkOptions | None) -> Linker:
        options = options or LinkOptions()
        decisions = list(decisions)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        keys = record_keys(table, LOOKUP_KEYS, options.key_salt)
        blocks = make_blocks(keys, block_limits(LOOKUP_KEYS, options.max_block))
        timings["keys"] = time.perf_counter() - t0
        if model is None:
            t = time.perf_counter()
            model = train(Model(), table, keys, blocks, options.training)
            timings["train"] = time.perf_counter() - t
        t = time.perf_counter()
        workers = options.workers or os.cpu_count() or 1
        candidate_occurrences = int(blocks.pair_counts.sum())
        parallel = workers > 1 and candidate_occurrences >= options.parallel_min_pairs
        pool: Workers | None = None
        try:
            lo, hi, weight, guards, n_unique, pool = score_candidates(
                table, model, blocks, options.shards if parallel else 1, workers if parallel else 1)
            timings["score"] = time.perf_counter() - t
            t = time.perf_counter()
            row_of = {rid: i for i, rid in enumerate(table.record_id.tolist())}
            constraints, skipped = constraints_for(decisions, row_of)
            above = weight >= model.threshold_weight
            ok = above & (guards == 0)
            scorer = PairScorer(table, model, pool, options.parallel_min_pairs)
            labels, cstats = cluster(len(table), lo[ok], hi[ok], scorer, model.threshold_weight, model.conflict_bf,
                                     constraints, options.max_complete, undated=table.dob == MISSING_DAY,
                                     home=table.dwelling)
            timings["cluster"] = time.perf_counter() - t
            review = review_pairs(table.record_id, labels, lo, hi, weight, guards, model.threshold_weight,
                                  _guard_names(model), decisions)
        finally:
            if pool is not None:
                pool.close()
            _WORK.clear()
        stats = {
            "records": len(table),
            "candidate_pair_occurrences": candidate_occurrences,
            "candidate_pairs": n_unique,
            "blocks_skipped_over_limit": blocks.skipped,
            "linked_pairs": int(ok.sum()),
            "vetoed_pairs": int((above & ~ok).sum()),
            "review_pairs": len(review),
            "decisions_skipped": skipped,
            "cluster": cstats.__dict__,
            "seconds": timings,
        }
        linker = cls(table, model, labels, keys, decisions, options, stats, edges=(lo[ok], hi[ok], weight[ok]),
                     review=review)
        linker._row_of = row_of
        return linker

    @classmethod
    def restore(cls, table: RecordTable, model: Model, person_of: Sequence[str], decisions: Iterable[Decision] = (),
                options: LinkOptions | None = None) -> Linker:
        """A linked population from what the index holds (each record's person id), without re-linking.

        The match function uses this to link a day's new rows incrementally: the curated records,
        prepared, plus their current person ids.
        """
        first: dict[str, int] = {}
        labels = np.fromiter((first.setdefault(str(p), i) for i, p in enumerate(person_of)), dtype=np.int64,
                             count=len(person_of))
        options = options or LinkOptions()
        return cls(table, model, labels, record_keys(table, LOOKUP_KEYS, options.key_salt), list(decisions), options)

    # ------------------------------------------------------------------ outputs
    def person_ids(self) -> np.ndarray:
        return person_ids_for(self.table, self.labels)

    def address_ids(self) -> np.ndarray:
        return address_ids(self.table)

    def row_of(self, record_id: str) -> int:
        if self._row_of is None or len(self._row_of) != len(self.table):
            self._row_of = {rid: i for i, rid in enumerate(self.table.record_id.tolist())}
        return self._row_of[record_id]

    def explain(self, record_a: str, record_b: str) -> Explanation:
        """Why two records score what they score, and, where the link made two people of records its
        links had joined because a cluster-coherence rule held a pair of them apart, that too, in words."""
        a, b = self.row_of(record_a), self.row_of(record_b)
        scores = self.model.score(self.table, np.asarray([a]), np.asarray([b]))
        explanation = self.model.explain(scores, 0)
        split = self._coherence_split(a, b)
        return dataclasses.replace(explanation, notes=explanation.notes + split) if split else explanation

    def _coherence_split(self, a: int, b: int) -> tuple[str, ...]:
        """Words for a person split between rows ``a`` and ``b`` by a cluster-coherence rule: the two
        people hold records that link to each other, and a pair across them meets the rule with nothing
        strong enough between its records (their own link, a strong path of links, two records linking
        to both)."""
        rules = self.model.settings.coherence
        if not rules or self.labels[a] == self.labels[b]:
            return ()
        side_a = np.nonzero(self.labels == self.labels[a])[0]
        side_b = np.nonzero(self.labels == self.labels[b])[0]
        if len(side_a) + len(side_b) > MAX_PATH_CHECK:
            return ()
        rows = np.concatenate([side_a, side_b])
        lo, hi = np.triu_indices(len(rows), k=1)
        scores = self.model.score(self.table, rows[lo], rows[hi])
        across = (lo < len(side_a)) & (hi >= len(side_a))
        links = (scores.weight >= self.model.threshold_weight) & (scores.guards == 0)
        if not (across & links).any():
            return ()  # never joined by a link: two people, not a split
        held = across & unsupported(lo, hi, scores.weight, scores.guards, scores.coherence,
                                    self.model.threshold_weight)
        notes = []
        for i, rule in enumerate(rules):
            pairs = np.nonzero(held & ((scores.coherence.astype(np.int64) >> i & 1) == 1))[0]
            if len(pairs) == 0:
                continue
            named = ", ".join(f"{self.table.record_id[rows[lo[k]]]} and {self.table.record_id[rows[hi[k]]]}"
                              for k in pairs[:3].tolist())
            notes.append(
                f"Kept as two people by the cluster-coherence rule \"{rule.name.replace('_', ' ')}\": links join"
                f" these people's records, but for {named} ({len(pairs)} pair{'s' if len(pairs) > 1 else ''}"
                f" in all) the {rule.explanation.split(':')[0]}, and neither a link of their own nor a strong"
                " enough path of links joins them, so the person was split at its weakest link")
        return tuple(notes)

    # ------------------------------------------------------------------ incremental
    def add(self, columns: Mapping[str, Sequence[Any] | Factorised], decisions: Iterable[Decision] = ()) -> AddResult:
        """Link new records against the population and each other; only their neighbourhood is re-clustered."""
        t0 = time.perf_counter()
        self.decisions.extend(decisions)
        new = prepare(columns, self.table.vocabs, compute_tf=False)
        base_n = len(self.table)
        combined = self.table.concat(new)
        combined.compute_tf()
        new_keys = record_keys(new, LOOKUP_KEYS, self.options.key_salt)
        qpos, rows = self.key_index().lookup(new_keys, block_limits(LOOKUP_KEYS, self.options.max_block))
        lo_old, hi_old = rows, qpos + base_n
        new_blocks = make_blocks(new_keys, block_limits(LOOKUP_KEYS, self.options.max_block), row_offset=base_n)
        lo_new, hi_new = block_pairs(new_blocks)
        lo, hi = dedupe(np.concatenate([lo_old, lo_new]), np.concatenate([hi_old, hi_new]))
        scores = self.model.score(combined, lo, hi)
        edge = (scores.weight >= self.model.threshold_weight) & (scores.guards == 0)
        labels = np.concatenate([self.labels, np.arange(base_n, base_n + len(new), dtype=np.int64)])
        touched_rows = unique(np.concatenate([lo[edge], hi[edge]]))
        touched_labels = unique(labels[touched_rows[touched_rows < base_n]])
        members = np.nonzero(isin_sorted(labels, touched_labels))[0]
        region = unique(np.concatenate([members, np.arange(base_n, base_n + len(new))]))
        # Existing people hold together (they were clustered already): chain each one's members.
        old = region[region < base_n]
        old = old[np.argsort(labels[old], kind="stable")]
        same_chain = labels[old[1:]] == labels[old[:-1]]
        row_of = {rid: i for i, rid in enumerate(combined.record_id.tolist())}
        constraints, _ = constraints_for(self.decisions, row_of)
        in_region = isin_sorted(constraints.same_lo, region) & isin_sorted(constraints.same_hi, region)
        apart_in = isin_sorted(constraints.apart_lo, region) & isin_sorted(constraints.apart_hi, region)
        local = Constraints(
            np.concatenate([old[:-1][same_chain], constraints.same_lo[in_region]]),
            np.concatenate([old[1:][same_chain], constraints.same_hi[in_region]]),
            constraints.apart_lo[apart_in], constraints.apart_hi[apart_in],
        )
        scorer = PairScorer(combined, self.model, None, 0)
        region_labels, _ = cluster(len(combined), lo[edge], hi[edge], scorer, self.model.threshold_weight,
                                   self.model.conflict_bf, local, self.options.max_complete, rows=region,
                                   undated=combined.dob == MISSING_DAY, home=combined.dwelling)
        before = self.person_ids_of(labels, combined, region)
        # keep existing labels where a new cluster contains an existing person
        new_labels = labels.copy()
        new_labels[region] = region_labels[region]
        self.table, self.labels = combined, new_labels
        self.keys = np.concatenate([self.keys, new_keys])
        self.key_index().add(new_keys, base_n)
        self._row_of = row_of
        after = self.person_ids_of(new_labels, combined, region)
        self.review = review_pairs(combined.record_id, new_labels, lo, hi, scores.weight, scores.guards,
                                   self.model.threshold_weight, _guard_names(self.model), self.decisions)
        changed = {str(combined.record_id[r]): after[k] for k, r in enumerate(region.tolist()) if before[k] != after[k]}
        return AddResult(len(new), int(len(lo)), int(len(touched_labels)), changed, time.perf_counter() - t0)

    @staticmethod
    def person_ids_of(labels: np.ndarray, table: RecordTable, rows: np.ndarray) -> list[str]:
        return [person_id(str(table.record_id[r])) for r in labels[rows].tolist()]

    # ------------------------------------------------------------------ search
    def search(self, query: Mapping[str, Any], limit: int = 10, min_probability: float = 0.5) -> list[SearchHit]:
        """People a search may be about, best first, each with the explanation of its best record."""
        rows = candidate_rows(self, query)
        if len(rows) == 0:
            return []
        small = self.table.take(rows)
        return rank_candidates(self.model, query, small, self.labels[rows], self.table, limit, min_probability)


def candidate_rows(linker: Linker, query: Mapping[str, Any]) -> np.ndarray:
    q = prepare_records([{"record_id": "__query__", **query}], linker.table.vocabs, compute_tf=False)
    keys = record_keys(q, LOOKUP_KEYS, linker.options.key_salt)
    _, rows = linker.key_index().lookup(keys, block_limits(LOOKUP_KEYS, linker.options.max_block))
    return unique(rows)


def rank_candidates(model: Model, query: Mapping[str, Any], candidates: RecordTable, labels: np.ndarray,
                    population: RecordTable | None, limit: int, min_probability: float) -> list[SearchHit]:
    """Score a query against candidate records and rank the people they belong to, with the one
    ranking the search API uses (:func:`mast.linkage.scorer.rank_people`)."""
    q = prepare_records([{"record_id": QUERY_ID, **query}], candidates.vocabs, compute_tf=False)
    ids = [str(r) for r in candidates.record_id.tolist()]
    scored = scored_candidates(model, q.concat(candidates), ids)
    person_of = {
        rid: person_id(str(population.record_id[label])) if population is not None else str(label)
        for rid, label in zip(ids, labels.tolist(), strict=True)
    }
    return [SearchHit(p.person_id, p.best.record_id, p.best.probability, p.best.weight, p.best.explanation,
                      tuple(c.record_id for c in p.matched))
            for p in rank_people(scored, person_of, min_probability)[:limit]]


def link_records(rows: Sequence[Mapping[str, Any]], decisions: Iterable[Decision] = (),
                 options: LinkOptions | None = None, model: Model | None = None) -> Linker:
    """Batch-link a list of canonical records (dicts): the convenience entry point for tests and tools."""
    return Linker.build(prepare_records(rows), model, decisions, options)
