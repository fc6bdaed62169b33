"""compile: lists follow the spec's `outputs:` order, not Keras's sorted output names.

The outputs are `zeta` then `alpha`, so the spec's order and the alphabetical one differ; the
targets differ in size (petal length about 4, petal width about 1), so their losses do too (the
inputs are normalised, so the untrained outputs are near 0).
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from tests.conftest import SPECS, invoke

TWO_HEADS = """\
name: two-heads
seed: 3
model:
  functional:
    inputs: {{x: {{shape: [2]}}}}
    layers:
      norm: {{Normalization: {{}}, from: x}}
      hidden: {{Dense: {{units: 4, activation: relu}}, from: norm}}
      zeta: {{Dense: {{units: 1}}, from: hidden}}
      alpha: {{Dense: {{units: 1}}, from: hidden}}
    outputs: [zeta, alpha]
compile:
  optimizer: adam
  loss: {loss}
  loss_weights: {weights}
  metrics: {metrics}
fit: {{epochs: 2, batch_size: 30}}  # 120 training rows: equal batches, so the means agree
data:
  path: iris.csv
  inputs: {{x: [sepal_length, sepal_width]}}
  outputs: {{zeta: petal_length, alpha: petal_width}}
  split: {{validation: 0.2}}
"""


def _spec(tmp_path: Path, loss: str, weights: str = "null", metrics: str = "[]") -> Path:
    shutil.copy(SPECS / "data" / "iris.csv", tmp_path / "iris.csv")
    path = tmp_path / "spec.yaml"
    path.write_text(TWO_HEADS.format(loss=loss, weights=weights, metrics=metrics))
    return path


def _history(tmp_path: Path, spec: Path) -> list[dict[str, float]]:
    runs = tmp_path / "runs"
    result = invoke("train", spec, "--epochs", "2", "--runs-dir", runs, "--quiet", "--json")
    assert result.code == 0, result.err
    with open(Path(result.json()["run_dir"]) / "history.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.mark.parametrize("loss", ["{zeta: mse, alpha: mse}", "mse"])
def test_loss_weights_list_follows_outputs_order(tmp_path: Path, loss: str) -> None:
    # [1, 0]: only the first output in `outputs:`, zeta, counts (Keras alone would weigh alpha,
    # the first in sorted order; and it refused a list of weights for one loss).
    rows = _history(tmp_path, _spec(tmp_path, loss, "[1, 0]"))
    for row in rows:
        for prefix in ("", "val_"):
            total, zeta, alpha = (row[f"{prefix}{k}"] for k in ("loss", "zeta_loss", "alpha_loss"))
            assert total == pytest.approx(zeta, rel=1e-4)
            assert abs(alpha - zeta) > 0.1 * zeta  # so the check above tells them apart


def test_loss_weights_mapping_matches_the_list(tmp_path: Path) -> None:
    rows = _history(tmp_path, _spec(tmp_path, "{zeta: mse, alpha: mse}", "{alpha: 0, zeta: 1}"))
    assert rows[-1]["loss"] == pytest.approx(rows[-1]["zeta_loss"], rel=1e-4)


def test_a_metrics_list_applies_to_every_output(tmp_path: Path) -> None:
    # (Keras alone gives a list as long as the outputs one entry per output, in sorted order,
    # and refuses a list of another length)
    rows = _history(tmp_path, _spec(tmp_path, "{zeta: mse, alpha: mse}", metrics="[mae, mse]"))
    for output in ("zeta", "alpha"):
        assert {f"{output}_mae", f"{output}_mse", f"val_{output}_mae"} <= set(rows[0])
    assert rows[0]["zeta_mse"] == pytest.approx(rows[0]["zeta_loss"], rel=1e-4)


def test_loss_weights_of_the_wrong_length_are_located(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "mse", "[1, 0, 2]")
    result = invoke("validate", spec)
    assert result.code == 2
    assert f"{spec}:15:17: compile.loss_weights: expected 2 weights, one per output" in result.err
    assert "(zeta, alpha), got 3" in result.err
