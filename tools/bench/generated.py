"""`mast generate` data for the benchmark: written once per size under ``bench-data/generated``.

The partner extracts are parsed with the feeds' own definitions (exactly as ingest does), so
MAST links what it would link in production; truth comes from the generator's ``truth.csv``.
Rows about no one (a car fire) have no truth person and count as people of their own.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np

from tools.bench.datasets import Dataset

GENERATED = Path(__file__).resolve().parents[2] / "bench-data" / "generated"
#: records per person the generator produces (measured: 1,587 rows for 1,000 people)
ROWS_PER_PERSON = 1.59
AS_OF = dt.date(2025, 11, 1)
CANONICAL = ("record_id", "source", "given_name", "middle_name", "family_name", "dob", "sex", "address_line1",
             "address_line2", "postcode", "nhs_number", "uprn", "record_date")


def build(records: int, seed: int = 2024, root: Path = GENERATED) -> Path:
    """Generate about ``records`` rows (once) and return the canonical Parquet with a ``truth`` column."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from mast.feeds.parse import parse_upload
    from tools.generate import generate

    people = max(int(round(records / ROWS_PER_PERSON)), 1)
    folder = root / f"people-{people}-seed-{seed}"
    target = folder / "canonical.parquet"
    if target.exists():
        return target
    day = generate(people, seed, as_of=AS_OF)
    day.write(folder)
    truth = pacsv.read_csv(folder / "truth.csv", convert_options=pacsv.ConvertOptions(
        column_types={"file": pa.string(), "row": pa.int64(), "person_id": pa.string(), "address_id": pa.string()}))
    tables = []
    for path in sorted(folder.glob("*.csv")):
        if path.name == "truth.csv":
            continue
        parsed = parse_upload(path.read_bytes(), path.stem, ingest_id="bench", file_name=path.name, ingest_date=AS_OF)
        records_t = parsed.records
        keep = pc.invert(pc.fill_null(records_t.column("withdrawn"), False))
        rows = parsed.source_rows - 1  # spreadsheet row -> 1-based data row
        mine = truth.filter(pc.equal(truth.column("file"), path.name))
        by_row = dict(zip(mine.column("row").to_pylist(), mine.column("person_id").to_pylist(), strict=True))
        person = [by_row.get(int(r)) or f"none:{path.name}:{int(r)}" for r in rows]
        table = records_t.select([c for c in CANONICAL if c in records_t.column_names and c != "source"])
        table = table.append_column("source", pa.array([path.stem] * table.num_rows, pa.string()))
        table = table.append_column("truth", pa.array(person, pa.string()))
        tables.append(table.filter(keep))
    combined = pa.concat_tables(tables, promote_options="default")
    pq.write_table(combined, target)
    return target


def generated(records: int, seed: int = 2024) -> Dataset:
    import pyarrow.parquet as pq

    from mast.linkage.io import canonical_columns

    path = build(records, seed)
    table = pq.read_table(path)
    truth = np.asarray(table.column("truth").to_pylist(), dtype=object)
    name = f"generated_{_size(records)}"
    return Dataset(name, "dedupe", canonical_columns(table), truth, None, path,  # type: ignore[arg-type]
                   f"`mast generate` partner extracts, {table.num_rows:,} records parsed by the feed definitions")


def _size(records: int) -> str:
    return f"{records // 1_000_000}m" if records >= 1_000_000 else f"{records // 1000}k"


def frame(dataset: Dataset) -> Any:
    """The canonical records as pandas, for Splink."""
    import pyarrow.parquet as pq

    return pq.read_table(dataset.frames).to_pandas()
