"""Run one side of a benchmark in its own process and measure its time and peak memory.

Each side (MAST, Splink) runs as ``python -m tools.bench.side …`` so that the two peaks are
separable and neither side's imports or caches help the other. Peak memory is the largest sum,
over the child and every process it starts (MAST's pool workers), of proportional set size (PSS:
shared pages divided among the processes sharing them, so forked workers are not counted twice),
sampled every 50 ms with psutil. Falls back to RSS where PSS is unavailable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any


def _tree_memory(proc: Any, by_process: dict[int, int] | None = None) -> tuple[int, int]:
    """PSS and RSS summed over ``proc`` and its descendants; ``by_process``: each one's largest RSS so far."""
    import psutil

    pss = rss = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0, 0
    for p in procs:
        try:
            info = p.memory_full_info()
            pss += getattr(info, "pss", info.rss)
            rss += info.rss
            if by_process is not None:
                by_process[p.pid] = max(by_process.get(p.pid, 0), info.rss)
        except psutil.Error:
            continue
    return pss, rss


def run_side(args: list[str], timeout: float = 3600.0, module: str = "tools.bench.side",
             cwd: str | None = None) -> dict[str, Any]:
    """Run ``python -m <module> <args>``; its JSON result plus ``peak_pss_mb``/``wall_seconds``. With
    ``cwd``, the module and the packages it imports are found there first (another commit's code)."""
    import psutil

    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", module, *args], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=cwd)
    proc = psutil.Process(child.pid)
    peak = {"pss": 0, "rss": 0}
    by_process: dict[int, int] = {}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            pss, rss = _tree_memory(proc, by_process)
            peak["pss"] = max(peak["pss"], pss)
            peak["rss"] = max(peak["rss"], rss)
            done.wait(0.05)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        done.set()
        return {"error": f"timed out after {timeout:.0f} s"}
    finally:
        done.set()
        watcher.join()
    wall = time.perf_counter() - started
    result: dict[str, Any]
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if child.returncode != 0 or not lines:
        tail = "\n".join(err.strip().splitlines()[-5:])
        result = {"error": f"exit {child.returncode}: {tail}"}
    else:
        result = json.loads(lines[-1])
    result["peak_pss_mb"] = round(peak["pss"] / 2**20, 1)
    result["peak_rss_mb"] = round(peak["rss"] / 2**20, 1)
    # each process's own peak (RSS, sampled): the side's main process first, then the others largest first
    main = by_process.pop(child.pid, 0)
    result["peak_rss_mb_by_process"] = [round(main / 2**20, 1)] + sorted(
        (round(v / 2**20, 1) for v in by_process.values()), reverse=True)
    result["wall_seconds"] = round(wall, 2)
    return result
