"""Deliver the events the template wires, as Lambda's event source mappings would.

EventBridge rules are moto's own (the SFTP gateway puts Transfer Family's event on the bus and
moto's rule delivers it to the ingest queue). What moto does not run is Lambda's poller, so here
one thread per event source mapping polls its SQS queue or DynamoDB stream and invokes the
function (in its own environment: :mod:`infra.local.functions`). A batch that fails is retried as
Lambda retries it. SQS: the failed messages are left alone, so they become visible again when the
queue's ``VisibilityTimeout`` ends (a run stopped at its ``Timeout`` included), and moto's redrive
moves a message received ``maxReceiveCount`` times to the dead-letter queue; with
``ReportBatchItemFailures`` only the messages the function names as failed are retried, the rest
deleted (without it, a result's ``batchItemFailures`` is ignored, as Lambda ignores it). Streams: up
to ``MaximumRetryAttempts``, then the on-failure destination gets the batch's description, as
Lambda sends it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from infra.local.provision import EventSourceSpec

logger = logging.getLogger(__name__)

Invoke = Callable[[str, dict[str, Any]], Any]


class EventRouter:
    """One polling thread per event source mapping; :meth:`idle` says when nothing is in flight."""

    def __init__(self, session: Any, sources: list[EventSourceSpec], invoke: Invoke, region: str) -> None:
        self.session = session
        self.sources = sources
        self.invoke = invoke
        self.region = region
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._busy_lock = threading.Lock()
        self._paused: set[str] = set()

    def start(self) -> None:
        for source in self.sources:
            service = source.source_arn.split(":")[2]
            if service == "sqs":
                target = self._poll_sqs
            elif service == "dynamodb":
                target = self._poll_stream
            else:
                raise RuntimeError(f"event source {source.logical_id}: {service} is not supported locally")
            thread = threading.Thread(target=target, args=(source,), name=f"esm-{source.logical_id}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def pause(self, function: str) -> None:
        """Stop polling for ``function`` (as an event source mapping set ``Enabled: false``): its
        messages wait in their queues until :meth:`resume`."""
        self._paused.add(function)

    def resume(self, function: str) -> None:
        self._paused.discard(function)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def _invoke(self, source: EventSourceSpec, event: dict[str, Any]) -> set[str] | None:
        """Invoke; ``None`` if the whole batch failed, else the item ids the function reported as
        failed (``batchItemFailures``, as with ``ReportBatchItemFailures``: SQS message ids,
        stream sequence numbers); empty when all succeeded."""
        with self._busy_lock:
            self._busy += 1
        try:
            result = self.invoke(source.function, event)
        except Exception:
            logger.exception("function failed on a batch", extra={"function": source.function})
            return None
        finally:
            with self._busy_lock:
                self._busy -= 1
        failures = result.get("batchItemFailures") if isinstance(result, dict) else None
        if not source.report_batch_item_failures:
            return set()
        return {str(f["itemIdentifier"]) for f in failures or []}

    @property
    def busy(self) -> bool:
        with self._busy_lock:
            return self._busy > 0

    # -- SQS -----------------------------------------------------------------------------------

    def _poll_sqs(self, source: EventSourceSpec) -> None:
        sqs = self.session.client("sqs")
        name = source.source_arn.rsplit(":", 1)[1]
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        while not self._stop.is_set():
            if source.function in self._paused:
                self._stop.wait(0.2)
                continue
            try:
                response = sqs.receive_message(
                    QueueUrl=url,
                    MaxNumberOfMessages=min(source.batch_size, 10),
                    WaitTimeSeconds=1,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("polling failed", extra={"queue": name})
                time.sleep(1)
                continue
            messages = response.get("Messages", [])
            if not messages:
                continue
            event = {"Records": [self._sqs_record(m, source.source_arn) for m in messages]}
            failed = self._invoke(source, event)
            done = [m for m in messages if failed is not None and m["MessageId"] not in failed]
            if done:
                sqs.delete_message_batch(
                    QueueUrl=url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            # The rest stay in flight until the queue's visibility timeout ends, then are received
            # again (and dead-lettered after maxReceiveCount receives), as with Lambda's poller.

    def _sqs_record(self, message: dict[str, Any], arn: str) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
            "awsRegion": self.region,
        }

    # -- DynamoDB streams ----------------------------------------------------------------------

    def _poll_stream(self, source: EventSourceSpec) -> None:
        streams = self.session.client("dynamodbstreams")
        shard_iterators: dict[str, str] = {}
        while not self._stop.is_set():
            try:
                description = streams.describe_stream(StreamArn=source.source_arn)["StreamDescription"]
                for shard in description.get("Shards", []):
                    shard_id = shard["ShardId"]
                    if shard_id not in shard_iterators:
                        shard_iterators[shard_id] = streams.get_shard_iterator(
                            StreamArn=source.source_arn, ShardId=shard_id, ShardIteratorType="TRIM_HORIZON"
                        )["ShardIterator"]
                for shard_id, iterator in list(shard_iterators.items()):
                    response = streams.get_records(ShardIterator=iterator, Limit=source.batch_size)
                    records = response.get("Records", [])
                    if records:
                        self._deliver_stream_batch(source, records)
                    shard_iterators[shard_id] = response.get("NextShardIterator") or iterator
            except Exception:
                if self._stop.is_set():
                    return
                logger.exception("stream polling failed", extra={"source": source.logical_id})
            self._stop.wait(0.5)

    def _deliver_stream_batch(self, source: EventSourceSpec, records: list[dict[str, Any]]) -> None:
        for record in records:
            record.setdefault("eventSourceARN", source.source_arn)
            record.setdefault("awsRegion", self.region)
            # boto3 parses the stream's creation time into a datetime; Lambda's event carries it as
            # epoch seconds (a JSON number), and a datetime cannot cross to the worker as JSON
            change = record.get("dynamodb") or {}
            created = change.get("ApproximateCreationDateTime")
            if isinstance(created, dt.datetime):
                change["ApproximateCreationDateTime"] = int(created.timestamp())
        attempts = (source.maximum_retry_attempts if source.maximum_retry_attempts is not None else 3) + 1
        for attempt in range(attempts):
            failed = self._invoke(source, {"Records": records})
            if failed is not None and not failed:
                return
            if failed:  # retry from the first record reported failed, as Lambda does
                at = next((i for i, r in enumerate(records) if r["dynamodb"].get("SequenceNumber") in failed), 0)
                records = records[at:]
            self._stop.wait(min(0.2 * 2**attempt, 2))
        if source.on_failure_arn:
            sqs = self.session.client("sqs")
            url = sqs.get_queue_url(QueueName=source.on_failure_arn.rsplit(":", 1)[1])["QueueUrl"]
            sqs.send_message(
                QueueUrl=url,
                MessageBody=json.dumps(
                    {
                        "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": source.function},
                        "DDBStreamBatchInfo": {
                            "streamArn": source.source_arn,
                            "startSequenceNumber": records[0]["dynamodb"].get("SequenceNumber"),
                            "endSequenceNumber": records[-1]["dynamodb"].get("SequenceNumber"),
                            "batchSize": len(records),
                        },
                    },
                    default=str,
                ),
            )
