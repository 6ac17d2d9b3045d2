"""`mast generate`: synthetic partner extracts, one CSV per feed in the partner's own format.

``--people N --seed S --out DIR`` writes ``<feed id>.csv`` for every configured feed and
``truth.csv`` (file, row, person_id, address_id). ``--days D`` writes D days of extracts into
``DIR/day-1`` … ``DIR/day-D``. The same people, seed, days and ``--as-of`` give the same bytes;
``--as-of`` defaults to today so that record dates fall in the window a search shows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="write synthetic partner extracts and their truth")
    parser.add_argument("--people", type=int, required=True, help="distinct people across the extracts")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--days", type=int, default=1, help="days of extracts (default 1)")
    parser.add_argument("--as-of", type=dt.date.fromisoformat, default=None,
                        help="date of the (last) extract, YYYY-MM-DD; default today")  # fmt: skip
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from tools.generate import generate_days

    if args.people < 1 or args.days < 1:
        print("--people and --days must be at least 1")
        return 2
    started = time.perf_counter()
    days = generate_days(args.people, args.seed, args.days, as_of=args.as_of)
    for day in days:
        folder = args.out if args.days == 1 else args.out / f"day-{day.day}"
        day.write(folder)
        for f in day.files.values():
            faults = f"{len(f.bad_rows)} deliberately bad" if f.bad_rows else "no bad rows"
            print(f"{folder / f.file_name}: {f.rows} rows ({faults})")
        print(f"{folder / 'truth.csv'}")
    rows = sum(f.rows for d in days for f in d.files.values())
    print(f"{rows} rows for {args.people} people in {time.perf_counter() - started:.1f} s")
    return 0
