"""`mast bench ingest`: parse and validate a 1,000,000-row police extract, beside pyarrow's own
CSV read of the same file, in the same run.

The extract is made from the generator's police feed (Windows-1252, CRLF, the whole name in one
column, deliberately bad rows), tiled with fresh references up to the size asked, so it carries
every quirk the parser must handle. Each side runs ``--repeat`` times in a process of its own
(:func:`tools.bench.measure.run_side`): peak memory (PSS) and time are of that process alone. Three
sides:

* ``pyarrow``: ``pyarrow.csv.read_csv`` of the bytes (all columns, strings) — the reference;
* ``mast-parse``: :func:`mast.feeds.parse.parse_extract` — read, validate and normalise column by
  column, the receipt and the rejected rows;
* ``mast-ingest``: the same plus the curated Parquet written (to memory: S3 is not what is measured).

Figures: median rows per second, rows per second per CPU-second (the "per core" figure: CPU time
counts every thread), peak memory, and the ratios of each MAST side's median time and peak memory
to pyarrow's. The aims: at least 100,000 rows per CPU-second, and under 1 GB peak for a million
rows (the file's bytes and the records held at the end included: the parse reads the body in
batches, so nothing else grows with the file).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

AIM_ROWS_PER_CPU_SECOND = 100_000
AIM_PEAK_MB = 1000  # for 1,000,000 rows
RESULTS = Path("bench-data/results")
CACHE = Path("bench-data/generated")
FEED = "wm-police"
SIDES = ("pyarrow", "mast-parse", "mast-ingest")


def register_bench(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("ingest", help="parse a 1,000,000-row police extract beside pyarrow's CSV read")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the extract (default 1,000,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each side (median reported; default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default {RESULTS})")
    parser.set_defaults(func=run)


def police_extract(rows: int, folder: Path = CACHE) -> Path:
    """A police extract of ``rows`` data rows (made once, kept): generated rows tiled with fresh refs."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from mast.feeds.csvout import table_csv
    from mast.feeds.definition import load_feed_definition
    from tools.generate import generate

    path = folder / f"{FEED}-{rows}.csv"
    if path.exists():
        return path
    definition = load_feed_definition(FEED)
    ref = definition.column_for("source_record_id")
    assert ref is not None
    base = generate(20_000, seed=11, as_of=dt.date(2026, 11, 1)).files[FEED].data
    table = _read_csv(base)
    copies, parts = -(-rows // table.num_rows), []
    for k in range(copies):
        refs = pc.binary_join_element_wise(table.column(ref.name), pa.scalar(f"-T{k}"), "")
        parts.append(table.set_column(table.schema.get_field_index(ref.name), ref.name, refs))
    tiled = pa.concat_tables(parts).slice(0, rows)
    text = table_csv(tiled, crlf=True, bom=False).decode("utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(definition.file.encoding, errors="replace"))
    return path


def _header(data: bytes) -> list[str]:
    return data.split(b"\r\n", 1)[0].decode("cp1252").split(",")


def _read_csv(data: bytes) -> Any:
    """pyarrow's own read, given what it needs to read this file at all: the encoding, quoted line
    breaks, strings (no type inference), and a ragged row skipped rather than fatal."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    return pacsv.read_csv(
        io.BytesIO(data), read_options=pacsv.ReadOptions(encoding="cp1252"),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=lambda row: "skip"),
        convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in _header(data)}),
    )  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from tools.bench.measure import run_side

    started = time.perf_counter()
    path = police_extract(args.rows)
    print(f"extract: {path} ({path.stat().st_size / 2**20:.0f} MB, {args.rows:,} rows) "
          f"made in {time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in SIDES}
    for _ in range(args.repeat):  # interleaved, so drift in the machine's load hits every side alike
        for side in SIDES:
            results[side].append(run_side([side, str(path)], module="tools.bench.ingest"))
            r = results[side][-1]
            print(f"  {side:12} {r.get('seconds', float('nan')):6.2f} s  {r.get('peak_pss_mb', 0):7.0f} MB"
                  + (f"  error: {r['error']}" if "error" in r else ""), flush=True)  # fmt: skip
    report = _report(results, args.rows)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "ingest.md").write_text(report)
    (args.out / "ingest.json").write_text(json.dumps(results, indent=2))
    print(report)
    return 0 if not any("error" in r for runs in results.values() for r in runs) else 1


def _report(results: dict[str, list[dict[str, Any]]], rows: int) -> str:
    def med(side: str, key: str) -> float:
        return statistics.median(r[key] for r in results[side] if key in r)

    reference = med("pyarrow", "seconds")
    lines = [
        f"# mast bench ingest: {rows:,}-row police extract ({dt.date.today().isoformat()})", "",
        f"Median of {len(results['pyarrow'])} runs per side, each in its own process, interleaved. "
        "Per core: rows per CPU-second (user + system, all threads).", "",
        "| side | median s | rows/s | rows per CPU-s | peak PSS MB | time ÷ pyarrow | peak ÷ pyarrow |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]  # fmt: skip
    reference_peak = med("pyarrow", "peak_pss_mb")
    worst_rate, worst_peak = float("inf"), 0.0
    for side in SIDES:
        if not any("seconds" in r for r in results[side]):
            lines.append(f"| {side} | error | | | | | |")
            continue
        seconds, cpu, peak = med(side, "seconds"), med(side, "cpu_seconds"), med(side, "peak_pss_mb")
        lines.append(f"| {side} | {seconds:.2f} | {rows / seconds:,.0f} | {rows / cpu:,.0f} | "
                     f"{peak:,.0f} | {seconds / reference:.2f} | {peak / reference_peak:.2f} |")  # fmt: skip
        if side != "pyarrow":
            worst_rate, worst_peak = min(worst_rate, rows / cpu), max(worst_peak, peak)
    accepted = [r.get("accepted") for r in results["mast-parse"] if "accepted" in r]
    if accepted:
        lines += ["", f"MAST accepted {accepted[0]:,} rows and rejected {results['mast-parse'][0].get('rejected', 0):,} "
                      "(the generator's deliberately bad rows, tiled)."]  # fmt: skip
    if worst_peak:
        peak_aim = AIM_PEAK_MB * rows / 1_000_000
        lines += ["", f"Aims: at least {AIM_ROWS_PER_CPU_SECOND:,} rows per CPU-second: "
                      f"{'met' if worst_rate >= AIM_ROWS_PER_CPU_SECOND else 'not met'} ({worst_rate:,.0f} at worst); "
                      f"peak under {peak_aim:,.0f} MB: {'met' if worst_peak < peak_aim else 'not met'} "
                      f"({worst_peak:,.0f} MB at worst)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _side(side: str, path: Path) -> dict[str, Any]:
    data = path.read_bytes()
    cpu0, t0 = _cpu(), time.perf_counter()
    out: dict[str, Any] = {}
    if side == "pyarrow":
        out["rows"] = _read_csv(data).num_rows
    else:
        import pyarrow.parquet as pq

        from mast.feeds.definition import load_feed_definition
        from mast.feeds.parse import parse_extract

        parsed = parse_extract(data, load_feed_definition(FEED), ingest_id="bench", file_name=path.name,
                               ingest_date=dt.date(2026, 11, 1))  # fmt: skip
        out.update(accepted=parsed.receipt.rows_accepted, rejected=parsed.receipt.rows_rejected)
        if side == "mast-ingest":
            sink = io.BytesIO()
            pq.write_table(parsed.records, sink, compression="snappy")
            out["parquet_mb"] = round(sink.getbuffer().nbytes / 2**20, 1)
    out["seconds"] = round(time.perf_counter() - t0, 3)
    out["cpu_seconds"] = round(_cpu() - cpu0, 3)
    return out


if __name__ == "__main__":
    print(json.dumps(_side(sys.argv[1], Path(sys.argv[2]))))
