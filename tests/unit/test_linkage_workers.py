"""The batch link's parallel path uses only what AWS Lambda allows (Process and Pipe, no /dev/shm)
and links exactly as one process does."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_without_dev_shm

PROGRAM = """

import numpy as np
import pyarrow.parquet as pq

from tools.bench.generated import build
from mast.linkage.io import canonical_columns
from mast.linkage.link import LinkOptions, Linker
from mast.linkage.table import prepare

columns = canonical_columns(pq.read_table(build(3000, root=__import__("pathlib").Path(sys.argv[1]))))
one = Linker.build(prepare(columns), options=LinkOptions(workers=1))
many = Linker.build(prepare(columns), options=LinkOptions(workers=2, parallel_min_pairs=0))
assert many.stats["candidate_pairs"] == one.stats["candidate_pairs"] > 0
assert np.array_equal(one.labels, many.labels)
for a, b in zip(one.edges, many.edges):
    assert np.array_equal(a, b)
print("same", len(set(one.labels.tolist())), "people from", one.stats["candidate_pairs"], "pairs")
"""


def test_the_parallel_batch_link_needs_no_dev_shm_and_links_as_one_process(tmp_path: Path) -> None:
    result = run_without_dev_shm(PROGRAM, str(tmp_path))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.startswith("same ")
