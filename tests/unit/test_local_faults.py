"""The local stack's fault switch: it refuses exactly the calls that name an unavailable table, as
DynamoDB does for a missing table, and passes every other call to moto with its body intact."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.test import Client

from infra.local.faults import PATH, Faults, with_faults
from tests.conftest import recording_moto


def make_client() -> tuple[Client, list[bytes]]:
    moto, seen = recording_moto()
    faults = Faults()
    faults.name_tables({"AuditTable": "mast-local-audit", "ControlTable": "mast-local-control",
                        "IndexTable": "mast-local-index"})
    return Client(with_faults(moto, faults)), seen


def dynamodb(client: Client, operation: str, body: dict[str, Any]) -> Any:
    return client.post("/", data=json.dumps(body), headers={"X-Amz-Target": f"DynamoDB_20120810.{operation}",
                                                            "Content-Type": "application/x-amz-json-1.0"})


def test_nothing_is_refused_until_asked() -> None:
    client, seen = make_client()
    assert client.get(PATH).json == {"unavailable_tables": []}
    assert dynamodb(client, "PutItem", {"TableName": "mast-local-audit", "Item": {}}).status_code == 200
    assert len(seen) == 1


def test_an_unavailable_table_is_refused_in_every_kind_of_call_and_others_pass_untouched() -> None:
    client, seen = make_client()
    assert client.put(PATH, json={"unavailable_tables": ["AuditTable"]}).json == {"unavailable_tables": ["mast-local-audit"]}
    calls = [
        ("PutItem", {"TableName": "mast-local-audit", "Item": {"pk": {"S": "x"}}}),
        ("Query", {"TableName": "mast-local-audit", "KeyConditionExpression": "pk = :p"}),
        ("BatchWriteItem", {"RequestItems": {"mast-local-control": [], "mast-local-audit": []}}),
        ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": "mast-local-audit", "Item": {}}}]}),
    ]
    for operation, body in calls:
        refused = dynamodb(client, operation, body)
        assert refused.status_code == 400, operation
        assert json.loads(refused.data)["__type"].endswith("#ResourceNotFoundException")
    assert seen == []
    other = {"TableName": "mast-local-control", "Item": {"pk": {"S": "kept"}}}
    assert dynamodb(client, "PutItem", other).status_code == 200
    assert seen == [json.dumps(other).encode()]  # the body reached moto whole


def test_clearing_restores_the_table_and_unknown_names_are_a_400() -> None:
    client, seen = make_client()
    client.put(PATH, json={"unavailable_tables": ["mast-local-audit"]})
    refused = client.put(PATH, json={"unavailable_tables": ["NoSuchTable"]})
    assert refused.status_code == 400 and "NoSuchTable" in refused.json["message"]
    assert client.get(PATH).json == {"unavailable_tables": ["mast-local-audit"]}  # a bad request changes nothing
    assert client.put(PATH, json={"unavailable_tables": []}).json == {"unavailable_tables": []}
    assert dynamodb(client, "PutItem", {"TableName": "mast-local-audit", "Item": {}}).status_code == 200
    assert client.delete(PATH).status_code == 405


def test_the_index_is_unavailable_by_its_name_prefix_with_every_imported_version() -> None:
    client, seen = make_client()
    assert client.put(PATH, json={"unavailable_tables": ["IndexTable"]}).status_code == 200
    for table in ("mast-local-index", "mast-local-index-20261205T080000000000Z"):
        refused = dynamodb(client, "BatchGetItem", {"RequestItems": {table: {"Keys": []}}})
        assert refused.status_code == 400 and b"ResourceNotFoundException" in refused.get_data()
    # a table whose name only begins the same way, without the separator, is another table
    assert dynamodb(client, "GetItem", {"TableName": "mast-local-indexes", "Key": {}}).status_code == 200
    assert dynamodb(client, "GetItem", {"TableName": "mast-local-control", "Key": {}}).status_code == 200
    assert len(seen) == 2
