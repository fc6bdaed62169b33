"""`--json` on every command: one JSON document on stdout and nothing else.

In-process (`invoke`); `test_smoke.py` checks the same in a real process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import IRIS, ROOT, Result, invoke


def only_json(result: Result) -> dict:
    """stdout parses as exactly one JSON document."""
    return json.loads(result.out)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    runs = tmp_path_factory.mktemp("runs")
    result = invoke("train", IRIS, "--epochs", "3", "--runs-dir", runs, "--json")
    assert result.code == 0, result.err
    document = only_json(result)
    assert "epoch 3/3" in result.err  # progress goes to stderr in JSON mode
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
    evaluated = invoke("evaluate", run, "--json")
    assert evaluated.code == 0, evaluated.err
    assert set(only_json(evaluated)["metrics"]) == {"accuracy", "loss"}
    predicted = invoke("predict", run, ROOT / "model_specs" / "data" / "iris.csv", "--json")
    assert predicted.code == 0, predicted.err
    out = only_json(predicted)
    assert out["rows"] == 150
    assert len(out["predictions"]["species"]) == 150


def test_runs_json(trained: tuple[Path, dict]) -> None:
    runs, _ = trained
    listed = invoke("runs", runs, "--json")
    assert listed.code == 0
    assert [r["status"] for r in only_json(listed)["runs"]] == ["completed"]


def test_summary_and_config_json() -> None:
    summary = invoke("summary", IRIS, "--json")
    assert summary.code == 0, summary.err
    data = only_json(summary)
    assert data["total_params"] == 412
    assert [layer["class"] for layer in data["layers"]] == [
        "Normalization",
        "Dense",
        "Dense",
        "Dense",
    ]
    config = invoke("config", IRIS, "--set", "fit.epochs=4", "--json")
    assert config.code == 0
    assert only_json(config)["fit"]["epochs"] == 4


def test_errors_in_json_mode(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(IRIS.read_text().replace("units: 16", "unitz: 16", 1))
    result = invoke("train", bad, "--json")
    assert result.code == 2
    error = only_json(result)["errors"][0]
    assert error["file"] == str(bad)
    line = next(i for i, t in enumerate(bad.read_text().splitlines(), 1) if "unitz" in t)
    assert (error["line"], error["path"]) == (line, "model.sequential.layers[1].Dense.unitz")
    assert "did you mean 'units'" in error["message"]
    runtime = invoke("evaluate", tmp_path, "--json")
    assert runtime.code == 1
    assert "no model at" in only_json(runtime)["errors"][0]["message"]
