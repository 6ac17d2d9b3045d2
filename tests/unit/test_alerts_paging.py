"""``GET /alerts`` a page at a time and the unseen count read from unseen alerts only (issue 17).

Before, listing read the organisation's whole partition (every alert of 90 days) on each visit and
the navigation's count filtered that whole partition too. Now a page reads about a page, the count
reads the unseen markers only, and retries of a write or of "seen" cannot make it drift.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mast.alerts import Alert, AlertStore
from mast.schema import Refused
from tests.unit.test_alerts import CHILD_CASE, NOW, POLICE, ddb, link  # noqa: F401 - the fixture


class Reads:
    """The DynamoDB client, noting how many items each query read (ScannedCount)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.exceptions = client.exceptions
        self.scanned: list[int] = []

    def query(self, **kwargs: Any) -> Any:
        reply = self.client.query(**kwargs)
        self.scanned.append(int(reply.get("ScannedCount", 0)))
        return reply

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


def _alerts(n: int) -> list[Alert]:
    rows = [CHILD_CASE] + [{**POLICE, "record_id": f"wm-police:P-{i}", "record_date": dt.date(2026, 11, 1 + i)}
                           for i in range(n)]
    return link(rows, ["p1"] * len(rows), ["a1"] * len(rows), [r["record_id"] for r in rows[1:]])


def test_alerts_come_a_page_at_a_time_newest_first_with_a_next_token(ddb: Any) -> None:  # noqa: F811
    store = AlertStore("control", ddb)
    made = _alerts(5)
    assert len(store.add(made)) == 5
    newest_first = [a.alert_id for a in sorted(made, key=lambda a: a.record_date, reverse=True)]
    pages: list[list[str]] = []
    after = None
    while True:
        page, after = store.page("walsall-council", NOW, limit=2, after=after)
        pages.append([a.alert_id for a in page])
        if after is None:
            break
    assert pages == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    assert store.page("wm-police", NOW, limit=2) == ([], None)
    exactly = store.page("walsall-council", NOW, limit=5)
    assert len(exactly[0]) == 5 and exactly[1] is None  # no empty last page offered
    with pytest.raises(Refused) as refused:
        store.page("walsall-council", NOW, after="ALERTS#other-org")
    assert refused.value.status == 400


def test_a_page_reads_about_a_page_and_the_count_reads_only_the_unseen(ddb: Any) -> None:  # noqa: F811
    reads = Reads(ddb)
    store = AlertStore("control", reads)
    made = store.add(_alerts(30))
    for alert in made[:27]:
        assert store.mark_seen("walsall-council", alert.alert_id, "sam@walsall.example", NOW)
    reads.scanned.clear()
    assert store.unseen("walsall-council", NOW) == 3
    assert sum(reads.scanned) == 3  # the 27 seen alerts were not read to count the 3
    reads.scanned.clear()
    page, following = store.page("walsall-council", NOW, limit=10)
    assert len(page) == 10 and following == page[-1].alert_id
    assert sum(reads.scanned) <= 11


def test_retries_of_writing_and_of_seen_leave_the_count_right_and_expiry_takes_it(ddb: Any) -> None:  # noqa: F811
    store = AlertStore("control", ddb)
    made = _alerts(3)
    store.add(made)
    assert store.add(made) == [] and store.unseen("walsall-council", NOW) == 3  # a retried run
    assert store.mark_seen("walsall-council", made[0].alert_id, "sam@walsall.example", NOW)
    assert store.mark_seen("walsall-council", made[0].alert_id, "kim@walsall.example", NOW)  # twice
    assert store.unseen("walsall-council", NOW) == 2
    assert not store.mark_seen("walsall-council", "20261101-" + "0" * 20, "sam@walsall.example", NOW)
    assert store.unseen("walsall-council", NOW) == 2
    listed, unseen = store.list("walsall-council", NOW)
    assert unseen == 2 and sum(a.seen_at is None for a in listed) == 2
    assert store.unseen("walsall-council", NOW + dt.timedelta(days=91)) == 0  # expired with its alert


class FailsOnce:
    """The DynamoDB client, failing the first write of one kind of item (a run that dies there)."""

    def __init__(self, client: Any, operation: str, prefix: str) -> None:
        self.client, self.exceptions, self.operation, self.prefix = client, client.exceptions, operation, prefix
        self.failed = False

    def __getattr__(self, name: str) -> Any:
        call = getattr(self.client, name)
        if name != self.operation:
            return call

        def failing(**kwargs: Any) -> Any:
            key = kwargs.get("Item") or kwargs.get("Key") or {}
            if not self.failed and key.get("pk", {}).get("S", "").startswith(self.prefix):
                self.failed = True
                raise RuntimeError("the run died here")
            return call(**kwargs)

        return failing


def test_a_run_or_a_seen_that_dies_half_way_is_mended_by_its_retry(ddb: Any) -> None:  # noqa: F811
    made = _alerts(2)
    dies = AlertStore("control", FailsOnce(ddb, "put_item", "ALERTS#"))  # after the marker, before the alert
    with pytest.raises(RuntimeError):
        dies.add(made, threads=1)
    store = AlertStore("control", ddb)
    store.add(made)  # the retry writes what the first try did not
    assert len(store.page("walsall-council", NOW)[0]) == 2
    assert store.unseen("walsall-council", NOW) == 2  # not 3: the first try's marker was the retry's
    dies = AlertStore("control", FailsOnce(ddb, "update_item", "ALERTS#"))  # after the marker went
    with pytest.raises(RuntimeError):
        dies.mark_seen("walsall-council", made[0].alert_id, "sam@walsall.example", NOW)
    page, _ = store.page("walsall-council", NOW)
    assert all(a.seen_at is None for a in page)  # still shown as new, with its button
    assert store.mark_seen("walsall-council", made[0].alert_id, "sam@walsall.example", NOW)  # clicked again
    assert store.unseen("walsall-council", NOW) == 1
