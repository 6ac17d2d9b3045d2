"""`mast bench capacity`: what a rebuild, a day's link, searches and storage cost on AWS at a region's
and a nation's size (issue 15, point 4), from counts measured in this run.

Measured here, in one run, on ``mast generate`` data (``--records``):

* **the sharded rebuild** (:func:`mast.linkage.sharded.link_locally`, through
  :mod:`tools.bench.sharded_side`, each step a process of its own) at ``--records`` and at
  ``--sharded-records`` (200,000: at 20,000 alone the fixed costs, training above all, hide the part per
  record): each step's seconds and peak memory (``StepCost``), the score shards' pairs. Two sizes give
  each step a fixed part and a part per record (or per pair), which is what is scaled;
* **the index a rebuild writes** and **a day's link** (:mod:`tools.bench.daily` on moto, driven as
  ``mast bench incremental --daily-only --full-index`` drives it): the rebuild's items, write units and
  calls per record, and the bytes of its items as DynamoDB JSON lines and gzipped (ImportTable's
  input); the day's items, write and read units, calls, seconds and peak memory (0.5% new records
  plus the snapshot feeds' changes, at the share a generated day measures), at ``--records`` and a
  quarter of it;
* **a search** (:func:`tools.bench.search._calls_per_request`, the search function's handler on moto):
  calls, round trips in sequence, read and write units of a person search, an address search and a
  person view, and the handler's seconds.

Projected (:func:`project`, pure arithmetic, unit-tested) for 10k … 50M records: a first rebuild and a
release rebuild (sharded link on Step Functions, then the version written as DynamoDB JSON gzip to S3
and imported by ImportTable), beside **today's** rebuild (one match Lambda writing every item); a
day's link; 1,000 and 100,000 searches a day; storage a month. Every figure is labelled ``measured``
(this run's counts), ``cited`` (a published limit or price, with its URL) or ``assumed``; every price
and limit is in :data:`PRICES`, with its source and region. The import path is not built yet: its
time and cost rest on assumed ImportTable figures. Nothing is asserted; the issue's targets are
printed as met or not.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from infra.local.provision import FARGATE_EPHEMERAL_GIB, fargate_memory_mb

#: the repository (its template.yaml)
ROOT = Path(__file__).resolve().parents[2]

RESULTS = Path("bench-data/results")
SIZES = (10_000, 100_000, 1_000_000, 10_000_000, 50_000_000)
REGION = "eu-west-2"
GB = 1024**3

# ------------------------------------------------------------------------------------------ prices and limits
#: Every price and limit the projection uses: value, unit, region, source URL, and how it is known.
#: ``cited``: read in the stored page at the URL for this region (or for every region). ``assumed``: the
#: figure is not in a stored page for eu-west-2 (the URL is where the figure for another region, or the
#: rule, was read) or AWS publishes none.
PRICES: dict[str, dict[str, Any]] = {
    "lambda_gb_second": {
        "value": 0.0000166667, "unit": "USD per GB-second (x86)", "region": "us-east-1 figure used for eu-west-2",
        "source": "https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html",
        "label": "assumed", "note": "the stored pages give the US price; London's is not in a stored page"},
    "lambda_request": {
        "value": 0.20 / 1e6, "unit": "USD per request", "region": "us-east-1 figure used for eu-west-2",
        "source": "https://docs.aws.amazon.com/whitepapers/latest/how-aws-pricing-works/lambda.html",
        "label": "assumed", "note": "the stored pages give the US price; London's is not in a stored page"},
    "sfn_transition": {
        "value": 0.025 / 1000, "unit": "USD per state transition (Standard)", "region": "eu-west-2 (Europe (London))",
        "source": "https://aws.amazon.com/step-functions/pricing/", "label": "cited"},
    "ddb_write_unit": {
        "value": 0.625 / 1e6, "unit": "USD per on-demand write request unit", "region": "us-east-1 figure",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/", "label": "assumed",
        "note": "the stored page's prices are rendered by script: neither London's nor the US figure is in it"},
    "ddb_read_unit": {
        "value": 0.125 / 1e6, "unit": "USD per on-demand read request unit", "region": "us-east-1 figure",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/", "label": "assumed",
        "note": "as the write unit"},
    "ddb_storage_gb_month": {
        "value": 0.25, "unit": "USD per GB-month (Standard table class)", "region": "us-east-1 figure",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/", "label": "assumed",
        "note": "as the write unit"},
    "ddb_import_gb": {
        "value": 0.15, "unit": "USD per GB of uncompressed source data imported", "region": "us-east-1 figure",
        "source": "https://aws.amazon.com/dynamodb/pricing/on-demand/", "label": "assumed",
        "note": "billed by the source's uncompressed size (cited: https://docs.amazonaws.cn/en_us/amazondynamodb/latest/"
                "developerguide/S3DataImport.HowItWorks.html); the price per GB is not in a stored page"},
    "ddb_import_max_bytes": {
        "value": 1024**4, "unit": "bytes of S3 objects (raw, so gzipped) one import takes",
        "region": "eu-west-2 ('1 TB in all other Regions'; 15 TB in us-east-1, us-west-2, eu-west-1)",
        "source": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataImport.BestPractices.html",
        "label": "cited"},
    "ddb_import_max_objects": {
        "value": 50_000, "unit": "S3 objects one import takes", "region": "every region",
        "source": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataImport.BestPractices.html",
        "label": "cited"},
    "ddb_import_items_per_object": {
        "value": 4_000_000, "unit": "items an S3 object should hold (items under 1 KB)", "region": "every region",
        "source": "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/S3DataImport.BestPractices.html",
        "label": "cited"},
    "ddb_item_overhead_bytes": {
        "value": 100, "unit": "bytes of storage per item beyond its attributes", "region": "every region",
        "source": "", "label": "assumed", "note": "DynamoDB's storage rule, not found in a stored page"},
    "s3_gb_month": {
        "value": 0.024, "unit": "USD per GB-month (S3 Standard)", "region": "eu-west-2", "source": "",
        "label": "assumed", "note": "no stored page found"},
    "api_request": {
        "value": 3.50 / 1e6, "unit": "USD per REST API request", "region": "us-east-1 figure", "source": "",
        "label": "assumed", "note": "no stored page found"},
    "ddb_new_table_writes_per_second": {
        "value": 4000, "unit": "write request units a second a new on-demand table sustains", "region": "every region",
        "source": "https://docs.amazonaws.cn/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html",
        "label": "cited", "note": "'Initial throughput and scaling properties', read in the guide's Chinese copy"},
    "ddb_import_gb_per_hour": {
        "value": 10.0, "unit": "GB of uncompressed DynamoDB JSON ImportTable loads an hour", "region": "eu-west-2",
        "source": "https://docs.amazonaws.cn/en_us/amazondynamodb/latest/developerguide/S3DataImport.HowItWorks.html",
        "label": "assumed", "note": "AWS publishes no ImportTable throughput ('import times are directly related to "
                                    "your data's characteristics'): a guess, to be measured on AWS"},
    "ddb_call_seconds": {
        "value": 0.010, "unit": "seconds one DynamoDB call takes from a Lambda in its region (round trip)",
        "region": "eu-west-2", "source": "https://repost.aws/ja/knowledge-center/dynamodb-high-latency",
        "label": "assumed", "note": "the page gives single-digit milliseconds on average for GetItem and PutItem, "
                                    "measured inside DynamoDB (without the network or the client): 10 ms assumed"},
    "lambda_timeout_s": {
        "value": 900, "unit": "seconds, a Lambda invocation's limit", "region": "every region",
        "source": "https://docs.aws.amazon.com/lambda/latest/dg/configuration-timeout.html", "label": "cited"},
    "lambda_memory_mb": {
        "value": 10240, "unit": "MB, a Lambda function's memory limit", "region": "every region",
        "source": "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.md", "label": "cited"},
    "lambda_ephemeral_mb": {
        "value": 10240, "unit": "MB, a Lambda function's /tmp (EphemeralStorage) at most", "region": "every region",
        "source": "https://docs.aws.amazon.com/lambda/latest/dg/API_EphemeralStorage.html", "label": "cited"},
    "lambda_concurrency": {
        "value": 1000, "unit": "concurrent executions, an account's default quota", "region": "per region",
        "source": "https://docs.aws.Amazon.com/lambda/latest/dg/limits.html", "label": "cited"},
    "sfn_payload_bytes": {
        "value": 262144, "unit": "bytes, a state's input or output (256 KiB)", "region": "every region",
        "source": "https://docs.aws.amazon.com/step-functions/latest/apireference/API_TaskSucceededEventDetails.html",
        "label": "cited"},
    "sfn_map_concurrency": {
        "value": 10000, "unit": "child executions a Distributed Map runs at once (default)", "region": "every region",
        "source": "https://docs.amazonaws.cn/step-functions/latest/dg/state-map-distributed.md", "label": "cited"},
    # the rebuild's steps that hold every record, as Fargate tasks past FargateRebuildFrom records
    # the local stack's own limits for a task definition (infra.local.provision), cited there too
    "fargate_task_memory_mb": {
        "value": max(fargate_memory_mb(16384)), "unit": "MiB, a Fargate task's most memory (16 vCPU, Linux platform 1.4.0)",
        "region": "every region",
        "source": "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-cpu-memory-error.html",
        "label": "cited"},
    "fargate_ephemeral_mb": {
        "value": FARGATE_EPHEMERAL_GIB[1] * 1024, "unit": "MiB, a Fargate task's most disk (EphemeralStorage)",
        "region": "every region",
        "source": "https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-ecs-taskdefinition-ephemeralstorage.html",
        "label": "cited"},
    "fargate_vcpu_hour": {
        "value": 0.03238, "unit": "USD per vCPU-hour (Linux/ARM)", "region": "us-east-1 figure used for eu-west-2",
        "source": "https://aws.amazon.com/fargate/pricing/", "label": "assumed",
        "note": "AWS's us-east-1 rate as a stored page (https://www.vantage.sh/blog/fargate-pricing) quotes it; "
                "London's is not in a stored page"},
    "fargate_gb_hour": {
        "value": 0.00356, "unit": "USD per GB-hour of memory (Linux/ARM)", "region": "us-east-1 figure used for eu-west-2",
        "source": "https://aws.amazon.com/fargate/pricing/", "label": "assumed", "note": "as the vCPU-hour"},
    "fargate_storage_gb_hour": {
        "value": 0.000111, "unit": "USD per GB-hour of disk past the 20 GB included", "region": "us-east-1 figure",
        "source": "https://aws.amazon.com/fargate/pricing/", "label": "assumed", "note": "as the vCPU-hour"},
    "fargate_start_seconds": {
        "value": 60, "unit": "seconds from RunTask to the container running (image pulled, network attached)",
        "region": "eu-west-2", "source": "", "label": "assumed",
        "note": "AWS publishes no start time; an image of about 1 GB, to be measured on AWS"},
}

#: S3 key of a shard as a Map item passes it (bytes), for the payload check when a list is passed inline
SHARD_REFERENCE_BYTES = 160
#: memory a step's Lambda is given over its measured peak (assumed headroom)
HEADROOM = 1.25
#: Step Functions transitions a child execution costs (start, task, end; assumed from the states' shape)
TRANSITIONS_PER_CHILD = 3
#: candidate pair occurrences (what a score shard is sized by) per distinct pair scored: 42.8 million over
#: 23.7 million on the generated million (:mod:`mast.linkage.sharded`'s docstring; not measured in this run,
#: whose sharded side reports only the pairs scored): assumed the same at every size
OCCURRENCES_PER_PAIR = 42.8 / 23.7
#: the daily link's share of new records (the issue's figure)
DAILY_NEW_SHARE = 0.005
#: the issue's targets
TARGETS = {"rebuild_1m_seconds": 1800, "rebuild_1m_usd": 5.0, "day_1m_seconds": 300,
           "rebuild_50m_seconds": 6 * 3600, "rebuild_50m_usd": 100.0}


def register_bench(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("capacity", help="a rebuild, a day, searches and storage on AWS at 10k … 50M records")
    parser.add_argument("--records", type=int, default=20_000, help="generated records measured (default 20,000)")
    parser.add_argument("--sharded-records", type=int, default=200_000,
                        help="the larger size the sharded link is measured at (default 200,000; the smaller is --records)")
    parser.add_argument("--rate-people", type=int, default=2_000,
                        help="people generated for two days to measure the snapshot change rate (default 2,000)")
    parser.add_argument("--search-records", type=int, default=5_000,
                        help="records in the index the search handler reads (default 5,000)")
    parser.add_argument("--count-queries", type=int, default=100, help="requests of each kind counted")
    parser.add_argument("--workers", type=int, default=1, help="processes for the batch link of the day before")
    parser.add_argument("--from-counts", type=Path, metavar="JSON",
                        help="project again from the counts a previous run wrote (its capacity.json), measuring nothing")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default {RESULTS})")
    parser.set_defaults(func=run)


# ------------------------------------------------------------------------------------------ arithmetic
def fit(n1: float, y1: float, n2: float, y2: float) -> tuple[float, float]:
    """A fixed part and a part per unit through two measurements (the slope never below zero: a step
    measured smaller at the larger size is taken as fixed)."""
    if n1 == n2:
        return 0.0, y1 / n1 if n1 else 0.0
    slope = max((y2 - y1) / (n2 - n1), 0.0)
    return max(y2 - slope * n2, 0.0), slope


def _at(line: tuple[float, float], x: float) -> float:
    return line[0] + line[1] * x


def _price(name: str) -> float:
    return float(PRICES[name]["value"])


def _figure(value: float, label: str, unit: str = "") -> dict[str, Any]:
    return {"value": round(value, 6) if isinstance(value, float) else value, "label": label, "unit": unit}


def _lambda_memory_mb(peak_mb: float) -> int:
    """Memory a step's function is given: its peak with headroom, at least 1,024 MB, at most Lambda's
    largest (a step that needs more cannot run on Lambda: the checks say so, and it is costed as if it
    ran at the largest)."""
    return min(int(_price("lambda_memory_mb")), max(1024, math.ceil(peak_mb * HEADROOM / 64) * 64))


def day_on_aws(day: dict[str, Any], records: int) -> tuple[float | None, float | None, float | None]:
    """A day's link at ``records`` in the match Lambda: its own seconds (the run's CPU-seconds on moto
    less the CPU moto spent answering its calls in the same process, which on AWS is DynamoDB's and
    S3's work; counts measured before the CPU-seconds were: the run's wall seconds less moto's CPU,
    which also counts the client's threads waiting for moto, and varied by half between two runs of the
    same day) and the time its calls wait on DynamoDB (the calls, at :data:`PRICES` ``ddb_call_seconds``
    each, :data:`mast.index.writer.THREADS` at a time), each scaled through the two sizes measured;
    (total, own, calls), or Nones for counts measured before moto's part was."""
    from mast.index.writer import THREADS

    smaller = day["smaller"]
    if "seconds_without_moto" not in day or "seconds_without_moto" not in smaller:
        return None, None, None
    measure = ("cpu_seconds_without_moto" if "cpu_seconds_without_moto" in day and "cpu_seconds_without_moto" in smaller
               else "seconds_without_moto")
    own = _at(fit(smaller["records"], smaller[measure], day["records"], day[measure]), records)
    calls = _at(fit(smaller["records"], smaller["calls_total"], day["records"], day["calls_total"]), records)
    waiting = calls * _price("ddb_call_seconds") / THREADS
    return own + waiting, own, waiting


@functools.cache
def _template() -> dict[str, Any]:
    """``template.yaml``, read once a run (the task's size, the functions' /tmp)."""
    from infra.local.template import load_template

    return load_template(ROOT / "template.yaml")


#: the rebuild's steps that hold every record: on Lambda, or past FargateRebuildFrom on Fargate
WHOLE_POPULATION_STEPS = ("prepare", "cluster", "finish", "export")


@functools.cache
def fargate_settings() -> dict[str, int]:
    """What ``template.yaml`` sets for the rebuild's Fargate task, read once a run: from how many
    records (``FargateRebuildFrom``'s default), its vCPU, memory and disk, and how many export shards'
    tasks run at once (``ExportOnFargate``'s MaxConcurrency)."""
    template = _template()
    task = template["Resources"]["RebuildTaskDefinition"]["Properties"]
    states = template["Resources"]["RebuildStateMachine"]["Properties"]["Definition"]["States"]
    return {"from": int(template["Parameters"]["FargateRebuildFrom"]["Default"]), "vcpu": int(task["Cpu"]) // 1024,
            "memory_mb": int(task["Memory"]), "disk_mb": int(task["EphemeralStorage"]["SizeInGiB"]) * 1024,
            "exports_at_once": int(states["ExportOnFargate"]["MaxConcurrency"])}


def fargate_task_usd(seconds: float) -> float:
    """What ``seconds`` of the template's rebuild task cost (its vCPU, memory, and disk past the 20 GB included)."""
    fargate = fargate_settings()
    extra_disk_gb = max(fargate["disk_mb"] / 1024 - 20, 0)
    return seconds / 3600 * (fargate["vcpu"] * _price("fargate_vcpu_hour")
                             + fargate["memory_mb"] / 1024 * _price("fargate_gb_hour")
                             + extra_disk_gb * _price("fargate_storage_gb_hour"))


def catch_up_step(day_seconds: float, day_peak_mb: float, records: int, fargate_from: int | None = None) -> dict[str, Any]:
    """The rebuild's catch-up at ``records``: a day's link's code on what came in while the rebuild ran,
    restoring the whole population as a day's link does, so projected as a whole day's link (an
    over-estimate: a rebuild takes hours, not a day): in the match function (10,240 MB), or past
    ``FargateRebuildFrom`` a task of ``RebuildCatchUpTaskDefinition`` (its start added)."""
    fargate = fargate_settings()
    if 0 < (fargate["from"] if fargate_from is None else fargate_from) <= records:
        seconds = day_seconds + _price("fargate_start_seconds")
        return {"count": 1, "seconds_each": day_seconds, "peak_mb": day_peak_mb, "runs_on": "fargate",
                "memory_mb": fargate["memory_mb"], "wall_seconds": seconds, "usd": fargate_task_usd(seconds)}
    memory = int(_price("lambda_memory_mb"))  # the match function's MemorySize
    return {"count": 1, "seconds_each": day_seconds, "peak_mb": day_peak_mb, "runs_on": "lambda", "memory_mb": memory,
            "wall_seconds": day_seconds,
            "usd": day_seconds * memory / 1024 * _price("lambda_gb_second") + _price("lambda_request")}


def rebuild_steps(counts: dict[str, Any], records: int, fargate_from: int | None = None) -> dict[str, Any]:
    """The sharded link's steps at ``records``: shards, each step's seconds and memory, from the two
    measured sizes (a fixed part and a part per record; a score shard's per pair, a refine shard's per
    record), and what they cost: Lambda GB-seconds, and past ``FargateRebuildFrom`` records the Fargate
    tasks' hours for the steps that hold every record (each task's start added to its time).
    ``fargate_from``: the records from which those run on Fargate (default: the template's; 0: never)."""
    from mast.linkage.sharded import PAIRS_PER_SHARD, RECORDS_PER_REFINE

    small, large = counts["sharded"]["small"], counts["sharded"]["large"]
    n1, n2 = small["records"], large["records"]
    pairs_per_record = large["pairs"] / n2
    pairs = pairs_per_record * records
    score_shards = max(1, math.ceil(pairs * OCCURRENCES_PER_PAIR / PAIRS_PER_SHARD))
    refine_shards = max(1, math.ceil(records / RECORDS_PER_REFINE))
    steps: dict[str, Any] = {}
    for name in ("prepare", "cluster", "finish"):
        seconds = _at(fit(n1, small[name]["seconds"], n2, large[name]["seconds"]), records)
        peak = _at(fit(n1, small[name]["peak_mb"], n2, large[name]["peak_mb"]), records)
        steps[name] = {"count": 1, "seconds_each": seconds, "peak_mb": peak}
    # score: total seconds per record; a shard's memory per pair it holds
    total = _at(fit(n1, small["score"]["seconds"], n2, large["score"]["seconds"]), records)
    peak = _at(fit(small["pairs"], small["score"]["peak_mb"], large["pairs"], large["score"]["peak_mb"]),
               pairs / score_shards)
    steps["score"] = {"count": score_shards, "seconds_each": total / score_shards, "peak_mb": peak}
    total = _at(fit(n1, small["refine"]["seconds"], n2, large["refine"]["seconds"]), records)
    peak = _at(fit(n1, small["refine"]["peak_mb"], n2, large["refine"]["peak_mb"]), records / refine_shards)
    steps["refine"] = {"count": refine_shards, "seconds_each": total / refine_shards, "peak_mb": peak}
    if small.get("export") and large.get("export"):
        # an export shard reads every record (the prepared table, keyed and scanned) and builds its share
        # of the items: its memory is what the scan holds (linear in every record) and what its share adds
        from mast.index.imported import RECORDS_PER_EXPORT

        ex_small, ex_large = small["export"], large["export"]
        count = max(1, math.ceil(records / RECORDS_PER_EXPORT))
        scan = _at(fit(n1, ex_small["scan_seconds"], n2, ex_large["scan_seconds"]), records)
        build = _at(fit(n1, ex_small["build_seconds"], n2, ex_large["build_seconds"]), records)
        if ex_large.get("scan_peak_mb"):
            peak = (_at(fit(n1, ex_small["scan_peak_mb"], n2, ex_large["scan_peak_mb"]), records)
                    + ex_large["build_mb_per_record"] * records / count)
        else:  # counts from before the scan's peak was measured: linear in the records, which overstates it
            peak = _at(fit(n1, ex_small["peak_mb"], n2, ex_large["peak_mb"]), records)
        steps["export"] = {"count": count, "seconds_each": scan + build / count, "peak_mb": peak}
    # /tmp: what a whole-population step downloads or writes grows with the records (runs measured before
    # it was counted have none)
    for name, (mb_small, mb_large) in _pairs(small.get("disk_mb", {}), large.get("disk_mb", {})).items():
        if name in steps:
            steps[name]["disk_mb"] = _at(fit(n1, mb_small, n2, mb_large), records)
    concurrency = min(_price("lambda_concurrency"), _price("sfn_map_concurrency"))
    fargate = fargate_settings()
    on_fargate = 0 < (fargate["from"] if fargate_from is None else fargate_from) <= records
    wall = 0.0
    gb_seconds = 0.0
    invocations = 0
    fargate_usd = 0.0
    for name in ("prepare", "score", "cluster", "refine", "finish", "export"):
        if name not in steps:  # counts measured before the export was sharded
            continue
        step = steps[name]
        if on_fargate and name in WHOLE_POPULATION_STEPS:
            # a task of RebuildTaskDefinition, staged and collected by two short Lambda invocations
            step["runs_on"] = "fargate"
            step["memory_mb"] = fargate["memory_mb"]
            at_once = fargate["exports_at_once"] if step["count"] > 1 else 1
            seconds = step["seconds_each"] + _price("fargate_start_seconds")
            wall += math.ceil(step["count"] / at_once) * seconds
            fargate_usd += fargate_task_usd(step["count"] * seconds)
            invocations += 2 * step["count"]
            gb_seconds += 2 * step["count"] * 1.0 * 10240 / 1024  # stage and collect: about a second each
            continue
        step["runs_on"] = "lambda"
        step["memory_mb"] = _lambda_memory_mb(step["peak_mb"])
        waves = math.ceil(step["count"] / concurrency)
        wall += waves * step["seconds_each"]
        gb_seconds += step["count"] * step["seconds_each"] * step["memory_mb"] / 1024
        invocations += step["count"]
    return {"steps": steps, "pairs": pairs, "score_shards": score_shards, "refine_shards": refine_shards,
            "export_shards": steps.get("export", {}).get("count", 0),
            "seconds": wall, "gb_seconds": gb_seconds, "invocations": invocations, "fargate_usd": fargate_usd}


def _pairs(small: dict[str, float], large: dict[str, float]) -> dict[str, tuple[float, float]]:
    """The figures measured at both sizes, by name."""
    return {name: (small[name], large[name]) for name in small.keys() & large.keys()}


@functools.cache
def template_ephemeral_mb(logical_id: str = "RebuildFunction") -> int:
    """The /tmp ``template.yaml`` gives a function (``EphemeralStorage``; Lambda's default 512 MB), read
    once a run."""
    from infra.local.provision import ephemeral_mb_of

    return ephemeral_mb_of(logical_id, _template()["Resources"][logical_id]["Properties"])


def checks(rebuild: dict[str, Any]) -> list[str]:
    """Where the sharded rebuild breaks a Lambda or Step Functions limit at this size (empty: none)."""
    broken = []
    given = template_ephemeral_mb()
    for name, step in rebuild["steps"].items():
        if step.get("runs_on") == "fargate":  # a Fargate task has no time limit
            task = fargate_settings()
            if step.get("disk_mb", 0.0) > task["disk_mb"]:
                broken.append(f"{name}: {step['disk_mb']:,.0f} MB of disk > the Fargate task's {task['disk_mb']:,} MB")
            if step["peak_mb"] * HEADROOM > task["memory_mb"]:
                broken.append(f"{name}: {step['peak_mb']:,.0f} MB (+{HEADROOM - 1:.0%}) > the Fargate task's "
                              f"{task['memory_mb']:,} MB")
            continue
        if step.get("disk_mb", 0.0) > given:
            most = _price("lambda_ephemeral_mb")
            broken.append(f"{name}: {step['disk_mb']:,.0f} MB of /tmp > " + (
                f"{most:,.0f} MB, Lambda's most" if step["disk_mb"] > most
                else f"RebuildFunction's EphemeralStorage, {given:,} MB (Lambda allows up to {most:,.0f})"))
        if step["seconds_each"] > _price("lambda_timeout_s"):
            broken.append(f"{name}: {step['seconds_each']:,.0f} s a Lambda > {_price('lambda_timeout_s'):,.0f} s")
        if step["peak_mb"] * HEADROOM > _price("lambda_memory_mb"):
            broken.append(f"{name}: {step['peak_mb']:,.0f} MB (+{HEADROOM - 1:.0%}) > {_price('lambda_memory_mb'):,.0f} MB")
    for name in ("score", "refine"):
        inline = rebuild["steps"][name]["count"] * SHARD_REFERENCE_BYTES
        if inline > _price("sfn_payload_bytes"):
            broken.append(f"{name}: {rebuild['steps'][name]['count']:,} shard keys inline ({inline:,} B) > 256 KiB: "
                          "the Map must read its items from S3 (ItemReader)")
    return broken


def project(counts: dict[str, Any], records: int) -> dict[str, Any]:
    """Time and cost at ``records`` from the measured ``counts`` (see the module docstring). Pure."""
    index, day, search = counts["index"], counts["day"], counts["search"]
    n = index["records"]
    rebuild = rebuild_steps(counts, records)
    items = index["items_per_record"] * records
    json_gb = index["dynamodb_json_bytes_per_record"] * records / GB
    gzip_gb = index["dynamodb_json_gzip_bytes_per_record"] * records / GB
    # a version past RECORDS_PER_TABLE is cut into tables, each imported at once beside the others
    # (VersionTables; at most MAX_TABLES, the account's imports at once): the import takes its largest
    from mast.index.imported import MAX_TABLES, RECORDS_PER_TABLE

    tables = min(MAX_TABLES, max(1, math.ceil(records / RECORDS_PER_TABLE)))
    import_seconds = json_gb / tables / _price("ddb_import_gb_per_hour") * 3600
    transitions = 10 + TRANSITIONS_PER_CHILD * (rebuild["score_shards"] + rebuild["refine_shards"]
                                                + rebuild["export_shards"])
    lambda_usd = rebuild["gb_seconds"] * _price("lambda_gb_second") + rebuild["invocations"] * _price("lambda_request")
    fargate_usd = rebuild.get("fargate_usd", 0.0)
    sharded_usd = (lambda_usd + fargate_usd + transitions * _price("sfn_transition") + json_gb * _price("ddb_import_gb"))
    sharded_seconds = rebuild["seconds"] + import_seconds
    # today: one match Lambda writes every item
    write_units = index["write_units_per_record"] * records
    today_write_seconds = write_units / _price("ddb_new_table_writes_per_second")
    today_usd = write_units * _price("ddb_write_unit") + today_write_seconds * 10 * _price("lambda_gb_second")
    # a day: 0.5% new records plus the snapshot changes, its seconds scaled from the day measured at two
    # sizes. Its memory: the match function restores the whole population as the sharded prepare step reads
    # it, so prepare's fit stands for it (assumed); the day's own peak on moto, sampled with moto's copy of
    # the index in the same process, is too noisy at these sizes to scale (it is reported beside)
    scale = records / day["records"]
    smaller = day["smaller"]
    on_moto = _at(fit(smaller["records"], smaller["seconds"], day["records"], day["seconds"]), records)
    day_seconds, own_seconds, call_seconds = day_on_aws(day, records)
    if day_seconds is None:  # counts of a run from before moto's part was measured: the run on moto
        day_seconds = on_moto
    day_peak = rebuild["steps"]["prepare"]["peak_mb"]
    day_usd = (day["write_units"] * scale * _price("ddb_write_unit") + day["read_units"] * scale * _price("ddb_read_unit")
               + day_seconds * _lambda_memory_mb(day_peak) / 1024 * _price("lambda_gb_second"))
    # searches: a person search, half of them followed by a person view, as the measured mix
    per_search = (search["person search"]["read_units"] * _price("ddb_read_unit")
                  + search["person search"]["write_units"] * _price("ddb_write_unit")
                  + search["person view"]["read_units"] * _price("ddb_read_unit")
                  + search["person view"]["write_units"] * _price("ddb_write_unit")
                  + 2 * (_price("api_request") + _price("lambda_request")
                         + search["handler_seconds"] * 1769 / 1024 * _price("lambda_gb_second")))
    storage_gb = (index["item_bytes_per_record"] + index["items_per_record"] * _price("ddb_item_overhead_bytes")) \
        * records / GB
    storage_usd = storage_gb * _price("ddb_storage_gb_month") + gzip_gb * _price("s3_gb_month")
    # the catch-up, before the switch: a day's link's work in the new version
    catch_up = catch_up_step(day_seconds, day_peak, records)
    rebuild["steps"]["catch_up"] = catch_up
    sharded_seconds += catch_up["wall_seconds"]
    sharded_usd += catch_up["usd"]
    if catch_up["runs_on"] == "fargate":
        fargate_usd += catch_up["usd"]
    broken = checks(rebuild)
    if gzip_gb * GB > _price("ddb_import_max_bytes"):
        broken.append(f"import: {gzip_gb:,.0f} GB gzipped > 1 TB, one import's limit in eu-west-2")
    objects = math.ceil(items / _price("ddb_import_items_per_object"))
    if objects > _price("ddb_import_max_objects"):
        broken.append(f"import: {objects:,} S3 objects > 50,000")
    day_broken = []
    if day_seconds > _price("lambda_timeout_s"):
        day_broken.append(f"day's link: {day_seconds:,.0f} s in one match Lambda > 900 s")
    if day_peak * HEADROOM > _price("lambda_memory_mb"):
        day_broken.append(f"day's link: {day_peak:,.0f} MB (+{HEADROOM - 1:.0%}) in one match Lambda > 10,240 MB")
    return {
        "records": records,
        "rebuild": {"seconds": _figure(sharded_seconds, "assumed", "s"), "usd": _figure(sharded_usd, "assumed", "USD"),
                    "link_seconds": _figure(rebuild["seconds"], "assumed", "s"),
                    "import_seconds": _figure(import_seconds, "assumed", "s"), "tables": tables,
                    "lambda_usd": _figure(lambda_usd, "assumed", "USD"),
                    "fargate_usd": _figure(fargate_usd, "assumed", "USD"),
                    "on_fargate": sorted(k for k, v in rebuild["steps"].items() if v.get("runs_on") == "fargate"),
                    "import_usd": _figure(json_gb * _price("ddb_import_gb"), "assumed", "USD"),
                    "dynamodb_json_gb": _figure(json_gb, "measured" if records == n else "assumed", "GB"),
                    "transitions": transitions, "items": round(items),
                    "score_shards": rebuild["score_shards"], "refine_shards": rebuild["refine_shards"],
                    "export_shards": rebuild["export_shards"],
                    "steps": {k: {kk: round(vv, 1) if isinstance(vv, float) else vv for kk, vv in v.items()}
                              for k, v in rebuild["steps"].items()},
                    "within_limits": not broken},
        "today": {"seconds": _figure(today_write_seconds, "assumed", "s"), "usd": _figure(today_usd, "assumed", "USD"),
                  "write_units": round(write_units),
                  "within_limits": today_write_seconds <= _price("lambda_timeout_s")},
        "day": {"seconds": _figure(day_seconds, "assumed", "s"), "usd": _figure(day_usd, "assumed", "USD"),
                "on_moto_seconds": _figure(on_moto, "assumed", "s"),
                **({"own_seconds": _figure(own_seconds, "assumed", "s"),
                    "calls_seconds": _figure(call_seconds, "assumed", "s")} if own_seconds is not None else {}),
                "peak_mb": _figure(day_peak, "assumed", "MB"), "records_linked": round(day["linked"] * scale)},
        "searches_month_usd": {str(k): _figure(per_search * k * 30, "assumed", "USD") for k in (1_000, 100_000)},
        "storage": {"gb": _figure(storage_gb, "assumed", "GB"), "usd_month": _figure(storage_usd, "assumed", "USD")},
        "limits_broken": broken + day_broken,
    }


def targets(projections: dict[int, dict[str, Any]]) -> list[tuple[str, bool | None, str]]:
    """The issue's targets, each met (True), not (False), or not projected (None), with the figure."""
    out: list[tuple[str, bool | None, str]] = []
    one, fifty = projections.get(1_000_000), projections.get(50_000_000)
    if one:
        r = one["rebuild"]
        rebuild_broken = [b for b in one["limits_broken"] if not b.startswith("day")]
        out.append(("1M: a rebuild within Lambda's and Step Functions' limits", r["within_limits"],
                    "; ".join(rebuild_broken) or "no limit broken"))
        out.append(("1M: a rebuild within 30 min", r["seconds"]["value"] <= TARGETS["rebuild_1m_seconds"],
                    f"{r['seconds']['value'] / 60:,.1f} min"))
        out.append(("1M: a rebuild within $5", r["usd"]["value"] <= TARGETS["rebuild_1m_usd"], f"${r['usd']['value']:,.2f}"))
        out.append(("1M: a day's link within 5 min", one["day"]["seconds"]["value"] <= TARGETS["day_1m_seconds"],
                    f"{one['day']['seconds']['value'] / 60:,.1f} min"))
    if fifty:
        r = fifty["rebuild"]
        out.append(("50M: a rebuild within 6 h", r["seconds"]["value"] <= TARGETS["rebuild_50m_seconds"]
                    and r["within_limits"], f"{r['seconds']['value'] / 3600:,.1f} h"
                    + ("" if r["within_limits"] else " (but a limit is broken)")))
        out.append(("50M: a rebuild within $100", r["usd"]["value"] <= TARGETS["rebuild_50m_usd"],
                    f"${r['usd']['value']:,.2f}"))
    return out


# ------------------------------------------------------------------------------------------ measuring
def _sharded(records: int) -> dict[str, Any]:
    """The sharded link of ``records`` generated records, in its own process (:mod:`tools.bench.sharded_side`)."""
    from tools.bench.measure import run_side

    with tempfile.TemporaryDirectory(prefix="mast-capacity-") as tmp:
        out = run_side([f"generated:{records}", f"{tmp}/rebuild", f"{tmp}/people.arrow", "--processes", "2", "--export"],
                       module="tools.bench.sharded_side")
    if "error" in out:
        raise RuntimeError(f"the sharded link of {records:,} records failed: {out['error']}")
    steps = out["steps"]

    def total(rows: list[dict[str, Any]]) -> dict[str, float]:
        return {"seconds": sum(r["seconds"] for r in rows), "peak_mb": max(r["peak_mb"] for r in rows)}

    exports = steps.get("export", [])
    export = {"shards": len(exports), "peak_mb": max(e["peak_mb"] for e in exports),
              # what reading and scanning every record holds, and what building a shard's share adds
              "scan_peak_mb": max(e.get("scan_peak_mb", 0.0) for e in exports),
              "build_mb_per_record": max((e["peak_mb"] - e.get("scan_peak_mb", 0.0)) * len(exports) / out["records"]
                                         for e in exports),
              # each shard keys and scans every record (reading the link's prepared table); the items
              # are built once among them
              "scan_seconds": sum(e["stages"]["keys"] + e["stages"]["scan"] for e in exports) / len(exports),
              "build_seconds": sum(e["stages"]["build"] for e in exports),
              "seconds": max(e["seconds"] for e in exports)} if exports else None
    return {"records": out["records"], "pairs": sum(s["pairs"] for s in steps["score"]), "seconds": out["seconds"],
            "export": export, "disk_mb": out.get("disk_mb", {}),
            "cpu_seconds": out["step_cpu_seconds"],
            **{k: {"seconds": steps[k]["seconds"], "peak_mb": steps[k]["peak_mb"]} for k in ("prepare", "cluster", "finish")},
            "score": total(steps["score"]), "refine": total(steps["refine"]),
            "score_shards": len(steps["score"]), "refine_shards": len(steps["refine"])}


def _day(records: int, args: argparse.Namespace) -> dict[str, Any]:
    """A rebuild's items and a day's link on moto, as ``mast bench incremental --daily-only --full-index``."""
    import numpy as np

    from tools.bench.generated import generated
    from tools.bench.incremental import daily

    dataset = generated(records)
    n = len(dataset.truth)
    is_new = np.zeros(n, dtype=bool)
    is_new[np.random.default_rng(7).choice(n, size=max(1, round(DAILY_NEW_SHARE * n)), replace=False)] = True
    dataset.canonical = {}
    options = argparse.Namespace(rate_people=args.rate_people, workers=args.workers, full_index=True)
    return daily(dataset.frames, is_new, options)


def _search(args: argparse.Namespace) -> dict[str, Any]:
    """Calls and units per request, and the handler's seconds, through the search function on moto."""
    from tools.bench import search as bench

    rows = bench._records(args.search_records)
    queries = bench._queries(rows, args.count_queries)
    linker = bench._linker(rows)
    declaration = {"gateway": "ca1989-s47", "purpose": "bench"}
    for app in bench._deployment(rows, linker):
        app.handler(bench._handler_event({"declaration": declaration, "query": queries[0]}), bench._Context())
        started = time.perf_counter()
        for q in queries:
            app.handler(bench._handler_event({"declaration": declaration, "query": q}), bench._Context())
        seconds = (time.perf_counter() - started) / len(queries)
        per = bench._calls_per_request(app, queries, bench._address_queries(rows, args.count_queries), declaration)
    return {**per, "handler_seconds": seconds, "records": args.search_records}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    started = time.perf_counter()
    small = _sharded(args.records)
    print(f"sharded link, {small['records']:,} records: {small['seconds']} s", flush=True)
    large = _sharded(max(args.sharded_records, args.records * 2))
    print(f"sharded link, {large['records']:,} records: {large['seconds']} s", flush=True)
    smaller_day = _day(max(args.records // 4, 1000), args)["measured"]
    if "error" in smaller_day:
        raise RuntimeError(f"the day's run failed: {smaller_day['error']}")
    print(f"rebuild and a day on moto, {smaller_day['records']:,} records: {smaller_day['wall_seconds']} s", flush=True)
    day = _day(args.records, args)
    measured = day["measured"]
    if "error" in measured or "rebuild" not in measured:
        raise RuntimeError(f"the day's run failed: {measured.get('error')}")
    print(f"rebuild and a day on moto: {measured['wall_seconds']} s", flush=True)
    rebuilt = measured["rebuild"]
    r = rebuilt["records"]
    index = {"records": r, "items_per_record": rebuilt["items_put"] / r,
             "write_units_per_record": rebuilt["write_units"] / r, "calls_per_record": rebuilt["calls_total"] / r,
             "item_bytes_per_record": rebuilt["item_bytes"] / r,
             "dynamodb_json_bytes_per_record": rebuilt["dynamodb_json_bytes"] / r,
             "dynamodb_json_gzip_bytes_per_record": rebuilt["dynamodb_json_gzip_bytes"] / r,
             "today_seconds_on_moto": rebuilt["seconds"]}
    day_counts = {k: measured[k] for k in ("records", "linked", "seconds", "seconds_without_moto", "cpu_seconds",
                                           "cpu_seconds_without_moto", "moto_cpu_seconds",
                                           "seconds_by_step", "peak_rss_mb", "rss_before_mb", "write_units",
                                           "read_units", "calls_total", "items_put", "items_read")}
    day_counts.update(new_records=day["new_records"], snapshot_changes=day["snapshot_changes"],
                      snapshot_share=day["snapshot_change_rate"]["share_ended_or_changed"],
                      smaller={k: smaller_day[k] for k in ("records", "linked", "seconds", "seconds_without_moto",
                                                           "cpu_seconds", "cpu_seconds_without_moto",
                                                           "moto_cpu_seconds", "calls_total", "peak_rss_mb",
                                                           "rss_before_mb")})
    search = _search(args)
    print(f"search counted on {args.search_records:,} records", flush=True)
    return {"sharded": {"large": large, "small": small}, "index": index, "day": day_counts, "search": search,
            "seconds": round(time.perf_counter() - started, 1)}


# ------------------------------------------------------------------------------------------ report
def _money(x: float) -> str:
    return f"${x:,.2f}" if x < 1000 else f"${x:,.0f}"


def _time(s: float) -> str:
    return f"{s:,.0f} s" if s < 120 else (f"{s / 60:,.1f} min" if s < 7200 else f"{s / 3600:,.1f} h")


def _size(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 else f"{n // 1000}k"


def report(counts: dict[str, Any], projections: dict[int, dict[str, Any]]) -> list[str]:
    idx, day, s = counts["index"], counts["day"], counts["search"]
    large = counts["sharded"]["large"]
    lines = [
        f"# mast bench capacity ({dt.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} cores)",
        "",
        f"Measured in this run (labelled measured): a rebuild of {idx['records']:,} generated records on moto writes "
        f"{idx['items_per_record']:.2f} items, {idx['write_units_per_record']:.2f} write units and "
        f"{idx['calls_per_record']:.3f} calls a record; its items take {idx['item_bytes_per_record']:,.0f} B a record by "
        f"DynamoDB's rules, {idx['dynamodb_json_bytes_per_record']:,.0f} B as DynamoDB JSON, "
        f"{idx['dynamodb_json_gzip_bytes_per_record']:,.0f} B gzipped. The sharded link of {large['records']:,} records: "
        f"{large['seconds']} s, {large['score_shards']} score and {large['refine_shards']} refine shards, step peaks "
        + ", ".join(f"{k} {large[k]['peak_mb']:,.0f} MB" for k in ("prepare", "score", "cluster", "refine", "finish"))
        + (f"; the import's export in {large['export']['shards']} shard(s): each {large['export']['scan_seconds']:.1f} s "
           f"reading every record, {large['export']['build_seconds']:.1f} s building the items among them, peak "
           f"{large['export']['peak_mb']:,.0f} MB" if large.get("export") else "")
        + (", on /tmp " + ", ".join(f"{k} {v:,.0f} MB" for k, v in sorted(large["disk_mb"].items()))
           if large.get("disk_mb") else "")
        + f". A day ({day['new_records']:,} new records, {day['snapshot_changes']:,} snapshot changes at the measured "
        f"share {day['snapshot_share']}): {day['linked']:,} linked in {day['seconds']} s"
        + (f" (of which moto answering its calls {sum(day['moto_cpu_seconds'].values()):,.1f} s of CPU, the match "
           f"function's own {day['seconds_without_moto']} s of wall time"
           + (f", {day['cpu_seconds_without_moto']} s of CPU: the CPU is what the projection scales"
              if "cpu_seconds_without_moto" in day else "") + ")" if "seconds_without_moto" in day else "")
        + f", peak {day['peak_rss_mb']:,.0f} MB "
        f"(moto's copy included), {day['write_units']:,} write units, {day['read_units']:,} read units, "
        f"{day['calls_total']:,} calls. A search ({s['records']:,} records): person search "
        f"{s['person search'].get('calls_total', 0):g} calls, {s['person search'].get('round_trips', 0):g} round trips, "
        f"{s['person search'].get('read_units', 0):g} read units, {s['person search'].get('write_units', 0):g} write units; "
        f"person view {s['person view'].get('read_units', 0):g} read units; address search "
        f"{s['address search'].get('read_units', 0):g} read units; handler {s['handler_seconds'] * 1000:.0f} ms on moto.",
        "",
        "Projected (labelled assumed: the counts scaled linearly from the two sizes measured, with the prices below; "
        "a day's link is the match function's own seconds, the run's CPU-seconds on moto less moto's CPU answering its calls, plus "
        "its calls' round trips on DynamoDB, ddb_call_seconds each, as many at once as the index writer's threads):",
        "",
        "| records | rebuild: sharded link + import | of which import | rebuild cost | today: one Lambda writing items "
        "| a day's link | 1,000 searches/day, a month | 100,000 searches/day, a month | storage a month | limits broken |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, p in projections.items():
        r, t, d = p["rebuild"], p["today"], p["day"]
        lines.append(
            f"| {_size(n)} | {_time(r['seconds']['value'])} ({r['score_shards']} score, {r['refine_shards']} refine"
            + (f", {r['export_shards']} export" if r.get("export_shards") else "") + " shards"
            + (f"; {', '.join(r['on_fargate'])} on Fargate, {_money(r['fargate_usd']['value'])}"
               if r.get("on_fargate") else "") + ") |"
            f" {_time(r['import_seconds']['value'])}"
            + (f" ({r['tables']} tables at once)" if r.get("tables", 1) > 1 else "") + " |"
            f" {_money(r['usd']['value'])} | "
            f"{_time(t['seconds']['value'])}, {_money(t['usd']['value'])}{'' if t['within_limits'] else ' (over 900 s)'} | "
            f"{_time(d['seconds']['value'])}"
            + (f" ({_time(d['own_seconds']['value'])} its own, {_time(d['calls_seconds']['value'])} its calls; on moto "
               f"{_time(d['on_moto_seconds']['value'])})" if "own_seconds" in d else "")
            + f", {_money(d['usd']['value'])}, {d['peak_mb']['value']:,.0f} MB | "
            f"{_money(p['searches_month_usd']['1000']['value'])} | {_money(p['searches_month_usd']['100000']['value'])} | "
            f"{p['storage']['gb']['value']:,.1f} GB, {_money(p['storage']['usd_month']['value'])} | "
            f"{'; '.join(p['limits_broken']) or 'none'} |")
    lines += ["", "A release rebuild is the same work as a first rebuild (the same figures; the old table is kept "
              "for the grace period, so storage doubles for it).", "", "Targets (issue 15):", ""]
    for name, met, figure in targets(projections):
        lines.append(f"- {name}: {'met' if met else 'NOT met' if met is False else 'not projected'} ({figure})")
    lines += ["", "Prices and limits:", "", "| figure | value | unit | region | label | source |", "|---|---|---|---|---|---|"]
    for name, p in PRICES.items():
        lines.append(f"| {name} | {p['value']:g} | {p['unit']} | {p['region']} | {p['label']}"
                     f"{': ' + p['note'] if p.get('note') else ''} | {p['source'] or '—'} |")
    return lines


def run(args: argparse.Namespace) -> int:
    counts = json.loads(args.from_counts.read_text("utf-8"))["counts"] if args.from_counts else measure(args)
    projections = {n: project(counts, n) for n in SIZES}
    lines = report(counts, projections)
    print("\n".join(lines))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "capacity.json").write_text(json.dumps(
        {"date": dt.date.today().isoformat(), "counts": counts, "prices": PRICES,
         "projections": {str(k): v for k, v in projections.items()},
         "targets": [{"target": t, "met": m, "figure": f} for t, m, f in targets(projections)]},
        indent=1, default=str) + "\n", "utf-8")
    (args.out / "capacity.md").write_text("\n".join(lines) + "\n", "utf-8")
    print(f"written: {args.out / 'capacity.json'}, capacity.md")
    return 0
