"""The local stack's event router hands a function what Lambda's event source mapping would."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from infra.local.provision import EventSourceSpec
from infra.local.router import EventRouter


def test_a_stream_batch_reaches_the_function_as_json_with_its_creation_time_in_epoch_seconds() -> None:
    """boto3 parses a stream record's ApproximateCreationDateTime into a datetime; Lambda delivers
    epoch seconds. Left a datetime, the event could not cross to the function's worker (as JSON),
    and the audit's archive to Parquet stopped on the local stack."""
    received: list[str] = []

    def invoke(function: str, event: dict[str, Any]) -> dict[str, Any]:
        received.append(json.dumps(event))  # what the worker does with every event
        return {"batchItemFailures": []}

    source = EventSourceSpec("AuditExport", "audit", "arn:aws:dynamodb:eu-west-2:1:table/audit/stream/x", 10,
                             None, 0, report_batch_item_failures=True)
    created = dt.datetime(2026, 12, 4, 21, 30, tzinfo=dt.UTC)
    records = [{"eventID": "1", "eventName": "INSERT",
                "dynamodb": {"ApproximateCreationDateTime": created, "SequenceNumber": "100",
                             "NewImage": {"pk": {"S": "a"}}}}]
    EventRouter(session=None, sources=[source], invoke=invoke, region="eu-west-2")._deliver_stream_batch(source, records)
    assert len(received) == 1
    record = json.loads(received[0])["Records"][0]
    assert record["dynamodb"]["ApproximateCreationDateTime"] == int(created.timestamp())
    assert record["eventSourceARN"] == source.source_arn and record["awsRegion"] == "eu-west-2"
