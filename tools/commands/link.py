"""`mast link INPUT --out OUTPUT [--decisions FILE]`: link a file of canonical records, offline.

INPUT is CSV or Parquet with the canonical columns (``record_id`` required; ``source, given_name,
middle_name, family_name, dob, sex, address_line1, address_line2, postcode, nhs_number, uprn,
record_date`` optional). OUTPUT gets ``record_id, person_id, address_id`` as CSV or Parquet by its
extension. The model is trained on the input itself unless ``--model`` gives one; ``--save-model``
keeps it (JSON: m, u, λ per level — no personal data). Only counts are printed, never a name.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("link", help="link a file of canonical records into people and addresses")
    parser.add_argument("input", type=Path, help="canonical records, .csv or .parquet")
    parser.add_argument("--out", type=Path, required=True, help="record_id, person_id, address_id (.csv/.parquet)")
    parser.add_argument("--decisions", type=Path, help="steward decisions: record_id_a,record_id_b,decision")
    parser.add_argument("--model", type=Path, help="use this trained model instead of training on the input")
    parser.add_argument("--save-model", type=Path, help="write the model used (JSON)")
    parser.add_argument("--threshold", type=float, help="match probability to link at (default: the model's)")
    parser.add_argument("--workers", type=int, help="processes (default: all cores)")
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from mast.linkage.decisions import load_decisions
    from mast.linkage.io import read_canonical, write_result
    from mast.linkage.link import Linker, LinkOptions
    from mast.linkage.model import Model
    from mast.linkage.table import prepare

    started = time.perf_counter()
    columns = read_canonical(args.input)
    table = prepare(columns)
    decisions = load_decisions(args.decisions) if args.decisions else []
    model = Model.from_json(args.model.read_text("utf-8")) if args.model else None
    if model is not None and args.threshold is not None:
        model.threshold = args.threshold
    options = LinkOptions(workers=args.workers)
    if model is None and args.threshold is not None:
        linker = Linker.build(table, None, decisions, options)
        linker.model.threshold = args.threshold
        linker = Linker.build(table, linker.model, decisions, options)
    else:
        linker = Linker.build(table, model, decisions, options)
    people = linker.person_ids()
    write_result(args.out, {
        "record_id": table.record_id,
        "person_id": people,
        "address_id": linker.address_ids(),
    })
    if args.save_model:
        args.save_model.write_text(linker.model.to_json(), "utf-8")
    stats = linker.stats
    print(f"{len(table)} records -> {len(set(people.tolist()))} people; "
          f"{stats['linked_pairs']} linked pairs, {stats['vetoed_pairs']} held apart by household guards; "
          f"{len(decisions)} steward decisions ({stats['decisions_skipped']} about records not in this input)")
    print(f"{args.out} written in {time.perf_counter() - started:.1f} s")
    return 0
