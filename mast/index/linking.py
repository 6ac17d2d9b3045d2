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
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mast.access.decisions import DecisionStore
from mast.feeds import store
from mast.feeds.events import FeedIngested
from mast.feeds.retention import DEFAULT_RETENTION_DAYS, retained, retention_days, snapshot_feeds
from mast.index import layout
from mast.index.address_keys import address_key_strings, record_address_keys
from mast.index.layout import IndexedRecord
from mast.index.messages import RebuildRequested, RelinkRequested
from mast.index.reader import IndexReader
from mast.index.salt import key_salt
from mast.index.writer import IndexWriter
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

STATE_PREFIX = "index/state/"
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

    @classmethod
    def from_env(cls) -> MatchSettings:
        env = os.environ
        return cls(env["CURATED_BUCKET"], env["INDEX_TABLE"], env["CONTROL_TABLE"], env["KEY_SALT_SECRET_ARN"],
                   env.get("AUDIT_TABLE", ""), env.get("ALERTS_FROM", ""), env.get("WEB_URL", ""),
                   retention_days(env))


@dataclass
class MatchOutcome:
    """What one run did (counts only: this is logged)."""

    mode: Literal["rebuild", "incremental"]
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


class _MatchRun:
    def __init__(self, settings: MatchSettings, session: Any, options: LinkOptions | None, now: dt.datetime) -> None:
        self.settings = settings
        self.session = session
        self.s3 = session.client("s3")
        self.ddb = session.client("dynamodb")
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
        current = store.read_current_records(self.settings.curated_bucket)
        searchable = current.filter(pc.invert(pc.fill_null(current.column("withdrawn"), False)))
        # past retention: out of the index on this run's clock, as ingest drops them from the state
        searchable = retained(searchable, self.now.date(), self.settings.retention_days, snapshot_feeds())
        self._timed("read", t)
        live, this_linkage = self.writer.live()
        # no live version, or one linked by another release's keys or model (only a rebuild makes it
        # searchable again), or outgrown, or asked for: a rebuild, without reading the saved state
        rebuild = (live is None or not this_linkage or any(isinstance(m, RebuildRequested) for m in messages)
                   or searchable.num_rows > REBUILD_GROWTH * max(self.writer.trained_records(live), 1))
        state = None if rebuild or live is None else self._read_state(live)
        changed = set().union(*(self._changed_ids(m) for m in messages))
        if live is None or state is None:
            outcome = self.rebuild(searchable, decisions, live, changed)
        else:
            outcome = self.incremental(searchable, decisions, live, state, changed)
        outcome.seconds = self.seconds
        return outcome

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
        version = self.writer.begin_version(linker.model, self.now)
        people, addresses = linker.person_ids(), linker.address_ids()
        address_keys = record_address_keys(linker.table, self.salt)
        put = 0
        for start in range(0, records.num_rows, WRITE_CHUNK):
            rows = range(start, min(start + WRITE_CHUNK, records.num_rows))
            items: list[dict[str, Any]] = []
            for i, row in zip(rows, records.slice(start, len(rows)).to_pylist(), strict=True):
                record = _indexed(row, people[i], addresses[i], term_frequencies(linker.table, i))
                items.extend(layout.record_items(version, record, _keys(linker, address_keys, i)))
            self.writer.put(items)
            put += len(items)
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
            if old != version and state != "retired":
                self.writer.retire(old)  # the previous live version, and any rebuild that died half-written
                retired = old if old == previous else retired
        self._timed("switch", t)
        self._report(linker, people, addresses)
        return MatchOutcome("rebuild", version, len(linker.table), stats["people"], linked=len(linker.table),
                            items_put=put, retired_version=retired, review_pairs=self._review(linker),
                            alerts=alerted)

    # ------------------------------------------------------------------ incremental
    def incremental(self, records: pa.Table, decisions: list[Decision], version: str, state: dict[str, str],
                    changed: set[str]) -> MatchOutcome:
        t = time.perf_counter()
        ids = records.column("record_id").to_pylist()
        relink = np.fromiter((rid in changed or rid not in state for rid in ids), dtype=bool, count=len(ids))
        present = set(ids)
        removed = [rid for rid in state if rid not in present]
        base = records.filter(pa.array(~relink))
        base_ids = base.column("record_id").to_pylist()
        # each person's root record (whose hash is the person id) first: restored ids stay the same
        roots = np.fromiter((person_id(rid) == state[rid] for rid in base_ids), dtype=bool, count=len(base_ids))
        order = np.concatenate([np.nonzero(roots)[0], np.nonzero(~roots)[0]])
        base = base.take(pa.array(order))
        base_ids = [base_ids[i] for i in order.tolist()]
        added = records.filter(pa.array(relink))
        model = IndexReader(self.settings.index_table, self.ddb, version=version).model()
        linker = Linker.restore(prepare(_linkage_columns(base)), model, [state[rid] for rid in base_ids],
                                decisions, self.options)
        if added.num_rows:
            linker.add(_linkage_columns(added))
        self._timed("link", t)
        t = time.perf_counter()
        ordered = pa.concat_tables([base, added]) if added.num_rows else base
        people, addresses = linker.person_ids(), linker.address_ids()
        address_keys = record_address_keys(linker.table, self.salt)
        relinked = [rid for rid in added.column("record_id").to_pylist() if rid in state]
        old = self.writer.get_records(version, [*relinked, *removed])
        puts: list[dict[str, Any]] = []
        deletes: list[tuple[str, str]] = []
        for rid in removed:
            if rid in old:
                deletes.extend(_item_keys(version, old[rid]))
        rewrite = [i for i, rid in enumerate(base_ids) if people[i] != state[rid]]
        rewrite.extend(range(len(base_ids), len(ordered)))
        rows = ordered.take(pa.array(rewrite, type=pa.int64())).to_pylist() if rewrite else []
        for i, row in zip(rewrite, rows, strict=True):
            rid = row["record_id"]
            record = _indexed(row, people[i], addresses[i], term_frequencies(linker.table, i))
            new_items = layout.record_items(version, record, _keys(linker, address_keys, i))
            before = old.get(rid)
            if before is None and i < len(base_ids):  # a base record whose person changed
                before_keys = {(layout.person_pk(version, state[rid]), rid)}
                new_items = [it for it in new_items if it["sk"]["S"] == layout.RECORD_SK
                             or it["pk"]["S"] == layout.person_pk(version, people[i])]
            else:
                before_keys = set(_item_keys(version, before)) if before is not None else set()
            after_keys = {(it["pk"]["S"], it["sk"]["S"]) for it in new_items}
            deletes.extend(before_keys - after_keys)
            puts.extend(it for it in new_items
                        if it["sk"]["S"] == layout.RECORD_SK or (it["pk"]["S"], it["sk"]["S"]) not in before_keys)
        self._apply(puts, deletes)
        # alerts before the state: a run that dies after the index was written but before the state
        # is retried with the same records still new, and makes the same alerts (same ids, once)
        alerted = self._alert(ordered, people, addresses,
                              [rid for rid in added.column("record_id").to_pylist() if rid not in state])
        self._write_state(version, linker)
        self._timed("write", t)
        self._report(linker, people, addresses)
        return MatchOutcome("incremental", version, len(linker.table), len(set(people.tolist())),
                            linked=added.num_rows, removed=len(removed), items_put=len(puts),
                            items_deleted=len(deletes), review_pairs=self._review(linker), alerts=alerted)

    def _apply(self, puts: list[dict[str, Any]], deletes: list[tuple[str, str]]) -> None:
        """Write an incremental update so that a run that dies part way leaves what a retry completes
        exactly. A record item names the items it occupies, and an update works out what to delete
        from the record item as stored, so the record items are written last: first the new
        memberships, then the stale ones deleted, then the record items rewritten (and a removed
        record's item deleted). Until its record item is rewritten a record's old memberships are
        still named by it (a retry deletes them again, harmlessly); once rewritten, every membership
        change of the run is already done. Every write is keyed, so writing it twice is writing it once.
        """
        self.writer.put([it for it in puts if it["sk"]["S"] != layout.RECORD_SK])
        self.writer.delete([k for k in deletes if k[1] != layout.RECORD_SK])
        self.writer.put([it for it in puts if it["sk"]["S"] == layout.RECORD_SK])
        self.writer.delete([k for k in deletes if k[1] == layout.RECORD_SK])

    # ------------------------------------------------------------------ state and report
    def _state_key(self, version: str) -> str:
        return f"{STATE_PREFIX}{version}.parquet"

    def _read_state(self, version: str) -> dict[str, str] | None:
        try:
            body = self.s3.get_object(Bucket=self.settings.curated_bucket, Key=self._state_key(version))["Body"].read()
        except self.s3.exceptions.NoSuchKey:
            return None
        table = pq.read_table(io.BytesIO(body))
        return dict(zip(table.column("record_id").to_pylist(), table.column("person_id").to_pylist(), strict=True))

    def _write_state(self, version: str, linker: Linker) -> None:
        table = pa.table({"record_id": pa.array(linker.table.record_id.tolist(), pa.string()),
                          "person_id": pa.array(linker.person_ids().tolist(), pa.string())})
        sink = io.BytesIO()
        pq.write_table(table, sink)
        self.s3.put_object(Bucket=self.settings.curated_bucket, Key=self._state_key(version), Body=sink.getvalue())

    def _alert(self, records: pa.Table, people: np.ndarray, addresses: np.ndarray, new_ids: list[str]) -> int:
        """Alerts for the organisations whose open cases the new records touch (:mod:`mast.alerts`):
        written (once each), audited as made by MAST, and the teams mailed (nothing personal)."""
        if not new_ids or not self.settings.audit_table:
            return 0
        from mast.alerts.detect import alerts_after_link
        from mast.alerts.nudge import send_nudges
        from mast.alerts.store import AlertStore
        from mast.audit.event import AuditEvent, new_event_id
        from mast.audit.store import AuditStore
        from mast.config import load_partnership
        from mast.feeds.definition import load_feed_definitions

        partnership = load_partnership()
        snapshots = [feed_id for feed_id, d in load_feed_definitions().items() if d.mode == "snapshot"]
        alerts = alerts_after_link(records, people, addresses, new_ids, partnership, snapshots, self.now)
        made = AlertStore(self.settings.control_table, self.ddb).add(alerts)
        audit = AuditStore(self.settings.audit_table, self.ddb)
        for alert in made:
            audit.write(AuditEvent(
                event_id=new_event_id(), event_time=self.now, action="alert-made", user_sub="mast",
                username="MAST (match run)", organisation=alert.organisation,
                record_ids=(alert.record_id, *alert.case_record_ids), sensitive_returned=alert.sensitive,
                detail=json.dumps({"alert": alert.alert_id, "kind": alert.kind, "partner": alert.partner}),
            ))
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


def _item_keys(version: str, item: dict[str, Any]) -> Iterable[tuple[str, str]]:
    """Every (pk, sk) a record item and its memberships occupy."""
    rid = layout.record_id_of(item)
    yield layout.record_pk(version, rid), layout.RECORD_SK
    for key in layout.record_keys_of(item):
        yield layout.key_pk(version, key), rid
    yield layout.person_pk(version, item["person_id"]["S"]), rid
    if "address_id" in item:
        yield layout.address_pk(version, item["address_id"]["S"]), rid


__all__ = ["MatchOutcome", "MatchSettings", "Model", "run_match"]
