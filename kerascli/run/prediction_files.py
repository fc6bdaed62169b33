"""Prediction files: the format an output file's extension names, written a chunk at a time,
atomically, never an overwrite by surprise.

`prediction_file(path)` gives a writer taking the predictions a chunk of rows at a time, writing
a temporary file beside `path` that replaces it only when every chunk is written;
`text_stream(stream)` writes CSV on a text stream (stdout) the same way. Each writer's cells are those of the one
format (`table_rows`, `json_lines`), built per chunk with one `%` call, not cell by cell.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, TextIO

import numpy as np

from kerascli.spec.problems import KerasCliError, Problem, SpecError

FORMATS = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".npy": "NPY (one float array, a row per input row)",
    ".parquet": "Parquet (needs pyarrow)",
    ".jsonl": "JSON Lines (an object per row)",
}
"""What `predict -o` writes, by the output file's extension."""

Columns = dict[str, np.ndarray]

TEXT_ROWS = 8_192
"""Rows whose CSV or JSON text is built at once (its Python objects, a few MB)."""


def check_output(path: Path, force: bool, keep: list[str]) -> None:
    """Refuse, before any work, an output whose extension names no format we write, one that
    exists (without `force`), or `--keep` columns for a format that has no column names.

    Raises:
        SpecError: an argument error (exit 2).
        KerasCliError: Parquet asked for without pyarrow installed.
    """
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        kinds = ", ".join(FORMATS)
        raise _argument_error(f"cannot tell what to write from '{path.name}': use one of {kinds}")
    if path.is_dir():
        raise _argument_error(f"{path} is a directory; give a file name")
    if path.exists() and not force:
        raise _argument_error(f"{path} exists; pass --force to overwrite it")
    if keep and suffix == ".npy":
        raise _argument_error(
            "--keep needs a format with column names (.csv, .tsv, .parquet, .jsonl)"
        )
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise KerasCliError(
                "writing .parquet needs pyarrow: pip install 'kerascli[parquet]'"
            ) from None


def _argument_error(message: str) -> SpecError:
    return SpecError([Problem(message, "", "--output")])


class PredictionWriter:
    """Takes the predictions a chunk of rows at a time: `columns`, the named prediction (and
    kept input) columns; `arrays`, the model's raw outputs (what an NPY file holds). This
    base class writes nothing."""

    def write(self, columns: Columns, arrays: list[np.ndarray]) -> None:
        """Write a chunk's rows."""

    def finish(self) -> None:
        """Complete the file once every chunk is written."""


class _Lines(PredictionWriter):
    """A line per row: CSV or TSV (`table_rows`) after a header line, or JSON Lines
    (`json_lines`, no `delimiter`)."""

    def __init__(self, emit: Callable[[str], None], delimiter: str | None) -> None:
        self.emit, self.delimiter, self.started = emit, delimiter, delimiter is None

    def write(self, columns: Columns, arrays: list[np.ndarray]) -> None:
        if self.delimiter is not None and not self.started:
            self.emit(_csv_line(list(columns), self.delimiter))
            self.started = True
        for block in _blocks(columns):
            delimiter = self.delimiter
            self.emit(json_lines(block) if delimiter is None else table_rows(block, delimiter))


def _blocks(columns: Columns) -> Iterator[Columns]:
    """`columns` in blocks of `TEXT_ROWS` rows: the text of a block at a time in memory."""
    rows = len(next(iter(columns.values()))) if columns else 0
    for start in range(0, rows, TEXT_ROWS):
        yield {k: v[start : start + TEXT_ROWS] for k, v in columns.items()}


class _Npy(PredictionWriter):
    """The raw outputs side by side, one row per input row: a header with room for any row
    count, the rows as they come, the header's shape set once all are written."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle, self.rows, self.dtype, self.width = handle, 0, np.dtype(np.float32), 0
        self.header = 0

    def write(self, columns: Columns, arrays: list[np.ndarray]) -> None:
        rows = len(arrays[0])
        block = np.concatenate([np.asarray(a).reshape(rows, -1) for a in arrays], axis=1)
        if not self.header:
            self.dtype, self.width = block.dtype, block.shape[1]
            self.header = len(_npy_header(self.dtype, 0, self.width))
            self.handle.write(b"\0" * self.header)  # set by `finish`
        self.handle.write(np.ascontiguousarray(block, dtype=self.dtype).tobytes())
        self.rows += rows

    def finish(self) -> None:
        self.handle.seek(0)
        self.handle.write(_npy_header(self.dtype, self.rows, self.width, self.header))


def _npy_header(dtype: np.dtype, rows: int, width: int, size: int = 0) -> bytes:
    """An NPY 1.0 header for a C-ordered `(rows, width)` array, `size` bytes long (default:
    the length that holds any row count, a multiple of 64 as `np.save` aligns it)."""
    descr = np.lib.format.dtype_to_descr(dtype)
    text = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': ({rows}, {width}), }}"
    if not size:  # 10 bytes of magic, version and length; room for a 20-digit row count
        size = 64 * math.ceil((10 + len(text) + 20 + 1) / 64)
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", size - 10) + f"{text:<{size - 11}}\n".encode()


class _Parquet(PredictionWriter):
    """A row group per chunk, the column types of the first chunk."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.writer: Any = None
        self.schema: Any = None

    def write(self, columns: Columns, arrays: list[np.ndarray]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({k: np.asarray(v) for k, v in columns.items()}, schema=self.schema)
        if self.writer is None:
            self.schema = table.schema
            self.writer = pq.ParquetWriter(self.handle, table.schema)
        self.writer.write_table(table)

    def finish(self) -> None:
        if self.writer is not None:
            self.writer.close()


@contextmanager
def prediction_file(path: Path) -> Iterator[PredictionWriter]:
    """A writer of the format `path`'s extension names (see `FORMATS`): it writes a temporary
    file beside `path`, which replaces `path` when the block ends; when the block raises, the
    temporary file is removed and `path` is left as it was."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:  # check_output refuses these first
        raise _argument_error(f"cannot write '{path.name}'")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        with open(temporary, "xb") as handle:  # (the mode open() gives, as for any file)
            writer = _writer(suffix, handle)
            try:
                yield writer
            except BaseException:
                with suppress(Exception):  # (a Parquet writer closes before its file does)
                    writer.finish()
                raise
            writer.finish()
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _writer(suffix: str, handle: IO[bytes]) -> PredictionWriter:
    def emit(text: str) -> None:
        handle.write(text.encode("utf-8"))

    if suffix in (".csv", ".tsv", ".jsonl"):
        return _Lines(emit, {".csv": ",", ".tsv": "\t"}.get(suffix))
    if suffix == ".npy":
        return _Npy(handle)
    return _Parquet(handle)


def text_stream(stream: TextIO) -> PredictionWriter:
    """A writer of CSV on `stream` (stdout), flushed after every chunk."""

    def emit(text: str) -> None:
        stream.write(text)
        stream.flush()

    return _Lines(emit, ",")


def table_text(columns: Columns, rows: int, delimiter: str = ",") -> str:
    """The columns as CSV (or TSV) text with a header row; floats to 6 significant digits."""
    return _csv_line(list(columns), delimiter) + (table_rows(columns, delimiter) if rows else "")


def table_rows(columns: Columns, delimiter: str = ",") -> str:
    """The rows of `columns` as CSV (or TSV) lines, cell for cell what `csv.writer` writes of
    them: floats to 6 significant digits (`%.6g`), integers as integers, text quoted where a
    cell needs it."""
    cells = [_csv_cells(np.asarray(v), delimiter, len(columns) == 1) for v in columns.values()]
    return _rows(cells, delimiter.join(spec for spec, _ in cells) + "\n")


def json_lines(columns: Columns) -> str:
    """The rows of `columns` as JSON objects, one a line, as `json.dumps` writes them."""
    cells = [_json_cells(np.asarray(v)) for v in columns.values()]
    keys = [json.dumps(name).replace("%", "%%") for name in columns]
    template = (
        "{" + ", ".join(f"{k}: {spec}" for k, (spec, _) in zip(keys, cells, strict=True)) + "}\n"
    )
    return _rows(cells, template)


def _rows(cells: list[tuple[str, list[Any]]], template: str) -> str:
    """`template` filled once per row with the row's cells (one `%` call for all rows)."""
    if not cells:
        return ""
    rows, width = len(cells[0][1]), len(cells)
    flat: list[Any] = [None] * (rows * width)
    for j, (_, values) in enumerate(cells):
        flat[j::width] = values
    return (template * rows) % tuple(flat)


def _csv_cells(values: np.ndarray, delimiter: str, alone: bool) -> tuple[str, list[Any]]:
    """The `%` format and the values of one column's cells."""
    if values.dtype.kind == "f":
        return "%.6g", values.tolist()
    if values.dtype.kind in "iu":
        return "%d", values.tolist()
    if values.dtype.kind == "b":
        return "%s", values.tolist()
    if values.dtype.kind != "U":  # anything else as `csv.writer` writes it: str(), None empty
        values = np.array(["" if v is None else str(_cell(v)) for v in values], dtype=str)
    texts = values.tolist()
    special = np.zeros(len(values), dtype=bool)
    for char in (delimiter, '"', "\n", "\r"):
        special |= np.char.find(values, char) >= 0
    if alone:  # a row of one empty cell is written `""`
        special |= values == ""
    for i in np.flatnonzero(special):
        texts[i] = _quoted(texts[i], delimiter, alone)
    return "%s", texts


def _quoted(text: str, delimiter: str, alone: bool) -> str:
    """`text` as `csv.writer` writes it in a row of one cell (`alone`) or of more."""
    if alone:
        return _csv_line([text], delimiter)[:-1]
    return _csv_line([text, ""], delimiter)[:-2]


def _cell(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, (float, np.floating)) else value


def _csv_line(cells: list[Any], delimiter: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerow(cells)
    return buffer.getvalue()


def _json_cells(values: np.ndarray) -> tuple[str, list[Any]]:
    """The `%` format and the JSON text (or numbers) of one column's cells."""
    if values.dtype.kind == "f" and np.isfinite(values).all():
        return "%r", values.tolist()  # a finite float's JSON is its repr
    if values.dtype.kind in "iu":
        return "%d", values.tolist()
    if values.dtype.kind == "b":
        return "%s", np.where(values, "true", "false").tolist()
    if values.dtype.kind == "U":  # each distinct text encoded once (class labels)
        distinct, index = np.unique(values, return_inverse=True)
        encoded = np.array([json.dumps(v) for v in distinct.tolist()], dtype=object)
        return "%s", encoded[index.reshape(-1)].tolist()
    return "%s", [json.dumps(v) for v in values.tolist()]
