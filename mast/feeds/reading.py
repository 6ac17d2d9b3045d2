"""Reading a partner's upload as batches of strings, knowing where each row came from.

Three steps, none of them row by row in Python:

1. :func:`sniff` refuses what is not a CSV at all (empty, binary, a workbook, UTF-16) and decides
   the encoding (valid UTF-8, else Windows-1252) and the delimiter (from the header line).
2. :func:`scan_layout` finds record boundaries with numpy over the raw bytes: a newline ends a
   record unless it sits inside a quoted field (an odd number of quotes before it). That gives,
   for every record, its spreadsheet row and the physical line it starts on, and its field count,
   so a rejected row can be named in terms a data lead can find even when quoted fields hold
   line breaks, blank lines are skipped, or ragged rows are dropped by the CSV reader.
3. :class:`ExtractReader` shows the header to the caller (which may refuse the file on it, and
   names the columns it wants: a column MAST drops is never materialised) and lets pyarrow's
   streaming reader parse the body a batch of rows at a time (every wanted column as a string),
   so the body is never held whole as a table. Once every row has been read it lines the rows up
   with the layout. If the two disagree (a stray quote in the middle of an unquoted field is
   literal text to a CSV reader but not to a parity count) the layout is rebuilt with Python's
   ``csv`` module, which follows the same rules as the reader; slower, but only for odd files,
   and if that moves what the batches were told (which rows are emptied ones) they are read again.

**Row numbers.** ``row`` is the row a spreadsheet shows: the header is row 1 and the first data
row is row 2; a record whose quoted field holds line breaks is still one row, and a blank line
is a row. ``line`` is the physical line (as a text editor counts) on which the record starts.
Receipts give both.
"""

from __future__ import annotations

import codecs
import csv
import dataclasses
import io
import re
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

Encoding = Literal["utf-8", "windows-1252"]

_CHUNK: Final = 1 << 23  # 8 MiB: bounds the scan's temporary arrays
#: About this many bytes of CSV per batch of rows validated at once.
BLOCK_SIZE = 1 << 23
#: Bytes per read of the streaming CSV reader. Small, because the reader reads ahead by a number of
#: blocks, and with a Windows-1252 file each block read ahead is a copy transcoded to UTF-8: 8 MiB
#: blocks would hold most of a 250 MB file at once. Batches this size are joined up to
#: :data:`BLOCK_SIZE` before they are validated. A record must fit in one block, so a file with a
#: longer record is read in blocks twice its length.
READ_BLOCK_SIZE = 1 << 20
#: The reader's limits on one record, in bytes. A header past MAX_HEADER_BYTES (a file with no line
#: break in its first megabyte is not a CSV with a header row) or a row past MAX_RECORD_BYTES (the
#: reader's blocks must hold a whole row, twice over) makes the whole file unreadable: it is
#: quarantined with a receipt naming the row. A long cell in a row within them only rejects its
#: row, by the feed definition's field limits.
MAX_HEADER_BYTES = 1 << 20
MAX_RECORD_BYTES = 1 << 26
# Python's csv module (odd files, the header, ragged rows) refuses a field past 128 KiB by default;
# a row the reader takes must never crash it: every field of such a row is within this.
csv.field_size_limit(max(csv.field_size_limit(), MAX_RECORD_BYTES))
_QUOTE: Final = ord('"')
_NEWLINE: Final = ord("\n")
_CR: Final = ord("\r")
_DELIMITERS: Final = (",", "\t", "|", ";")
_MAGIC: Final = (
    (b"PK\x03\x04", "a zip archive or Excel workbook (.xlsx), not a CSV file: save it as CSV"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls), not a CSV file: save it as CSV"),
    (b"%PDF", "a PDF document, not a CSV file"),
    (b"\x1f\x8b", "a gzip archive, not a CSV file: upload it uncompressed"),
    (b"\xff\xfe", "UTF-16 text (Excel 'Unicode Text'): save it as 'CSV UTF-8' instead"),
    (b"\xfe\xff", "UTF-16 text: save it as 'CSV UTF-8' instead"),
)


class Unreadable(Exception):
    """The whole file is refused (quarantined); ``reason`` is written on its receipt."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class TextFormat:
    """What :func:`sniff` found: how to decode the bytes and split the fields."""

    encoding: Encoding
    bom: bool
    delimiter: str

    @property
    def start(self) -> int:
        """Offset of the first byte after any UTF-8 byte-order mark."""
        return 3 if self.bom else 0

    @property
    def delimiter_name(self) -> str:
        return {",": "comma", "\t": "tab", "|": "pipe", ";": "semicolon"}[self.delimiter]


def sniff(data: bytes) -> TextFormat:
    """Decide encoding and delimiter, or raise :class:`Unreadable` with a reason a data lead can act on."""
    if not data:
        raise Unreadable("empty file (0 bytes)")
    for magic, reason in _MAGIC:
        if data.startswith(magic):
            raise Unreadable(f"the file is {reason}")
    if b"\x00" in data:
        raise Unreadable("binary data (NUL bytes), not a text CSV file")
    bom = data.startswith(codecs.BOM_UTF8)
    start = 3 if bom else 0
    first = re.compile(rb"[^\s]").search(data, start)
    if first is None:
        raise Unreadable("empty file: no header row and no data")
    encoding = _detect_encoding(data)
    line_start = data.rfind(b"\n", start, first.start()) + 1
    line_end = data.find(b"\n", first.start())
    header = data[max(line_start, start) : line_end if line_end >= 0 else len(data)]
    text = header.decode("utf-8" if encoding == "utf-8" else "cp1252")
    counts = [text.count(d) for d in _DELIMITERS]
    delimiter = _DELIMITERS[counts.index(max(counts))] if max(counts) else ","
    return TextFormat(encoding=encoding, bom=bom, delimiter=delimiter)


def _detect_encoding(data: bytes) -> Encoding:
    """Valid UTF-8 is UTF-8; anything else must be Windows-1252 (what Excel and older systems
    write on UK Windows). Checked in chunks so a large file is never held twice as text."""
    if data.isascii():
        return "utf-8"
    if _decodes(data, "utf-8"):
        return "utf-8"
    bad = _first_undecodable(data, "cp1252")
    if bad is None:
        return "windows-1252"
    raise Unreadable(
        f"not readable text: neither UTF-8 nor Windows-1252 (byte 0x{data[bad]:02x} at offset {bad})"
    )


def _decodes(data: bytes, codec: str) -> bool:
    return _first_undecodable(data, codec) is None


def _first_undecodable(data: bytes, codec: str) -> int | None:
    decoder = codecs.getincrementaldecoder(codec)()
    view = memoryview(data)
    for offset in range(0, len(data), _CHUNK):
        chunk = view[offset : offset + _CHUNK]
        try:
            decoder.decode(chunk, final=offset + _CHUNK >= len(data))
        except UnicodeDecodeError as exc:
            return offset + exc.start
    return None


# --- layout ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Layout:
    """Where each record of the file is. Arrays are aligned, one entry per record after the header
    (blank ones included, so that row numbers count them as a spreadsheet does)."""

    header_start: int
    header_end: int  # offset just past the header record's newline (where the body starts)
    starts: np.ndarray  # byte offset of each data record
    ends: np.ndarray  # byte offset of its terminating newline (or end of file)
    rows: np.ndarray  # spreadsheet row (header row = 1)
    lines: np.ndarray  # physical line it starts on (1-based)
    fields: np.ndarray  # number of fields
    blank: np.ndarray  # bool: nothing but a line ending
    empty: np.ndarray  # bool: nothing but delimiters (",,,,," as Excel writes an emptied row)
    header_fields: int
    exact: bool = True  # False only when no method agreed with the reader (numbers approximate)
    longest: int = 0  # bytes in the longest record (the reader's blocks must hold one whole)


def scan_layout(data: bytes, fmt: TextFormat) -> Layout:
    """Record boundaries by quote parity, vectorised and chunked (see the module docstring). The
    arrays are sized once (a record ends at a newline, so there are no more records than newlines
    plus one) and filled a chunk at a time, so the scan's peak is little more than its result."""
    buf = np.frombuffer(data, dtype=np.uint8)
    start = fmt.start
    delim = ord(fmt.delimiter)
    cap = data.count(b"\n", start) + 1
    ends = np.empty(cap, np.int64)
    cum_delims = np.empty(cap, np.int64)  # delimiters outside quotes before each record's end
    cum_lines = np.empty(cap, np.int64)  # newlines up to and including each record's end
    k = 0
    parity = 0
    delims_before = 0
    lines_before = 0
    for s in range(start, len(buf), _CHUNK):
        chunk = buf[s : s + _CHUNK]
        quotes = np.flatnonzero(chunk == _QUOTE)
        newlines = np.flatnonzero(chunk == _NEWLINE)
        delims = np.flatnonzero(chunk == delim)
        # a position is inside quotes when an odd number of quotes precede it
        chunk_ends = newlines[((np.searchsorted(quotes, newlines) + parity) & 1) == 0]
        outside = delims[((np.searchsorted(quotes, delims) + parity) & 1) == 0]
        m = len(chunk_ends)
        ends[k : k + m] = chunk_ends + s
        cum_delims[k : k + m] = np.searchsorted(outside, chunk_ends) + delims_before
        cum_lines[k : k + m] = np.searchsorted(newlines, chunk_ends, side="right") + lines_before
        k += m
        delims_before += len(outside)
        lines_before += len(newlines)
        parity = (parity + len(quotes)) & 1
    if len(buf) > start and (k == 0 or ends[k - 1] != len(buf) - 1):
        # the last record has no newline after it
        ends[k], cum_delims[k], cum_lines[k] = len(buf), delims_before, lines_before
        k += 1
    ends, cum_delims, cum_lines = ends[:k], cum_delims[:k], cum_lines[:k]
    starts = np.empty(k, np.int64)
    starts[:1] = start
    np.add(ends[:-1], 1, out=starts[1:])
    fields = np.diff(cum_delims, prepend=0)
    fields += 1
    del cum_delims
    lines = np.empty(k, np.int64)  # line of record start
    lines[:1] = 1
    np.add(cum_lines[:-1], 1, out=lines[1:])
    del cum_lines
    length = ends - starts
    longest = int(length.max()) if k else 0
    last = ends - 1
    np.clip(last, 0, len(buf) - 1, out=last)
    length -= (length > 0) & (buf[last] == _CR)  # the record without its carriage return
    del last
    blank = length == 0
    empty = ~blank & (length == fields - 1)
    return dataclasses.replace(_with_header(starts, ends, lines, fields, blank, empty), longest=longest)


def _with_header(
    starts: np.ndarray, ends: np.ndarray, lines: np.ndarray, fields: np.ndarray, blank: np.ndarray,
    empty: np.ndarray,
) -> Layout:
    h = int(np.argmin(blank)) if len(blank) else 0  # the first record that is not blank
    if not len(blank) or blank[h]:
        raise Unreadable("empty file: no header row and no data")
    rest = slice(h + 1, None)
    n = len(starts) - h - 1
    return Layout(
        header_start=int(starts[h]),
        header_end=int(ends[h]) + 1,
        starts=starts[rest],
        ends=ends[rest],
        rows=np.arange(h + 2, h + n + 2, dtype=np.int64),
        lines=np.asarray(lines[rest], np.int64),
        fields=np.asarray(fields[rest], np.int64),
        blank=blank[rest],
        empty=empty[rest],
        header_fields=int(fields[h]),
    )


def scan_layout_python(
    data: bytes, fmt: TextFormat, *, keep_odd: bool = True
) -> tuple[Layout, dict[int, tuple[str, ...]]]:
    """The same layout from Python's ``csv`` module, which treats a quote in the middle of an
    unquoted field as text, as the CSV reader does. It has no byte offsets, so it also returns the
    values of every record whose field count differs from the header's (index into the layout;
    none with ``keep_odd=False``, when only the counts are wanted). The bytes are decoded as they
    are read and the counts kept as machine integers, so a large odd file is never held as text."""
    raw = io.BytesIO(data)  # shares ``data``: no copy
    raw.seek(fmt.start)
    reader = csv.reader(io.TextIOWrapper(raw, encoding=_codec(fmt), newline=""), delimiter=fmt.delimiter)
    lines, fields, blank, empty = array("q"), array("q"), array("b"), array("b")
    odd: dict[int, tuple[str, ...]] = {}
    header_len: int | None = None
    prev_line = 0
    for record in _records(reader):
        lines.append(prev_line + 1)
        fields.append(len(record))
        blank.append(len(record) == 0)
        empty.append(bool(record) and not any(record))
        prev_line = reader.line_num
        if record and header_len is None:
            header_len = len(record)
        elif keep_odd and record and len(record) != header_len:
            odd[len(lines) - 1] = tuple(record)
    if not lines:
        raise Unreadable("empty file: no header row and no data")
    zeros = np.zeros(len(lines), np.int64)
    layout = _with_header(
        zeros, zeros, np.frombuffer(lines, np.int64), np.frombuffer(fields, np.int64),
        np.frombuffer(blank, np.int8).astype(bool), np.frombuffer(empty, np.int8).astype(bool),
    )  # fmt: skip
    first = len(lines) - len(layout.rows)  # records before the first data record
    return layout, {i - first: v for i, v in odd.items() if i >= first}


# --- reading -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class BadRecord:
    """A record the CSV reader could not take: the wrong number of fields."""

    row: int
    line: int
    fields: int
    values: tuple[str, ...]


@dataclass(frozen=True)
class Positions:
    """Where each row the CSV reader kept came from, settled once the whole body has been read:
    aligned arrays, one entry per row the reader kept (in the order it yields them)."""

    rows: np.ndarray  # spreadsheet row
    lines: np.ndarray  # physical start line
    empty: np.ndarray  # every cell empty (",,,,," as Excel writes an emptied row)
    bad_records: tuple[BadRecord, ...]
    blank_lines: int
    exact: bool


def _codec(fmt: TextFormat) -> str:
    return "utf-8" if fmt.encoding == "utf-8" else "cp1252"


class ExtractReader:
    """The upload read a batch of rows at a time with pyarrow's streaming CSV reader, every cell
    kept as sent (no type guessing, no null guessing: ``NA`` is somebody's initials before it is a
    missing value), so the body is never held whole as a table.

    ``select`` sees the header before the body is read and names the columns to materialise (a
    column MAST drops is never even built); it may raise to refuse the file on its header.

    Use: iterate :meth:`batches` to the end, then call :meth:`settle`. The layout found by quote
    parity is only trusted once the reader has seen every row (a stray quote can fool it, a
    trailing delimiter on every row needs the header refitted); if ``settle`` returns ``True`` the
    caller must read the batches again, from the start, and settle again. That only happens for
    odd files; for the rest one pass is all there is. :attr:`positions` then names every row."""

    def __init__(
        self,
        data: bytes,
        fmt: TextFormat | None = None,
        select: Callable[[tuple[str, ...]], Sequence[int]] | None = None,
    ) -> None:
        self.data = data
        self.fmt = fmt or sniff(data)
        self.select = select
        self.layout: Layout | None = scan_layout(data, self.fmt)  # let go once settled
        _check_lengths(self.layout, len(data))
        self.header = tuple(_parse_one(data[self.layout.header_start : self.layout.header_end], self.fmt))
        self._body_start = self.layout.header_end
        self._longest = self.layout.longest
        self._has_body = bool((~self.layout.blank).any())  # else a header and nothing else (or blank lines)
        self._choose_columns()
        self._empty = self.layout.empty[self._good(self.layout)]  # a guess until settled
        self._refitted = False
        self._positions: Positions | None = None
        self.rows_read = 0  # rows the reader yielded in the last complete pass
        self.invalid = 0  # rows it skipped as ragged in that pass

    @property
    def positions(self) -> Positions:
        if self._positions is None:
            raise RuntimeError("read every batch and settle() first")
        return self._positions

    def _choose_columns(self) -> None:
        chosen = self.select(self.header) if self.select is not None else range(len(self.header))
        self.columns = [f"c{i}" for i in chosen]  # the wanted columns, named by header position

    def _good(self, layout: Layout) -> np.ndarray:
        return ~layout.blank & (layout.fields == len(self.header))

    def _agrees(self, layout: Layout, table_rows: int, invalid: int) -> bool:
        """Whether ``layout`` counts the rows the CSV reader kept and skipped as it did."""
        good = self._good(layout)
        return int(good.sum()) == table_rows and int((~layout.blank & ~good).sum()) == invalid

    def batches(self, columns: Sequence[str] | None = None) -> Iterator[tuple[int, pa.RecordBatch, np.ndarray]]:
        """``(first, batch, empty)`` for each batch of rows: the index of its first row among all
        the rows the reader keeps, the wanted columns (or ``columns``) as strings, and each row's
        "every cell empty" flag (from the layout; final once :meth:`settle` said no new pass)."""
        wanted = list(self.columns if columns is None else columns)
        invalid = [0]

        def on_invalid(_row: object) -> str:
            invalid[0] += 1
            return "skip"

        first = 0
        if self._has_body:
            for batch in self._stream(wanted, on_invalid):
                n = batch.num_rows
                if n:
                    # padded if the layout miscounted: settle() will say so
                    yield first, batch, _padded(self._empty[first : first + n], n)
                first += n
        self.rows_read, self.invalid = first, invalid[0]

    def _stream(self, wanted: list[str], on_invalid: Callable[[object], str]) -> Iterator[pa.RecordBatch]:
        body = pa.py_buffer(self.data).slice(self._body_start)
        names = [f"c{i}" for i in range(len(self.header))]
        read_block = max(min(READ_BLOCK_SIZE, BLOCK_SIZE), 2 * self._longest)  # a record must fit in a block
        per_batch = max(1, BLOCK_SIZE // read_block)
        try:
            reader = pacsv.open_csv(
                pa.BufferReader(body),
                read_options=pacsv.ReadOptions(
                    column_names=names, block_size=read_block,
                    encoding="utf8" if self.fmt.encoding == "utf-8" else "cp1252",
                ),  # fmt: skip
                parse_options=pacsv.ParseOptions(delimiter=self.fmt.delimiter, newlines_in_values=True,
                                                 ignore_empty_lines=True, invalid_row_handler=on_invalid),  # fmt: skip
                convert_options=pacsv.ConvertOptions(
                    include_columns=wanted, column_types={n: pa.string() for n in wanted},
                    strings_can_be_null=False, quoted_strings_can_be_null=False,
                ),  # fmt: skip
            )
            group: list[pa.RecordBatch] = []
            for batch in reader:
                group.append(batch)
                if len(group) == per_batch:
                    yield _joined(group)
                    group = []
            if group:
                yield _joined(group)
        except (pa.ArrowException, UnicodeDecodeError) as exc:
            raise Unreadable(f"the CSV could not be read: {str(exc).splitlines()[0]}") from None

    def settle(self) -> bool:
        """After a complete pass: ``True`` if the batches must be read again (the header was
        refitted, or the layout the reader agrees with marks other rows as empty)."""
        rows, invalid = self.rows_read, self.invalid
        assert self.layout is not None, "settled already"
        if not self._refitted and invalid and invalid >= 0.9 * (rows + invalid):
            # nearly every row has another number of cells than the header: a trailing delimiter?
            self._refitted = True
            fitted = _fit_header(self.header, scan_layout_python(self.data, self.fmt, keep_odd=False)[0])
            if fitted != self.header:
                self.header = fitted
                self._choose_columns()
                self._empty = self.layout.empty[self._good(self.layout)]
                return True
        layout, odd, exact = self.layout, None, True
        if not self._agrees(layout, rows, invalid):
            layout, odd = scan_layout_python(self.data, self.fmt)
            exact = self._agrees(layout, rows, invalid)
        self._positions = self._positions_from(layout, odd, exact)
        rerun = not np.array_equal(_padded(self._empty[:rows], rows), self._positions.empty)
        self._empty = self._positions.empty
        if not rerun:
            self.layout = None  # what is still needed is in positions
        return rerun

    def _positions_from(self, layout: Layout, odd: dict[int, tuple[str, ...]] | None, exact: bool) -> Positions:
        data, fmt, rows_read = self.data, self.fmt, self.rows_read
        good = self._good(layout)
        bad = ~layout.blank & ~good
        if exact:
            rows, lines, empty = layout.rows[good], layout.lines[good], layout.empty[good]
            bad_records = tuple(
                BadRecord(
                    row=int(layout.rows[i]),
                    line=int(layout.lines[i]),
                    fields=int(layout.fields[i]),
                    values=odd.get(int(i), ()) if odd is not None else _record_values(data, layout, int(i), fmt),
                )
                for i in np.flatnonzero(bad)
            )  # fmt: skip
        else:  # numbering by position among what the reader kept; said so on the receipt
            rows = np.arange(2, rows_read + 2, dtype=np.int64)
            lines = rows.copy()
            empty = np.zeros(rows_read, dtype=bool)
            bad_records = tuple(BadRecord(row=0, line=0, fields=0, values=()) for _ in range(self.invalid))
        # a line of spaces is a blank line to a reader, even if the CSV reader saw one odd cell
        spaces = [b for b in bad_records if b.values and not "".join(b.values).strip()]
        if spaces:
            bad_records = tuple(b for b in bad_records if b not in spaces)
        return Positions(rows=rows, lines=lines, empty=empty, bad_records=bad_records,
                         blank_lines=int(layout.blank.sum()) + len(spaces), exact=exact)  # fmt: skip

    def take_rows(self, indices: np.ndarray, columns: Sequence[str]) -> dict[str, pa.Array]:
        """The cells of the rows at ``indices`` (sorted, among the rows the reader keeps), read
        again from the bytes: for the few rows found bad only once the whole file was seen."""
        parts: dict[str, list[pa.Array]] = {c: [] for c in columns}
        for first, batch, _ in self.batches(columns):
            if len(indices) == 0 or first > indices[-1]:
                break  # every wanted row is taken: the rest of the file is not read again
            lo, hi = np.searchsorted(indices, [first, first + batch.num_rows])
            if hi > lo:
                take = pa.array(indices[lo:hi] - first, pa.int64())
                for c in columns:
                    parts[c].append(pc.take(batch.column(c), take))
        return {c: pa.concat_arrays(p) if p else pa.array([], pa.string()) for c, p in parts.items()}


def _joined(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    columns = [pa.concat_arrays([b.column(i) for b in batches]) for i in range(batches[0].num_columns)]
    return pa.RecordBatch.from_arrays(columns, schema=batches[0].schema)


def _padded(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` (at most ``n`` flags) with False added up to ``n``."""
    return a if len(a) >= n else np.concatenate((a, np.zeros(n - len(a), bool)))


def _fit_header(header: tuple[str, ...], layout: Layout) -> tuple[str, ...]:
    """A trailing delimiter on the header or on every row (a common export habit) must not make
    every row 'ragged': when most rows have a different number of cells, blank header cells at the
    end are dropped, or unnamed ones added (and dropped later as columns outside the definition)."""
    counts = layout.fields[~layout.blank]
    if not len(counts):
        return header
    tally = np.bincount(counts)
    usual = int(tally.argmax())
    if tally[usual] < 0.9 * len(counts):  # no clear habit: leave it
        return header
    if usual > len(header):
        return header + ("",) * (usual - len(header))
    if usual < len(header) and not "".join(header[usual:]).strip():
        return header[:usual]
    return header


def _record_values(data: bytes, layout: Layout, i: int, fmt: TextFormat) -> tuple[str, ...]:
    return tuple(_parse_one(data[int(layout.starts[i]) : int(layout.ends[i])], fmt))


def _parse_one(raw: bytes, fmt: TextFormat) -> list[str]:
    text = raw.decode(_codec(fmt)).rstrip("\r\n")
    return next(_records(csv.reader(io.StringIO(text, newline=""), delimiter=fmt.delimiter)), [])


def _records(reader: Iterator[list[str]]) -> Iterator[list[str]]:
    """The csv module's records; its own refusal (a field past its limit, a NUL) refuses the file."""
    try:
        yield from reader
    except csv.Error as exc:
        raise Unreadable(f"the CSV could not be read: {exc}") from None


def _check_lengths(layout: Layout, size: int) -> None:
    """Refuse a file whose header or a row is past the reader's limits, naming where (see
    :data:`MAX_RECORD_BYTES`); from the layout, before anything is parsed."""
    header = min(layout.header_end, size) - layout.header_start
    if header > MAX_HEADER_BYTES:
        raise Unreadable(
            f"the first row (the header) is {header:,} bytes long, past the reader's limit of "
            f"{MAX_HEADER_BYTES:,} bytes: is the file a CSV with one row per line? (nothing was read)"
        )
    if layout.longest <= MAX_RECORD_BYTES:
        return
    lengths = layout.ends - layout.starts
    at = int(np.argmax(lengths > MAX_RECORD_BYTES))
    raise Unreadable(
        f"row {int(layout.rows[at])} (line {int(layout.lines[at])}) is {int(lengths[at]):,} bytes long, past the "
        f"reader's limit of {MAX_RECORD_BYTES:,} bytes per row (a quote left open swallows the rows after it):"
        " nothing was read"
    )
