"""The sharded batch link (issue 15 point 1): the rebuild's steps, run in processes that hold only
their own shard, find exactly the people (and addresses) of the one-process link, using only what
Lambda allows (Process and Pipe, no /dev/shm), with every step's payload a handful of paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import BaseModel

from mast.linkage.link import link_records
from mast.linkage.sharded import (
    ScoreInput,
    ScoreOutput,
    StepFailed,
    read_columns,
    read_records,
    run_steps,
    score_shard,
    write_columns,
    write_records,
)
from tests.conftest import run_without_dev_shm

PROGRAM = """
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tools.bench.generated import build
from mast.linkage.decisions import Decision
from mast.linkage.io import canonical_columns
from mast.linkage.link import LinkOptions, Linker
from mast.linkage.model import Model
from mast.linkage.sharded import link_locally, read_columns
from mast.linkage.table import prepare

tmp = Path(sys.argv[1])
records = build(4000, root=tmp)
table = pq.read_table(records)
ids = table.column("record_id").to_pylist()
truth = table.column("truth").to_pylist()
# the stewards' decisions: two records of different people are the same, two of one person are not
first_of = {}
for i, person in enumerate(truth):
    first_of.setdefault(person, i)
people = [i for i, person in enumerate(truth) if first_of[person] != i]
apart = (ids[first_of[truth[people[0]]]], ids[people[0]])
together = (ids[0], ids[[i for i, p in enumerate(truth) if p != truth[0]][5]])
decisions = [Decision(*together, "same"), Decision(*apart, "not_same")]
with open(tmp / "decisions.jsonl", "w") as out:
    for d in decisions:
        out.write(json.dumps({"record_id_a": d.record_a, "record_id_b": d.record_b, "decision": d.decision}) + "\\n")

run = link_locally(str(records), str(tmp / "rebuild"), processes=2, decisions=str(tmp / "decisions.jsonl"),
                   pairs_per_shard=20_000, records_per_refine=300)
model = Model.from_json((tmp / "rebuild" / "model.json").read_text())
one = Linker.build(prepare(canonical_columns(table)), model=model, decisions=decisions,
                   options=LinkOptions(workers=1))
people_file = read_columns(run.finish.people)
assert list(people_file["record_id"]) == ids
assert len(run.score) >= 4 and len(run.refine) >= 2, (len(run.score), len(run.refine))
assert sum(s.scored_pairs for s in run.score) == one.stats["candidate_pairs"]  # every pair scored once
assert run.cluster.linked_pairs == one.stats["linked_pairs"]
differ = int((people_file["person_id"] != one.person_ids()).sum())
assert differ == 0, f"{differ} records in a different person"
assert (people_file["address_id"] == one.address_ids()).all()
person = dict(zip(ids, people_file["person_id"]))
assert person[together[0]] == person[together[1]] and person[apart[0]] != person[apart[1]]
# the stewards' review: the same closest calls as the one-process link's, and its clustering figures
review = json.loads((tmp / "rebuild" / "review.json").read_text())
assert one.review and run.finish.review_pairs == len(review) == len(one.review)
assert [(r["record_a"], r["record_b"], r["kind"], r["weight"], list(r["guards"])) for r in review] == \
    [(r.record_a, r.record_b, r.kind, r.weight, list(r.guards)) for r in one.review]
for name in ("components", "split", "conflicts", "pairs_scored"):
    assert run.finish.cluster[name] == one.stats["cluster"][name], (name, run.finish.cluster, one.stats["cluster"])
print("same", len(set(people_file["person_id"])), "people", len(run.score), "shards", len(run.refine), "refine",
      len(review), "review pairs", run.finish.cluster)
"""


def test_the_sharded_link_finds_the_people_of_the_one_process_link_without_dev_shm(tmp_path: Path) -> None:
    result = run_without_dev_shm(PROGRAM, str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("same "), result.stdout


ROWS = [
    {"record_id": "a", "given_name": "Amelia", "family_name": "Frohawk", "dob": "2011-03-02", "postcode": "B1 1AA",
     "address_line1": "12 Rose Street"},
    {"record_id": "b", "given_name": "Amelie", "family_name": "Frohawk", "dob": "2011-03-02", "postcode": "B1 1AA",
     "address_line1": "12 Rose St"},
    {"record_id": "c", "given_name": "Jean-Luc", "middle_name": "Mary Jane", "family_name": "Smith Jones",
     "dob": "1980-01-05", "postcode": "WS1 2AB", "address_line1": "Flat 3, 4 High Street", "nhs_number": "9434765919"},
    {"record_id": "d", "given_name": "Jon", "family_name": "Smith-Jones", "dob": "1980-05-01", "postcode": "WS1 2AB",
     "address_line1": "4 High Street"},
    {"record_id": "e", "given_name": "Bill", "family_name": "O'Neill", "sex": "M", "postcode": "ZZ99 3WZ"},
]


def test_a_shard_of_records_written_and_read_back_scores_exactly_as_the_whole_table(tmp_path: Path) -> None:
    linker = link_records(ROWS)
    rows = np.asarray([1, 2, 3, 4])
    write_records(str(tmp_path / "shard"), linker.table, rows, {"row": rows.astype(np.int32)})
    shard, columns = read_records(str(tmp_path / "shard"))
    assert list(columns["row"]) == [1, 2, 3, 4] and list(shard.record_id) == ["b", "c", "d", "e"]
    assert len(shard.vocabs.names) < len(linker.table.vocabs.names)  # only the values its records use
    lo, hi = np.triu_indices(4, k=1)
    whole = linker.model.score(linker.table, rows[lo], rows[hi])
    part = linker.model.score(shard, lo, hi)
    for name in ("weight", "guards", "coherence"):
        assert np.array_equal(getattr(whole, name), getattr(part, name)), name


def test_columns_survive_the_file_unchanged(tmp_path: Path) -> None:
    columns = {"text": ["é", "", "a b"], "flag": np.asarray([True, False, True]), "pairs": np.arange(6).reshape(3, 2),
               "weight": np.asarray([0.5, -1.25, 3.0], np.float32), "code": np.asarray([-1, 0, 7], np.int8)}
    write_columns(str(tmp_path / "x" / "c.arrow"), columns)
    back = read_columns(str(tmp_path / "x" / "c.arrow"))
    assert list(back["text"]) == columns["text"]
    for name in ("flag", "pairs", "weight", "code"):
        assert back[name].dtype == np.asarray(columns[name]).dtype and np.array_equal(back[name], columns[name])


def test_a_step_that_fails_fails_the_run_with_its_reason(tmp_path: Path) -> None:
    missing = ScoreInput(shard=str(tmp_path / "no-such-shard"), model=str(tmp_path / "model.json"), index=0, count=1)
    with pytest.raises(StepFailed, match="score_shard failed on step 0"):
        run_steps(score_shard, [missing], ScoreOutput, 2)


def test_the_large_bench_counts_records_whose_person_differs() -> None:
    from tools.bench.large import compare_people

    same = compare_people(np.asarray(["P-1", "P-1", "P-2", "P-3"]), np.asarray(["x", "x", "y", "z"]))
    assert same["records_differing"] == 0 and same["people_one"] == same["people_other"] == 3
    split = compare_people(np.asarray(["P-1", "P-1", "P-1", "P-2"]), np.asarray(["x", "x", "y", "z"]))
    assert split["records_differing"] == 3  # the person of three records is two people on the other side
    assert split["people_one_without_twin"] == 1 and split["people_other_without_twin"] == 2


def test_a_pair_met_only_through_colliding_block_ids_is_scored_by_exactly_one_shard() -> None:
    from mast.linkage.keys import LOOKUP_KEYS
    from mast.linkage.sharded import _owned

    names = [rule.name for rule in LOOKUP_KEYS]
    key_columns = np.zeros((len(LOOKUP_KEYS), 3), dtype=np.int64)
    # records 0 and 1 hold the same block id under two namespaces of one pool (a collision: make_blocks
    # puts them in one block); records 0 and 2 share a date-of-birth key, and a swapped-date one
    key_columns[names.index("dob_family"), 0] = 1001
    key_columns[names.index("dob_given"), 1] = 1001
    key_columns[names.index("dob_family"), 2] = 1001
    key_columns[names.index("dob_swapped_family"), 0] = 7
    key_columns[names.index("dob_given_as_family"), 2] = 7
    lo, hi = np.asarray([0, 0]), np.asarray([1, 2])
    owners = np.asarray([_owned(lo, hi, key_columns, index, 3) for index in range(3)])
    assert owners.sum(axis=0).tolist() == [1, 1]  # each pair once
    assert owners[1001 % 3, 0] and owners[7 % 3, 1]  # by the smallest id the two share


def test_decisions_dumped_for_a_rebuild_load_back_unchanged(tmp_path: Path) -> None:
    from mast.linkage.decisions import Decision, dump_decisions, load_decisions

    decisions = [Decision("a", "b", "same", "steward@x", "2026-12-05T09:00:00+00:00", 'said "yes", twice'),
                 Decision("c", "d", "not_same")]
    dump_decisions(decisions, tmp_path / "decisions.jsonl")
    assert load_decisions(tmp_path / "decisions.jsonl") == decisions


class _TrainsBeside(BaseModel):
    """A step that runs work in the background, as prepare trains beside its writing."""

    fail: bool = False


class _Done(BaseModel):
    background: int
    pid: int


def _step_with_background(step: _TrainsBeside) -> _Done:
    import os

    from mast.linkage.background import Background

    def work() -> dict[str, int]:
        if step.fail:
            raise ValueError("the model would not train")
        return {"pid": os.getpid()}

    return _Done(background=Background(work).result()["pid"], pid=os.getpid())


def test_work_in_the_background_of_a_step_returns_its_result_or_fails_the_step_with_its_reason() -> None:
    """A step's process is a daemon locally (which multiprocessing forbids children): the background
    process is forked all the same, its result comes back, and its failure fails the step."""
    import os

    from mast.linkage.background import Background, BackgroundFailed

    done = run_steps(_step_with_background, [_TrainsBeside()], _Done, 1)[0]
    assert done.background != done.pid and os.getpid() not in (done.background, done.pid)
    with pytest.raises(StepFailed, match="the model would not train"):
        run_steps(_step_with_background, [_TrainsBeside(fail=True)], _Done, 1)
    with pytest.raises(BackgroundFailed, match="died"):
        Background(lambda: os._exit(3)).result()
    slow = Background(lambda: __import__("time").sleep(60) or {})
    slow.cancel()  # killed and reaped: no process left behind
    with pytest.raises(ChildProcessError):
        os.waitpid(slow.pid, os.WNOHANG)


def test_a_local_link_scores_in_one_shard_per_process_at_least_each_pair_once(tmp_path: Path) -> None:
    """A few records are far fewer pairs than a shard holds, yet each process gets a shard to score
    (none idles while one scores all), and every candidate pair is scored by exactly one of them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mast.linkage.sharded import link_locally

    rows = [dict(r, source="police") for r in ROWS]
    pq.write_table(pa.table({k: [r.get(k) for r in rows] for k in sorted({k for r in rows for k in r})}),
                   tmp_path / "records.parquet")
    run = link_locally(str(tmp_path / "records.parquet"), str(tmp_path / "rebuild"), processes=2)
    one = link_records(rows)
    assert len(run.score) == 2
    assert sum(s.scored_pairs for s in run.score) == one.stats["candidate_pairs"] > 0
    people = read_columns(run.finish.people)
    assert list(people["person_id"]) == list(one.person_ids())
