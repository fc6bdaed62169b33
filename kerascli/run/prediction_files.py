"""Prediction files: the format an output file's extension names, never an overwrite by surprise."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from kerascli.run.rundir import atomic_write
from kerascli.spec.problems import KerasCliError, Problem, SpecError

FORMATS = {
    ".csv": "CSV",
    ".tsv": "TSV",
    ".npy": "NPY (one float array, a row per input row)",
    ".parquet": "Parquet (needs pyarrow)",
    ".jsonl": "JSON Lines (an object per row)",
}
"""What `predict -o` writes, by the output file's extension."""


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


def _cell(value: Any) -> Any:
    return f"{value:.6g}" if isinstance(value, (float, np.floating)) else value


def table_text(columns: dict[str, np.ndarray], rows: int, delimiter: str = ",") -> str:
    """The columns as CSV (or TSV) text with a header row; floats to 6 significant digits."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(columns)
    for i in range(rows):
        writer.writerow([_cell(v[i]) for v in columns.values()])
    return buffer.getvalue()


def write_output(
    path: Path, columns: dict[str, np.ndarray], arrays: list[np.ndarray], rows: int
) -> None:
    """Write predictions in the format `path`'s extension names (see `FORMATS`), atomically.

    `columns` are the named prediction (and kept input) columns; `arrays` the raw model outputs,
    which an NPY file holds side by side.
    """
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        atomic_write(path, table_text(columns, rows, "\t" if suffix == ".tsv" else ","))
    elif suffix == ".npy":
        buffer = io.BytesIO()
        flat = [np.asarray(a).reshape(rows, -1) for a in arrays]
        np.save(buffer, np.concatenate(flat, axis=1), allow_pickle=False)
        atomic_write(path, buffer.getvalue())
    elif suffix == ".jsonl":
        names = list(columns)
        lists = [np.asarray(v).tolist() for v in columns.values()]
        lines = (json.dumps(dict(zip(names, row, strict=True))) for row in zip(*lists, strict=True))
        atomic_write(path, "".join(f"{line}\n" for line in lines))
    elif suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        pq.write_table(pa.table({k: np.asarray(v) for k, v in columns.items()}), buffer)
        atomic_write(path, buffer.getvalue())
    else:  # check_output refuses these first
        raise _argument_error(f"cannot write '{path.name}'")
