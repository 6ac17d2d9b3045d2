"""The stewards' review queue: which pairs a link leaves for a person to look at, and the queue's
store in the control table (moto): one item per pair of record ids, each decided once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import boto3
import numpy as np
import pytest

from mast.access.caller import Caller
from mast.linkage.decisions import NOT_SAME, Decision
from mast.linkage.link import Linker, LinkOptions
from mast.linkage.review import MARGIN_BITS, PAIRS_PER_RUN, ReviewPair, review_pairs
from mast.linkage.table import prepare_records
from mast.schema import Refused
from mast.stewardship.queue import AlreadyDecided, ItemNotFound, ReviewQueue, item_id
from tests.unit.test_linkage_households import build_town

STEWARD = Caller(sub="s-1", email="steward@example.test", organisation="walsall-council",
                 groups=frozenset({"data-stewards"}))
OTHER_STEWARD = Caller(sub="s-2", email="other.steward@example.test", organisation="wm-police",
                       groups=frozenset({"data-stewards"}))
PRACTITIONER = Caller(sub="p-1", email="p@example.test", organisation="wm-police", groups=frozenset({"practitioners"}))
IDS = [f"f:{i}" for i in range(8)]


# ------------------------------------------------------------------------------- the link's pairs
def test_review_pairs_are_the_closest_calls_left_in_two_people_half_of_each_kind() -> None:
    threshold = 4.0
    labels = np.asarray([0, 0, 2, 3, 4, 5, 6, 7])
    lo = np.asarray([0, 0, 1, 2, 3, 4, 5, 6])
    hi = np.asarray([1, 2, 2, 3, 4, 5, 6, 7])
    weight = np.asarray([9.0, 12.0, 3.5, 2.5, 1.0, 5.0, 3.9, 8.0])
    guards = np.asarray([0, 1, 0, 0, 0, 0, 0, 0b10], dtype=np.uint8)
    pairs = review_pairs(IDS, labels, lo, hi, weight, guards, threshold, ["twins", "namesakes"], limit=10)
    got = {(p.record_a, p.record_b): p for p in pairs}
    # (0,1) is one person: not a question; (3,4) is far under the threshold
    assert set(got) == {("f:0", "f:2"), ("f:1", "f:2"), ("f:2", "f:3"), ("f:4", "f:5"), ("f:5", "f:6"),
                        ("f:6", "f:7")}
    assert got[("f:0", "f:2")].kind == "held-apart" and got[("f:0", "f:2")].guards == ("twins",)
    assert got[("f:6", "f:7")].guards == ("namesakes",)
    assert got[("f:4", "f:5")].kind == "held-apart" and got[("f:4", "f:5")].guards == ()  # a clustering split
    assert got[("f:5", "f:6")].kind == "just-under" and got[("f:2", "f:3")].kind == "just-under"
    assert all(p.weight >= threshold - MARGIN_BITS for p in pairs)
    # closest first within each kind, and the limit shared between the kinds
    two = review_pairs(IDS, labels, lo, hi, weight, guards, threshold, ["twins", "namesakes"], limit=2)
    assert [(p.record_a, p.record_b, p.kind) for p in two] == [("f:0", "f:2", "held-apart"),
                                                              ("f:5", "f:6", "just-under")]
    # a kind with too few leaves its room to the other
    none_under = review_pairs(IDS, labels, lo, hi, np.where(weight < threshold, 0.0, weight), guards, threshold,
                              ["twins", "namesakes"], limit=3)
    assert [p.kind for p in none_under] == ["held-apart"] * 3


def test_a_pair_a_steward_decided_is_not_asked_again() -> None:
    labels = np.arange(3)
    pairs = review_pairs(IDS[:3], labels, np.asarray([0, 1]), np.asarray([1, 2]), np.asarray([5.0, 5.0]),
                         np.zeros(2, np.uint8), 4.0, [], decided=[Decision("f:1", "f:0", NOT_SAME)])
    assert [(p.record_a, p.record_b) for p in pairs] == [("f:1", "f:2")]


def test_a_batch_link_and_an_incremental_link_each_leave_a_bounded_few_pairs_in_two_people() -> None:
    town, _ = build_town(seed=4, households=150)
    rows = [{**r, "source": r["source"]} for r in town]
    linker = Linker.build(prepare_records(rows[:-40]), options=LinkOptions(workers=1))
    assert 0 < len(linker.review) <= PAIRS_PER_RUN
    assert linker.stats["review_pairs"] == len(linker.review)
    people = dict(zip(linker.table.record_id.tolist(), linker.person_ids().tolist(), strict=True))
    threshold = linker.model.threshold_weight
    for pair in linker.review:
        assert people[pair.record_a] != people[pair.record_b]
        assert pair.weight >= threshold - MARGIN_BITS - 1e-3
        assert (pair.kind == "held-apart") == (pair.weight >= threshold - 1e-3)
    assert {p.kind for p in linker.review} <= {"held-apart", "just-under"}
    linker.add(prepare_columns(rows[-40:]))
    people = dict(zip(linker.table.record_id.tolist(), linker.person_ids().tolist(), strict=True))
    assert len(linker.review) <= PAIRS_PER_RUN
    assert all(people[p.record_a] != people[p.record_b] for p in linker.review)


def prepare_columns(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    names = sorted({k for r in rows for k in r})
    return {k: [r.get(k) for r in rows] for k in names}


# ------------------------------------------------------------------------------- the store
@pytest.fixture()
def queue() -> Iterator[ReviewQueue]:
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name="eu-west-2", aws_access_key_id="t", aws_secret_access_key="t")
        ddb.create_table(TableName="control", BillingMode="PAY_PER_REQUEST",
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                               {"AttributeName": "sk", "AttributeType": "S"}],
                         KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                    {"AttributeName": "sk", "KeyType": "RANGE"}])
        yield ReviewQueue("control", ddb)


NOW = dt.datetime(2026, 12, 4, 9, 0, tzinfo=dt.UTC)


def test_a_pair_found_again_is_the_same_item_refreshed_not_a_new_one(queue: ReviewQueue) -> None:
    pair = ReviewPair("b:2", "a:1", "just-under", 3.1, 0.9, ())
    assert queue.add_pairs([pair], NOW) == 1
    assert queue.add_pairs([ReviewPair("a:1", "b:2", "held-apart", 6.0, 0.98, ("twins",))], NOW + dt.timedelta(1)) == 1
    items = queue.items()
    assert len(items) == 1
    item = items[0]
    assert (item.record_a, item.record_b) == ("a:1", "b:2") and item.item_id == item_id("linkage", "a:1", "b:2")
    assert item.kind == "held-apart" and item.guards == ["twins"] and item.weight == 6.0
    assert item.created_at == NOW.isoformat() and item.updated_at == (NOW + dt.timedelta(1)).isoformat()
    raw = queue.client.get_item(TableName="control", Key=queue._key(item.item_id))["Item"]
    assert int(raw["expires_at"]["N"]) > int((NOW + dt.timedelta(days=29)).timestamp())  # open items expire
    assert len(repr(raw).encode()) < 4000  # a pair, a score, a reason: far from DynamoDB's 400 KB


def test_an_item_is_decided_once_and_a_later_run_does_not_reopen_it(queue: ReviewQueue) -> None:
    queue.add_pairs([ReviewPair("a:1", "b:2", "just-under", 3.1, 0.9)], NOW)
    ident = queue.items()[0].item_id
    decided = queue.claim(ident, "leave", STEWARD, NOW)
    assert decided.status == "decided" and decided.decision == "leave" and decided.decided_by == STEWARD.email
    with pytest.raises(AlreadyDecided) as second:
        queue.claim(ident, "same", OTHER_STEWARD, NOW)
    assert second.value.status == 409
    assert "already decided (left as the linkage has it) by steward@example.test" in str(second.value)
    assert queue.add_pairs([ReviewPair("a:1", "b:2", "just-under", 3.3, 0.91)], NOW) == 0
    assert queue.items() == [] and queue.items("decided")[0].decision == "leave"
    with pytest.raises(ItemNotFound):
        queue.claim("L-00000000000000000000", "same", STEWARD, NOW)


def test_reports_of_one_pair_gather_in_its_open_item_and_after_a_decision_open_a_new_one(queue: ReviewQueue) -> None:
    first = queue.report("p:9", "a:1", "not the same man: different mother", PRACTITIONER, NOW)
    again = queue.report("a:1", "p:9", "wrong date of birth", PRACTITIONER, NOW + dt.timedelta(hours=1))
    assert again.item_id == first.item_id and again.reports == 2 and again.reason == "wrong date of birth"
    assert again.kind == "reported" and again.reported_by_organisation == "wm-police"
    queue.claim(first.item_id, "different", STEWARD, NOW)
    later = queue.report("a:1", "p:9", "still shown together", PRACTITIONER, NOW + dt.timedelta(days=2))
    assert later.item_id != first.item_id and later.status == "open" and later.reports == 1
    assert [i.item_id for i in queue.items()] == [later.item_id]


def test_reports_are_listed_before_the_linkages_pairs_and_those_closest_first(queue: ReviewQueue) -> None:
    queue.add_pairs([ReviewPair("a:1", "b:1", "just-under", 3.0, 0.89), ReviewPair("a:2", "b:2", "held-apart", 9.0,
                                                                                     0.99)], NOW)
    reported = queue.report("c:1", "d:1", "two different people", PRACTITIONER, NOW)
    assert [i.record_a for i in queue.items()] == [reported.record_a, "a:2", "a:1"]


def test_a_claim_given_back_opens_the_item_again(queue: ReviewQueue) -> None:
    item = queue.report("c:1", "d:1", "two different people", PRACTITIONER, NOW)
    queue.claim(item.item_id, "same", STEWARD, NOW)
    queue.release(item.item_id)
    reopened = queue.get(item.item_id)
    assert reopened is not None and reopened.status == "open" and reopened.decision is None
    assert isinstance(AlreadyDecided("x"), Refused)


# ------------------------------------------------------------------------------- the audit in words
def test_the_queue_and_its_decisions_read_in_words_on_the_audit_page() -> None:
    import json

    from mast.audit.words import ACTION_NAMES, in_words

    listed = in_words(STEWARD.audit_event(action="review-queue-list", record_ids=("a:1", "b:2"), records_returned=2,
                                          detail=json.dumps({"items": 1, "more": 0})), {}, {})
    assert listed.action_name == "Looked at the stewards' review queue" and listed.saw == "1 item listed, 2 records shown"
    decided = in_words(STEWARD.audit_event(action="link-decision", record_ids=("a:1", "b:2"), detail=json.dumps(
        {"decision": "leave", "reason": "his father", "review_item": "L-" + "0" * 20})), {}, {})
    assert decided.concerned == "records a:1, b:2"
    assert decided.saw == f"decided: left as the linkage has it (review queue item L-{'0' * 20}); reason given: his father"
    reported = in_words(PRACTITIONER.audit_event(action="wrong-match-report", record_ids=("a:1", "b:2"),
                                                 detail=json.dumps({"reason": "a cousin"})), {}, {})
    assert reported.action_name == ACTION_NAMES["wrong-match-report"] == "Reported a wrong match"
    assert reported.concerned == "records a:1, b:2" and reported.saw == "reason given: a cousin"
