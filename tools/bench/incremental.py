"""`mast bench incremental`: the match function's incremental link beside the bare ``Linker.add``, in one run.

``mast bench linkage --extras`` times :meth:`mast.linkage.link.Linker.add` of 10,000 records on
a population already in memory. The match function has no population in memory: on each message
it prepares the curated records, restores the live people (:meth:`Linker.restore`, from the saved
record → person state) and then adds (:mod:`mast.index.linking`). This bench times those steps on
``mast generate`` data, beside the bare add on the same split, and counts records whose person
differs between the two (the restore must give the same people). DynamoDB and S3 are not
measured: only compute. Prints counts and seconds, never a name.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path("bench-data/results")


def register_bench(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("incremental", help="the match function's incremental link beside Linker.add")
    parser.add_argument("--records", type=int, default=1_000_000, help="generated records (default 1,000,000)")
    parser.add_argument("--new", type=int, default=10_000, help="records added incrementally (default 10,000)")
    parser.add_argument("--workers", type=int, help="processes for the batch link (default: all cores)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default {RESULTS})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from mast.linkage.link import Linker, LinkOptions
    from mast.linkage.table import Factorised, prepare
    from tools.bench.generated import generated

    dataset = generated(args.records)
    n = len(dataset.truth)
    rng = np.random.default_rng(7)
    is_new = np.zeros(n, dtype=bool)
    is_new[rng.choice(n, size=min(args.new, n // 10), replace=False)] = True

    def subset(mask: np.ndarray) -> dict[str, Factorised]:
        return {k: Factorised(v.uniques, v.codes[mask]) for k, v in dataset.canonical.items()}

    live = Linker.build(prepare(subset(~is_new)), options=LinkOptions(workers=args.workers))
    model, people = live.model, live.person_ids()
    live.key_index()  # the population in memory, lookup-key index included, as the reference has it
    started = time.perf_counter()
    live.add(subset(is_new))
    reference = time.perf_counter() - started
    reference_people = live.person_ids()
    del live

    started = time.perf_counter()
    table = prepare(subset(~is_new))
    prepared = time.perf_counter()
    restored = Linker.restore(table, model, people.tolist())
    restored_at = time.perf_counter()
    added = restored.add(subset(is_new))
    finished = time.perf_counter()
    differ = int((restored.person_ids() != reference_people).sum())
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "base_records": int((~is_new).sum()),
        "new_records": int(is_new.sum()),
        "reference_add_seconds": round(reference, 2),
        "match_path_seconds": {
            "prepare": round(prepared - started, 2),
            "restore": round(restored_at - prepared, 2),
            "add": round(finished - restored_at, 2),
            "total": round(finished - started, 2),
        },
        "ratio_total_to_reference": round((finished - started) / reference, 2) if reference else None,
        "candidate_pairs": added.candidate_pairs,
        "records_whose_person_differs": differ,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "incremental.json").write_text(json.dumps(result, indent=1) + "\n", "utf-8")
    m = result["match_path_seconds"]
    print(f"{result['new_records']:,} new records against {result['base_records']:,}:")
    print(f"  Linker.add on the population in memory (reference): {result['reference_add_seconds']} s")
    print(f"  match function path: prepare {m['prepare']} s + restore {m['restore']} s + add {m['add']} s"
          f" = {m['total']} s (x{result['ratio_total_to_reference']} the reference)")
    print(f"  records whose person differs from the reference: {differ}")
    return 0
