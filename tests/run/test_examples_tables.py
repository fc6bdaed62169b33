"""The table examples train to the quality their comment headers state, then evaluate and
predict from their run: wine_parquet streams its Parquet file by row group.

Thresholds sit below what the seeded CPU runs reach (1.0) and far above guessing the largest
cultivar (0.39 of the hashed test split).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tests.conftest import SPECS, invoke

# The examples this module trains (tests/run/test_examples_train.py trains the others).
TRAINED_TABLES = ("wine_parquet",)
WINE = SPECS / "data" / "wine.parquet"


def _train(runs: Path) -> dict:
    result = invoke("train", SPECS / "wine_parquet.yaml", "--runs-dir", runs, "--json", "--quiet")
    assert result.code == 0, result.out + result.err
    document = result.json()
    assert document["status"] == "completed"
    return document


def test_wine_parquet_learns_then_evaluates_and_predicts(tmp_path: Path) -> None:
    document = _train(tmp_path / "runs")  # its own 40 epochs: a few seconds
    assert document["epochs"] > 10
    accuracy = document["metrics"]["test"]["accuracy"]
    assert accuracy >= 0.9, accuracy
    run = Path(document["run_dir"])
    recorded = json.loads((run / "run.json").read_text())["classes"]
    assert list(recorded.values()) == [["class_0", "class_1", "class_2"]]
    evaluated = invoke("evaluate", run, "--json")
    assert evaluated.code == 0, evaluated.err
    assert evaluated.json()["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-4)
    output = tmp_path / "predictions.csv"
    predicted = invoke("predict", run, WINE, "--output", output)
    assert predicted.code == 0, predicted.err
    with open(output, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][0] == "cultivar" and len(rows) == 1 + 178
    assert {row[0] for row in rows[1:]} <= {"class_0", "class_1", "class_2"}
