"""Writing CSV a column at a time (rejected rows, generated extracts, truth files).

Python's ``csv`` module writes row by row; at a million rows that is most of the cost. Here each
cell is quoted where needed with pyarrow compute, each row joined into one line, and the lines'
data buffer is the file body, without a Python string per cell. :func:`table_csv` does this for
:data:`CSV_ROWS` rows at a time, so a million rejected rows never have their cells, quoted cells
and lines all held at once beside the file.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mast.schema import FORMULA_GUARD, FORMULA_LEAD_PATTERN, spreadsheet_text

#: Rows rendered at a time by :func:`table_csv`.
CSV_ROWS: Final = 1 << 16


def csv_lines(
    table: pa.Table,
    delimiter: str = ",",
    *,
    quote_all: bool = False,
    line_end: str = "\n",
    for_spreadsheet: bool = False,
) -> pa.Array:
    """Each row as one CSV line ending in ``line_end``: a cell is quoted when it holds the delimiter, a
    quote or a line break (or, with ``quote_all``, whenever it is not null); null is empty.

    ``for_spreadsheet``: a file for people to open (rejected rows), so a text cell starting with a
    formula lead gets the guard apostrophe, the rule of :func:`mast.schema.spreadsheet_text` applied a
    column at a time. Generated extracts and truth files are data for MAST, written as they are."""
    special = "[" + re.escape(delimiter) + '"\\r\\n]'
    cells = []
    for column in table.columns:
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
            arr = pc.cast(arr, pa.string())
        elif for_spreadsheet:
            arr = pc.if_else(pc.match_substring_regex(arr, FORMULA_LEAD_PATTERN),
                             pc.binary_join_element_wise(FORMULA_GUARD, arr, ""), arr)
        quoted = pc.binary_join_element_wise('"', pc.replace_substring(arr, '"', '""'), '"', "")
        needs = pc.is_valid(arr) if quote_all else pc.match_substring_regex(arr, special)
        cells.append(pc.fill_null(pc.if_else(needs, quoted, arr), ""))
    if not cells:
        return pa.array([], pa.string())
    lines = pc.binary_join_element_wise(*cells, delimiter) if len(cells) > 1 else cells[0]
    return pc.binary_join_element_wise(lines, line_end, "")


def buffer_bytes(lines: pa.Array) -> bytes:
    """The concatenated values of a string array: its data buffer between first and last offset."""
    return bytes(_buffer_view(lines))


def _buffer_view(lines: pa.Array) -> memoryview:
    if len(lines) == 0:
        return memoryview(b"")
    off = np.frombuffer(lines.buffers()[1], dtype=np.int32)[lines.offset : lines.offset + len(lines) + 1]
    return memoryview(lines.buffers()[2])[int(off[0]) : int(off[-1])]


def header_line(
    names: Sequence[str], delimiter: str = ",", line_end: str = "\n", *, for_spreadsheet: bool = False
) -> bytes:
    out = io.StringIO(newline="")
    cells = [spreadsheet_text(n) for n in names] if for_spreadsheet else list(names)
    csv.writer(out, delimiter=delimiter, lineterminator=line_end).writerow(cells)
    return out.getvalue().encode("utf-8")


def table_csv(
    table: pa.Table, *, delimiter: str = ",", crlf: bool = False, bom: bool = False, for_spreadsheet: bool = False
) -> bytes:
    """A whole table as CSV bytes (UTF-8), header first; line breaks inside cells are kept as sent.
    ``for_spreadsheet`` neutralises formula-leading cells, header included (see :func:`csv_lines`)."""
    end = "\r\n" if crlf else "\n"
    out = io.BytesIO()
    out.write((b"\xef\xbb\xbf" if bom else b"")
              + header_line(table.column_names, delimiter, end, for_spreadsheet=for_spreadsheet))
    for start in range(0, table.num_rows, CSV_ROWS):
        lines = csv_lines(table.slice(start, CSV_ROWS), delimiter, line_end=end, for_spreadsheet=for_spreadsheet)
        out.write(_buffer_view(lines))
    return out.getvalue()  # the buffer itself, not a copy
