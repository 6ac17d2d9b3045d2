"""`mast bench incremental`: the match function's incremental link beside the bare ``Linker.add``, in one
run; then one day's match run through the match function's whole path, with what it costs in DynamoDB.

``mast bench linkage --extras`` times :meth:`mast.linkage.link.Linker.add` of 10,000 records on
a population already in memory. The match function has no population in memory: on each message
it prepares the curated records, restores the live people (:meth:`Linker.restore`, from the saved
record → person state) and then adds (:mod:`mast.index.linking`). This bench times those steps on
``mast generate`` data, beside the bare add on the same split, and counts records whose person
differs between the two (the restore must give the same people). That part is compute only.

Then **a day** (:mod:`tools.bench.daily`, its own process): the records a day brings (``--new``, 5,000
by default) plus the day's snapshot changes, which ingest's snapshot diff
(:func:`mast.feeds.supersede.changed_versions`) passes on: how many is measured on two generated
days (``--rate-people``), as the share of the snapshot feeds' open records a day changes or ends,
and applied to the million's snapshot records (those records are ended, the commonest change). The
run is :func:`mast.index.linking.run_match` on moto, counted by DynamoDB call: items written and
deleted, write and read units, seconds and peak memory. Beside it, the reference: how many records
the same day relinked before ingest compared snapshots (every snapshot row it re-sent), and the
items and write units that would cost at the day's measured items per relinked record.
With ``--against COMMIT``, the day's run is also made with that commit's ``mast`` package (taken by
``git archive`` into a temporary folder; the harness is this code's), alternately with this code's,
``--repeat`` times each, on the same data: the medians of each, their ratio, and whether every run
found the same people and wrote the same items (digests of the state and the items). ``--profile``
writes a cProfile of this code's first day's run.
Prints counts and seconds, never a name.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path("bench-data/results")


def register_bench(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser("incremental", help="the match function's incremental link beside Linker.add")
    parser.add_argument("--records", type=int, default=1_000_000, help="generated records (default 1,000,000)")
    parser.add_argument("--new", type=int, default=5_000, help="records added incrementally (default 5,000)")
    parser.add_argument("--rate-people", type=int, default=20_000,
                        help="people generated for two days to measure the snapshot change rate (default 20,000)")
    parser.add_argument("--no-daily", dest="daily", action="store_false", help="only the compute comparison")
    parser.add_argument("--daily-only", action="store_true", help="only the day's match run (a lighter run)")
    parser.add_argument("--full-index", action="store_true",
                        help="the day starts from the match function's measured rebuild of the day before")
    parser.add_argument("--workers", type=int, help="processes for the batch link (default: all cores)")
    parser.add_argument("--against", metavar="COMMIT",
                        help="also run the day's match run with COMMIT's mast package (git archive), alternately with "
                             "this code's, on the same data: medians, their ratio, and whether the people and the "
                             "items written are the same")
    parser.add_argument("--repeat", type=int, default=1, help="the day's runs of each side (default 1)")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="cProfile this code's (first) day's match run into FILE (pstats)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"results folder (default {RESULTS})")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from tools.bench.generated import generated

    dataset = generated(args.records)
    n = len(dataset.truth)
    rng = np.random.default_rng(7)
    is_new = np.zeros(n, dtype=bool)
    is_new[rng.choice(n, size=min(args.new, n // 10), replace=False)] = True
    result: dict[str, Any] = {"date": dt.date.today().isoformat(),
                              "machine": f"{platform.machine()}, {platform.python_version()}"}
    if not args.daily_only:
        result.update(compare(dataset, is_new, args))
    if args.daily or args.daily_only:
        dataset.canonical = {}  # the day's run reads its records from the curated Parquet
        result["daily"] = daily(dataset.frames, is_new, args)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "incremental-daily.json" if args.daily_only else "incremental.json"
    (args.out / name).write_text(json.dumps(result, indent=1) + "\n", "utf-8")
    if "match_path_seconds" in result:
        m = result["match_path_seconds"]
        print(f"{result['new_records']:,} new records against {result['base_records']:,}:")
        print(f"  Linker.add on the population in memory (reference): {result['reference_add_seconds']} s")
        print(f"  match function path: prepare {m['prepare']} s + restore {m['restore']} s + add {m['add']} s"
              f" = {m['total']} s (x{result['ratio_total_to_reference']} the reference)")
        print(f"  records whose person differs from the reference: {result['records_whose_person_differs']}")
    if "daily" in result:
        print_daily(result["daily"])
    return 0


def compare(dataset: Any, is_new: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """The match function's compute path (prepare, restore, add) beside ``Linker.add`` in memory."""
    from mast.linkage.link import Linker, LinkOptions
    from mast.linkage.table import Factorised, prepare

    def subset(mask: np.ndarray) -> dict[str, Factorised]:
        return {k: Factorised(v.uniques, v.codes[mask]) for k, v in dataset.canonical.items()}

    live = Linker.build(prepare(subset(~is_new)), options=LinkOptions(workers=args.workers))
    model, people = live.model, live.person_ids()
    live.key_index()  # the population in memory, lookup-key index included, as the reference has it
    started = time.perf_counter()
    live.add(subset(is_new))
    reference = time.perf_counter() - started
    reference_people = live.person_ids()
    del live

    started = time.perf_counter()
    table = prepare(subset(~is_new))
    prepared = time.perf_counter()
    restored = Linker.restore(table, model, people.tolist())
    restored_at = time.perf_counter()
    added = restored.add(subset(is_new))
    finished = time.perf_counter()
    differ = int((restored.person_ids() != reference_people).sum())
    return {
        "base_records": int((~is_new).sum()),
        "new_records": int(is_new.sum()),
        "reference_add_seconds": round(reference, 2),
        "match_path_seconds": {
            "prepare": round(prepared - started, 2),
            "restore": round(restored_at - prepared, 2),
            "add": round(finished - restored_at, 2),
            "total": round(finished - started, 2),
        },
        "ratio_total_to_reference": round((finished - started) / reference, 2) if reference else None,
        "candidate_pairs": added.candidate_pairs,
        "records_whose_person_differs": differ,
    }


def snapshot_change_rate(people: int, seed: int = 2024) -> dict[str, Any]:
    """What ingest's snapshot diff passes on in a day, on two generated days of the snapshot feeds:
    the share of the feed's open records that a day ends or changes, and of rows a day re-sends."""
    from mast.feeds.definition import load_feed_definitions
    from mast.feeds.ingest import _versions
    from mast.feeds.parse import parse_extract
    from mast.feeds.supersede import changed_versions
    from tools.bench.generated import AS_OF
    from tools.generate import generate_days

    days = generate_days(people, seed, 2, as_of=AS_OF)
    open_before = sent = ended_or_changed = new = 0
    for feed, definition in load_feed_definitions().items():
        if definition.mode != "snapshot":
            continue
        parsed = [parse_extract(day.files[feed].data, definition, ingest_id=f"day{d}", file_name="f",
                                ingest_date=AS_OF + dt.timedelta(days=d)) for d, day in enumerate(days)]  # fmt: skip
        state = parsed[0].records
        versions, _ = _versions(parsed[1], state, "day1", AS_OF + dt.timedelta(days=1))
        changed = changed_versions(versions, state)
        held_np = np.isin(versions.column("record_id").to_numpy(zero_copy_only=False),
                          state.column("record_id").to_numpy(zero_copy_only=False))
        open_before += state.num_rows
        sent += parsed[1].records.num_rows
        new += int((changed & ~held_np).sum())
        ended_or_changed += int((changed & held_np).sum())
    return {"people": people, "open_records_day1": open_before, "rows_sent_day2": sent,
            "new_day2": new, "ended_or_changed_day2": ended_or_changed,
            "share_ended_or_changed": round(ended_or_changed / max(open_before, 1), 5)}


def curated(frames: Path) -> Any:
    """The generated records as the curated dataset holds them (a column for every canonical field,
    the partner beside the feed), as the match function reads them."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from mast.config import load_partnership
    from mast.feeds.parse import RECORD_SCHEMA

    table = pq.read_table(frames)
    n = table.num_rows
    partners = {f.id: f.partner for f in load_partnership().feeds}
    columns = {}
    for field in RECORD_SCHEMA:
        if field.name in table.column_names:
            columns[field.name] = table.column(field.name).cast(field.type)
        else:
            columns[field.name] = pa.nulls(n, field.type)
    columns["source_record_id"] = pc.replace_substring_regex(table.column("record_id"), "^[^:]*:", "")  # the case ref
    columns["sensitive"] = pa.array(np.zeros(n, bool))
    columns["withdrawn"] = pa.array(np.zeros(n, bool))
    columns["ingest_id"] = pa.array(["day0"] * n, pa.string())
    out = pa.table(columns, schema=RECORD_SCHEMA)
    feeds = table.column("source").to_pylist()
    out = out.append_column("partner", pa.array([partners[f] for f in feeds], pa.string()))
    return out.append_column("feed", pa.array(feeds, pa.string()))


def daily(frames: Path, is_new: np.ndarray, args: argparse.Namespace) -> dict[str, Any]:
    """One day's match run measured in its own process (:mod:`tools.bench.daily`); see the module docstring."""
    import tempfile

    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from mast.feeds.definition import load_feed_definitions
    from mast.index.linking import _linkage_columns
    from mast.linkage.link import Linker, LinkOptions
    from mast.linkage.table import prepare
    from tools.bench.generated import AS_OF

    rate = snapshot_change_rate(args.rate_people)
    records = curated(frames)
    snapshot_feeds = [f for f, d in load_feed_definitions().items() if d.mode == "snapshot"]
    in_snapshot = pc.is_in(records.column("feed"), value_set=pa.array(snapshot_feeds)).to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(11)
    base_snapshot = np.flatnonzero(in_snapshot & ~is_new)
    k = round(rate["share_ended_or_changed"] * len(base_snapshot))
    ended = np.zeros(len(is_new), dtype=bool)
    ended[rng.choice(base_snapshot, size=min(k, len(base_snapshot)), replace=False)] = True
    day0 = records.filter(pa.array(~is_new))
    end_date = pc.if_else(pa.array(ended), pa.scalar(AS_OF + dt.timedelta(days=1), pa.date32()),
                          records.column("end_date"))  # fmt: skip
    day1 = records.set_column(records.schema.get_field_index("end_date"), "end_date", end_date)
    day1 = day1.set_column(day1.schema.get_field_index("ingest_id"), "ingest_id",
                           pa.array(["day1"] * day1.num_rows, pa.string()))  # fmt: skip
    # the live version the day starts from: the match function's own rebuild of the day before
    live = Linker.build(prepare(_linkage_columns(day0)), None, [], LinkOptions(workers=args.workers))
    with tempfile.TemporaryDirectory(prefix="mast-bench-daily-") as work:
        folder = Path(work)
        pq.write_table(day0, folder / "day0.parquet")
        pq.write_table(day1, folder / "day1.parquet")
        pq.write_table(pa.table({"record_id": records.column("record_id").filter(pa.array(ended))}),
                       folder / "changed.parquet")  # fmt: skip
        pq.write_table(pa.table({"record_id": pa.array(live.table.record_id.tolist(), pa.string()),
                                 "person_id": pa.array(live.person_ids().tolist(), pa.string())}),
                       folder / "people.parquet")  # fmt: skip
        (folder / "model.json").write_text(live.model.to_json(), "utf-8")
        if getattr(args, "full_index", False):
            (folder / "full_index").write_text("1", "utf-8")
        del live
        runs = _day_runs(folder, args)
    measured = next(r for side, r in runs if side == "this")
    compared = _compared(runs) if getattr(args, "against", None) or len(runs) > 1 else {}
    # the reference: before ingest compared snapshots, every snapshot row re-sent was relinked
    resent = int((in_snapshot & ~ended & ~is_new).sum())  # the open snapshot records the day's files re-send
    before_linked = int(is_new.sum()) + resent + int(ended.sum())
    per_record = (measured.get("items_put", 0) / max(measured.get("linked", 1), 1))
    wcu_per_record = (measured.get("write_units", 0) / max(measured.get("linked", 1), 1))
    return {"snapshot_change_rate": rate, "new_records": int(is_new.sum()), "snapshot_changes": int(ended.sum()),
            "measured": measured,
            "reference_before_diff": {"records_relinked": before_linked,
                                      "items_put_estimated": round(per_record * before_linked),
                                      "write_units_estimated": round(wcu_per_record * before_linked)},
            "ratio_relinked_before_to_after": round(before_linked / max(measured.get("linked", 1), 1), 2),
            **({"compared": compared} if compared else {})}


def _day_runs(folder: Path, args: argparse.Namespace) -> list[tuple[str, dict[str, Any]]]:
    """The day's match run on ``folder``'s data, each in its own process: this code's, and with
    ``--against`` the reference commit's, alternately (reference first), ``--repeat`` times each."""
    import subprocess
    import tempfile

    from tools.bench.measure import run_side

    repeat = max(getattr(args, "repeat", 1) or 1, 1)
    against = getattr(args, "against", None)
    profile = getattr(args, "profile", None)
    runs: list[tuple[str, dict[str, Any]]] = []
    (folder / "now").write_text(dt.datetime.now(dt.UTC).isoformat(), "utf-8")  # every run on one clock
    with tempfile.TemporaryDirectory(prefix="mast-bench-reference-") as reference:
        if against:
            root = Path(__file__).resolve().parents[2]
            archive = subprocess.run(["git", "-C", str(root), "archive", "--format=tar", against, "mast"],
                                     check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", reference], input=archive, check=True)
            # the harness and the configuration (infra/: the partnership, the feeds' definitions, which
            # retention reads) are this checkout's; only mast is theirs
            for shared in ("tools", "infra", "template.yaml"):
                (Path(reference) / shared).symlink_to(root / shared)
        for k in range(repeat):
            for side in (["reference", "this"] if against else ["this"]):
                (folder / "profile").unlink(missing_ok=True)
                if profile and side == "this" and k == 0:
                    (folder / "profile").write_text(str(Path(profile).resolve()), "utf-8")
                result = run_side([str(folder)], module="tools.bench.daily", timeout=7200,
                                  cwd=reference if side == "reference" else None)
                print(f"  day's run ({side}): {result.get('seconds')} s {result.get('seconds_by_step')}", flush=True)
                runs.append((side, result))
    return runs


def _compared(runs: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Medians of each side's seconds (whole run and by step), their ratio, and whether every run found
    the same people (the record -> person state it wrote) and wrote the same items."""
    import statistics

    out: dict[str, Any] = {}
    for side in dict.fromkeys(s for s, _ in runs):
        mine = [r for s, r in runs if s == side and "error" not in r]
        if not mine:
            out[side] = {"error": next(r["error"] for s, r in runs if s == side)}
            continue
        steps = sorted({k for r in mine for k in r.get("seconds_by_step", {})})
        out[side] = {"runs": len(mine), "seconds": [r["seconds"] for r in mine],
                     "median_seconds": round(statistics.median(r["seconds"] for r in mine), 2),
                     "median_seconds_without_moto": round(statistics.median(
                         r.get("seconds_without_moto", r["seconds"]) for r in mine), 2),
                     "median_seconds_by_step": {k: round(statistics.median(r.get("seconds_by_step", {}).get(k, 0.0)
                                                                           for r in mine), 2) for k in steps},
                     "peak_rss_mb": max(r["peak_rss_mb"] for r in mine)}
    ok = [r for _, r in runs if "error" not in r]
    out["runs"] = [{"side": side, "seconds": r.get("seconds"), "seconds_without_moto": r.get("seconds_without_moto"),
                    "moto_cpu_seconds": r.get("moto_cpu_seconds"), "state_digest": r.get("state_digest"),
                    "items_digest": r.get("items_digest"), **({"error": r["error"]} if "error" in r else {})}
                   for side, r in runs]
    out["same_people"] = len({r.get("state_digest") for r in ok}) == 1
    out["same_items"] = len({r.get("items_digest") for r in ok}) == 1
    if "reference" in out and "this" in out and "median_seconds" in out.get("reference", {}) \
            and "median_seconds" in out.get("this", {}):
        out["ratio_reference_to_this"] = round(out["reference"]["median_seconds"] / max(out["this"]["median_seconds"], 1e-9), 2)
        out["ratio_without_moto"] = round(out["reference"]["median_seconds_without_moto"]
                                          / max(out["this"]["median_seconds_without_moto"], 1e-9), 2)
    return out


def print_daily(d: dict[str, Any]) -> None:
    m, ref = d["measured"], d["reference_before_diff"]
    if "error" in m:
        print(f"  a day's match run failed: {m['error']}")
        return
    print(f"a day: {d['new_records']:,} new records and {d['snapshot_changes']:,} snapshot changes "
          f"(share {d['snapshot_change_rate']['share_ended_or_changed']} of open snapshot records, measured on "
          f"{d['snapshot_change_rate']['people']:,} generated people) against {m['records']:,}:")
    print(f"  run_match {m['mode']}: {m['seconds']} s, peak RSS {m['peak_rss_mb']} MB (moto's copy included), "
          f"linked {m['linked']:,}")
    print(f"  DynamoDB: {m['calls_total']:,} calls {m['calls']}; items put {m['items_put']:,}, deleted "
          f"{m['items_deleted']:,}, read {m['items_read']:,}; {m['write_units']:,} write units, "
          f"{m['read_units']:,} read units")
    if "rebuild" in m:
        r = m["rebuild"]
        print(f"  the rebuild before it: {r['records']:,} records, {r['items_put']:,} items "
              f"({r['items_per_record']} per record), {r['write_units']:,} write units ({r['write_units_per_record']} "
              f"per record), {r['calls_total']:,} calls, {r['seconds']} s")
    print(f"  per record linked: {m.get('items_per_record_linked')} items, {m.get('write_units_per_record_linked')} "
          "write units")
    if "compared" in d:
        c = d["compared"]
        for side in ("reference", "this"):
            if side in c:
                print(f"  {side}: median {c[side].get('median_seconds')} s of {c[side].get('seconds')} (without moto's "
                      f"CPU {c[side].get('median_seconds_without_moto')} s), by step "
                      f"{c[side].get('median_seconds_by_step')}, peak RSS {c[side].get('peak_rss_mb')} MB")
        print(f"  ratio reference / this: {c.get('ratio_reference_to_this')} (without moto's CPU "
              f"{c.get('ratio_without_moto')}); same people in every run: "
              f"{c['same_people']}; same items written: {c['same_items']}")
    print(f"  before the snapshot diff: {ref['records_relinked']:,} records relinked (x{d['ratio_relinked_before_to_after']}),"
          f" about {ref['items_put_estimated']:,} items and {ref['write_units_estimated']:,} write units")
