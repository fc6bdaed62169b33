"""Read a CSV/TSV data file's rows as every part of kerascli reads them (no numpy here: the spec
checks and the data reader (`kerascli.data`) read the training file's header here, the data
reader the rows)."""

from __future__ import annotations

import codecs
import csv
import glob
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from os.path import isfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascli.spec.facts import is_glob, is_remote, is_tabular, source_format, training_file
from kerascli.spec.problems import DataError, Problem, SpecError

if TYPE_CHECKING:
    from kerascli.spec.models import Spec

Header = tuple[str, list[str]]
"""The name of a data file and its column names (a CSV/TSV header row, a Parquet schema)."""


@contextmanager
def csv_rows(path: str | Path, fmt: str) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """The records of a CSV/TSV file read as UTF-8 text (a leading BOM dropped), each with the
    file line it starts on (a quoted cell may span lines; a blank line is an empty record).

    A file that is not UTF-8 text, holds a NUL byte (binary data) or is not valid CSV is a
    `SpecError` located at the file and line.
    """
    with open(path, newline="", encoding="utf-8-sig") as handle:
        with csv_records(handle, fmt, str(path), lambda: _blocks(path)) as records:
            yield records


@contextmanager
def csv_records(
    lines: Iterable[str],
    fmt: str,
    file: str,
    blocks: Callable[[], Iterable[bytes]],
    first_line: int = 1,
) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """The records of the CSV/TSV text `lines` (of file `file`, read with `newline=""`), each
    with the file line it starts on, counting `lines`' first line as `first_line`.

    Args:
        blocks: The file's bytes from its start, in blocks: where a byte is not UTF-8, they
            say which line it is on.
    """
    reader = csv.reader(
        _text_lines(lines, file, first_line), delimiter="\t" if fmt == "tsv" else ","
    )

    def records() -> Iterator[tuple[int, list[str]]]:
        start = first_line
        for row in reader:
            yield start, row
            start = reader.line_num + first_line

    try:
        yield records()
    except UnicodeDecodeError:
        message, line = _not_utf8(blocks())
        raise SpecError([Problem(message, "", file, line)]) from None
    except csv.Error as exc:
        message = f"not valid {fmt.upper()}: {exc}"
        line = max(reader.line_num, 1) + first_line - 1
        raise SpecError([Problem(message, "", file, line)]) from None


def _text_lines(lines: Iterable[str], file: str, first_line: int) -> Iterator[str]:
    for number, line in enumerate(lines, start=first_line):
        if "\0" in line:
            raise SpecError([Problem("binary data (a NUL byte), not CSV text", "", file, number)])
        yield line


def _blocks(path: str | Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            yield block


_BLOCK = 1 << 22


def _not_utf8(blocks: Iterable[bytes]) -> tuple[str, int | None]:
    """What is wrong with a file (its bytes in `blocks`) that does not decode as UTF-8, and the
    line of the bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, lines = 0, 1
    for block in [*blocks, b""]:
        pending = decoder.getstate()[0]
        try:
            decoder.decode(block, final=not block)
        except UnicodeDecodeError as exc:
            data = pending + block
            message = f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset "
            message += f"{offset - len(pending) + exc.start} (save the file as UTF-8)"
            return message, lines + data.count(b"\n", 0, exc.start)
        offset += len(block)
        lines += block.count(b"\n")
    return "not UTF-8 text (save the file as UTF-8)", None


def header_names(cells: list[str], file: str) -> list[str]:
    """The column names of the header row (line 1) of CSV/TSV file `file`, its `cells` stripped.

    Raises:
        DataError: the header names a column twice (positions from 1).
    """
    names = [cell.strip() for cell in cells]
    first: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if name in first:
            raise DataError(
                f"duplicate column name '{name}' (columns {first[name]} and {position}): "
                "each column needs its own name",
                file,
                1,
            )
        first[name] = position
    return names


def glob_files(pattern: str) -> list[str]:
    """The files a local glob `pattern` matches, sorted: `**` crosses folders, and, as in a
    shell, a name starting with `.` matches only a pattern part that starts with `.`. Every
    reader and check of a glob asks this."""
    return sorted(path for path in glob.glob(pattern, recursive=True) if isfile(path))


def data_header(spec: Spec) -> Header | None:
    """The column names of the training source `data.path` (or `data.train`) names, read as
    train reads them: a CSV/TSV file's header row, a Parquet file's schema; a glob's first file
    (sorted), whose header every file of the glob must share.

    `None` when there is no data, the source is missing or remote, or it has no column names.

    Raises:
        SpecError: the header names a column twice, or the file is not UTF-8 CSV/TSV text.
    """
    data = spec.data
    if data is None:
        return None
    source = training_file(data)
    if source is None or is_remote(source):
        return None
    if is_glob(source):
        source = next(iter(glob_files(source)), None)
    if source is None or not Path(source).is_file():
        return None
    fmt = source_format(data, source)
    if fmt == "parquet":
        names = parquet_columns(source)
        return (Path(source).name, names) if names is not None else None
    if fmt is None or not is_tabular(fmt):
        return None
    with csv_rows(source, fmt) as rows:
        first = next(rows, (1, []))[1]
    return Path(source).name, header_names(first, source)


def parquet_columns(path: str | Path) -> list[str] | None:
    """The column names of a Parquet file's schema (pyarrow reads the footer only); `None`
    without pyarrow, or for a file that is not Parquet (reading it says why)."""
    try:
        import pyarrow.parquet as pq  # lazily: kerascli's spec never needs it otherwise
    except ImportError:
        return None
    try:
        return schema_columns(pq.read_schema(path))
    except Exception:  # not Parquet, truncated...: the reader's located error says it
        return None


def schema_columns(schema: Any) -> list[str]:
    """The columns of a Parquet file's schema (a `pyarrow.Schema`), but the index columns pandas
    wrote (`__index_level_0__`): the columns a spec may name."""
    index = (schema.pandas_metadata or {}).get("index_columns", [])
    return [name for name in schema.names if name not in index]
