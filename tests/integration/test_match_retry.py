"""An incremental index update that dies part way is completed exactly by the retry.

The same incremental link is run cleanly once, for the index it should leave; then, from the same
starting point, it is run with DynamoDB failing after a share of its batch writes (as when the
function is stopped at its timeout or the network fails), and run again: the index must then be
exactly the clean run's. The update is a police delta correcting every person's address (each
row's address and postcode moved to the next row), so records change lookup keys: their record
items and memberships both change, which is where a retry can lose track.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from mast.feeds.events import FeedIngested, UploadCompletedEvent
from mast.feeds.ingest import ingest_upload
from mast.index.linking import run_match
from tests.integration.test_match import DAYS, PARTNERSHIP, all_index_items, aws, ingest_day  # noqa: F401

NOW = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


class _Failing:
    """A DynamoDB client whose BatchWriteItem calls fail from the ``after``-th on (``None``: never)."""

    def __init__(self, client: Any, after: int | None) -> None:
        self._client, self.after, self.calls = client, after, 0

    def batch_write_item(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.after is not None and self.calls > self.after:
            raise EndpointConnectionError(endpoint_url="https://dynamodb")
        return self._client.batch_write_item(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class _Session:
    def __init__(self, session: Any, after: int | None) -> None:
        self._session = session
        self.ddb = _Failing(session.client("dynamodb"), after)

    def client(self, name: str, **kwargs: Any) -> Any:
        return self.ddb if name == "dynamodb" else self._session.client(name, **kwargs)


def _moved_addresses(aws: dict[str, Any]) -> list[FeedIngested]:  # noqa: F811
    """Day 1's police extract sent again as a correction: every row's address is the next row's."""
    extract = DAYS[0].files["wm-police"]
    rows = list(csv.reader(io.StringIO(extract.data.decode("utf-8-sig"), newline="")))
    header = rows[0]
    body = [row for row in rows[1:] if len(row) == len(header)]  # the generator tiles ragged rows in too
    for column in (header.index("Address"), header.index("Postcode")):
        values = [row[column] for row in body]
        for row, value in zip(body, values[1:] + values[:1], strict=True):
            row[column] = value
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *body])
    data = out.getvalue().encode("utf-8")
    key = f"{PARTNERSHIP.feed('wm-police').landing_prefix}wm-police-corrections.csv"
    aws["s3"].put_object(Bucket="t-landing", Key=key, Body=data)
    event = UploadCompletedEvent.model_validate({"server-id": "s", "username": "wm-police",
                                                 "file-path": f"/t-landing/{key}", "bytes": len(data)})
    outcome = ingest_upload(event, aws["ingest"], session=aws["session"])
    assert outcome.announced is not None
    return [outcome.announced]


def _index(aws: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:  # noqa: F811
    return {(i["pk"]["S"], i["sk"]["S"]): i for i in all_index_items(aws)}


def _restore(aws: dict[str, Any], items: dict[tuple[str, str], dict[str, Any]],  # noqa: F811
             state: dict[str, bytes]) -> None:
    """Put the index table and the saved link state back as they were."""
    requests = [{"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for pk, sk in _index(aws)]
    requests += [{"PutRequest": {"Item": item}} for item in items.values()]
    for i in range(0, len(requests), 25):
        aws["ddb"].batch_write_item(RequestItems={"t-index": requests[i : i + 25]})
    for key, body in state.items():
        aws["s3"].put_object(Bucket="t-curated", Key=key, Body=body)


def _state(aws: dict[str, Any]) -> dict[str, bytes]:  # noqa: F811
    listed = aws["s3"].list_objects_v2(Bucket="t-curated", Prefix="index/state/").get("Contents", [])
    return {o["Key"]: aws["s3"].get_object(Bucket="t-curated", Key=o["Key"])["Body"].read() for o in listed}


def test_a_retry_completes_a_half_written_incremental_update_exactly(aws: dict[str, Any]) -> None:  # noqa: F811
    run_match(ingest_day(aws, 0), aws["match"], session=aws["session"], now=NOW)
    day2 = _moved_addresses(aws)
    before, saved = _index(aws), _state(aws)

    clean = _Session(aws["session"], None)
    outcome = run_match(day2, aws["match"], session=clean, now=NOW)
    assert outcome.mode == "incremental" and outcome.items_put and outcome.items_deleted
    expected = _index(aws)
    assert expected != before

    for share in (0.5,):
        _restore(aws, before, saved)
        failing = _Session(aws["session"], max(1, int(clean.ddb.calls * share)))
        with pytest.raises(EndpointConnectionError):
            run_match(day2, aws["match"], session=failing, now=NOW)
        assert _index(aws) != expected  # half written
        run_match(day2, aws["match"], session=aws["session"], now=NOW)  # the queue's retry
        after = _index(aws)
        assert set(after) == set(expected), (share, len(set(after) ^ set(expected)))
        assert after == expected, share


def _counts_agree_with_the_records(aws: dict[str, Any]) -> int:  # noqa: F811
    """Every key item's ids and counts against the record items of the live version (who holds
    each key, in which birth year); returns how many records the year items leave out."""
    from mast.index import layout

    items = _index(aws)
    live = items[(layout.POINTER_PK, layout.LIVE_SK)]["version"]["S"]
    members: dict[str, dict[str, str]] = {}
    for (pk, sk), item in items.items():
        if pk.startswith(layout.record_pk(live, "")) and sk == layout.RECORD_SK:
            for key in layout.record_keys_of(item):
                members.setdefault(layout.key_pk(live, key), {})[layout.record_id_of(item)] = item["year"]["S"]
    left_out = 0
    for (pk, sk), item in items.items():
        if not pk.startswith(layout.key_pk(live, "")) or sk != layout.KEY_SK:
            continue
        held = members.pop(pk, {})
        if "years" not in item:
            assert set(layout.ids_of(item)) == set(held) and layout.count_of(item) == len(held), pk
            continue
        per_year: dict[str, set[str]] = {}
        for rid, year in held.items():
            per_year.setdefault(year, set()).add(rid)
        assert layout.count_of(item) == len(held) and layout.years_of(item) == {y: len(r) for y, r in per_year.items()}
        for year, rids in per_year.items():
            part = items[(pk, layout.year_sk(year))]
            assert layout.count_of(part) == len(rids), (pk, year)
            assert set(layout.ids_of(part)) <= rids and len(layout.ids_of(part)) == min(len(rids), layout.KEY_BLOCK)
            left_out += len(rids) - len(layout.ids_of(part))
    assert not members  # every key a record holds has its item
    return left_out


def test_a_retry_past_the_cap_counts_a_record_left_out_once(aws: dict[str, Any],  # noqa: F811
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A key item holds a block of ids and only counts the rest; a person's and an address's item
    likewise past MAX_ID_BYTES. Small caps here (a block of 2 ids, a few ids' bytes), so that the
    day's moved addresses go in and out of full year items and capped address items: a run that dies
    part way and its retry must leave exactly the clean run's counts (before, the retry moved the
    count of a record left out a second time), and those counts must be the records'."""
    from mast.index import layout

    monkeypatch.setattr(layout, "KEY_BLOCK", 2)
    monkeypatch.setattr(layout, "MAX_ID_BYTES", 120)
    run_match(ingest_day(aws, 0), aws["match"], session=aws["session"], now=NOW)
    assert _counts_agree_with_the_records(aws) > 0  # some year items are full and count the rest
    day2 = _moved_addresses(aws)
    before, saved = _index(aws), _state(aws)

    clean = _Session(aws["session"], None)
    run_match(day2, aws["match"], session=clean, now=NOW)
    expected = _index(aws)
    assert _counts_agree_with_the_records(aws) > 0
    capped = [item for (pk, sk), item in expected.items() if sk in (layout.PERSON_SK, layout.ADDRESS_SK)
              and layout.count_of(item) > len(layout.ids_of(item))]
    assert capped  # some person or address items leave records out too

    for share in (0.3, 0.7):
        _restore(aws, before, saved)
        failing = _Session(aws["session"], max(1, int(clean.ddb.calls * share)))
        with pytest.raises(EndpointConnectionError):
            run_match(day2, aws["match"], session=failing, now=NOW)
        run_match(day2, aws["match"], session=aws["session"], now=NOW)  # the queue's retry
        after = _index(aws)
        differ = sorted(k for k in set(after) | set(expected) if after.get(k) != expected.get(k))
        assert not differ, (share, differ[:5])
        _counts_agree_with_the_records(aws)
