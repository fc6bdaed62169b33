"""Read a CSV/TSV/NPZ/NPY file into a `Table` (`data/table.py`), and its columns or arrays as
typed numpy values, with located errors.

`read_table` reads a file (`csv_table` and `arrays` hold the readers); `numeric`, `text`,
`labels` and `cast` turn its columns or arrays into what a model takes; `apply_missing` applies
`data.missing` to a file in memory and to each chunk of a stream alike.

Long because each rule for a column's cells (numbers, text, class names, missing values) is
written here once, for files in memory and streams alike.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kerascli.data.arrays import array, arrays, read_arrays
from kerascli.data.csv_table import NUMBER as _NUMBER
from kerascli.data.csv_table import read_csv
from kerascli.data.table import CsvColumns, Table
from kerascli.spec.facts import file_format, is_tabular
from kerascli.spec.problems import DataError

if TYPE_CHECKING:
    from kerascli.spec.data_spec import Missing

STRING = "string"
"""The dtype of text: a `dtype: string` input's, a column `data.columns` types as text."""

_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


def read_table(path: str | Path, fmt: str | None = None) -> Table:
    """Read a data file. A plain CSV/TSV file's number columns are parsed here (numpy reads
    them), its other cells stay strings until `numeric` or `labels` reads them."""
    path = Path(path)
    if not path.exists():  # a stat only: nothing here opens a pipe or a device
        raise DataError("data file not found", str(path))
    if not path.is_file():
        raise DataError(
            "not a regular file (a directory, device or pipe): a data file must be a file",
            str(path),
        )
    kind = file_format(path, fmt)
    if is_tabular(kind):
        return Table(str(path), kind, csv=read_csv(path, kind))
    return Table(str(path), kind, columns=read_arrays(path, kind))


def _column(table: Table, name: str) -> list[str] | np.ndarray:
    if table.csv is not None:
        return _csv(table, name).cells(name)
    return array(table, name)


def _csv(table: Table, name: str) -> CsvColumns:
    """The columns of a CSV/TSV table, which must have one named `name`."""
    assert table.csv is not None
    if name not in table.csv.names:
        from kerascli.spec.problems import did_you_mean

        hint = did_you_mean(name, table.csv.names)
        header = 1 if is_tabular(table.kind) else None  # a Parquet file's schema has no line
        raise DataError(f"no column '{name}'{hint}", table.path, header)
    return table.csv


def cast(table: Table, names: list[str] | str, values: np.ndarray, dtype: Any) -> np.ndarray:
    """`values` (read by `numeric` from the columns or arrays `names`, perhaps reshaped) as
    `dtype`; a value that `dtype` cannot hold (`1e39` is infinity in float32) is an error at
    its row, not an infinity or a wrapped-around integer.

    Raises:
        ValueError, TypeError: values that do not convert at all (text for a float dtype).
    """
    dtype = np.dtype(dtype)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's overflow warnings: the check below says it
        out = values.astype(dtype)
        if dtype.kind == "f":
            bad = ~np.isfinite(out)  # `numeric` let finite values only through
        elif dtype.kind in "iu" and values.dtype.kind in "fiu":
            info = np.iinfo(dtype)
            bad = (values < info.min) | (values >= info.max + 1)
            if values.dtype.kind == "f":  # 1.5 for an integer input: not truncated to 1
                bad |= values != np.trunc(values)
        else:
            return out
    if not bad.any():
        return out
    flat = values.reshape(len(values), -1)
    row, j = (int(i) for i in np.argwhere(bad.reshape(len(values), -1))[0])
    value = flat[row, j]
    whole = values.dtype.kind != "f" or not np.isfinite(value) or value == np.trunc(value)
    reason = f"is out of range for {dtype}" if whole else f"is not a whole number ({dtype})"
    columns = [names] if isinstance(names, str) else names
    if table.csv is not None:
        name = columns[j] if len(columns) == flat.shape[1] else columns[0]
        problem = f"value '{_column(table, name)[row]}' in column '{name}'"
        raise table.error(f"{problem} {reason}", row)
    if table.kind == "npy":
        what = "the array"
    elif len(columns) == 1:
        what = f"array '{columns[0]}'"
    elif len(columns) == flat.shape[1]:  # one array per column
        what = f"array '{columns[j]}'"
    else:
        what = f"arrays {', '.join(repr(c) for c in columns)}"
    raise DataError(
        f"value {flat[row, j]} in {what} at row index {table.position(row)} (counting from 0) "
        f"{reason}",
        table.path,
    )


def numeric(table: Table, names: list[str] | str) -> np.ndarray:
    """Numeric values of columns (a 2-D array) or of one NPZ array, as float/int numpy.

    A CSV/TSV cell must be a plain decimal number (`1065`, `-0.5`, `1e-3`): an empty cell, text,
    `1_065`, and NaN or an infinity (`nan`, `inf`, `-Infinity`, or beyond float range) are
    errors at the cell's row, as are NaN and infinities in an NPZ/NPY array.
    """
    if table.csv is None:
        return arrays(table, names, finite=True)
    columns = [names] if isinstance(names, str) else names
    parsed = table.csv.floats(columns) if table.csv is not None else None
    if parsed is not None:  # read by numpy, every cell checked a plain finite number
        return parsed[:, 0] if isinstance(names, str) else parsed
    out = np.empty((table.rows, len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        cells = _csv(table, name)
        floats = cells.floats([name])
        if floats is not None:
            out[:, j] = floats[:, 0]
            continue
        for i, value in enumerate(cells.cells(name)):
            if _NUMBER.fullmatch(value):
                out[i, j] = float(value)
                if np.isfinite(out[i, j]):
                    continue
                problem = f"non-finite value '{value}' in column '{name}' (beyond float range)"
            elif value == "":
                problem = f"empty value in column '{name}'"
            elif _NON_FINITE.fullmatch(value):
                problem = f"non-finite value '{value}' in column '{name}'"
            else:
                problem = f"non-numeric value '{value}' in column '{name}'"
            raise table.error(problem, i)
    return out[:, 0] if isinstance(names, str) else out


def text(table: Table, names: list[str] | str) -> np.ndarray:
    """Text of columns (a 2-D numpy str array) or of one NPZ/NPY array, for a `string` input.

    CSV/TSV cells are taken as written (numbers stay text, empty cells are empty strings); an
    array must hold text: a str array, a bytes array (UTF-8) or an object array of str.
    """
    if table.csv is not None:
        columns = [names] if isinstance(names, str) else names
        cells = [_column(table, name) for name in columns]
        out = np.array(cells, dtype=np.str_).reshape(len(columns), table.rows).T
        return out[:, 0] if isinstance(names, str) else out
    values = arrays(table, names)
    what = f"array '{names if isinstance(names, str) else ', '.join(names)}'"
    if values.dtype.kind == "U":
        return values
    if values.dtype.kind == "S":
        try:
            return np.char.decode(values, "utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"{what}: bytes that are not UTF-8 text ({exc})", table.path) from None
    if values.dtype.kind == "O":
        items: list[str] = []
        for i, value in enumerate(values.reshape(-1)):
            if isinstance(value, bytes):
                try:
                    value = value.decode("utf-8")
                except UnicodeDecodeError:
                    raise DataError(f"{what}: item {i} is not UTF-8 text", table.path) from None
            if not isinstance(value, str):
                raise DataError(
                    f"{what}: item {i} is {type(value).__name__} {value!r}, not text", table.path
                )
            items.append(value)
        return np.array(items, dtype=np.str_).reshape(values.shape)
    raise DataError(
        f"{what} holds {values.dtype} values; a `string` input needs text "
        "(a numpy str array, e.g. np.asarray(texts, dtype=str))",
        table.path,
    )


def is_numeric(table: Table, name: str) -> bool:
    """Whether a CSV column (or an NPZ array) holds numbers, not class names.

    A CSV column is numeric when it holds a number (`numeric`'s plain decimal form) and nothing
    else but missing values (empty cells, `nan`, `inf`), which `numeric` then reports; a column
    `data.columns` types is numeric unless typed `string`.
    """
    if table.csv is None:
        return np.issubdtype(np.asarray(_column(table, name)).dtype, np.number)
    if name in table.types:
        _csv(table, name)  # a column the file has
        return table.types[name] != STRING
    if _csv(table, name).parsed(name):  # plain finite numbers only
        return True
    found = False
    for value in _column(table, name):
        if _NUMBER.fullmatch(value):
            found = True
        elif value != "" and not _NON_FINITE.fullmatch(value):
            return False
    return found


def _is_text(value: str) -> bool:
    """A cell that is text: not a number, and not empty, `nan` or `inf` (missing values)."""
    return value != "" and not _NUMBER.fullmatch(value) and not _NON_FINITE.fullmatch(value)


def first_text(values: list[str]) -> int | None:
    """The row of the first cell of `values` that is text (not a number nor a missing value)."""
    return next((i for i, value in enumerate(values) if _is_text(value)), None)


def first_number(values: list[str]) -> int | None:
    """The row of the first cell of `values` that is a number."""
    return next((i for i, value in enumerate(values) if _NUMBER.fullmatch(value)), None)


def _refuse_mixed(
    table: Table, name: str, values: list[str], distinct: _Distinct | None = None
) -> None:
    """Refuse a column that mixes numbers with text (`0.2`, `NA`, `?`): it is a numeric column
    with a missing-value marker far more often than a set of class names."""
    if name in table.types:  # typed `string`: numbers there are class names too
        return
    cells, first, _ = distinct or _distinct(values)
    numbers = [first[k] for k, value in enumerate(cells) if _NUMBER.fullmatch(value)]
    words = [first[k] for k, value in enumerate(cells) if _is_text(value)]
    if not numbers or not words:
        return
    number, word = int(min(numbers)), int(min(words))
    raise mixed_error(table, name, values[number], values[word], word)


_Distinct = tuple[list[str], np.ndarray, np.ndarray]


def _distinct(values: list[str]) -> _Distinct:
    """The distinct cells of a column (sorted), the row where each first occurs, and the index
    among them of each row's cell: numpy does the per-cell work."""
    cells, first, inverse = np.unique(
        np.asarray(values, dtype=np.str_), return_index=True, return_inverse=True
    )
    return cells.tolist(), first, inverse.reshape(-1)


def mixed_error(table: Table, name: str, number: str, word: str, row: int) -> DataError:
    """The error for column `name` holding both a number (`number`) and text (`word`, at row
    `row` of `table`): a numeric column with a missing-value marker far more often than a set
    of class names."""
    return table.error(
        f"column '{name}' mixes numbers ('{number}') with text ('{word}'): "
        "a number column with a missing or non-numeric value? (class names must all be text)",
        row,
    )


def class_names(table: Table, name: str) -> list[str] | None:
    """The classes of a target column, as training encodes them: the sorted set of its values
    when it holds text (class names); `None` for numbers (used as they are) and for arrays."""
    if table.csv is None or is_numeric(table, name):
        return None
    return sorted(set(_column(table, name)))


def no_class_names(table: Table, name: str) -> DataError:
    """The error for a column of text labels where the model was trained on numeric targets
    (call it for a column that `class_names` finds text in)."""
    values = _column(table, name)
    assert isinstance(values, list)  # a CSV/TSV column
    _refuse_mixed(table, name, values)
    i = next((i for i, value in enumerate(values) if _is_text(value)), None)
    if i is None:  # nothing but empty cells, `nan`, `inf`
        return table.error(f"column '{name}' holds no labels", 0)
    return table.error(
        f"the model was trained on numeric targets (no class names recorded); this file has "
        f"text labels ('{values[i]}') in column '{name}'",
        i,
    )


def labels(table: Table, name: str, classes: list[str], fixed: bool = False) -> np.ndarray:
    """Class ids of a column of class names, in the order of `classes`.

    A column that mixes numbers with text (`0.2`, `NA`, `?`) is refused: it is a numeric column
    with a missing-value marker far more often than a set of class names, and encoding it as
    classes would train a regression on the wrong values. With `fixed` (the classes a model was
    trained with), every value must be one of `classes`: a number there (`2`) is an unknown
    class, never a class id.
    """
    index = {c: i for i, c in enumerate(classes)}
    values = _column(table, name)
    assert isinstance(values, list)  # a CSV/TSV column
    distinct = _distinct(values)
    if not fixed:
        _refuse_mixed(table, name, values, distinct)
    cells, first, inverse = distinct
    bad = [
        first[k]
        for k, value in enumerate(cells)
        if value == "" or _NON_FINITE.fullmatch(value) or value not in index
    ]
    if bad:  # the first row that is no class, as a loop over the rows finds it
        i = int(min(bad))
        value = values[i]
        if value == "" or _NON_FINITE.fullmatch(value):
            written = "empty value" if value == "" else f"non-finite value '{value}'"
            raise table.error(
                f"{written} in class column '{name}': a missing label, not a class", i
            )
        raise table.error(
            f"unknown class '{value}' in column '{name}' (classes: {', '.join(classes)})", i
        )
    ids = np.array([index[value] for value in cells], dtype=np.int64)
    return ids[inverse] if len(values) else np.empty(0, dtype=np.int64)


def column_values(table: Table, name: str) -> np.ndarray:
    """Column (or array) `name` as one value per row: a CSV/TSV column's cells as written."""
    return np.asarray(_column(table, name))


def apply_missing(table: Table, missing: Missing, columns: Sequence[str]) -> Table:
    """`table` with `data.missing` applied to the empty cells (Parquet nulls) of `columns`,
    those the model reads: `error` leaves them (the readers report the first at its row),
    `drop` drops their rows, a value fills them (one for every column, or by column; a column
    left out keeps its empty cells). The one place the policy is applied, for files read into
    memory and for each chunk of a stream.

    Filling changes `table`'s columns in place; dropping gives a new table.
    """
    named = table.csv
    if missing == "error" or named is None:
        return table
    present = [name for name in dict.fromkeys(columns) if name in named.names]
    if missing == "drop":
        empty = np.zeros(table.rows, dtype=bool)
        for name in present:
            empty |= _empty_cells(named, name)
        return table.take(np.flatnonzero(~empty)) if empty.any() else table
    fills = missing if isinstance(missing, dict) else dict.fromkeys(present, missing)
    for name, value in fills.items():
        if name in present:
            _fill(named, name, value)
    return table


def missing_applied(table: Table, missing: Missing, columns: Sequence[str]) -> Table:
    """A whole file with `data.missing` applied (`apply_missing`): a file whose every row is
    dropped is an error, not an empty split."""
    out = apply_missing(table, missing, columns)
    if table.rows and not out.rows:
        raise DataError(NO_ROW_LEFT, table.path)
    return out


NO_ROW_LEFT = (
    "every row has an empty cell in a column the model reads (data.missing: drop): no row left"
)


def _empty_cells(named: CsvColumns, name: str) -> np.ndarray:
    """Which rows of column `name` are empty (no value)."""
    if name in named.gaps:
        return named.gaps[name]
    if named.parsed(name):
        return np.zeros(named.rows, dtype=bool)
    return np.asarray(named.cells(name), dtype=object) == ""


def _written(value: float | str) -> str:
    """A fill value as a cell writes it (`30`, `0.5`, `unknown`)."""
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() and abs(value) < 2**53 else repr(value)


def _fill(named: CsvColumns, name: str, value: float | str) -> None:
    """Fill the empty cells of column `name` with `value`."""
    text = _written(value)
    gaps = named.gaps.pop(name, None)
    if gaps is not None and named.numbers is not None and _NUMBER.fullmatch(text):
        named.numbers[named.number_fields[name]][gaps] = float(text)
    elif gaps is not None:
        named.number_fields.pop(name)  # text in a number column: `numeric` says where
    elif named.parsed(name):
        return  # plain numbers only: nothing empty
    named.cells_read[name] = [text if c == "" else c for c in named.cells(name)]
