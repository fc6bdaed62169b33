"""Parquet sources (`kerascli.data.parquet`, streamed by `table_stream`): the same rows, values,
labels and class names as the CSV of the same table, only the needed columns read, nulls
handled by `data.missing`, errors naming the file and the row, and the column names `kerascli
validate` checks."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from kerascli.data.model_arrays import read_split  # noqa: E402
from kerascli.data.parquet import parquet_chunks, parquet_file  # noqa: E402
from kerascli.data.sources import open_source  # noqa: E402
from kerascli.data.stream import Stream  # noqa: E402
from kerascli.spec import SpecError  # noqa: E402
from kerascli.spec.datafile import data_header  # noqa: E402
from tests.data.test_table_stream import (  # noqa: E402
    CLASSES,
    assert_same,
    concatenated,
    problem,
    spec_of,
    write_table,
)


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kerascli.data.stream.CHUNK_ROWS", 64)


def to_parquet(csv: Path, path: Path, row_group_size: int = 100, **types: Any) -> Path:
    """The CSV table `csv` written as Parquet (column `types` as given, else inferred)."""
    from pyarrow import csv as pa_csv

    options = pa_csv.ConvertOptions(column_types=types)
    pq.write_table(
        pa_csv.read_csv(csv, convert_options=options), path, row_group_size=row_group_size
    )
    return path


def test_parquet_gives_what_the_csv_of_the_same_table_gives(tmp_path: Path) -> None:
    csv = write_table(tmp_path / "set.csv", 500)
    path = to_parquet(csv, tmp_path / "set.parquet")
    data = {"features": ["a", "b", "c"], "target": "y", "sample_weight": "w"}
    classes: dict[str, list[str]] = {}
    stream = open_source(spec_of(tmp_path, {"path": "set.parquet", **data}), str(path), classes)
    assert isinstance(stream, Stream) and stream.rows == 500
    assert classes == {"": CLASSES}
    assert len(list(stream.chunks())) == 8
    whole = read_split(spec_of(tmp_path, {"path": "set.csv", **data}), str(csv), {})
    assert_same(concatenated(stream), whole)
    assert stream.label_counts is not None and whole.y is not None
    np.testing.assert_array_equal(stream.label_counts[""], np.bincount(whole.y))


def test_only_the_needed_columns_are_read(tmp_path: Path) -> None:
    path = to_parquet(write_table(tmp_path / "set.csv", 20), tmp_path / "set.parquet")
    parquet = parquet_file(str(path), str(path))
    ((first, columns),) = list(parquet_chunks(parquet, str(path), 64, ["b", "y"]))
    assert first == 0 and columns.rows == 20
    assert columns.names == ["a", "b", "c", "w", "y", "id"]  # the schema, for messages
    assert set(columns.number_fields) == {"b"} and set(columns.cells_read) == {"y"}


def test_implied_features_are_every_column_but_the_target(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    table = pa.table(
        {
            "a": rng.normal(size=200),
            "n": rng.integers(0, 9, size=200),
            "flag": rng.integers(0, 2, size=200).astype(bool),
            "y": pa.array(rng.choice(CLASSES, size=200)).dictionary_encode(),
        }
    )
    pq.write_table(table, tmp_path / "set.parquet")
    spec = spec_of(tmp_path, {"path": "set.parquet", "target": "y"})
    assert data_header(spec) == ("set.parquet", ["a", "n", "flag", "y"])
    classes: dict[str, list[str]] = {}
    streamed = concatenated(open_source(spec, str(tmp_path / "set.parquet"), classes))
    assert classes == {"": CLASSES}
    expected = np.column_stack([table["a"], table["n"], table["flag"]]).astype(np.float32)
    np.testing.assert_array_equal(streamed.x, expected)
    np.testing.assert_array_equal(streamed.y, [CLASSES.index(v) for v in table["y"].to_pylist()])


def test_pandas_index_columns_are_no_features(tmp_path: Path) -> None:
    table = pa.table({"a": [1.0, 2.0], "y": ["cat", "dog"], "__index_level_0__": [10, 20]})
    pandas = {"index_columns": ["__index_level_0__"], "column_indexes": [], "columns": []}
    table = table.replace_schema_metadata({"pandas": json.dumps(pandas)})  # as pandas writes
    pq.write_table(table, tmp_path / "set.parquet")
    spec = spec_of(tmp_path, {"path": "set.parquet", "target": "y"}, features=1)
    assert data_header(spec) == ("set.parquet", ["a", "y"])
    streamed = concatenated(open_source(spec, str(tmp_path / "set.parquet"), {}))
    assert streamed.x.tolist() == [[1.0], [2.0]]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("missing", "rows", "a"),
    [("drop", 3, [1.0, 4.0, 5.0]), (0, 5, [1.0, 0.0, 3.0, 4.0, 5.0]), ({"a": -1, "b": 7}, 5, None)],
)
def test_nulls_follow_the_missing_policy(
    tmp_path: Path, missing: Any, rows: int, a: list[float] | None
) -> None:
    table = pa.table(
        {
            "a": [1.0, None, 3.0, 4.0, 5.0],
            "b": pa.array([1, 2, None, 4, 5], pa.int64()),
            "y": ["cat", "dog", "cat", "eel", "dog"],
        }
    )
    pq.write_table(table, tmp_path / "set.parquet")
    data = {"path": "set.parquet", "features": ["a", "b"], "target": "y", "missing": missing}
    streamed = concatenated(
        open_source(spec_of(tmp_path, data, features=2), str(tmp_path / "set.parquet"), {})
    )
    assert streamed.rows == rows
    assert streamed.x.dtype == np.float32  # type: ignore[union-attr]
    if a is not None:
        assert streamed.x[:, 0].tolist() == a  # type: ignore[index, union-attr]
    else:
        assert streamed.x.tolist() == [[1, 1], [-1, 2], [3, 7], [4, 4], [5, 5]]  # type: ignore[union-attr]


def test_a_null_or_nan_is_an_error_at_its_row_by_default(tmp_path: Path) -> None:
    values = np.arange(300, dtype=np.float64)
    b = pa.array(values, mask=np.arange(300) == 210)
    y = np.array(["cat", "dog"] * 150)
    pq.write_table(pa.table({"a": values, "b": b, "y": y}), tmp_path / "set.parquet")
    data = {"path": "set.parquet", "features": ["a", "b"], "target": "y"}
    path = str(tmp_path / "set.parquet")
    with pytest.raises(SpecError) as caught:
        list(open_source(spec_of(tmp_path, data, features=2), path, {}).chunks())
    assert problem(caught) == (
        "empty value in column 'b' at row index 210 (counting from 0)",
        path,
        None,
    )
    values[170] = np.nan
    pq.write_table(pa.table({"a": values, "b": values, "y": y}), tmp_path / "set.parquet")
    with pytest.raises(SpecError) as caught:
        list(open_source(spec_of(tmp_path, data, features=2), path, {}).chunks())
    assert problem(caught) == (
        "non-finite value 'nan' in column 'a' at row index 170 (counting from 0)",
        path,
        None,
    )


def test_column_and_file_problems_name_the_file(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"a": [1.0], "when": pa.array([1], pa.date32()), "y": ["cat"]}),
        tmp_path / "set.parquet",
    )
    path = str(tmp_path / "set.parquet")
    data = {"path": "set.parquet", "features": ["a", "b"], "target": "y"}
    with pytest.raises(SpecError) as caught:
        list(open_source(spec_of(tmp_path, data, features=2), path, {}).chunks())
    assert problem(caught) == ("no column 'b'", path, None)
    data["features"] = ["a", "when"]
    with pytest.raises(SpecError, match="column 'when' holds Parquet type date32"):
        list(open_source(spec_of(tmp_path, data, features=2), path, {}).chunks())
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(SpecError) as caught:
        open_source(
            spec_of(tmp_path, {**data, "path": "bad.parquet"}), str(tmp_path / "bad.parquet"), {}
        )
    assert problem(caught)[0].startswith("cannot read Parquet: ")


def test_without_pyarrow_the_message_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = to_parquet(write_table(tmp_path / "set.csv", 5), tmp_path / "set.parquet")
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # `import` raises ImportError
    data = {"path": "set.parquet", "features": ["a", "b", "c"], "target": "y"}
    with pytest.raises(SpecError) as caught:
        open_source(spec_of(tmp_path, data), str(path), {})
    assert problem(caught) == (
        "reading Parquet needs pyarrow: pip install 'kerascli[parquet]'",
        str(path),
        None,
    )
    assert data_header(spec_of(tmp_path, data)) is None


def test_a_parquet_path_with_a_scheme_is_read_through_tensorflow(tmp_path: Path) -> None:
    """`file://` stands for `gs://`: pyarrow reads the file through `tf.io.gfile`."""
    csv = write_table(tmp_path / "set.csv", 150)
    to_parquet(csv, tmp_path / "set.parquet", row_group_size=40)
    data = {"features": ["a", "b", "c"], "target": "y"}
    remote = f"file://{tmp_path}/set.parquet"
    stream = open_source(spec_of(tmp_path, {"path": remote, **data}), remote, {})
    assert isinstance(stream, Stream) and stream.rows == 150
    assert_same(
        concatenated(stream),
        read_split(spec_of(tmp_path, {"path": "set.csv", **data}), str(csv), {}),
    )


def test_a_column_name_given_twice_is_refused(tmp_path: Path) -> None:
    """Which of two `alcohol` columns a spec means cannot be told: refused, as in a CSV."""
    table = pa.table(
        [pa.array([1.0, 2.0]), pa.array([0.0, 0.0]), pa.array(["a", "b"])], names=["x", "x", "y"]
    )
    path = tmp_path / "dup.parquet"
    pq.write_table(table, path)
    spec = spec_of(tmp_path, {"path": "dup.parquet", "features": ["x"], "target": "y"}, features=1)
    with pytest.raises(SpecError, match="duplicate column name 'x' \\(columns 1 and 2\\)"):
        list(open_source(spec, str(path), {}).chunks())
