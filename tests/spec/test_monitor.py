"""The names training logs, derived from a spec, and `monitor:` checked against them at validate.

The names are checked against Keras's own by real training in `tests/run/test_monitor_run.py`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from kerascli.spec import load_spec_dict
from kerascli.spec.models import Spec
from kerascli.spec.monitor import (
    metric_args,
    metrics_by_output,
    monitors,
    snake_case,
    train_log_names,
    weights_by_output,
)
from tests.conftest import SPECS, invoke

IRIS = """\
name: iris
model:
  sequential:
    input: {{shape: [4]}}
    layers: [{{Dense: {{units: 3, activation: softmax}}}}]
compile:
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
callbacks:
  - {callback}
data:
  path: iris.csv
  target: species
  split: {{validation: {validation}}}
"""

TWO_HEADS: dict[str, Any] = {
    "name": "heads",
    "model": {
        "functional": {
            "inputs": {"x": {"shape": [4]}},
            "layers": {
                "zeta": {"Dense": {"units": 1}, "from": "x"},
                "alpha": {"Dense": {"units": 1}, "from": "x"},
            },
            "outputs": ["zeta", "alpha"],
        }
    },
}


def _iris(tmp_path: Path, callback: str, validation: float = 0.2) -> Path:
    shutil.copy(SPECS / "data" / "iris.csv", tmp_path / "iris.csv")
    path = tmp_path / "spec.yaml"
    path.write_text(IRIS.format(callback=callback, validation=validation))
    return path


def _heads(**compile_: Any) -> Spec:
    return load_spec_dict({**TWO_HEADS, "compile": compile_}, check=False)


# --- the names --------------------------------------------------------------------------------


def test_names_of_a_one_output_model() -> None:
    metrics = [
        "accuracy",
        "acc",
        {"SparseCategoricalAccuracy": {}},
        {"SparseTopKCategoricalAccuracy": {"k": 2, "name": "top2"}},
        "sparse_categorical_accuracy",  # a repeat: numbered
        "AUC",  # no default name in Keras: kerascli names it as a fresh session would
        {"LogCoshError": {}},  # Keras's default name is not the class's
    ]
    spec = load_spec_dict(
        {
            "name": "one",
            "model": {"sequential": {"input": {"shape": [4]}, "layers": ["Dense"]}},
            "compile": {"loss": "mse", "metrics": metrics},
        },
        check=False,
    )
    assert train_log_names(spec) == [
        "loss",
        "accuracy",
        "acc",
        "sparse_categorical_accuracy",
        "top2",
        "sparse_categorical_accuracy_1",
        "auc",
        "logcosh",
    ]


def test_names_of_a_model_with_two_outputs() -> None:
    spec = _heads(loss={"zeta": "mse", "alpha": "mae"}, metrics={"alpha": ["mae", "mae"]})
    assert train_log_names(spec) == ["loss", "zeta_loss", "alpha_loss", "alpha_mae", "alpha_mae_1"]
    # one loss is every output's; a metrics list is every output's
    spec = _heads(loss="mse", metrics=["mae"])
    assert train_log_names(spec) == ["loss", "zeta_loss", "alpha_loss", "zeta_mae", "alpha_mae"]
    # a loss for one output only: just `loss`
    assert train_log_names(_heads(loss={"zeta": "mse"})) == ["loss"]


def test_names_are_unknown_with_plugins_or_a_subclass() -> None:
    spec = load_spec_dict(
        {**TWO_HEADS, "plugins": ["x.py"], "compile": {"loss": "mse"}}, check=False
    )
    assert train_log_names(spec) is None
    spec = load_spec_dict(
        {
            "name": "sub",
            "model": {"subclass": {"class": "net.py:Net", "input": {"shape": [4]}}},
            "compile": {"loss": "mse"},
        },
        check=False,
    )
    assert train_log_names(spec) is None


def test_metric_names_keras_would_number_are_given() -> None:
    assert snake_case("MeanIoU") == "mean_io_u" and snake_case("AUC") == "auc"
    assert metric_args("AUC", {}) == {"name": "auc"}
    assert metric_args("AUC", {"name": "roc"}) == {"name": "roc"}
    assert metric_args("Accuracy", {}) == {}  # Keras's default name, `accuracy`, is fixed
    assert metric_args("MyPluginMetric", {}) == {}


# --- compile, per output --------------------------------------------------------------------


def test_loss_weights_list_follows_outputs_order() -> None:
    spec = _heads(loss={"zeta": "mse", "alpha": "mse"}, loss_weights=[1, 0])
    assert weights_by_output(spec) == {"zeta": 1.0, "alpha": 0.0}
    # an output without a loss gets no weight (Keras wants one per loss)
    spec = _heads(loss={"alpha": "mse"}, loss_weights=[1, 0])
    assert weights_by_output(spec) == {"alpha": 0.0}


def test_a_metrics_list_is_every_outputs() -> None:
    assert metrics_by_output(_heads(loss="mse", metrics=["mae"])) == {
        "zeta": [{"mae": {}}],
        "alpha": [{"mae": {}}],
    }
    assert metrics_by_output(_heads(loss="mse", metrics={"alpha": "mae"})) == {
        "alpha": [{"mae": {}}]
    }


def test_loss_weights_need_one_per_output(tmp_path: Path) -> None:
    path = _iris(tmp_path, "TerminateOnNaN")
    path.write_text(path.read_text().replace("  metrics:", "  loss_weights: [1, 2]\n  metrics:"))
    result = invoke("validate", path)
    assert result.code == 2
    assert (
        f"{path}:8:17: compile.loss_weights: expected one weight for the model's one output, got 2"
        in result.err
    )


# --- monitors at validate -------------------------------------------------------------------


def test_misspelt_monitor_is_located_with_a_suggestion(tmp_path: Path) -> None:
    path = _iris(tmp_path, "EarlyStopping: {monitor: val_los, patience: 3}")
    result = invoke("validate", path)
    assert result.code == 2
    assert (
        f"{path}:10:30: callbacks[0].EarlyStopping.monitor: EarlyStopping monitors 'val_los', "
        "which training does not log (did you mean 'val_loss'?); it logs: loss, accuracy, "
        "val_loss, val_accuracy" in result.err
    )


@pytest.mark.parametrize(
    "callback",
    [
        "EarlyStopping: {monitor: val_loss}",
        "EarlyStopping: {monitor: val_accuracy, mode: max}",
        "ReduceLROnPlateau: {monitor: loss}",
        "ModelCheckpoint: {monitor: val_accuracy, save_best_only: true}",
        "EarlyStopping",  # Keras's default, val_loss
    ],
)
def test_monitors_training_logs_pass(tmp_path: Path, callback: str) -> None:
    result = invoke("validate", _iris(tmp_path, callback))
    assert result.code == 0, result.err


def test_validation_names_need_validation_data(tmp_path: Path) -> None:
    path = _iris(tmp_path, "ReduceLROnPlateau: {monitor: val_accuracy}", validation=0)
    result = invoke("validate", path)
    assert result.code == 2
    assert (
        "ReduceLROnPlateau monitors 'val_accuracy', but training has no validation data, so "
        "Keras never logs it and the callback would do nothing: monitor 'accuracy', or add "
        "validation data" in result.err
    )
    # Keras's default monitor, val_loss, is pointed at on the callback
    path = _iris(tmp_path, "EarlyStopping", validation=0)
    result = invoke("validate", path)
    assert result.code == 2
    assert (
        f"{path}:10:5: callbacks[0]: EarlyStopping monitors 'val_loss' by default, "
        "but training has no validation data" in result.err
    )
    # a checkpoint of every epoch does not use its monitor
    assert invoke("validate", _iris(tmp_path, "ModelCheckpoint", validation=0)).code == 0


def test_per_output_names_need_a_mode() -> None:
    # Keras's mode `auto` cannot tell the direction of `val_zeta_loss` and raises after an epoch
    data = {
        **TWO_HEADS,
        "compile": {"loss": "mse"},
        "data": {"path": "x.npz", "features": "x", "outputs": {"zeta": "z", "alpha": "a"}},
    }
    spec = load_spec_dict(
        {**data, "callbacks": [{"EarlyStopping": {"monitor": "zeta_loss"}}]}, check=False
    )
    from kerascli.spec.monitor import check_monitors

    ((path, message, _),) = check_monitors(spec)
    assert path == ("callbacks", 0, "EarlyStopping", "monitor")
    assert "cannot tell whether 'zeta_loss' should go down or up" in message
    assert "give mode: min or mode: max" in message
    spec = load_spec_dict(
        {**data, "callbacks": [{"EarlyStopping": {"monitor": "zeta_loss", "mode": "min"}}]},
        check=False,
    )
    assert list(check_monitors(spec)) == []


def test_learning_rate_is_logged_after_a_rate_callback(tmp_path: Path) -> None:
    ok = "ReduceLROnPlateau: {monitor: loss}\n  - CSVLogger\n  - {EarlyStopping: {monitor: learning_rate, mode: min}}"
    assert invoke("validate", _iris(tmp_path, ok)).code == 0
    early = "EarlyStopping: {monitor: learning_rate, mode: min}\n  - ReduceLROnPlateau"
    result = invoke("validate", _iris(tmp_path, early))
    assert result.code == 2 and "'learning_rate', which training does not log" in result.err


def test_a_bad_mode_is_an_error(tmp_path: Path) -> None:
    result = invoke("validate", _iris(tmp_path, "EarlyStopping: {mode: maximum}"))
    assert result.code == 2
    assert "callbacks[0].EarlyStopping.mode: expected mode auto, min or max, got 'maximum'" in (
        result.err
    )


def test_monitors_of_the_shipped_specs_pass() -> None:
    for spec in SPECS.glob("*.yaml"):
        result = invoke("validate", spec)
        assert result.code == 0, result.err


def test_monitors_lists_defaults_where_used() -> None:
    spec = load_spec_dict(
        {
            **TWO_HEADS,
            "compile": {"loss": "mse"},
            "callbacks": [
                "ModelCheckpoint",
                {"ModelCheckpoint": {"save_best_only": True}},
                "ReduceLROnPlateau",
                {"EarlyStopping": {"monitor": "learning_rate"}},
            ],
        },
        check=False,
    )
    found = [(m.index, m.name, m.explicit, m.after_rate) for m in monitors(spec)]
    assert found == [
        (1, "val_loss", False, False),
        (2, "val_loss", False, True),
        (3, "learning_rate", True, True),
    ]
