"""Parse one upload with its feed definition: accepted records, rejections, receipt.

:func:`parse_extract` is pure (bytes in, tables and bytes out; no AWS, no clock unless you let it
default the ingest date), so the ingest handler is left with moving bytes, and a crash and retry
gives the same result as one clean run. Order of work, each step a column at a time, on a batch of
rows at a time (steps 3 and 4 across batches; the result does not depend on where batches end):

1. read: refuse what is not a CSV (:mod:`mast.feeds.reading`) -> quarantine;
2. header: required columns present, else quarantine; columns outside the definition are dropped
   and named (never their contents);
3. rows: blank rows skipped and counted; withdrawal rows (delta feeds) set aside; rows the
   relevance rule leaves out counted as filtered and forgotten; the rest validated and normalised;
4. rows repeated within the file stored once and reported; the same case ref with different
   details is rejected (the first stays), because two versions of one record cannot both be true;
5. a file where nothing survives (every row rejected, or a snapshot with no rows, which would
   close every open case) is quarantined whole.

Counts always add up: ``rows_read = accepted + rejected + filtered + duplicate + withdrawal``.

**Memory.** The upload's bytes are read once into batches of about 8 MiB; each batch is validated
and normalised and then let go, keeping only its records-to-be (the output), its rejected rows, a
64-bit hash of each record id and a few numbers per row. Repeats are found from the hashes at the
end; a repeat rejected for other details has its cells read again from the bytes. A 1,000,000-row
police extract peaks at about 850 MB, its 254 MB of bytes and 264 MB of records included; pyarrow's
own read of it, 640 MB (``mast bench ingest``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mast.feeds import columns as col
from mast.feeds.dates import parse_dates
from mast.feeds.definition import (
    ColumnSpec,
    FeedDefinition,
    FeedDefinitionError,
    header_key,
    load_feed_definition,
)
from mast.feeds.reading import ExtractReader, Unreadable, sniff
from mast.feeds.receipt import (
    RECEIPT_LIST_LIMIT,
    REJECTED_LEAD,
    Duplicate,
    Receipt,
    Rejection,
    receipt_json,
    rejected_csv,
)
from mast.feeds.supersede import apply_withdrawals, content_hash
from mast.records import RECORD_COLUMNS, RECORD_PARTITIONS, Record

_ARROW_TYPES: Final = {"string": pa.string(), "date": pa.date32(), "boolean": pa.bool_()}
#: The curated Parquet schema, from :data:`mast.records.RECORD_COLUMNS`.
RECORD_SCHEMA: Final = pa.schema([(name, _ARROW_TYPES[t]) for name, t in RECORD_COLUMNS])
PARTITION_SCHEMA: Final = pa.schema([(name, _ARROW_TYPES[t]) for name, t in RECORD_PARTITIONS])

EARLIEST_DOB: Final = dt.date(1880, 1, 1)
EARLIEST_RECORD_DATE: Final = dt.date(1900, 1, 1)


@dataclass(frozen=True)
class ParsedExtract:
    """The outcome of one upload.

    ``records`` holds the accepted rows in :data:`RECORD_SCHEMA` (a row withdrawn by a later row
    of the same file is there with ``withdrawn = true``); ``source_rows`` gives each one's
    spreadsheet row. ``rejected`` is a table, one row per rejected row in file order: ``row``,
    ``line``, ``case_ref``, ``column`` and ``reason`` (``; ``-joined when several), then the row as
    sent in the feed's own columns. ``withdrawals`` are the record ids this file withdraws: the handler applies
    them to earlier uploads. ``partition`` is partner, feed and ingest date (``None`` when the
    feed is unknown).
    """

    receipt: Receipt
    records: pa.Table
    source_rows: np.ndarray
    withdrawals: tuple[str, ...]
    rejected: pa.Table
    partition: Mapping[str, str] | None

    @property
    def quarantined(self) -> bool:
        return self.receipt.quarantine is not None

    def records_with_partitions(self) -> pa.Table:
        """``records`` with the partition columns appended (for a partitioned dataset writer)."""
        table = self.records
        for name, _ in RECORD_PARTITIONS:
            value = (self.partition or {}).get(name)
            table = table.append_column(name, pa.array([value] * table.num_rows, pa.string()))
        return table

    def receipt_json(self) -> bytes:
        return receipt_json(self.receipt)

    def rejected_csv(self) -> bytes:
        return rejected_csv(self.rejected)


def empty_records() -> pa.Table:
    return RECORD_SCHEMA.empty_table()


def parse_upload(
    data: bytes,
    feed_id: str,
    *,
    ingest_id: str,
    file_name: str,
    ingest_date: dt.date | None = None,
) -> ParsedExtract:
    """Parse an upload for ``feed_id``, quarantining it if the feed has no usable definition."""
    try:
        definition = load_feed_definition(feed_id)
    except KeyError:
        return _quarantine(data, None, f"unknown feed {feed_id!r}: no feed definition",
                           ingest_id, file_name, ingest_date, feed=feed_id)  # fmt: skip
    except FeedDefinitionError:
        return _quarantine(
            data, None, f"the definition of feed {feed_id!r} is invalid (an operator must fix it)",
            ingest_id, file_name, ingest_date, feed=feed_id,
        )  # fmt: skip
    return parse_extract(data, definition, ingest_id=ingest_id, file_name=file_name,
                         ingest_date=ingest_date)  # fmt: skip


def parse_extract(
    data: bytes,
    definition: FeedDefinition,
    *,
    ingest_id: str,
    file_name: str,
    ingest_date: dt.date | None = None,
) -> ParsedExtract:
    """Parse and validate one extract with its definition (see the module docstring)."""
    ingest_date = ingest_date or dt.datetime.now(dt.UTC).date()
    header = _Header(definition)
    try:
        fmt = sniff(data)
    except Unreadable as exc:
        return _quarantine(data, definition, exc.reason, ingest_id, file_name, ingest_date)
    fmt_counts = {"encoding": fmt.encoding + (" (with BOM)" if fmt.bom else ""),
                  "delimiter": fmt.delimiter_name}  # fmt: skip
    try:
        reader = ExtractReader(data, fmt, select=header.select)
        return _Parser(data, definition, reader, header, ingest_id, file_name, ingest_date).run()
    except Unreadable as exc:
        return _quarantine(data, definition, exc.reason, ingest_id, file_name, ingest_date,
                           **(fmt_counts if header.problem else {}))  # fmt: skip


class _Header:
    """Matches the partner's header to the definition before the body is read, so a file without
    its required columns is refused at once and a dropped column is never materialised."""

    def __init__(self, definition: FeedDefinition) -> None:
        self.d = definition
        self.positions: dict[str, int] = {}
        self.dropped: list[str] = []
        self.problem: str | None = None

    def select(self, header: tuple[str, ...]) -> list[int]:
        keys = [header_key(h) for h in header]
        for c in self.d.columns:
            wanted = {header_key(h) for h in c.headers()}
            hits = [i for i, k in enumerate(keys) if k in wanted]
            if len(hits) > 1:
                self.problem = f"column {c.name!r} appears {len(hits)} times in the header"
                raise Unreadable(self.problem)
            if hits:
                self.positions[c.name] = hits[0]
        used = set(self.positions.values())
        self.dropped = list(dict.fromkeys(
            header[i].strip() or f"(unnamed column {i + 1})" for i in range(len(keys)) if i not in used
        ))  # fmt: skip
        missing = [c.name for c in self.d.required_columns if c.name not in self.positions]
        if missing:
            shown = ", ".join(repr(h) for h in header[:30])
            self.problem = (
                f"missing required column(s): {', '.join(repr(m) for m in missing)}."
                f" The first row must be the header; it reads: {shown}"
            )
            raise Unreadable(self.problem)
        return sorted(used)


def _quarantine(
    data: bytes,
    definition: FeedDefinition | None,
    reason: str,
    ingest_id: str,
    file_name: str,
    ingest_date: dt.date | None,
    *,
    feed: str | None = None,
    **counts: object,
) -> ParsedExtract:
    receipt = Receipt(
        file_name=file_name,
        feed=definition.id if definition else feed,
        partner=definition.partner if definition else None,
        ingest_id=ingest_id,
        ingest_date=ingest_date or dt.datetime.now(dt.UTC).date(),
        content_sha256=content_hash(data),
        size_bytes=len(data),
        status="quarantined",
        quarantine=reason,
        mode=definition.mode if definition else None,
        **counts,  # type: ignore[arg-type]  # the receipt's int counters by name; mypy sees dict[str, int]
    )
    return ParsedExtract(
        receipt=receipt,
        records=empty_records(),
        source_rows=np.empty(0, np.int64),
        withdrawals=(),
        rejected=_empty_rejected(()),
        partition=_partition(definition, receipt.ingest_date) if definition else None,
    )


def _empty_rejected(columns: tuple[str, ...]) -> pa.Table:
    types = {"row": pa.int64(), "line": pa.int64()}
    return pa.schema([(c, types.get(c, pa.string())) for c in (*REJECTED_LEAD, *columns)]).empty_table()


def _receipt_rejections(rejected: pa.Table) -> list[Rejection]:
    """One entry per problem for the first rows of the rejected table (the receipt is capped)."""
    head = rejected.slice(0, RECEIPT_LIST_LIMIT).select(list(REJECTED_LEAD)).to_pylist()
    out = []
    for r in head:
        for column, reason in zip((r["column"] or "").split("; "), (r["reason"] or "").split("; "),
                                  strict=False):  # fmt: skip
            out.append(Rejection(row=r["row"], line=r["line"], case_ref=r["case_ref"],
                                 column=column, reason=reason))  # fmt: skip
    return out


def _partition(definition: FeedDefinition, ingest_date: dt.date) -> dict[str, str]:
    return {"partner": definition.partner, "feed": definition.id, "ingest_date": ingest_date.isoformat()}


@dataclass
class _Pass:
    """What one pass over the batches keeps: counts, the rows that passed validation (already in
    the record schema: they are the output, less the repeats found at the end), the rejected rows
    with their cells as sent, and the case refs withdrawn. Nothing else outlives its batch."""

    live: int = 0
    blank: int = 0
    filtered: int = 0
    candidates: list[pa.RecordBatch] = dataclasses.field(default_factory=list)
    #: for each candidate: its index among the reader's rows, its record id hashed, and whether
    #: its date of birth was a placeholder (one array per batch)
    candidate_rows: list[np.ndarray] = dataclasses.field(default_factory=list)
    candidate_ids: list[np.ndarray] = dataclasses.field(default_factory=list)
    placeholder: list[np.ndarray] = dataclasses.field(default_factory=list)
    rejected_parts: list[pa.Table] = dataclasses.field(default_factory=list)
    withdrawn_refs: list[str] = dataclasses.field(default_factory=list)


#: The fields a record gets from its row; two rows with the same case ref are the same row when
#: every one of these is equal.
_FIELDS: Final = tuple(n for n, _ in RECORD_COLUMNS if n not in ("record_id", "ingest_id", "withdrawn"))


class _Parser:
    """One parse; a class only to share its inputs between small steps.

    The reader yields the body a batch of rows at a time; each batch is validated and normalised
    column by column (:meth:`_batch`) and only its records-to-be and its rejected rows are kept.
    What needs the whole file (rows repeated within it, withdrawals, the row numbers a stray quote
    can upset) is settled at the end (:meth:`_finish`) from that compact state."""

    def __init__(
        self,
        data: bytes,
        definition: FeedDefinition,
        reader: ExtractReader,
        header: _Header,
        ingest_id: str,
        file_name: str,
        ingest_date: dt.date,
    ) -> None:
        self.data = data
        self.d = definition
        self.reader = reader
        self.header = header
        self.ingest_id = ingest_id
        self.file_name = file_name
        self.ingest_date = ingest_date
        self.n = 0
        self.problems: list[tuple[np.ndarray, str, str]] = []
        # what every batch looks up, found once
        src_col = definition.column_for("source_record_id")
        assert src_col is not None  # every definition maps it (FeedDefinition checks)
        self.src_col = src_col
        self.withdrawal_values = (
            pa.array([v.casefold() for v in definition.withdrawal.values])
            if definition.withdrawal is not None else None
        )  # fmt: skip
        self.relevance_values = (
            pa.array([" ".join(v.split()).casefold() for v in definition.relevance.keep])
            if definition.relevance is not None else None
        )  # fmt: skip
        self.placeholder_values = pa.array(list(definition.placeholder_dates), pa.date32())

    # --- steps -------------------------------------------------------------------------------
    def run(self) -> ParsedExtract:
        while True:
            self.positions = self.header.positions
            self.dropped = self.header.dropped
            present = [c for c in self.d.columns if c.name in self.positions]
            self.present_columns = tuple(sorted((c.name for c in present), key=lambda c: self.positions[c]))
            done = _Pass()
            for first, batch, empty in self.reader.batches():
                self._batch(first, batch, empty, done)
            if not self.reader.settle():  # an odd file may need a second reading
                break
        return self._finish(done)

    def _batch(self, first: int, batch: pa.RecordBatch, empty: np.ndarray, done: _Pass) -> None:
        d = self.d
        n = self.n = batch.num_rows
        self.problems = []
        cells = {c.name: self._cell(c, batch) for c in d.columns}

        # blank rows: nothing in any cell (a dropped column's cells are seen only by the layout)
        any_defined = np.zeros(n, dtype=bool)
        for name in self.present_columns:
            any_defined |= col.mask(pc.is_valid(cells[name]))
        blank = empty | (~any_defined if not self.dropped else np.zeros(n, dtype=bool))
        live = ~blank

        src_col = self.src_col
        src = col.squash(cells[src_col.name])
        has_src = col.mask(pc.is_valid(src))

        withdrawal = np.zeros(n, dtype=bool)
        if self.withdrawal_values is not None:
            wcol = d.column_for("withdrawal")
            assert wcol is not None
            lowered = pc.utf8_lower(cells[wcol.name])
            withdrawal = live & col.mask(pc.is_in(lowered, value_set=self.withdrawal_values))
        filtered = np.zeros(n, dtype=bool)
        if self.relevance_values is not None:
            rcol = d.column_for("relevance")
            assert rcol is not None
            rel = col.squash(cells[rcol.name])
            keep = col.mask(pc.is_in(pc.utf8_lower(rel), value_set=self.relevance_values))
            rel_present = col.mask(pc.is_valid(rel))
            filtered = live & ~withdrawal & rel_present & ~keep
            if not rcol.required:
                self._problem(~rel_present, rcol.name, f"{rcol.name} is needed to decide relevance")
        normal = live & ~withdrawal & ~filtered

        fields = self._fields(cells, src)
        del cells  # the cleaned cells are in ``fields`` now; the batch itself serves rejected rows

        problem_any = np.zeros(n, dtype=bool)
        for m, _, _ in self.problems:
            problem_any |= m
        withdrawal_without_ref = withdrawal & ~has_src
        rejected = (normal & problem_any) | withdrawal_without_ref
        accepted = normal & ~rejected

        w_idx = np.flatnonzero(withdrawal & has_src)
        if len(w_idx):
            done.withdrawn_refs.extend(pc.take(src, pa.array(w_idx)).to_pylist())
        acc_idx = np.flatnonzero(accepted)
        records = self._records(fields, acc_idx)
        done.candidates.append(records)
        done.candidate_ids.append(col.hash64(records.column("record_id")))
        done.candidate_rows.append(acc_idx + first)
        done.placeholder.append(self.placeholder_dobs[acc_idx])
        if rejected.any():
            part = self._rejected_part(first, batch, rejected, src, withdrawal_without_ref, src_col)
            done.rejected_parts.append(part)
        done.live += int(live.sum())
        done.blank += int(blank.sum())
        done.filtered += int(filtered.sum())

    def _finish(self, done: _Pass) -> ParsedExtract:
        d, positions = self.d, self.positions
        where = self.reader.positions
        src_col = self.src_col
        candidate_rows = np.concatenate(done.candidate_rows) if done.candidate_rows else np.empty(0, np.int64)
        placeholder = np.concatenate(done.placeholder) if done.placeholder else np.empty(0, bool)

        # rows repeated within the file: the first stays, an exact repeat is dropped, a repeat with
        # other details is rejected
        candidates = pa.Table.from_batches(done.candidates, schema=RECORD_SCHEMA)
        hashes = np.concatenate(done.candidate_ids) if done.candidate_ids else np.empty(0, np.uint64)
        done.candidate_ids.clear()
        dup_rows, conflict_rows = self._duplicates(candidates, hashes)
        del hashes
        keep = np.ones(len(candidate_rows), dtype=bool)
        keep[[i for i, _ in dup_rows]] = False
        keep[[i for i, _ in conflict_rows]] = False
        conflicts = self._conflicts_part(candidates, candidate_rows, conflict_rows, src_col) if conflict_rows else None
        duplicates = [
            Duplicate(row=int(where.rows[candidate_rows[i]]), line=int(where.lines[candidate_rows[i]]),
                      first_row=int(where.rows[candidate_rows[f]]),
                      case_ref=str(candidates.column("source_record_id")[i].as_py()))
            for i, f in dup_rows[:RECEIPT_LIST_LIMIT]
        ]  # fmt: skip
        del candidates  # the batches are let go one by one below

        # withdrawals
        w_ids = tuple(dict.fromkeys(Record.make_id(d.id, s) for s in done.withdrawn_refs))
        w_refs = list(dict.fromkeys(done.withdrawn_refs))

        rejected = self._rejected_table(done.rejected_parts, conflicts)
        done.rejected_parts.clear()
        rejections = _receipt_rejections(rejected)

        acc_rows = candidate_rows[keep]
        bad_records = where.bad_records
        n_rejected = rejected.num_rows  # the batches' rejected rows, the conflicting repeats, the ragged rows
        counts = dict(
            rows_read=done.live + len(bad_records),
            rows_accepted=len(acc_rows),
            rows_rejected=n_rejected,
            rows_filtered=done.filtered,
            rows_duplicate=len(dup_rows),
            rows_withdrawal=len(done.withdrawn_refs),
            blank_rows=done.blank + where.blank_lines,
            placeholder_dobs=int(placeholder[keep].sum()),
        )
        quarantine = None
        if n_rejected and not len(acc_rows) and not counts["rows_withdrawal"]:
            quarantine = f"every row failed validation ({n_rejected} rows): nothing was stored"
        elif d.mode == "snapshot" and not len(acc_rows):
            quarantine = (
                "a snapshot with no accepted rows would close every open case: refused"
                " (if the feed really has no open cases, tell the MAST operator)"
            )
        if quarantine:
            counts["rows_accepted"] = 0
            done.candidates.clear()
            records = empty_records()
            acc_rows = acc_rows[:0]
            w_ids, w_refs = (), []
        else:
            records = self._kept(done.candidates, keep, w_ids)
        status = "quarantined" if quarantine else (
            "accepted_with_rejections" if n_rejected else "accepted")  # fmt: skip
        notes = []
        if not where.exact:
            notes.append("row and line numbers are approximate: a quote inside an unquoted cell "
                         "confused the count; rows are numbered among those that could be read")  # fmt: skip
        fmt = self.reader.fmt
        receipt = Receipt(
            file_name=self.file_name,
            feed=d.id,
            partner=d.partner,
            ingest_id=self.ingest_id,
            ingest_date=self.ingest_date,
            content_sha256=content_hash(self.data),
            size_bytes=len(self.data),
            status=status,  # type: ignore[arg-type]  # one of the receipt's statuses; pydantic checks it
            quarantine=quarantine,
            mode=d.mode,
            encoding=fmt.encoding + (" (with BOM)" if fmt.bom else ""),
            delimiter=fmt.delimiter_name,
            withdrawn_case_refs=w_refs[:RECEIPT_LIST_LIMIT],
            dropped_columns=self.dropped,
            missing_optional_columns=[c.name for c in d.columns if c.name not in positions],
            rejections=rejections[:RECEIPT_LIST_LIMIT],
            rejections_truncated=len(rejections) > RECEIPT_LIST_LIMIT or rejected.num_rows > RECEIPT_LIST_LIMIT,
            duplicates=duplicates,
            positions_exact=where.exact,
            note="; ".join(notes) or None,
            **counts,
        )
        return ParsedExtract(
            receipt=receipt,
            records=records,
            source_rows=where.rows[acc_rows],
            withdrawals=w_ids,
            rejected=rejected,
            partition=_partition(d, self.ingest_date),
        )

    def _cell(self, c: ColumnSpec, batch: pa.RecordBatch) -> pa.Array:
        if c.name not in self.positions:
            return pa.nulls(self.n, pa.string())
        return col.clean(batch.column(f"c{self.positions[c.name]}"), self.d.null_values)

    def _problem(self, m: np.ndarray, column: str, reason: str) -> None:
        if m.any():
            self.problems.append((m, column, reason))

    def _required(self, c: ColumnSpec, values: pa.Array, reason: str | None = None) -> None:
        if c.required:
            self._problem(~col.mask(pc.is_valid(values)), c.name, reason or f"{c.name} is required")

    # --- fields --------------------------------------------------------------------------------
    def _fields(self, cells: dict[str, pa.Array], src: pa.Array) -> dict[str, pa.Array]:
        d, n = self.d, self.n
        out: dict[str, pa.Array] = {}
        null = pa.nulls(n, pa.string())
        src_col = self.src_col
        self._required(src_col, src)
        out["source_record_id"] = src

        # names
        full = d.column_for("full_name")
        if full is not None:
            given, middle, family, bad = col.split_full_name(cells[full.name], d.name_order or "")
            self._problem(bad, full.name, "name is not in 'SURNAME, Forename' form"
                          if d.name_order == "family_first" else "name could not be split")  # fmt: skip
            self._required(full, cells[full.name], f"{full.name} is required (a surname at least)")
            out.update(given_name=given, middle_name=middle, family_name=family)
        else:
            for field in ("given_name", "middle_name", "family_name"):
                c = d.column_for(field)
                if c is None:
                    out[field] = null
                    continue
                values = col.squash(cells[c.name])
                if field == "given_name":
                    values = col.strip_titles(values)
                    self._required(c, values, f"{c.name} is required (a title alone is not a name)")
                else:
                    self._required(c, values)
                out[field] = values

        # dates
        self.placeholder_dobs = np.zeros(n, dtype=bool)
        for field in ("record_date", "end_date", "dob"):
            c = d.column_for(field)
            if c is None:
                out[field] = pa.nulls(n, pa.date32())
                continue
            fmt = d.date_format_of(c)
            parsed = parse_dates(cells[c.name], fmt)
            self._required(c, cells[c.name])
            self._problem(parsed.malformed, c.name, f"not a date in {fmt} form")
            self._problem(parsed.impossible, c.name, "not a real date")
            values = parsed.values
            if field == "dob":
                placeholder = col.mask(pc.is_in(values, value_set=self.placeholder_values))
                self.placeholder_dobs = placeholder
                values = pc.if_else(pa.array(placeholder), pa.scalar(None, pa.date32()), values)
                self._problem(col.mask(pc.greater(values, pa.scalar(self.ingest_date))),
                              c.name, "date of birth is in the future")  # fmt: skip
                self._problem(col.mask(pc.less(values, pa.scalar(EARLIEST_DOB))),
                              c.name, f"date of birth before {EARLIEST_DOB.year}")  # fmt: skip
            else:
                latest = self.ingest_date + dt.timedelta(days=1)
                self._problem(col.mask(pc.greater(values, pa.scalar(latest))),
                              c.name, "date is in the future")  # fmt: skip
                self._problem(col.mask(pc.less(values, pa.scalar(EARLIEST_RECORD_DATE))),
                              c.name, f"date before {EARLIEST_RECORD_DATE.year}")  # fmt: skip
            out[field] = values
        end = d.column_for("end_date")
        if end is not None:
            self._problem(col.mask(pc.less(out["end_date"], out["record_date"])),
                          end.name, "end date before the start date")  # fmt: skip

        # sex
        c = d.column_for("sex")
        if c is not None:
            sex, unknown = col.map_codes(cells[c.name], d.sex_code_map())
            own = list(d.sex_codes) or ["M", "F", "U"]
            self._problem(unknown, c.name, f"not a known code: use {', '.join(own)}")
            self._required(c, cells[c.name])
            out["sex"] = sex
        else:
            out["sex"] = null

        # address
        for field in ("address_line1", "address_line2"):
            cs = d.columns_for(field)
            if not cs:
                out[field] = null
                continue
            for c in cs:
                self._required(c, cells[c.name])
            out[field] = col.join_columns([(col.squash(cells[c.name]), c.join_with) for c in cs])
        c = d.column_for("postcode")
        if c is not None:
            self._required(c, cells[c.name])
            out["postcode"] = col.postcodes(cells[c.name])
        else:
            out["postcode"] = null

        # identifiers
        c = d.column_for("nhs_number")
        if c is not None:
            out["nhs_number"], bad = col.nhs_numbers(cells[c.name])
            self._problem(bad, c.name, "not a valid NHS number (10 digits, check digit must hold)")
            self._required(c, cells[c.name])
        else:
            out["nhs_number"] = null
        c = d.column_for("uprn")
        if c is not None:
            out["uprn"], bad = col.uprns(cells[c.name])
            self._problem(bad, c.name, "not a UPRN (up to 12 digits)")
            self._required(c, cells[c.name])
        else:
            out["uprn"] = null

        # sensitive flag
        c = d.column_for("sensitive")
        if c is not None and d.sensitive is not None:
            flag, unknown = col.flags(cells[c.name], d.sensitive.true_values, d.sensitive.false_values)
            allowed = [*d.sensitive.true_values[:1], *d.sensitive.false_values[:1], "blank"]
            self._problem(unknown, c.name, f"not a known flag: use {', '.join(allowed)}")
            self._required(c, cells[c.name])
            out["sensitive"] = flag
        else:
            out["sensitive"] = pa.array(np.zeros(n, dtype=bool))

        # contact: fixed per feed, a per-row column overriding it where filled
        for part in ("name", "team", "phone", "email"):
            fixed = getattr(d.contact, part)
            c = d.column_for(f"contact_{part}")
            values = col.squash(cells[c.name]) if c is not None else null
            if c is not None:
                self._required(c, values)
            out[f"contact_{part}"] = pc.coalesce(values, pa.scalar(fixed, pa.string())) if fixed else values

        # the role columns carry no field of their own, but may still be required
        for c in d.columns:
            if c.field in ("withdrawal", "relevance"):
                self._required(c, cells[c.name])
        return out

    # --- duplicates ----------------------------------------------------------------------------
    def _duplicates(
        self, candidates: pa.Table, hashes: np.ndarray
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """(repeat, first) pairs among the rows that passed validation (positions in
        ``candidates``): exact repeats, and same case ref with different details. The record ids
        were hashed batch by batch; only rows whose hash is shared are compared as strings, and
        only rows whose record id occurs more than once have their details compared, so a clean
        file costs one sort of a million 8-byte hashes."""
        n = candidates.num_rows
        if n < 2:
            return [], []
        ordered = np.sort(hashes)
        shared_values = ordered[1:][ordered[1:] == ordered[:-1]]
        del ordered
        if not len(shared_values):
            return [], []
        suspects = np.flatnonzero(np.isin(hashes, shared_values))  # rows whose hash another row has
        # each suspect's record id as a small integer (nulls, if any, are one value too)
        ids = col.combine(pc.take(candidates.column("record_id"), pa.array(suspects)))
        encoded = pc.dictionary_encode(ids, null_encoding="encode")
        distinct = len(encoded.dictionary)
        codes = encoded.indices.to_numpy()
        in_group = np.flatnonzero(np.bincount(codes, minlength=distinct)[codes] > 1)
        _, first_of_code = np.unique(codes, return_index=True)  # every code occurs: index = code
        involved = suspects[in_group]
        first_pos = suspects[first_of_code[codes[in_group]]]
        content = dict(zip(involved.tolist(), self._content_key(candidates, involved), strict=True))
        dups: list[tuple[int, int]] = []
        conflicts: list[tuple[int, int]] = []
        for p, f in zip(involved.tolist(), first_pos.tolist(), strict=True):
            if p == f:
                continue
            (dups if content[p] == content[f] else conflicts).append((p, int(f)))
        return dups, conflicts

    @staticmethod
    def _content_key(candidates: pa.Table, idx: np.ndarray) -> list[str | None]:
        take = pa.array(idx, pa.int64())
        parts = [pc.cast(pc.take(candidates.column(name), take), pa.string()) for name in _FIELDS]
        joined = pc.binary_join_element_wise(
            *parts, "\x1f", null_handling="replace", null_replacement="\x00"
        )
        return joined.to_pylist()

    # --- rejected rows -------------------------------------------------------------------------
    def _rejected_part(
        self,
        first: int,
        batch: pa.RecordBatch,
        rejected: np.ndarray,
        src: pa.Array,
        withdrawal_without_ref: np.ndarray,
        src_col: ColumnSpec,
    ) -> pa.Table:
        """A batch's rejected rows, built a column at a time: a file whose million rows all fail
        (a partner switching date format) costs no more than one that passes. ``_row`` is each
        row's index among the reader's rows; :meth:`_rejected_table` turns it into row and line."""
        idx = np.flatnonzero(rejected)
        take = pa.array(idx, pa.int64())
        null = pa.scalar(None, pa.string())
        col_parts: list[pa.Array] = []
        reason_parts: list[pa.Array] = []

        def add(hit: np.ndarray, column: str, reason: str) -> None:
            if hit.any():
                h = pa.array(hit)
                col_parts.append(pc.if_else(h, pa.scalar(column), null))
                reason_parts.append(pc.if_else(h, pa.scalar(reason), null))

        plain = ~withdrawal_without_ref[idx]
        for m, column, reason in self.problems:
            add(m[idx] & plain, column, reason)
        add(withdrawal_without_ref[idx], src_col.name, f"{src_col.name} is required to withdraw a row")
        table_cols: dict[str, pa.Array] = {"_row": pa.array(idx + first, pa.int64()), "case_ref": pc.take(src, take)}
        for key, parts in {"column": col_parts, "reason": reason_parts}.items():
            table_cols[key] = (
                pc.binary_join_element_wise(*parts, "; ", null_handling="skip") if parts
                else pa.nulls(len(idx), pa.string())
            )  # fmt: skip
        for name in self.present_columns:
            table_cols[name] = pc.take(batch.column(f"c{self.positions[name]}"), take)
        return pa.table(table_cols, schema=self._part_schema())

    def _part_schema(self) -> pa.Schema:
        lead = [("_row", pa.int64()), ("case_ref", pa.string()), ("column", pa.string()), ("reason", pa.string())]
        return pa.schema(lead + [(name, pa.string()) for name in self.present_columns])

    def _conflicts_part(
        self, candidates: pa.Table, candidate_rows: np.ndarray, conflicts: list[tuple[int, int]], src_col: ColumnSpec
    ) -> pa.Table:
        """The rows rejected for repeating an earlier case ref with other details. Their cells as
        sent were let go with their batch, so they are read again (only when there are some)."""
        where = self.reader.positions
        at = np.array([i for i, _ in conflicts], np.int64)
        rows = candidate_rows[at]
        cells = self.reader.take_rows(rows, [f"c{self.positions[n]}" for n in self.present_columns])
        reasons = [f"{src_col.name} repeats row {int(where.rows[candidate_rows[f]])} with different details"
                   for _, f in conflicts]  # fmt: skip
        table_cols: dict[str, pa.Array] = {
            "_row": pa.array(rows, pa.int64()),
            "case_ref": pc.take(candidates.column("source_record_id"), pa.array(at)),
            "column": pa.array([src_col.name] * len(at), pa.string()),
            "reason": pa.array(reasons, pa.string()),
        }
        for name in self.present_columns:
            table_cols[name] = cells[f"c{self.positions[name]}"]
        return pa.table(table_cols, schema=self._part_schema())

    def _rejected_table(self, parts: list[pa.Table], conflicts: pa.Table | None) -> pa.Table:
        """Every rejected row in file order, with its spreadsheet row and physical line, and the
        rows the CSV reader could not take at all (the wrong number of cells)."""
        where = self.reader.positions
        src_col = self.src_col
        if conflicts is not None:
            parts = [*parts, conflicts]
        table = pa.concat_tables(parts) if parts else self._part_schema().empty_table()
        at = table.column("_row").to_numpy()
        table = pa.table(
            {"row": pa.array(where.rows[at], pa.int64()), "line": pa.array(where.lines[at], pa.int64()),
             **{name: table.column(name) for name in table.column_names[1:]}}
        )  # fmt: skip
        if where.bad_records:
            width = len(self.reader.header)
            bad: dict[str, list[object]] = {k: [] for k in table.column_names}
            for b in where.bad_records:
                vals = {n: b.values[p] for n in self.present_columns
                        if (p := self.positions[n]) < len(b.values)}  # fmt: skip
                bad["row"].append(b.row)
                bad["line"].append(b.line)
                bad["case_ref"].append(vals.get(src_col.name) or None)
                bad["column"].append("(whole row)")
                bad["reason"].append(f"the row has {b.fields} cells but the header has {width}")
                for n in self.present_columns:
                    bad[n].append(vals.get(n))
            table = pa.concat_tables([table, pa.table(bad, schema=table.schema)])
        if conflicts is not None or where.bad_records:
            # one stable sort puts the conflicting repeats and the ragged rows in file order
            table = table.take(pc.sort_indices(table, sort_keys=[("row", "ascending"), ("line", "ascending")]))
        return table

    # --- output --------------------------------------------------------------------------------
    def _records(self, fields: dict[str, pa.Array], acc_idx: np.ndarray) -> pa.RecordBatch:
        """A batch's rows that passed validation, as records (``withdrawn`` is set at the end)."""
        k = len(acc_idx)
        if k == self.n:  # every row: nothing to take
            picked = fields
        else:
            take = pa.array(acc_idx, pa.int64())
            picked = {name: pc.take(values, take) for name, values in fields.items()}
        arrays: dict[str, pa.Array] = dict(picked)
        arrays["record_id"] = pc.binary_join_element_wise(pa.scalar(f"{self.d.id}:"), picked["source_record_id"], "")
        arrays["ingest_id"] = pa.repeat(pa.scalar(self.ingest_id, pa.string()), k)
        arrays["withdrawn"] = pa.array(np.zeros(k, dtype=bool))
        return pa.RecordBatch.from_arrays(
            [col.combine(arrays[name]).cast(RECORD_SCHEMA.field(name).type) for name in RECORD_SCHEMA.names],
            schema=RECORD_SCHEMA,
        )

    @staticmethod
    def _kept(batches: list[pa.RecordBatch], keep: np.ndarray, withdrawn: tuple[str, ...]) -> pa.Table:
        """The records: each batch less its repeats, ``withdrawn`` set where this file withdraws
        them. Each batch is let go as soon as its kept rows are out, so the records are never held
        twice."""
        out: list[pa.RecordBatch] = []
        start = 0
        batches.reverse()
        while batches:
            batch = batches.pop()
            mine = keep[start : start + batch.num_rows]
            start += batch.num_rows
            out.append(batch if mine.all() else batch.filter(pa.array(mine)))
        return apply_withdrawals(pa.Table.from_batches(out, schema=RECORD_SCHEMA), withdrawn)
