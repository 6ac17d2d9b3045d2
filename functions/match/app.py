"""Match function: link each ingested feed into people and addresses, and write the index.

Triggered by the FIFO match queue (one message group: index writes are serial; a batch of up to
ten messages, in order, is linked in one run):
``feed-ingested`` from ingest, ``rebuild`` and ``relink`` from the API or an operator
(:mod:`mast.index.messages`). The work is :func:`mast.index.linking.run_match`. A message that
fails is raised, so SQS delivers it again and, after the queue's retries, moves it to the
dead-letter queue (alarmed); a message that is not one of ours fails the same way, loudly.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from mast.index.messages import parse_match_message

logger = Logger()


@logger.inject_lambda_context(log_event=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from mast.index.linking import MatchSettings, run_match  # pyarrow and linkage: on first use

    messages = []
    for record in event.get("Records", []):
        try:
            messages.append(parse_match_message(record["body"]))
        except ValidationError as error:
            logger.error("not a match message", extra={"message_id": record.get("messageId"),
                                                       "errors": [e["type"] for e in error.errors()]})
            raise
    if not messages:
        return {}
    outcome = run_match(messages, MatchSettings.from_env())
    logger.info("index updated", extra={
        "messages": len(messages), "message_types": sorted({m.type for m in messages}), "mode": outcome.mode,
        "version": outcome.version, "records": outcome.records, "people": outcome.people, "linked": outcome.linked,
        "removed": outcome.removed, "items_put": outcome.items_put, "items_deleted": outcome.items_deleted,
        "seconds": outcome.seconds,
    })
    return {}
