"""Corrections to moto that the local stack (and benches run on moto) apply in process.

Each one fixes a way moto differs from AWS that would make the local stack wrong or unusably slow,
without changing what a call returns; README.md ("What runs where") lists them.
"""

from __future__ import annotations

import threading
from typing import Any

_local = threading.local()


def fix_dynamodb_query_by_partition() -> None:
    """Make a DynamoDB Query on a table's own key read only its partition, as DynamoDB does.

    moto (5.x) answers every Query on a table by sorting *every* item of the table and then keeping
    those with the partition key asked for: O(n log n) per query, about 0.4 s at 20,000 items and
    seconds at the index's size, where DynamoDB takes milliseconds. Here, for a Query on the table's
    own key (not an index), moto's code runs unchanged but sees only the asked partition's items,
    so what it returns (order, paging, filters, projections) is exactly what it returned before.
    """
    from moto.dynamodb.models.table import Table

    if getattr(Table.query, "_mast_fixed", False):
        return
    original_query = Table.query
    original_all_items = Table.all_items

    def all_items(self: Any) -> list[Any]:
        only = getattr(_local, "partition", None)
        if only is not None and only[0] is self:
            return list(only[1])
        return original_all_items(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None:
            return original_query(self, hash_key, *args, **kwargs)
        bucket = self.items.get(hash_key) if hash_key in self.items else None
        if bucket is None:
            items: list[Any] = []
        else:
            items = list(bucket.values()) if self.range_key_attr else [bucket]
        _local.partition = (self, items)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _local.partition = None

    query._mast_fixed = True  # type: ignore[attr-defined]
    Table.query = query  # type: ignore[method-assign]
    Table.all_items = all_items  # type: ignore[method-assign]


#: BatchWriteItem: at most 25 put or delete requests, and 16 MB, in one call (DynamoDB's limits)
BATCH_WRITE_MAX_REQUESTS = 25
BATCH_WRITE_MAX_BYTES = 16 * 1024 * 1024
#: SQS's message size limit for a queue that sets no MaximumMessageSize: moto 5.2 defaults to the
#: 1 MiB that AWS allows since 2025; the local stack holds MAST to the 256 KiB every SQS consumer
#: and older queue accepts, so a message that fits locally fits everywhere
SQS_MAX_MESSAGE_BYTES = 262_144


def hold_to_aws_limits() -> None:
    """Refuse what AWS refuses and moto accepts, with AWS's error, where MAST could hit it.

    * DynamoDB ``BatchWriteItem`` of more than 25 requests, or none, or more than 16 MB: moto writes
      them all; DynamoDB answers ``ValidationException`` and writes nothing.
    * SQS messages above 256 KiB on a queue that sets no ``MaximumMessageSize`` (see
      :data:`SQS_MAX_MESSAGE_BYTES`); moto already refuses a message above a queue's own setting.

    (DynamoDB's 400 KB item and BatchGetItem's 100 keys and 16 MB pages are moto's own already.)
    """
    import moto.sqs.models as sqs_models
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.responses import DynamoHandler

    sqs_models.MAXIMUM_MESSAGE_LENGTH = SQS_MAX_MESSAGE_BYTES  # type: ignore[attr-defined]
    if getattr(DynamoHandler.batch_write_item, "_mast_fixed", False):
        return
    original = DynamoHandler.batch_write_item

    def batch_write_item(self: Any) -> Any:
        requests = sum(len(r) for r in (self.body.get("RequestItems") or {}).values())
        if requests > BATCH_WRITE_MAX_REQUESTS or requests == 0:
            raise MockValidationException(
                "1 validation error detected: Value at 'requestItems' failed to satisfy constraint: Map value "
                "must satisfy constraint: [Member must have length less than or equal to 25, Member must have "
                "length greater than or equal to 1]")
        size = len(self.raw_body or b"")
        if size > BATCH_WRITE_MAX_BYTES:
            raise MockValidationException(f"Item collection size of the request ({size} bytes) exceeds the "
                                          "BatchWriteItem limit of 16 MB")
        return original(self)

    batch_write_item._mast_fixed = True  # type: ignore[attr-defined]
    DynamoHandler.batch_write_item = batch_write_item  # type: ignore[method-assign]
