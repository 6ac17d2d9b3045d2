"""The house rules, run with the tests: lint and import order (ruff), types (mypy), and the
architecture's import contracts (import-linter: `mast/` imports nothing from `functions/`, `infra/`
or `tools/`; no domain package imports the HTTP edge; the search path imports neither pandas nor
pyarrow). Each is configured in pyproject.toml and pinned in the `dev` extra."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize("command", [
    ["ruff", "check", "."],
    ["mypy"],
    ["lint-imports"],
], ids=["ruff", "mypy", "import-contracts"])
def test_house_rule_holds(command: list[str]) -> None:
    result = subprocess.run([str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True,
                            timeout=300, check=False)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_functions_import_nothing_from_infra_or_tools() -> None:
    """Handlers are thin and ship alone: they import `mast` and their libraries, never the edges."""
    offenders = []
    for app in sorted((ROOT / "functions").glob("*/app.py")):
        for number, line in enumerate(app.read_text(encoding="utf-8").splitlines(), 1):
            words = line.strip().split()
            if len(words) >= 2 and words[0] in ("import", "from") and words[1].split(".")[0] in ("infra", "tools"):
                offenders.append(f"{app.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, offenders


def test_each_function_ships_only_the_mast_modules_it_imports() -> None:
    """`mast package` copies a handler's import closure: no benchmark or generator code in any
    function, nothing that imports pandas or pyarrow in the search function, and no function
    carrying another's domain (the search function has no feed parsing, ingest no search)."""
    from infra.package import mast_modules

    shipped = {app.parent.name: {str(p.relative_to(ROOT)) for p in mast_modules(app)}
               for app in sorted((ROOT / "functions").glob("*/app.py"))}
    assert set(shipped) == {"audit", "ingest", "match", "rebuild", "search", "users"}
    for name, files in shipped.items():
        assert all(f.startswith("mast/") for f in files), name
        assert not [f for f in files if "bench" in f or "generate" in f], name
    assert "mast/search/query.py" in shipped["search"] and "mast/feeds/parse.py" in shipped["ingest"]
    assert "mast/feeds/parse.py" not in shipped["search"] and "mast/search/query.py" not in shipped["ingest"]
    heavy = [f for f in shipped["search"] if any(word in (ROOT / f).read_text(encoding="utf-8")
                                                  for word in ("import pyarrow", "import pandas"))]
    assert not heavy, heavy
