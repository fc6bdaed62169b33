"""Read NPY/NPZ files into arrays by name, safely: no pickled code runs, and no header that
lies about its data size makes numpy allocate what it asks for."""

from __future__ import annotations

import io
import math
import pickle
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from kerascli.data.table import Table
from kerascli.spec.problems import DataError


def read_arrays(path: Path, kind: str) -> dict[str, np.ndarray]:
    """The arrays of an NPY (`{"array": ...}`) or NPZ file (`kind`), by name."""
    what = "an NPY array" if kind == "npy" else "an NPZ archive"
    _check_data_sizes(path, kind, what)
    try:
        loaded = np.load(path, allow_pickle=False)
        if kind == "npy" and isinstance(loaded, np.ndarray):
            return {"array": loaded}
        if kind == "npz" and not isinstance(loaded, np.ndarray):
            with loaded as archive:
                return {k: archive[k] for k in archive.files}
        other = "an NPY array" if isinstance(loaded, np.ndarray) else "an NPZ archive"
        raise DataError(f"cannot read {kind.upper()}: the file is {other}, not {what}", str(path))
    except _CORRUPT as exc:
        reason = str(exc) or type(exc).__name__
    try:  # object arrays (e.g. text saved from a list of str) are pickled: read them safely
        return _read_object_arrays(path, kind)
    except pickle.UnpicklingError as exc:  # an object array holding more than plain values
        raise DataError(f"cannot read {kind.upper()}: object array: {exc}", str(path)) from None
    except Exception:  # not a file of object arrays either: numpy's reason stands
        pass
    raise DataError(
        f"cannot read {kind.upper()}: the file is truncated or not {what} ({reason})", str(path)
    )


def array(table: Table, name: str) -> np.ndarray:
    """The array `name` of an NPZ table, or the array of an NPY one."""
    key = "array" if table.kind == "npy" else name
    if key not in table.columns:
        arrays = ", ".join(table.columns) or "none"
        raise DataError(f"no array '{name}' (arrays: {arrays})", table.path)
    return table.columns[key]


def arrays(table: Table, names: list[str] | str, finite: bool = False) -> np.ndarray:
    """One NPZ/NPY array, or NPZ arrays (one per column) stacked as columns; each must have
    rows, and with `finite` its numbers must be finite."""
    if isinstance(names, str) or len(names) == 1 or table.kind == "npy":
        # an NPY file is one array: for columns named in the spec, it holds them in order
        name = names if isinstance(names, str) else names[0]
        return _rows(table, name, np.asarray(array(table, name)), finite)
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
                f"non-finite value (NaN or infinity) in {what} at row index "
                f"{table.position(row)} (counting from 0)",
                table.path,
            )
    return values


def npy_chunks(handle: IO[bytes], size: int, file: str, rows: int) -> Iterator[np.ndarray] | None:
    """The rows of the NPY stream `handle` (`size` bytes) `rows` at a time, read as they are
    needed: never the whole array in memory. `None` for an array stored otherwise than row
    after row (Fortran order, or pickled objects), which is read whole (`read_arrays`).

    Raises:
        DataError: not an NPY array, or its data is not the size its header says.
    """
    try:
        shape, fortran, dtype = _npy_header(handle)
    except _CORRUPT as exc:
        reason = str(exc) or type(exc).__name__
        raise DataError(
            f"cannot read NPY: the file is truncated or not an NPY array ({reason})", file
        ) from None
    if fortran or dtype.hasobject or not shape:
        return None
    if shape[0] == 0:
        raise DataError(f"no rows: the array has shape {list(shape)}", file)
    need = math.prod(shape) * dtype.itemsize
    if need != size - handle.tell():
        raise DataError(
            f"cannot read NPY: the file is truncated or not an NPY array (its header says shape "
            f"{list(shape)} of {dtype}, {need} bytes of data; the file holds "
            f"{size - handle.tell()})",
            file,
        )
    row_bytes = math.prod(shape[1:]) * dtype.itemsize

    def read() -> Iterator[np.ndarray]:
        for start in range(0, shape[0], rows):
            count = min(rows, shape[0] - start)
            data = handle.read(count * row_bytes)
            if len(data) != count * row_bytes:
                raise DataError("the file changed while it was read; read it again", file)
            yield np.frombuffer(data, dtype=dtype).reshape((count, *shape[1:]))

    return read()


def npy_rows(handle: IO[bytes]) -> int | None:
    """The rows of the NPY array `handle` holds, by its header; `None` where it does not say."""
    try:
        shape, _, _ = _npy_header(handle)
    except _CORRUPT:
        return None
    return shape[0] if shape else None


def _npy_header(handle: IO[bytes]) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(handle)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(handle)
    if version in ((2, 0), (3, 0)):  # 3.0 differs from 2.0 only in the header's encoding
        return np.lib.format.read_array_header_2_0(handle)
    raise ValueError(f"unsupported NPY format version {version}")


def rows_differ(counts: dict[str, int]) -> str:
    """The problem with arrays (by name) that hold different numbers of rows."""
    listed = ", ".join(f"'{name}' {count}" for name, count in counts.items())
    return f"arrays of different lengths: {listed} rows; every array needs one row per example"


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
