"""The names training logs, derived from a spec, and what reads them checked at validate:
`monitor:` (its name and its `mode`), `ModelCheckpoint`'s `filepath` fields; `compile:` per
output; and none of it checked where a run's spec is loaded to predict.

The names are checked against Keras's own by real training in `tests/run/test_monitor_run.py`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from kerascli.spec import load_spec, load_spec_dict
from kerascli.spec.log_names import direction, metric_args, snake_case, train_log_names
from kerascli.spec.models import Spec
from kerascli.spec.monitor import check_monitors, monitors, path_fields
from kerascli.spec.outputs import (
    losses_by_output,
    metrics_by_output,
    output_loss,
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


def test_a_loss_list_follows_outputs_order() -> None:
    spec = _heads(loss=["mse", {"Huber": {"delta": 2}}])
    assert losses_by_output(spec) == {
        "zeta": (("compile", "loss", 0), "mse"),
        "alpha": (("compile", "loss", 1), {"Huber": {"delta": 2}}),
    }
    assert output_loss(spec, "alpha") == {"Huber": {"delta": 2}}
    assert train_log_names(spec) == ["loss", "zeta_loss", "alpha_loss"]
    assert weights_by_output(_heads(loss=["mse", "mae"], loss_weights=[2, 1])) == {
        "zeta": 2.0,
        "alpha": 1.0,
    }
    # one loss, and a mapping, as before
    assert losses_by_output(_heads(loss="mse")) is None
    assert output_loss(_heads(loss={"alpha": "mae"}), "zeta") is None
    one = load_spec_dict(
        {
            "name": "one",
            "model": {"sequential": {"input": {"shape": [4]}, "layers": ["Dense"]}},
            "compile": {"loss": ["mse"]},
        },
        check=False,
    )
    assert losses_by_output(one) == {"": (("compile", "loss", 0), "mse")}
    assert output_loss(one, "") == "mse"


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


@pytest.mark.parametrize(
    ("callback", "where", "message"),
    [
        (
            "EarlyStopping: {monitor: val_loss, mode: max}",
            "10:46: callbacks[0].EarlyStopping.mode",
            "'val_loss' is a loss: lower is better; use mode: min (or auto) (EarlyStopping "
            "with mode: max would keep the worst)",
        ),
        (
            "ReduceLROnPlateau: {monitor: loss, mode: max}",
            "10:46: callbacks[0].ReduceLROnPlateau.mode",
            "'loss' is a loss: lower is better; use mode: min (or auto)",
        ),
        (
            "ModelCheckpoint: {monitor: val_accuracy, mode: min, save_best_only: true}",
            "10:52: callbacks[0].ModelCheckpoint.mode",
            "'val_accuracy' is an accuracy: higher is better; use mode: max (or auto) "
            "(ModelCheckpoint with mode: min would keep the worst)",
        ),
    ],
)
def test_a_mode_against_the_direction_is_located(
    tmp_path: Path, callback: str, where: str, message: str
) -> None:
    path = _iris(tmp_path, callback)
    result = invoke("validate", path)
    assert result.code == 2
    assert f"{path}:{where}: {message}" in result.err


def test_the_direction_is_certain_only_for_losses_and_accuracy_like_metrics() -> None:
    metrics = {"alpha": ["mae", {"AUC": {"name": "roc"}}, "precision"], "zeta": ["acc"]}
    spec = _heads(loss=["mse", "mse"], metrics=metrics)
    assert direction(spec, "val_zeta_loss") == ("min", "a loss")
    assert direction(spec, "val_alpha_roc") == ("max", "an AUC")
    assert direction(spec, "alpha_precision") == ("max", "a precision")
    assert direction(spec, "zeta_acc") == ("max", "an accuracy")
    assert direction(spec, "alpha_mae") is None  # not certain: left alone
    assert direction(spec, "learning_rate") is None
    with_plugin = load_spec_dict(
        {**TWO_HEADS, "plugins": ["x.py"], "compile": {"loss": "mse", "metrics": ["accuracy"]}},
        check=False,
    )
    assert direction(with_plugin, "val_loss") == ("min", "a loss")
    assert direction(with_plugin, "val_zeta_accuracy") is None  # a plugin may define it
    data = {
        "path": "x.npz",
        "features": "x",
        "outputs": {"zeta": "z", "alpha": "a"},
        "split": {"validation": 0.2},
    }
    callbacks = [{"EarlyStopping": {"monitor": "val_alpha_roc", "mode": "min"}}]
    spec = load_spec_dict(
        {
            **TWO_HEADS,
            "compile": {"loss": "mse", "metrics": metrics},
            "data": data,
            "callbacks": callbacks,
        },
        check=False,
    )
    ((path, message, _),) = check_monitors(spec)
    assert path == ("callbacks", 0, "EarlyStopping", "mode")
    # `auto` would not know the per-output name: no `(or auto)`
    assert message.startswith("'val_alpha_roc' is an AUC: higher is better; use mode: max (")


# --- ModelCheckpoint's filepath -------------------------------------------------------------


@pytest.mark.parametrize(
    ("filepath", "message"),
    [
        (
            "x_{epoch}_{val_los:.2f}.keras",
            "ModelCheckpoint's filepath names '{val_los}', which training does not log (did "
            "you mean 'val_loss'?)",
        ),
        (
            "x_{batch}.keras",
            "ModelCheckpoint's filepath names '{batch}', which Keras fills only when it saves "
            "every save_freq batches",
        ),
        ("x_{}.keras", "filepath has a positional field"),
        ("x_{epoch.keras", "filepath is not a format string Keras can fill"),
        ("x_{epoch:s}.keras", "Keras cannot fill filepath: ValueError: Unknown format code 's'"),
    ],
)
def test_checkpoint_path_fields_are_located(tmp_path: Path, filepath: str, message: str) -> None:
    path = _iris(tmp_path, f"ModelCheckpoint: {{filepath: '{filepath}'}}")
    result = invoke("validate", path)
    assert result.code == 2
    assert f"{path}:10:33: callbacks[0].ModelCheckpoint.filepath: {message}" in result.err


@pytest.mark.parametrize(
    "callback",
    [
        "ModelCheckpoint: {filepath: 'x_{epoch:03d}_{val_loss:.2f}_{accuracy:.3f}.keras'}",
        "ModelCheckpoint: {filepath: 'x_{epoch}_{batch}_{loss}.keras', save_freq: 2}",
        "ReduceLROnPlateau\n  - ModelCheckpoint: {filepath: 'x_{learning_rate:.0e}.keras'}",
    ],
)
def test_checkpoint_path_fields_keras_fills_pass(tmp_path: Path, callback: str) -> None:
    result = invoke("validate", _iris(tmp_path, callback))
    assert result.code == 0, result.err


def test_checkpoint_path_fields_without_the_val_values() -> None:
    data = {"path": "x.npz", "features": "x", "outputs": {"zeta": "z", "alpha": "a"}}
    base = {**TWO_HEADS, "compile": {"loss": "mse"}, "data": data}

    def problems(filepath: str, **args: Any) -> list[str]:
        callbacks = [{"ModelCheckpoint": {"filepath": filepath, **args}}]
        spec = load_spec_dict({**base, "callbacks": callbacks}, check=False)
        return [message for _, message, _ in check_monitors(spec)]

    # no validation data: as for a monitor
    (message,) = problems("x_{val_zeta_loss}.keras")
    assert "but training has no validation data" in message and "name 'zeta_loss'" in message
    # saving every 2 batches: from the batch's logs
    (message,) = problems("x_{zeta_loss}_{val_loss}.keras", save_freq=2)
    assert "from the batch's logs, which have no val_ values" in message
    base["data"] = {**data, "split": {"validation": 0.2}}
    assert problems("x_{val_zeta_loss}.keras") == []
    base["fit"] = {"validation_freq": 2}
    (message,) = problems("x_{val_zeta_loss}.keras")
    assert "only on the epochs it validates (fit.validation_freq: 2)" in message
    spec = load_spec_dict(
        {**base, "callbacks": [{"ModelCheckpoint": {"filepath": "{epoch}_{a.real}_{b[0]}"}}]},
        check=False,
    )
    assert [f.name for f in path_fields(spec)] == ["epoch", "a", "b"]


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


def test_loss_weights_of_a_one_output_model_are_one(tmp_path: Path) -> None:
    path = _iris(tmp_path, "TerminateOnNaN")
    text = path.read_text().replace("  metrics:", "  loss_weights: {species: 2, x: 1}\n  metrics:")
    path.write_text(text)
    result = invoke("validate", path)
    assert result.code == 2
    assert (
        f"{path}:8:3: compile.loss_weights: the model has one output: give loss_weights one "
        "weight ([w]), got 2 (species, x)" in result.err
    )


# --- at run time ----------------------------------------------------------------------------


def _train(path: Path, *args: str) -> Any:
    runs = path.parent / "runs"
    return invoke("train", path, "--epochs", "1", "--runs-dir", runs, "--quiet", "--json", *args)


def test_a_run_predicts_though_its_spec_no_longer_passes_training_checks(tmp_path: Path) -> None:
    # A run trained before a check existed: its spec.yaml has what validate now refuses, in
    # parts only training uses (callbacks, loss_weights); predict and evaluate still load it.
    path = _iris(tmp_path, "EarlyStopping: {monitor: val_loss}")
    result = _train(path)
    assert result.code == 0, result.err
    run = Path(result.json()["run_dir"])
    saved = yaml.safe_load((run / "spec.yaml").read_text())
    saved["callbacks"] = [{"EarlyStopping": {"monitor": "val_los", "mode": "max"}}]
    saved["compile"]["loss_weights"] = [float("nan"), 1.0]
    (run / "spec.yaml").write_text(yaml.safe_dump(saved, sort_keys=False))
    refused = invoke("validate", run / "spec.yaml")
    assert refused.code == 2 and "val_los" in refused.err and "loss_weights" in refused.err
    assert load_spec(run / "spec.yaml", training=False).callbacks  # loads, unchecked
    predicted = invoke("predict", run, tmp_path / "iris.csv", "--json")
    assert predicted.code == 0, predicted.err
    assert invoke("evaluate", run, "--split", "validation").code == 0


SPREAD = '''
import keras


def spread(y_true, y_pred):
    """The standard deviation of the predictions (a metric kerascli cannot name in advance)."""
    return keras.ops.std(y_pred)
'''


@pytest.mark.parametrize(
    ("args", "epochs_done"), [("", 1), (", save_freq: 2", 0)], ids=["epoch", "batch"]
)
def test_checkpoint_path_fields_only_the_logs_can_check(
    tmp_path: Path, args: str, epochs_done: int
) -> None:
    # With a plugin, validate cannot tell the names: the first save is checked against the logs
    # (Keras would fail with a KeyError, exit 1), located, exit 2.
    (tmp_path / "spread.py").write_text(SPREAD)
    callback = f"ModelCheckpoint: {{filepath: 'x_{{epoch}}_{{sprad:.2f}}.keras'{args}}}"
    path = _iris(tmp_path, callback)
    text = path.read_text().replace("metrics: [accuracy]", "metrics: [accuracy, spread]")
    path.write_text("plugins: [spread.py]\n" + text)
    assert invoke("validate", path).code == 0  # a plugin's metric: validate cannot tell
    result = invoke("train", path, "--epochs", "2", "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.code == 2, result.err
    assert (
        f"{path}:11:33: callbacks[0].ModelCheckpoint.filepath: ModelCheckpoint's filepath names "
        "'{sprad}', which training does not log (did you mean 'spread'" in result.err
    )
    record = json.loads((tmp_path / "runs" / "iris" / "1" / "run.json").read_text())
    assert record["status"] == "failed" and record.get("epochs_done", 0) == epochs_done
