"""Streamed tables as a `Stream`: CSV/TSV read in chunks of whole lines, Parquet by record
batches (its row groups streamed), NPY by blocks of rows; one file, a glob of files (sorted,
every one with the same columns) or a remote path TensorFlow's file systems read (`gs://`).

Each chunk is a `Table` whose rows keep their file lines (or row indices), made model-ready by
`model_arrays.split_of_table`: every rule and message is the in-memory reader's. Before the
first chunk, a pass over the target columns (`target_pass`) finds the class names by
`read.class_names`'s rule over the whole source, the targets' dtype and the rows of each class.
Memory is bounded by a chunk, never by the file.

Long because the target pass and the files of a source (globs, remote paths, by-file splits)
belong with the chunks they serve, and a module apart would be a second place to look.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import numpy as np

from kerascli.data import stream
from kerascli.data.arrays import npy_chunks, npy_rows, read_arrays
from kerascli.data.csv_table import csv_chunks
from kerascli.data.files import file_errors, open_binary, part_files
from kerascli.data.model_arrays import (
    STRING,
    column_names_of,
    implied_features,
    located,
    split_of_table,
    used_columns,
)
from kerascli.data.parquet import column_names, parquet_chunks, parquet_file
from kerascli.data.partition import hashed_part
from kerascli.data.read import (
    NO_ROW_LEFT,
    apply_missing,
    cast,
    column_values,
    first_number,
    first_text,
    is_numeric,
    labels,
    mixed_error,
    no_class_names,
    numeric,
)
from kerascli.data.stream import Chunk, Stream, with_target_dtypes
from kerascli.data.table import Table
from kerascli.spec.check_sources import column_type_problems
from kerascli.spec.facts import (
    TABULAR,
    is_remote,
    target_columns,
)
from kerascli.spec.models import Columns, DataSpec, Spec
from kerascli.spec.problems import DataError


def table_stream(
    spec: Spec,
    source: str,
    fmt: str,
    classes: dict[str, list[str]],
    require_target: bool = True,
    fixed_classes: bool = False,
    part: str | None = None,
    keep: Sequence[str] = (),
) -> Stream:
    """A CSV/TSV, Parquet or NPY source (`sources.open_source`'s arguments) as a `Stream`:
    the rows of split `part` (by the hash of their position, of `data.split.key`, or of their
    file's name with `by_file`), each chunk's `kept` the columns `keep`."""
    data = spec.data or DataSpec(path=source)
    reading = TableReading(spec, data, fmt, source, part, require_target, keep)
    targets = target_columns(spec) if require_target and fmt != "npy" else {}
    facts = TargetFacts()
    if targets:  # the class names every chunk is encoded with, before the first is
        facts = target_pass(reading, targets, classes, fixed_classes)
    fixed = fixed_classes or bool(targets)

    def chunks() -> Iterator[Chunk]:
        for table in reading.part_tables():
            split = split_of_table(spec, table, classes, require_target, fixed)
            kept = {name: column_values(table, name) for name in keep}
            yield Chunk(with_target_dtypes(split, facts.dtypes), kept)

    counts = facts.counts or None
    return Stream(chunks, rows=reading.known_rows(), label_counts=counts, what=source)


@dataclass
class TableReading:
    """How a streamed table source is read: its files, the columns read, the rows of a split.

    Args:
        part: The split part whose rows `part_tables` gives (`None`: every row).
        require_target: Read targets and sample weights too (not for `predict`).
        keep: Columns passed through for `predict --keep`.
    """

    spec: Spec
    data: DataSpec
    fmt: str
    source: str
    part: str | None
    require_target: bool
    keep: Sequence[str]

    def __post_init__(self) -> None:
        self.files = part_files(self.spec, self.data, self.source, self.part)
        self.used = used_columns(self.spec, self.require_target)
        split = self.data.split
        self.key = split.key if split is not None and self.part is not None else None
        self.by_rows = self.part is not None and split is not None and not split.by_file
        self.by_file_part = self.part is not None and split is not None and split.by_file
        self.wanted = [*self.used, *self.keep, *([self.key] if self.key else [])]
        self.types: dict[str, str] = dict(self.data.columns or {})
        self._header: tuple[str, list[str]] | None = None
        if self.fmt == "npy" and self.keep:
            raise DataError("an NPY file has no columns to keep (--keep)", self.source)
        for path, message, at_key in column_type_problems(self.spec, implied_features(self.spec)):
            raise located(self.spec, path, message, at_key)  # as `validate` says it

    def part_tables(self) -> Iterator[Table]:
        """The chunks of this part, missing values handled (`data.missing`), rows left."""
        found = 0
        for table, in_part in self.tables(self.wanted):
            if in_part is not None:
                table = table.take(np.flatnonzero(in_part))
            table = apply_missing(table, self.data.missing, self.used)
            if table.rows:
                self._check_types(table)
                found += table.rows
                yield table
        if found:
            return
        if self.part is None:
            raise DataError(NO_ROW_LEFT, self.source)
        by = f"its '{self.key}' value" if self.key else "its position"
        raise DataError(
            f"no row falls in the {self.part} part of data.split (a row's part is the hash of "
            f"{by}): too few rows for its fractions",
            self.source,
        )

    def tables(self, wanted: Sequence[str]) -> Iterator[tuple[Table, np.ndarray | None]]:
        """Every chunk of the files, in order, with which of its rows fall in the part (`None`:
        all of them)."""
        position = 0  # of a row over every file, for the hash of rows
        split = self.data.split
        for file in self.files:
            for table in self._file_tables(file, wanted):
                in_part = None
                values: np.ndarray
                if self.by_rows and split is not None and self.part is not None:
                    if self.key is not None:  # hashed as text, as written (`123`, any format)
                        values = np.asarray(column_values(table, self.key)).astype(np.str_)
                    else:
                        values = np.arange(position, position + table.rows, dtype=np.int64)
                    in_part = hashed_part(values, split, self.part, self.spec.seed or 0)
                position += table.rows
                yield table, in_part
        if position == 0:
            only = len(self.files) == 1 and self.fmt in TABULAR
            what = "the file has a header row only" if only else "no file holds a row"
            raise DataError(f"no data rows: {what}", self.files[0] if only else self.source)

    def _file_tables(self, file: str, wanted: Sequence[str]) -> Iterator[Table]:
        first = 0
        with file_errors(file), open_binary(file) as handle:
            for columns in self._columns(file, handle, wanted):
                rows = columns.rows if not isinstance(columns, np.ndarray) else len(columns)
                positions = range(first, first + rows)
                if isinstance(columns, np.ndarray):
                    yield Table(file, "npy", columns={"array": columns}, positions=positions)
                else:
                    yield Table(file, self.fmt, csv=columns, positions=positions, types=self.types)
                first += rows

    def _columns(self, file: str, handle: IO[bytes], wanted: Sequence[str]) -> Iterator[Any]:
        if self.fmt in TABULAR:
            check = lambda names: self._same_header(file, names)  # noqa: E731
            yield from csv_chunks(handle, self.fmt, file, stream.CHUNK_ROWS, wanted, check)
        elif self.fmt == "parquet":
            parquet = parquet_file(handle if is_remote(file) else file, file)  # natively if local
            self._same_header(file, column_names(parquet, file))
            for _, columns in parquet_chunks(parquet, file, stream.CHUNK_ROWS, wanted):
                yield columns
        else:
            yield from _npy_rows(file, handle)

    def _same_header(self, file: str, names: list[str]) -> None:
        """Every file of a glob has the first file's columns, in its order."""
        if self._header is None or self._header[0] == file:
            self._header = (file, names)
            return
        first, expected = self._header
        if names == expected:
            return
        lacks = [name for name in expected if name not in names]
        extra = [name for name in names if name not in expected]
        differ = "; ".join(
            part
            for part in (
                f"lacks {', '.join(lacks)}" if lacks else "",
                f"has {', '.join(extra)} too" if extra else "",
                "" if lacks or extra else "the same columns in another order",
            )
            if part
        )
        raise DataError(
            f"columns differ from {Path(first).name}'s ({differ}): every file of "
            f"{self.source} needs the same columns, in the same order",
            file,
            1 if self.fmt in TABULAR else None,
        )

    def _check_types(self, table: Table) -> None:
        """Input and weight columns `data.columns` types as numbers must hold such numbers."""
        targets = set(column_names_of(list(target_columns(self.spec).values())))
        for name, declared in self.types.items():
            if declared != STRING and name in self.used and name not in targets:
                cast(table, name, numeric(table, name), declared)

    def known_rows(self) -> int | None:
        """The rows of the source where its files say without being read (Parquet, NPY), all
        of them kept (no split part, no row dropped)."""
        if self.part is not None or self.data.missing == "drop" or self.fmt in TABULAR:
            return None
        total = 0
        for file in self.files:
            with file_errors(file), open_binary(file) as handle:
                if self.fmt == "parquet":
                    source = handle if is_remote(file) else file
                    total += parquet_file(source, file).metadata.num_rows
                else:
                    rows = npy_rows(handle)
                    if rows is None:
                        return None
                    total += rows
        return total


def _npy_rows(file: str, handle: IO[bytes], rows: int | None = None) -> Iterator[np.ndarray]:
    """The rows of an NPY file, `stream.CHUNK_ROWS` at a time (read whole where it is not stored row
    after row: Fortran order, or pickled objects)."""
    rows = rows or stream.CHUNK_ROWS
    handle.seek(0, io.SEEK_END)
    size = handle.tell()
    handle.seek(0)
    blocks = npy_chunks(handle, size, file, rows)
    if blocks is not None:
        yield from blocks
        return
    if is_remote(file):
        raise DataError(
            "an NPY array in Fortran order or of objects is read whole: copy it to a local file",
            file,
        )
    whole = read_arrays(Path(file), "npy")["array"]
    if whole.ndim == 0:
        raise DataError("the array holds one value (shape []); expected one row per example", file)
    for start in range(0, len(whole), rows):
        yield whole[start : start + rows]


# --- the target pass -------------------------------------------------------------------------


@dataclass
class TargetFacts:
    """What the target pass found: the dtype of each numeric target (by output key), and the
    rows of the part per class id (`np.bincount` of the ids), where known."""

    dtypes: dict[str, np.dtype] = field(default_factory=dict)
    counts: dict[str, np.ndarray] = field(default_factory=dict)


def target_pass(
    reading: TableReading,
    targets: dict[str, Columns],
    classes: dict[str, list[str]],
    fixed: bool,
) -> TargetFacts:
    """Read the target columns of every row of the source (cheap: only those columns): class
    names where a column holds text (added to `classes`, as `read.class_names` finds them in a
    whole file) or the dtype of its numbers, and the rows of `reading`'s part per class. Every
    label is checked here, so a bad one stops training before it starts.

    Args:
        fixed: `classes` are the model's: a label must be one of them, and an output without
            classes was trained on numbers.
    """
    data = reading.data
    declared = data.columns or {}
    states = {
        key: _Target(
            columns,
            classes.get(key) if fixed else None,
            fixed and key not in classes,
            declared.get(columns) if isinstance(columns, str) else None,
        )
        for key, columns in targets.items()
    }
    read = reading.used if data.missing == "drop" else column_names_of(list(targets.values()))
    for whole, in_part in _all_files(reading, fixed).tables(
        [*read, *([reading.key] if reading.key else [])]
    ):
        if in_part is None and reading.by_file_part:  # a whole file, in the part or not
            in_part = np.full(whole.rows, whole.path in reading.files)
        table = apply_missing(whole, data.missing, read)
        if in_part is not None and table is not whole:  # rows dropped
            in_part = in_part[np.asarray(table.positions) - whole.position(0)]
        for state in states.values():
            state.read(table, in_part)
    facts = TargetFacts()
    for key, state in states.items():
        dtype, counts = state.finish(key, classes)
        if dtype is not None:
            facts.dtypes[key] = dtype
        if counts is not None:
            facts.counts[key] = counts
    return facts


def _all_files(reading: TableReading, fixed: bool) -> TableReading:
    """The reading a target pass reads: with `split.by_file`, every file of the source (its
    classes are the whole source's, whichever files train), else `reading`'s own."""
    if fixed or not reading.by_file_part:
        return reading
    return replace(reading, part=None)


_COUNTED = 1 << 20
"""Integer targets are counted per value (`label_counts`) below this; beyond, not counted."""


@dataclass
class _Target:
    """One output's target column(s) as the target pass reads them, chunk after chunk.

    Args:
        fixed: The classes it is encoded with (the model's); `None` to find them.
        numbers_only: The model was trained on numbers: text is refused.
        declared: The numeric type `data.columns` gives the column.
    """

    columns: Columns
    fixed: list[str] | None
    numbers_only: bool
    declared: str | None
    number: str | None = None  # the column's first number, as written
    word: tuple[Table, str] | None = None  # its first text cell: that row, the text
    names: set[str] = field(default_factory=set)  # the cells of a text column
    per_name: Counter[str] = field(default_factory=Counter)  # rows of the part by class name
    integral: bool = True
    ids: np.ndarray | None = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def read(self, table: Table, in_part: np.ndarray | None) -> None:
        if not isinstance(self.columns, str):  # several columns: a row of numbers
            numeric(table, self.columns)
            self.integral = False
            return
        name = self.columns
        if self.fixed is not None:
            self._count(labels(table, name, self.fixed, fixed=True), in_part)
            return
        if is_numeric(table, name):
            self._numbers(table, name, in_part)
            return
        if self.numbers_only:
            raise no_class_names(table, name)
        cells = table.csv.cells(name) if table.csv is not None else []
        row = first_text(cells)
        if self.number is not None and row is not None:
            raise mixed_error(table, name, self.number, cells[row], row)
        number = first_number(cells) if name not in table.types else None
        if self.word is not None and number is not None:  # text in an earlier chunk
            raise mixed_error(self.word[0], name, cells[number], self.word[1], 0)
        labels(table, name, sorted(set(cells)))  # mixed, empty and NaN cells: at their row
        if row is not None and self.word is None:
            self.word = (table.take(np.array([row])), cells[row])
        self.names.update(cells)
        chosen = np.asarray(cells, dtype=np.str_)
        names, counts = np.unique(
            chosen if in_part is None else chosen[in_part], return_counts=True
        )
        self.per_name.update(dict(zip(names.tolist(), counts.tolist(), strict=True)))

    def _numbers(self, table: Table, name: str, in_part: np.ndarray | None) -> None:
        values = numeric(table, name)
        if self.declared is not None and self.declared != STRING:
            cast(table, name, values, self.declared)  # a whole number for an integer type...
        first = str(column_values(table, name)[0]) if self.number is None or self.word else ""
        if self.word is not None:
            raise mixed_error(self.word[0], name, first, self.word[1], 0)
        self.number = self.number or first
        whole = bool(np.all(np.mod(values, 1) == 0) and np.all(np.abs(values) <= 2**53))
        self.integral &= whole
        if whole:
            self._count(values.astype(np.int64), in_part)
        else:
            self.ids = None

    def _count(self, ids: np.ndarray, in_part: np.ndarray | None) -> None:
        if in_part is not None:
            ids = ids[in_part]
        if self.ids is None or not len(ids):
            return
        if ids.min() < 0 or ids.max() >= _COUNTED:
            self.ids = None
            return
        counts = np.bincount(ids, minlength=max(len(self.ids), len(self.fixed or ())))
        counts[: len(self.ids)] += self.ids
        self.ids = counts

    def finish(
        self, key: str, classes: dict[str, list[str]]
    ) -> tuple[np.dtype | None, np.ndarray | None]:
        """The dtype of the targets (`None`: class ids, int64) and the rows per class id."""
        if not isinstance(self.columns, str):
            return np.dtype(np.float32), None
        if self.fixed is not None:
            return None, self._padded(len(self.fixed))
        if self.names:
            found = classes.setdefault(key, sorted(self.names))
            return None, np.array([self.per_name[name] for name in found], dtype=np.int64)
        if self.declared is not None and self.declared != STRING:
            dtype = np.dtype(self.declared)
        else:
            dtype = np.dtype(np.int64 if self.integral else np.float32)
        return dtype, self.ids if dtype.kind == "i" else None

    def _padded(self, size: int) -> np.ndarray | None:
        if self.ids is None:
            return None
        return np.pad(self.ids, (0, max(0, size - len(self.ids))))
