"""Read a CSV/TSV file into `CsvColumns`: numpy's C parser for a plain file, the careful
per-cell reader for every other file, which locates what is wrong with it.

A plain file (UTF-8, no quote, no NUL, no lone CR, no cell over the csv module's size limit)
splits into cells exactly as the csv module splits it. numpy parses it in one pass: a float64
field for each column whose first cell is a number, the text of the others. The careful reader
takes over, from the start, when numpy cannot parse a cell of such a column as a number, when
a row has another number of cells than the header, or when a number is not finite: every
problem is then reported as it always was, at its file line.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kerascli.data.table import CsvColumns
from kerascli.spec.datafile import csv_rows, header_names
from kerascli.spec.problems import DataError

# A number as a CSV cell writes it: digits, an optional point and exponent. Stricter than
# float(), which also takes `1_065`, `nan`, `inf`, `Infinity` and non-ASCII digits.
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

_BOM = codecs.BOM_UTF8
_CHUNK = 1 << 22  # bytes scanned at a time for line ends


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
    if not lines:
        raise DataError("no data rows: the file has a header row only", file)
    return CsvColumns(header, len(lines), lines, dict(zip(header, cells, strict=True)))


def _read_plain(path: Path, kind: str) -> CsvColumns | None:
    """The columns of a plain file (see the module), parsed by numpy; `None` for another file,
    or where numpy finds a problem (the careful reader then reads it, and says what it is)."""
    delimiter = "\t" if kind == "tsv" else ","
    data = path.read_bytes()
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
    header, first_row, lines = spans
    names = header_names(header.split(delimiter), str(path))  # as the careful reader reads it
    cells = [cell.strip() for cell in first_row.split(delimiter)]
    if len(cells) != len(names):
        return None
    del data
    numbers = _parse(path, delimiter, [bool(NUMBER.fullmatch(cell)) for cell in cells])
    if numbers is None or len(numbers) != len(lines):  # not numbers, or a file that changed
        return None
    fields = dict(zip(names, numbers.dtype.names or (), strict=True))
    text: dict[str, list[str]] = {}
    for name, field in fields.items():
        if numbers[field].dtype == object:
            text[name] = [cell.strip() for cell in numbers[field].tolist()]
        elif not np.isfinite(numbers[field]).all():
            return None  # `nan`, `inf`, `1e999`: the careful reader says where
    number_fields = {name: field for name, field in fields.items() if name not in text}
    position = {name: j for j, name in enumerate(names)}

    def reread(wanted: list[str]) -> list[list[str]]:
        return _reread(path, delimiter, [position[name] for name in wanted], len(lines))

    return CsvColumns(names, len(lines), lines, text, numbers, number_fields, reread)


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


def _line_spans(data: bytes, start: int) -> tuple[str, str, Sequence[int]] | None:
    """The header line, the first row's line and the file line of each row of a file whose
    every CR ends a line (blank lines are no rows); `None` where the header line is blank,
    there is no row, or a line is longer than the csv module takes a cell."""
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

    return line(0), line(first), lines


def _parse(path: Path, delimiter: str, numbers: list[bool]) -> np.ndarray | None:
    """The rows of `path` after its header as a structured array: a float64 field for each
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
        with open(path, encoding="utf-8-sig") as handle:
            return np.loadtxt(
                handle, dtype=dtype, delimiter=delimiter, comments=None, skiprows=1, ndmin=1
            )
    except ValueError:  # a cell that is no number, a row of another width, a changed file
        return None


def _reread(path: Path, delimiter: str, columns: list[int], rows: int) -> list[list[str]]:
    """The cells of columns `columns` (from 0) of a plain file numpy parsed, as written."""
    with open(path, encoding="utf-8-sig") as handle:
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
        raise DataError("the file changed while it was read; read it again", str(path))
    return [[cell.strip() for cell in column] for column in cells.T.tolist()]
