"""Hostile data files: one located error (`file:row`), exit code 2 and no traceback, never a
silent wrong answer, at train, `evaluate --data` and `predict` alike."""

from __future__ import annotations

import csv
import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerascli.data.loader import Split, read_split
from kerascli.data.tables import is_numeric, labels, numeric, read_table
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
    assert table.raw["name"] == ["two\nlines", "three"]
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
    assert read_table(path).names()[0] == "sepal_length"
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


# The CLI: train, evaluate --data and predict, through one trained run


@pytest.fixture(scope="module")
def iris_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("hostile-runs")
    result = invoke("train", IRIS, "--epochs", "1", "--runs-dir", runs, "--quiet")
    assert result.code == 0, result.err
    return runs / "iris-mlp" / "1"


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
        assert not result.out.strip(), result.out


def test_evaluate_refuses_hostile_data(iris_run: Path, tmp_path: Path) -> None:
    for path, message in _hostile_files(tmp_path):
        if path.suffix == ".npy":
            continue  # an NPY file holds no targets to evaluate against
        result = invoke("evaluate", iris_run, "--data", path)
        _fails_cleanly(result, message)
        assert "accuracy" not in result.out


def test_evaluate_without_metrics_is_an_error(iris_run: Path) -> None:
    from kerascli.run.inference import evaluate, load_run

    class NoMetrics:
        def evaluate(self, *args: object, **kwargs: object) -> dict[str, float]:
            return {}

    run = dataclasses.replace(load_run(iris_run), model=NoMetrics())
    with pytest.raises(SpecError) as caught:
        evaluate(run, data_file=IRIS_CSV)
    assert "the model gives no metrics to evaluate" in _problem(caught).message
    assert _problem(caught).file == str(IRIS_CSV)
