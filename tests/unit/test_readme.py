"""The README holds (issue 18, point 5): every `./bin/mast` command in it (shell blocks and text) parses with
the real `mast` parser as written (options in the order shown), the ones that need no running stack
are run and must succeed, and every relative link names a file of this repository (a link outside
it, like the old `../shared/DESIGN.md`, breaks in a clone)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAST = Path(sys.executable).parent / "mast"

#: Commands that need nothing running: run for real, they must exit 0.
CHEAP = {("feeds", "spec"), ("local", "totp"), ("audit", "list")}
#: Commands that need the running local stack, a file of the reader's or AWS: parsed only.
NEEDS_MORE = {("local", "--demo"), ("local", "fault"), ("ingest",), ("feeds", "check"), ("package",),
              ("audit", "query"), ("dlq", "list"), ("dlq", "show"), ("dlq", "redrive"), ("feeds", "erase"),
              ("alerts", "digest")}


def shell_commands() -> list[str]:
    """Each command of the README's ```sh blocks, continuations joined, comments dropped."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", README, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def mast_commands() -> list[list[str]]:
    """The `./bin/mast` commands of the shell blocks and of the text (`./bin/mast local totp`)."""
    inline = re.findall(r"`(\./bin/mast [^`]+)`", README)
    found = [c for c in shell_commands() if c.startswith("./bin/mast ")] + inline
    return [shlex.split(c)[1:] for c in dict.fromkeys(found)]


def kind(argv: list[str]) -> tuple[str, ...]:
    for size in (2, 1):
        if tuple(argv[:size]) in CHEAP | NEEDS_MORE:
            return tuple(argv[:size])
    raise AssertionError(f"README command `mast {' '.join(argv)}` is neither cheap nor known to need more: "
                         "add it to CHEAP or NEEDS_MORE")


def test_the_readme_has_its_commands() -> None:
    kinds = {kind(a) for a in mast_commands()}
    assert {("local", "--demo"), ("local", "totp"), ("feeds", "spec"), ("audit", "query")} <= kinds
    assert "./bin/test" in shell_commands()


@pytest.mark.parametrize("argv", mast_commands(), ids=lambda a: " ".join(a)[:60])
def test_every_readme_command_parses_as_written(argv: list[str]) -> None:
    from tools.cli import build_parser

    kind(argv)
    args = build_parser().parse_args(argv)  # argparse exits (SystemExit 2) on an option it does not know
    assert callable(args.func)


@pytest.mark.parametrize("argv", [a for a in mast_commands() if kind(a) in CHEAP], ids=lambda a: " ".join(a))
def test_the_cheap_readme_commands_run(argv: list[str], tmp_path: Path) -> None:
    done = subprocess.run([str(MAST), *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


def test_every_relative_link_names_a_file_of_the_repository() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    assert links
    broken = []
    for link in links:
        if re.match(r"^[a-z]+://|^mailto:|^#", link):
            continue
        target = (ROOT / link.split("#", 1)[0]).resolve()
        if not target.is_relative_to(ROOT) or not target.exists():
            broken.append(link)
    assert not broken, broken
