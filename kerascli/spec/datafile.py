"""Read a CSV/TSV data file's rows as every part of kerascli reads them (no numpy here: the spec
checks and the data reader (`kerascli.data`) read the training file's header here, the data
reader the rows)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from kerascli.spec.facts import format_of, is_tabular, training_file
from kerascli.spec.problems import DataError, Problem, SpecError

if TYPE_CHECKING:
    from kerascli.spec.models import Spec

Header = tuple[str, list[str]]
"""The name of a CSV/TSV data file and the column names of its header row."""


@contextmanager
def csv_rows(path: str | Path, fmt: str) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """The records of a CSV/TSV file read as UTF-8 text (a leading BOM dropped), each with the
    file line it starts on (a quoted cell may span lines; a blank line is an empty record).

    A file that is not UTF-8 text, holds a NUL byte (binary data) or is not valid CSV is a
    `SpecError` located at the file and line.
    """
    file = str(path)
    with open(path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(_text_lines(handle, file), delimiter="\t" if fmt == "tsv" else ",")

        def records() -> Iterator[tuple[int, list[str]]]:
            start = 1
            for row in reader:
                yield start, row
                start = reader.line_num + 1

        try:
            yield records()
        except UnicodeDecodeError:
            message, line = _not_utf8(path)
            raise SpecError([Problem(message, "", file, line)]) from None
        except csv.Error as exc:
            message = f"not valid {fmt.upper()}: {exc}"
            raise SpecError([Problem(message, "", file, max(reader.line_num, 1))]) from None


def _text_lines(handle: Iterator[str], file: str) -> Iterator[str]:
    for number, line in enumerate(handle, start=1):
        if "\0" in line:
            raise SpecError([Problem("binary data (a NUL byte), not CSV text", "", file, number)])
        yield line


def _not_utf8(path: str | Path) -> tuple[str, int | None]:
    """What is wrong with a file that does not decode as UTF-8, and the line of the bad byte."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        return f"{message} (save the file as UTF-8)", data.count(b"\n", 0, exc.start) + 1
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


def data_header(spec: Spec) -> Header | None:
    """The header of the CSV/TSV file `data.path` (or `data.train`) names, read as train reads it.

    `None` when there is no data, the file is missing or it is not CSV/TSV.

    Raises:
        SpecError: the header names a column twice, or the file is not UTF-8 CSV/TSV text.
    """
    data = spec.data
    if data is None:
        return None
    source = training_file(data)
    if source is None or not Path(source).is_file():
        return None
    fmt = format_of(source, data.format)
    if fmt is None or not is_tabular(fmt):
        return None
    with csv_rows(source, fmt) as rows:
        first = next(rows, (1, []))[1]
    return Path(source).name, header_names(first, source)
