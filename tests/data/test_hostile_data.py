"""Hostile data files: one located error (`file:row`), exit code 2 and no traceback, never a
silent wrong answer, at train, `evaluate --data` and `predict` alike."""

from __future__ import annotations

import csv
import os
import shutil
import threading
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerascli.data.model_arrays import Split, read_split
from kerascli.data.read import cast, is_numeric, labels, numeric, read_table
from kerascli.data.splits import load_data
from kerascli.spec import SpecError, load_spec
from kerascli.spec.problems import Problem
from tests.conftest import SPECS, Result, invoke

IRIS = SPECS / "iris_mlp.yaml"
IRIS_CSV = SPECS / "data" / "iris.csv"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
HEADER = ",".join([*FEATURES, "species"])


def _problem(caught: pytest.ExceptionInfo[SpecError]) -> Problem:
    (problem,) = caught.value.problems
    return problem


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _iris_lines() -> list[str]:
    return IRIS_CSV.read_text(encoding="utf-8").splitlines()


def _iris_with(tmp_path: Path, row: int, column: int, value: str, name: str = "iris.csv") -> Path:
    """A copy of the iris CSV whose data row `row` (from 1) has `value` in `column`."""
    rows = list(csv.reader(IRIS_CSV.open(newline="")))
    rows[row][column] = value
    path = tmp_path / name
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


def _iris_spec(folder: Path, data_file: str = "iris.csv") -> Path:
    """The iris spec, in `folder`, reading `data_file` there."""
    spec = yaml.safe_load(IRIS.read_text(encoding="utf-8"))
    spec["data"]["path"] = data_file
    path = folder / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def _read(folder: Path, data_file: Path, require_target: bool = True) -> Split:
    spec = load_spec(_iris_spec(folder, data_file.name), check=False)
    return read_split(spec, str(data_file), {}, require_target=require_target)


def _iris_ids(path: Path) -> Path:
    """The iris CSV with class ids 0, 1, 2 (sorted species order) for the species."""
    rows = list(csv.reader(IRIS_CSV.open(newline="")))
    ids = {"setosa": "0", "versicolor": "1", "virginica": "2"}
    for row in rows[1:]:
        row[4] = ids[row[4]]
    with path.open("w", newline="") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)
    return path


def _npz_read(folder: Path, file: str = "set.npz", **arrays: np.ndarray) -> Split:
    """`arrays` saved as an NPZ file read by the iris model, from `features` and `label`."""
    np.savez(folder / file, **arrays)  # type: ignore[arg-type]
    spec = yaml.safe_load(IRIS.read_text(encoding="utf-8"))
    spec["data"] = {"path": file, "features": "features", "target": "label"}
    path = folder / "npz.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return read_split(load_spec(path, check=False), str(folder / file), {})


def _npy_with_header(shape: tuple[int, ...], data: bytes) -> bytes:
    """NPY bytes whose header says `shape` of float64, followed by `data`."""
    import io

    out = io.BytesIO()
    header = {"descr": "<f8", "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + data


def _fails_cleanly(result: Result, *expected: str) -> None:
    assert result.code == 2, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    for text in expected:
        assert text in result.err, result.err


# 1. Non-finite values


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "Infinity", "+INF"])
def test_non_finite_csv_cell_is_a_located_error(tmp_path: Path, value: str) -> None:
    path = _iris_with(tmp_path, 9, 0, value)
    with pytest.raises(SpecError) as caught:
        numeric(read_table(path), FEATURES)
    problem = _problem(caught)
    assert (problem.file, problem.line) == (str(path), 10)
    assert problem.message == f"non-finite value '{value}' in column 'sepal_length'"


def test_number_beyond_float_range_is_non_finite(tmp_path: Path) -> None:
    path = _iris_with(tmp_path, 3, 1, "1e999")
    with pytest.raises(SpecError) as caught:
        numeric(read_table(path), FEATURES)
    assert _problem(caught).line == 4
    assert "non-finite value '1e999' in column 'sepal_width'" in _problem(caught).message


@pytest.mark.parametrize(
    ("value", "message"), [("nan", "non-finite value 'nan'"), ("", "empty value")]
)
def test_missing_numeric_target_is_an_error_not_a_class(
    tmp_path: Path, value: str, message: str
) -> None:
    path = _write(tmp_path / "set.csv", f"a,b,y\n1,2,0\n3,4,1\n5,6,{value}\n")
    table = read_table(path)
    assert is_numeric(table, "y")  # numbers and a missing value: still a numeric column
    with pytest.raises(SpecError) as caught:
        numeric(table, "y")
    assert _problem(caught).line == 4
    assert _problem(caught).message == f"{message} in column 'y'"


@pytest.mark.parametrize(("value", "written"), [("nan", "non-finite value 'nan'"), ("", "empty")])
def test_missing_class_name_is_an_error_not_a_class(
    tmp_path: Path, value: str, written: str
) -> None:
    path = _iris_with(tmp_path, 20, 4, value)
    table = read_table(path)
    assert not is_numeric(table, "species")
    with pytest.raises(SpecError) as caught:
        labels(table, "species", ["nan", "setosa", "versicolor", "virginica", ""])
    problem = _problem(caught)
    assert problem.line == 21
    assert problem.message.startswith(f"{written}")
    assert "in class column 'species': a missing label, not a class" in problem.message
    with pytest.raises(SpecError) as caught:  # as train reads it: classes from the column
        _read(tmp_path, path)
    assert _problem(caught).line == 21 and "a missing label" in _problem(caught).message


def test_non_finite_npy_and_npz_arrays_name_the_array_and_row(tmp_path: Path) -> None:
    x = np.ones((6, 4), dtype=np.float32)
    x[4, 2] = np.nan
    np.save(tmp_path / "x.npy", x)
    with pytest.raises(SpecError) as caught:
        _read(tmp_path, tmp_path / "x.npy", require_target=False)
    problem = _problem(caught)
    assert problem.file == str(tmp_path / "x.npy")
    assert "non-finite value (NaN or infinity) in the array at row index 4" in problem.message

    y = np.array([0.0, 1.0, np.inf, 2.0, 1.0, 0.0])
    np.savez(tmp_path / "set.npz", features=np.ones((6, 4)), label=y)
    table = read_table(tmp_path / "set.npz")
    with pytest.raises(SpecError) as caught:
        numeric(table, "label")
    assert "in array 'label' at row index 2" in _problem(caught).message
    np.savez(tmp_path / "cols.npz", a=np.ones(6), b=np.array([1, 2, 3, np.nan, 5, 6]))
    with pytest.raises(SpecError) as caught:
        numeric(read_table(tmp_path / "cols.npz"), ["a", "b"])
    assert "in array 'b' at row index 3" in _problem(caught).message


@pytest.mark.parametrize("value", ["1e300", "1e39", "-3.5e38"])
def test_number_beyond_float32_is_out_of_range(tmp_path: Path, value: str) -> None:
    path = _iris_with(tmp_path, 3, 1, value)
    with warnings.catch_warnings(), pytest.raises(SpecError) as caught:
        warnings.simplefilter("error")  # and numpy's overflow warning does not leak out
        _read(tmp_path, path)
    problem = _problem(caught)
    assert (problem.file, problem.line) == (str(path), 4)
    assert problem.message == f"value '{value}' in column 'sepal_width' is out of range for float32"


def test_array_beyond_float32_is_out_of_range(tmp_path: Path) -> None:
    x = np.ones((6, 4))
    x[2, 3] = 1e300
    np.save(tmp_path / "x.npy", x)
    with warnings.catch_warnings(), pytest.raises(SpecError) as caught:
        warnings.simplefilter("error")
        _read(tmp_path, tmp_path / "x.npy", require_target=False)
    assert _problem(caught).message == (
        "value 1e+300 in the array at row index 2 (counting from 0) is out of range for float32"
    )
    label = np.array([0.5, 1.5, 1e300, 2.5])  # a regression target
    with warnings.catch_warnings(), pytest.raises(SpecError) as caught:
        warnings.simplefilter("error")
        _npz_read(tmp_path, features=np.ones((4, 4)), label=label)
    assert _problem(caught).message == (
        "value 1e+300 in array 'label' at row index 2 (counting from 0) is out of range for float32"
    )


def test_integral_target_beyond_int64_is_not_wrapped(tmp_path: Path) -> None:
    split = _npz_read(tmp_path, features=np.ones((3, 4)), label=np.array([1.0, 2.0, 1e19]))
    assert split.y is not None and split.y.dtype == np.float32  # type: ignore[union-attr]
    assert float(split.y[2]) == pytest.approx(1e19)  # type: ignore[index]


def test_number_beyond_an_integer_input_is_out_of_range(tmp_path: Path) -> None:
    table = read_table(_write(tmp_path / "set.csv", "a,y\n1,0\n3e9,1\n"))
    with warnings.catch_warnings(), pytest.raises(SpecError) as caught:
        warnings.simplefilter("error")
        cast(table, "a", numeric(table, "a"), "int32")
    assert (_problem(caught).line, _problem(caught).message) == (
        3,
        "value '3e9' in column 'a' is out of range for int32",
    )


def test_complex_arrays_are_refused(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((3, 4), dtype=np.complex128))
    with warnings.catch_warnings(), pytest.raises(SpecError) as caught:
        warnings.simplefilter("error")  # no ComplexWarning either
        _read(tmp_path, tmp_path / "x.npy", require_target=False)
    assert _problem(caught).message == (
        "complex values are not supported (the array holds complex128)"
    )


# 2. Python's float() is not the CSV number syntax


@pytest.mark.parametrize("value", ["1_065", "١٢"])
def test_underscored_and_non_ascii_numbers_are_not_numbers(tmp_path: Path, value: str) -> None:
    path = _write(tmp_path / "set.csv", f"a,y\n1,0\n{value},1\n")
    table = read_table(path)
    assert not is_numeric(table, "a")
    with pytest.raises(SpecError) as caught:
        numeric(table, "a")
    assert _problem(caught).line == 3
    assert _problem(caught).message == f"non-numeric value '{value}' in column 'a'"


# 3. Row numbers with blank lines and quoted newlines


def test_rows_after_blank_lines_keep_their_file_line(tmp_path: Path) -> None:
    lines = _iris_lines()
    cells = lines[30].split(",")  # data row 30, on line 31
    cells[1], cells[4] = "oops", "n/a"
    lines[30] = ",".join(cells)
    text = "\n".join([*lines[:3], "", "", *lines[3:]]) + "\n"  # two blank lines at 4 and 5
    path = _write(tmp_path / "iris.csv", text)
    table = read_table(path)
    assert table.rows == 150
    with pytest.raises(SpecError) as caught:
        numeric(table, FEATURES)
    assert _problem(caught).line == 33  # data row 30 sits on line 31, +2 blank lines
    with pytest.raises(SpecError) as caught:
        labels(table, "species", ["setosa", "versicolor", "virginica"])
    assert _problem(caught).line == 33 and "unknown class 'n/a'" in _problem(caught).message


def test_rows_after_a_quoted_newline_keep_their_file_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "set.csv", 'name,a\n"two\nlines",1\n\nthree,x\n')
    table = read_table(path)
    assert table.csv is not None and table.csv.cells("name") == ["two\nlines", "three"]
    with pytest.raises(SpecError) as caught:
        numeric(table, "a")
    assert _problem(caught).line == 5


# 4. Duplicate header names


def test_duplicate_header_names_are_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "iris.csv", f"species,{HEADER}\nx,{_iris_lines()[1]}\n")
    with pytest.raises(SpecError) as caught:
        read_table(path)
    problem = _problem(caught)
    assert (problem.file, problem.line) == (str(path), 1)
    assert problem.message.startswith("duplicate column name 'species' (columns 1 and 6)")
    with pytest.raises(SpecError) as caught:  # validate reads the header: it says so too
        load_spec(_iris_spec(tmp_path))
    assert "duplicate column name 'species' (columns 1 and 6)" in str(caught.value)


# 5. Not UTF-8 text


def test_non_utf8_csv_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    data = "\n".join(_iris_lines()).encode() + b"\n"
    lines = data.split(b"\n")
    lines[40] = lines[40].replace(b"setosa", b"set\xe9sa")  # Latin-1 é, line 41
    path = tmp_path / "iris.csv"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(SpecError) as caught:
        read_table(path)
    problem = _problem(caught)
    assert (problem.file, problem.line) == (str(path), 41)
    assert problem.message.startswith("not UTF-8 text: byte 0xe9")


def test_binary_csv_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "iris.csv"
    path.write_bytes(f"{HEADER}\n".encode() + bytes(range(128)) * 4)  # NUL: valid UTF-8
    with pytest.raises(SpecError) as caught:
        read_table(path)
    assert _problem(caught).line == 2 and "binary data (a NUL byte)" in _problem(caught).message
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(128, 256)))
    with pytest.raises(SpecError) as caught:
        read_table(path)
    assert _problem(caught).message.startswith("not UTF-8 text: byte 0x89")


def test_validate_reports_a_binary_data_file_and_goes_on(tmp_path: Path) -> None:
    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.mkdir()
    good.mkdir()
    (bad / "iris.csv").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)))
    shutil.copy(IRIS_CSV, good / "iris.csv")
    result = invoke("validate", _iris_spec(bad), _iris_spec(good))
    _fails_cleanly(result, f"{bad / 'iris.csv'}:1: not UTF-8 text: byte 0xff")
    assert f"ok {good / 'spec.yaml'}" in result.out


# 6. A byte-order mark


def test_utf8_bom_is_dropped_from_the_first_column_name(tmp_path: Path) -> None:
    path = tmp_path / "iris.csv"
    path.write_bytes(b"\xef\xbb\xbf" + IRIS_CSV.read_bytes())
    table = read_table(path)
    assert table.csv is not None and table.csv.names[0] == "sepal_length"
    split = _read(tmp_path, path)
    assert split.rows == 150
    load_spec(_iris_spec(tmp_path))  # validate finds the first column too


# 7. No rows


def test_header_only_csv_has_no_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "iris.csv", f"{HEADER}\n\n")
    with pytest.raises(SpecError) as caught:
        read_table(path)
    assert _problem(caught).file == str(path)
    assert _problem(caught).message == "no data rows: the file has a header row only"


def test_zero_row_npy_and_npz_have_no_rows(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((0, 4), dtype=np.float32))
    with pytest.raises(SpecError) as caught:
        _read(tmp_path, tmp_path / "x.npy", require_target=False)
    assert _problem(caught).message == "no rows: the array has shape [0, 4]"
    np.savez(tmp_path / "set.npz", features=np.zeros((0, 4)), label=np.zeros(0))
    with pytest.raises(SpecError) as caught:
        numeric(read_table(tmp_path / "set.npz"), "features")
    assert _problem(caught).message == "no rows: array 'features' has shape [0, 4]"


# 8. Truncated and corrupt NPZ / NPY


def test_truncated_npz_and_corrupt_npy_are_clear_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "whole.npz", features=rng.normal(size=(50, 4)), label=np.zeros(50))
    data = (tmp_path / "whole.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(SpecError) as caught:
        read_table(tmp_path / "cut.npz")
    message = _problem(caught).message
    assert message.startswith("cannot read NPZ: the file is truncated or not an NPZ archive")
    np.save(tmp_path / "whole.npy", rng.normal(size=(50, 4)))
    data = (tmp_path / "whole.npy").read_bytes()
    for name, content in (("cut.npy", data[: len(data) // 2]), ("header.npy", data[:20])):
        (tmp_path / name).write_bytes(content)
        with pytest.raises(SpecError) as caught:
            read_table(tmp_path / name)
        message = _problem(caught).message
        assert message.startswith("cannot read NPY: the file is truncated or not an NPY array")


def test_npz_with_a_corrupt_member_is_a_clear_error(tmp_path: Path) -> None:
    np.savez(tmp_path / "set.npz", features=np.arange(400.0).reshape(100, 4))
    data = bytearray((tmp_path / "set.npz").read_bytes())
    data[200:260] = bytes(60)  # inside the member's data: the CRC no longer matches
    (tmp_path / "set.npz").write_bytes(bytes(data))
    with pytest.raises(SpecError) as caught:
        read_table(tmp_path / "set.npz")
    assert _problem(caught).message.startswith("cannot read NPZ: the file is truncated")


def test_npy_header_promising_more_data_than_the_file_holds(tmp_path: Path) -> None:
    data = np.ones((2, 4)).tobytes()  # 64 bytes, under a header that says 100000000000 rows
    (tmp_path / "x.npy").write_bytes(_npy_with_header((100000000000, 4), data))
    with pytest.raises(SpecError) as caught:
        read_table(tmp_path / "x.npy")
    assert _problem(caught).message == (
        "cannot read NPY: the file is truncated or not an NPY array (its header says shape "
        "[100000000000, 4] of float64, 3200000000000 bytes of data; the file holds 64)"
    )
    with zipfile.ZipFile(tmp_path / "set.npz", "w") as archive:
        archive.writestr("label.npy", _npy_with_header((2,), np.zeros(2).tobytes()))
        archive.writestr("features.npy", _npy_with_header((100000000000, 4), data))
    with pytest.raises(SpecError) as caught:
        read_table(tmp_path / "set.npz")
    assert _problem(caught).message == (
        "cannot read NPZ: the file is truncated or not an NPZ archive (its header says shape "
        "[100000000000, 4] of float64, 3200000000000 bytes of data; array 'features' holds 64)"
    )


def test_npy_named_npz_says_which_it_is(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((3, 4)))
    shutil.copy(tmp_path / "x.npy", tmp_path / "x.npz")
    with pytest.raises(SpecError) as caught:
        read_table(tmp_path / "x.npz")
    assert (
        _problem(caught).message == "cannot read NPZ: the file is an NPY array, not an NPZ archive"
    )


# 9. Wrong width


def test_wrong_width_npy_states_both_counts(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.ones((7, 5), dtype=np.float32))
    with pytest.raises(SpecError) as caught:
        _read(tmp_path, tmp_path / "x.npy", require_target=False)
    assert _problem(caught).message == (
        "the model input expects shape [4] (4 values per row); "
        "the data gives 5 values per row (shape [5], the array)"
    )


# 10. Arrays of different lengths


def test_npz_arrays_of_different_lengths_name_their_rows(tmp_path: Path) -> None:
    columns = {name: np.ones(3) for name in FEATURES}
    columns["petal_width"] = np.ones(2)
    np.savez(tmp_path / "cols.npz", **columns)  # type: ignore[arg-type]
    with pytest.raises(SpecError) as caught:
        numeric(read_table(tmp_path / "cols.npz"), FEATURES)
    assert _problem(caught).message == (
        "arrays of different lengths: 'sepal_length' 3, 'sepal_width' 3, 'petal_length' 3, "
        "'petal_width' 2 rows; every array needs one row per example"
    )
    with pytest.raises(SpecError) as caught:
        _npz_read(tmp_path, features=np.ones((2, 4)), label=np.array([0, 1, 2]))
    assert _problem(caught).file == str(tmp_path / "set.npz")
    assert _problem(caught).message == (
        "arrays of different lengths: 'features' 2, 'label' 3 rows; every array needs one row "
        "per example"
    )


def test_npz_text_target_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        _npz_read(tmp_path, features=np.ones((2, 4)), label=np.array(["setosa", "virginica"]))
    assert _problem(caught).message.startswith(
        "the target array 'label' holds <U9 values; a target array holds numbers"
    )


# 11. Not a regular file


def test_device_or_fifo_is_not_a_regular_file(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    for path in (Path("/dev/zero"), fifo, tmp_path):
        with pytest.raises(SpecError) as caught:
            read_table(path)
        assert (_problem(caught).file, _problem(caught).message) == (
            str(path),
            "not a regular file (a directory, device or pipe): a data file must be a file",
        )


# 12. Class names at evaluate: those the model was trained with


def test_numeric_target_with_a_text_marker_is_refused_at_train(tmp_path: Path) -> None:
    _iris_with(tmp_path, 17, 3, "NA")
    spec = yaml.safe_load(IRIS.read_text(encoding="utf-8"))
    spec["model"]["sequential"]["input"] = {"shape": [3]}
    spec["model"]["sequential"]["layers"][-1] = {"Dense": {"units": 1}}
    spec["compile"] = {"optimizer": "adam", "loss": "mse"}
    spec["callbacks"] = []
    spec["data"] = {"path": "iris.csv", "features": FEATURES[:3], "target": "petal_width"}
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    result = invoke("train", path, "--epochs", "1", "--runs-dir", tmp_path / "runs")
    _fails_cleanly(
        result, "iris.csv:18: column 'petal_width' mixes numbers ('0.2') with text ('NA')"
    )
    assert not (tmp_path / "runs").exists()


def test_separate_files_take_the_training_file_classes(tmp_path: Path) -> None:
    spec = yaml.safe_load(IRIS.read_text(encoding="utf-8"))
    spec["data"] = {"train": "train.csv", "test": "test.csv", "features": FEATURES}
    spec["data"]["target"] = "species"
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    _iris_ids(tmp_path / "train.csv")
    shutil.copy(IRIS_CSV, tmp_path / "test.csv")
    with pytest.raises(SpecError) as caught:
        load_data(load_spec(path, check=False))
    assert (_problem(caught).file, _problem(caught).line) == (str(tmp_path / "test.csv"), 2)
    assert _problem(caught).message.startswith("the model was trained on numeric targets")
    shutil.copy(IRIS_CSV, tmp_path / "train.csv")
    _iris_ids(tmp_path / "test.csv")
    with pytest.raises(SpecError) as caught:
        load_data(load_spec(path, check=False))
    assert _problem(caught).message == (
        "unknown class '0' in column 'species' (classes: setosa, versicolor, virginica)"
    )


# The CLI: train, evaluate --data and predict, through one trained run


def _hostile_files(folder: Path) -> Iterator[tuple[Path, str]]:
    """Data files that must be refused, each with (part of) the message that says why."""
    yield _iris_with(folder, 9, 0, "nan", "nan.csv"), "nan.csv:10: non-finite value 'nan'"
    yield _iris_with(folder, 9, 0, "1_065", "underscore.csv"), ":10: non-numeric value '1_065'"
    yield _iris_with(folder, 9, 4, "nan", "nan_label.csv"), ":10: non-finite value 'nan' in class"
    blank = _iris_lines()
    blank[12] = blank[12].replace("setosa", "")
    text = "\n".join([*blank[:5], "", *blank[5:]]) + "\n"
    yield _write(folder / "blank.csv", text), "blank.csv:14: empty value in class column"
    yield _write(folder / "dup.csv", f"{HEADER},species\n"), "dup.csv:1: duplicate column"
    (folder / "binary.csv").write_bytes(HEADER.encode() + b"\n5.1,3.5\xff\n")
    yield folder / "binary.csv", "binary.csv:2: not UTF-8 text"
    yield _write(folder / "header.csv", f"{HEADER}\n"), "header.csv: no data rows"
    np.save(folder / "empty.npy", np.zeros((0, 4)))
    yield folder / "empty.npy", "empty.npy: no rows"
    np.save(folder / "wide.npy", np.ones((3, 5)))
    yield folder / "wide.npy", "the data gives 5 values per row"
    yield (
        _iris_with(folder, 3, 1, "1e300", "big.csv"),
        ("big.csv:4: value '1e300' in column 'sepal_width' is out of range for float32"),
    )
    np.save(folder / "big.npy", np.array([[1.0, 2.0, 3.0, 1e39]]))
    yield folder / "big.npy", "big.npy: value 1e+39 in the array at row index 0"
    np.save(folder / "complex.npy", np.ones((2, 4), dtype=np.complex64))
    yield folder / "complex.npy", "complex.npy: complex values are not supported"
    (folder / "lying.npy").write_bytes(_npy_with_header((10**11, 4), bytes(64)))
    yield folder / "lying.npy", "lying.npy: cannot read NPY: the file is truncated"
    np.save(folder / "inf.npy", np.array([[1.0, 2.0, 3.0, np.inf]]))
    yield folder / "inf.npy", "inf.npy: non-finite value (NaN or infinity) in the array at row"
    (folder / "cut.npz").write_bytes(b"PK\x03\x04" + bytes(40))
    yield folder / "cut.npz", "cut.npz: cannot read NPZ: the file is truncated"


def test_train_refuses_hostile_data(tmp_path: Path) -> None:
    for path, message in _hostile_files(tmp_path):
        if path.suffix != ".csv" or "dup" in path.name:
            continue  # NPY has no targets to train on; validate reports the duplicate header
        shutil.copy(path, tmp_path / "iris.csv")
        runs = tmp_path / "runs"
        result = invoke("train", _iris_spec(tmp_path), "--epochs", "1", "--runs-dir", runs)
        _fails_cleanly(result, message.replace(path.name, "iris.csv"))
    shutil.copy(tmp_path / "dup.csv", tmp_path / "iris.csv")
    result = invoke("train", _iris_spec(tmp_path), "--epochs", "1", "--runs-dir", tmp_path)
    _fails_cleanly(result, "iris.csv:1: duplicate column name 'species' (columns 5 and 6)")


def test_predict_refuses_hostile_data(iris_run: Path, tmp_path: Path) -> None:
    for path, message in _hostile_files(tmp_path):
        if " in class" in message:
            continue  # a target column, which predict does not read
        result = invoke("predict", iris_run, path)
        _fails_cleanly(result, message)
        assert "Warning" not in result.err, result.err
        assert not result.out.strip(), result.out


def test_predict_and_evaluate_refuse_a_fifo_without_blocking(
    iris_run: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    results: list[Result] = []
    for command in (["predict", iris_run, fifo], ["evaluate", iris_run, "--data", fifo]):
        worker = threading.Thread(target=lambda c=command: results.append(invoke(*c)))
        worker.start()
        worker.join(60)
        if worker.is_alive():  # blocked opening the pipe: give it a writer to end the test
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
            worker.join()
            pytest.fail(f"{command[0]} blocked reading a FIFO")
    for result in results:
        _fails_cleanly(result, f"{fifo}: not a regular file")


def test_evaluate_refuses_hostile_data(iris_run: Path, tmp_path: Path) -> None:
    for path, message in _hostile_files(tmp_path):
        if path.suffix == ".npy":
            continue  # an NPY file holds no targets to evaluate against
        result = invoke("evaluate", iris_run, "--data", path)
        _fails_cleanly(result, message)
        assert "accuracy" not in result.out


@pytest.fixture(scope="module")
def ids_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The iris model trained on class ids 0, 1, 2: a run with no class names."""
    folder = tmp_path_factory.mktemp("ids-run")
    _iris_ids(folder / "iris.csv")
    runs = folder / "runs"
    result = invoke("train", _iris_spec(folder), "--epochs", "1", "--runs-dir", runs, "--quiet")
    assert result.code == 0, result.err
    return runs / "iris-mlp" / "1"


def test_evaluate_maps_labels_through_the_recorded_classes(iris_run: Path, tmp_path: Path) -> None:
    ids = _iris_ids(tmp_path / "ids.csv")
    result = invoke("evaluate", iris_run, "--data", ids)
    _fails_cleanly(
        result,
        f"{ids}:2: unknown class '0' in column 'species' (classes: setosa, versicolor, virginica)",
    )


def test_evaluate_refuses_text_labels_for_a_numeric_run(ids_run: Path, tmp_path: Path) -> None:
    text_labels = shutil.copy(IRIS_CSV, tmp_path / "names.csv")
    result = invoke("evaluate", ids_run, "--data", text_labels)
    _fails_cleanly(
        result,
        f"{text_labels}:2: the model was trained on numeric targets (no class names recorded); "
        "this file has text labels ('setosa') in column 'species'",
    )
    assert invoke("evaluate", ids_run, "--data", _iris_ids(tmp_path / "ids.csv")).code == 0


def test_bare_model_takes_its_classes_from_the_spec_training_file(
    iris_run: Path, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    model = shutil.copy(iris_run / "model.keras", bare / "model.keras")
    spec = iris_run / "spec.yaml"  # its data file is the iris CSV, with class names
    in_run = invoke("evaluate", iris_run, "--data", IRIS_CSV, "--json")
    assert in_run.code == 0, in_run.err
    alone = invoke("evaluate", model, "--spec", spec, "--data", IRIS_CSV, "--json")
    assert alone.code == 0, alone.err
    assert alone.json()["metrics"] == in_run.json()["metrics"]
    ids = _iris_ids(tmp_path / "ids.csv")
    result = invoke("evaluate", model, "--spec", spec, "--data", ids)
    _fails_cleanly(result, f"{ids}:2: unknown class '0' in column 'species'")
    gone = yaml.safe_load(spec.read_text(encoding="utf-8"))
    gone["data"]["path"] = "gone.csv"  # the training file is not there to say
    moved = _write(bare / "spec.yaml", yaml.safe_dump(gone, sort_keys=False))
    result = invoke("evaluate", model, "--spec", moved, "--data", IRIS_CSV)
    _fails_cleanly(result, "the model's class names are unknown", "evaluate the run directory")


def test_a_fraction_for_an_integer_input_is_refused(tmp_path: Path) -> None:
    spec = yaml.safe_load(IRIS.read_text(encoding="utf-8"))
    spec["model"]["sequential"]["input"]["dtype"] = "int32"
    spec["model"]["sequential"]["layers"] = spec["model"]["sequential"]["layers"][1:]
    spec["data"]["path"] = str(IRIS_CSV)
    path = tmp_path / "ints.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = invoke("train", path, "--epochs", "1", "--runs-dir", tmp_path / "runs")
    _fails_cleanly(result, "iris.csv:2: value '5.1' in column 'sepal_length' is not a whole number")


def _object_npy(path: Path, header_shape: tuple[int, ...], pickled: bytes) -> Path:
    import struct

    header = f"{{'descr': '|O', 'fortran_order': False, 'shape': {header_shape}, }}"
    header = header.ljust(63) + "\n"
    path.write_bytes(
        b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + pickled
    )
    return path


class _HugeArray:
    """Pickles as numpy's own `_reconstruct` of an array of 300 million items."""

    def __reduce__(self) -> tuple[object, ...]:
        return (np._core.multiarray._reconstruct, (np.ndarray, (300_000_000,), b"b"))


@pytest.mark.parametrize("header_shape", [(300_000_000,), (1,)])
def test_object_arrays_larger_than_their_file_are_refused(
    tmp_path: Path, header_shape: tuple[int, ...]
) -> None:
    """An object array's header or pickle promising 300 million items in a few bytes must not
    allocate them (gigabytes) before failing."""
    import pickle
    import resource

    small = pickle.dumps(np.array(["a"], dtype=object), protocol=4)
    pickled = small if header_shape != (1,) else pickle.dumps(_HugeArray(), protocol=4)
    path = _object_npy(tmp_path / "bomb.npy", header_shape, pickled)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(SpecError) as caught:
        read_table(path)
    assert "cannot read NPY" in _problem(caught).message
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 500_000  # an array of 300 million pointers is 2.4 GB
