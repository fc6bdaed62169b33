"""Bad data, bad overrides and runs that fail part-way: clear messages, right exit codes."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from .conftest import SPECS

IRIS = SPECS / "iris_mlp.yaml"
FIXTURES = Path(__file__).parent / "fixtures"


def _spec_with(tmp_path: Path, **data: object) -> Path:
    """A copy of the iris spec in tmp_path with `data:` fields replaced."""
    import yaml

    spec = yaml.safe_load(IRIS.read_text())
    spec["data"].update(data)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_missing_data_file(cli, tmp_path: Path) -> None:
    spec = _spec_with(tmp_path, path="data/nowhere.csv")
    result = cli("train", spec, "--runs-dir", tmp_path / "runs")
    assert result.code == 2
    assert f"{spec}:" in result.err and "data file not found" in result.err
    assert "data.path" in result.err
    assert not (tmp_path / "runs").exists()


def test_unknown_column(cli, tmp_path: Path) -> None:
    shutil.copy(SPECS / "data" / "iris.csv", tmp_path / "iris.csv")
    spec = _spec_with(tmp_path, path="iris.csv", target="specie")
    result = cli("train", spec, "--runs-dir", tmp_path / "runs")
    assert result.code == 2
    assert "data.target" in result.err
    assert "no column 'specie'" in result.err and "did you mean 'species'" in result.err


def test_non_numeric_value_names_row_and_column(cli, tmp_path: Path) -> None:
    rows = list(csv.reader(open(SPECS / "data" / "iris.csv")))
    rows[7][2] = "n/a"
    with open(tmp_path / "iris.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    spec = _spec_with(tmp_path, path="iris.csv")
    result = cli("train", spec, "--runs-dir", tmp_path / "runs")
    assert result.code == 2
    assert f"{tmp_path / 'iris.csv'}:8" in result.err
    assert "non-numeric value 'n/a' in column 'petal_length'" in result.err


def test_wrong_input_width(cli, tmp_path: Path) -> None:
    result = cli(
        "train", IRIS, "--set", "model.sequential.input.shape=[3]", "--runs-dir", tmp_path / "runs"
    )
    assert result.code == 2
    line = next(i for i, t in enumerate(IRIS.read_text().splitlines(), 1) if "features:" in t)
    assert f"iris_mlp.yaml:{line}:" in result.err
    assert "data.features: 4 columns for input shape [3] (needs 3)" in result.err
    assert not (tmp_path / "runs").exists()  # caught before a run directory is made


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("fit.epochs=abc", "fit.epochs"),
        ("fit.epoch=3", "unknown key 'epoch'"),
        ("fit", "expected KEY.PATH=VALUE"),
        ("model.sequential.layers[9].Dense.units=3", "layers has 4 items: index 9 is past"),
        ("model.sequential.layers.0.Dense.units=3", "(write model.sequential.layers[0])"),
        ("fit.epochs.x=3", "fit.epochs is a value (60), not a mapping or list"),
        ("data.features=[a, b", "cannot read the value as YAML: unclosed '['"),
    ],
)
def test_bad_override(cli, tmp_path: Path, override: str, expected: str) -> None:
    result = cli("train", IRIS, "--set", override, "--runs-dir", tmp_path / "runs")
    assert result.code == 2, result.err
    assert expected in result.err
    assert "--set" in result.err
    assert "Traceback" not in result.err


def test_run_failing_midway_is_marked_failed(cli, tmp_path: Path) -> None:
    shutil.copy(FIXTURES / "boom.py", tmp_path / "boom.py")
    spec = _spec_with(tmp_path, path=str(SPECS / "data" / "iris.csv"))
    text = spec.read_text().replace(
        "callbacks:\n", "plugins: [boom.py]\ncallbacks:\n- FailAtEpoch: {epoch: 3}\n", 1
    )
    spec.write_text(text)
    result = cli("train", spec, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.code == 1
    assert "boom at epoch 3" in result.err
    run = tmp_path / "runs" / "iris-mlp" / "1"
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "failed"
    assert "boom at epoch 3" in record["error"]
    assert record["epochs_done"] == 3
    assert len((run / "history.csv").read_text().strip().splitlines()) == 1 + 3
    log = (run / "train.log").read_text().splitlines()
    assert log[-2].startswith("epoch  3/60") and "boom at epoch 3" in log[-1]
    assert (run / "spec.yaml").is_file()
    assert not (run / "model.keras").exists()


def test_nan_loss_fails_the_run(cli, tmp_path: Path) -> None:
    result = cli(
        "train",
        IRIS,
        "--set",
        "compile.optimizer={SGD: {learning_rate: 1.0e+12}}",
        "--runs-dir",
        tmp_path / "runs",
        "--quiet",
    )
    assert result.code == 1
    assert "loss became NaN" in result.err
    record = json.loads((tmp_path / "runs" / "iris-mlp" / "1" / "run.json").read_text())
    assert record["status"] == "failed"


def test_same_seed_same_history(cli, tmp_path: Path) -> None:
    histories = []
    for _ in range(2):
        result = cli(
            "train", IRIS, "--epochs", "6", "--runs-dir", tmp_path / "runs", "--json", "--quiet"
        )
        assert result.code == 0, result.err
        histories.append((Path(result.json()["run_dir"]) / "history.csv").read_text())
    assert histories[0] == histories[1]
    other = cli(
        "train",
        IRIS,
        "--epochs",
        "6",
        "--set",
        "seed=8",
        "--runs-dir",
        tmp_path / "runs",
        "--json",
        "--quiet",
    )
    assert (Path(other.json()["run_dir"]) / "history.csv").read_text() != histories[0]


def test_quality_gates(cli, tmp_path: Path) -> None:
    ok = cli(
        "train",
        IRIS,
        "--epochs",
        "3",
        "--runs-dir",
        tmp_path / "runs",
        "--quiet",
        "--require",
        "loss>=0",
    )
    assert ok.code == 0, ok.err
    failed = cli(
        "train",
        IRIS,
        "--epochs",
        "3",
        "--runs-dir",
        tmp_path / "runs",
        "--quiet",
        "--require",
        "val_accuracy>=1.01",
        "--require",
        "loss>=0",
    )
    assert failed.code == 3
    assert "val_accuracy>=1.01" in failed.err and "FAIL" in failed.err
    malformed = cli("train", IRIS, "--runs-dir", tmp_path / "runs", "--require", "accuracy=>0.9")
    assert malformed.code == 2
    assert "expected METRIC OP NUMBER" in malformed.err
    unknown = cli("evaluate", tmp_path / "runs" / "iris-mlp" / "1", "--require", "acc>=0.5")
    assert unknown.code == 2
    assert "no metric 'acc'" in unknown.err


@pytest.mark.parametrize(
    ("spec", "override", "path", "message"),
    [
        (
            "iris_mlp.yaml",
            "model.sequential.layers[3].Dense.units=2",
            "model.sequential.layers[3]",
            "the target has 3 classes (ids 0 to 2) but the output layer gives 2 units; "
            "give it 3 units",
        ),
        (
            "digits_subclass.yaml",
            "model.subclass.args.classes=8",
            "model.subclass.args",
            "the target has 10 classes (ids 0 to 9) but the output layer gives 8 units; "
            "give it 10 units",
        ),
    ],
)
def test_too_few_output_units_for_the_classes(
    cli, tmp_path: Path, spec: str, override: str, path: str, message: str
) -> None:
    result = cli("train", SPECS / spec, "--set", override, "--runs-dir", tmp_path / "runs")
    assert result.code == 2, result.err
    assert f"{path}: {message}" in result.err
    assert not (tmp_path / "runs").exists()  # found before a run directory is made


def test_categorical_loss_with_class_ids(cli, tmp_path: Path) -> None:
    result = cli(
        "train", IRIS, "--set", "compile.loss=categorical_crossentropy", "--runs-dir", tmp_path
    )
    assert result.code == 2, result.err
    assert (
        "compile.loss: categorical_crossentropy wants one-hot targets (3 columns), but the "
        "target has one class per row: use sparse_categorical_crossentropy"
    ) in result.err
    assert not (tmp_path / "iris-mlp").exists()
