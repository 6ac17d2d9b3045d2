"""Ingest function: a partner's completed SFTP upload → validated Parquet, raw archive, receipt.

Thin by rule: the work is in :mod:`mast.feeds`. Triggered by Transfer Family's upload-completed
event via EventBridge and SQS (never a bare object-created event: an interrupted upload never
fires it).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, single_metric
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from mast.feeds.events import UploadCompletedEvent

logger = Logger()
processor = BatchProcessor(event_type=EventType.SQS)
#: rows accepted per feed (CloudWatch, by the log's embedded metric format: no call, no permission);
#: each feed's overdue alarm in template.yaml fires when it has none for longer than the feed's cadence
FEED_METRIC = "FeedRowsAccepted"


def record_accepted(feed: str, rows: int) -> None:
    """The feed sent data: the metric its overdue alarm watches."""
    with single_metric(name=FEED_METRIC, unit=MetricUnit.Count, value=rows, namespace="MAST") as metric:
        metric.add_dimension(name="Feed", value=feed)


def _record_handler(record: SQSRecord) -> None:
    try:
        upload = UploadCompletedEvent.from_eventbridge_json(record.body)
        logger.info("upload completed", extra={"bucket": upload.bucket, "key": upload.key, "bytes": upload.bytes})
        from mast.feeds.ingest import ingest_upload  # pyarrow: imported on first use, not at cold start

        outcome = ingest_upload(upload)
    except Exception as error:
        _note(record, error)
        raise
    if outcome is not None and outcome.receipt.feed and outcome.receipt.rows_accepted > 0:
        record_accepted(outcome.receipt.feed, outcome.receipt.rows_accepted)


def _note(record: SQSRecord, error: Exception) -> None:
    """Keep why this message failed for `mast dlq show` (it is retried, then dead-lettered)."""
    import os

    import boto3

    from mast.deadletters import FailedMessage, note_failure, reason_of

    failure = FailedMessage(record.message_id, reason_of(error))
    logger.error("upload not ingested", extra={"message_id": record.message_id, "reason": failure.reason})
    try:
        count = record.attributes.approximate_receive_count
        note_failure(boto3.client("dynamodb"), os.environ["CONTROL_TABLE"], record.event_source_arn.rsplit(":", 1)[-1],
                     failure, int(count) if count else None)
    except Exception:  # the failure itself is what matters
        logger.exception("could not note why a message failed", extra={"message_id": record.message_id})


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(event=event, record_handler=_record_handler, processor=processor, context=context)
