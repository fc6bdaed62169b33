"""Read a CSV/TSV file into `CsvColumns`, whole (`read_csv`) or in chunks (`csv_chunks`):
numpy's C parser for plain text, the careful per-cell reader for every other, which locates
what is wrong with it.

Plain text (UTF-8, no quote, no NUL, no lone CR, no cell over the csv module's size limit)
splits into cells exactly as the csv module splits it. numpy parses it in one pass: a float64
field for each column whose first cell is a number, the text of the others. The careful reader
takes over, from the start of the file (or chunk), when numpy cannot parse a cell of such a
column as a number, when a row has another number of cells than the header, or when a number
is not finite: every problem is then reported as it always was, at its file line.

A chunk is a run of whole lines of the file (a few MB, at most `rows` rows), read with the
header row before it, so that each is read exactly as the whole file would be; from the first
quote on (a quoted cell may hold a line end), the careful reader reads the file record by
record.

Long because the fast and careful readers, whole and chunked, share their checks here.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from kerascli.data.table import CsvColumns
from kerascli.spec.datafile import csv_records, csv_rows, header_names
from kerascli.spec.problems import DataError

# A number as a CSV cell writes it: digits, an optional point and exponent. Stricter than
# float(), which also takes `1_065`, `nan`, `inf`, `Infinity` and non-ASCII digits.
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

_BOM = codecs.BOM_UTF8
_CHUNK = 1 << 22  # bytes scanned at a time for line ends
BLOCK_BYTES = 1 << 23
"""Bytes a streamed CSV/TSV file is read in (a chunk is the whole lines among them)."""

TextOpener = Callable[[], IO[str]]


def read_csv(path: Path, kind: str, fast: bool = True) -> CsvColumns:
    """A CSV/TSV file's cells by column, and the line of each row.

    Args:
        fast: Let numpy read a plain file; `False` reads every file with the careful reader
            (the tests compare the two). Defaults to `True`.
    """
    return (fast and _read_plain(path, kind)) or _read_cells(path, kind)


def _read_cells(path: Path, kind: str) -> CsvColumns:
    """The careful reader: every cell through the csv module, every problem located."""
    file = str(path)
    with csv_rows(path, kind) as records:
        header = header_names(next(records, (1, []))[1], file)
        if not header:
            raise DataError("empty file, expected a header row", file, 1)
        columns = _cells(records, header, file)
    if not columns.rows:
        raise DataError("no data rows: the file has a header row only", file)
    return columns


def _cells(
    records: Iterator[tuple[int, list[str]]], header: list[str], file: str, limit: int = 0
) -> CsvColumns:
    """The cells of the next `limit` rows of `records` (every row with 0), blank ones skipped."""
    cells: list[list[str]] = [[] for _ in header]
    lines: list[int] = []
    for line, row in records:
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(f"expected {len(header)} values, got {len(row)}", file, line)
        for column, value in zip(cells, row, strict=True):
            column.append(value.strip())
        lines.append(line)
        if len(lines) == limit:
            break
    return CsvColumns(header, len(lines), lines, dict(zip(header, cells, strict=True)))


def _read_plain(path: Path, kind: str) -> CsvColumns | None:
    """The columns of a plain file (see the module), parsed by numpy; `None` for another file,
    or where numpy finds a problem (the careful reader then reads it, and says what it is)."""
    data = path.read_bytes()
    layout = _plain_layout(data, kind, str(path))
    del data
    if layout is None:
        return None
    return _parsed(layout, kind, str(path), lambda: open(path, encoding="utf-8-sig"))


@dataclass
class _Layout:
    """What the fast reader needs of plain text: the column names, which of the (wanted)
    columns are numbers by their first cell, and the file line of each row."""

    names: list[str]
    numbers: list[bool]
    lines: Sequence[int]
    usecols: list[int] | None = None  # the columns to parse (all with `None`)


def _plain_layout(
    data: bytes,
    kind: str,
    file: str,
    first_line: int = 2,
    wanted: Sequence[str] | None = None,
) -> _Layout | None:
    """The layout of `data` (a header line, then rows whose first is line `first_line` of the
    file) if it is plain text (see the module), else `None`. With `wanted` (column names),
    only those columns are parsed; every row must still have a cell for every column."""
    delimiter = "\t" if kind == "tsv" else ","
    start = len(_BOM) if data.startswith(_BOM) else 0
    if b'"' in data or b"\0" in data:
        return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):  # a lone CR ends a line
        return None
    if not data.isascii() and not _is_utf8(data):
        return None
    spans = _line_spans(data, start)
    if spans is None:
        return None
    header, first_row, lines, widths = spans
    names = header_names(header.split(delimiter), file)  # as the careful reader reads it
    cells = [cell.strip() for cell in first_row.split(delimiter)]
    if len(cells) != len(names):
        return None
    usecols = None
    if wanted is not None and set(wanted) < set(names):
        usecols = [j for j, name in enumerate(names) if name in set(wanted)]
        if not widths(ord(delimiter), len(names) - 1):  # numpy skips the other cells
            return None
        cells = [cells[j] for j in usecols]
    offset = first_line - 2
    if offset:
        lines = (
            range(lines.start + offset, lines.stop + offset)
            if isinstance(lines, range)
            else [line + offset for line in lines]
        )
    return _Layout(names, [bool(NUMBER.fullmatch(cell)) for cell in cells], lines, usecols)


def _parsed(layout: _Layout, kind: str, file: str, opener: TextOpener) -> CsvColumns | None:
    """The columns of plain text (`opener` opens it, header row first) parsed by numpy; `None`
    where numpy finds a problem."""
    delimiter = "\t" if kind == "tsv" else ","
    lines = layout.lines
    numbers = _parse(opener, delimiter, layout.numbers, layout.usecols)
    if numbers is None or len(numbers) != len(lines):  # not numbers, or a file that changed
        return None
    parsed = layout.names if layout.usecols is None else [layout.names[j] for j in layout.usecols]
    fields = dict(zip(parsed, numbers.dtype.names or (), strict=True))
    text: dict[str, list[str]] = {}
    for name, field in fields.items():
        if numbers[field].dtype == object:
            text[name] = [cell.strip() for cell in numbers[field].tolist()]
        elif not np.isfinite(numbers[field]).all():
            return None  # `nan`, `inf`, `1e999`: the careful reader says where
    number_fields = {name: field for name, field in fields.items() if name not in text}
    position = {name: j for j, name in enumerate(layout.names)}

    def reread(wanted: list[str]) -> list[list[str]]:
        columns = [position[name] for name in wanted]
        return _reread(opener, delimiter, columns, len(lines), file)

    return CsvColumns(layout.names, len(lines), lines, text, numbers, number_fields, reread)


def _is_utf8(data: bytes) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(data)
    try:
        for offset in range(0, len(data), _CHUNK):
            decoder.decode(view[offset : offset + _CHUNK])
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


Widths = Callable[[int, int], bool]
"""Whether every row of the text has `count` delimiters (`delimiter` a byte)."""


def _line_spans(data: bytes, start: int) -> tuple[str, str, Sequence[int], Widths] | None:
    """The header line, the first row's line and the line of each row (the header is line 1)
    of text whose every CR ends a line (blank lines are no rows), and a check of the rows'
    widths; `None` where the header line is blank, there is no row, or a line is longer than
    the csv module takes a cell."""
    if len(data) <= start:
        return None
    text = np.frombuffer(data, dtype=np.uint8)
    ends = np.concatenate(
        [np.flatnonzero(text[i : i + _CHUNK] == 10) + i for i in range(start, len(text), _CHUNK)]
        or [np.zeros(0, dtype=np.intp)]
    )
    if len(ends) == 0 or ends[-1] != len(text) - 1:  # a last line without a line end
        ends = np.append(ends, len(text))
    starts = np.concatenate([[start], ends[:-1] + 1])
    lengths = ends - starts
    if len(lengths) == 0 or lengths.max() > csv.field_size_limit():
        return None
    cr = text[np.minimum(starts, len(text) - 1)] == 13
    blank = (lengths == 0) | ((lengths == 1) & cr)
    if blank[0] or blank[1:].all():
        return None
    rows = np.flatnonzero(~blank[1:]) + 1
    lines: Sequence[int] = (
        range(2, len(blank) + 1) if len(rows) == len(blank) - 1 else (rows + 1).tolist()
    )
    first = int(rows[0])

    def line(k: int) -> str:
        return data[starts[k] : ends[k]].decode("utf-8").rstrip("\r")

    def widths(delimiter: int, count: int) -> bool:
        found = np.flatnonzero(text == delimiter)
        per_line = np.searchsorted(found, ends[rows]) - np.searchsorted(found, starts[rows])
        return bool((per_line == count).all())

    return line(0), line(first), lines, widths


def _parse(
    opener: TextOpener, delimiter: str, numbers: list[bool], usecols: list[int] | None
) -> np.ndarray | None:
    """The rows of the text after its header as a structured array: a float64 field for each
    column flagged in `numbers` (side by side, in column order), then the text ones as str."""
    count = sum(numbers)
    offsets, text_seen = [], 0
    for j, is_number in enumerate(numbers):
        offsets.append(8 * (j - text_seen) if is_number else 8 * (count + text_seen))
        text_seen += not is_number
    dtype = np.dtype(
        {
            "names": [f"c{j}" for j in range(len(numbers))],
            "formats": [np.float64 if is_number else object for is_number in numbers],
            "offsets": offsets,
            "itemsize": 8 * len(numbers),
        }
    )
    try:
        with opener() as handle:
            return np.loadtxt(
                handle,
                dtype=dtype,
                delimiter=delimiter,
                comments=None,
                skiprows=1,
                ndmin=1,
                usecols=usecols,
            )
    except ValueError:  # a cell that is no number, a row of another width, a changed file
        return None


def _reread(
    opener: TextOpener, delimiter: str, columns: list[int], rows: int, file: str
) -> list[list[str]]:
    """The cells of columns `columns` (from 0) of plain text numpy parsed, as written."""
    with opener() as handle:
        cells = np.loadtxt(
            handle,
            dtype=object,
            delimiter=delimiter,
            comments=None,
            skiprows=1,
            ndmin=2,
            usecols=columns,
        )
    if len(cells) != rows:
        raise DataError("the file changed while it was read; read it again", file)
    return [[cell.strip() for cell in column] for column in cells.T.tolist()]


# --- a file in chunks ---------------------------------------------------------------------


def csv_chunks(
    handle: IO[bytes],
    kind: str,
    file: str,
    rows: int,
    wanted: Sequence[str] | None = None,
    on_header: Callable[[list[str]], None] | None = None,
) -> Iterator[CsvColumns]:
    """The rows of the CSV/TSV file open in `handle` (binary, seekable, at its start) as
    columns of at most `rows` rows each, in file order, each row at its file line; what a
    chunk holds in memory is bounded by `BLOCK_BYTES` (or a row, if longer).

    Args:
        wanted: The columns parsed as numbers where they are (the others are read as text when
            asked for). Defaults to every column.
        on_header: Called with the header's column names before any row is read.

    Raises:
        DataError: the file has no header row, a row has another number of cells, is not UTF-8
            text, or is not valid CSV, at its file line.
    """
    head = handle.readline()
    start = len(_BOM) if head.startswith(_BOM) else 0
    if b'"' in head or _lone_cr(head):  # a quoted header (R's write.csv), old Mac line ends:
        handle.seek(0)  # every record by the careful reader
        yield from _records_from(handle, kind, file, rows, 0, 1, None, on_header)
        return
    try:
        header = head[start:].decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise _not_utf8(head, exc, 0, 1, file) from None
    if not header.strip():
        raise DataError("empty file, expected a header row", file, 1)
    delimiter = "\t" if kind == "tsv" else ","
    names = header_names(header.split(delimiter), file)
    if on_header is not None:
        on_header(names)
    line, offset = 2, len(head)
    for piece in _line_blocks(handle, rows):
        if b'"' in piece or _lone_cr(piece):  # a quoted cell may hold line ends; a lone CR
            # ends a line: read records, as the csv module splits them, from here on
            handle.seek(offset)
            yield from _records_from(handle, kind, file, rows, offset, line, names)
            return
        columns = _chunk(head[start:], piece, kind, file, line, offset, names, wanted)
        if columns.rows:
            yield columns
        line += piece.count(b"\n") + piece.count(b"\r") - piece.count(b"\r\n")  # a lone CR too
        offset += len(piece)


def _lone_cr(data: bytes) -> bool:
    """Whether `data` holds a CR that ends a line alone (old Mac files), not before an LF."""
    return data.count(b"\r") != data.count(b"\r\n")


def _line_blocks(handle: IO[bytes], rows: int) -> Iterator[bytes]:
    """The rest of `handle` as runs of whole lines, about `BLOCK_BYTES` and at most `rows`
    lines each."""
    rest = b""
    while True:
        block = handle.read(BLOCK_BYTES)
        data = rest + block
        if not block:
            if data:
                yield data
            return
        ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
        taken = 0
        for k in range(rows - 1, len(ends), rows):
            yield data[taken : ends[k] + 1]
            taken = int(ends[k]) + 1
        last = int(ends[-1]) + 1 if len(ends) else 0
        if last > taken:
            yield data[taken:last]
            taken = last
        rest = data[taken:]


def _chunk(
    head: bytes,
    piece: bytes,
    kind: str,
    file: str,
    line: int,
    offset: int,
    names: list[str],
    wanted: Sequence[str] | None,
) -> CsvColumns:
    """The columns of `piece` (whole lines, without quotes, the first at file line `line` and
    byte `offset`) under header line `head`: numpy's where it reads them, else the careful
    reader's."""
    data = head + piece
    layout = _plain_layout(data, kind, file, line, wanted)
    if layout is not None and layout.names == names:
        text = data.decode("utf-8")
        columns = _parsed(layout, kind, file, lambda: io.StringIO(text))
        if columns is not None:
            return columns
    try:
        text = piece.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(piece, exc, offset, line, file) from None
    with csv_records(io.StringIO(text, newline=""), kind, file, lambda: [], line) as records:
        return _cells(records, names, file)


def _not_utf8(data: bytes, exc: UnicodeDecodeError, offset: int, line: int, file: str) -> DataError:
    """The error for bytes `data` (at byte `offset` and line `line` of `file`) that are not
    UTF-8 where `exc` says, as the whole file's reader reports it."""
    return DataError(
        f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {offset + exc.start} "
        "(save the file as UTF-8)",
        file,
        line + data.count(b"\n", 0, exc.start),
    )


def _records_from(
    handle: IO[bytes],
    kind: str,
    file: str,
    rows: int,
    offset: int,
    line: int,
    names: list[str] | None,
    on_header: Callable[[list[str]], None] | None = None,
) -> Iterator[CsvColumns]:
    """The careful reader from byte `offset` (line `line`) of `handle` on, `rows` records at a
    time; `names` the header's (`None`: the records start with the header)."""

    def blocks() -> Iterator[bytes]:  # the file again, to find a byte that is not UTF-8
        handle.seek(0)
        while block := handle.read(BLOCK_BYTES):
            yield block

    encoding = "utf-8-sig" if offset == 0 else "utf-8"
    text = io.TextIOWrapper(handle, encoding=encoding, newline="")  # type: ignore[arg-type]
    try:
        with csv_records(text, kind, file, blocks, line) as records:
            if names is None:
                names = header_names(next(records, (1, []))[1], file)
                if not names:
                    raise DataError("empty file, expected a header row", file, 1)
                if on_header is not None:
                    on_header(names)
            while True:
                columns = _cells(records, names, file, rows)
                if not columns.rows:
                    return
                yield columns
    finally:
        text.detach()
