"""What a run leaves for later: gate results, readable files, its log, a failed run's directory
named in errors, and what `runs` and `runs --compare` make of them."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from kerascli.run.runs import compare_runs

from .conftest import BOOM, IRIS, write


def test_gate_results_are_kept_in_run_json(cli, tmp_path: Path) -> None:
    result = cli(
        "train", IRIS, "--epochs", "2", "--runs-dir", tmp_path, "--quiet",
        "--require", "test_accuracy>=1.01",
    )  # fmt: skip
    assert result.code == 3, result.err
    record = json.loads((tmp_path / "iris-mlp" / "1" / "run.json").read_text())
    (gate,) = record["gates"]
    assert gate["gate"] == "test_accuracy>=1.01" and gate["passed"] is False
    assert gate["value"] == record["metrics"]["test_accuracy"]
    listing = cli("runs", tmp_path)
    assert "gate failed" in listing.out


def test_run_files_are_readable_by_others(iris_run: Path) -> None:
    for name in ("run.json", "metrics.json", "history.csv", "spec.yaml", "model.keras"):
        mode = stat.S_IMODE((iris_run / name).stat().st_mode)
        assert mode & stat.S_IRGRP and mode & stat.S_IROTH, (name, oct(mode))


def test_json_stdout_holds_only_the_document_when_keras_prints(cli, tmp_path: Path) -> None:
    # ModelCheckpoint(verbose=1) prints "Epoch 1: saving model to ..." on stdout
    result = cli(
        "train", IRIS, "--epochs", "2", "--runs-dir", tmp_path, "--json",
        "--set", "callbacks=[{ModelCheckpoint: {verbose: 1}}]",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.json()["ok"] is True
    assert "saving model to" in result.err


def test_failed_run_is_named_in_the_error(cli, tmp_path: Path) -> None:
    args = ("train", IRIS, "--runs-dir", tmp_path, "--quiet", "--set", f"plugins=[{BOOM}]")
    args += ("--set", "callbacks=[{FailAtEpoch: {epoch: 2}}]")
    text = cli(*args)
    assert text.code == 1
    run = tmp_path / "iris-mlp" / "1"
    assert f"run {run} is marked failed" in text.err
    document = cli(*args, "--json")
    assert document.code == 1
    assert document.json()["run_dir"] == str(tmp_path / "iris-mlp" / "2")
    log = (run / "train.log").read_text().splitlines()
    assert log[-1] == "failed: RuntimeError: boom at epoch 2" or "boom at epoch 2" in log[-1]


def test_interrupted_run_is_marked_and_named(cli, tmp_path: Path) -> None:
    write(
        tmp_path,
        "stop.py",
        """
        import keras

        class Interrupt(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                raise KeyboardInterrupt  # what Ctrl-C raises
        """,
    )
    spec = write(
        tmp_path,
        "spec.yaml",
        f"""
        extends: {IRIS}
        plugins: [stop.py]
        callbacks: [Interrupt]
        """,
    )
    result = cli("train", spec, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.code == 130
    run = tmp_path / "runs" / "iris-mlp" / "1"
    assert "interrupted" in result.err and str(run) in result.err
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    assert (run / "train.log").read_text().splitlines()[-1] == "interrupted"


@pytest.mark.parametrize("name", ["../escaped", "a/b", ""])
def test_run_name_must_be_one_directory(cli, tmp_path: Path, name: str) -> None:
    result = cli("train", IRIS, "--runs-dir", tmp_path / "runs", "--name", name)
    assert result.code == 2
    assert "--name" in result.err and "is not a run name" in result.err
    assert not (tmp_path / "escaped").exists() and not (tmp_path / "runs").exists()


def _fake_run(root: Path, n: int, layer: dict, accuracy: float) -> Path:
    """A run directory as train leaves it (run.json, spec.yaml), written by hand."""
    run = root / "cnn" / str(n)
    run.mkdir(parents=True)
    spec = {"name": "cnn", "model": {"sequential": {"layers": [layer, {"Dense": {"units": 3}}]}}}
    (run / "spec.yaml").write_text(yaml.safe_dump(spec))
    record = {"name": "cnn", "n": n, "status": "completed", "started": f"2026-01-0{n}T10:00:00"}
    record["metrics"] = {"test_accuracy": accuracy}
    (run / "run.json").write_text(json.dumps(record))
    return run


def test_compare_sees_a_layer_swapped_for_one_without_arguments(tmp_path: Path) -> None:
    a = _fake_run(tmp_path, 1, {"BatchNormalization": {}}, 0.9)
    b = _fake_run(tmp_path, 2, {"LayerNormalization": {}}, 0.8)
    diff = {row["key"]: (row["a"], row["b"]) for row in compare_runs(a, b)["spec_diff"]}
    assert diff == {
        "model.sequential.layers[0].BatchNormalization": ({}, None),
        "model.sequential.layers[0].LayerNormalization": (None, {}),
    }


def test_runs_lists_one_names_directory_and_many_metrics(cli, tmp_path: Path) -> None:
    _fake_run(tmp_path, 1, {"Flatten": {}}, 0.9)
    assert "cnn" in cli("runs", tmp_path / "cnn").out  # runs/<name> works as well as runs/
    other = tmp_path / "other" / "1"
    other.mkdir(parents=True)
    metrics = {f"test_metric_{i}": i / 10 for i in range(6)}
    record = {"name": "other", "n": 1, "status": "completed", "started": "2026-01-05T10:00:00"}
    (other / "run.json").write_text(json.dumps({**record, "metrics": metrics}))
    listing = cli("runs", tmp_path)
    assert listing.code == 0
    text = listing.out.replace("│", " ")
    assert "accuracy 0.9000" in " ".join(text.split())  # one wrapped column, values kept
    assert "metric_5 0.5000" in " ".join(text.split())


def test_unseeded_run_is_evaluated_on_its_own_test_split(cli, tmp_path: Path) -> None:
    result = cli(
        "train", IRIS, "--epochs", "2", "--runs-dir", tmp_path, "--json", "--set", "seed=null"
    )
    assert result.code == 0, result.err
    run = Path(result.json()["run_dir"])
    assert yaml.safe_load((run / "spec.yaml").read_text())["seed"] is None
    evaluated = cli("evaluate", run, "--json").json()["metrics"]
    assert evaluated == pytest.approx(result.json()["metrics"]["test"])
