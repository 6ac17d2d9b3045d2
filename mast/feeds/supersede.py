"""Pure helpers for what the ingest handler decides across uploads.

The handler holds the state (what earlier uploads stored); these functions hold the rules, so
they can be tested without S3 and used the same way by a retry:

- :func:`content_hash`: the same file uploaded twice changes nothing. The hash is of the bytes as
  uploaded, so a re-saved file with identical rows is a new upload (its rows then dedupe by
  record id).
- :func:`ended_record_ids`: a snapshot supersedes the previous one; a record that was open and is
  missing from today's snapshot gets an end date (its history is kept).
- :func:`apply_withdrawals`: a delta row withdraws an earlier row by case ref.
- :func:`changed_versions` and :func:`next_state`: ingest keeps the feed's *state*, not its
  history. An upload's versions are compared with the feed's current state: only the new,
  changed, ended and withdrawn ones go on to linking, and the state after the upload is the state
  before with this upload's versions in place of the ones they replace.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # pyarrow only where tables are handled
    import numpy as np
    import pyarrow as pa

#: Columns that do not make a version a change: the upload that delivered it (a snapshot delivers
#: every open record again every day).
NOT_A_CHANGE: Final = frozenset({"record_id", "ingest_id"})


def content_hash(data: bytes) -> str:
    """SHA-256 of the upload's bytes, hex: the identity of a file for 'uploaded twice'."""
    return hashlib.sha256(data).hexdigest()


def ended_record_ids(previous_open: Iterable[str], current: Iterable[str]) -> list[str]:
    """Record ids open after the previous snapshot and absent from the current one, sorted.

    Sorted so a retried ingest writes the same end-date rows in the same order.
    """
    now = set(current)
    return sorted({r for r in previous_open if r not in now})


def ended_record_ids_arrow(previous_open: pa.Array, current: pa.Array) -> pa.Array:
    """:func:`ended_record_ids` for large snapshots, a column at a time (sorted, unique)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    previous_open = pa.array(previous_open, pa.string())
    gone = pc.unique(pc.filter(previous_open, pc.invert(pc.is_in(previous_open, value_set=current))))
    return pc.take(gone, pc.array_sort_indices(gone))


def apply_withdrawals(records: pa.Table, withdrawn_ids: Iterable[str]) -> pa.Table:
    """``records`` (in the curated schema) with ``withdrawn`` set for the given record ids."""
    import pyarrow as pa
    import pyarrow.compute as pc

    ids = pa.array(sorted(set(withdrawn_ids)), pa.string())
    if len(ids) == 0 or records.num_rows == 0:
        return records
    hit = pc.is_in(records.column("record_id"), value_set=ids)
    flag = pc.or_(pc.fill_null(records.column("withdrawn"), False), hit)
    return records.set_column(records.schema.get_field_index("withdrawn"), "withdrawn", flag)


def changed_versions(versions: pa.Table, previous: pa.Table) -> np.ndarray:
    """A mask of the ``versions`` that change the feed: a record ``previous`` (the feed's current
    state) does not hold, or whose details differ from its current version in any column but
    :data:`NOT_A_CHANGE`. Compared a column at a time over the records both hold, so a snapshot of a
    million rows costs a hash lookup of its ids and one pass per column, never a row in Python."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    from mast.feeds import columns as col

    at = pc.index_in(versions.column("record_id"), value_set=col.combine(previous.column("record_id")))
    held = col.mask(pc.is_valid(at))
    changed = ~held
    if not held.any():
        return changed
    mine = pa.array(np.flatnonzero(held))
    theirs = pc.filter(at, pa.array(held))
    differs = np.zeros(len(mine), dtype=bool)
    for name in versions.column_names:
        if name in NOT_A_CHANGE or name not in previous.column_names:
            continue
        differs |= ~col.same_values(pc.take(versions.column(name), mine), pc.take(previous.column(name), theirs))
    changed[held] = differs
    return changed


def next_state(previous: pa.Table, versions: pa.Table) -> pa.Table:
    """The feed's current state after an upload: ``previous`` with each record ``versions`` holds
    replaced by its new version (one version per record id in ``versions``)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if previous.num_rows == 0:
        return versions
    kept = previous.filter(pc.invert(pc.is_in(previous.column("record_id"), value_set=versions.column("record_id"))))
    return pa.concat_tables([kept.select(versions.column_names).cast(versions.schema), versions])
