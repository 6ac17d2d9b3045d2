"""`mast …`: the operator's command.

Each subcommand lives in its own module under :mod:`tools.commands` (the local stack's and
packaging's in :mod:`infra`, registered here by name) and exposes
``register(subparsers)``, which adds its parser and sets ``func`` to a callable taking the parsed
arguments and returning an exit code. Modules are discovered, so adding a command touches no
shared file. Heavy imports (moto, pyarrow) stay inside the command functions, so ``mast --help``
is quick.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Callable, Sequence
from typing import Any

from tools import commands


def _infra_commands() -> list[Callable[[Any], None]]:
    """`mast local …` and `mast package`: they live with the infrastructure they drive."""
    from infra import package
    from infra.local import cli as local

    return [local.register, package.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mast", description="MAST, the Multi Agency Safeguarding Tracker: operator's command."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{commands.__name__}.{module_info.name}")
        module.register(subparsers)
    for register in _infra_commands():
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
