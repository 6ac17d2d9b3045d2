"""The sharded link (:mod:`mast.linkage.sharded`) of generated records, in a process of its own:
``python -m tools.bench.sharded_side generated:<records> PREFIX PEOPLE``.

The link runs first, while this process holds nothing but the path of the records (every step is a
process forked from it, and a forked process starts with its parent's pages), then the dataset's
truth is read to measure it. Prints one JSON line: seconds, each step's seconds and peak memory (as
each step's process measured it), quality against the truth; writes each record's person id to
PEOPLE (Arrow) for comparison with the one-process link.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

if TYPE_CHECKING:
    from mast.index.imported import Exported


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.sharded_side")
    parser.add_argument("dataset", help="generated:<records>")
    parser.add_argument("prefix", help="folder for the rebuild's files")
    parser.add_argument("people", help="Arrow file for each record's person id")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--export", action="store_true",
                        help="then the import's export shards too (mast bench capacity), after the link's seconds")
    args = parser.parse_args()

    from mast.linkage.sharded import link_locally, read_columns, write_columns
    from tools.bench.generated import build

    records = build(int(args.dataset.split(":", 1)[1]))
    started, cpu_before = time.perf_counter(), os.times()
    run = link_locally(str(records), args.prefix, processes=args.processes)
    seconds = time.perf_counter() - started
    cpu_after = os.times()
    exports = export_locally(str(records), run.prepare.table, run.finish.people, run.prepare.model, args.prefix,
                             args.processes) if args.export else []
    people = read_columns(run.finish.people, skip=("address_id",))
    links = [read_columns(s.links) for s in run.score]
    lo = np.concatenate([p["lo"] for p in links]).astype(np.int64)
    hi = np.concatenate([p["hi"] for p in links]).astype(np.int64)
    write_columns(args.people, {"person_id": people["person_id"]})

    from tools.bench.side import _quality, load

    dataset = load(args.dataset)
    steps: dict[str, Any] = {
        "prepare": {"seconds": run.prepare.seconds, "cpu_seconds": run.prepare.cpu_seconds, "peak_mb": run.prepare.peak_mb,
                    "stages": run.prepare.stage_seconds, "shards": len(run.prepare.shards)},
        "score": [{"seconds": s.seconds, "cpu_seconds": s.cpu_seconds, "peak_mb": s.peak_mb, "records": s.records,
                   "pairs": s.scored_pairs}
                  for s in run.score],
        "cluster": {"seconds": run.cluster.seconds, "cpu_seconds": run.cluster.cpu_seconds, "peak_mb": run.cluster.peak_mb,
                    "refine_shards": len(run.cluster.refine)},
        "refine": [{"seconds": r.seconds, "cpu_seconds": r.cpu_seconds, "peak_mb": r.peak_mb, "records": r.records}
                   for r in run.refine],
        "finish": {"seconds": run.finish.seconds, "cpu_seconds": run.finish.cpu_seconds, "peak_mb": run.finish.peak_mb},
        # the import's export shards, after the link (not in its seconds): each its share of the items
        "export": [{"seconds": e.seconds, "cpu_seconds": e.cpu_seconds, "peak_mb": e.peak_mb, "items": e.items,
                    "json_bytes": e.json_bytes, "stages": e.stage_seconds, "scan_peak_mb": e.scan_peak_mb,
                    "shards": len(exports)} for e in exports],
    }
    result = {
        # what each whole-population step of the rebuild holds on its Lambda's /tmp (the files it downloads
        # or writes there: mast.index.rebuild.prepare, mast.index.imported.export_shard)
        **({"disk_mb": rebuild_disk_mb(args.prefix, run.prepare.table, run.finish.people)} if args.export else {}),
        "records": run.prepare.records,
        "seconds": round(seconds, 2),
        "records_per_second": round(run.prepare.records / seconds),
        "cpu_seconds": round(cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system, 1),
        "step_cpu_seconds": round(cpu_after.children_user + cpu_after.children_system
                                  - cpu_before.children_user - cpu_before.children_system, 1),
        "candidate_pairs": sum(s.scored_pairs for s in run.score),
        "linked_pairs": run.cluster.linked_pairs,
        "model": run.prepare.model,
        "steps": steps,
        "dataset": dataset.name,
        **_quality(np.asarray(people["person_id"]), lo, hi, dataset),
    }
    print(json.dumps(result))


def rebuild_disk_mb(prefix: str, table: str, people: str) -> dict[str, float]:
    """MB of /tmp the rebuild's steps hold on Lambda, from the files this link wrote: ``prepare`` writes
    the records' Parquet there before uploading it; an ``export`` shard downloads it, the finish step's
    people and the prepared table's files (those :func:`mast.linkage.sharded.read_records` reads);
    ``import`` downloads the people."""
    def mb(*files: str | Path) -> float:
        return round(sum(Path(f).stat().st_size for f in files) / (1024 * 1024), 1)

    from mast.linkage.sharded import record_table_files

    records = Path(prefix) / "records.parquet"
    return {"prepare": mb(records), "export": mb(records, people, *(Path(table) / n for n in record_table_files())),
            "import": mb(people)}


class LocalExport(BaseModel):
    """One export shard run here (:func:`mast.index.imported.write_export`), its files to a folder."""

    records: str
    #: the link's prepared table (its prepare step's ``table``)
    table: str
    people: str
    model: str
    folder: str
    shard: int
    shards: int


def export_shard_locally(step: LocalExport) -> Exported:
    """As the rebuild's ``export`` step, from local files (:func:`export_records` wrote the records)."""
    from mast.index.imported import ShardRecords, write_export
    from mast.linkage.sharded import _cost, read_arrow, read_records

    started = time.perf_counter()
    records = ShardRecords(step.records)
    people = read_arrow(step.people)
    model = Path(step.model).read_text() if step.shard == 0 else None
    out = Path(step.folder)
    out.mkdir(parents=True, exist_ok=True)
    table, _ = read_records(step.table)

    def put(name: str, body: bytes) -> None:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(body)

    written = write_export(records, table, people, model, "bench", step.shard, step.shards, "salt", put)
    return written.model_copy(update=_cost(started))


class ExportRecords(BaseModel):
    """The generated records, and where to write them as a rebuild's ``records.parquet``."""

    records: str
    target: str


class ExportRecordsWritten(BaseModel):
    records: int


def export_records(step: ExportRecords) -> ExportRecordsWritten:
    """The generated records as the rebuild's prepare step writes its ``records.parquet`` (row groups
    of :data:`mast.index.imported.ROWS_PER_GROUP`). The generated records lack a feed's provenance
    columns (partner, feed, ingest, the partner's own id), which the index's records carry: they are
    filled here with short strings, as the curated records hold them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mast.index.imported import ROWS_PER_GROUP

    records = pq.read_table(step.records).drop_columns(["truth"])
    n = records.num_rows
    source = records.column("source")
    for name, column in (("partner", source), ("feed", source), ("ingest_id", pa.array(["bench"] * n, pa.string())),
                         ("source_record_id", records.column("record_id"))):
        if name not in records.column_names:
            records = records.append_column(name, column)
    pq.write_table(records, step.target, row_group_size=ROWS_PER_GROUP)
    return ExportRecordsWritten(records=n)


def export_locally(records: str, table: str, people: str, model: str, prefix: str,
                   processes: int) -> list[Exported]:
    """Every export shard of the records (one per :data:`RECORDS_PER_EXPORT`), a process each, at
    most ``processes`` at a time; the records first written as the rebuild writes them, in a process
    of its own (this one holds nothing its children would inherit)."""
    from mast.index.imported import RECORDS_PER_EXPORT, Exported
    from mast.linkage.sharded import run_steps

    target = f"{prefix}/records.parquet"
    n = run_steps(export_records, [ExportRecords(records=records, target=target)], ExportRecordsWritten, 1)[0].records
    shards = max(1, math.ceil(n / RECORDS_PER_EXPORT))
    steps = [LocalExport(records=target, table=table, people=people, model=model, folder=f"{prefix}/import", shard=i,
                         shards=shards)
             for i in range(shards)]
    return run_steps(export_shard_locally, steps, Exported, processes)


if __name__ == "__main__":
    main()
