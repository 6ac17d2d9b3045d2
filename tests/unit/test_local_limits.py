"""Limits AWS enforces and moto or an in-process call would not: the local stack's own (unit level).

The end-to-end ones (timeout, memory, no /dev/shm, concurrency) are in tests/e2e/test_lambda_limits.py.
"""

from __future__ import annotations

import re
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from infra.local.api import LocalApi, Route
from infra.local.functions import FunctionThrottled

moto = pytest.importorskip("moto")


@pytest.fixture()
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    from infra.local.moto_fixes import hold_to_aws_limits

    for name, value in {"AWS_ACCESS_KEY_ID": "t", "AWS_SECRET_ACCESS_KEY": "t", "AWS_DEFAULT_REGION": "eu-west-2"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    hold_to_aws_limits()
    with moto.mock_aws():
        yield boto3.session.Session(region_name="eu-west-2")


def test_batch_write_item_takes_at_most_25_requests_as_dynamodb_does(aws: Any) -> None:
    ddb = aws.client("dynamodb")
    ddb.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                     KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])

    def puts(n: int) -> list[dict[str, Any]]:
        return [{"PutRequest": {"Item": {"pk": {"S": f"k{i}"}}}} for i in range(n)]

    with pytest.raises(ClientError) as refused:
        ddb.batch_write_item(RequestItems={"t": puts(26)})
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert ddb.scan(TableName="t")["Count"] == 0  # nothing written
    ddb.batch_write_item(RequestItems={"t": puts(25)})
    assert ddb.scan(TableName="t")["Count"] == 25


def test_an_sqs_message_above_256_kib_is_refused_unless_the_queue_allows_more(aws: Any) -> None:
    sqs = aws.client("sqs")
    plain = sqs.create_queue(QueueName="plain")["QueueUrl"]
    roomy = sqs.create_queue(QueueName="roomy", Attributes={"MaximumMessageSize": "1048576"})["QueueUrl"]
    sqs.send_message(QueueUrl=plain, MessageBody="x" * 262_144)
    with pytest.raises(ClientError):
        sqs.send_message(QueueUrl=plain, MessageBody="x" * 262_145)
    sqs.send_message(QueueUrl=roomy, MessageBody="x" * 300_000)


def _api(invoke: Any, timeout: float) -> LocalApi:
    route = Route("GET", "/slow", "f", None, re.compile("^/slow$"))
    return LocalApi([route], None, invoke, stage="api", account="1", api_id="local",  # type: ignore[arg-type]
                    integration_timeout=timeout)


def test_past_the_integration_timeout_the_caller_gets_504_as_from_api_gateway() -> None:
    def slow(function: str, event: dict[str, Any]) -> dict[str, Any]:
        time.sleep(1.0)
        return {"statusCode": 200, "body": "late"}

    response = _api(slow, 0.2).handle("GET", "/slow", "", {}, b"", "127.0.0.1")
    assert response.status == 504 and b"Endpoint request timed out" in response.body
    assert _api(slow, 5).handle("GET", "/slow", "", {}, b"", "127.0.0.1").status == 200


def test_a_throttled_function_is_api_gateways_500() -> None:
    def throttled(function: str, event: dict[str, Any]) -> dict[str, Any]:
        raise FunctionThrottled(function, "TooManyRequestsException", "Rate Exceeded.")

    assert _api(throttled, 5).handle("GET", "/slow", "", {}, b"", "127.0.0.1").status == 500


def _wait_import(ddb: Any, arn: str) -> dict[str, Any]:
    for _ in range(200):
        described = ddb.describe_import(ImportArn=arn)["ImportTableDescription"]
        if described["ImportStatus"] != "IN_PROGRESS":
            return dict(described)
        time.sleep(0.05)
    raise AssertionError("the import did not end")


def test_an_import_past_its_objects_fails_and_a_51st_at_once_is_refused_as_dynamodb_does(
        aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import gzip
    import json

    from moto.dynamodb.models import dynamodb_backends

    from infra.local import moto_fixes

    moto_fixes.read_dynamodb_json_imports_by_line()
    monkeypatch.setattr(moto_fixes, "IMPORT_MAX_OBJECTS", 3)  # 50,000 on AWS: three here, to stay small
    s3, ddb = aws.client("s3"), aws.client("dynamodb")
    s3.create_bucket(Bucket="imports", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    for folder, files in (("three/", 3), ("four/", 4)):
        for i in range(files):
            line = json.dumps({"Item": {"pk": {"S": f"{folder}{i}"}}}) + "\n"
            s3.put_object(Bucket="imports", Key=f"{folder}{i}.json.gz", Body=gzip.compress(line.encode()))

    def start(folder: str, table: str) -> str:
        return str(ddb.import_table(
            S3BucketSource={"S3Bucket": "imports", "S3KeyPrefix": folder}, InputFormat="DYNAMODB_JSON",
            InputCompressionType="GZIP", TableCreationParameters={
                "TableName": table, "BillingMode": "PAY_PER_REQUEST",
                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}]},
        )["ImportTableDescription"]["ImportArn"])

    within = _wait_import(ddb, start("three/", "within"))
    assert within["ImportStatus"] == "COMPLETED" and within["ImportedItemCount"] == 3
    past = _wait_import(ddb, start("four/", "past"))
    assert past["ImportStatus"] == "FAILED" and "at most 3 objects" in past["FailureMessage"]
    assert "past" not in ddb.list_tables()["TableNames"]  # no table made of a refused import

    # fifty imports in progress: the fifty-first is refused until one ends
    backend = dynamodb_backends["123456789012"]["eu-west-2"]
    held = list(backend.table_imports.values())[0]
    in_progress = {f"arn:held:{i}": type("Held", (), {"status": "IN_PROGRESS"})() for i in range(50)}
    backend.table_imports.update(in_progress)
    with pytest.raises(ClientError) as refused:
        start("three/", "fifty-first")
    assert refused.value.response["Error"]["Code"] == "LimitExceededException"
    for arn in in_progress:
        del backend.table_imports[arn]
    assert held.status == "COMPLETED"
    assert _wait_import(ddb, start("three/", "later"))["ImportStatus"] == "COMPLETED"
