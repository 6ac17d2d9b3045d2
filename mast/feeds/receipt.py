"""The receipt every upload gets, and the rejected-rows CSV beside it.

Both go to ``reports/`` in the partner's own folder, so they are written for a data lead: counts
that add up (``rows_read = accepted + rejected + filtered + duplicate + withdrawal``), each
rejection with the row a spreadsheet shows and the line a text editor shows, and a reason to act
on. The receipt JSON holds no personal data (case references, column names, counts, reasons);
the rejected CSV holds the partner's own rejected rows, restricted to the columns the feed
definition names (a column MAST drops is never echoed back, nor kept).

Pure functions returning bytes: the ingest handler only moves them.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:  # the receipt model itself needs no pyarrow
    import pyarrow as pa

#: The receipt lists at most this many rejections and duplicates; the CSV always has them all.
RECEIPT_LIST_LIMIT: Final = 1000
#: A rejected row's cells are echoed in the rejected-rows CSV cut to this many characters (with a
#: note of their length): a 50 MB cell is named, not sent back.
REJECTED_CELL_LIMIT: Final = 1000

Status = Literal["accepted", "accepted_with_rejections", "quarantined", "already_ingested"]


class Rejection(BaseModel):
    """One problem with one row. ``row``: the spreadsheet row (header = row 1); ``line``: the
    physical line the row starts on (they differ when earlier quoted cells hold line breaks)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    row: int
    line: int
    case_ref: str | None = None
    column: str
    reason: str


class Duplicate(BaseModel):
    """A row repeated within the file: stored once (from ``first_row``), reported here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    row: int
    line: int
    first_row: int
    case_ref: str


class FeedTotals(BaseModel):
    """The feed's state after this upload; the ingest handler fills it in (it holds the state)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    records: int = Field(description="records stored for the feed, searchable or not")
    searchable: int | None = Field(default=None, description="open and not withdrawn")
    ended: int | None = Field(default=None, description="ended by a later snapshot")
    withdrawn: int | None = None


class Receipt(BaseModel):
    """What happened to one upload, as ``reports/<file>.report.json``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    receipt_version: Literal[1] = 1
    file_name: str
    feed: str | None
    partner: str | None
    ingest_id: str
    ingest_date: dt.date
    content_sha256: str
    size_bytes: int
    status: Status
    quarantine: str | None = Field(default=None, description="why the whole file was refused")
    mode: Literal["snapshot", "delta"] | None = None
    encoding: str | None = None
    delimiter: str | None = None
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_filtered: int = Field(default=0, description="not relevant to MAST: counted, not stored")
    rows_duplicate: int = Field(default=0, description="repeats of an earlier row of this file")
    rows_withdrawal: int = Field(default=0, description="rows withdrawing an earlier row")
    blank_rows: int = Field(default=0, description="empty lines and rows: skipped, not counted as read")
    placeholder_dobs: int = Field(default=0, description="dates of birth like 01/01/1900, stored as unknown")
    withdrawn_case_refs: list[str] = Field(default_factory=list)
    dropped_columns: list[str] = Field(
        default_factory=list, description="columns outside the feed definition: not stored"
    )
    missing_optional_columns: list[str] = Field(default_factory=list)
    rejections: list[Rejection] = Field(default_factory=list)
    rejections_truncated: bool = False
    duplicates: list[Duplicate] = Field(default_factory=list)
    positions_exact: bool = Field(
        default=True, description="False if row and line numbers are approximate (see note)"
    )
    feed_totals: FeedTotals | None = None
    note: str | None = None


def receipt_json(receipt: Receipt) -> bytes:
    """The receipt as UTF-8 JSON, stable field order, for ``reports/<file>.report.json``."""
    return (receipt.model_dump_json(indent=2) + "\n").encode("utf-8")


#: The leading columns of the rejected-rows table; the feed's own columns follow.
REJECTED_LEAD: Final = ("row", "line", "case_ref", "column", "reason")


def rejected_csv(rejected: pa.Table) -> bytes:
    """``reports/<file>.rejected.csv`` from the rejected-rows table: row, line, column(s),
    reason(s) (``; ``-separated when a row has several), then the row as sent in the feed's own
    columns. UTF-8 with a byte-order mark so that Excel opens it correctly; CRLF line endings. It is
    opened in a spreadsheet, so a cell as sent starting with ``=``, ``+``, ``-``, ``@``, tab or CR is
    neutralised (:func:`mast.schema.spreadsheet_text`): a partner's ``=HYPERLINK(…)`` is shown, not run."""
    from mast.feeds.csvout import table_csv

    keep = [c for c in rejected.column_names if c != "case_ref"]
    return table_csv(rejected.select(keep), crlf=True, bom=True, for_spreadsheet=True)
