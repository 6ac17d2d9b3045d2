"""`mast bench search-load`: searches at once on the local stack, as ten practitioners would make them.

Starts ``mast local --demo`` (this tree's, or another's with ``--mast``, for a before/after in one
sitting) on free loopback ports, signs in the demo practitioner, then runs a small bounded load:
``--concurrency`` threads each making ``--rounds`` ``POST /api/search`` calls for names of the demo's
records, all at once. Prints p50 and p95 of the request latency and the requests a second. Nothing
is asserted; the figures go to ``bench-data/results/search-load.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import os
import platform
import queue
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import requests

from tools.bench.lambda_match import DECLARATION, _free_port, _sign_in

RESULTS = Path(__file__).resolve().parents[2] / "bench-data" / "results"


def register_bench(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("search-load", help="concurrent searches on the local demo stack (p50, p95)")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5, help="searches per thread")
    parser.add_argument("--mast", type=Path, default=Path(sys.executable).parent / "mast",
                        help="the `mast` that starts the stack (another tree's, for a before/after)")
    parser.add_argument("--label", default="this tree")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.set_defaults(func=run)


def _start(mast: Path, folder: Path) -> tuple[subprocess.Popen[str], str]:
    ports = [_free_port() for _ in range(3)]
    process = subprocess.Popen([str(mast), "local", "--demo", "--port", str(ports[0]), "--sftp-port", str(ports[1]),
                                "--aws-port", str(ports[2]), "--state-dir", str(folder)], cwd=mast.parents[2],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: queue.Queue[str] = queue.Queue()
    seen: list[str] = []
    threading.Thread(target=lambda: [(lines.put(line), seen.append(line)) for line in process.stdout or []],
                     daemon=True).start()
    deadline = time.time() + 1200
    while time.time() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if line.startswith("MAST is ready: "):
            return process, line.removeprefix("MAST is ready: ").strip().rstrip("/")
    process.kill()
    raise RuntimeError("mast local --demo did not become ready:\n" + "".join(seen[-30:]))


def _queries(folder: Path, n: int) -> list[dict[str, Any]]:
    """Names from the demo's own adults' social care extract (day 3), for searches that find someone."""
    import csv

    out = []
    with (folder / "demo" / "day-3" / "walsall-adults.csv").open(encoding="utf-8-sig", newline="") as handle:
        for row in csv.DictReader(handle):
            if row.get("Forename") and row.get("Surname"):
                out.append({"given_name": row["Forename"], "family_name": row["Surname"]})
            if len(out) >= n:
                break
    return out


def run(args: argparse.Namespace) -> int:
    from infra.local.demo import DEMO_USERS

    with tempfile.TemporaryDirectory(prefix="mast-search-load-") as tmp:
        folder = Path(tmp)
        process, url = _start(args.mast, folder)
        try:
            user = next(u for u in DEMO_USERS if u.groups == ("practitioners",))
            token = _sign_in(url, user.email, user.password)
            queries = _queries(folder, args.concurrency * args.rounds)

            def one(i: int) -> tuple[float, int]:
                body = {"declaration": DECLARATION, "query": queries[i % len(queries)]}
                started = time.perf_counter()
                reply = requests.post(f"{url}/api/search", json=body, headers={"Authorization": token}, timeout=120)
                return time.perf_counter() - started, reply.status_code

            total = args.concurrency * args.rounds
            with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
                # one round at once first, not measured: the environments' cold starts are not the load
                list(pool.map(one, range(args.concurrency)))
                started = time.perf_counter()
                results = list(pool.map(one, range(total)))
            wall = time.perf_counter() - started
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    latencies = sorted(r[0] for r in results)
    figures = {
        "date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "label": args.label, "mast": str(args.mast), "concurrency": args.concurrency, "requests": total,
        "statuses": {str(s): sum(1 for r in results if r[1] == s) for s in sorted({r[1] for r in results})},
        "p50_s": round(statistics.median(latencies), 3),
        "p95_s": round(latencies[max(0, int(0.95 * len(latencies)) - 1)], 3),
        "requests_per_s": round(total / wall, 2),
    }
    print(json.dumps(figures, indent=1))
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "search-load.json").open("a") as out:
        out.write(json.dumps(figures) + "\n")
    return 0
