"""The match run: link the curated records into the index, by rebuild or incrementally.

One message at a time (the match queue is FIFO, one group):

* **rebuild** (no live index yet, a ``rebuild`` message, no saved state for the live version,
  twice as many records as the live model was trained on, or a live version linked by another
  release's linkage: :mod:`mast.linkage.fingerprint`):
  the current version of every record that is not withdrawn is linked in one batch
  (:meth:`mast.linkage.link.Linker.build`, training the model), written as a new index version,
  and made live by one conditional write; the previous version is given a TTL.
* **incremental** (a ``feed-ingested`` or ``relink`` message): the live version's people are
  restored (:meth:`Linker.restore`, from the curated records and the saved record → person state)
  without the records this message is about, which are then linked again
  (:meth:`Linker.add`) — new records, new versions of old ones (an end date, a correction), and
  records a steward just decided about. Records withdrawn (or gone) since are removed. Only the
  items that differ are written to the live version.

Steward decisions (:class:`mast.access.decisions.DecisionStore`) are read on every run and given to
every link. Afterwards the linkage report (counts only) is written to the curated bucket, and the
link's closest calls (:mod:`mast.linkage.review`: at most ``PAIRS_PER_RUN`` pairs held apart or just
under the threshold) go to the stewards' review queue (:mod:`mast.stewardship.queue`).

Index items (:mod:`mast.index.layout`): a rebuild writes one item per record and one per distinct
lookup key, person and address; an incremental run adds its records' ids to the key items they
enter and takes them out of those they leave by UpdateItem, without reading them (a key split by
birth year, or growing past a block, is read and rewritten), and reads the person and address items
they enter or leave and writes them back changed (read-modify-write is safe: the match function is
their only writer, serial on a FIFO queue). Every item a run may write is first listed in the
version's manifest (``s3://<curated>/index/manifest/<version>/``); a retired version is deleted by
key from it, a part at a time, by the runs after its grace (:meth:`_MatchRun.purge_retired`).

The record → person state of a version lives beside the curated records
(``s3://<curated>/index/state/<version>.parquet``): it is what lets a day's link restore a
million people without reading the index back. Term frequencies are written with each record
when it is (re)written; other records keep theirs until the next rebuild refreshes them all.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from aws_lambda_powertools import Logger

from mast.access.decisions import DecisionStore
from mast.feeds import store
from mast.feeds.events import FeedIngested
from mast.feeds.retention import DEFAULT_RETENTION_DAYS, retained, retention_days, snapshot_feeds
from mast.index import layout
from mast.index.address_keys import INDEX_KEY_RULES, address_key_strings, record_address_keys
from mast.index.layout import IndexedRecord, VersionTables
from mast.index.messages import RebuildRequested, RelinkRequested
from mast.index.reader import IndexReader
from mast.index.salt import key_salt
from mast.index.writer import IndexWriter, writer_client
from mast.linkage.decisions import Decision
from mast.linkage.io import canonical_columns
from mast.linkage.keys import LOOKUP_KEYS, key_strings
from mast.linkage.link import Linker, LinkOptions, person_id
from mast.linkage.model import Model
from mast.linkage.report import REPORT_KEY, REPORTS_PREFIX, linkage_report
from mast.linkage.scorer import term_frequencies
from mast.linkage.table import prepare
from mast.records import PartnerContact
from mast.stewardship.queue import ReviewQueue

logger = Logger(child=True)

STATE_PREFIX = "index/state/"
MANIFEST_PREFIX = "index/manifest/"
#: items of retired versions deleted per run at most (the rest in later runs)
PURGE_PER_RUN = 400_000
#: a version whose model was trained on fewer than 1/REBUILD_GROWTH of today's records is rebuilt
#: (and so retrained): the first feed linked must not train the model every later feed is linked with
REBUILD_GROWTH = 2
#: records turned into items per write round (bounds memory on a rebuild of millions)
WRITE_CHUNK = 20_000


@dataclass(frozen=True)
class MatchSettings:
    """Where the match run reads and writes: the template's Globals environment."""

    curated_bucket: str
    index_table: str
    control_table: str
    key_salt_secret_arn: str
    #: where the alerts a link makes are audited ("" : alerts are not made, as in the linkage benches)
    audit_table: str = ""
    #: the alert mails' sender (the template's AlertsFromAddress; "": no mail) and the sign-in page they name
    alerts_from: str = ""
    web_url: str = ""
    #: days a record is kept after its last involvement (:mod:`mast.feeds.retention`)
    retention_days: int = DEFAULT_RETENTION_DAYS
    #: the rebuild state machine (the template's RebuildStateMachine; "": rebuild in this run), and
    #: the records from which a rebuild due is started there (0: never)
    rebuild_state_machine: str = ""
    sharded_rebuild_from: int = 0
    #: the match queue (the rebuild's switch sends it what came in its last seconds: relink)
    match_queue_url: str = ""
    #: the records from which the rebuild's steps that hold every record run as Fargate tasks, not
    #: Lambda functions (the template's FargateRebuildFrom when a task image is deployed; 0: never)
    fargate_rebuild_from: int = 0

    @classmethod
    def from_env(cls) -> MatchSettings:
        env = os.environ
        return cls(env["CURATED_BUCKET"], env["INDEX_TABLE"], env["CONTROL_TABLE"], env["KEY_SALT_SECRET_ARN"],
                   env.get("AUDIT_TABLE", ""), env.get("ALERTS_FROM", ""), env.get("WEB_URL", ""),
                   retention_days(env), env.get("REBUILD_STATE_MACHINE_ARN", ""),
                   int(env.get("SHARDED_REBUILD_FROM", "0") or 0), env.get("MATCH_QUEUE_URL", ""),
                   int(env.get("FARGATE_REBUILD_FROM", "0") or 0))


def state_key(version: str) -> str:
    """Where a version's record -> person state lives in the curated bucket (see the module docstring)."""
    return f"{STATE_PREFIX}{version}.parquet"


def searchable_records(settings: MatchSettings, now: dt.datetime) -> pa.Table:
    """Every record the index should hold on ``now``'s clock: each feed's current records, less the
    withdrawn and those past retention (ingest drops them from the feed's state on its own clock)."""
    current = store.read_current_records(settings.curated_bucket)
    searchable = current.filter(pc.invert(pc.fill_null(current.column("withdrawn"), False)))
    return retained(searchable, now.date(), settings.retention_days, snapshot_feeds())


@dataclass
class MatchOutcome:
    """What one run did (counts only: this is logged)."""

    #: "rebuild-started": a rebuild was due and is left to the state machine, with nothing to link
    #: meanwhile (no live version, or one another release's linkage cannot extend)
    mode: Literal["rebuild", "incremental", "rebuild-started"]
    version: str
    records: int
    people: int
    linked: int = 0
    removed: int = 0
    items_put: int = 0
    items_deleted: int = 0
    retired_version: str | None = None
    #: pairs put (or kept open) in the stewards' review queue
    review_pairs: int = 0
    #: alerts made for organisations with open cases of people newly involved with another partner
    alerts: int = 0
    #: the rebuild state machine's execution this run started, or found running (its name)
    rebuild_started: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)


Message = FeedIngested | RebuildRequested | RelinkRequested


def run_match(message: Message | Sequence[Message], settings: MatchSettings, *, session: Any = None,
              options: LinkOptions | None = None, now: dt.datetime | None = None) -> MatchOutcome:
    """Link what ``message`` is about into the index (see the module docstring).

    Several messages (a batch the queue delivered together, in order) are linked in one run: the
    changed records of them all, or one rebuild if any asks for it. Each run reads every current
    record, links and writes; ten ingests in a row then cost one run, not ten.
    """
    if session is None:
        import boto3

        session = boto3.session.Session()
    messages = [message] if isinstance(message, (FeedIngested, RebuildRequested, RelinkRequested)) else list(message)
    if not messages:
        raise ValueError("no message to link")
    return _MatchRun(settings, session, options, now or dt.datetime.now(dt.UTC)).run(messages)


def link_into(version: str, table: str | VersionTables, records: pa.Table, changed: set[str], settings: MatchSettings, *,
              known: SavedState | None, session: Any, options: LinkOptions | None = None,
              now: dt.datetime | None = None) -> MatchOutcome:
    """Link ``changed`` records (and any ``records`` the version's saved state lacks, less those it
    holds that are gone) into ``version``, whose items are in ``table`` (or its parts): an imported rebuild's version
    before it is live. The same incremental link a day's run makes on the live version (restored
    from the version's state, only the items that differ written), so that a rebuild's catch-up
    links what came while it ran exactly as the day's links did (:mod:`mast.index.imported`).
    ``known``: the records alerted on already (the version live until now); those of ``records`` not
    in it alert (None: those the version's state lacks)."""
    run = _MatchRun(settings, session, options, now or dt.datetime.now(dt.UTC))
    run.writer.items_table = table
    state = run._read_state(version)
    if state is None:
        raise ValueError(f"version {version} has no saved record -> person state to link into")
    decisions = DecisionStore(settings.control_table, run.ddb).all()
    outcome = run.incremental(records, decisions, version, state, changed, known=known)
    outcome.seconds = run.seconds
    return outcome


def saved_state(s3: Any, bucket: str, version: str) -> SavedState | None:
    """A version's saved record -> person state (None when it has none)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=state_key(version))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return SavedState(pq.read_table(io.BytesIO(body)))


class _MatchRun:
    def __init__(self, settings: MatchSettings, session: Any, options: LinkOptions | None, now: dt.datetime) -> None:
        self.settings = settings
        self.session = session
        self.s3 = session.client("s3")
        self.ddb = writer_client(session)
        self.salt = key_salt(settings.key_salt_secret_arn, session.client("secretsmanager"))
        base = options or LinkOptions()
        self.options = LinkOptions(**{**base.__dict__, "key_salt": self.salt})
        self.writer = IndexWriter(settings.index_table, self.ddb)
        self.now = now
        self.seconds: dict[str, float] = {}

    def _timed(self, name: str, started: float) -> None:
        self.seconds[name] = round(self.seconds.get(name, 0.0) + time.perf_counter() - started, 3)

    # ------------------------------------------------------------------ entry
    def run(self, messages: Sequence[Message]) -> MatchOutcome:
        t = time.perf_counter()
        decisions = DecisionStore(self.settings.control_table, self.ddb).all()
        searchable = searchable_records(self.settings, self.now)
        self._timed("read", t)
        t = time.perf_counter()
        self.purge_retired()
        self._timed("purge", t)
        live, this_linkage = self.writer.live()
        # no live version, or one linked by another release's keys or model (only a rebuild makes it
        # searchable again), or outgrown, or asked for: a rebuild, without reading the saved state
        rebuild = (live is None or not this_linkage or any(isinstance(m, RebuildRequested) for m in messages)
                   or searchable.num_rows > REBUILD_GROWTH * max(self.writer.trained_records(live), 1))
        changed = set().union(*(self._changed_ids(m) for m in messages))
        started = None
        if rebuild and self._sharded(searchable.num_rows):
            started = self._start_rebuild(searchable.num_rows)
            # the day's link goes on against the live version while the state machine rebuilds (its
            # switch sends on what came meanwhile); with none it can extend, there is nothing to do
            rebuild = live is None or not this_linkage
            # nothing to link meanwhile either when only a rebuild was asked for (restoring a region's
            # people to link nothing would cost minutes); records the live version lacks wait for the
            # next ingest's link, or the rebuild's catch-up
            if rebuild or all(isinstance(m, RebuildRequested) for m in messages):
                outcome = MatchOutcome("rebuild-started", live or "", searchable.num_rows, 0,
                                       rebuild_started=started)
                outcome.seconds = self.seconds
                return outcome
        state = None if rebuild or live is None else self._read_state(live)
        if live is None or state is None:
            outcome = self.rebuild(searchable, decisions, live, changed)
        else:
            outcome = self.incremental(searchable, decisions, live, state, changed)
        outcome.rebuild_started = started
        outcome.seconds = self.seconds
        return outcome

    def _sharded(self, records: int) -> bool:
        """Whether a rebuild of ``records`` goes to the state machine (sharded, imported)."""
        return bool(self.settings.rebuild_state_machine) and 0 < self.settings.sharded_rebuild_from <= records

    def _start_rebuild(self, records: int) -> str:
        """Start the rebuild state machine, unless an execution is running already (one rebuild at a
        time: a second would switch from a version the first retires); its execution's name. Its
        steps that hold every record run on Fargate from ``fargate_rebuild_from`` records."""
        from mast.index.rebuild import StartRebuild

        sfn = self.session.client("stepfunctions")
        arn = self.settings.rebuild_state_machine
        running = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=1).get("executions", [])
        if running:
            return str(running[0]["name"])
        name = f"rebuild-{self.now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
        runs_on = "fargate" if 0 < self.settings.fargate_rebuild_from <= records else "lambda"
        start = StartRebuild.model_validate({"rebuild": name, "runs_on": runs_on})
        sfn.start_execution(stateMachineArn=arn, name=name, input=start.model_dump_json())
        logger.info("rebuild started on the state machine", extra={"execution": name, "runs_on": runs_on})
        return name

    def _changed_ids(self, message: Message) -> set[str]:
        if isinstance(message, RelinkRequested):
            return set(message.record_ids)
        if isinstance(message, FeedIngested) and message.records_uri:
            return set(store.read_ingest_records(message.records_uri).column("record_id").to_pylist())
        return set()

    # ------------------------------------------------------------------ rebuild
    def rebuild(self, records: pa.Table, decisions: list[Decision], previous: str | None,
                changed: set[str] | None = None) -> MatchOutcome:
        t = time.perf_counter()
        linker = Linker.build(prepare(_linkage_columns(records)), None, decisions, self.options)
        self._timed("link", t)
        t = time.perf_counter()
        # a version written item by item lives in the index table itself (an imported one has its own)
        self.writer.items_table = self.writer.table_name
        version = self.writer.begin_version(linker.model, self.now)
        people, addresses = linker.person_ids(), linker.address_ids()
        address_keys = record_address_keys(linker.table, self.salt)
        keys_of: dict[str, dict[str, str]] = {}  # lookup key -> {record id: birth year}
        people_of: dict[str, dict[str, str]] = {}  # person -> {record id: its address}
        addresses_of: dict[str, dict[str, str]] = {}  # address -> {record id: its person}
        key_addresses: dict[str, set[str]] = {}  # address-search key -> the addresses of its records
        summaries = layout.Summaries()  # what the household views read in an address's item
        put = 0
        for start in range(0, records.num_rows, WRITE_CHUNK):
            rows = range(start, min(start + WRITE_CHUNK, records.num_rows))
            items: list[dict[str, Any]] = []
            for i, row in zip(rows, records.slice(start, len(rows)).to_pylist(), strict=True):
                record = _indexed(row, people[i], addresses[i], term_frequencies(linker.table, i))
                keys = _keys(linker, address_keys, i)
                items.append(layout.record_item(version, record, keys))
                year = layout.year_of(record)
                for key in keys:
                    keys_of.setdefault(key, {})[record.record_id] = year
                    if key.startswith(layout.ADDRESS_KEY_PREFIX) and record.address_id:
                        key_addresses.setdefault(key, set()).add(record.address_id)
                people_of.setdefault(record.person_id, {})[record.record_id] = record.address_id
                if record.address_id:
                    addresses_of.setdefault(record.address_id, {})[record.record_id] = record.person_id
                summaries.add(record)
            put += self._put_listed(version, items)
        items = []
        for key, members in keys_of.items():
            items.extend(layout.key_items(version, key, members, key_addresses.get(key, ())))
            if len(items) >= WRITE_CHUNK:
                put += self._put_listed(version, items)
                items = []
        for item in layout.person_and_address_items(version, people_of, addresses_of, summaries):
            items.append(item)
            if len(items) >= WRITE_CHUNK:
                put += self._put_listed(version, items)
                items = []
        put += self._put_listed(version, items)
        # records this run brought that the previous version did not hold still alert (a rebuild's
        # relabelling of everyone else does not): before the state, so a retry makes them again
        before = self._read_state(previous) if previous is not None and changed else None
        new_ids = [rid for rid in sorted(changed or ()) if before is not None and rid not in before]
        alerted = self._alert(records, people, addresses, new_ids)
        self._write_state(version, linker)
        self._timed("write", t)
        t = time.perf_counter()
        stats = {"records": len(linker.table), "people": len(set(people.tolist()))}
        self.writer.switch(version, previous, stats)
        retired = None
        for old, state in self.writer.versions().items():
            if old != version and state not in ("retired", "gone"):
                self.writer.retire(old, now=self.now)  # the previous live version, and any rebuild that died
                retired = old if old == previous else retired
        self._timed("switch", t)
        self._report(linker, people, addresses)
        return MatchOutcome("rebuild", version, len(linker.table), stats["people"], linked=len(linker.table),
                            items_put=put, retired_version=retired, review_pairs=self._review(linker),
                            alerts=alerted)

    # ------------------------------------------------------------------ incremental
    def incremental(self, records: pa.Table, decisions: list[Decision], version: str, state: SavedState,
                    changed: set[str], known: SavedState | None = None) -> MatchOutcome:
        """Link ``changed`` (and every record ``state`` lacks, less those gone) into ``version``.
        ``known``: the records alerted on already (default ``state``): a record not in it alerts."""
        t = time.perf_counter()
        # whole-population work by column (pyarrow's hash lookups), never a Python loop over every record
        ids = records.column("record_id").combine_chunks()
        held = state.held(ids)
        relink = ~held | pc.is_in(ids, value_set=pa.array(sorted(changed), pa.string())).to_numpy(zero_copy_only=False)
        removed = state.ids.filter(pc.invert(pc.is_in(state.ids, value_set=ids))).to_pylist()
        base = records.filter(pa.array(~relink))
        base_ids = base.column("record_id").to_pylist()
        base_people = state.people_of(base.column("record_id"))
        # each person's root record (whose hash is the person id) first: restored ids stay the same
        roots = np.fromiter(map(str.__eq__, map(person_id, base_ids), base_people.tolist()), dtype=bool,
                            count=len(base_ids))
        order = np.concatenate([np.nonzero(roots)[0], np.nonzero(~roots)[0]])
        base = base.take(pa.array(order))
        base_ids = [base_ids[i] for i in order.tolist()]
        base_people = base_people[order]
        added = records.filter(pa.array(relink))
        added_held = held[relink]
        model = IndexReader(self.settings.index_table, self.ddb, version=version,
                            items_table=self.writer.tables).model()
        linker = Linker.restore(prepare(_linkage_columns(base)), model, base_people, decisions, self.options)
        if added.num_rows:
            linker.add(_linkage_columns(added))
        self._timed("link", t)
        t = time.perf_counter()
        ordered = pa.concat_tables([base, added]) if added.num_rows else base
        people, addresses = linker.person_ids(), linker.address_ids()
        address_keys = record_address_keys(linker.table, self.salt)
        added_ids = added.column("record_id").to_pylist()
        relinked = [rid for rid, was in zip(added_ids, added_held.tolist(), strict=True) if was]
        old = self.writer.get_records(version, [*relinked, *removed])
        changes = _Changes()
        record_puts: list[dict[str, Any]] = []
        record_deletes: list[tuple[str, str]] = []
        for rid in removed:
            if rid in old:
                changes.leave(old[rid])
                record_deletes.append((layout.record_pk(version, rid), layout.RECORD_SK))
        rewrite = np.nonzero(people[: len(base_ids)] != base_people)[0].tolist()
        rewrite.extend(range(len(base_ids), len(ordered)))
        rows = ordered.take(pa.array(rewrite, type=pa.int64())).to_pylist() if rewrite else []
        for i, row in zip(rewrite, rows, strict=True):
            rid = row["record_id"]
            record = _indexed(row, people[i], addresses[i], term_frequencies(linker.table, i))
            item = layout.record_item(version, record, _keys(linker, address_keys, i))
            before = old.get(rid)
            if before is None and i < len(base_ids):  # a base record whose person changed: only that
                changes.person(rid, str(base_people[i]), record.person_id, record.address_id)
            else:
                if before is not None:
                    changes.leave(before)
                changes.enter(item)
            record_puts.append(item)
        # the people whose records changed: their records now (what the address items say of them)
        affected = set(changes.people)
        theirs: list[int] = np.nonzero(pc.is_in(pa.array(people, pa.string()), value_set=pa.array(
            sorted(affected), pa.string())).to_numpy(zero_copy_only=False))[0].tolist()
        summaries = layout.Summaries()
        homes: set[str] = set()
        for i, row in zip(theirs, ordered.take(pa.array(theirs, type=pa.int64())).to_pylist() if theirs else [],
                          strict=True):
            summaries.add(_indexed(row, people[i], addresses[i], {}))
            homes.add(str(addresses[i]))
        population = _Population(ordered, linker.keys, address_keys, people, addresses)
        puts, deletes = self._updated_items(version, changes, summaries, affected, homes - {""}, population)
        # every key item the run may update is listed before it is written, with the other items
        updated = [{"pk": {"S": layout.key_pk(version, key)}, "sk": {"S": layout.KEY_SK}}
                   for key in {*changes.keys, *changes.key_addresses}]
        self._list(version, [*puts, *record_puts, *updated], "update")
        updates, emptied, rewritten = self._apply(version, changes, puts, deletes, record_puts, record_deletes,
                                                  population)
        puts.extend([*record_puts, *rewritten[0]])
        deletes.extend([*record_deletes, *rewritten[1]])
        # alerts before the state: a run that dies after the index was written but before the state
        # is retried with the same records still new, and makes the same alerts (same ids, once)
        alerted = self._alert(ordered, people, addresses,
                              [rid for rid, was in zip(added_ids, added_held.tolist(), strict=True) if not was]
                              if known is None else ordered.column("record_id").filter(pa.array(
                                  ~known.held(ordered.column("record_id").combine_chunks()))).to_pylist())
        self._write_state(version, linker)
        self._timed("write", t)
        self._report(linker, people, addresses)
        return MatchOutcome("incremental", version, len(linker.table), len(set(people.tolist())),
                            linked=added.num_rows, removed=len(removed), items_put=len(puts) + updates,
                            items_deleted=len(deletes) + emptied, review_pairs=self._review(linker), alerts=alerted)

    def _apply(self, version: str, changes: _Changes, puts: list[dict[str, Any]], deletes: list[tuple[str, str]],
               record_puts: list[dict[str, Any]], record_deletes: list[tuple[str, str]], population: _Population,
               ) -> tuple[int, int, tuple[list[dict[str, Any]], list[tuple[str, str]]]]:
        """Write an incremental update so that a run that dies part way leaves what a retry completes
        exactly. A record item names the items it occupies, and an update works out what to change
        from the record items as stored, so the record items are written last: first the key, person
        and address items (each with the run's records in or out), then the record items rewritten
        (and a removed record's item deleted). Until its record item is rewritten a record's old place
        is still named by it, so a retry takes it out again (taking an id out of a set it has left, or
        putting it into one it is in, changes nothing); once rewritten, every change of the run is
        already done. Past the cap (a year of one key held by more than a block of records, a person
        or address past :data:`layout.MAX_ID_BYTES`) an item holds only a count of the records it
        leaves out, not who they are, so moving that count by the run's changes would count a record
        twice when a retry moves it again: such an item is instead written afresh from the run's
        whole population (:class:`_Population`: every record the index holds after this run, with its
        keys, year, person and address), exactly as a rebuild writes it, and a retry writes the same.

        A key item is not read: its ids are added and taken out by UpdateItem
        (:meth:`IndexWriter.add_and_remove_ids`); only a key split by birth year, or one growing past
        a block, is read and rewritten whole (:meth:`_rewritten_keys`), and listed in the manifest
        before it is written. Returns the key items updated, those emptied and deleted, and the items
        rewritten (puts, deletes)."""
        moves = {layout.key_pk(version, key): key for key in (*changes.keys, *changes.key_addresses)}
        jobs = [(pk, layout.KEY_SK, [rid for rid, (_, new) in changes.keys.get(key, {}).items() if new is not None],
                 [rid for rid, (_, new) in changes.keys.get(key, {}).items() if new is None],
                 sorted(changes.key_addresses.get(key, ()))) for pk, key in moves.items()]
        refused_pks, emptied = self.writer.add_and_remove_ids(jobs)
        refused = set(refused_pks)
        rewrite_puts, rewrite_deletes = self._rewritten_keys(
            version, {moves[pk]: changes.keys.get(moves[pk], {}) for pk in moves if pk in refused},
            changes.key_addresses, population)
        self._list(version, rewrite_puts, "update")
        # a rewritten key's own item last: until it is written a retry finds the key as it was (split,
        # or past a block) and rewrites it again, so no year item it no longer lists is left behind
        self.writer.put([i for i in rewrite_puts if i["sk"]["S"] != layout.KEY_SK])
        self.writer.delete([k for k in rewrite_deletes if k[1] != layout.KEY_SK])
        self.writer.put([i for i in rewrite_puts if i["sk"]["S"] == layout.KEY_SK])
        self.writer.delete([k for k in rewrite_deletes if k[1] == layout.KEY_SK])
        self.writer.put(puts)
        self.writer.delete(deletes)
        self.writer.put(record_puts)
        self.writer.delete(record_deletes)
        return len(jobs) - len(refused) - emptied, emptied, (rewrite_puts, rewrite_deletes)

    def _updated_items(self, version: str, changes: _Changes, summaries: layout.Summaries, affected: set[str],
                       homes: set[str], population: _Population,
                       ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """The person and address items ``changes`` touches, read and rewritten (key items are
        updated without a read: :meth:`_apply`). The items of every address where an ``affected``
        person (one whose records changed) has a record now (``homes``) are rewritten too, with that
        person's involvement from ``summaries`` (their records now), so a household view never shows
        a stale one; the summaries of the records that entered an address are ``summaries``' too.
        An item past :data:`layout.MAX_ID_BYTES` (some records left out, counted only) is made afresh
        from ``population``, so that a retry cannot count a record it left out twice (:meth:`_apply`)."""
        address_changes: dict[str, dict[str, str | None]] = {a: {} for a in sorted(homes)}
        address_changes.update(changes.addresses)
        wanted = [(layout.person_pk(version, p), layout.PERSON_SK) for p in changes.people]
        wanted.extend((layout.address_pk(version, a), sk) for a in address_changes
                      for sk in (layout.ADDRESS_SK, layout.HOUSEHOLD_SK))
        current = self.writer.get_items(wanted)
        puts: list[dict[str, Any]] = []
        deletes: list[tuple[str, str]] = []
        for owners, pk_of, sk in ((changes.people, layout.person_pk, layout.PERSON_SK),
                                  (address_changes, layout.address_pk, layout.ADDRESS_SK)):
            for owner, inside in owners.items():
                pk = pk_of(version, owner)
                item = current.get((pk, sk))
                ids = set(layout.ids_of(item))
                tags = layout.tags_of(item)
                left_out = layout.count_of(item) - len(ids)
                household = current.get((pk, layout.HOUSEHOLD_SK), {})
                residents = {rid: v["S"] for rid, v in household.get("at", {}).get("M", {}).items()}
                for rid, tag in inside.items():
                    if tag is None:
                        ids.discard(rid)
                        tags.pop(rid, None)
                        residents.pop(rid, None)
                    else:
                        ids.add(rid)
                        tags[rid] = tag
                if left_out > 0:  # who was left out is not stored: count everyone afresh
                    tags = population.person_records(owner) if sk == layout.PERSON_SK \
                        else population.address_records(owner)
                    ids, left_out = set(tags), 0
                if sk == layout.PERSON_SK:
                    item = layout.ids_item(pk, sk, ids, len(ids) + left_out, tags=tags)
                    if item is not None:
                        puts.append(item)
                    elif (pk, sk) in current:
                        deletes.append((pk, sk))
                    continue
                residents.update(summaries.residents.get(owner, {}))
                held = {p: v["S"] for p, v in household.get("inv", {}).get("M", {}).items()}
                involvement = {p: text for p in set(tags.values()) - {""}
                               if (text := summaries.involvement_of(p) if p in affected else held.get(p))}
                items = layout.address_items(version, owner, {r: tags.get(r, "") for r in ids}, residents, involvement)
                if items and left_out:
                    items[0]["count"] = {"N": str(len(ids) + left_out)}
                written = {i["sk"]["S"] for i in items}
                gone = [(pk, s) for s in (layout.ADDRESS_SK, layout.HOUSEHOLD_SK) if s not in written and (pk, s) in current]
                if not gone and all(_same(i, current.get((pk, i["sk"]["S"]))) for i in items):
                    continue  # a home of someone whose records changed, where nothing it says changed
                puts.extend(items)
                deletes.extend(gone)
        return puts, deletes

    def _rewritten_keys(self, version: str, keys: dict[str, dict[str, tuple[str | None, str | None]]],
                        addresses: dict[str, set[str]], population: _Population,
                        ) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
        """The items of ``keys`` (keys split by birth year, or grown past a block; each with its
        records' moves between years) written afresh from the run's population
        (:class:`_Population`): the items a rebuild writes for them (:func:`layout.key_items`), so
        a retry, or a run after a retry, writes the same, and a record left out of a full year is
        never counted twice (the items hold no identity of those left out). A key back within a block
        is one item again, written as an update leaves one (its ids and addresses, no count:
        :meth:`IndexWriter.add_and_remove_ids` only adds addresses), so a key rewritten here ends
        where one update would have. Year items no longer written are deleted: those of the key
        item as read, of its records' years now and of the years its records moved from (a retry may
        find the key item already rewritten)."""
        members = population.key_members(list(keys))
        wanted: list[tuple[str, str]] = []
        for key, moves in keys.items():
            pk = layout.key_pk(version, key)
            years = set(members[key][0].values()) | {y for move in moves.values() for y in move if y is not None}
            wanted.extend([(pk, layout.KEY_SK), *((pk, layout.year_sk(y)) for y in sorted(years))])
        current = self.writer.get_items(wanted) if wanted else {}
        puts: list[dict[str, Any]] = []
        deletes: list[tuple[str, str]] = []
        for key in keys:
            pk = layout.key_pk(version, key)
            item = current.get((pk, layout.KEY_SK))
            held, at = members[key]
            if len(held) <= layout.KEY_BLOCK and item is not None and "years" not in item:
                at = set(item.get("addresses", {}).get("SS", [])) | addresses.get(key, set())
            else:  # split, or no item: named as a rebuild names them
                at = at | addresses.get(key, set())
            written = layout.key_items(version, key, held, at)
            if len(held) <= layout.KEY_BLOCK:
                for unsplit in written:
                    unsplit.pop("count", None)
            puts.extend(written)
            have = {sk for p, sk in current if p == pk} | {layout.year_sk(y) for y in layout.years_of(item)}
            deletes.extend((pk, sk) for sk in sorted(have - {i["sk"]["S"] for i in written}))
        return puts, deletes

    # ------------------------------------------------------------------ manifest and retiring
    def _put_listed(self, version: str, items: list[dict[str, Any]]) -> int:
        """Put ``items`` after listing them in the version's manifest."""
        if not items:
            return 0
        self._list(version, items, "rebuild")
        self.writer.put(items)
        return len(items)

    def _list(self, version: str, items: list[dict[str, Any]], kind: str) -> None:
        """A manifest part naming ``items`` (written before them, so the manifest names every item)."""
        if not items:
            return
        table = pa.table({"pk": pa.array([i["pk"]["S"] for i in items], pa.string()),
                          "sk": pa.array([i["sk"]["S"] for i in items], pa.string())})
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd")
        name = f"{MANIFEST_PREFIX}{version}/{kind}-{time.time_ns():020d}.parquet"
        self.s3.put_object(Bucket=self.settings.curated_bucket, Key=name, Body=sink.getvalue())

    def purge_retired(self, budget: int = PURGE_PER_RUN) -> int:
        """Delete the items of versions retired more than their grace ago, by key from their
        manifests, at most ``budget`` a run (a part's items deleted, then the part); a version whose
        manifest is all gone loses its model and state. A version made before manifests is given a
        TTL instead (:meth:`IndexWriter.retire_by_scan`). Returns the items deleted."""
        deleted = 0
        self.writer.drop_retired_tables(self.now)  # imported versions: their tables, whole
        for version, listed in self.writer.retired_versions(self.now).items():
            if not listed:
                self.writer.retire_by_scan(version)
                continue
            prefix = f"{MANIFEST_PREFIX}{version}/"
            while deleted < budget:
                parts = self.s3.list_objects_v2(Bucket=self.settings.curated_bucket, Prefix=prefix).get("Contents", [])
                if not parts:
                    self.writer.forget(version)
                    self.s3.delete_object(Bucket=self.settings.curated_bucket, Key=self._state_key(version))
                    break
                for part in parts:
                    body = self.s3.get_object(Bucket=self.settings.curated_bucket, Key=part["Key"])["Body"].read()
                    listed_items = pq.read_table(io.BytesIO(body))
                    keys = list(dict.fromkeys(zip(listed_items.column("pk").to_pylist(),
                                                  listed_items.column("sk").to_pylist(), strict=True)))
                    self.writer.delete(keys, table=self.writer.table_name)
                    self.s3.delete_object(Bucket=self.settings.curated_bucket, Key=part["Key"])
                    deleted += len(keys)
                    if deleted >= budget:
                        break
        return deleted

    # ------------------------------------------------------------------ state and report
    def _state_key(self, version: str) -> str:
        return state_key(version)

    def _read_state(self, version: str) -> SavedState | None:
        return saved_state(self.s3, self.settings.curated_bucket, version)

    def _write_state(self, version: str, linker: Linker) -> None:
        table = pa.table({"record_id": pa.array(linker.table.record_id, pa.string()),
                          "person_id": pa.array(linker.person_ids(), pa.string())})
        sink = io.BytesIO()
        pq.write_table(table, sink)
        self.s3.put_object(Bucket=self.settings.curated_bucket, Key=self._state_key(version), Body=sink.getvalue())

    def _alert(self, records: pa.Table, people: np.ndarray, addresses: np.ndarray, new_ids: list[str]) -> int:
        """Alerts for the organisations whose open cases the new records touch (:mod:`mast.alerts`):
        written (once each), audited as made by MAST; the teams of organisations that are mailed at
        once are mailed now (nothing personal), the rest wait for the 07:00 digest."""
        if not new_ids or not self.settings.audit_table:
            return 0
        from mast.alerts.detect import alerts_after_link
        from mast.alerts.nudge import send_nudges
        from mast.alerts.store import AlertStore
        from mast.alerts.watches import WatchStore
        from mast.audit.event import AuditEvent, new_event_id
        from mast.audit.store import AuditStore
        from mast.config import load_partnership
        from mast.feeds.definition import load_feed_definitions

        partnership = load_partnership()
        snapshots = [feed_id for feed_id, d in load_feed_definitions().items() if d.mode == "snapshot"]
        watches = WatchStore(self.settings.control_table, self.ddb).active(self.now)
        alerts = alerts_after_link(records, people, addresses, new_ids, partnership, snapshots, self.now, watches)
        audit = AuditStore(self.settings.audit_table, self.ddb)
        made = AlertStore(self.settings.control_table, self.ddb).add(alerts, before=lambda alert: audit.write(
            AuditEvent(event_id=new_event_id(), event_time=self.now, action="alert-made", user_sub="mast",
                       username="MAST (match run)", organisation=alert.organisation,
                       record_ids=(alert.record_id, *alert.case_record_ids), sensitive_returned=alert.sensitive,
                       detail=json.dumps({"alert": alert.alert_id, "kind": alert.kind, "partner": alert.partner}))))
        if made and self.settings.alerts_from:
            env = {"ALERTS_FROM": self.settings.alerts_from, "WEB_URL": self.settings.web_url,
                   "CONTROL_TABLE": self.settings.control_table}
            send_nudges(made, partnership, env, self.session.client("ses"), self.ddb, self.now)
        return len(made)

    def _review(self, linker: Linker) -> int:
        """The link's closest calls into the stewards' review queue (pairs of record ids)."""
        return ReviewQueue(self.settings.control_table, self.ddb).add_pairs(linker.review, self.now)

    def _report(self, linker: Linker, people: np.ndarray, addresses: np.ndarray) -> None:
        report = linkage_report(linker.table, people.tolist(), addresses.tolist())
        report["generated_at"] = self.now.isoformat()
        body = json.dumps(report, indent=1).encode()
        for key in (REPORT_KEY, f"{REPORTS_PREFIX}{self.now.date().isoformat()}.json"):
            self.s3.put_object(Bucket=self.settings.curated_bucket, Key=key, Body=body,
                               ContentType="application/json")


# ---------------------------------------------------------------------- conversions
def _same(item: dict[str, Any], stored: dict[str, Any] | None) -> bool:
    """Whether ``item`` is what is stored (string sets in any order)."""
    def plain(i: dict[str, Any]) -> dict[str, Any]:
        return {k: sorted(v["SS"]) if "SS" in v else v for k, v in i.items()}

    return stored is not None and plain(item) == plain(stored)


def _keys(linker: Linker, address_keys: np.ndarray, row: int) -> list[str]:
    """The index keys of one record: the link's lookup keys and the address-search keys."""
    return key_strings(linker.keys[row], LOOKUP_KEYS) + address_key_strings(address_keys[row])


def _linkage_columns(records: pa.Table) -> dict[str, Any]:
    """The canonical linkage columns of curated records (``source`` is the partner)."""
    return canonical_columns(records.append_column("source", records.column("partner")))


def _indexed(row: dict[str, Any], person: str, address: str, frequencies: dict[str, float]) -> IndexedRecord:
    contact = PartnerContact(name=row.get("contact_name"), team=row.get("contact_team"),
                             phone=row.get("contact_phone"), email=row.get("contact_email"))
    fields = {name: row.get(name) for name in IndexedRecord.model_fields
              if name not in ("contact", "person_id", "address_id", "term_frequencies")}
    fields["sensitive"] = bool(row.get("sensitive"))
    return IndexedRecord.model_validate({**fields, "contact": contact, "person_id": person, "address_id": address,
                                         "term_frequencies": frequencies})


class SavedState:
    """A version's record -> person state (:func:`state_key`) as two string columns in the order it
    was written. A day's link looks every current record up in it at once (:meth:`held`,
    :meth:`people_of`: pyarrow hash lookups), not one by one through a dict of a million; it also
    answers ``rid in state`` and ``state[rid]`` for the few records a caller asks about."""

    def __init__(self, table: pa.Table) -> None:
        self.ids = table.column("record_id").combine_chunks()
        self.people = table.column("person_id").combine_chunks()
        self._row_of: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def _rows(self) -> dict[str, int]:
        if self._row_of is None:
            self._row_of = {rid: i for i, rid in enumerate(self.ids.to_pylist())}
        return self._row_of

    def __contains__(self, record_id: object) -> bool:
        return record_id in self._rows()

    def __getitem__(self, record_id: str) -> str:
        return str(self.people[self._rows()[record_id]].as_py())

    def __iter__(self) -> Iterator[str]:
        return iter(self.ids.to_pylist())

    def held(self, ids: pa.Array) -> np.ndarray:
        """Whether each of ``ids`` is in the state (bool array)."""
        return np.asarray(pc.is_in(ids, value_set=self.ids).to_numpy(zero_copy_only=False), dtype=bool)

    def people_of(self, ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """The person of each of ``ids`` (all held), as an object array of str."""
        rows = pc.index_in(ids, value_set=self.ids)
        if rows.null_count:
            raise KeyError("a record is not in the state")
        return np.asarray(self.people.take(rows).to_numpy(zero_copy_only=False), dtype=object)


class _Population:
    """Every record the index holds once an incremental run is written (the run's records in link
    order), with its index keys, birth year, person and address: what an item past its cap is made
    afresh from (:meth:`_MatchRun._apply`). Looked up by a vectorised pass over the key, person or
    address column asked about, for the few items past a cap a day touches."""

    def __init__(self, records: pa.Table, keys: np.ndarray, address_keys: np.ndarray, people: np.ndarray,
                 addresses: np.ndarray) -> None:
        self.records = records
        self.columns = [keys[:, j] for j in range(keys.shape[1])] + [address_keys[:, j] for j in range(address_keys.shape[1])]
        self.rules = INDEX_KEY_RULES
        self.people = people
        self.addresses = addresses

    def _ids_years(self, rows: np.ndarray) -> tuple[list[str], list[str]]:
        taken = self.records.take(pa.array(rows, type=pa.int64()))
        ids = [str(rid) for rid in taken.column("record_id").to_pylist()]
        years = [str(y) if y is not None else layout.NO_YEAR for y in pc.year(taken.column("dob")).to_pylist()]
        return ids, years

    def key_members(self, keys: Sequence[str]) -> dict[str, tuple[dict[str, str], set[str]]]:
        """Each key's records now (record id -> birth year, as :func:`layout.year_of` files it) and
        their addresses."""
        wanted: dict[int, dict[int, str]] = {}  # key column -> key value -> the key's index form
        for key in keys:
            namespace, _, value = key.rpartition("#")
            for j, rule in enumerate(self.rules):
                if rule.namespace == namespace:
                    wanted.setdefault(j, {})[int(value, 16)] = key
        out: dict[str, tuple[dict[str, str], set[str]]] = {key: ({}, set()) for key in keys}
        for j, values in wanted.items():
            column = self.columns[j].astype(np.uint64, copy=False)
            rows = np.nonzero(np.isin(column, np.array(sorted(values), dtype=np.uint64)))[0]
            if not len(rows):
                continue
            ids, years = self._ids_years(rows)
            for row, rid, year in zip(rows.tolist(), ids, years, strict=True):
                held, at = out[values[int(column[row])]]
                held[rid] = year
                if self.addresses[row]:
                    at.add(str(self.addresses[row]))
        return out

    def person_records(self, person: str) -> dict[str, str]:
        """A person's records now, each with its address (as a person's item tags them)."""
        rows = np.nonzero(self.people == person)[0]
        ids, _ = self._ids_years(rows)
        return {rid: str(self.addresses[row]) for rid, row in zip(ids, rows.tolist(), strict=True)}

    def address_records(self, address: str) -> dict[str, str]:
        """The records at an address now, each with its person (as an address's item tags them)."""
        rows = np.nonzero(self.addresses == address)[0]
        ids, _ = self._ids_years(rows)
        return {rid: str(self.people[row]) for rid, row in zip(ids, rows.tolist(), strict=True)}


class _Changes:
    """What an incremental run changes in the key, person and address items: each record moved
    between a key's birth years (None: out of the key, or not yet in it), out of a person or an
    address (None) or into one (with its address, or its person, held beside it)."""

    def __init__(self) -> None:
        self.keys: dict[str, dict[str, tuple[str | None, str | None]]] = {}
        self.people: dict[str, dict[str, str | None]] = {}
        self.addresses: dict[str, dict[str, str | None]] = {}
        #: the addresses records enter, by the address-search keys they hold
        self.key_addresses: dict[str, set[str]] = {}

    def _key(self, key: str, rid: str, old: str | None, new: str | None) -> None:
        was = self.keys.setdefault(key, {}).get(rid)
        first = was[0] if was is not None else old
        if first == new and first is not None:
            self.keys[key].pop(rid, None)  # back where it was: no change
            if not self.keys[key]:
                del self.keys[key]
        else:
            self.keys[key][rid] = (first, new)

    def leave(self, item: dict[str, Any]) -> None:
        """The record of a stored record item leaves every item it names."""
        rid, year = layout.record_id_of(item), item.get("year", {}).get("S", layout.NO_YEAR)
        for key in layout.record_keys_of(item):
            self._key(key, rid, year, None)
        self.people.setdefault(item["person_id"]["S"], {})[rid] = None
        if "address_id" in item:
            self.addresses.setdefault(item["address_id"]["S"], {})[rid] = None

    def enter(self, item: dict[str, Any]) -> None:
        """The record of a new record item enters every item it names."""
        rid, year = layout.record_id_of(item), item["year"]["S"]
        for key in layout.record_keys_of(item):
            was = self.keys.get(key, {}).get(rid)
            self._key(key, rid, was[0] if was is not None else None, year)
        address = item.get("address_id", {}).get("S", "")
        if address:
            for key in layout.record_keys_of(item):
                if key.startswith(layout.ADDRESS_KEY_PREFIX):
                    self.key_addresses.setdefault(key, set()).add(address)
        self.people.setdefault(item["person_id"]["S"], {})[rid] = address
        if address:
            self.addresses.setdefault(address, {})[rid] = item["person_id"]["S"]

    def person(self, rid: str, old: str, new: str, address: str) -> None:
        """A record that stays where it is but now belongs to another person."""
        self.people.setdefault(old, {})[rid] = None
        self.people.setdefault(new, {})[rid] = address
        if address:
            self.addresses.setdefault(address, {})[rid] = new


__all__ = ["MatchOutcome", "MatchSettings", "Model", "run_match"]
