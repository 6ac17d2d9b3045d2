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
