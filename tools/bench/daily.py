"""One day's match run, measured: ``python -m tools.bench.daily WORKDIR`` (started by ``mast bench
incremental``, in its own process so that its peak memory is its own).

The parent leaves in ``WORKDIR`` the curated records of the day before (``day0.parquet``) and of the
day (``day1.parquet``), the live model and record → person state its rebuild made, and the ids of
the records the day changes. Here, on moto in this process: each feed's state object, the live
index version (model, state, pointer) and, through one unmeasured run, the index items of the
records the day will change (as a live index holds them); then the day: each feed's new state and
its changes (what ingest's snapshot diff passes on), one ``feed-ingested`` message per feed, and
one :func:`mast.index.linking.run_match` on them all, as the match queue delivers a day's batch.
That run is measured: every DynamoDB call it makes (counted on the client, by operation), the items
it writes and deletes, the write and read units they cost (computed from the items' sizes by
DynamoDB's rules: a write unit per KB written, a read unit per 4 KB read strongly, half that
eventually), its time, and its peak resident memory (sampled; moto's copy of the data is in the
same process, so this is an upper bound). Moto answers the calls in this process too: the CPU it
spends doing so (:class:`MotoTime`) is DynamoDB's and S3's work on AWS, so it is reported apart, and
the run's seconds without it are the match function's own. Also a digest of the record -> person
state the run wrote and of the items it put, so that two runs of different code on the same day can
be shown to find the same people and write the same items (``mast bench incremental --against``); and,
with a ``profile`` file in ``WORKDIR`` naming a path, a cProfile of the run there. Prints one JSON
line; never a name.

With ``full_index`` in ``WORKDIR`` (``mast bench incremental --full-index``), the live version the day
starts from is the match function's own rebuild of the day before, measured the same way (items,
write units per record): the day's run then updates a whole index, as a deployment's does, rather
than one holding only the records the day changes (which, since issue 14 keeps one item per lookup
key, would make the day's key items look smaller than a full index's).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import os
import sys
import threading
import time
import zlib
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any, Self

REGION = "eu-west-2"
DAY0, DAY1 = "20251101T020000000000Z-day0", "20251102T020000000000Z-day1"


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB counts for one attribute value (its item-size rules, numbers approximated)."""
    kind, inner = next(iter(value.items()))
    if kind == "S":
        return len(inner.encode("utf-8"))
    if kind == "N":
        return (len(inner.lstrip("-").replace(".", "")) + 1) // 2 + 1
    if kind == "B":
        return len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    if kind == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + attribute_size(v) for k, v in inner.items())
    raise ValueError(kind)


def _item_hash(item: dict[str, Any]) -> bytes:
    """A hash of one item, string sets in any order."""
    plain = {k: sorted(v["SS"]) if "SS" in v else v for k, v in item.items()}
    return hashlib.sha256(json.dumps(plain, sort_keys=True).encode()).digest()


def people_digest(state: Any) -> str:
    """A digest of a record -> person state (a table of ``record_id``, ``person_id``), in any row order:
    two runs that find the same people have the same."""
    lines = sorted(f"{r}\t{p}" for r, p in zip(state.column("record_id").to_pylist(),
                                                state.column("person_id").to_pylist(), strict=True))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


class Calls:
    """DynamoDB calls of every client the session makes after :meth:`attach`, with their items and units."""

    def __init__(self, export_bytes: bool = False, digest: bool = False) -> None:
        self.lock = threading.Lock()
        #: with ``digest``, a digest of every item put (in any order): two runs that write the same
        #: items have the same (``mast bench incremental --against``)
        self._item_hashes: list[bytes] | None = [] if digest else None
        #: with ``export_bytes``, also the bytes the written items take: by DynamoDB's item-size rules, as
        #: DynamoDB JSON lines (ImportTable's input format) and those lines gzipped (``mast bench capacity``)
        self.export_bytes = export_bytes
        self.item_bytes = self.json_bytes = 0
        self._gzip = zlib.compressobj(6, zlib.DEFLATED, 31) if export_bytes else None
        self.gzip_bytes = 0
        self.calls: Counter[str] = Counter()
        self.items_put = self.items_deleted = self.items_read = 0
        self.write_units = self.read_units = 0.0
        #: round trips in sequence: a call begun while no other is in flight starts a new one (calls
        #: overlapped on threads share one), which is what a caller waits for on DynamoDB
        self.round_trips = 0
        self._in_flight = 0

    def attach(self, session: Any, latency: float = 0.0) -> None:
        """Count the calls of ``session`` (a session, or a client's ``meta``); with ``latency``,
        each call also waits that long before it is sent, as a network round trip would: moto in
        process answers in microseconds, so calls a caller overlaps on threads would otherwise not
        overlap, and round trips in sequence would be over-counted."""
        session.events.register("provide-client-params.dynamodb.*", self._request)
        session.events.register("after-call.dynamodb.*", self._response)
        session.events.register("after-call-error.dynamodb.*", self._failed)
        if latency:
            session.events.register("before-call.dynamodb.*", lambda **_: time.sleep(latency))

    def _failed(self, **_: Any) -> None:
        with self.lock:
            self._in_flight = max(0, self._in_flight - 1)

    def _request(self, params: dict[str, Any], model: Any, context: dict[str, Any] | None = None, **_: Any) -> None:
        op = model.name
        if context is not None:  # the same dict reaches the response's handler
            context["consistent"] = bool(params.get("ConsistentRead")) or any(
                bool(t.get("ConsistentRead")) for t in params.get("RequestItems", {}).values() if isinstance(t, dict))
        puts: list[dict[str, Any]] = []
        deletes = 0
        if op == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                puts += [r["PutRequest"]["Item"] for r in requests if "PutRequest" in r]
                deletes += sum(1 for r in requests if "DeleteRequest" in r)
        elif op == "PutItem":
            puts.append(params["Item"])
        elif op in ("DeleteItem", "UpdateItem"):
            deletes += op == "DeleteItem"
        with self.lock:
            self.calls[op] += 1
            self.round_trips += self._in_flight == 0
            self._in_flight += 1
            self.items_put += len(puts)
            self.items_deleted += deletes
            # a write unit per KB of each item written; a delete one (an update: on its answer)
            self.write_units += sum(math.ceil(item_size(i) / 1024) for i in puts) + deletes
            if self._item_hashes is not None:
                self._item_hashes.extend(_item_hash(i) for i in puts)
            if self._gzip is not None:
                for item in puts:
                    line = (json.dumps({"Item": item}, separators=(",", ":")) + "\n").encode("utf-8")
                    self.item_bytes += item_size(item)
                    self.json_bytes += len(line)
                    self.gzip_bytes += len(self._gzip.compress(line))

    def _response(self, http_response: Any, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        op = model.name
        with self.lock:
            self._in_flight = max(0, self._in_flight - 1)
        if op == "UpdateItem":
            # billed as a put of the whole item (the larger of before and after): counted on the item
            # after it, when the update returns it (MAST's do), else one unit; an item written
            written = parsed.get("Attributes")
            with self.lock:
                self.items_put += written is not None
                self.write_units += math.ceil(max(item_size(written), 1) / 1024) if written else 1
            return
        consistent = bool((kwargs.get("context") or {}).get("consistent"))
        factor = 1.0 if consistent else 0.5
        if op == "GetItem":
            items = [parsed["Item"]] if "Item" in parsed else []
            units = factor * sum(math.ceil(max(item_size(i), 1) / 4096) for i in items) or factor
        elif op == "BatchGetItem":
            items = [i for found in parsed.get("Responses", {}).values() for i in found]
            units = factor * sum(math.ceil(item_size(i) / 4096) for i in items)
        elif op in ("Query", "Scan"):
            items = parsed.get("Items", [])
            units = factor * max(math.ceil(sum(item_size(i) for i in items) / 4096), 1)
        else:
            return
        with self.lock:
            self.items_read += len(items)
            self.read_units += units

    def result(self) -> dict[str, Any]:
        exported: dict[str, Any] = {}
        if self._gzip is not None:
            with self.lock:
                self.gzip_bytes += len(self._gzip.flush(zlib.Z_FULL_FLUSH))
            exported = {"item_bytes": self.item_bytes, "dynamodb_json_bytes": self.json_bytes,
                        "dynamodb_json_gzip_bytes": self.gzip_bytes}
        if self._item_hashes is not None:
            exported["items_digest"] = hashlib.sha256(b"".join(sorted(self._item_hashes))).hexdigest()[:16]
        return {**exported, "calls": dict(sorted(self.calls.items())), "calls_total": sum(self.calls.values()),
                "items_put": self.items_put, "items_deleted": self.items_deleted, "items_read": self.items_read,
                "write_units": round(self.write_units), "read_units": round(self.read_units, 1),
                "round_trips": self.round_trips}


class PeakMemory:
    """Peak resident memory of this process while the block runs, sampled every 20 ms."""

    def __enter__(self) -> Self:
        import psutil

        self.process = psutil.Process()
        self.before = self.peak = self.process.memory_info().rss
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()
        return self

    def _sample(self) -> None:
        while not self.done.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self.done.wait(0.02)

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join()


class MotoTime:
    """CPU seconds moto spends answering calls in this process, by service (the thread's CPU time inside
    moto's request handler, summed over the client's threads). On AWS that work is DynamoDB's and S3's,
    not the match Lambda's: the run's seconds less these are the match function's own (with the
    client's half of every call, which stays), and the calls' waiting on AWS is counted apart
    (round trips, calls)."""

    def __enter__(self) -> Self:
        from moto.core.botocore_stubber import BotocoreStubber

        self.seconds: defaultdict[str, float] = defaultdict(float)
        self._lock = threading.Lock()
        self._original = original = BotocoreStubber.process_request
        spent = self.seconds
        lock = self._lock

        def timed(stubber: Any, request: Any) -> Any:
            started = time.thread_time()
            try:
                return original(stubber, request)
            finally:
                host = str(request.url).split("//", 1)[-1].split("/", 1)[0]
                service = "dynamodb" if "dynamodb" in host else "s3" if "s3" in host else "other"
                with lock:
                    spent[service] += time.thread_time() - started

        BotocoreStubber.process_request = timed  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        from moto.core.botocore_stubber import BotocoreStubber

        BotocoreStubber.process_request = self._original  # type: ignore[method-assign]

    def result(self) -> dict[str, float]:
        return {k: round(v, 2) for k, v in sorted(self.seconds.items())}


def main(workdir: Path) -> dict[str, Any]:
    for name, value in {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                        "AWS_DEFAULT_REGION": REGION}.items():  # fmt: skip
        os.environ[name] = value
    os.environ.pop("AWS_ENDPOINT_URL", None)
    import boto3
    import moto
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from mast.feeds import store
    from mast.feeds.events import FeedIngested
    from mast.feeds.parse import RECORD_SCHEMA
    from mast.index.linking import STATE_PREFIX, MatchSettings, run_match
    from mast.index.writer import IndexWriter
    from mast.linkage.model import Model

    # one clock for every run on this folder (the parent's), so that runs of different code name the same
    # versions and write the same items
    now = (dt.datetime.fromisoformat((workdir / "now").read_text("utf-8").strip()) if (workdir / "now").exists()
           else dt.datetime.now(dt.UTC))
    day0, day1 = pq.read_table(workdir / "day0.parquet"), pq.read_table(workdir / "day1.parquet")
    changed = pq.read_table(workdir / "changed.parquet").column("record_id")
    people = pq.read_table(workdir / "people.parquet")
    with moto.mock_aws():
        session = boto3.session.Session(region_name=REGION)
        s3, ddb = session.client("s3"), session.client("dynamodb")
        s3.create_bucket(Bucket="b-curated", CreateBucketConfiguration={"LocationConstraint": REGION})
        for table in ("b-control", "b-index"):
            ddb.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                             KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                        {"AttributeName": "sk", "KeyType": "RANGE"}],
                             AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                   {"AttributeName": "sk", "AttributeType": "S"}])  # fmt: skip
        secret = session.client("secretsmanager").create_secret(Name="b-salt", SecretString="bench-salt")["ARN"]
        settings = MatchSettings("b-curated", "b-index", "b-control", secret)

        def by_feed(table: pa.Table) -> dict[tuple[str, str], pa.Table]:
            out = {}
            for partner, feed in sorted(set(zip(table.column("partner").to_pylist(), table.column("feed").to_pylist(),
                                                strict=True))):  # fmt: skip
                mine = pc.and_(pc.equal(table.column("partner"), partner), pc.equal(table.column("feed"), feed))
                out[(partner, feed)] = table.filter(mine).select(RECORD_SCHEMA.names)
            return out

        def changes_of(table: pa.Table, ingest: str, date: dt.date) -> list[FeedIngested]:
            messages = []
            for (partner, feed), part in by_feed(table).items():
                uri = store.write_versions("b-curated", store.changes_key(partner, feed, date, ingest), part)
                messages.append(FeedIngested(feed=feed, partner=partner, ingest_id=ingest, records_uri=uri,
                                             versions=part.num_rows))  # fmt: skip
            return messages

        # the day before: each feed's state, the live version (its model, its record -> person state)
        for (partner, feed), part in by_feed(day0).items():
            store.write_versions("b-curated", store.state_key(partner, feed, DAY0), part)
        rebuilt: dict[str, Any] = {}
        if (workdir / "full_index").exists():
            from mast.index.messages import RebuildRequested

            counted = Calls(export_bytes=True)
            counted.attach(session)
            started = time.perf_counter()
            outcome = run_match(RebuildRequested(reason="bench"), settings, session=session,
                                now=now - dt.timedelta(hours=2))
            rebuilt = {"records": outcome.records, "seconds": round(time.perf_counter() - started, 2),
                       "items_put_reported": outcome.items_put, **counted.result()}
            rebuilt["items_per_record"] = round(rebuilt["items_put"] / max(outcome.records, 1), 2)
            rebuilt["write_units_per_record"] = round(rebuilt["write_units"] / max(outcome.records, 1), 2)
            session = boto3.session.Session(region_name=REGION)  # the day's calls counted apart
        writer = IndexWriter("b-index", ddb)
        if not rebuilt:
            version = writer.begin_version(Model.from_json((workdir / "model.json").read_text()),
                                           now - dt.timedelta(hours=2))
            sink = io.BytesIO()
            pq.write_table(people, sink)
            s3.put_object(Bucket="b-curated", Key=f"{STATE_PREFIX}{version}.parquet", Body=sink.getvalue())
            writer.switch(version, None, {"records": day0.num_rows,
                                          "people": len(pc.unique(people.column("person_id")))})  # fmt: skip
        # the items of the records the day changes, as the live index holds them (not measured)
        before = day0.filter(pc.is_in(day0.column("record_id"), value_set=changed))
        warm = run_match(changes_of(before, "20251101T030000000000Z-warm", dt.date(2025, 11, 1)), settings,
                         session=session, now=now - dt.timedelta(hours=1))  # fmt: skip

        # the day: each feed's new state and what changed in it, one message per feed
        fresh = pc.invert(pc.is_in(day1.column("record_id"), value_set=day0.column("record_id")))
        day_changes = day1.filter(pc.or_(fresh, pc.is_in(day1.column("record_id"), value_set=changed)))
        for (partner, feed), part in by_feed(day1).items():
            store.write_versions("b-curated", store.state_key(partner, feed, DAY1), part)
        messages = changes_of(day_changes, DAY1, dt.date(2025, 11, 2))
        calls = Calls(digest=True)
        calls.attach(session)
        profile = (workdir / "profile").read_text("utf-8").strip() if (workdir / "profile").exists() else ""
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
        with PeakMemory() as memory, MotoTime() as moto_time:
            started, cpu_started = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            outcome = run_match(messages, settings, session=session, now=now)
            if profiler is not None:
                profiler.disable()
            seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
        if profiler is not None:
            profiler.dump_stats(profile)
        written = s3.get_object(Bucket="b-curated", Key=f"{STATE_PREFIX}{outcome.version}.parquet")["Body"].read()
        state_digest = people_digest(pq.read_table(io.BytesIO(written)))
    return {
        "records": day1.num_rows, "messages": len(messages), "changes_linked": day_changes.num_rows,
        "mode": outcome.mode, "linked": outcome.linked, "removed": outcome.removed,
        "items_put_reported": outcome.items_put, "items_deleted_reported": outcome.items_deleted,
        "seconds": round(seconds, 2), "seconds_by_step": outcome.seconds,
        # moto answering the run's calls in this process (AWS's work, not the match function's)
        "moto_cpu_seconds": moto_time.result(),
        "seconds_without_moto": round(seconds - sum(moto_time.seconds.values()), 2),
        # the process's CPU-seconds (every thread's) less moto's: the match function's own work, without
        # the seconds its threads spent waiting (for the interpreter's lock that moto held, or for a
        # loaded machine), which the wall-clock figure above counts and which vary from run to run
        "cpu_seconds": round(cpu_seconds, 2),
        "cpu_seconds_without_moto": round(cpu_seconds - sum(moto_time.seconds.values()), 2),
        "peak_rss_mb": round(memory.peak / 2**20, 1), "rss_before_mb": round(memory.before / 2**20, 1),
        "warm_up_mode": warm.mode, **calls.result(), "state_digest": state_digest,
        "items_per_record_linked": round(calls.items_put / max(outcome.linked, 1), 2),
        "write_units_per_record_linked": round(calls.write_units / max(outcome.linked, 1), 2),
        **({"rebuild": rebuilt} if rebuilt else {}),
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
