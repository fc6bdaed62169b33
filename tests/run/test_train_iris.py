"""End to end on the iris example: train, the run directory, evaluate, predict, runs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerascli.spec import load_spec

from .conftest import SPECS

IRIS = SPECS / "iris_mlp.yaml"


def test_run_directory_holds_everything(iris_run: Path) -> None:
    for name in (
        "spec.yaml",
        "model.keras",
        "history.csv",
        "history.png",
        "metrics.json",
        "run.json",
        "train.log",
    ):
        assert (iris_run / name).is_file(), name
    record = json.loads((iris_run / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["seed"] == 7
    assert record["versions"]["keras"].startswith("3.")
    assert record["classes"] == {"target": ["setosa", "versicolor", "virginica"]}
    assert record["ended"] >= record["started"]
    with open(iris_run / "history.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == record["epochs_done"] == 2
    log = (iris_run / "train.log").read_text().splitlines()
    assert log[0].startswith("kerascli train") and log[-1] == "completed"
    assert log[-2].startswith("test: ")
    assert len([line for line in log if line.startswith("epoch ")]) == len(rows)
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    metrics = json.loads((iris_run / "metrics.json").read_text())
    assert set(metrics) == {"train", "validation", "test"}
    assert record["metrics"] == {
        f"{prefix}{name}": value
        for split, prefix in (("train", ""), ("validation", "val_"), ("test", "test_"))
        for name, value in metrics[split].items()
    }


def test_saved_spec_is_the_resolved_spec(iris_run: Path) -> None:
    saved = load_spec(iris_run / "spec.yaml")
    original = load_spec(IRIS, overrides=["fit.epochs=2"])  # as the shared run was trained
    assert saved.model_dump() == original.model_dump()
    path = yaml.safe_load((iris_run / "spec.yaml").read_text())["data"]["path"]
    assert not path.startswith("/")  # relative to the run, so a copied run still names it
    assert (iris_run / path).resolve() == (IRIS.parent / "data" / "iris.csv").resolve()


def test_evaluate_json(cli, iris_run: Path) -> None:
    result = cli("evaluate", iris_run, "--json")
    assert result.code == 0, result.err
    document = result.json()
    assert document["data"] == "test"
    stored = json.loads((iris_run / "metrics.json").read_text())["test"]
    assert document["metrics"]["accuracy"] == pytest.approx(stored["accuracy"])


def test_evaluate_table_and_other_split(cli, iris_run: Path) -> None:
    result = cli("evaluate", iris_run / "model.keras", "--split", "validation")
    assert result.code == 0, result.err
    assert "validation" in result.out and "accuracy" in result.out
    missing = cli("evaluate", iris_run, "--split", "holdout")
    assert missing.code == 2
    assert "no 'holdout' split" in missing.err


def _predict_features(cli, run: Path, tmp_path: Path) -> tuple[list[dict], list[dict]]:
    """The iris rows, and what `run` predicts from their features alone (no target column)."""
    with open(SPECS / "data" / "iris.csv") as handle:
        rows = list(csv.DictReader(handle))
    features = tmp_path / "features.csv"
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    with open(features, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows([row[name] for name in names] for row in rows)
    output = tmp_path / "predictions.csv"
    result = cli("predict", run, features, "--output", output)
    assert result.code == 0, result.err
    with open(output) as handle:
        return rows, list(csv.DictReader(handle))


def test_predict_csv_without_target(cli, iris_run: Path, tmp_path: Path) -> None:
    _, predicted = _predict_features(cli, iris_run, tmp_path)
    assert len(predicted) == 150
    assert list(predicted[0]) == ["species", "p_setosa", "p_versicolor", "p_virginica"]
    assert {p["species"] for p in predicted} <= {"setosa", "versicolor", "virginica"}
    for p in predicted[:5]:
        total = sum(float(p[f"p_{c}"]) for c in ("setosa", "versicolor", "virginica"))
        assert total == pytest.approx(1.0, abs=1e-3)


def test_predict_npy_and_json(cli, iris_run: Path, tmp_path: Path) -> None:
    output = tmp_path / "predictions.npy"
    result = cli("predict", iris_run, SPECS / "data" / "iris.csv", "-o", output, "--json")
    assert result.code == 0, result.err
    assert result.json()["rows"] == 150
    assert np.load(output).shape == (150, 3)


@pytest.mark.slow
def test_iris_full_run_reaches_090(cli, tmp_path: Path) -> None:
    result = cli("train", IRIS, "--runs-dir", tmp_path, "--quiet", "--json")
    assert result.code == 0, result.err
    run = Path(result.json()["run_dir"])
    assert json.loads((run / "run.json").read_text())["epochs_done"] >= 5
    evaluated = cli("evaluate", run, "--json")
    assert evaluated.code == 0, evaluated.err
    assert evaluated.json()["metrics"]["accuracy"] >= 0.9
    rows, predicted = _predict_features(cli, run, tmp_path)
    correct = sum(p["species"] == r["species"] for p, r in zip(predicted, rows, strict=True))
    assert correct / 150 >= 0.9


def test_runs_never_overwrite_and_list(cli, iris_run: Path, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    first = runs_dir / "iris-mlp" / "1"
    shutil.copytree(iris_run, first)  # the shared run stays as it is
    result = cli("train", IRIS, "--runs-dir", runs_dir, "--epochs", "1", "--quiet", "--json")
    assert result.code == 0, result.err
    second = Path(result.json()["run_dir"])
    assert second == runs_dir / "iris-mlp" / "2"
    assert (first / "model.keras").is_file()
    listing = cli("runs", runs_dir, "--json")
    assert listing.code == 0
    records = listing.json()["runs"]
    assert [(r["name"], r["n"], r["status"]) for r in records][:2] == [
        ("iris-mlp", 1, "completed"),
        ("iris-mlp", 2, "completed"),
    ]
    compared = cli("runs", runs_dir, "--compare", "iris-mlp/1", "iris-mlp/2", "--json")
    assert compared.code == 0
    diff = {row["key"]: (row["a"], row["b"]) for row in compared.json()["spec_diff"]}
    assert diff["fit.epochs"] == (2, 1)


def test_preprocessing_layers_without_state_are_adapted(cli, tmp_path: Path) -> None:
    first = "model.sequential.layers[0]={Discretization: {num_bins: 4}}"
    result = cli("train", IRIS, "--set", first, "--epochs", "2", "--runs-dir", tmp_path, "--json")
    assert result.code == 0, result.err
    record = json.loads((Path(result.json()["run_dir"]) / "run.json").read_text())
    assert record["adapted"] == ["layers[0]"]


def test_a_preprocessing_layer_deeper_in_is_adapted_on_what_reaches_it(cli, tmp_path: Path) -> None:
    middle = "model.sequential.layers[2]={Normalization: {}}"  # after Normalization and Dense
    result = cli("train", IRIS, "--set", middle, "--epochs", "2", "--runs-dir", tmp_path, "--json")
    assert result.code == 0, result.err
    run = Path(result.json()["run_dir"])
    assert json.loads((run / "run.json").read_text())["adapted"] == ["layers[0]", "layers[2]"]
    import keras

    second = keras.saving.load_model(run / "model.keras").layers[2]
    mean, variance = np.ravel(second.mean), np.ravel(second.variance)
    # adapted (before training) on the 16 outputs of the Dense layer before it, so neither the
    # identity (mean 0, variance 1) nor the 4 raw features
    assert mean.shape == (16,) and not np.allclose(mean, 0.0) and not np.allclose(variance, 1.0)


def test_functional_input_with_its_own_name_is_adapted_on_its_columns(cli, tmp_path: Path) -> None:
    spec = tmp_path / "renamed.yaml"
    spec.write_text(
        f"""
name: renamed
model:
  functional:
    inputs:
      small: {{shape: [2]}}
      big: {{shape: [2], name: big_in}}
    layers:
      big_norm: {{Normalization: {{}}, from: big}}
      hidden: {{Dense: {{units: 4}}, from: small}}
      hidden_norm: {{Normalization: {{}}, from: hidden}}
      merged: {{Concatenate: {{}}, from: [hidden_norm, big_norm]}}
      out: {{Dense: {{units: 3, activation: softmax}}, from: merged}}
    outputs: out
compile: {{loss: sparse_categorical_crossentropy}}
fit: {{epochs: 1}}
data:
  path: {SPECS / "data" / "iris.csv"}
  inputs: {{small: [sepal_width, petal_width], big: [sepal_length, petal_length]}}
  target: species
"""
    )
    result = cli("train", spec, "--runs-dir", tmp_path / "runs", "--json")
    assert result.code == 0, result.err
    run = Path(result.json()["run_dir"])
    assert sorted(json.loads((run / "run.json").read_text())["adapted"]) == [
        "big_norm",
        "hidden_norm",
    ]
    import keras

    model = keras.saving.load_model(run / "model.keras")
    with open(SPECS / "data" / "iris.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    big = [[float(r["sepal_length"]), float(r["petal_length"])] for r in rows]
    np.testing.assert_allclose(
        np.ravel(model.get_layer("big_norm").mean), np.mean(big, axis=0), rtol=1e-4
    )
