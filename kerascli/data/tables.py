"""Read CSV/TSV/NPZ/NPY files into named numpy arrays, with located errors."""

from __future__ import annotations

import io
import math
import pickle
import re
import warnings
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from kerascli.spec.datafile import csv_rows, duplicate_column
from kerascli.spec.problems import Problem, SpecError


class DataError(SpecError):
    """Data that does not fit the spec: missing file, unknown column, bad value, bad shape.

    Located in the data file (`file:row`) where a row is to blame. Exit code 2.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        super().__init__([Problem(message, "", file, line)])


def file_format(path: str | Path, declared: str | None = None) -> str:
    """`csv`, `tsv`, `npz` or `npy`, from `declared` or the file extension."""
    if declared:
        return declared
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in ("csv", "tsv", "npz", "npy"):
        return suffix
    if suffix == "txt":
        return "csv"
    raise DataError("cannot tell the format from the extension; set data.format", str(path))


# A number as a CSV cell writes it: digits, an optional point and exponent. Stricter than
# float(), which also takes `1_065`, `nan`, `inf`, `Infinity` and non-ASCII digits.
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(?:nan|inf|infinity)", re.IGNORECASE)


@dataclass
class Table:
    """Columns (CSV) or arrays (NPZ) of one file, by name.

    `lines` holds the file line each CSV/TSV row starts on (blank lines are skipped, a quoted
    cell may span lines), for errors that name a row.
    """

    path: str
    kind: str
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    raw: dict[str, list[str]] = field(default_factory=dict)
    lines: list[int] = field(default_factory=list)

    def line(self, row: int) -> int | None:
        """The file line of row `row` (from 0) of a CSV/TSV table; `None` for arrays."""
        if row < len(self.lines):
            return self.lines[row]
        return row + 2 if self.kind in ("csv", "tsv") else None

    @property
    def rows(self) -> int:
        first = next(iter(self.columns.values()), None)
        if first is not None:
            return len(first)
        first_raw = next(iter(self.raw.values()), [])
        return len(first_raw)

    def names(self) -> list[str]:
        return list(self.raw or self.columns)


def read_table(path: str | Path, fmt: str | None = None) -> Table:
    """Read a data file. CSV/TSV cells stay strings until `numeric` or `labels` reads them."""
    path = Path(path)
    if not path.exists():  # a stat only: nothing here opens a pipe or a device
        raise DataError("data file not found", str(path))
    if not path.is_file():
        raise DataError(
            "not a regular file (a directory, device or pipe): a data file must be a file",
            str(path),
        )
    kind = file_format(path, fmt)
    if kind in ("csv", "tsv"):
        return _read_text_table(path, kind)
    what = "an NPY array" if kind == "npy" else "an NPZ archive"
    _check_data_sizes(path, kind, what)
    try:
        loaded = np.load(path, allow_pickle=False)
        if kind == "npy" and isinstance(loaded, np.ndarray):
            return Table(str(path), kind, columns={"array": loaded})
        if kind == "npz" and not isinstance(loaded, np.ndarray):
            with loaded as archive:
                return Table(str(path), kind, columns={k: archive[k] for k in archive.files})
        other = "an NPY array" if isinstance(loaded, np.ndarray) else "an NPZ archive"
        raise DataError(f"cannot read {kind.upper()}: the file is {other}, not {what}", str(path))
    except _CORRUPT as exc:
        reason = str(exc) or type(exc).__name__
    try:  # object arrays (e.g. text saved from a list of str) are pickled: read them safely
        return Table(str(path), kind, columns=_read_object_arrays(path, kind))
    except pickle.UnpicklingError as exc:  # an object array holding more than plain values
        raise DataError(f"cannot read {kind.upper()}: object array: {exc}", str(path)) from None
    except Exception:  # not a file of object arrays either: numpy's reason stands
        pass
    raise DataError(
        f"cannot read {kind.upper()}: the file is truncated or not {what} ({reason})", str(path)
    )


# What reading a cut-off or corrupt NPY/NPZ file raises (numpy, zipfile, zlib).
_CORRUPT = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error)


def _check_data_sizes(path: Path, kind: str, what: str) -> None:
    """Refuse an NPY file, or an NPZ member, that holds other than the bytes its header promises
    (`prod(shape) * itemsize`), before numpy allocates what a lying header asks for. A file
    whose header cannot be read is left to `np.load` to report."""
    problem: str | None = None
    try:
        if not zipfile.is_zipfile(path):
            with open(path, "rb") as handle:
                problem = _size_problem(handle, path.stat().st_size, "the file")
        else:
            with zipfile.ZipFile(path) as archive:
                for info in archive.infolist():
                    if problem is None and info.filename.endswith(".npy"):
                        with archive.open(info) as handle:
                            holder = f"array '{info.filename[: -len('.npy')]}'"
                            problem = _size_problem(handle, info.file_size, holder)
    except _CORRUPT:
        return
    if problem is not None:
        raise DataError(
            f"cannot read {kind.upper()}: the file is truncated or not {what} ({problem})",
            str(path),
        )


def _size_problem(handle: IO[bytes], size: int, holder: str) -> str | None:
    """What is wrong with the data size of the NPY stream `handle` of `size` bytes, or `None`."""
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version in ((2, 0), (3, 0)):  # 3.0 differs from 2.0 only in the header's encoding
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        return None
    if dtype.hasobject:  # pickled: no fixed size
        return None
    need = math.prod(shape) * dtype.itemsize
    have = size - handle.tell()
    if need == have:
        return None
    return (
        f"its header says shape {list(shape)} of {dtype}, {need} bytes of data; "
        f"{holder} holds {have}"
    )


def _read_text_table(path: Path, kind: str) -> Table:
    """A CSV/TSV file's cells by column, and the line of each row."""
    file = str(path)
    with csv_rows(path, kind) as records:
        header = [name.strip() for name in next(records, (1, []))[1]]
        if not header:
            raise DataError("empty file, expected a header row", file, 1)
        duplicate = duplicate_column(header)
        if duplicate is not None:
            raise DataError(duplicate, file, 1)
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
    return Table(file, kind, raw=dict(zip(header, cells, strict=True)), lines=lines)


# What numpy's pickle of an object array names: nothing else is loaded (no code runs).
_ARRAY_GLOBALS = {
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles a numpy object array of plain values (str, bytes, numbers), nothing else, and
    no array of more than `limit` items (numpy's own pickles make an empty one, then fill it)."""

    def __init__(self, data: bytes, limit: int):
        super().__init__(io.BytesIO(data))
        self.limit = limit

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ARRAY_GLOBALS:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a data file")
        found = super().find_class(module, name)
        if name != "_reconstruct":
            return found

        def reconstruct(subtype: Any, shape: Any, dtype: Any) -> Any:
            if math.prod(np.atleast_1d(np.asarray(shape, dtype=np.int64))) > self.limit:
                raise pickle.UnpicklingError(f"an array of shape {shape} in {self.limit} bytes")
            return found(subtype, shape, dtype)

        return reconstruct


def _read_npy(handle: IO[bytes]) -> np.ndarray:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    else:
        raise ValueError(f"unsupported NPY format version {version}")
    if not dtype.hasobject:
        handle.seek(0)
        return np.lib.format.read_array(handle, allow_pickle=False)
    data = handle.read()  # each item takes a byte of the pickle at least
    if math.prod(shape) > len(data):
        raise ValueError(f"the header promises {math.prod(shape)} items in {len(data)} bytes")
    array = _ArrayUnpickler(data, len(data)).load()
    if not isinstance(array, np.ndarray) or array.shape != shape:
        raise ValueError("malformed object array")
    return array


def _read_object_arrays(path: Path, kind: str) -> dict[str, np.ndarray]:
    """The arrays of an NPY/NPZ file that holds object arrays, without running pickled code."""
    if kind == "npy":
        with open(path, "rb") as handle:
            return {"array": _read_npy(handle)}
    arrays: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as archive:
        for member in archive.namelist():
            if member.endswith(".npy"):
                with archive.open(member) as handle:
                    arrays[member[: -len(".npy")]] = _read_npy(handle)
    return arrays


def _column(table: Table, name: str) -> list[str] | np.ndarray:
    if table.kind in ("csv", "tsv"):
        if name not in table.raw:
            from kerascli.spec.problems import did_you_mean

            hint = did_you_mean(name, table.raw)
            raise DataError(f"no column '{name}'{hint}", table.path, 1)
        return table.raw[name]
    key = "array" if table.kind == "npy" else name
    if key not in table.columns:
        arrays = ", ".join(table.columns) or "none"
        raise DataError(f"no array '{name}' (arrays: {arrays})", table.path)
    return table.columns[key]


def _arrays(table: Table, names: list[str] | str, finite: bool = False) -> np.ndarray:
    """One NPZ/NPY array, or NPZ arrays (one per column) stacked as columns; each must have
    rows, and with `finite` its numbers must be finite."""
    if isinstance(names, str) or len(names) == 1 or table.kind == "npy":
        # an NPY file is one array: for columns named in the spec, it holds them in order
        name = names if isinstance(names, str) else names[0]
        return _rows(table, name, np.asarray(_column(table, name)), finite)
    if all(name in table.columns for name in names):  # one array per column
        arrays = [_rows(table, name, np.asarray(table.columns[name]), finite) for name in names]
        counts = {name: len(array) for name, array in zip(names, arrays, strict=True)}
        if len(set(counts.values())) > 1:
            raise DataError(rows_differ(counts), table.path)
        return np.column_stack(arrays)
    missing = [name for name in names if name not in table.columns]
    raise DataError(
        f"no array {', '.join(repr(m) for m in missing)}: give one array per column, or an "
        f"NPY file of the {len(names)} columns in order "
        f"(arrays here: {', '.join(table.columns) or 'none'})",
        table.path,
    )


def _rows(table: Table, name: str, values: np.ndarray, finite: bool) -> np.ndarray:
    """`values` of an NPZ/NPY array, checked: one row per example, finite numbers."""
    what = "the array" if table.kind == "npy" else f"array '{name}'"
    if values.ndim == 0:
        raise DataError(
            f"{what} holds one value (shape []); expected one row per example", table.path
        )
    if len(values) == 0:
        raise DataError(f"no rows: {what} has shape {list(values.shape)}", table.path)
    if finite and values.dtype.kind == "c":
        raise DataError(
            f"complex values are not supported ({what} holds {values.dtype})", table.path
        )
    if finite:
        row = _first_non_finite(values)
        if row is not None:
            raise DataError(
                f"non-finite value (NaN or infinity) in {what} at row index {row} "
                "(counting from 0)",
                table.path,
            )
    return values


def rows_differ(counts: dict[str, int]) -> str:
    """The problem with arrays (by name) that hold different numbers of rows."""
    listed = ", ".join(f"'{name}' {count}" for name, count in counts.items())
    return f"arrays of different lengths: {listed} rows; every array needs one row per example"


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
    if table.kind in ("csv", "tsv"):
        name = columns[j] if len(columns) == flat.shape[1] else columns[0]
        problem = f"value '{table.raw[name][row]}' in column '{name}'"
        raise DataError(f"{problem} {reason}", table.path, table.line(row))
    if table.kind == "npy":
        what = "the array"
    elif len(columns) == 1:
        what = f"array '{columns[0]}'"
    elif len(columns) == flat.shape[1]:  # one array per column
        what = f"array '{columns[j]}'"
    else:
        what = f"arrays {', '.join(repr(c) for c in columns)}"
    raise DataError(
        f"value {flat[row, j]} in {what} at row index {row} (counting from 0) {reason}",
        table.path,
    )


def _first_non_finite(values: np.ndarray) -> int | None:
    """The first row of an array holding NaN or an infinity, else `None`."""
    kind = values.dtype.kind
    if kind in "US":  # text that numpy would read as numbers, `nan` included
        try:
            values = values.astype(np.float64)
        except ValueError:
            return None  # not numbers: the input's dtype check says so
    elif kind == "O":
        floats = (float, complex, np.floating, np.complexfloating)
        flags = [isinstance(v, floats) and not np.isfinite(v) for v in values.reshape(-1)]
        bad = np.array(flags, dtype=bool).reshape(values.shape)
        return int(np.argwhere(bad)[0][0]) if bad.any() else None
    elif kind not in "fc":
        return None
    bad = ~np.isfinite(values)
    return int(np.argwhere(bad)[0][0]) if bad.any() else None


def numeric(table: Table, names: list[str] | str) -> np.ndarray:
    """Numeric values of columns (a 2-D array) or of one NPZ array, as float/int numpy.

    A CSV/TSV cell must be a plain decimal number (`1065`, `-0.5`, `1e-3`): an empty cell, text,
    `1_065`, and NaN or an infinity (`nan`, `inf`, `-Infinity`, or beyond float range) are
    errors at the cell's row, as are NaN and infinities in an NPZ/NPY array.
    """
    if table.kind not in ("csv", "tsv"):
        return _arrays(table, names, finite=True)
    columns = [names] if isinstance(names, str) else names
    out = np.empty((table.rows, len(columns)), dtype=np.float64)
    for j, name in enumerate(columns):
        for i, value in enumerate(_column(table, name)):
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
            raise DataError(problem, table.path, table.line(i))
    return out[:, 0] if isinstance(names, str) else out


def text(table: Table, names: list[str] | str) -> np.ndarray:
    """Text of columns (a 2-D numpy str array) or of one NPZ/NPY array, for a `string` input.

    CSV/TSV cells are taken as written (numbers stay text, empty cells are empty strings); an
    array must hold text: a str array, a bytes array (UTF-8) or an object array of str.
    """
    if table.kind in ("csv", "tsv"):
        columns = [names] if isinstance(names, str) else names
        cells = [_column(table, name) for name in columns]
        out = np.array(cells, dtype=np.str_).reshape(len(columns), table.rows).T
        return out[:, 0] if isinstance(names, str) else out
    values = _arrays(table, names)
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
    else but missing values (empty cells, `nan`, `inf`), which `numeric` then reports.
    """
    if table.kind not in ("csv", "tsv"):
        return np.issubdtype(np.asarray(_column(table, name)).dtype, np.number)
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


def _refuse_mixed(table: Table, name: str, values: list[str]) -> None:
    """Refuse a column that mixes numbers with text (`0.2`, `NA`, `?`): it is a numeric column
    with a missing-value marker far more often than a set of class names."""
    number = next((i for i, value in enumerate(values) if _NUMBER.fullmatch(value)), None)
    word = next((i for i, value in enumerate(values) if _is_text(value)), None)
    if number is None or word is None:
        return
    raise DataError(
        f"column '{name}' mixes numbers ('{values[number]}') with text ('{values[word]}'): "
        "a number column with a missing or non-numeric value? (class names must all be text)",
        table.path,
        table.line(word),
    )


def class_names(table: Table, name: str) -> list[str] | None:
    """The classes of a target column, as training encodes them: the sorted set of its values
    when it holds text (class names); `None` for numbers (used as they are) and for arrays."""
    if table.kind not in ("csv", "tsv") or is_numeric(table, name):
        return None
    return sorted(set(table.raw[name]))


def no_class_names(table: Table, name: str) -> DataError:
    """The error for a column of text labels where the model was trained on numeric targets
    (call it for a column that `class_names` finds text in)."""
    values = table.raw[name]
    _refuse_mixed(table, name, values)
    i = next((i for i, value in enumerate(values) if _is_text(value)), None)
    if i is None:  # nothing but empty cells, `nan`, `inf`
        return DataError(f"column '{name}' holds no labels", table.path, table.line(0))
    return DataError(
        f"the model was trained on numeric targets (no class names recorded); this file has "
        f"text labels ('{values[i]}') in column '{name}'",
        table.path,
        table.line(i),
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
    if not fixed:
        _refuse_mixed(table, name, values)
    out = np.empty(len(values), dtype=np.int64)
    for i, value in enumerate(values):
        if value == "" or _NON_FINITE.fullmatch(value):
            written = "empty value" if value == "" else f"non-finite value '{value}'"
            raise DataError(
                f"{written} in class column '{name}': a missing label, not a class",
                table.path,
                table.line(i),
            )
        if value not in index:
            raise DataError(
                f"unknown class '{value}' in column '{name}' (classes: {', '.join(classes)})",
                table.path,
                table.line(i),
            )
        out[i] = index[value]
    return out
