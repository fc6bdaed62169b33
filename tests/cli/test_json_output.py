"""`--json` on every command: one JSON document on stdout and nothing else, in a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IRIS = ROOT / "model_specs" / "iris_mlp.yaml"


def kerascli(*args: object, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KERASCLI_VERBOSE"}
    return subprocess.run(
        [sys.executable, "-m", "kerascli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=300,
    )


def only_json(proc: subprocess.CompletedProcess[str]) -> dict:
    """stdout parses as exactly one JSON document."""
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    runs = tmp_path_factory.mktemp("runs")
    proc = kerascli("train", IRIS, "--epochs", "3", "--runs-dir", runs, "--json")
    assert proc.returncode == 0, proc.stderr
    document = only_json(proc)
    assert "epoch 3/3" in proc.stderr  # progress goes to stderr in JSON mode
    return runs, document


def test_train_json(trained: tuple[Path, dict]) -> None:
    runs, document = trained
    assert document["ok"] is True
    assert document["status"] == "completed"
    assert Path(document["run_dir"]) == runs / "iris-mlp" / "1"
    assert set(document["metrics"]) == {"train", "validation", "test"}
    assert document["epochs"] == 3


def test_evaluate_and_predict_json(trained: tuple[Path, dict]) -> None:
    runs, document = trained
    run = document["run_dir"]
    evaluated = kerascli("evaluate", run, "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert set(only_json(evaluated)["metrics"]) == {"accuracy", "loss"}
    predicted = kerascli("predict", run, ROOT / "model_specs" / "data" / "iris.csv", "--json")
    assert predicted.returncode == 0, predicted.stderr
    out = only_json(predicted)
    assert out["rows"] == 150
    assert len(out["predictions"]["species"]) == 150


def test_runs_json(trained: tuple[Path, dict]) -> None:
    runs, _ = trained
    listed = kerascli("runs", runs, "--json")
    assert listed.returncode == 0
    assert [r["status"] for r in only_json(listed)["runs"]] == ["completed"]


def test_summary_and_config_json() -> None:
    summary = kerascli("summary", IRIS, "--json")
    assert summary.returncode == 0, summary.stderr
    data = only_json(summary)
    assert data["total_params"] == 412
    assert [layer["class"] for layer in data["layers"]] == [
        "Normalization",
        "Dense",
        "Dense",
        "Dense",
    ]
    config = kerascli("config", IRIS, "--set", "fit.epochs=4", "--json")
    assert config.returncode == 0
    assert only_json(config)["fit"]["epochs"] == 4


def test_errors_in_json_mode(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(IRIS.read_text().replace("units: 16", "unitz: 16", 1))
    proc = kerascli("train", bad, "--json")
    assert proc.returncode == 2
    error = only_json(proc)["errors"][0]
    assert error["file"] == str(bad)
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "unitz" in t)
    assert (error["line"], error["path"]) == (line, "model.sequential.layers[1].Dense.unitz")
    assert "did you mean 'units'" in error["message"]
    runtime = kerascli("evaluate", tmp_path, "--json")
    assert runtime.returncode == 1
    assert "no model at" in only_json(runtime)["errors"][0]["message"]
