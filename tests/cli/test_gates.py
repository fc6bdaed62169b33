"""Quality gates: `--require METRIC OP NUMBER` on train and evaluate, exit code 3 when one fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerascli.cli.render import gates_table
from kerascli.run.gates import GateResult, parse_gates

from .conftest import IRIS


def train(cli, runs: Path, *args: str):
    return cli("train", IRIS, "--epochs", "2", "--runs-dir", runs, "--quiet", *args)


def test_train_passing_gate(cli, tmp_path: Path) -> None:
    result = train(cli, tmp_path, "--require", "val_accuracy>=0.0", "--require", "loss>0")
    assert result.code == 0, result.err
    assert "quality gates failed" not in result.err
    record = json.loads((tmp_path / "iris-mlp" / "1" / "run.json").read_text())
    assert record["status"] == "completed"


def test_train_failing_gate_prints_the_gates_table(cli, tmp_path: Path) -> None:
    result = train(cli, tmp_path, "--require", "accuracy>=1.1", "--require", "test_loss>=0")
    assert result.code == 3, result.err
    assert "quality gates failed" in result.err
    rows = {line.split()[1]: line for line in result.err.splitlines() if line.startswith("│")}
    assert "FAIL" in rows["accuracy>=1.1"] and "pass" in rows["test_loss>=0"]
    assert "quality gates" not in result.out
    # the run itself completed: the gate judges it, it does not undo it
    assert (tmp_path / "iris-mlp" / "1" / "model.keras").is_file()


def test_train_gates_in_json(cli, tmp_path: Path) -> None:
    result = train(cli, tmp_path, "--json", "--require", "val_loss<=1e9", "--require", "loss<0")
    assert result.code == 3
    document = json.loads(result.out)  # stdout is the JSON document and nothing else
    assert document["ok"] is False
    gates = {g["gate"]: g for g in document["gates"]}
    assert set(gates) == {"val_loss<=1e+09", "loss<0"}
    assert gates["val_loss<=1e+09"]["passed"] is True
    assert gates["loss<0"]["passed"] is False
    assert gates["loss<0"]["value"] == document["metrics"]["train"]["loss"]
    assert (gates["loss<0"]["metric"], gates["loss<0"]["op"]) == ("loss", "<")
    assert "quality gates failed" not in result.err  # the document says it


@pytest.mark.parametrize(
    "gate", ["accuracy=>0.9", "accuracy>=1.2.3", ">=0.5", "accuracy>=high", "accuracy", "loss<-"]
)
def test_malformed_gate_exits_2_before_training(cli, tmp_path: Path, gate: str) -> None:
    result = train(cli, tmp_path, "--require", gate)
    assert result.code == 2, result.err
    assert f"--require: cannot read '{gate}': expected METRIC OP NUMBER" in result.err
    assert not tmp_path.joinpath("iris-mlp").exists()  # nothing was trained
    document = train(cli, tmp_path, "--require", gate, "--json").json()
    assert (
        document["ok"] is False and "expected METRIC OP NUMBER" in document["errors"][0]["message"]
    )


def test_unknown_gate_metric_on_train(cli, tmp_path: Path) -> None:
    result = train(cli, tmp_path, "--require", "val_acuracy>=0.5")
    assert result.code == 2
    assert "--require val_acuracy>=0.5: no metric 'val_acuracy'" in result.err
    assert "did you mean 'val_accuracy'" in result.err
    # Found after the first epoch, not after the whole run: the run stops there, marked failed.
    (record,) = tmp_path.glob("*/*/run.json")
    run = json.loads(record.read_text())
    assert (run["status"], run["epochs_done"]) == ("failed", 1)
    assert "no metric 'val_acuracy'" in run["error"]


def test_evaluate_gates(cli, iris_run: Path) -> None:
    passed = cli("evaluate", iris_run, "--require", "accuracy>=0", "--require", "loss>0")
    assert passed.code == 0, passed.err
    failed = cli("evaluate", iris_run, "--require", "loss<0.0001")
    assert failed.code == 3
    assert "loss<0.0001" in failed.err and "FAIL" in failed.err
    document = cli("evaluate", iris_run, "--require", "loss<0.0001", "--json")
    assert document.code == 3
    gate = document.json()["gates"][0]
    assert (gate["gate"], gate["passed"]) == ("loss<0.0001", False)
    assert gate["value"] == document.json()["metrics"]["loss"]


def test_unknown_gate_metric_on_evaluate(cli, iris_run: Path) -> None:
    result = cli("evaluate", iris_run, "--require", "acuracy>=0.5")
    assert result.code == 2
    assert result.err.startswith(
        "--require acuracy>=0.5: no metric 'acuracy' (did you mean 'accuracy'?); "
        "metrics: accuracy, loss"
    )
    # evaluate reports the split's own names: no val_ prefix
    result = cli("evaluate", iris_run, "--require", "val_accuracy>=0.5", "--json")
    assert result.code == 2
    assert "did you mean 'accuracy'" in result.json()["errors"][0]["message"]


def test_gates_table_shows_small_values() -> None:
    """Values to 4 significant digits: a difference of 2e-7 is not shown as 0.0000."""
    from rich.console import Console

    (tiny, big) = parse_gates(["max_abs_diff<1e-9", "loss<0.5"])
    table = gates_table([GateResult(tiny, 2e-7, False), GateResult(big, 0.123456, True)])
    console = Console(width=100, record=True, color_system=None)
    console.print(table)
    text = console.export_text()
    assert "2e-07" in text and "0.1235" in text and "0.0000" not in text
