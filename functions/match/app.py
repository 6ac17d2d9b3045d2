"""Match function: link each ingested feed into people and addresses, and write the index.

Triggered by the FIFO match queue (one message group: index writes are serial; a batch of up to
ten messages, in order, is linked in one run):
``feed-ingested`` from ingest, ``rebuild`` and ``relink`` from the API or an operator
(:mod:`mast.index.messages`). The work is :func:`mast.index.batches.link_batch`. A message that
cannot be linked is reported back as a batch item failure (``ReportBatchItemFailures``) while the
rest are linked; its reason is noted for the operator (:mod:`mast.deadletters`), and SQS delivers
it again and, after the queue's retries, moves it to the dead-letter queue (alarmed). When every
message of a batch fails the handler raises, so the whole batch is retried.

Also invoked by the rebuild state machine's ``CatchUp`` task (an event ``{"catch_up": {...}}``): what
was ingested while the rebuild ran is linked into the imported version before the switch
(:func:`mast.index.imported.catch_up_version`), with the code and rights a day's link has.

Also fired once a day by its ``AlertDigest`` schedule (an EventBridge scheduled event): the daily
alert digest of the organisations that chose one (:func:`mast.alerts.nudge.send_digests`).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()


class BatchFailed(RuntimeError):
    """No message of the batch could be linked (their reasons are logged and noted)."""


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from mast.deadletters import note_failure
    from mast.index.batches import link_batch, options_from_env  # pyarrow and linkage: on first use
    from mast.index.linking import MatchSettings

    if event.get("source") == "aws.events" and event.get("detail-type") == "Scheduled Event":
        return _digest(event)
    if "catch_up" in event:
        return _catch_up(event["catch_up"])
    records = event.get("Records", [])
    if not records:
        return {}
    settings = MatchSettings.from_env()
    outcomes, failed = link_batch(records, settings, options=options_from_env())
    for outcome in outcomes:
        logger.info("index updated", extra={
            "mode": outcome.mode, "version": outcome.version, "records": outcome.records, "people": outcome.people,
            "linked": outcome.linked, "removed": outcome.removed, "items_put": outcome.items_put,
            "items_deleted": outcome.items_deleted, "review_pairs": outcome.review_pairs, "alerts": outcome.alerts,
            "seconds": outcome.seconds,
        })
    if not failed:
        return {}
    by_id = {str(r["messageId"]): r for r in records}
    import boto3

    ddb = boto3.client("dynamodb")
    for failure in failed:
        record = by_id[failure.message_id]
        logger.error("message not linked", extra={"message_id": failure.message_id, "reason": failure.reason})
        try:
            count = (record.get("attributes") or {}).get("ApproximateReceiveCount")
            note_failure(ddb, settings.control_table, str(record.get("eventSourceARN", ":match")).rsplit(":", 1)[-1],
                         failure, int(count) if count else None)
        except Exception:  # the failure itself is what matters: it goes back to the queue regardless
            logger.exception("could not note why a message failed", extra={"message_id": failure.message_id})
    if len(failed) == len(records):
        raise BatchFailed(f"{len(failed)} message(s) not linked: {failed[0].reason}")
    return {"batchItemFailures": [{"itemIdentifier": f.message_id} for f in failed]}


def _digest(event: dict[str, Any]) -> dict[str, Any]:
    """The daily alert digest, for the day up to the hour the schedule names (``time``: its firing)."""
    import datetime as dt
    import os

    import boto3

    from mast.alerts.nudge import send_digests
    from mast.config import load_partnership

    at = event.get("time")
    now = dt.datetime.fromisoformat(at.replace("Z", "+00:00")) if at else dt.datetime.now(dt.UTC)
    sent = send_digests(load_partnership(), os.environ, boto3.client("ses"), boto3.client("dynamodb"), now)
    logger.info("alert digest sent", extra={"mails": sent, "at": now.isoformat()})
    return {"mails": sent}


def _catch_up(given: Any) -> dict[str, Any]:
    """The rebuild's catch-up (a malformed input raises pydantic's ValidationError: not retried); past
    FargateRebuildFrom records the state machine runs the same step as a task."""
    from mast.index.rebuild import run_step

    caught = run_step({**given, "step": "catch_up"})
    logger.info("rebuild caught up", extra=caught)
    return caught
