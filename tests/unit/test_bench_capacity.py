"""`mast bench capacity`'s projection: the arithmetic from given counts (no timing, no AWS)."""

from __future__ import annotations

import math

import pytest

from mast.linkage.sharded import PAIRS_PER_SHARD, RECORDS_PER_REFINE
from tools.bench import capacity
from tools.bench.capacity import PRICES, checks, fit, project, rebuild_steps, targets


def _step(seconds: float, peak_mb: float) -> dict[str, float]:
    return {"seconds": seconds, "peak_mb": peak_mb}


def counts(day_seconds: float = 2.0) -> dict:
    """Counts as :func:`capacity.measure` returns them: every step 100 MB fixed plus 1 KB a record, 1 s
    fixed plus 0.5 ms a record; 40 pairs a record."""
    def sharded(n: int) -> dict:
        per = _step(1 + n / 2000, 100 + n * 1024 / 2**20)
        return {"records": n, "pairs": 40 * n, "prepare": per, "cluster": per, "finish": per,
                "score": _step(1 + n / 2000, 100 + 40 * n * 16 / 2**20), "refine": per,
                # each export shard reads every record in 0.01 ms; the items take 0.4 ms a record among them
                "export": {"shards": 1, "scan_seconds": n / 100_000, "build_seconds": 0.4 * n / 1000,
                           "peak_mb": 300 + n * 2048 / 2**20, "seconds": n / 100_000 + 0.4 * n / 1000,
                           "scan_peak_mb": 300 + n * 1024 / 2**20, "build_mb_per_record": 1024 / 2**20}}

    return {
        "sharded": {"small": sharded(5_000), "large": sharded(20_000)},
        "index": {"records": 20_000, "items_per_record": 20.0, "write_units_per_record": 21.0,
                  "calls_per_record": 0.8, "item_bytes_per_record": 4000.0,
                  "dynamodb_json_bytes_per_record": 8000.0, "dynamodb_json_gzip_bytes_per_record": 1000.0},
        "day": {"records": 20_000, "linked": 300, "seconds": day_seconds, "peak_rss_mb": 600.0,
                "rss_before_mb": 400.0, "write_units": 6000, "read_units": 3000.0,
                "smaller": {"records": 5_000, "seconds": day_seconds / 4, "peak_rss_mb": 450.0, "rss_before_mb": 300.0}},
        "search": {"person search": {"read_units": 10.0, "write_units": 2.0},
                   "person view": {"read_units": 4.0, "write_units": 1.0},
                   "address search": {"read_units": 3.0, "write_units": 2.0}, "handler_seconds": 0.05},
    }


def test_fit_gives_the_fixed_part_and_the_part_per_unit() -> None:
    assert fit(5_000, 6.0, 20_000, 21.0) == pytest.approx((1.0, 0.001))
    # a step measured smaller at the larger size is taken as fixed, never negative per record
    assert fit(5_000, 10.0, 20_000, 9.0) == (9.0, 0.0)


def test_rebuild_steps_scale_whole_population_steps_and_split_shards_by_the_sharded_link_sizes() -> None:
    steps = rebuild_steps(counts(), 10_000_000)
    prepare = steps["steps"]["prepare"]
    assert prepare["count"] == 1
    assert prepare["seconds_each"] == pytest.approx(1 + 10_000_000 / 2000)
    assert prepare["peak_mb"] == pytest.approx(100 + 10_000_000 * 1024 / 2**20)
    # shards are sized by pair occurrences, more than the distinct pairs scored
    assert steps["score_shards"] == math.ceil(40 * 10_000_000 * capacity.OCCURRENCES_PER_PAIR / PAIRS_PER_SHARD)
    assert steps["score_shards"] > math.ceil(40 * 10_000_000 / PAIRS_PER_SHARD)
    assert steps["refine_shards"] == math.ceil(10_000_000 / RECORDS_PER_REFINE)
    score = steps["steps"]["score"]
    assert score["seconds_each"] * score["count"] == pytest.approx(1 + 10_000_000 / 2000)
    # a score shard's memory is its fixed part plus its share of the pairs
    assert score["peak_mb"] == pytest.approx(100 + 40 * 10_000_000 / steps["score_shards"] * 16 / 2**20)


def test_the_export_is_cut_in_shards_each_reading_every_record_and_building_its_share() -> None:
    from mast.index.imported import RECORDS_PER_EXPORT

    at_1m = rebuild_steps(counts(), 1_000_000)
    export = at_1m["steps"]["export"]
    assert at_1m["export_shards"] == export["count"] == math.ceil(1_000_000 / RECORDS_PER_EXPORT)
    assert export["seconds_each"] == pytest.approx(1_000_000 / 100_000 + 0.4 * 1_000_000 / 1000 / export["count"])
    # one Lambda building a million records' items would take 400 s; a shard its share, plus its read
    assert export["seconds_each"] < 0.4 * 1_000_000 / 1000 / 5
    # counted in the rebuild's wall time (the shards at once) and in its Lambda GB-seconds
    without = rebuild_steps({**counts(), "sharded": {k: {kk: vv for kk, vv in v.items() if kk != "export"}
                                                      for k, v in counts()["sharded"].items()}}, 1_000_000)
    assert "export" not in without["steps"]
    assert at_1m["seconds"] == pytest.approx(without["seconds"] + export["seconds_each"])
    assert at_1m["gb_seconds"] > without["gb_seconds"]
    # its memory: what the scan of every record holds, and what building its share of the items adds
    assert export["peak_mb"] == pytest.approx(300 + 1_000_000 * 1024 / 2**20 + 1_000_000 / export["count"] * 1024 / 2**20)
    # and its limits checked as every step's are (on Lambda, at every size)
    assert any(b.startswith("export") for b in checks(rebuild_steps(counts(), 50_000_000, fargate_from=0)))


def test_prepare_over_ten_gigabytes_is_a_broken_limit() -> None:
    at_50m = rebuild_steps(counts(), 50_000_000, fargate_from=0)
    broken = checks(at_50m)
    assert any(b.startswith("prepare") and "MB" in b for b in broken)
    assert any(b.startswith("prepare") and "900 s" in b for b in broken)
    assert checks(rebuild_steps(counts(), 10_000)) == []


def test_a_step_whose_files_outgrow_its_functions_tmp_is_a_broken_limit() -> None:
    given = capacity.template_ephemeral_mb()
    assert 512 <= given <= PRICES["lambda_ephemeral_mb"]["value"] == 10_240

    def with_disk(c: dict) -> dict:  # export's files 1 MB fixed plus 0.3 KB a record; prepare's a third
        for part in c["sharded"].values():
            n = part["records"]
            part["disk_mb"] = {"prepare": 1 + n * 100 / 2**20, "export": 1 + n * 300 / 2**20}
        return c

    steps = rebuild_steps(with_disk(counts()), 10_000_000, fargate_from=0)["steps"]
    assert steps["export"]["disk_mb"] == pytest.approx(1 + 10_000_000 * 300 / 2**20)
    assert steps["prepare"]["disk_mb"] == pytest.approx(1 + 10_000_000 * 100 / 2**20)
    records_at = (given - 1) * 2**20 / 300  # where the export's files pass the template's /tmp
    under = checks(rebuild_steps(with_disk(counts()), int(records_at * 0.99), fargate_from=0))
    assert not any("/tmp" in b for b in under)
    over = [b for b in checks(rebuild_steps(with_disk(counts()), int(records_at * 1.01), fargate_from=0)) if "/tmp" in b]
    assert len(over) == 1 and over[0].startswith("export") and "EphemeralStorage" in over[0]
    past = [b for b in checks(rebuild_steps(with_disk(counts()), 50_000_000, fargate_from=0)) if "/tmp" in b]
    assert any(b.startswith("export") and "Lambda's most" in b for b in past)
    # counts measured before /tmp was counted check nothing of it
    assert "disk_mb" not in rebuild_steps(counts(), 50_000_000)["steps"]["export"]


def test_past_fargate_rebuild_from_the_whole_population_steps_are_fargate_tasks_with_fargates_limits() -> None:
    fargate = capacity.fargate_settings()
    # the template's task: Fargate's largest (16 vCPU, 120 GB, 200 GiB), from FargateRebuildFrom records
    assert (fargate["vcpu"], fargate["memory_mb"], fargate["disk_mb"]) == (16, 122_880, 200 * 1024)
    assert 0 < fargate["from"] <= 6_000_000 and fargate["exports_at_once"] >= 1
    below = rebuild_steps(counts(), fargate["from"] - 1)
    assert {s["runs_on"] for s in below["steps"].values()} == {"lambda"} and below["fargate_usd"] == 0
    at_50m = rebuild_steps(counts(), 50_000_000)
    on = {name for name, s in at_50m["steps"].items() if s["runs_on"] == "fargate"}
    assert on == {"prepare", "cluster", "finish", "export"}  # score and refine shards stay on Lambda
    # prepare's 48 GB and 14 h (100 MB and 1 s fixed, 1 KB and 0.5 ms a record) fit a task: no time limit
    assert not any(b.startswith("prepare") for b in checks(at_50m))
    prepare = at_50m["steps"]["prepare"]
    hour = (16 * PRICES["fargate_vcpu_hour"]["value"] + 120 * PRICES["fargate_gb_hour"]["value"]
            + 180 * PRICES["fargate_storage_gb_hour"]["value"])
    one_task = (prepare["seconds_each"] + PRICES["fargate_start_seconds"]["value"]) / 3600 * hour
    assert at_50m["fargate_usd"] > 3 * one_task  # prepare, cluster, finish, and the export shards
    # export shards' tasks run exports_at_once at a time
    export = at_50m["steps"]["export"]
    waves = math.ceil(export["count"] / fargate["exports_at_once"])
    assert at_50m["seconds"] >= waves * (export["seconds_each"] + PRICES["fargate_start_seconds"]["value"])
    # past a task's memory, the limit is Fargate's
    huge = checks(rebuild_steps(counts(), 200_000_000))
    assert any(b.startswith("prepare") and "Fargate task's 122,880 MB" in b for b in huge)
    projected = project(counts(), 50_000_000)["rebuild"]
    # and the catch-up (a day's link's work before the switch) in a task of its own
    assert projected["on_fargate"] == ["catch_up", "cluster", "export", "finish", "prepare"]
    assert projected["steps"]["catch_up"]["runs_on"] == "fargate"


def test_project_costs_the_import_by_the_measured_dynamodb_json_bytes() -> None:
    p = project(counts(), 1_000_000)
    gb = 8000.0 * 1_000_000 / 2**30
    assert p["rebuild"]["dynamodb_json_gb"]["value"] == pytest.approx(gb, rel=1e-5)
    assert p["rebuild"]["import_usd"]["value"] == pytest.approx(gb * PRICES["ddb_import_gb"]["value"], rel=1e-5)
    # a million records in two tables (RECORDS_PER_TABLE each at most), imported at once beside each other
    assert p["rebuild"]["tables"] == 2
    assert p["rebuild"]["import_seconds"]["value"] == pytest.approx(
        gb / 2 / PRICES["ddb_import_gb_per_hour"]["value"] * 3600, rel=1e-5)
    # fifty million in at most fifty, the imports an account may run at once
    assert project(counts(), 50_000_000)["rebuild"]["tables"] == 50
    # today's rebuild: every write unit, at a new on-demand table's rate
    write_units = 21.0 * 1_000_000
    assert p["today"]["write_units"] == write_units
    assert p["today"]["seconds"]["value"] == pytest.approx(write_units / 4000)
    assert p["today"]["within_limits"] is False  # 5,250 s > 900 s


def test_a_day_and_searches_and_storage_scale_from_the_measured_counts() -> None:
    p = project(counts(), 2_000_000)  # a hundred times the measured day
    # seconds: none fixed, 0.1 ms a record; memory: the population as the sharded prepare step holds it
    assert p["day"]["seconds"]["value"] == pytest.approx(200.0)
    assert p["day"]["peak_mb"]["value"] == pytest.approx(100 + 2_000_000 * 1024 / 2**20)
    assert p["day"]["records_linked"] == 30_000
    per_search_units = (10 + 4) * PRICES["ddb_read_unit"]["value"] + (2 + 1) * PRICES["ddb_write_unit"]["value"]
    per_search = per_search_units + 2 * (PRICES["api_request"]["value"] + PRICES["lambda_request"]["value"]
                                         + 0.05 * 1769 / 1024 * PRICES["lambda_gb_second"]["value"])
    assert p["searches_month_usd"]["100000"]["value"] == pytest.approx(per_search * 100_000 * 30, rel=1e-4)
    storage_gb = (4000 + 20 * PRICES["ddb_item_overhead_bytes"]["value"]) * 2_000_000 / 2**30
    assert p["storage"]["gb"]["value"] == pytest.approx(storage_gb, rel=1e-5)


def test_a_days_link_on_aws_is_the_match_functions_own_seconds_and_its_calls_round_trips() -> None:
    """Moto answers the run's calls in the benchmark's process; on AWS that work is DynamoDB's, and
    the match function waits on round trips instead, as many at once as the index writer's threads."""
    from mast.index.writer import THREADS

    c = counts(day_seconds=20.0)
    # of the 20 s (5 s at a quarter the size), moto's CPU 16 s (4 s): the function's own 4 s (1 s)
    c["day"].update(seconds_without_moto=4.0, calls_total=4_000)
    c["day"]["smaller"].update(seconds_without_moto=1.0, calls_total=1_000)
    p = project(c, 1_000_000)
    own, calls = 4.0 * 50, 4_000 * 50 * PRICES["ddb_call_seconds"]["value"] / THREADS
    assert p["day"]["own_seconds"]["value"] == pytest.approx(own)
    assert p["day"]["calls_seconds"]["value"] == pytest.approx(calls)
    assert p["day"]["seconds"]["value"] == pytest.approx(own + calls)
    assert p["day"]["on_moto_seconds"]["value"] == pytest.approx(1000.0)  # beside it, the run on moto scaled
    assert p["day"]["seconds"]["label"] == "assumed"
    verdicts = {name: met for name, met, _ in targets({1_000_000: p})}
    assert verdicts["1M: a day's link within 5 min"] is (own + calls <= 300)
    # counts from before moto's part was measured: the run on moto, as before
    assert project(counts(day_seconds=20.0), 1_000_000)["day"]["seconds"]["value"] == pytest.approx(1000.0)


def test_targets_say_met_or_not_from_the_projection() -> None:
    slow_day = counts(day_seconds=20.0)  # 1,000 s a day at the million
    projections = {n: project(slow_day, n) for n in (1_000_000, 50_000_000)}
    verdicts = {name: met for name, met, _ in targets(projections)}
    assert verdicts["1M: a day's link within 5 min"] is False
    assert verdicts["50M: a rebuild within 6 h"] is False  # a limit is broken at 50M
    # the rebuild's catch-up is a day's link's work in the match function: 1,000 s is past its 900
    assert verdicts["1M: a rebuild within Lambda's and Step Functions' limits"] is False
    assert any(b.startswith("catch_up: 1,000 s") for b in projections[1_000_000]["limits_broken"])
    quick = {n: project(counts(), n) for n in (1_000_000, 50_000_000)}
    assert {name: met for name, met, _ in targets(quick)}["1M: a rebuild within Lambda's and Step Functions' limits"]
    one = quick[1_000_000]["rebuild"]
    assert one["steps"]["catch_up"]["runs_on"] == "lambda"
    assert one["seconds"]["value"] == pytest.approx(one["link_seconds"]["value"] + one["import_seconds"]["value"]
                                                    + quick[1_000_000]["day"]["seconds"]["value"])


def test_every_price_and_limit_says_where_it_comes_from() -> None:
    for name, price in PRICES.items():
        assert price["label"] in ("cited", "assumed"), name
        assert price["region"], name
        if price["label"] == "cited":
            assert price["source"].startswith("https://"), name
    assert capacity.TARGETS["rebuild_50m_usd"] == 100.0
