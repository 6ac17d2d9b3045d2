"""What the match queue carries: a feed was ingested, or a rebuild or relink was asked for.

All go on ``MATCH_QUEUE_URL`` (FIFO) in message group ``index``, so index writes stay serial:

* ``{"type": "feed-ingested", ...}`` — :class:`mast.feeds.events.FeedIngested`, sent by ingest;
* ``{"type": "rebuild", "reason": ...}`` — link everything again into a new version (retrains);
* ``{"type": "relink", "record_ids": [...]}`` — link these records again, incrementally, against
  the live version: what the API sends after a steward's decision about them, so the decision
  shows at once without waiting for a rebuild.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from mast.feeds.events import FeedIngested

MESSAGE_GROUP = "index"


class RebuildRequested(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["rebuild"] = "rebuild"
    reason: str = Field(default="", max_length=200)


class RelinkRequested(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["relink"] = "relink"
    record_ids: list[str] = Field(min_length=1, max_length=1000)


MatchMessage = Annotated[FeedIngested | RebuildRequested | RelinkRequested, Field(discriminator="type")]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(MatchMessage)


def parse_match_message(body: str) -> FeedIngested | RebuildRequested | RelinkRequested:
    """Validate a queue message body (raises ``pydantic.ValidationError`` for anything else)."""
    return _ADAPTER.validate_json(body)


def send_match_message(message: RebuildRequested | RelinkRequested, queue_url: str, client: Any = None) -> None:
    """Put a rebuild or relink request on the match queue (after the ingests already queued)."""
    if client is None:
        import boto3

        client = boto3.client("sqs")
    client.send_message(QueueUrl=queue_url, MessageBody=json.dumps(message.model_dump()),
                        MessageGroupId=MESSAGE_GROUP, MessageDeduplicationId=uuid.uuid4().hex)
