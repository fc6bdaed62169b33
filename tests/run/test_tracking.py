"""MLflow tracking (`tracking.mlflow`, `train --mlflow URI`) against a real MLflow file store."""

from __future__ import annotations

import csv
import json
import os
import socket
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from kerascli.run.rundir import RunDir, RunFailed, RunInterrupted
from kerascli.run.tracking import INSTALL, TrackingError, final_metrics, tracked
from kerascli.run.trainer import RunResult, train
from kerascli.spec.loader import load_spec
from kerascli.spec.tracking_spec import flat_params, tracking_uri
from tests.conftest import SPECS, invoke

IRIS = SPECS / "iris_mlp.yaml"
EPOCHS = 3
QUICK = [f"fit.epochs={EPOCHS}", "callbacks=[]"]  # every epoch trains: no early stop

PLUGIN = """
import shutil

import keras


class FailAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise RuntimeError(f"failed at epoch {self.epoch}")


class InterruptAt(FailAt):
    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt()


class RemoveFolder(keras.callbacks.Callback):
    def __init__(self, path):
        super().__init__()
        self.path = path

    def on_epoch_end(self, epoch, logs=None):
        shutil.rmtree(self.path, ignore_errors=True)
"""


def client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3.x refuses it otherwise
    return MlflowClient(uri)


def mlflow_run(result_path: Path) -> tuple[Any, Any]:
    """The MLflow client and run that `run.json` names."""
    record = json.loads((result_path / "run.json").read_text())["tracking"]["mlflow"]
    mlflow = client(record["uri"])
    return mlflow, mlflow.get_run(record["run_id"])


def plugin_spec(tmp_path: Path, callback: str) -> Path:
    """The iris example with `callback` (one of `PLUGIN`'s) as its only callback."""
    (tmp_path / "plugin.py").write_text(textwrap.dedent(PLUGIN))
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"extends: {IRIS}\nplugins: [plugin.py]\ncallbacks: [{callback}]\n")
    return spec


@pytest.fixture(scope="module")
def tracked_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, Path]:
    """One tracked iris run with the defaults (`tracking.mlflow: {}`, so `./mlruns`), trained
    in a fresh working directory; the result and that directory."""
    cwd = tmp_path_factory.mktemp("cwd")
    overrides = [*QUICK, "tracking.mlflow={}", "tracking.mlflow.tags.team=vision"]
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        result = train(load_spec(IRIS, overrides), cwd / "runs", plain=True)
    return result, cwd


@pytest.mark.slow
def test_a_run_goes_to_mlruns_in_the_working_directory(
    tracked_run: tuple[RunResult, Path],
) -> None:
    result, cwd = tracked_run
    record = json.loads((result.path / "run.json").read_text())["tracking"]["mlflow"]
    assert record["uri"] == (cwd / "mlruns").as_uri()
    mlflow, run = mlflow_run(result.path)
    experiment = mlflow.get_experiment_by_name("iris-mlp")  # the spec's name
    assert [r.info.run_id for r in mlflow.search_runs([experiment.experiment_id])] == [
        record["run_id"]
    ]
    assert run.info.experiment_id == record["experiment_id"] == experiment.experiment_id
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "iris-mlp/1"
    tags = run.data.tags
    assert tags["kerascli.run_dir"] == str(result.path.resolve())
    assert (
        tags["kerascli.version"]
        == json.loads((result.path / "run.json").read_text())["versions"]["kerascli"]
    )
    assert tags["team"] == "vision"


@pytest.mark.slow
def test_params_are_the_flattened_resolved_spec(tracked_run: tuple[RunResult, Path]) -> None:
    params = mlflow_run(tracked_run[0].path)[1].data.params
    assert params["compile.optimizer.Adam.learning_rate"] == "0.01"
    assert params["model.sequential.layers.1.Dense.units"] == "16"
    assert params["model.sequential.layers.3.Dense.activation"] == "softmax"
    assert params["fit.epochs"] == str(EPOCHS)
    assert params["data.split.stratify"] == "true"
    assert params["data.features"] == (
        '["sepal_length", "sepal_width", "petal_length", "petal_width"]'
    )


@pytest.mark.slow
def test_metrics_per_epoch_and_the_final_evaluation(tracked_run: tuple[RunResult, Path]) -> None:
    result = tracked_run[0]
    mlflow, run = mlflow_run(result.path)
    with open(result.path / "history.csv", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == EPOCHS
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        logged = mlflow.get_metric_history(run.info.run_id, name)
        assert sorted((m.step, m.value) for m in logged) == [
            (int(r["epoch"]), pytest.approx(float(r[name]))) for r in rows
        ]
    saved = json.loads((result.path / "metrics.json").read_text())
    metrics = run.data.metrics
    assert {k: v for k, v in metrics.items() if k.startswith("test_")} == {
        f"test_{k}": pytest.approx(v) for k, v in saved["test"].items()
    }
    assert metrics["final_val_loss"] == pytest.approx(saved["validation"]["loss"])
    assert metrics["final_loss"] == pytest.approx(saved["train"]["loss"])


@pytest.mark.slow
def test_the_run_directory_is_logged_as_artifacts(tracked_run: tuple[RunResult, Path]) -> None:
    result = tracked_run[0]
    mlflow, run = mlflow_run(result.path)
    names = {a.path for a in mlflow.list_artifacts(run.info.run_id)}
    assert {"model.keras", "spec.yaml", "run.json", "metrics.json", "history.csv"} <= names
    assert "history.png" in names
    copy = Path(mlflow.download_artifacts(run.info.run_id, "run.json", str(result.path.parent)))
    assert json.loads(copy.read_text())["status"] == "completed"  # logged once it ended


@pytest.mark.slow
@pytest.mark.parametrize(
    ("callback", "raised", "status"),
    [
        ("{FailAt: {epoch: 2}}", RunFailed, "FAILED"),
        ("{InterruptAt: {epoch: 2}}", RunInterrupted, "KILLED"),
    ],
)
def test_a_run_that_dies_ends_failed_or_killed(
    tmp_path: Path, callback: str, raised: type[BaseException], status: str
) -> None:
    store = tmp_path / "store"  # a plain folder: a file store
    overrides = [f"tracking.mlflow.uri={store}", "tracking.mlflow.experiment=dies", "fit.epochs=3"]
    with pytest.raises(raised) as died:
        train(load_spec(plugin_spec(tmp_path, callback), overrides), tmp_path / "runs", plain=True)
    mlflow, run = mlflow_run(died.value.run_dir)  # type: ignore[attr-defined]
    assert run.info.status == status
    assert mlflow.get_experiment(run.info.experiment_id).name == "dies"
    assert [m.step for m in mlflow.get_metric_history(run.info.run_id, "loss")] == [1, 2]
    assert "train.log" in {a.path for a in mlflow.list_artifacts(run.info.run_id)}


@pytest.mark.slow
def test_a_logging_failure_while_training_is_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    spec = plugin_spec(tmp_path, f"{{RemoveFolder: {{path: '{store}'}}}}")
    result = train(load_spec(spec, [f"tracking.mlflow.uri={store}", "fit.epochs=2"]), tmp_path)
    assert result.status == "completed" and len(result.history) == 2
    warnings = [line for line in capsys.readouterr().err.splitlines() if "MLflow" in line]
    assert warnings[0].startswith(f"warning: MLflow at {store.as_uri()}: could not log epoch 2")
    assert len(warnings) == 2  # epoch 2 (epoch 1 was logged), then the status
    assert warnings[0] in (result.path / "train.log").read_text()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_an_unreachable_server_fails_the_run_before_training(tmp_path: Path) -> None:
    uri = f"http://127.0.0.1:{_closed_port()}"
    started = time.monotonic()
    result = invoke("train", IRIS, "--set", f"tracking.mlflow.uri={uri}", "--runs-dir", tmp_path)
    elapsed = time.monotonic() - started
    assert result.code == 1
    assert f"cannot log to MLflow at {uri}: [Errno" in result.err
    assert elapsed < 20, elapsed  # bounded retries, not MLflow's minutes
    record = json.loads((tmp_path / "iris-mlp" / "1" / "run.json").read_text())
    assert record["status"] == "failed" and record["epochs_done"] == 0
    assert "tracking" not in record


def test_validate_names_a_misspelt_tracking_key(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(f"extends: {IRIS}\ntracking: {{mlflow: {{experimnt: iris}}}}\n")
    result = invoke("validate", spec)
    assert result.code == 2
    assert "tracking.mlflow.experimnt: unknown key 'experimnt' (did you mean 'experiment'?)" in (
        result.err + result.out
    )


def test_without_mlflow_a_run_fails_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "mlflow" or m.startswith("mlflow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # what `import mlflow` finds uninstalled
    spec = load_spec(IRIS, ["tracking.mlflow={}"])
    run = RunDir.create(tmp_path, "t", {"command": "kerascli train"})
    with pytest.raises(TrackingError, match=r"^tracking with MLflow needs mlflow") as missing:
        with tracked(spec, run) as tracker:
            tracker.start()
    assert str(missing.value) == INSTALL and "pip install 'kerascli[tracking]'" in INSTALL


def test_only_the_chief_logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    spec = load_spec(IRIS, ["tracking.mlflow={}"])
    run = RunDir.create(tmp_path / "runs", "t", {"command": "kerascli train"})
    with tracked(spec, run, chief=False) as tracker:
        tracker.start()
    assert tracker.callbacks == [] and "tracking" not in run.record
    assert not (tmp_path / "mlruns").exists()


def test_tracking_uris(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert tracking_uri(None) == (tmp_path / "mlruns").as_uri()
    assert tracking_uri("store/a") == (tmp_path / "store" / "a").as_uri()
    for uri in ("http://localhost:5000", "https://h/x", "file:///abs/mlruns", "databricks"):
        assert tracking_uri(uri) == uri


def test_flat_params() -> None:
    spec = {
        "model": {"layers": [{"Dense": {"units": 16}}, {"Normalization": {}}]},
        "fit": {"epochs": 2, "rate": 1e-4, "flag": None, "shape": [4, 1]},
        "odd key/x": "a" * 7000,
    }
    assert flat_params(spec) == {
        "model.layers.0.Dense.units": "16",
        "model.layers.1.Normalization": "{}",
        "fit.epochs": "2",
        "fit.rate": "0.0001",
        "fit.flag": "null",
        "fit.shape": "[4, 1]",
        "odd key_x": "a" * 5997 + "...",
    }


def test_final_metrics_keep_the_per_epoch_names_free() -> None:
    metrics = {"train": {"loss": 0.1}, "validation": {"loss": 0.2}, "test": {"accuracy": 0.9}}
    assert final_metrics(metrics) == {
        "final_loss": 0.1,
        "final_val_loss": 0.2,
        "test_accuracy": 0.9,
    }


def test_flat_params_keeps_keys_alike_once_cleaned() -> None:
    params = flat_params({"inputs": {"a+b": 1, "a_b": 2}})
    assert sorted(params.values()) == ["1", "2"]
    assert set(params) == {"inputs.a_b", "inputs.a_b_"}


def test_an_unknown_uri_scheme_is_a_spec_error(tmp_path: Path) -> None:
    from kerascli.spec import SpecError, load_spec

    with pytest.raises(SpecError) as caught:
        load_spec(IRIS, ["tracking.mlflow.uri=ftp://host/mlruns"])
    assert "tracking.mlflow.uri" in str(caught.value) and "'ftp:'" in str(caught.value)
    assert load_spec(IRIS, ["tracking.mlflow.uri=C:/runs/mlruns"]).tracking is not None
