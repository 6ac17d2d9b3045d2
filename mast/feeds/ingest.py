"""Ingest one completed upload: the steps around :func:`mast.feeds.parse.parse_upload` that touch AWS.

Order of work, chosen so that a crash at any point and a retry give the same result as one clean
run (the upload stays in the landing folder until the very last step, and every write is to a
key fixed by the upload's claim):

1. **claim** the upload's content hash in the control table (``FEED#<feed>`` / ``UPLOAD#<sha256>``).
   A new hash gets an ingest id and date, kept in the claim, so a retry reuses them. A hash already
   ingested means the same file was uploaded twice: it changes nothing and gets an
   ``already_ingested`` receipt.
2. **archive** the raw upload, untouched, in the raw bucket (``archive/`` or ``quarantine/``), which
   no SFTP user reaches and whose lifecycle deletes it.
3. **parse** (pure, column by column).
4. **compare** the upload's versions (accepted rows, snapshot end-dates, withdrawals) with the
   feed's current state (one object, :mod:`mast.feeds.store`): only the new, changed, ended and
   withdrawn records are changes; a snapshot that re-sends ten thousand open cases unchanged
   changes nothing for them.
5. **write** the versions to the dated log (the Glue table), the changes apart, and the feed's new
   state, each as one Parquet object named by the ingest id; the feed's totals go in its state item.
6. **receipt**: ``reports/<file>.report.json`` and ``reports/<file>.rejected.csv`` beside the upload,
   with the feed's totals after it.
7. **announce** the changes (never the unchanged rows) to the match function (SQS FIFO,
   deduplicated by ingest id); an upload that changes nothing is not announced.
8. **mark** the claim done, delete the upload from the landing folder, and delete the feed's
   state objects older than the one this ingest started from.

One feed is ingested at a time (a lease in the control table): two snapshots of one feed must not
both read the same "previous" state.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import boto3
import pyarrow as pa
import pyarrow.compute as pc
from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from mast.config import load_partnership
from mast.feeds import store
from mast.feeds.events import FeedIngested, UploadCompletedEvent
from mast.feeds.parse import ParsedExtract, parse_upload
from mast.feeds.receipt import FeedTotals, Receipt, receipt_json
from mast.feeds.retention import DEFAULT_RETENTION_DAYS, retained, retention_days, snapshot_feeds
from mast.feeds.supersede import changed_versions, content_hash, next_state

logger = Logger(child=True)

REPORTS: Final = "reports"
LEASE_SECONDS: Final = 900
MATCH_GROUP: Final = "index"


class FeedBusy(RuntimeError):
    """Another upload of the same feed is being ingested; the queue delivers this one again later."""


@dataclass(frozen=True)
class IngestSettings:
    """Where ingest reads and writes: the template's Globals environment."""

    landing_bucket: str
    raw_bucket: str
    curated_bucket: str
    control_table: str
    match_queue_url: str
    #: days a record is kept after its last involvement (:mod:`mast.feeds.retention`)
    retention_days: int = DEFAULT_RETENTION_DAYS

    @classmethod
    def from_env(cls) -> IngestSettings:
        env = os.environ
        return cls(env["LANDING_BUCKET"], env["RAW_BUCKET"], env["CURATED_BUCKET"], env["CONTROL_TABLE"],
                   env["MATCH_QUEUE_URL"], retention_days(env))  # fmt: skip


@dataclass(frozen=True)
class UploadLocation:
    """``<partner>/<feed>/<file>`` in the landing bucket (the SFTP user's home is ``<partner>/<feed>/``)."""

    partner: str
    feed: str
    file_name: str

    @classmethod
    def of(cls, key: str) -> UploadLocation | None:
        parts = key.split("/")
        if len(parts) < 3 or not parts[-1] or parts[2] == REPORTS:
            return None  # not in a feed folder, a folder marker, or our own receipt
        return cls(parts[0], parts[1], "/".join(parts[2:]))

    def report_key(self, suffix: str) -> str:
        return f"{self.partner}/{self.feed}/{REPORTS}/{self.file_name}{suffix}"


@dataclass(frozen=True)
class IngestOutcome:
    """What one call did: the receipt written, and the versions announced (if any)."""

    receipt: Receipt
    announced: FeedIngested | None
    retried_after_done: bool = False


def ingest_upload(
    upload: UploadCompletedEvent,
    settings: IngestSettings | None = None,
    *,
    session: boto3.session.Session | None = None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> IngestOutcome | None:
    """Ingest the upload the event names (see the module docstring). ``None``: nothing to do."""
    settings = settings or IngestSettings.from_env()
    session = session or boto3.session.Session()
    return _Ingest(settings, session, now).run(upload.bucket, upload.key)


class _Ingest:
    def __init__(self, settings: IngestSettings, session: boto3.session.Session,
                 now: Callable[[], dt.datetime]) -> None:  # fmt: skip
        self.s = settings
        self.s3 = session.client("s3")
        self.ddb = session.client("dynamodb")
        self.sqs = session.client("sqs")
        self.now = now

    def run(self, bucket: str, key: str) -> IngestOutcome | None:
        where = UploadLocation.of(key)
        if where is None:
            logger.info("not a feed upload: ignored", extra={"key_depth": key.count("/")})
            return None
        try:
            obj = self.s3.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404"):
                logger.info("upload no longer in landing: already ingested", extra={"feed": where.feed})
                return None
            raise
        data: bytes = obj["Body"].read()
        uploaded_at: dt.datetime = obj["LastModified"]
        sha = content_hash(data)
        with self._lease(where.feed):
            claim = self._claim(where, sha, key, uploaded_at)
            if claim.get("status") == "done" and '"status":"quarantined"' not in claim.get("receipt", ""):
                done_at = dt.datetime.fromisoformat(claim["done_at"])
                if claim.get("landing_key") == key and uploaded_at <= done_at:
                    # a retry after the work was finished: only the last step is left
                    self.s3.delete_object(Bucket=bucket, Key=key)
                    return IngestOutcome(Receipt.model_validate_json(claim["receipt"]), None, retried_after_done=True)
                return self._already_ingested(bucket, key, where, data, sha, claim)
            return self._ingest(bucket, key, where, data, sha, claim)

    # --- the steps ---------------------------------------------------------------------------
    def _ingest(self, bucket: str, key: str, where: UploadLocation, data: bytes, sha: str,
                claim: dict[str, str]) -> IngestOutcome:  # fmt: skip
        ingest_id, ingest_date = claim["ingest_id"], dt.date.fromisoformat(claim["ingest_date"])
        parsed = self._parse(where, data, ingest_id, ingest_date)
        self._archive(bucket, key, where, ingest_id, quarantined=parsed.quarantined)
        announced = None
        receipt = parsed.receipt
        if not parsed.quarantined:
            # the feed's state as earlier ingests left it: one object, read once
            previous = store.read_current_records(self.s.curated_bucket, [where.feed], before_ingest=ingest_id)
            previous = previous.select(parsed.records.column_names)
            versions, not_found = _versions(parsed, previous, ingest_id, ingest_date)
            changes = versions.filter(pa.array(changed_versions(versions, previous)))
            # records past retention leave the feed's state (and so the curated data and the index)
            state = retained(next_state(previous, versions), self.now().date(), self.s.retention_days,
                             snapshot_feeds(), feed=where.feed)
            del previous
            bucket_c = self.s.curated_bucket
            if versions.num_rows:
                store.write_versions(bucket_c, store.records_key(where.partner, where.feed, ingest_date, ingest_id),
                                     versions)  # fmt: skip
            uri = None
            if changes.num_rows:
                uri = store.write_versions(bucket_c, store.changes_key(where.partner, where.feed, ingest_date,
                                                                       ingest_id), changes)  # fmt: skip
            store.write_versions(bucket_c, store.state_key(where.partner, where.feed, ingest_id), state)
            totals = feed_totals(state)
            del state, versions
            update: dict[str, Any] = {"feed_totals": totals}
            if not_found:
                update["note"] = _join_notes(receipt.note, (
                    f"{len(not_found)} withdrawal(s) named a case ref MAST does not hold "
                    f"(nothing to withdraw): {', '.join(not_found[:20])}"))  # fmt: skip
            receipt = receipt.model_copy(update=update)
            self._feed_state(where, receipt, totals)
            if uri is not None:
                announced = FeedIngested(feed=where.feed, partner=where.partner, ingest_id=ingest_id,
                                         records_uri=uri, versions=changes.num_rows)  # fmt: skip
                self.sqs.send_message(QueueUrl=self.s.match_queue_url, MessageBody=announced.model_dump_json(),
                                      MessageGroupId=MATCH_GROUP, MessageDeduplicationId=ingest_id)  # fmt: skip
        else:
            self._feed_state(where, receipt, None)
        self._write_receipt(bucket, where, receipt, parsed.rejected_csv())
        self._finish(bucket, key, where, sha, receipt)
        if not parsed.quarantined:
            self._retire_states(where, ingest_id)
        logger.info("upload ingested", extra={"feed": where.feed, "ingest_id": ingest_id, "status": receipt.status,
                                              "accepted": receipt.rows_accepted, "rejected": receipt.rows_rejected})  # fmt: skip
        return IngestOutcome(receipt, announced)

    def _already_ingested(self, bucket: str, key: str, where: UploadLocation, data: bytes, sha: str,
                          claim: dict[str, str]) -> IngestOutcome:  # fmt: skip
        first = Receipt.model_validate_json(claim["receipt"])
        at = self.now()
        receipt = Receipt(
            file_name=where.file_name, feed=first.feed, partner=first.partner,
            ingest_id=store.new_ingest_id(at, sha), ingest_date=at.date(), content_sha256=sha,
            size_bytes=len(data), status="already_ingested", mode=first.mode,
            feed_totals=self._totals(where) if first.status != "quarantined" else None,
            note=(f"the same file (same SHA-256) was ingested before as {first.file_name!r} "
                  f"(ingest {first.ingest_id}, status {first.status}); nothing changed"),
        )  # fmt: skip
        self._archive(bucket, key, where, receipt.ingest_id, quarantined=False)
        self._write_receipt(bucket, where, receipt, None)
        self.s3.delete_object(Bucket=bucket, Key=key)
        logger.info("same file uploaded again: nothing changed", extra={"feed": where.feed})
        return IngestOutcome(receipt, None)

    def _parse(self, where: UploadLocation, data: bytes, ingest_id: str, ingest_date: dt.date) -> ParsedExtract:
        feed = next((f for f in load_partnership().feeds if f.id == where.feed), None)
        feed_id = where.feed if feed is not None and feed.partner == where.partner else f"{where.partner}/{where.feed}"
        return parse_upload(data, feed_id, ingest_id=ingest_id, file_name=where.file_name, ingest_date=ingest_date)

    def _archive(self, bucket: str, key: str, where: UploadLocation, ingest_id: str, *, quarantined: bool) -> None:
        shelf = "quarantine" if quarantined else "archive"
        self.s3.copy_object(Bucket=self.s.raw_bucket, Key=f"{shelf}/{where.partner}/{where.feed}/{ingest_id}/{where.file_name}",
                            CopySource={"Bucket": bucket, "Key": key})  # fmt: skip

    def _write_receipt(self, bucket: str, where: UploadLocation, receipt: Receipt, rejected: bytes | None) -> None:
        self.s3.put_object(Bucket=bucket, Key=where.report_key(".report.json"), Body=receipt_json(receipt),
                           ContentType="application/json")  # fmt: skip
        if rejected is None:  # nothing parsed: an empty CSV would suggest every row was fine
            from mast.feeds.csvout import table_csv
            from mast.feeds.receipt import REJECTED_LEAD

            rejected = table_csv(pa.table({c: pa.array([], pa.string()) for c in REJECTED_LEAD if c != "case_ref"}),
                                 crlf=True, bom=True)  # fmt: skip
        self.s3.put_object(Bucket=bucket, Key=where.report_key(".rejected.csv"), Body=rejected,
                           ContentType="text/csv; charset=utf-8")  # fmt: skip

    def _feed_state(self, where: UploadLocation, receipt: Receipt, totals: FeedTotals | None) -> None:
        at = self.now().isoformat()
        names = {"#s": "last_status"}
        values: dict[str, Any] = {":u": {"S": at}, ":f": {"S": where.file_name}, ":s": {"S": receipt.status},
                                  ":p": {"S": where.partner}}  # fmt: skip
        sets = ["last_upload_at = :u", "last_upload_file = :f", "#s = :s", "partner = if_not_exists(partner, :p)"]
        if receipt.rows_accepted > 0:
            sets.append("last_accepted_at = :u")
            sets.append("last_accepted = :d")
            values[":d"] = {"S": receipt.ingest_date.isoformat()}
        if totals is not None:
            sets.append("totals = :t")
            values[":t"] = {"M": {k: {"N": str(v)} for k, v in totals.model_dump().items() if v is not None}}
        self.ddb.update_item(TableName=self.s.control_table, Key={"pk": {"S": f"FEED#{where.feed}"}, "sk": {"S": "STATE"}},
                             UpdateExpression="SET " + ", ".join(sets), ExpressionAttributeNames=names,
                             ExpressionAttributeValues=values)  # fmt: skip

    def _totals(self, where: UploadLocation) -> FeedTotals | None:
        """The feed's running totals, from its state item (nothing read from the curated data)."""
        item = self.ddb.get_item(TableName=self.s.control_table, ConsistentRead=True,
                                 Key={"pk": {"S": f"FEED#{where.feed}"}, "sk": {"S": "STATE"}}).get("Item", {})
        totals = item.get("totals", {}).get("M")
        return FeedTotals(**{k: int(v["N"]) for k, v in totals.items()}) if totals else None

    def _retire_states(self, where: UploadLocation, ingest_id: str) -> None:
        """Keep the feed's newest state and the one before it (a retry of the newest ingest starts
        from it); older ones are deleted. Best effort: a state left behind is only storage."""
        try:
            store.retire_states(self.s.curated_bucket, where.partner, where.feed, ingest_id)
        except ClientError:
            logger.warning("old feed states not deleted", extra={"feed": where.feed})

    def _finish(self, bucket: str, key: str, where: UploadLocation, sha: str, receipt: Receipt) -> None:
        self.ddb.update_item(
            TableName=self.s.control_table, Key=_claim_key(where.feed, sha),
            UpdateExpression="SET #s = :done, done_at = :at, receipt = :r",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":done": {"S": "done"}, ":at": {"S": self.now().isoformat()},
                                       ":r": {"S": receipt.model_dump_json()}},
        )  # fmt: skip
        self.s3.delete_object(Bucket=bucket, Key=key)

    # --- claims and leases -----------------------------------------------------------------
    def _claim(self, where: UploadLocation, sha: str, key: str, uploaded_at: dt.datetime) -> dict[str, str]:
        at = self.now()
        item = {"ingest_id": store.new_ingest_id(at, sha), "ingest_date": at.date().isoformat(),
                "status": "started", "landing_key": key, "uploaded_at": uploaded_at.isoformat()}  # fmt: skip
        try:
            self.ddb.put_item(TableName=self.s.control_table,
                              Item={**_claim_key(where.feed, sha), **{k: {"S": v} for k, v in item.items()}},
                              ConditionExpression="attribute_not_exists(pk)")  # fmt: skip
            return item
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
        stored = self.ddb.get_item(TableName=self.s.control_table, Key=_claim_key(where.feed, sha), ConsistentRead=True)["Item"]
        return {k: v["S"] for k, v in stored.items() if "S" in v}

    def _lease(self, feed: str) -> _Lease:
        return _Lease(self.ddb, self.s.control_table, feed)


class _Lease:
    """One ingest per feed at a time; a lease, not a lock, so a crashed holder never blocks for long."""

    def __init__(self, ddb: Any, table: str, feed: str) -> None:
        self.ddb, self.table, self.owner = ddb, table, uuid.uuid4().hex
        self.key = {"pk": {"S": f"FEED#{feed}"}, "sk": {"S": "LEASE"}}

    def __enter__(self) -> _Lease:
        now = int(time.time())
        try:
            self.ddb.put_item(
                TableName=self.table,
                Item={**self.key, "owner": {"S": self.owner}, "until": {"N": str(now + LEASE_SECONDS)}},
                ConditionExpression="attribute_not_exists(pk) OR #u < :now",
                ExpressionAttributeNames={"#u": "until"}, ExpressionAttributeValues={":now": {"N": str(now)}},
            )  # fmt: skip
        except ClientError as error:
            if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise FeedBusy("another upload of this feed is being ingested") from None
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.ddb.delete_item(TableName=self.table, Key=self.key, ConditionExpression="#o = :me",
                                 ExpressionAttributeNames={"#o": "owner"},
                                 ExpressionAttributeValues={":me": {"S": self.owner}})  # fmt: skip
        except ClientError:
            logger.warning("lease already taken over")


def _versions(parsed: ParsedExtract, previous: pa.Table, ingest_id: str,
              ingest_date: dt.date) -> tuple[pa.Table, list[str]]:  # fmt: skip
    """The accepted rows plus the versions they imply for the feed's ``previous`` records (end
    dates, withdrawals); and the withdrawals that named no record MAST holds."""
    accepted = parsed.records
    snapshot = parsed.receipt.mode == "snapshot"
    in_file = set(accepted.column("record_id").to_pylist()) if parsed.withdrawals else set()
    earlier_withdrawn = [r for r in parsed.withdrawals if r not in in_file]
    if not snapshot and not earlier_withdrawn:
        return accepted, []
    parts = [accepted]
    if snapshot:
        open_ = pc.and_(pc.is_null(previous.column("end_date")), pc.invert(pc.fill_null(previous.column("withdrawn"), False)))
        gone = pc.and_(open_, pc.invert(pc.is_in(previous.column("record_id"), value_set=accepted.column("record_id"))))
        ended = previous.filter(gone)
        ended = _set(ended, "end_date", pa.array([ingest_date] * ended.num_rows, pa.date32()))
        parts.append(_set(ended, "ingest_id", pa.array([ingest_id] * ended.num_rows, pa.string())))
    not_found: list[str] = []
    if earlier_withdrawn:
        hit = pc.is_in(previous.column("record_id"), value_set=pa.array(earlier_withdrawn, pa.string()))
        withdrawn = previous.filter(pc.and_(hit, pc.invert(pc.fill_null(previous.column("withdrawn"), False))))
        held = set(previous.filter(hit).column("record_id").to_pylist())
        not_found = sorted(r.split(":", 1)[-1] for r in earlier_withdrawn if r not in held)
        if snapshot:  # a withdrawn record is not also end-dated
            parts = [p.filter(pc.invert(pc.is_in(p.column("record_id"), value_set=withdrawn.column("record_id"))))
                     for p in parts]  # fmt: skip
        withdrawn = _set(withdrawn, "withdrawn", pa.array([True] * withdrawn.num_rows, pa.bool_()))
        parts.append(_set(withdrawn, "ingest_id", pa.array([ingest_id] * withdrawn.num_rows, pa.string())))
    return pa.concat_tables(parts), not_found


def feed_totals(current: pa.Table) -> FeedTotals:
    """A feed's totals from the current version of each of its records."""
    withdrawn = pc.fill_null(current.column("withdrawn"), False)
    ended = pc.and_(pc.is_valid(current.column("end_date")), pc.invert(withdrawn))
    n_withdrawn = int(pc.sum(withdrawn).as_py() or 0)
    n_ended = int(pc.sum(ended).as_py() or 0)
    return FeedTotals(records=current.num_rows, searchable=current.num_rows - n_withdrawn - n_ended,
                      ended=n_ended, withdrawn=n_withdrawn)  # fmt: skip


def _claim_key(feed: str, sha: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"FEED#{feed}"}, "sk": {"S": f"UPLOAD#{sha}"}}


def _set(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def _join_notes(*notes: str | None) -> str:
    return " ".join(n for n in notes if n)
