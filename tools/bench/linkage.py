"""`mast bench linkage`: MAST beside Splink on the labelled data and on `mast generate` data.

For every dataset each side runs in its own process (:mod:`tools.bench.measure`), one after the
other in the same run: precision, recall and F1 of the pairs each links and of the pairs its
clusters imply, seconds, records per second and peak memory. On generated data MAST also reports
an incremental link of 10,000 new records and search scoring. Results go to
``bench-data/results/linkage.md`` (and ``.json``), with Splink's configuration written down in
``linkage-splink-config.md`` beside them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parents[2] / "bench-data" / "results"
LABELLED = ("historical_50k", "pseudopeople_wic_census", "febrl4")
#: What a dataset's figures are for, printed under the table beside its rows.
NOTES = {
    "febrl4": "febrl4 is a smoke test (issue 20): its bar is precision at least 0.99, and its recall is not a "
              "target. FEBRL replaces given names and dates of birth wholesale; the household guards hold such "
              "pairs apart, because in real households a different given name with the same date of birth is a "
              "twin, and the same name with a date of birth decades away a parent. No FEBRL recall is bought "
              "with those guards.",
}
GENERATED_SIZES = (100_000,)
LARGE_SIZES = (1_000_000,)


def register_bench(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("linkage", help="MAST vs Splink: linkage quality, speed and memory")
    parser.add_argument("--large", action="store_true",
                        help="only the large link: the sharded link (issue 15) beside the one-process link on "
                             "1,000,000 generated records (--records to change), people compared")
    parser.add_argument("--records", type=int, default=LARGE_SIZES[0], help="generated records for --large")
    parser.add_argument("--datasets", nargs="*", help="only these (names as printed; generated:<records>)")
    parser.add_argument("--skip-splink", action="store_true", help="MAST only (no reference: figures not comparable)")
    parser.add_argument("--workers", type=int, help="MAST processes (default: all cores)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default {RESULTS})")
    parser.set_defaults(func=run)


def _datasets(args: argparse.Namespace) -> tuple[list[str], list[str]]:
    todo: list[str] = []
    generator = importlib.util.find_spec("tools.generate") is not None
    if args.datasets:
        return list(args.datasets), todo
    names = list(LABELLED)
    sizes = list(GENERATED_SIZES)
    if generator:
        names += [f"generated:{n}" for n in sizes]
    else:
        todo.append("TODO: `mast generate` is not in this tree yet (no tools.generate): generated-data rows "
                    f"({', '.join(f'{n:,}' for n in sizes)} records) are not measured.")
    return names, todo


def _row(name: str, side: str, r: dict[str, Any]) -> str:
    if "error" in r:
        return f"| {name} | {side} | error: {r['error'][:80]} | | | | | | |"
    c, p = r["cluster"], r["pairwise"]
    return (f"| {name} | {side} | {c['precision']:.4f} | {c['recall']:.4f} | **{c['f1']:.4f}** | "
            f"{p['precision']:.4f} / {p['recall']:.4f} / {p['f1']:.4f} | {r['seconds']:.1f} | "
            f"{r['records_per_second']:,} | {r['peak_pss_mb']:,.0f} |")


def _ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> str:
    if "error" in a or "error" in b or not b.get(key):
        return "n/a"
    return f"{a[key] / b[key]:.2f}"


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              cwd=Path(__file__).parent, check=False).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def run(args: argparse.Namespace) -> int:
    if args.large:
        from tools.bench.large import run_large

        return run_large(args)
    from tools.bench.measure import run_side
    from tools.bench.splink_side import CONFIG_NOTES, SAME_FIELDS_NOTE

    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    names, notes = _datasets(args)
    header = ("| dataset | side | cluster precision | cluster recall | cluster F1 | pairwise P / R / F1 | seconds | "
              "records/s | peak MB (PSS) |\n|---|---|---|---|---|---|---|---|---|")
    print(header)
    results: dict[str, dict[str, Any]] = {}
    lines = [header]
    extras: list[str] = []
    for name in names:
        mast_args = ["mast", name] + (["--extras"] if name.startswith("generated") else [])
        if args.workers:
            mast_args += ["--workers", str(args.workers)]
        mast = run_side(mast_args)
        splink = run_side(["splink", name]) if not args.skip_splink else {"error": "skipped"}
        label = mast.get("dataset", splink.get("dataset", name))
        results[label] = {"mast": mast, "splink": splink}
        sides = [("MAST", mast), ("Splink", splink)]
        if not args.skip_splink and not name.startswith("generated"):
            same = run_side(["splink-same-fields", name])
            results[label]["splink_same_fields"] = same
            sides.append(("Splink, same fields", same))
        for side, r in sides:
            line = _row(label, side, r)
            lines.append(line)
            print(line, flush=True)
        if "incremental" in mast:
            inc, srch = mast["incremental"], mast["search_ms"]
            extras.append(f"- {label}: incremental link of {inc['new_records']:,} new records against "
                          f"{inc['base_records']:,} linked: {inc['seconds']:.2f} s ({inc['candidate_pairs']:,} "
                          f"candidate pairs; cluster F1 afterwards {inc['cluster_after']['f1']:.4f}). Search "
                          f"scoring: median {srch['median']:.2f} ms, p95 {srch['p95']:.2f} ms over "
                          f"{srch['queries']} queries.")
        extras.append(f"- {label}: MAST/Splink time ratio {_ratio(mast, splink, 'seconds')}, peak memory ratio "
                      f"{_ratio(mast, splink, 'peak_pss_mb')}; MAST stages (s): {mast.get('stage_seconds', {})}; "
                      f"MAST CPU-s: main process {mast.get('cpu_seconds', 'n/a')}, workers "
                      f"{mast.get('worker_cpu_seconds', 'n/a')}, load average {os.getloadavg()[0]:.1f} at the end")
        if label in NOTES:
            extras.append(f"- {NOTES[label]}")
    elapsed = time.perf_counter() - started
    machine = f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    load = os.getloadavg()
    machine += (f"; the machine is shared: load average {load_start:.1f} at the start, {load[0]:.1f} / {load[1]:.1f} / "
                f"{load[2]:.1f} at the end (1 / 5 / 15 min; load changes times, not precision or recall)")
    report = [
        "# mast bench linkage",
        "",
        f"Run {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} at commit {_git_commit()} on {machine}; "
        f"the whole run took {elapsed:.0f} s.",
        "",
        "Each side ran in its own process, one after the other. Cluster figures count the pairs each side's "
        "clusters imply; pairwise figures the pairs it scored at or above its own threshold. For a link of two "
        "files only pairs across the files count. MAST at its default threshold; Splink as configured in "
        "[linkage-splink-config.md](linkage-splink-config.md); \"Splink, same fields\" is that configuration restricted "
        "to the fields MAST links on. Peak memory: proportional set size summed over the "
        "process and its workers.",
        "",
        *lines,
        "",
        *extras,
        *([""] + notes if notes else []),
        "",
    ]
    for note in notes:
        print(note)
    for line in extras:
        print(line)
    print(f"whole run: {elapsed:.0f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "linkage.md").write_text("\n".join(report), "utf-8")
    (args.out / "linkage.json").write_text(json.dumps(results, indent=2), "utf-8")
    config = ["# Splink configuration used by `mast bench linkage`", "",
              "Splink version: " + _splink_version(), ""]
    for key in (*LABELLED, "generated"):
        config += [f"## {key}", "", CONFIG_NOTES[key], ""]
    config += ["## Splink, same fields", "", SAME_FIELDS_NOTE, ""]
    (args.out / "linkage-splink-config.md").write_text("\n".join(config), "utf-8")
    print(f"written: {args.out / 'linkage.md'}, linkage.json, linkage-splink-config.md")
    return 0


def _splink_version() -> str:
    try:
        from importlib.metadata import version

        return version("splink")
    except Exception:  # noqa: BLE001 - only a label
        return "not installed"
