"""The shipped examples learn: short seeded runs reach stated test metrics; digits_cnn its full one.

Thresholds sit below what the seeded CPU runs reach and well above trivial baselines (the
majority class, a constant guess, repeating the last value), so a model that does not learn
fails them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import SPECS

# spec stem -> (epochs of the short run, {test metric: (">=" or "<=", threshold)})
SHORT_RUNS: dict[str, tuple[int, dict[str, tuple[str, float]]]] = {
    # majority class 0.63; constant radius_error guess: MAE 0.23
    "cancer_two_heads": (
        10,
        {"diagnosis_accuracy": (">=", 0.92), "radius_error_mae": ("<=", 0.17)},
    ),
    # majority class 0.40
    "wine_residual": (10, {"accuracy": (">=", 0.90)}),
    # 10 classes
    "digits_subclass": (8, {"accuracy": (">=", 0.93)}),
    # repeating the last value: MAE 0.21
    "sine_lstm": (10, {"mae": ("<=", 0.11)}),
    # 3 balanced topics
    "tokens_embedding": (3, {"accuracy": (">=", 0.95)}),
}


def _train(cli, spec: Path, runs: Path, *extra: str) -> dict:
    result = cli("train", spec, "--runs-dir", runs, "--json", "--quiet", *extra)
    assert result.code == 0, result.err
    document = result.json()
    assert document["status"] == "completed"
    return document


@pytest.mark.parametrize("stem", sorted(SHORT_RUNS))
def test_short_run_reaches_quality(cli, stem: str, tmp_path: Path) -> None:
    epochs, wanted = SHORT_RUNS[stem]
    document = _train(cli, SPECS / f"{stem}.yaml", tmp_path, "--epochs", str(epochs))
    test = document["metrics"]["test"]
    stored = json.loads((Path(document["run_dir"]) / "metrics.json").read_text())["test"]
    assert stored == pytest.approx(test)
    for metric, (op, threshold) in wanted.items():
        value = test[metric]
        assert value >= threshold if op == ">=" else value <= threshold, (metric, value)


def test_digits_cnn_full_run_reaches_095(cli, tmp_path: Path) -> None:
    document = _train(cli, SPECS / "digits_cnn.yaml", tmp_path)
    run = Path(document["run_dir"])
    assert document["metrics"]["test"]["accuracy"] >= 0.95
    assert document["epochs"] > 5  # trained at its own epochs, not a short run
    assert (run / "checkpoints" / "best.keras").is_file()  # ModelCheckpoint(save_best_only)
    assert any((run / "logs").rglob("*tfevents*"))  # TensorBoard
    with open(run / "history.csv") as handle:
        header = handle.readline().strip().split(",")
    assert "learning_rate" in header  # ReduceLROnPlateau logs the rate it sets
