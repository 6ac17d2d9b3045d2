"""The rebuild's state machine runs on `mast local --demo` through the template's own definition.

``RebuildStateMachine`` (template.yaml) is started as the match function will start it: moto
interprets the definition; each step is an invocation of the template's ``RebuildFunction`` or
(once per shard, from distributed Maps reading their manifests in S3) ``MatchShardFunction``, in
the stack's function environments under their limits; every step passes S3 keys only (Step
Functions' 256 KiB quota holds locally). The people it finds are exactly those of the one-process
link (:meth:`Linker.build`) on the same records, model and stewards' decisions.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from mast.access.decisions import DecisionStore
from mast.linkage.link import Linker, LinkOptions
from mast.linkage.model import Model
from mast.linkage.sharded import read_columns, read_records
from tests.conftest import LocalStackProcess


def _download(s3: Any, uri: str, folder: Path) -> Path:
    """Everything under an s3:// prefix (or the one object) into ``folder``, keeping the layout."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
    for obj in listed:
        if obj["Key"].endswith("/"):  # a folder marker pyarrow left
            continue
        target = folder / obj["Key"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
    return folder / key


def test_the_rebuild_state_machine_links_the_demo_in_shards_as_the_one_process_link_does(
        local_stack: LocalStackProcess, tmp_path: Path) -> None:
    sfn = local_stack.client("stepfunctions")
    machine = next(m for m in sfn.list_state_machines()["stateMachines"] if m["name"] == "mast-local-rebuild")
    rebuild = f"e2e-{uuid.uuid4().hex[:8]}"
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], name=rebuild,
                                    input=json.dumps({"rebuild": rebuild, "min_shards": 4,
                                                      "records_per_refine": 150}))
    deadline = time.time() + 420
    described: dict[str, Any] = {}
    while time.time() < deadline:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            break
        time.sleep(1)
    assert described.get("status") == "SUCCEEDED", json.dumps(
        sfn.get_execution_history(executionArn=execution["executionArn"])["events"][-3:], default=str)[-3000:]
    state = json.loads(described["output"])
    assert state["prepared"]["shards"] >= 4
    assert len(state["scored"]) == state["prepared"]["shards"]
    assert state["clustered"]["refine_shards"] >= 2
    # every payload between states is keys and counts
    assert all(str(link["links"]).startswith("s3://") for link in state["scored"])

    s3 = local_stack.client("s3")
    table_dir = _download(s3, state["prepared"]["table"], tmp_path)
    table, _ = read_records(str(table_dir))
    model = Model.from_json(_download(s3, state["prepared"]["model"], tmp_path).read_text())
    people = read_columns(str(_download(s3, state["finished"]["people"], tmp_path)))
    assert state["finished"]["records"] == len(table) == len(people["record_id"]) > 1000

    ddb = local_stack.client("dynamodb")
    control = next(t for t in ddb.list_tables()["TableNames"] if t.endswith("-control"))
    decisions = DecisionStore(control, ddb).all()
    one = Linker.build(table, model=model, decisions=decisions, options=LinkOptions(workers=1))
    assert list(people["record_id"]) == list(table.record_id)
    differ = int(np.sum(people["person_id"] != one.person_ids()))
    assert differ == 0, f"{differ} of {len(table)} records in a different person than the one-process link's"
    assert (people["address_id"] == one.address_ids()).all()
