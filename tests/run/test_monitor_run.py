"""`monitor:` at run time: the names derived from a spec are Keras's, and a monitor the spec
alone cannot check (a plugin's metric) is checked against the first epoch's logs."""

from __future__ import annotations

import csv
import json
import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

from kerascli.spec import load_spec
from kerascli.spec.log_names import train_log_names
from tests.conftest import SPECS, invoke

SPREAD = '''
import keras


def spread(y_true, y_pred):
    """The standard deviation of the predictions (a metric kerascli cannot name in advance)."""
    return keras.ops.std(y_pred)
'''


def _write(tmp_path: Path, base: str, **changes: Any) -> Path:
    """A copy of model_specs/`base` in tmp_path, its data beside it, with sections replaced."""
    spec = yaml.safe_load((SPECS / base).read_text())
    spec.update(changes)
    spec["data"]["path"] = Path(spec["data"]["path"]).name
    shutil.copy(SPECS / "data" / spec["data"]["path"], tmp_path / spec["data"]["path"])
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def _train(path: Path, *args: str) -> Any:
    runs = path.parent / "runs"
    return invoke("train", path, "--epochs", "1", "--runs-dir", runs, "--quiet", "--json", *args)


def _logged(result: Any) -> set[str]:
    assert result.code == 0, result.err
    with open(Path(result.json()["run_dir"]) / "history.csv", newline="") as handle:
        return set(next(csv.reader(handle))) - {"epoch", "learning_rate"}


IRIS_METRICS = [
    "accuracy",
    "acc",
    {"SparseCategoricalAccuracy": {}},
    {"SparseTopKCategoricalAccuracy": {"k": 2, "name": "top2"}},
    "sparse_categorical_accuracy",
]
CANCER_METRICS = {
    "diagnosis": ["accuracy", "AUC", "auc", "Precision", {"Recall": {"name": "rec"}}],
    "radius_error": ["mae", "mae", "RootMeanSquaredError"],
}


@pytest.mark.parametrize(
    ("base", "metrics"),
    [("iris_mlp.yaml", IRIS_METRICS), ("cancer_two_heads.yaml", CANCER_METRICS)],
)
def test_derived_names_are_the_names_keras_logs(tmp_path: Path, base: str, metrics: Any) -> None:
    spec = _write(tmp_path, base, compile={**yaml.safe_load((SPECS / base).read_text())["compile"]})
    data = yaml.safe_load(spec.read_text())
    data["compile"]["metrics"] = metrics
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    names = train_log_names(load_spec(spec))
    assert names is not None
    expected = {*names, *(f"val_{n}" for n in names)}
    assert _logged(_train(spec)) == expected
    # the same names in a second run in this process (Keras alone would log `auc_1`)
    assert _logged(_train(spec)) == expected


def test_a_monitor_only_the_logs_can_check_stops_after_the_first_epoch(tmp_path: Path) -> None:
    (tmp_path / "spread.py").write_text(SPREAD)
    spec = _write(
        tmp_path,
        "iris_mlp.yaml",
        plugins=["spread.py"],
        callbacks=[{"EarlyStopping": {"monitor": "val_spred", "mode": "min"}}],
    )
    data = yaml.safe_load(spec.read_text())
    data["compile"]["metrics"] = ["accuracy", "spread"]
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    assert invoke("validate", spec).code == 0  # a plugin's metric: validate cannot tell
    result = invoke("train", spec, "--epochs", "3", "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.code == 2
    lines = spec.read_text().splitlines()
    line = next(i for i, text in enumerate(lines, 1) if "val_spred" in text)
    column = lines[line - 1].index("val_spred") + 1
    assert (
        f"{spec}:{line}:{column}: callbacks[0].EarlyStopping.monitor: EarlyStopping monitors "
        "'val_spred', which training does not log (did you mean 'val_spread' or 'spread'?)"
        in result.err
    )
    run = json.loads((tmp_path / "runs" / "iris-mlp" / "1" / "run.json").read_text())
    assert run["status"] == "failed" and run["epochs_done"] == 1


def test_a_monitor_the_logs_hold_trains(tmp_path: Path) -> None:
    (tmp_path / "spread.py").write_text(SPREAD)
    spec = _write(
        tmp_path,
        "iris_mlp.yaml",
        plugins=["spread.py"],
        callbacks=[{"EarlyStopping": {"monitor": "val_spread", "mode": "max", "patience": 1}}],
    )
    data = yaml.safe_load(spec.read_text())
    data["compile"]["metrics"] = ["spread"]
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    assert "val_spread" in _logged(_train(spec, "--epochs", "2"))


def test_a_callback_doing_nothing_is_not_silenced() -> None:
    from kerascli.model.keras_env import import_keras

    import_keras(verbose=False)  # sets the warning filters (pytest resets them between tests)
    with warnings.catch_warnings(record=True) as caught:
        for message in (
            "Early stopping conditioned on metric `val_loss` which is not available.",
            "Learning rate reduction is conditioned on metric `val_loss` which is not available.",
            "Can save best model only with val_loss available.",
            "Some other Keras warning.",
        ):
            warnings.warn_explicit(message, UserWarning, "x.py", 1, module="keras.src.callbacks")
    shown = [str(w.message) for w in caught]
    assert len(shown) == 3 and "Some other Keras warning." not in shown
