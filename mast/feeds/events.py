"""The upload-completed event, as Transfer Family puts it on EventBridge and SQS delivers it."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class UploadCompletedEvent(BaseModel):
    """Where the completed upload is: ``file-path`` is ``/<bucket>/<key>``."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    server_id: str = Field(alias="server-id")
    username: str
    file_path: str = Field(alias="file-path")
    bytes: int = 0

    @property
    def bucket(self) -> str:
        return self.file_path.lstrip("/").split("/", 1)[0]

    @property
    def key(self) -> str:
        return self.file_path.lstrip("/").split("/", 1)[1]

    @classmethod
    def from_eventbridge_json(cls, body: str) -> UploadCompletedEvent:
        """Parse the EventBridge envelope (an SQS message body) and validate its detail."""
        envelope = json.loads(body)
        if envelope.get("detail-type") != "SFTP Server File Upload Completed":
            raise ValueError(f"not an upload-completed event: {envelope.get('detail-type')!r}")
        return cls.model_validate(envelope["detail"])


class FeedIngested(BaseModel):
    """What ingest tells the match function (SQS FIFO, one message group: index writes are serial).

    ``records_uri`` is the Parquet file of the record versions this ingest *changed*
    (``changes/…``, :mod:`mast.feeds.store`): new records, changed ones, and the versions that
    end-date records missing from a snapshot or withdraw earlier rows; never a row re-sent
    unchanged, so the match function links only what changed. ``versions`` counts them. An
    ingest that changed nothing, or a quarantined file, is never announced (``None`` is kept for
    messages sent before).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["feed-ingested"] = "feed-ingested"
    feed: str
    partner: str
    ingest_id: str
    records_uri: str | None
    versions: int = Field(ge=0)
