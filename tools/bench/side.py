"""One side of the linkage benchmark in a process of its own: ``python -m tools.bench.side SIDE DATASET``.

Prints one JSON line: quality against the dataset's truth (pairwise and of the clusters), the
linkage time and records per second. ``SIDE`` is ``mast`` or ``splink``; ``DATASET`` one of the
labelled datasets or ``generated:<records>``. For MAST on generated data it also times an
incremental link of 10,000 new records and the scoring of searches. Nothing personal is printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from tools.bench.datasets import LOADERS, Dataset
from tools.bench.metrics import cluster_quality, pairwise_quality

INCREMENTAL_NEW = 10_000
SEARCHES = 500


def load(name: str) -> Dataset:
    if name.startswith("generated:"):
        from tools.bench.generated import generated

        return generated(int(name.split(":", 1)[1]))
    return LOADERS[name]()


def _quality(labels: np.ndarray, lo: np.ndarray, hi: np.ndarray, dataset: Dataset) -> dict[str, Any]:
    return {
        "cluster": cluster_quality(labels, dataset.truth, dataset.side).as_dict(),
        "pairwise": pairwise_quality(lo, hi, dataset.truth, dataset.side).as_dict(),
    }


def run_mast(dataset: Dataset, workers: int | None, extras: bool, people: str | None = None) -> dict[str, Any]:
    from mast.linkage.link import Linker, LinkOptions
    from mast.linkage.table import prepare

    started, cpu_before = time.perf_counter(), os.times()
    table = prepare(dataset.canonical)
    prepared = time.perf_counter()
    linker = Linker.build(table, options=LinkOptions(workers=workers))
    seconds = time.perf_counter() - started
    cpu_after = os.times()  # the link's workers have been joined: their time is in the children's
    lo, hi, _ = linker.edges or (np.zeros(0), np.zeros(0), None)
    result: dict[str, Any] = {
        "records": len(table),
        "seconds": round(seconds, 2),
        "records_per_second": round(len(table) / seconds),
        "prepare_seconds": round(prepared - started, 2),
        # CPU time of this process and of the link's worker processes: what the link costs whatever else
        # runs on the machine (wall-clock seconds grow with the load; these barely do)
        "cpu_seconds": round(cpu_after.user + cpu_after.system - cpu_before.user - cpu_before.system, 1),
        "worker_cpu_seconds": round(cpu_after.children_user + cpu_after.children_system
                                    - cpu_before.children_user - cpu_before.children_system, 1),
        "stage_seconds": {k: round(v, 2) for k, v in linker.stats["seconds"].items()},
        "threshold": linker.model.threshold,
        "candidate_pairs": linker.stats["candidate_pairs"],
        **_quality(linker.labels, lo, hi, dataset),
    }
    if people:  # for comparing its people with another link's (`mast bench linkage --large`)
        from mast.linkage.sharded import write_columns

        write_columns(people, {"person_id": linker.person_ids()})
        Path(people).with_suffix(".model.json").write_text(linker.model.to_json(), "utf-8")
    if extras:
        model = linker.model
        del linker, table  # the incremental run builds its own population: do not hold two
        result.update(_incremental_and_search(dataset, model, workers))
    return result


def _incremental_and_search(dataset: Dataset, model: Any, workers: int | None) -> dict[str, Any]:
    """Link all but 10,000 records, then add those 10,000; time searches against the result."""
    from mast.linkage.link import Linker, LinkOptions
    from mast.linkage.table import Factorised, prepare

    n = len(dataset.truth)
    rng = np.random.default_rng(7)
    new_rows = np.sort(rng.choice(n, size=min(INCREMENTAL_NEW, n // 10), replace=False))
    is_new = np.zeros(n, dtype=bool)
    is_new[new_rows] = True

    def subset(mask: np.ndarray) -> dict[str, Factorised]:
        return {k: Factorised(v.uniques, v.codes[mask]) for k, v in dataset.canonical.items()}

    base = Linker.build(prepare(subset(~is_new)), model=model, options=LinkOptions(workers=workers))
    base.key_index()  # the linked population's lookup-key index is part of what is already linked
    started = time.perf_counter()
    added = base.add(subset(is_new))
    incremental = time.perf_counter() - started
    order = np.concatenate([np.nonzero(~is_new)[0], np.nonzero(is_new)[0]])
    truth = dataset.truth[order]
    quality = cluster_quality(base.labels, truth).as_dict()
    # searches: a query made of a record's name, date of birth and postcode, scored against the index
    queries = rng.choice(len(base.table), size=SEARCHES, replace=False)
    fields = ("given_name", "family_name", "dob", "postcode")
    canon = {k: dataset.canonical[k] for k in fields if k in dataset.canonical}
    timings = []
    for q in queries.tolist():
        row = order[q]
        query = {}
        for k, col in canon.items():
            code = int(col.codes[row])
            query[k] = col.uniques[code] if code >= 0 else None
        t = time.perf_counter()
        base.search(query)
        timings.append(time.perf_counter() - t)
    ms = np.asarray(timings) * 1000
    return {
        "incremental": {"base_records": int((~is_new).sum()), "new_records": int(is_new.sum()),
                        "seconds": round(incremental, 2), "candidate_pairs": added.candidate_pairs,
                        "cluster_after": quality},
        "search_ms": {"median": round(float(np.median(ms)), 2), "p95": round(float(np.percentile(ms, 95)), 2),
                      "queries": len(ms)},
    }


def run_splink(dataset: Dataset, same_fields: bool = False) -> dict[str, Any]:
    from tools.bench.splink_side import RUNNERS, run_generated

    logging.getLogger("splink").setLevel(logging.ERROR)
    if dataset.name.startswith("generated"):
        out = run_generated(dataset)
    else:
        out = RUNNERS[dataset.name](dataset, same_fields=same_fields)
    lo, hi = out["pairs"]
    n = len(dataset.truth)
    return {
        "records": n,
        "seconds": round(out["seconds"], 2),
        "records_per_second": round(n / out["seconds"]),
        "threshold": out["threshold"],
        **_quality(out["labels"], lo, hi, dataset),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tools.bench.side")
    parser.add_argument("side", choices=("mast", "splink", "splink-same-fields"))
    parser.add_argument("dataset")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--extras", action="store_true", help="MAST: also incremental link and search timings")
    parser.add_argument("--people", help="MAST: write each record's person id to this Arrow file (and the model beside)")
    args = parser.parse_args()
    dataset = load(args.dataset)
    if args.side == "mast":
        result = run_mast(dataset, args.workers, args.extras, args.people)
    else:
        result = run_splink(dataset, same_fields=args.side == "splink-same-fields")
    result["dataset"] = dataset.name
    result["side"] = args.side
    print(json.dumps(result))


if __name__ == "__main__":
    main()
