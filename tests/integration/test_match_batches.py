"""The match function's batches: one message that cannot be linked does not hold back the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mast.deadletters import failure_notes
from mast.index import IndexReader
from tests.conftest import load_function_app
from tests.integration.test_match import aws, ingest_day  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parents[2]


def _match_app() -> Any:
    return load_function_app("match", "match_app_batches")


class Context:
    function_name, memory_limit_in_mb, invoked_function_arn, aws_request_id = "match", 1024, "arn", "req"


def test_a_message_that_cannot_be_linked_is_reported_alone_with_its_reason_and_the_rest_are_linked(
        aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    police = ingest_day(aws, 0, feeds=("wm-police",))[0]
    fire = ingest_day(aws, 0, feeds=("wm-fire",))[0]
    gone = police.model_copy(update={"ingest_id": "gone", "records_uri": police.records_uri.replace(".parquet", "-gone.parquet")})
    for name, value in {"CURATED_BUCKET": "t-curated", "INDEX_TABLE": "t-index", "CONTROL_TABLE": "t-control",
                        "KEY_SALT_SECRET_ARN": aws["match"].key_salt_secret_arn}.items():
        monkeypatch.setenv(name, value)
    arn = "arn:aws:sqs:eu-west-2:123456789012:t-match.fifo"

    def event(*messages: tuple[str, Any]) -> dict[str, Any]:
        return {"Records": [{"messageId": mid, "body": m.model_dump_json(), "eventSourceARN": arn,
                             "attributes": {"ApproximateReceiveCount": "2"}} for mid, m in messages]}

    app = _match_app()
    assert app.handler(event(("m-police", police)), Context()) == {}  # the first link: a rebuild
    # then an incremental batch: one message whose records cannot be read, one fine
    result = app.handler(event(("m-gone", gone), ("m-fire", fire)), Context())
    assert result == {"batchItemFailures": [{"itemIdentifier": "m-gone"}]}
    reader = IndexReader("t-index", aws["ddb"])
    linked = set()
    for message in (police, fire):
        from mast.feeds import store

        ids = store.read_ingest_records(message.records_uri).column("record_id").to_pylist()
        assert {r.record_id for r in reader.records(ids)} == set(ids)  # every other feed's records are searchable
        linked.update(ids)
    notes = failure_notes(aws["ddb"], "t-control", "t-match.fifo")
    assert set(notes) == {"m-gone"}
    assert notes["m-gone"]["reason"] == "ClientError 404: Not Found" and notes["m-gone"]["receive_count"] == "2"
