"""`mast package`: each function's deployment folder, for the template's runtime and architecture.

For every ``AWS::Serverless::Function`` of ``template.yaml``: its handler folder, the ``mast``
package, the configuration it reads (``infra/*.yaml``), and its Python dependencies installed from
wheels built for the template's runtime and architecture (``pip --platform … --only-binary``).
Only the ``mast`` modules a handler imports (directly or not) are copied beside it. Which
dependencies a function carries is said here, per function: the search function must carry
neither pandas nor pyarrow (its cold start is a practitioner waiting). Prints each unzipped size,
refuses any over Lambda's 250 MB, and writes ``build/template.yaml`` pointing at the folders, for
``sam deploy``.
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from infra.local.template import load_template

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
#: pyproject.toml's core dependencies less boto3 (the runtime's): keep the two alike (numpy 2 is the
#: scorer's floor: numpy.bitwise_count, numpy._core)
CORE = ["pydantic>=2.7,<3", "aws-lambda-powertools>=3.0,<4", "PyYAML>=6", "rapidfuzz>=3.6,<4", "numpy>=2.0"]
#: What each function needs beyond the Lambda runtime. pandas, pyarrow and awswrangler come from
#: AWS's own "AWS SDK for pandas" layer, which the template attaches to the functions that write
#: Parquet (together they exceed Lambda's 250 MB if packaged beside the code).
DEPENDENCIES: dict[str, list[str]] = {
    "IngestFunction": CORE,
    "MatchFunction": CORE,
    "SearchFunction": CORE,
    # DuckDB runs the template's saved queries on the audit page (mast.audit.unusual).
    "AuditFunction": [*CORE, "duckdb>=1.0"],
    "UsersFunction": CORE,
    "RebuildFunction": CORE,
    "MatchShardFunction": CORE,
}
#: Provided by the Lambda Python runtime itself, or by the SDK-for-pandas layer: never packaged.
PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
PROVIDED_BY_LAYER = ("numpy", "numpy.libs", "pandas", "pyarrow", "awswrangler")
FORBIDDEN = {"SearchFunction": ("pandas", "pyarrow")}
PLATFORMS = {"arm64": "manylinux2014_aarch64", "x86_64": "manylinux2014_x86_64"}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("package", help="build each function's deployment folder and print its size")
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="where to build (default build/)")
    parser.set_defaults(func=run)


def _imported(path: Path, package: str) -> set[str]:
    """Modules of ``package`` that the file at ``path`` names in any import, lazy ones included."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.split(".")[0] == package)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] == package:
                names.add(node.module)
                names.update(f"{node.module}.{a.name}" for a in node.names)  # a submodule, if it is one
    return names


def _module_file(name: str) -> Path | None:
    base = ROOT.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def mast_modules(handler: Path) -> list[Path]:
    """Every file of the ``mast`` package that ``handler`` imports, directly or through other modules
    (each package's ``__init__`` on the way included), so that a function ships only what it runs:
    no benchmark, no generator, no module of another function's."""
    seen: set[Path] = set()
    todo = sorted(_imported(handler, "mast"))
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            path = _module_file(".".join(parts[:depth]))
            if path is not None and path not in seen:
                seen.add(path)
                todo.extend(_imported(path, "mast"))
    return sorted(seen)


def _copy_modules(modules: list[Path], folder: Path) -> None:
    """The modules, and the data files (nicknames, vocabularies) of the packages they are in."""
    packages = {m.parent for m in modules}
    for module in modules:
        target = folder / module.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(module, target)
    for package in packages:
        for data in package.iterdir():
            if data.is_file() and data.suffix in (".txt", ".json", ".yaml", ".typed"):
                shutil.copy2(data, folder / data.relative_to(ROOT))


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def run(args: argparse.Namespace) -> int:
    template = load_template(ROOT / "template.yaml")
    globals_ = template.get("Globals", {}).get("Function", {})
    out: Path = args.out
    shutil.rmtree(out / "functions", ignore_errors=True)
    failures = []
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        properties = resource["Properties"]
        runtime = properties.get("Runtime", globals_.get("Runtime"))
        architecture = (properties.get("Architectures") or globals_.get("Architectures") or ["x86_64"])[0]
        folder = out / "functions" / logical_id
        shutil.copytree(ROOT / properties["CodeUri"], folder, ignore=shutil.ignore_patterns("__pycache__"))
        _copy_modules(mast_modules(ROOT / properties["CodeUri"] / "app.py"), folder)
        config = folder / "config"
        shutil.copytree(ROOT / "infra", config, ignore=shutil.ignore_patterns("*.py", "__pycache__", "local"))
        if (folder / "mast" / "audit" / "queries.py").exists():
            # the saved queries' SQL is the template's named queries (mast.audit.queries.DEFAULT_TEMPLATE)
            shutil.copy2(ROOT / "template.yaml", folder / "template.yaml")
        python_version = runtime.removeprefix("python")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-warn-conflicts",
             "--target", str(folder),
             "--platform", PLATFORMS[architecture], "--implementation", "cp", "--python-version", python_version,
             "--only-binary=:all:", *DEPENDENCIES[logical_id]],
            check=True,
        )
        layered = bool(properties.get("Layers"))
        for name in PROVIDED + (PROVIDED_BY_LAYER if layered else ()):
            for path in list(folder.glob(name)) + list(folder.glob(f"{name.split('.')[0]}-*.dist-info")):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        present = [name for name in FORBIDDEN.get(logical_id, ()) if (folder / name).exists()]
        size = _size(folder)
        verdict = "ok" if size < LAMBDA_UNZIPPED_LIMIT and not present else "TOO BIG" if not present else f"carries {present}"
        print(f"{logical_id:16} {runtime} {architecture:7} {size / 1024 / 1024:7.1f} MB unzipped  {verdict}")
        if verdict != "ok":
            failures.append(logical_id)
        properties["CodeUri"] = str(folder.relative_to(out))
        properties.setdefault("Environment", {}).setdefault("Variables", {})["MAST_CONFIG_DIR"] = "/var/task/config"
    # Intrinsics are in their long form (Fn::Sub, Ref): valid CloudFormation YAML as they are.
    (out / "template.yaml").write_text(yaml.safe_dump(template, sort_keys=False))
    print(f"wrote {out / 'template.yaml'}")
    return 1 if failures else 0
