"""Reading canonical records and writing link results (CSV or Parquet), for `mast link` and the benchmark.

This is the I/O layer, so it may use pyarrow (imported inside the functions: the scorer and the
search function never import this module). Columns are handed to :func:`mast.linkage.table.prepare`
dictionary-encoded (:class:`~mast.linkage.table.Factorised`), so a million rows are never turned
into Python objects one by one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mast.linkage.table import INPUT_COLUMNS, Factorised


def read_table(path: str | Path) -> Any:
    """A pyarrow Table from CSV (header row, UTF-8) or Parquet, all columns as read."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix.lower() in (".parquet", ".pq"):
        return pq.read_table(path)
    # every column as text: ids and NHS numbers must not become numbers
    import csv

    with path.open("r", encoding="utf-8-sig") as handle:
        columns = next(csv.reader([handle.readline().rstrip("\r\n")]))
    types = {c: pa.string() for c in columns}
    return pacsv.read_csv(path, read_options=pacsv.ReadOptions(block_size=1 << 24),
                          convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True))


def canonical_columns(table: Any) -> dict[str, Factorised]:
    """Canonical columns of a pyarrow Table as :class:`Factorised` (missing columns are left out).

    ``record_id`` is required; dates (``dob``, ``record_date``) may be ISO strings or date columns.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    names = {name.strip().lower(): name for name in table.column_names}
    if "record_id" not in names:
        raise ValueError("the input has no record_id column")
    out: dict[str, Factorised] = {}
    for column in INPUT_COLUMNS:
        if column not in names:
            continue
        values = table.column(names[column])
        if pa.types.is_date(values.type) or pa.types.is_timestamp(values.type):
            values = pc.cast(values, pa.string()) if pa.types.is_date(values.type) else pc.strftime(values, "%Y-%m-%d")
        elif not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
            values = pc.cast(values, pa.string())
        values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        if column == "record_id":
            ids = values.to_numpy(zero_copy_only=False)
            if values.null_count:
                raise ValueError("record_id must be present on every row")
            out[column] = Factorised(ids, np.arange(len(ids), dtype=np.int32))
            continue
        encoded = pc.dictionary_encode(values)
        codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32)
        out[column] = Factorised(encoded.dictionary.to_pylist(), codes)
    return out


def read_canonical(path: str | Path) -> dict[str, Factorised]:
    """Canonical columns from a CSV or Parquet file."""
    return canonical_columns(read_table(path))


def write_result(path: str | Path, columns: Mapping[str, Sequence[Any] | np.ndarray]) -> None:
    """Write columns as Parquet (``.parquet``) or CSV (anything else)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = pa.table({name: pa.array(list(values) if isinstance(values, np.ndarray) and values.dtype == object
                                     else values, type=pa.string()) for name, values in columns.items()})
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".parquet", ".pq"):
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path)
