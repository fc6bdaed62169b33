"""The `Table` a data file is read into (`kerascli.data.read` reads it)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import as_strided

from kerascli.spec.facts import is_tabular


@dataclass
class CsvColumns:
    """The columns of a CSV/TSV file: each cell as written (stripped), and the numbers of the
    columns the fast reader parsed.

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
        return name in self.number_fields

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


@dataclass
class Table:
    """Columns (CSV/TSV) or arrays (NPZ/NPY) of one file, by name.

    A CSV/TSV file's columns are in `csv`; `lines` holds the file line each of its rows starts
    on (blank lines are skipped, a quoted cell may span lines), for errors that name a row.
    """

    path: str
    kind: str
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    csv: CsvColumns | None = None

    @property
    def lines(self) -> Sequence[int]:
        return self.csv.lines if self.csv is not None else []

    def line(self, row: int) -> int | None:
        """The file line of row `row` (from 0) of a CSV/TSV table; `None` for arrays."""
        if row < len(self.lines):
            return int(self.lines[row])
        return row + 2 if is_tabular(self.kind) else None

    @property
    def rows(self) -> int:
        first = next(iter(self.columns.values()), None)
        if first is not None:
            return len(first)
        return self.csv.rows if self.csv is not None else 0
