"""`kerascli tune`: a search over the shipped iris_tune.yaml finds a better configuration than the
spec's default within three trials, resumes without rerunning a trial, writes a best.yaml that
trains, refuses a changed spec; a failed trial is recorded and the search goes on."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import DEVNULL
from typing import Any

import pytest

from kerascli.run.trainer import train
from kerascli.run.tune import TuneResult, tune
from kerascli.run.tune_objective import check_objective, objective_direction
from kerascli.spec import SpecError, load_spec
from kerascli.spec.log_names import better
from kerascli.spec.search_spec import load_search_spec
from tests.conftest import ROOT, SPECS, invoke

TUNE = SPECS / "iris_tune.yaml"
UNITS = "model.sequential.layers[1].Dense.units"
RATE = "compile.optimizer.Adam.learning_rate"


# --- fast: what is refused before any trial -------------------------------------------------


def test_objective_must_be_logged_and_not_the_test_split() -> None:
    spec = load_search_spec(TUNE).default
    check_objective(spec, "val_accuracy")
    with pytest.raises(SpecError) as info:
        check_objective(spec, "val_acc")
    assert str(info.value).startswith(
        "--objective: 'val_acc' names a metric, which training does not log (did you mean "
        "'val_accuracy'?); it logs: loss, accuracy, val_loss, val_accuracy"
    )
    with pytest.raises(SpecError, match="tune on validation data \\('val_accuracy'\\)"):
        check_objective(spec, "test_accuracy")
    unvalidated = load_spec(SPECS / "iris_mlp.yaml", ["data.split.validation=0", "callbacks=[]"])
    with pytest.raises(SpecError, match="training has no validation data"):
        check_objective(unvalidated, "val_loss")


@pytest.mark.parametrize(
    ("objective", "given", "expected"),
    [
        ("val_loss", None, "min"),
        ("val_accuracy", None, "max"),
        ("val_mae", None, "min"),  # an error's short name
        ("val_mean_squared_error", None, "min"),
        ("val_f1_score", None, "max"),
        ("val_f1_score", "min", "min"),
        ("val_my_metric", "min", "min"),  # a plugin's metric: told, not guessed
    ],
)
def test_direction(objective: str, given: str | None, expected: str) -> None:
    spec = load_search_spec(TUNE).default
    assert objective_direction(spec, objective, given) == expected
    assert given is not None or better(spec, objective)[0] == expected


def test_a_direction_nobody_knows_is_asked_for() -> None:
    """A plugin metric's direction is not guessed: a wrong guess picks the worst trial."""
    spec = load_search_spec(TUNE).default
    with pytest.raises(SpecError, match="give --direction min or max"):
        objective_direction(spec, "val_my_metric")


@pytest.mark.parametrize("name", ["loss", "val_loss", "accuracy", "val_accuracy", "val_mae"])
@pytest.mark.parametrize("way", ["min", "max"])
def test_tune_and_monitor_checks_share_the_direction_rule(name: str, way: str) -> None:
    """`--direction` is refused exactly where `monitor: NAME` with that `mode` is: one rule
    (`kerascli.spec.log_names`)."""
    spec = load_search_spec(TUNE).default
    with_mae = ["compile.metrics=[accuracy, mae]"]
    callback = f"callbacks=[{{EarlyStopping: {{monitor: {name}, mode: {way}}}}}]"
    monitor = _refused(lambda: load_search_spec(TUNE, [*with_mae, callback]))
    assert _refused(lambda: objective_direction(spec, name, way)) == monitor


def _refused(check: Callable[[], object]) -> bool:
    try:
        check()
    except SpecError:
        return True
    return False


def test_a_direction_against_a_certain_one_is_refused(tmp_path: Path) -> None:
    result = invoke(
        "tune", TUNE, "--runs-dir", tmp_path, "--objective", "val_loss", "--direction", "max"
    )
    assert result.code == 2
    assert result.err.startswith(
        "--direction: 'val_loss' is a loss: lower is better; --direction max would choose the worst"
    )
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([SPECS / "iris_mlp.yaml"], "no search spaces: nothing to tune"),
        ([TUNE, "--tuner", "grid"], "--tuner: expected one of random, hyperband, bayesian"),
        (
            [TUNE, "--tuner", "hyperband", "--set", "fit.epochs={choice: [5, 10]}"],
            "fit.epochs: Hyperband chooses each trial's epochs itself",
        ),
    ],
)
def test_refused_before_any_trial(tmp_path: Path, args: list[Any], message: str) -> None:
    result = invoke("tune", *args, "--runs-dir", tmp_path)
    assert result.code == 2
    assert message in result.err
    assert not any(tmp_path.iterdir())


def _tune_spec(tmp_path: Path, old: str, new: str) -> Path:
    """iris_tune.yaml with `old` written as `new`, its data where it is."""
    text = TUNE.read_text(encoding="utf-8").replace("data/iris.csv", str(SPECS / "data/iris.csv"))
    assert old in text
    spec = tmp_path / "tune.yaml"
    spec.write_text(text.replace(old, new), encoding="utf-8")
    return spec


def _line(spec: Path, text: str) -> int:
    return next(i for i, line in enumerate(spec.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize(
    ("validation", "option"),
    [("{choice: [0.2, 0.0]}", "[0.2, 0.0]"), ("{choice: [0.0, 0.2]}", "[0.0, 0.2]")],
)
def test_the_objective_is_checked_at_each_option(
    tmp_path: Path, validation: str, option: str
) -> None:
    """At validation 0.0 no run records val_accuracy: refused at that option before any trial,
    whichever choice is the default."""
    spec = _tune_spec(tmp_path, "validation: 0.2", f"validation: {validation}")
    result = invoke("tune", spec, "--runs-dir", tmp_path / "runs")
    assert result.code == 2
    column = spec.read_text().splitlines()[_line(spec, option) - 1].index("0.0") + 1
    assert result.err.startswith(
        f"{spec}:{_line(spec, option)}:{column}: data.split.validation: --objective: "
        "'val_accuracy' names a metric, but training has no validation data"
    )
    assert "(with data.split.validation = 0.0, an option of its search space)" in result.err
    assert not (tmp_path / "runs").exists()


def test_each_options_data_is_read_before_any_trial(tmp_path: Path) -> None:
    """`validate` reads the header only; tune reads each option's data as a trial would."""
    spec = _tune_spec(tmp_path, "target: species", "target: {choice: [species, sepal_length]}")
    assert invoke("validate", spec).code == 0
    result = invoke("tune", spec, "--runs-dir", tmp_path / "runs")
    assert result.code == 2
    line = _line(spec, "stratify: true")
    column = spec.read_text().splitlines()[line - 1].index("true") + 1
    assert result.err.splitlines()[0] == (
        f"{spec}:{line}:{column}: data.split.stratify: stratify needs one integer or class-name "
        "target (with data.target = 'sepal_length', an option of its search space)"
    )
    assert not (tmp_path / "runs").exists()


def test_a_search_in_progress_is_not_run_twice(tmp_path: Path) -> None:
    """The search's directory is locked while a tune runs it (here, this process holds it)."""
    from kerascli.run.tune_store import hold_search, open_search

    path = tmp_path / "iris-tune"
    with hold_search(path):
        result = invoke("tune", TUNE, "--runs-dir", tmp_path)
        assert result.code == 2
        assert f"a search is in progress in {path} (pid {os.getpid()} on " in result.err
        (path / "search.json").write_text("{}")
        (path / "trial").mkdir()
        open_search(path, {}, overwrite=True)  # keeps the lock it holds
        assert sorted(p.name for p in path.iterdir()) == [".lock", "search.json"]
        with pytest.raises(SpecError, match="a search is in progress"), hold_search(path):
            pass
    with hold_search(path):  # released
        pass


# --- slow: real searches --------------------------------------------------------------------


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The default configuration trained as a normal run; a search of two trials, then the
    same search continued to three."""
    runs = tmp_path_factory.mktemp("tune")
    default = train(load_search_spec(TUNE).default, runs / "default", stream=io.StringIO())
    first = tune(TUNE, runs, max_trials=2)
    listing = sorted(p.name for p in (first.path / "trial").iterdir())
    second = tune(TUNE, runs, max_trials=3, stream=io.StringIO())
    return {"runs": runs, "default": default, "first": first, "second": second, "listing": listing}


def _value(result: TuneResult) -> float:
    assert result.best is not None and result.best.value is not None
    return result.best.value


@pytest.mark.slow
def test_tune_beats_the_default(searched: dict[str, Any]) -> None:
    default = searched["default"].flat_metrics()["val_accuracy"]  # 0.6 here
    second: TuneResult = searched["second"]
    assert _value(second) > default + 0.1  # 0.9 here, at trial 1
    assert [t.status for t in second.trials] == ["completed"] * 3
    best = second.best
    assert best is not None and best.run_dir is not None
    record = json.loads((best.run_dir / "run.json").read_text())
    assert record["trial"] == {
        "search": str(second.path),
        "id": best.id,
        "hyperparameters": best.hyperparameters,
        "objective": "val_accuracy",
    }
    assert record["metrics"]["val_accuracy"] == best.value
    with (second.path / "trials.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["trial"] for r in rows] == ["0", "1", "2"]
    assert list(rows[0])[:6] == ["trial", "status", "val_accuracy", UNITS, RATE, "fit.batch_size"]


@pytest.mark.slow
def test_resume_keeps_completed_trials(searched: dict[str, Any]) -> None:
    first, second = searched["first"], searched["second"]
    assert (first.resumed, second.resumed) == (False, True)
    assert searched["listing"] == ["1", "2"]
    assert sorted(p.name for p in (second.path / "trial").iterdir()) == ["1", "2", "3"]
    assert [t.to_dict() for t in second.trials[:2]] == [t.to_dict() for t in first.trials]


@pytest.mark.slow
def test_runs_lists_the_trials_table(searched: dict[str, Any]) -> None:
    result = invoke("runs", searched["second"].path)  # 80 columns: not a terminal
    assert result.code == 0
    header = next(line for line in result.out.splitlines() if "trial" in line)
    words = [w for w in header.replace("┃", " ").split() if w]
    assert words == ["trial", "hyperparameters", "val_accuracy", "n", "status", "duration"]
    assert "units=16" in result.out and "learning_rate=" in result.out


@pytest.mark.slow
def test_a_trial_killed_outright_is_still_a_trial(tmp_path: Path) -> None:
    """A trial's run records the trial from its start: SIGKILL leaves it a trial of the table."""
    command = [sys.executable, "-m", "kerascli", "tune", TUNE, "--runs-dir", tmp_path]
    env = {**os.environ, "CI": "true"}
    process = subprocess.Popen(command, stdout=DEVNULL, stderr=DEVNULL, env=env, cwd=ROOT)
    run_json = tmp_path / "iris-tune" / "trial" / "1" / "run.json"
    deadline = time.monotonic() + 120
    try:
        while not run_json.is_file():  # (written whole: `atomic_write`)
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        process.kill()
        process.wait()
    record = json.loads(run_json.read_text())
    assert (record["trial"]["id"], record["trial"]["objective"]) == ("00", "val_accuracy")
    assert set(record["trial"]["hyperparameters"]) == {UNITS, RATE, "fit.batch_size"}
    result = invoke("runs", tmp_path / "iris-tune")
    assert result.code == 0, result.err
    assert "┃ trial ┃ hyperparameters" in result.out and "dead" in result.out


@pytest.mark.slow
def test_the_table_lists_trials_that_made_no_run(tmp_path: Path) -> None:
    """`units: -1` passes `validate` (not `--deep`): the trial fails before its run exists,
    and is still a row of the table, as of trials.csv."""
    units = f"{UNITS}={{choice: [-1, -2]}}"
    args = ["--set", units, "--max-trials", "2", "--runs-dir", tmp_path]
    result = invoke("tune", TUNE, *args)
    assert result.code == 1  # no trial completed
    assert not (tmp_path / "iris-tune" / "trial").exists()
    rows = [line for line in result.out.splitlines() if line.startswith("│")]
    statuses = [row.split("│")[-3].strip() for row in rows if row.split("│")[1].strip()]
    assert statuses == ["failed", "failed"]
    csv_rows = (tmp_path / "iris-tune" / "trials.csv").read_text().splitlines()[1:]
    assert [r.split(",")[1] for r in csv_rows] == ["failed", "failed"]


@pytest.mark.slow
def test_best_spec_trains_to_the_best_trial(searched: dict[str, Any], tmp_path: Path) -> None:
    second: TuneResult = searched["second"]
    assert second.best_spec == second.path / "best.yaml"
    assert invoke("validate", second.best_spec).out.strip() == f"ok {second.best_spec}"
    result = invoke("train", second.best_spec, "--runs-dir", tmp_path, "--json")
    assert result.code == 0, result.err
    assert result.json()["metrics"]["validation"]["accuracy"] == pytest.approx(_value(second))


@pytest.mark.slow
def test_a_changed_spec_is_refused(searched: dict[str, Any]) -> None:
    runs = searched["runs"]
    result = invoke("tune", TUNE, "--runs-dir", runs, "--set", "fit.epochs=5")
    assert result.code == 2
    assert "the spec changed since this search began" in result.err
    assert "give --overwrite" in result.err
    result = invoke("tune", TUNE, "--runs-dir", runs, "--objective", "val_loss")
    assert result.code == 2
    assert "the search began with --objective val_accuracy (now val_loss)" in result.err


@pytest.mark.slow
def test_a_failed_trial_is_recorded_and_the_search_goes_on(tmp_path: Path) -> None:
    nan = "compile.optimizer={SGD: {learning_rate: {choice: [1.0e+12, 0.01]}}}"
    args = ["--max-trials", "2", "--epochs", "1", "--seed", "2", "--set", nan, "--json"]
    result = invoke("tune", TUNE, "--runs-dir", tmp_path, *args)
    assert result.code == 0, result.err
    failed, completed = result.json()["trials"]
    assert failed["status"] == "failed"
    assert failed["error"].startswith("the loss became NaN in epoch 1")
    assert failed["hyperparameters"]["compile.optimizer.SGD.learning_rate"] == 1e12
    record = json.loads((Path(failed["run_dir"]) / "run.json").read_text())
    assert (record["status"], record["trial"]["id"]) == ("failed", failed["id"])
    assert completed["status"] == "completed"
    assert result.json()["best"]["id"] == completed["id"]


@pytest.mark.slow
def test_hyperband_sets_each_trials_epochs(tmp_path: Path) -> None:
    args = ["--tuner", "hyperband", "--max-trials", "2", "--epochs", "3", "--json"]
    result = invoke("tune", TUNE, "--runs-dir", tmp_path, *args)
    assert result.code == 0, result.err
    document = result.json()
    epochs = [t["hyperparameters"]["fit.epochs"] for t in document["trials"]]
    assert all(1 <= e <= 3 for e in epochs)
    best = document["best"]
    assert load_spec(document["best_spec"]).fit.epochs == best["hyperparameters"]["fit.epochs"]
    record = json.loads((Path(best["run_dir"]) / "run.json").read_text())
    assert record["epochs_done"] == best["hyperparameters"]["fit.epochs"]


@pytest.mark.slow
def test_bayesian_optimisation_runs(tmp_path: Path) -> None:
    args = ["--tuner", "bayesian", "--max-trials", "2", "--epochs", "2", "--json"]
    result = invoke("tune", TUNE, "--runs-dir", tmp_path, *args)
    assert result.code == 0, result.err
    assert [t["status"] for t in result.json()["trials"]] == ["completed", "completed"]


@pytest.mark.slow
def test_three_failures_in_a_row_stop_the_search(tmp_path: Path) -> None:
    nan = "compile.optimizer={SGD: {learning_rate: {choice: [1.0e+12, 0.01]}}}"
    args = ["--max-trials", "4", "--epochs", "1", "--seed", "7", "--set", nan, "--json"]
    result = invoke("tune", TUNE, "--runs-dir", tmp_path, *args)
    assert result.code == 1
    document = result.json()  # one document: the trials, and why the search stopped
    assert document["ok"] is False
    assert document["errors"][0]["message"].startswith("3 trials in a row failed")
    assert [t["status"] for t in document["trials"]] == ["failed"] * 3
    assert document["best"] is None
    assert (tmp_path / "iris-tune" / "trials.csv").read_text().count("\n") == 4
