"""The match run fills the stewards' review queue (moto in process): after a rebuild the queue holds
the link's closest calls, pairs of records in two people; a steward's decision on one, through
:func:`mast.access.decisions.decide`, takes effect at the relink it queues and holds through a
rebuild, which does not ask about the pair again."""

from __future__ import annotations

from typing import Any

import pytest

from mast.access.decisions import DecisionStore, LinkDecisionRequest, decide
from mast.audit.store import AuditStore
from mast.index import IndexReader
from mast.index.messages import RebuildRequested, RelinkRequested
from mast.linkage.review import PAIRS_PER_RUN
from mast.stewardship.queue import AlreadyDecided, ReviewQueue
from tests.integration.test_match import STEWARD, _table, aws, ingest_day, match, people_of  # noqa: F401


def test_a_rebuild_puts_its_closest_calls_in_the_queue_and_a_decision_on_one_takes_effect(
        aws: dict[str, Any]) -> None:  # noqa: F811
    outcome = match(aws, ingest_day(aws, 0)[0])
    queue = ReviewQueue("t-control", aws["ddb"])
    items = queue.items()
    assert 0 < len(items) == outcome.review_pairs <= PAIRS_PER_RUN
    reader = IndexReader("t-index", aws["ddb"])
    reader.live_version()
    for item in items:
        people = people_of(reader, [item.record_a, item.record_b])
        assert people[item.record_a] != people[item.record_b], item
        assert item.kind in ("held-apart", "just-under") and item.weight is not None
    item = items[0]
    _table(aws["ddb"], "t-audit")
    relinked: list[list[str]] = []
    answer = decide(LinkDecisionRequest(decision="same", review_item=item.item_id, reason="one person: checked"),
                    STEWARD, reader, DecisionStore("t-control", aws["ddb"]), AuditStore("t-audit", aws["ddb"]),
                    relink=lambda ids: relinked.append(ids) is None, queue=queue)
    assert answer.relink_queued and set(relinked[0]) == {item.record_a, item.record_b}
    with pytest.raises(AlreadyDecided):
        decide(LinkDecisionRequest(decision="different", review_item=item.item_id, reason="second thoughts"),
               STEWARD, reader, DecisionStore("t-control", aws["ddb"]), AuditStore("t-audit", aws["ddb"]), queue=queue)
    match(aws, RelinkRequested(record_ids=relinked[0]))
    people = people_of(reader, [item.record_a, item.record_b])
    assert people[item.record_a] == people[item.record_b]  # the decision took effect at the relink
    rebuilt = match(aws, RebuildRequested())
    fresh = IndexReader("t-index", aws["ddb"])
    fresh.live_version()
    people = people_of(fresh, [item.record_a, item.record_b])
    assert people[item.record_a] == people[item.record_b]
    assert item.item_id not in {i.item_id for i in queue.items()}  # decided: not asked again
    assert queue.get(item.item_id).decision == "same"  # type: ignore[union-attr]
    assert rebuilt.review_pairs <= PAIRS_PER_RUN
