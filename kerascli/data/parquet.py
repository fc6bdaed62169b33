"""Read a Parquet file in batches (its row groups streamed by pyarrow, imported lazily), each
as the named columns a CSV/TSV chunk is read into (`CsvColumns`), so that every rule and
message of the CSV reader holds for Parquet too.

A number column (integers, floats, booleans, decimals) is parsed numbers, its nulls gaps (the
missing-value policy fills or drops them, else they are empty cells, an error at their row); a
NaN or an infinity leaves the column as text, where `numeric` reports it. A string column
(or a dictionary of strings, a pandas categorical) is text: class names, or a `string` input.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import IO, Any

import numpy as np

from kerascli.data.table import CsvColumns
from kerascli.spec.datafile import schema_columns
from kerascli.spec.problems import DataError

INSTALL = "reading Parquet needs pyarrow: pip install 'kerascli[parquet]'"


def _pyarrow(file: str) -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(INSTALL, file) from None
    return pq


def parquet_file(source: str | IO[bytes], file: str) -> Any:
    """The `pyarrow.parquet.ParquetFile` of `source` (a path or an open binary file)."""
    pq = _pyarrow(file)
    try:
        return pq.ParquetFile(source)
    except Exception as exc:  # pyarrow's ArrowInvalid, OSError...: not Parquet, truncated
        raise DataError(f"cannot read Parquet: {_reason(exc)}", file) from None


def column_names(parquet: Any, file: str) -> list[str]:
    """The columns of a Parquet file, but the index columns pandas wrote (`__index_level_0__`).

    Raises:
        DataError: a name is given to two columns (which one a spec means cannot be told).
    """
    names = schema_columns(parquet.schema_arrow)
    for name in names:
        if names.count(name) > 1:
            positions = [i for i, n in enumerate(names, start=1) if n == name]
            raise DataError(
                f"duplicate column name '{name}' (columns {positions[0]} and {positions[1]}): "
                "each column needs its own name",
                file,
            )
    return names


def parquet_chunks(
    parquet: Any, file: str, rows: int, wanted: Sequence[str] | None = None
) -> Iterator[tuple[int, CsvColumns]]:
    """The rows of a Parquet file (`parquet_file`) in batches of at most `rows`, each with the
    index of its first row in the file, as named columns.

    Args:
        wanted: The columns to read (those the file has). Defaults to every column.
    """
    names = column_names(parquet, file)
    columns = names if wanted is None else [name for name in dict.fromkeys(wanted) if name in names]
    first = 0
    try:
        batches = parquet.iter_batches(batch_size=rows, columns=columns)
        for batch in batches:
            yield first, _columns(batch, names, file)
            first += batch.num_rows
    except DataError:
        raise
    except Exception as exc:  # a corrupt page, a file that changed
        raise DataError(f"cannot read Parquet: {_reason(exc)}", file) from None


def _reason(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _columns(batch: Any, names: list[str], file: str) -> CsvColumns:
    """A record batch as named columns: numbers parsed (nulls as gaps), strings as cells."""
    import pyarrow as pa

    numbers: list[np.ndarray] = []
    number_names: list[str] = []
    gaps: dict[str, np.ndarray] = {}
    text: dict[str, list[str]] = {}
    arrays: dict[str, Any] = {}
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        if name not in names:
            continue
        if pa.types.is_dictionary(column.type):
            column = column.dictionary_decode()
        if pa.types.is_boolean(column.type):
            column = column.cast(pa.int8())
        arrays[name] = column
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            text[name] = [value if value is not None else "" for value in column.to_pylist()]
            continue
        if not (
            pa.types.is_integer(column.type)
            or pa.types.is_floating(column.type)
            or pa.types.is_decimal(column.type)
        ):
            raise DataError(
                f"column '{name}' holds Parquet type {column.type}; kerascli reads numbers and "
                "strings",
                file,
            )
        values = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        empty = column.is_null().to_numpy(zero_copy_only=False) if column.null_count else None
        present = values if empty is None else values[~empty]
        if not np.isfinite(present).all():  # NaN or infinity: `numeric` says at which row
            text[name] = _written(column)
            continue
        numbers.append(values)
        number_names.append(name)
        if empty is not None:
            gaps[name] = empty

    def reread(wanted: list[str]) -> list[list[str]]:
        return [_written(arrays[name]) for name in wanted]

    structured = None
    if numbers:
        matrix = np.ascontiguousarray(np.column_stack(numbers))
        count = len(numbers)
        layout = np.dtype(
            {
                "names": [f"c{j}" for j in range(count)],
                "formats": [np.float64] * count,
                "offsets": [8 * j for j in range(count)],
                "itemsize": 8 * count,
            }
        )
        structured = matrix.view(layout).reshape(batch.num_rows)
    fields = {name: f"c{j}" for j, name in enumerate(number_names)}
    return CsvColumns(names, batch.num_rows, [], text, structured, fields, reread, gaps)


def _written(column: Any) -> list[str]:
    """A column's values as a CSV cell writes them (`3`, `0.5`, `nan`); a null is empty."""
    return ["" if value is None else str(value) for value in column.to_pylist()]
