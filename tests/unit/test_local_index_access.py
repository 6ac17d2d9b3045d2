"""The local stack's IAM check of the index's tables (:mod:`infra.local.access`): a function's call
on a table with the index's name prefix passes only if its role allows it, as on AWS; a role without
the prefix is refused with DynamoDB's AccessDeniedException, and nothing reaches moto."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.test import Client

from infra.local.access import IndexAccess, function_access_key, with_index_access
from tests.conftest import recording_moto

BASE = "arn:aws:dynamodb:eu-west-2:123456789012:table/"
PREFIX_ROLE = [{"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:ImportTable"],
     "Resource": [f"{BASE}mast-local-index*", f"{BASE}mast-local-index*/index/*"]},
    {"Effect": "Allow", "Action": ["dynamodb:DescribeImport"], "Resource": f"{BASE}mast-local-index*/import/*"},
    # a statement the check never evaluates (not DynamoDB), with a condition it could not
    {"Effect": "Allow", "Action": "ses:SendEmail", "Resource": "*",
     "Condition": {"NumericLessThan": {"aws:EpochTime": "1"}}}]}]
# the old, one-table grant: the index table itself and nothing else
ONE_TABLE_ROLE = [{"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:BatchGetItem"], "Resource": f"{BASE}mast-local-index"}]}]


def make_client() -> tuple[Client, list[bytes]]:
    moto, seen = recording_moto()
    access = IndexAccess()
    access.configure("mast-local-index", "eu-west-2", "123456789012",
                     {"search": PREFIX_ROLE, "old": ONE_TABLE_ROLE, "audit": []})
    return Client(with_index_access(moto, access)), seen


def call(client: Client, key: str, operation: str, body: dict[str, Any]) -> Any:
    auth = f"AWS4-HMAC-SHA256 Credential={key}/20261205/eu-west-2/dynamodb/aws4_request, SignedHeaders=host, Signature=x"
    return client.post("/", data=json.dumps(body), headers={
        "X-Amz-Target": f"DynamoDB_20120810.{operation}", "Content-Type": "application/x-amz-json-1.0",
        "Authorization": auth})


def denied(response: Any) -> bool:
    return response.status_code == 400 and b"AccessDeniedException" in response.get_data()


def test_a_role_limited_to_the_index_prefix_reaches_every_version_table_and_only_what_it_allows() -> None:
    client, seen = make_client()
    search = function_access_key("search")
    version = "mast-local-index-20261205T080000000000Z"
    assert call(client, search, "GetItem", {"TableName": "mast-local-index", "Key": {}}).status_code == 200
    assert call(client, search, "BatchGetItem", {"RequestItems": {version: {"Keys": []}}}).status_code == 200
    assert call(client, search, "ImportTable", {"TableCreationParameters": {"TableName": version}}).status_code == 200
    assert call(client, search, "DescribeImport", {"ImportArn": f"{BASE}{version}/import/0123"}).status_code == 200
    assert len(seen) == 4
    # an action the role does not grant, on a version's table: refused, and moto never sees it
    assert denied(call(client, search, "DeleteTable", {"TableName": version}))
    assert denied(call(client, search, "PutItem", {"TableName": "mast-local-index", "Item": {}}))
    assert len(seen) == 4


def test_a_role_without_the_prefix_is_refused_the_imported_tables() -> None:
    client, seen = make_client()
    old, audit = function_access_key("old"), function_access_key("audit")
    version = "mast-local-index-20261205T080000000000Z"
    assert call(client, old, "GetItem", {"TableName": "mast-local-index", "Key": {}}).status_code == 200
    assert denied(call(client, old, "GetItem", {"TableName": version, "Key": {}}))
    assert denied(call(client, old, "BatchGetItem", {"RequestItems": {"mast-local-index": {"Keys": []}, version: {"Keys": []}}}))
    assert denied(call(client, audit, "GetItem", {"TableName": "mast-local-index", "Key": {}}))
    assert len(seen) == 1


def test_other_tables_and_other_callers_are_not_this_checks_business() -> None:
    client, seen = make_client()
    # a function's call on another table: its role is not checked here
    assert call(client, function_access_key("audit"), "PutItem", {"TableName": "mast-local-audit", "Item": {}}).status_code == 200
    # the stack itself, a test or the operator (not a function's key): as the account's administrator
    assert call(client, "local", "DeleteTable", {"TableName": "mast-local-index-x"}).status_code == 200
    # an unknown function's key is not a function's
    assert call(client, function_access_key("nobody"), "GetItem", {"TableName": "mast-local-index", "Key": {}}).status_code == 200
    assert len(seen) == 3
