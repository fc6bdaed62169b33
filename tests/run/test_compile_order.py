"""compile: lists (of losses, loss weights) follow the spec's `outputs:` order, not Keras's
sorted output names; a mapping of loss weights names every output with a loss.

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


def test_a_loss_list_follows_outputs_order(tmp_path: Path) -> None:
    # [mse, mae]: zeta's loss is mse and alpha's mae, as the mapping says (Keras alone would
    # match the list to its sorted names, alpha then zeta: the swapped mapping).
    for name in ("list", "map", "swap"):
        (tmp_path / name).mkdir()
    listed = _history(tmp_path / "list", _spec(tmp_path / "list", "[mse, mae]"))
    mapped = _history(tmp_path / "map", _spec(tmp_path / "map", "{alpha: mae, zeta: mse}"))
    swapped = _history(tmp_path / "swap", _spec(tmp_path / "swap", "{zeta: mae, alpha: mse}"))
    for key in ("loss", "zeta_loss", "alpha_loss", "val_zeta_loss", "val_alpha_loss"):
        assert [r[key] for r in listed] == pytest.approx([r[key] for r in mapped], rel=1e-5)
    assert abs(listed[0]["val_zeta_loss"] - swapped[0]["val_zeta_loss"]) > 0.1


def test_a_loss_list_with_weights_and_metrics(tmp_path: Path) -> None:
    rows = _history(tmp_path, _spec(tmp_path, "[mse, mae]", "[0, 1]", "{zeta: [mse]}"))
    for row in rows:
        assert row["loss"] == pytest.approx(row["alpha_loss"], rel=1e-4)  # only alpha counts
        assert row["zeta_mse"] == pytest.approx(row["zeta_loss"], rel=1e-4)  # zeta's is mse


@pytest.mark.parametrize(
    ("loss", "where", "message"),
    [
        (
            "[mse]",
            "14:9: compile.loss",
            "expected 2 losses, one per output in `outputs:` order (zeta, alpha), got 1",
        ),
        ("[mse, msee]", "14:15: compile.loss[1]", "unknown loss 'msee' (did you mean 'mse'"),
        ("[mse, 3]", "14:15: compile.loss[1]", "expected a loss name or {Class: args}"),
        (
            "[mse, {Huber: {delt: 2}}]",
            "14:24: compile.loss[1].Huber.delt",
            "unknown argument 'delt' for Huber (did you mean 'delta'?)",
        ),
        ("[]", "14:9: compile.loss", "expected one loss per output, got an empty list"),
    ],
)
def test_a_loss_list_is_located(tmp_path: Path, loss: str, where: str, message: str) -> None:
    spec = _spec(tmp_path, loss)
    result = invoke("validate", spec)
    assert result.code == 2
    assert f"{spec}:{where}: {message}" in result.err


@pytest.mark.parametrize(
    ("weights", "found"),
    [
        (
            "{zeta: 2.0}",
            [
                "15:3: compile.loss_weights: no weight for the output 'alpha', which has a loss: "
                "Keras needs a weight for every output with a loss (give alpha: 1.0"
            ],
        ),
        (
            # the misspelt name is suggested once, not also reported missing
            "{zeat: 2.0, alpha: 1}",
            [
                "15:18: compile.loss_weights.zeat: 'zeat' is not a model output (did you mean "
                "'zeta'?); outputs: zeta, alpha"
            ],
        ),
        (
            "{zeta: .nan, alpha: -1}",
            [
                "15:24: compile.loss_weights.zeta: expected a finite weight >= 0, got nan",
                "15:37: compile.loss_weights.alpha: expected a finite weight >= 0, got -1.0",
            ],
        ),
        ("[.inf, 1]", ["15:18: compile.loss_weights[0]: expected a finite weight >= 0, got inf"]),
    ],
)
def test_loss_weights_are_located(tmp_path: Path, weights: str, found: list[str]) -> None:
    spec = _spec(tmp_path, "{zeta: mse, alpha: mse}", weights)
    result = invoke("validate", spec)
    assert result.code == 2
    for problem in found:
        assert f"{spec}:{problem}" in result.err
    assert f"{len(found)} problem" in result.err


def test_keras_needs_a_weight_for_every_output_with_a_loss() -> None:
    # Why a mapping of loss_weights must name each output with a loss: Keras 3 fails in fit.
    import keras
    import numpy as np

    x = keras.Input((2,))
    outputs = [keras.layers.Dense(1, name=name)(x) for name in ("zeta", "alpha")]
    model = keras.Model(x, outputs)
    model.compile("sgd", loss={"zeta": "mse", "alpha": "mse"}, loss_weights={"zeta": 2.0})
    y = {"zeta": np.zeros((4, 1)), "alpha": np.zeros((4, 1))}
    with pytest.raises(KeyError, match="alpha"):
        model.fit(np.zeros((4, 2)), y, epochs=1, verbose=0)
