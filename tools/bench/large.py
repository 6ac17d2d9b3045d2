"""`mast bench linkage --large`: the sharded link (issue 15) beside the one-process link, one run.

On generated records (a million unless ``--records``), each side in a process of its own, one after
the other: the one-process link (:meth:`mast.linkage.link.Linker.build`, its forked workers) and the
sharded link (:func:`mast.linkage.sharded.link_locally`: every step a process holding only its own
files, at most two at a time). Printed: seconds of each, the peak memory of every process, precision
and recall of each, whether the two trained the same model, and the people compared: records whose
person (the set of records it holds) differs between the two. Results go to
``bench-data/results/linkage-large.md`` (and ``.json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from mast.linkage.arrays import unique_inverse


def compare_people(one: np.ndarray, other: np.ndarray) -> dict[str, int]:
    """How two partitions of the same records differ: records whose cluster (as a set of records) is
    not the same in both, and how many clusters of each side have no exact twin on the other."""
    _, a = unique_inverse(np.asarray(one).astype(str))
    _, b = unique_inverse(np.asarray(other).astype(str))
    both, pair = unique_inverse(a.astype(np.int64) * (int(b.max(initial=0)) + 1) + b)
    pair_count = np.bincount(pair)
    same = (pair_count[pair] == np.bincount(a)[a]) & (pair_count[pair] == np.bincount(b)[b])
    return {"records": len(a), "people_one": int(a.max(initial=-1)) + 1, "people_other": int(b.max(initial=-1)) + 1,
            "records_differing": int((~same).sum()), "people_one_without_twin": len(np.unique(a[~same])),
            "people_other_without_twin": len(np.unique(b[~same])), "cluster_pairs": len(both)}


def _scheduled(cpu: list[float], processes: int) -> float:
    """When the last of these steps ends, each taking its CPU-seconds, started in order as soon as one
    of ``processes`` is free (as :func:`mast.linkage.sharded.run_steps` starts them)."""
    free = [0.0] * max(processes, 1)
    for seconds in cpu:
        free.sort()
        free[0] += seconds
    return max(free, default=0.0)


def idle_estimate(steps: dict[str, Any], processes: int) -> dict[str, float]:
    """The sharded link's seconds on an idle machine, estimated from each step's CPU-seconds (its wall
    seconds on a shared machine are stretched by others' work): prepare's own stages in turn, its
    training beside the writing of the table and the shards; the score and refine steps scheduled on
    ``processes``; cluster and finish alone. Process starts and waits on files are left out."""
    stage = steps["prepare"]["stages"]
    cpu = {k.removeprefix("cpu:"): v for k, v in stage.items() if k.startswith("cpu:")}
    writes = sum(cpu.get(k, 0.0) for k in ("write_table", "write_shards", "wait_for_train"))
    prepare = cpu.get("read_and_normalise", 0.0) + cpu.get("keys", 0.0) + max(cpu.get("train", 0.0), writes)
    parts = {"prepare": prepare,
             "score": _scheduled([s["cpu_seconds"] for s in steps["score"]], processes),
             "cluster": steps["cluster"]["cpu_seconds"],
             "refine": _scheduled([r["cpu_seconds"] for r in steps["refine"]], processes),
             "finish": steps["finish"]["cpu_seconds"]}
    return {**{k: round(v, 1) for k, v in parts.items()}, "total": round(sum(parts.values()), 1)}


def _peaks(values: list[float]) -> str:
    return ", ".join(f"{v:,.0f}" for v in values)


def _tenths(values: list[float]) -> str:
    return ", ".join(f"{v:,.1f}" for v in values)


def run_large(args: argparse.Namespace) -> int:
    from mast.linkage.sharded import read_columns
    from tools.bench.generated import build
    from tools.bench.linkage import _git_commit
    from tools.bench.measure import run_side

    name = f"generated:{args.records}"
    build(args.records)  # the data exists before either side is timed
    started, load_start = time.perf_counter(), os.getloadavg()[0]
    processes = args.workers or 2
    with tempfile.TemporaryDirectory(prefix="mast-large-") as tmp:
        one = run_side(["mast", name, "--people", f"{tmp}/one.arrow"]
                       + (["--workers", str(args.workers)] if args.workers else []))
        print(f"one-process link: {one.get('seconds')} s" if "error" not in one else one["error"], flush=True)
        sharded = run_side([name, f"{tmp}/rebuild", f"{tmp}/sharded.arrow", "--processes", str(processes)],
                           module="tools.bench.sharded_side")
        print(f"sharded link: {sharded.get('seconds')} s" if "error" not in sharded else sharded["error"], flush=True)
        if "error" in one or "error" in sharded:
            return 1
        same_model = (Path(f"{tmp}/one.model.json").read_text("utf-8") == Path(sharded["model"]).read_text("utf-8"))
        people = compare_people(read_columns(f"{tmp}/one.arrow")["person_id"],
                                read_columns(f"{tmp}/sharded.arrow")["person_id"])
    elapsed = time.perf_counter() - started
    load = os.getloadavg()
    steps = sharded["steps"]
    step_peaks = ([steps["prepare"]["peak_mb"]] + [s["peak_mb"] for s in steps["score"]] + [steps["cluster"]["peak_mb"]]
                  + [r["peak_mb"] for r in steps["refine"]] + [steps["finish"]["peak_mb"]])
    idle = idle_estimate(steps, processes)
    rows = []
    for side, r in (("one process (Linker.build)", one), ("sharded (mast.linkage.sharded)", sharded)):
        c, p = r["cluster"], r["pairwise"]
        rows.append(f"| {side} | {c['precision']:.4f} | {c['recall']:.4f} | {c['f1']:.4f} | {p['precision']:.4f} / "
                    f"{p['recall']:.4f} | {r['seconds']:.1f} | {r['peak_rss_mb_by_process'][0]:,.0f} | "
                    f"{max(r['peak_rss_mb_by_process']):,.0f} | {r['peak_pss_mb']:,.0f} |")
    verdict = ("identical: every record is in the same person on both sides" if people["records_differing"] == 0
               else f"{people['records_differing']:,} records are in a person that differs "
                    f"({people['people_one_without_twin']:,} one-process people, {people['people_other_without_twin']:,} "
                    "sharded people without an exact twin)")
    report = [
        "# mast bench linkage --large",
        "",
        f"Run {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} at commit {_git_commit()} on "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; the machine is shared: load "
        f"average {load_start:.1f} at the start, {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} at the end (1 / 5 / 15 "
        f"min). The whole run took {elapsed:.0f} s.",
        "",
        f"{people['records']:,} generated records ({name}). Each side in its own process, one after the other; "
        f"the sharded link ran each step in a process of its own, at most {processes} at a time. Seconds: the link "
        "from the canonical records to every record's person (the one-process side's from records already read "
        "into memory; the sharded side's from the Parquet file, which its prepare step reads). Peak memory: RSS of "
        "each process (the largest is the bar: 4 GB), and PSS summed over the side's processes.",
        "",
        "| link | cluster precision | cluster recall | cluster F1 | pairwise P / R | seconds | main process MB | "
        "largest process MB | peak MB (PSS, all) |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"- People: {verdict}; {people['people_one']:,} people one-process, {people['people_other']:,} sharded.",
        f"- The same model trained on both sides: {'yes' if same_model else 'NO'}. Candidate pairs scored: "
        f"one-process {one['candidate_pairs']:,}, sharded {sharded['candidate_pairs']:,} (each pair once, in the "
        f"shard of its smallest shared key); links: sharded {sharded['linked_pairs']:,}.",
        f"- Time ratio sharded / one-process: {sharded['seconds'] / one['seconds']:.2f}. CPU-s: one-process main "
        f"{one['cpu_seconds']}, workers {one['worker_cpu_seconds']}; sharded orchestrator {sharded['cpu_seconds']}, "
        f"steps {sharded['step_cpu_seconds']}.",
        f"- One-process stages (s): {one['stage_seconds']}; its processes' peaks (MB, RSS sampled): "
        f"{_peaks(one['peak_rss_mb_by_process'])}.",
        f"- Sharded steps: prepare {steps['prepare']['seconds']:.1f} s "
        f"({ {k: v for k, v in steps['prepare']['stages'].items() if not k.startswith('cpu:')} }), "
        f"{steps['prepare']['shards']} score shards "
        f"({_peaks([s['seconds'] for s in steps['score']])} s; records each {_peaks([s['records'] for s in steps['score']])}"
        f"; pairs each {_peaks([s['pairs'] for s in steps['score']])}), cluster {steps['cluster']['seconds']:.1f} s, "
        f"{steps['cluster']['refine_shards']} refine shards ({_peaks([r['seconds'] for r in steps['refine']])} s), "
        f"finish {steps['finish']['seconds']:.1f} s.",
        f"- Sharded steps' peaks (MB, RSS as each step's process measured it, or the largest process it ran; in step "
        f"order): {_peaks(step_peaks)}.",
        f"- Sharded steps' CPU-seconds: prepare {steps['prepare']['cpu_seconds']} (its own stages "
        f"{ {k.removeprefix('cpu:'): v for k, v in steps['prepare']['stages'].items() if k.startswith('cpu:')} }, the "
        f"rest the address lines parsed beside), score {_tenths([s['cpu_seconds'] for s in steps['score']])}, cluster "
        f"{steps['cluster']['cpu_seconds']}, refine {_tenths([r['cpu_seconds'] for r in steps['refine']])}, finish "
        f"{steps['finish']['cpu_seconds']}. **On an idle machine** (estimated from these, not measured: prepare's own "
        f"stages in turn with training beside the writing, score and refine steps scheduled on {processes} "
        f"processes, process starts left out): {idle['total']} s ({idle}).",
        "",
    ]
    print("\n".join(report))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "linkage-large.md").write_text("\n".join(report), "utf-8")
    (args.out / "linkage-large.json").write_text(json.dumps({"one_process": one, "sharded": sharded, "people": people,
                                                             "same_model": same_model, "idle_estimate": idle},
                                                            indent=2), "utf-8")
    print(f"written: {args.out / 'linkage-large.md'}, linkage-large.json")
    return 0
