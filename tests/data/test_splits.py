"""Data loading: CSV/TSV/NPZ/NPY sources, splits, input/output maps and located data errors."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerascli.data import load_data, read_split
from kerascli.data.splits import split_indices
from kerascli.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[2]
IRIS_CSV = ROOT / "model_specs" / "data" / "iris.csv"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _spec(tmp_path: Path, data: dict, model: dict | None = None) -> Path:
    spec = {
        "name": "data-test",
        "seed": 3,
        "model": model
        or {
            "sequential": {
                "input": {"shape": [4]},
                "layers": [{"Dense": {"units": 3, "activation": "softmax"}}],
            }
        },
        "compile": {"loss": "sparse_categorical_crossentropy"},
        "data": data,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _iris_rows() -> list[list[str]]:
    with open(IRIS_CSV, newline="") as handle:
        return list(csv.reader(handle))


def test_csv_split_by_fractions_is_seeded_and_stratified(tmp_path: Path) -> None:
    shutil.copy(IRIS_CSV, tmp_path / "iris.csv")
    split = {"validation": 0.2, "test": 0.2, "stratify": True}
    path = _spec(tmp_path, {"path": "iris.csv", "target": "species", "split": split})
    data = load_data(load_spec(path))
    sizes = {name: s.rows for name, s in data.splits.items()}
    assert sizes == {"train": 90, "validation": 30, "test": 30}
    assert data.classes == {"": ["setosa", "versicolor", "virginica"]}
    for values in data.splits.values():  # stratified: each class keeps its third
        assert np.bincount(values.y, minlength=3).tolist() == [values.rows // 3] * 3
    # Features not named: every column but the target, in file order.
    assert data.splits["train"].x.shape == (90, 4)
    again = load_data(load_spec(path))
    np.testing.assert_array_equal(again.splits["test"].x, data.splits["test"].x)
    other_seed = load_data(load_spec(path, overrides=["seed=4"]))
    assert not np.array_equal(other_seed.splits["test"].x, data.splits["test"].x)


def test_separate_files_and_tsv(tmp_path: Path) -> None:
    header, *rows = _iris_rows()
    for name, part in (("train", rows[0::3]), ("val", rows[1::3]), ("test", rows[2::3])):
        with open(tmp_path / f"{name}.tsv", "w", newline="") as handle:
            writer = csv.writer(handle, delimiter="\t")
            writer.writerow(header)
            writer.writerows(part)
    path = _spec(
        tmp_path,
        {
            "train": "train.tsv",
            "validation": "val.tsv",
            "test": "test.tsv",
            "features": FEATURES,
            "target": "species",
        },
    )
    data = load_data(load_spec(path))
    assert {name: s.rows for name, s in data.splits.items()} == {
        "train": 50,
        "validation": 50,
        "test": 50,
    }
    first = [float(v) for v in rows[0][:4]]
    np.testing.assert_allclose(data.splits["train"].x[0], first)


def test_npz_arrays_by_key_and_npy(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = rng.integers(0, 3, size=40)
    np.savez(tmp_path / "set.npz", features=x, label=y)
    path = _spec(
        tmp_path,
        {"path": "set.npz", "features": "features", "target": "label", "split": {"test": 0.25}},
    )
    data = load_data(load_spec(path))
    assert data.splits["train"].rows == 30 and data.splits["test"].rows == 10
    assert data.splits["train"].y.dtype.kind in "iu"
    # A bare NPY feeds prediction (no targets needed).
    np.save(tmp_path / "x.npy", x[:7])
    split = read_split(load_spec(path), str(tmp_path / "x.npy"), {}, require_target=False)
    assert split.rows == 7 and split.y is None
    np.testing.assert_allclose(split.x, x[:7])


def test_named_inputs_and_outputs_of_a_functional_model(tmp_path: Path) -> None:
    shutil.copy(IRIS_CSV, tmp_path / "iris.csv")
    model = {
        "functional": {
            "inputs": {"sepal": {"shape": [2]}, "petal": {"shape": [2]}},
            "layers": {
                "both": {"Concatenate": {}, "from": ["sepal", "petal"]},
                "species": {"Dense": {"units": 3, "activation": "softmax"}, "from": "both"},
                "width": {"Dense": {"units": 1}, "from": "both"},
            },
            "outputs": ["species", "width"],
        }
    }
    data = {
        "path": "iris.csv",
        "inputs": {"sepal": ["sepal_length", "sepal_width"], "petal": ["petal_length"]},
        "outputs": {"species": "species", "width": "petal_width"},
    }
    # petal gives one column where the model wants two: a located shape error, from the
    # spec checks (validate) and, for a spec loaded unchecked, from the data reader itself.
    with pytest.raises(SpecError) as caught:
        load_spec(_spec(tmp_path, data, model))
    (problem,) = caught.value.problems
    assert problem.path == "data.inputs.petal"
    assert problem.message == "1 column for input 'petal' of shape [2] (needs 2)"
    with pytest.raises(SpecError) as caught:
        load_data(load_spec(_spec(tmp_path, data, model), check=False))
    (problem,) = caught.value.problems
    assert "input 'petal' expects shape [2]" in problem.message
    assert "1 column (petal_length)" in problem.message

    data["inputs"]["petal"] = ["petal_length", "petal_width"]
    loaded = load_data(load_spec(_spec(tmp_path, data, model)))
    train = loaded.splits["train"]
    assert set(train.x) == {"sepal", "petal"} and set(train.y) == {"species", "width"}
    assert train.x["petal"].shape == (150, 2)
    assert train.y["species"].dtype.kind == "i" and train.y["width"].dtype == np.float32
    assert loaded.classes == {"species": ["setosa", "versicolor", "virginica"]}


def test_non_numeric_cell_names_file_row_and_column(tmp_path: Path) -> None:
    header, *rows = _iris_rows()
    rows[9][1] = "n/a"
    with open(tmp_path / "iris.csv", "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    path = _spec(tmp_path, {"path": "iris.csv", "features": FEATURES, "target": "species"})
    with pytest.raises(SpecError) as caught:
        load_data(load_spec(path))
    (problem,) = caught.value.problems
    assert problem.file == str(tmp_path / "iris.csv") and problem.line == 11
    assert "non-numeric value 'n/a' in column 'sepal_width'" in problem.message


def test_ragged_csv_row_is_located(tmp_path: Path) -> None:
    lines = IRIS_CSV.read_text().splitlines()
    lines[5] += ",7"
    (tmp_path / "iris.csv").write_text("\n".join(lines) + "\n")
    path = _spec(tmp_path, {"path": "iris.csv", "target": "species"})
    with pytest.raises(SpecError) as caught:
        load_data(load_spec(path))
    (problem,) = caught.value.problems
    assert problem.line == 6 and "expected 5 values, got 6" in problem.message


def test_missing_npz_key_lists_the_arrays(tmp_path: Path) -> None:
    np.savez(tmp_path / "set.npz", features=np.zeros((4, 4)), label=np.zeros(4))
    path = _spec(tmp_path, {"path": "set.npz", "features": "feature", "target": "label"})
    with pytest.raises(SpecError) as caught:
        load_data(load_spec(path))
    assert "no array 'feature' (arrays: features, label)" in str(caught.value)


def test_split_indices_partition_the_rows() -> None:
    strata = np.repeat([0, 1, 2], [50, 30, 20])
    parts = split_indices(100, 0.1, 0.2, seed=1, strata=strata)
    together = np.sort(np.concatenate(list(parts.values())))
    np.testing.assert_array_equal(together, np.arange(100))
    assert [len(parts[k]) for k in ("train", "validation", "test")] == [70, 10, 20]
    assert np.bincount(strata[parts["test"]]).tolist() == [10, 6, 4]


def test_npz_labels_of_shape_n_by_1_stratify(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    y = np.repeat([0, 1, 2], 20)[:, None]  # labels saved as a column
    np.savez(tmp_path / "set.npz", features=x, label=y)
    split = {"test": 0.25, "stratify": True}
    path = _spec(
        tmp_path, {"path": "set.npz", "features": "features", "target": "label", "split": split}
    )
    test = load_data(load_spec(path)).splits["test"]
    assert np.bincount(test.y[:, 0]).tolist() == [5, 5, 5]


@pytest.mark.parametrize("mapping", ["features", "inputs"])
def test_subclass_with_one_named_input_gets_a_dict(tmp_path: Path, mapping: str) -> None:
    shutil.copy(IRIS_CSV, tmp_path / "iris.csv")
    (tmp_path / "net.py").write_text("class Net:\n    pass\n")  # not imported by load_data
    columns = {"features": FEATURES} if mapping == "features" else {"inputs": {"x": FEATURES}}
    model = {"subclass": {"class": "net.py:Net", "inputs": {"x": {"shape": [4]}}}}
    data = {"path": "iris.csv", **columns, "target": "species", "split": {"test": 0.2}}
    loaded = load_data(load_spec(_spec(tmp_path, data, model)))
    train = loaded.splits["train"]
    assert isinstance(train.x, dict) and set(train.x) == {"x"}  # the model is called on {x: ...}
    assert train.x["x"].shape == (120, 4)
