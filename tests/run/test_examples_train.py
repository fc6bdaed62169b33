"""Every shipped example trains a short seeded run that reaches its stated test metrics, then
evaluates and predicts from its run; digits_cnn also trains its full run (in the slow lane).

Thresholds sit below what the seeded CPU runs reach and well above trivial baselines (the
majority class, a constant guess, repeating the last value), so a model that does not learn
fails them.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from kerascli.spec import load_spec

from .conftest import SPECS
from .test_examples_architectures import TRAINED
from .test_examples_folders import TRAINED as FOLDERS_TRAINED
from .test_examples_tables import TRAINED_TABLES

# spec stem -> (epochs of the short run, {test metric: (">=" or "<=", threshold)})
SHORT_RUNS: dict[str, tuple[int, dict[str, tuple[str, float]]]] = {
    # majority class 0.63; constant radius_error guess: MAE 0.23
    "cancer_two_heads": (
        10,
        {"diagnosis_accuracy": (">=", 0.92), "radius_error_mae": ("<=", 0.17)},
    ),
    # its quality is its full run's (test_digits_cnn_full_run_reaches_095)
    "digits_cnn": (2, {}),
    # 10 classes
    "digits_subclass": (8, {"accuracy": (">=", 0.93)}),
    # repeating the last value: MAE 0.21
    "sine_lstm": (10, {"mae": ("<=", 0.11)}),
    # 3 balanced topics
    "tokens_embedding": (3, {"accuracy": (">=", 0.95)}),
    # majority class 0.40
    "wine_residual": (10, {"accuracy": (">=", 0.90)}),
}
# iris_mlp: the test session's shared 2-epoch run (`iris_run`, tests/conftest.py)


def _rows(path: Path) -> int:
    if path.suffix in (".csv", ".tsv"):
        with open(path) as handle:
            return sum(1 for _ in handle) - 1
    with np.load(path) as arrays:
        return len(arrays[arrays.files[0]])


def _train(cli, spec: Path, runs: Path, *extra: str) -> dict:
    result = cli("train", spec, "--runs-dir", runs, "--json", "--quiet", *extra)
    assert result.code == 0, result.err
    document = result.json()
    assert document["status"] == "completed"
    return document


def _evaluates_and_predicts(cli, run: Path, spec_path: Path, epochs: int, tmp_path: Path) -> None:
    """The run holds its files and the epochs it trained, evaluates, and predicts a row for
    every row of its data file."""
    for name in ("model.keras", "metrics.json", "history.csv", "run.json", "spec.yaml"):
        assert (run / name).is_file(), name
    assert json.loads((run / "run.json").read_text())["epochs_done"] == epochs

    evaluated = cli("evaluate", run, "--json")
    assert evaluated.code == 0, evaluated.err
    assert "loss" in evaluated.json()["metrics"]

    spec = load_spec(spec_path)
    data_file = Path(spec.data.path or spec.data.train)
    output = tmp_path / "predictions.csv"
    predicted = cli("predict", run, data_file, "--output", output)
    assert predicted.code == 0, predicted.err
    with open(output) as handle:
        rows = list(csv.reader(handle))
    assert len(rows) - 1 == _rows(data_file)
    assert all(len(row) == len(rows[0]) for row in rows)


def _callbacks_left_their_files(run: Path) -> None:
    """digits_cnn's file-writing callbacks: ModelCheckpoint and TensorBoard."""
    assert (run / "checkpoints" / "best.keras").is_file()  # ModelCheckpoint(save_best_only)
    assert any((run / "logs").rglob("*tfevents*"))  # TensorBoard


def test_every_shipped_example_is_trained() -> None:
    searched = ["iris_tune"]  # its search spaces are tuned, a run per trial: tests/run/test_tune.py
    trained = [*SHORT_RUNS, "iris_mlp", *TRAINED, *FOLDERS_TRAINED, *TRAINED_TABLES, *searched]
    assert sorted(p.stem for p in SPECS.glob("*.yaml")) == sorted(trained)


@pytest.mark.parametrize("stem", sorted(SHORT_RUNS))
def test_short_run_learns_then_evaluates_and_predicts(cli, stem: str, tmp_path: Path) -> None:
    epochs, wanted = SHORT_RUNS[stem]
    spec_path = SPECS / f"{stem}.yaml"
    document = _train(cli, spec_path, tmp_path / "runs", "--epochs", str(epochs))
    run = Path(document["run_dir"])
    assert run == tmp_path / "runs" / load_spec(spec_path).name / "1"
    test = document["metrics"]["test"]
    stored = json.loads((run / "metrics.json").read_text())["test"]
    assert stored == pytest.approx(test)
    for metric, (op, threshold) in wanted.items():
        value = test[metric]
        assert value >= threshold if op == ">=" else value <= threshold, (metric, value)
    _evaluates_and_predicts(cli, run, spec_path, epochs, tmp_path)
    if stem == "digits_cnn":
        _callbacks_left_their_files(run)


def test_the_iris_run_evaluates_and_predicts(cli, iris_run: Path, tmp_path: Path) -> None:
    _evaluates_and_predicts(cli, iris_run, SPECS / "iris_mlp.yaml", 2, tmp_path)


@pytest.mark.slow
def test_digits_cnn_full_run_reaches_095(cli, tmp_path: Path) -> None:
    document = _train(cli, SPECS / "digits_cnn.yaml", tmp_path)
    assert document["metrics"]["test"]["accuracy"] >= 0.95
    assert document["epochs"] > 5  # trained at its own epochs, not a short run
    _callbacks_left_their_files(Path(document["run_dir"]))
