"""The match function links on the local stack within its limits from the template (its Timeout,
its MemorySize, no /dev/shm) and the records become searchable; the batch link takes its worker
processes (the template copy sets MATCH_PARALLEL_MIN_PAIRS to 0, so a small set takes the path that
30,000 records take by default: ``mast bench lambda-match`` runs that full size)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from infra.local.template import load_template
from tools.bench.lambda_match import link_on_stack

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_the_match_function_links_in_worker_processes_within_its_limits_and_search_finds_them(
        tmp_path: Path) -> None:
    template = load_template(ROOT / "template.yaml")
    match = template["Resources"]["MatchFunction"]["Properties"]
    match.setdefault("Environment", {}).setdefault("Variables", {})["MATCH_PARALLEL_MIN_PAIRS"] = "0"
    copy = tmp_path / "template.yaml"
    copy.write_text(yaml.safe_dump(template, sort_keys=False))
    result = link_on_stack(1500, tmp_path / "stack", template=copy, announce=lambda _: None, timeout=600)
    assert result.outcome == "linked", result  # one run, not failed, nothing left on the queue
    assert result.invocations >= 1 and result.errors == {} and result.match_cpu_seconds > 0
    assert result.failures == []  # nothing dead-lettered
    assert result.records > 1000 and result.people_indexed > 500
    assert result.found, result
    assert result.match_timeout_s == 900 and result.match_memory_mb == 10240  # the template's own limits
    assert 0 < result.match_peak_mb < result.match_memory_mb
