"""`mast bench …`: benchmarks, one per module in :mod:`tools.bench`.

A bench module exposes ``register_bench(subparsers)``, which adds its own subcommand (``linkage``,
``ingest``, ``search`` …) and sets ``func``. Modules are discovered, so adding a bench touches no
shared file. Benchmarks print figures (and write them under ``bench-data/results``); they assert
nothing.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil


def register(subparsers: argparse._SubParsersAction) -> None:
    import tools.bench

    parser = subparsers.add_parser("bench", help="run a benchmark (figures beside a reference, in one run)")
    benches = parser.add_subparsers(dest="bench", metavar="BENCH", required=True)
    for info in sorted(pkgutil.iter_modules(tools.bench.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"tools.bench.{info.name}")
        hook = getattr(module, "register_bench", None)
        if hook is not None:
            hook(benches)
