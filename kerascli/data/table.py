"""The `Table` a data file (or a chunk of a streamed one) is read into (`kerascli.data.read`
reads it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.lib.stride_tricks import as_strided

from kerascli.spec.facts import is_tabular
from kerascli.spec.problems import DataError


@dataclass
class CsvColumns:
    """The named columns of a CSV/TSV file (or a Parquet batch): each cell as written
    (stripped), and the numbers of the columns the fast reader parsed.

    A parsed column's cells are read again from the file (`reread`) only when asked for: its
    numbers are all most readers need, and a list of str per cell is ~60 bytes a number.
    """

    names: list[str]
    rows: int
    lines: Sequence[int] = field(repr=False)  # the file line each row starts on
    cells_read: dict[str, list[str]] = field(default_factory=dict, repr=False)
    numbers: np.ndarray | None = field(default=None, repr=False)  # a float64 field a number column
    number_fields: dict[str, str] = field(default_factory=dict)  # column -> its field there
    reread: Callable[[list[str]], list[list[str]]] | None = None
    gaps: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    """Where a number column has no value (a Parquet null), by column: such a column is not
    `parsed`; its cells there are empty."""

    def cells(self, name: str) -> list[str]:
        """The cells of column `name` (one of `names`), as written, stripped."""
        if name not in self.cells_read:
            self.read_cells([name])
        return self.cells_read[name]

    def read_cells(self, names: list[str]) -> None:
        """Read the cells of the parsed columns among `names` (in one pass over the file)."""
        missing = [name for name in names if name not in self.cells_read]
        if missing:
            assert self.reread is not None, missing
            self.cells_read.update(zip(missing, self.reread(missing), strict=True))

    def parsed(self, name: str) -> bool:
        """Whether column `name` holds plain decimal numbers only, all finite (parsed)."""
        return name in self.number_fields and name not in self.gaps

    def floats(self, names: list[str]) -> np.ndarray | None:
        """The parsed numbers of columns `names` as a read-only float64 array (rows x names),
        a view where they lie side by side; `None` unless every column was parsed."""
        numbers = self.numbers
        if numbers is None or not names or not all(self.parsed(name) for name in names):
            return None
        fields = [self.number_fields[name] for name in names]
        layout = numbers.dtype.fields
        assert layout is not None
        offsets = [layout[f][1] for f in fields]
        if all(b - a == 8 for a, b in zip(offsets, offsets[1:], strict=False)):
            size = (numbers.dtype.itemsize, 8)
            return as_strided(numbers[fields[0]], (self.rows, len(names)), size, writeable=False)
        out = np.column_stack([numbers[f] for f in fields])
        out.flags.writeable = False
        return out

    def take(self, index: np.ndarray) -> CsvColumns:
        """The rows `index` (positions, in order) of these columns."""
        reread = self.reread

        def reread_taken(names: list[str]) -> list[list[str]]:
            assert reread is not None
            return [[column[i] for i in index.tolist()] for column in reread(names)]

        return CsvColumns(
            self.names,
            len(index),
            np.asarray(self.lines, dtype=np.int64)[index] if len(self.lines) else [],
            {name: [cells[i] for i in index.tolist()] for name, cells in self.cells_read.items()},
            self.numbers[index] if self.numbers is not None else None,
            dict(self.number_fields),
            reread_taken if reread is not None else None,
            {name: gaps[index] for name, gaps in self.gaps.items()},
        )


@dataclass
class Table:
    """Columns (CSV/TSV, Parquet) or arrays (NPZ/NPY) of one file or of a chunk of it, by name.

    Named columns are in `csv`; `lines` holds the file line each CSV/TSV row starts on (blank
    lines are skipped, a quoted cell may span lines), for errors that name a row. A chunk of a
    streamed file without lines (Parquet, NPY) gives each row's index in the file in
    `positions`. `types` are the types `data.columns` declares (`string`: text, never
    numbers).
    """

    path: str
    kind: str
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    csv: CsvColumns | None = None
    positions: Sequence[int] | None = None
    types: dict[str, str] = field(default_factory=dict)

    @property
    def lines(self) -> Sequence[int]:
        return self.csv.lines if self.csv is not None else []

    def line(self, row: int) -> int | None:
        """The file line of row `row` (from 0) of a CSV/TSV table; `None` for arrays."""
        if row < len(self.lines):
            return int(self.lines[row])
        return row + 2 if is_tabular(self.kind) else None

    def position(self, row: int) -> int:
        """The index in its file (from 0) of row `row` of this table."""
        return int(self.positions[row]) if self.positions is not None else row

    def error(self, message: str, row: int) -> DataError:
        """`message` about row `row`, located at its file line, or (a file without lines) at
        its row index."""
        line = self.line(row)
        if line is None:
            where = f" at row index {self.position(row)} (counting from 0)"
            return DataError(message + where, self.path)
        return DataError(message, self.path, line)

    @property
    def rows(self) -> int:
        first = next(iter(self.columns.values()), None)
        if first is not None:
            return len(first)
        return self.csv.rows if self.csv is not None else 0

    def take(self, index: np.ndarray) -> Table:
        """The rows `index` (positions, in order) of this table."""
        positions = np.asarray(self.positions if self.positions is not None else range(self.rows))
        return replace(
            self,
            columns={name: values[index] for name, values in self.columns.items()},
            csv=self.csv.take(index) if self.csv is not None else None,
            positions=positions[index],
        )
