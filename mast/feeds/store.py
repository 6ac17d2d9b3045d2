"""The curated records: a dated log of record versions, and each feed's current state, in Parquet.

Layout (the template's Glue table ``records`` reads it with partition projection, so nothing
registers partitions at run time)::

    s3://<curated>/records/partner=<p>/feed=<f>/ingest_date=<YYYY-MM-DD>/<ingest_id>.parquet

One file per ingest, named by its ingest id, so a crashed ingest that is retried overwrites its
own file instead of adding a second one. Each file holds *versions* of records in
:data:`~mast.feeds.parse.RECORD_SCHEMA`: the rows the upload accepted, plus the versions the upload
implies for earlier rows (``end_date`` set when a snapshot no longer holds a record; ``withdrawn``
set when a delta row withdraws one). Nothing is ever rewritten, so history is kept and an auditor can
see what MAST held on any day.

The **current** version of a record is the one with the greatest ``ingest_id``: ingest ids begin
with the UTC time the upload was first claimed (:func:`new_ingest_id`), so they sort in time order.
Nobody reads the log to find it, though (a year of daily snapshots is hundreds of times the live
rows): each ingest also writes the feed's **state**, the current version of each of its records,
as one object, compacted (the state before it with this upload's versions in place)::

    s3://<curated>/state/partner=<p>/feed=<f>/<ingest_id>.parquet

The newest is the feed's state; the one before it is kept (a retried ingest starts again from
it), older ones are deleted. The **changes** an ingest made to the state (new, changed, ended and
withdrawn records: :func:`mast.feeds.supersede.changed_versions`) are written apart, for the match
function, which links only those::

    s3://<curated>/changes/partner=<p>/feed=<f>/ingest_date=<YYYY-MM-DD>/<ingest_id>.parquet

The match function and the next ingest read the current versions through
:func:`read_current_records`: one object per feed. (A feed ingested only before states were kept
is read once from its log, the old way, until its next ingest writes its state.) Searchable means
current, not withdrawn, and not ended more than the search window ago (search decides the window).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any, Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mast.feeds.parse import RECORD_SCHEMA

RECORDS_PREFIX: Final = "records/"
STATE_PREFIX: Final = "state/"
CHANGES_PREFIX: Final = "changes/"
_FILE = re.compile(r"records/partner=(?P<partner>[^/]+)/feed=(?P<feed>[^/]+)/ingest_date=(?P<date>[^/]+)/(?P<ingest_id>[^/]+)\.parquet$")
_STATE = re.compile(r"state/partner=(?P<partner>[^/]+)/feed=(?P<feed>[^/]+)/(?P<ingest_id>[^/]+)\.parquet$")


def new_ingest_id(claimed_at: dt.datetime, content_sha256: str) -> str:
    """``20261125T101500123456Z-<12 hex of the content hash>``: time-ordered, and names the bytes."""
    return f"{claimed_at.astimezone(dt.UTC):%Y%m%dT%H%M%S%fZ}-{content_sha256[:12]}"


#: the session :func:`_aws` gives, and the AWS_* environment it was made in
_SESSION: tuple[tuple[tuple[str, str], ...], Any] | None = None


def _aws() -> Any:
    """The boto3 session awswrangler's calls use: one per process while the AWS_* environment
    (credentials, region, endpoint) stays the same, made afresh when it changes (the tests').

    Given none, awswrangler makes a new boto3 session for every call, and each parses botocore's
    JSON service models again (about 0.3 s a client): a match run reading twenty feeds' states spent
    seconds on it, and the test suite minutes."""
    global _SESSION
    import os

    import boto3

    environment = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))
    if _SESSION is None or _SESSION[0] != environment:
        _SESSION = (environment, boto3.session.Session())
    return _SESSION[1]


def records_key(partner: str, feed: str, ingest_date: dt.date, ingest_id: str) -> str:
    """The object key of one ingest's record versions."""
    return f"{RECORDS_PREFIX}partner={partner}/feed={feed}/ingest_date={ingest_date.isoformat()}/{ingest_id}.parquet"


def state_key(partner: str, feed: str, ingest_id: str) -> str:
    """The object key of a feed's state after one ingest."""
    return f"{STATE_PREFIX}partner={partner}/feed={feed}/{ingest_id}.parquet"


def changes_key(partner: str, feed: str, ingest_date: dt.date, ingest_id: str) -> str:
    """The object key of the versions one ingest changed (what the match function links)."""
    return f"{CHANGES_PREFIX}partner={partner}/feed={feed}/ingest_date={ingest_date.isoformat()}/{ingest_id}.parquet"


def write_versions(bucket: str, key: str, versions: pa.Table) -> str:
    """Write one ingest's versions with awswrangler (overwrites the same key on a retry); returns the URI."""
    import awswrangler as wr
    import pandas as pd

    uri = f"s3://{bucket}/{key}"
    frame = versions.select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA).to_pandas(types_mapper=pd.ArrowDtype)
    wr.s3.to_parquet(frame, path=uri, index=False, compression="snappy", boto3_session=_aws())
    return uri


def read_ingest_records(s3_uri: str) -> pa.Table:
    """The versions one ingest wrote, in :data:`RECORD_SCHEMA`."""
    return _read([s3_uri])


def list_version_files(bucket: str, feeds: Iterable[str] | None = None) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """``(partner, feed) -> [(ingest_id, uri), …]`` sorted by ingest id, for the feeds asked (all if ``None``)."""
    import awswrangler as wr

    wanted = None if feeds is None else set(feeds)
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for uri in wr.s3.list_objects(f"s3://{bucket}/{RECORDS_PREFIX}", suffix=".parquet", boto3_session=_aws()):
        match = _FILE.search(uri)
        if match is None or (wanted is not None and match["feed"] not in wanted):
            continue
        found.setdefault((match["partner"], match["feed"]), []).append((match["ingest_id"], uri))
    return {k: sorted(v) for k, v in sorted(found.items())}


def list_state_files(bucket: str, feeds: Iterable[str] | None = None) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """``(partner, feed) -> [(ingest_id, uri), …]`` of the feeds' state objects, sorted by ingest id."""
    import awswrangler as wr

    wanted = None if feeds is None else set(feeds)
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for uri in wr.s3.list_objects(f"s3://{bucket}/{STATE_PREFIX}", suffix=".parquet", boto3_session=_aws()):
        match = _STATE.search(uri)
        if match is None or (wanted is not None and match["feed"] not in wanted):
            continue
        found.setdefault((match["partner"], match["feed"]), []).append((match["ingest_id"], uri))
    return {k: sorted(v) for k, v in sorted(found.items())}


def retire_states(bucket: str, partner: str, feed: str, newest: str) -> int:
    """Delete the feed's state objects older than the one ingest ``newest`` started from (kept, so
    that a retry of ``newest`` starts from the same place); how many were deleted."""
    import awswrangler as wr

    files = list_state_files(bucket, [feed]).get((partner, feed), [])
    old = [uri for ingest_id, uri in files if ingest_id < newest][:-1]
    if old:
        wr.s3.delete_objects(old, boto3_session=_aws())
    return len(old)


def read_current_records(
    bucket: str, feeds: Iterable[str] | None = None, *, before_ingest: str | None = None
) -> pa.Table:
    """The current version of every record of ``feeds`` (all feeds if ``None``), with ``partner``
    and ``feed`` columns appended. Withdrawn and ended records are included: the caller filters.

    Each feed's is its newest state object: one read per feed, however many ingests it has had. A
    feed with no state yet (ingested only before states were kept) is folded from its log.

    ``before_ingest``: only what earlier ingests wrote (an ingest retried after a crash must not
    read its own half-written output as its starting state).
    """
    states = list_state_files(bucket, feeds)
    logs = list_version_files(bucket, feeds)
    parts = []
    for partner, feed in sorted(states.keys() | logs.keys()):
        earlier = [uri for ingest_id, uri in states.get((partner, feed), [])
                   if before_ingest is None or ingest_id < before_ingest]  # fmt: skip
        if earlier:
            table = _read(earlier[-1:])
        else:
            uris = [uri for ingest_id, uri in logs.get((partner, feed), [])
                    if before_ingest is None or ingest_id < before_ingest]  # fmt: skip
            if not uris:
                continue
            table = current_versions(_read(uris))
        table = table.append_column("partner", pa.array([partner] * table.num_rows, pa.string()))
        parts.append(table.append_column("feed", pa.array([feed] * table.num_rows, pa.string())))
    if not parts:
        empty = RECORD_SCHEMA.empty_table()
        return empty.append_column("partner", pa.array([], pa.string())).append_column("feed", pa.array([], pa.string()))
    return pa.concat_tables(parts)


def current_versions(versions: pa.Table) -> pa.Table:
    """One row per ``record_id``: the version with the greatest ``ingest_id`` (ties: the later row)."""
    if versions.num_rows == 0:
        return versions
    n = versions.num_rows
    order = pc.sort_indices(
        versions.append_column("_row", pa.array(np.arange(n))),
        sort_keys=[("record_id", "ascending"), ("ingest_id", "descending"), ("_row", "descending")],
    )
    ids = pc.take(versions.column("record_id"), order)
    first = np.ones(n, dtype=bool)
    if n > 1:
        first[1:] = ~pc.equal(ids.slice(1), ids.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    return versions.take(pc.filter(order, pa.array(first)))


def _read(uris: list[str]) -> pa.Table:
    import awswrangler as wr

    frame = wr.s3.read_parquet(path=uris, dtype_backend="pyarrow", columns=RECORD_SCHEMA.names, boto3_session=_aws())
    return pa.Table.from_pandas(frame, preserve_index=False).select(RECORD_SCHEMA.names).cast(RECORD_SCHEMA)
