"""`kerascli train --resume RUN`: a finished or interrupted run continued in a new run directory,
its optimizer state and history included, as the uninterrupted run would have trained."""

from __future__ import annotations

import io
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from kerascli.run.resume import ResumeError, read_history
from kerascli.run.saved_run import load_run
from kerascli.run.train_state import STATE, StateMismatch, read_state, save_state
from kerascli.run.trainer import train
from kerascli.spec import load_spec
from tests.conftest import ROOT, STOP_AT, invoke

IRIS = ROOT / "model_specs" / "iris_mlp.yaml"
PLAIN = ["callbacks=[]"]  # no EarlyStopping: every epoch trains
STEPS = math.ceil(90 / 16)  # iris's training split: 90 rows, batches of 16


def _train(runs: Path, epochs: int, spec: Path = IRIS, name: str | None = None) -> Path:
    loaded = load_spec(spec, [*PLAIN, f"fit.epochs={epochs}"] if spec == IRIS else [])
    return train(loaded, runs, name, stream=io.StringIO()).path


def _weights(run: Path) -> dict[str, Any]:
    """Every array of a run's `model.keras`, the optimizer's included, by its path."""
    import h5py

    with zipfile.ZipFile(run / "model.keras") as archive:
        data = archive.read("model.weights.h5")
    out: dict[str, Any] = {}

    def visit(key: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset):
            out[key] = item[()]

    with h5py.File(io.BytesIO(data), "r") as file:
        file.visititems(visit)
    return out


def _iterations(run: Path) -> int:
    """The optimizer's step count in a run's `model.keras` (Adam's first variable)."""
    return int(_weights(run)["optimizer/vars/0"])


def _record(run: Path) -> dict[str, Any]:
    return json.loads((run / "run.json").read_text())


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished 2-epoch run, and the same spec trained 4 epochs without a stop."""
    root = tmp_path_factory.mktemp("resume")
    return {"root": root, "finished": _train(root, 2), "straight": _train(root / "straight", 4)}


@pytest.mark.slow
def test_a_finished_run_resumes_beside_itself_as_the_uninterrupted_run(runs) -> None:
    finished = runs["finished"]
    result = invoke("train", "--resume", finished, "--epochs", "4", "--json", "--quiet")
    assert result.code == 0, result.err
    resumed = Path(result.json()["run_dir"])
    assert resumed.parent == finished.parent and resumed != finished  # a new run, beside it
    assert _record(finished)["epochs_done"] == 2 and _record(resumed)["epochs_done"] == 4
    assert _record(resumed)["resumed_from"] == {
        "run": str(finished.resolve()),
        "epoch": 3,
        "state": "model.keras",
    }
    old, new = read_history(finished / "history.csv"), read_history(resumed / "history.csv")
    assert [r["epoch"] for r in new] == [1, 2, 3, 4] and new[:2] == old
    # the first epoch resumed goes on from the last one done, not from a fresh start's loss
    assert abs(new[2]["loss"] - old[1]["loss"]) < abs(new[2]["loss"] - old[0]["loss"])
    assert _iterations(resumed) == 4 * STEPS  # the optimizer's step count went on
    # its spec.yaml trains as a new run would (epochs 1-4), the resume is in run.json
    assert load_spec(resumed / "spec.yaml").fit.initial_epoch == 0
    # data order, weights and optimizer state as if the run had trained 4 epochs at once
    straight = runs["straight"]
    assert new == read_history(straight / "history.csv")
    expected, got = _weights(straight), _weights(resumed)
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        np.testing.assert_allclose(got[key], value, rtol=0, atol=1e-6, err_msg=key)
    # once complete, the state is small: model.keras holds the weights
    meta, arrays = read_state(resumed / STATE)
    assert meta["epoch"] == 4 and not meta["weights"] and not arrays


@pytest.mark.slow
def test_a_resume_may_lower_the_learning_rate(runs) -> None:
    rate = "compile.optimizer.Adam.learning_rate=0.001"
    result = invoke("train", "--resume", runs["finished"], "--epochs", "3", "--set", rate, "--json")
    assert result.code == 0, result.err
    rows = read_history(Path(result.json()["run_dir"]) / "history.csv")
    assert [r["learning_rate"] for r in rows] == pytest.approx([0.01, 0.01, 0.001])


@pytest.mark.slow
def test_a_run_that_died_resumes_from_its_last_saved_epoch(runs, tmp_path: Path) -> None:
    (tmp_path / "stop_at.py").write_text(STOP_AT)
    spec = yaml.safe_load(IRIS.read_text())
    spec.update(plugins=["stop_at.py"], callbacks=[{"StopAt": {"epoch": 3}}])
    spec["fit"]["epochs"] = 4
    spec["data"]["path"] = str(IRIS.parent / spec["data"]["path"])
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    result = invoke("train", tmp_path / "spec.yaml", "--runs-dir", tmp_path, "--quiet")
    assert result.code == 1 and "stopped at epoch 3" in result.err
    died = tmp_path / "iris-mlp" / "1"
    assert len(read_history(died / "history.csv")) == 3  # epoch 3 written, then it failed
    assert read_state(died / STATE)[0] == {"epoch": 2, "weights": True, "keras": ANY_VERSION}

    resumed = invoke(  # without StopAt, which would stop it again
        "train", "--resume", "iris-mlp/1", "--runs-dir", tmp_path, "--set", "callbacks=[]", "--json"
    )
    assert resumed.code == 0, resumed.err
    path = Path(resumed.json()["run_dir"])
    assert _record(path)["resumed_from"]["epoch"] == 3
    assert _record(path)["resumed_from"]["state"] == STATE
    rows = read_history(path / "history.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]
    assert rows == read_history(runs["straight"] / "history.csv")  # as if never stopped
    assert _iterations(path) == _iterations(runs["straight"]) == 4 * STEPS


class _AnyVersion:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and other.startswith("3.")


ANY_VERSION = _AnyVersion()


@pytest.mark.slow
def test_sigterm_leaves_a_state_that_resumes(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "kerascli", "train", IRIS, "--epochs", "500"]
    command += ["--set", "callbacks=[]", "--runs-dir", tmp_path, "--quiet"]
    env = {**os.environ, "CI": "true"}
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    run = tmp_path / "iris-mlp" / "1"
    deadline = time.monotonic() + 120
    while len(read_history(run / "history.csv")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err.decode()
    assert _record(run)["status"] == "terminated"
    done = read_state(run / STATE)[0]["epoch"]
    assert done >= 2  # epoch 3 may be in history.csv, not yet in the state

    result = invoke("train", "--resume", run, "--epochs", str(done + 2), "--json", "--quiet")
    assert result.code == 0, result.err
    resumed = Path(result.json()["run_dir"])
    rows = read_history(resumed / "history.csv")
    assert [r["epoch"] for r in rows] == list(range(1, done + 3))
    assert rows[:done] == read_history(run / "history.csv")[:done]
    assert _record(resumed)["resumed_from"]["epoch"] == done + 1
    assert _iterations(resumed) == (done + 2) * STEPS


@pytest.mark.slow
def test_what_a_resume_refuses(runs, tmp_path: Path) -> None:
    finished = runs["finished"]

    def refused(*args: Any) -> str:
        result = invoke("train", "--resume", *args, "--quiet")
        assert result.code == 2, result.err
        return " ".join(result.err.split())

    assert "has trained 2 epochs, and fit.epochs is 2: give --epochs more than 2" in refused(
        finished
    )
    assert "resumes with its own model" in refused(
        finished, "--epochs", "3", "--set", "model.sequential.layers[1].Dense.units=8"
    )
    assert "BackupAndRestore" in refused(
        finished, "--epochs", "3", "--set", "callbacks=[BackupAndRestore]"
    )
    copy = tmp_path / "copy" / "1"
    shutil.copytree(finished, copy)
    spec = yaml.safe_load((copy / "spec.yaml").read_text())
    (copy / "spec.yaml").write_text(yaml.safe_dump({**spec, "stages": [{"epochs": 1}]}))
    assert "trains in stages" in refused(copy, "--epochs", "3")
    (copy / "spec.yaml").write_text(yaml.safe_dump(spec))
    record = _record(copy)
    (copy / "run.json").write_text(json.dumps({**record, "status": "interrupted"}))
    (copy / STATE).unlink()
    assert "saved no training state" in refused(copy, "--epochs", "3")
    (copy / "run.json").write_text(json.dumps({**record, "status": "running", "pid": os.getpid()}))
    assert "is still training" in refused(copy, "--epochs", "3")
    assert "no run 'nothing/1'" in refused("nothing/1", "--runs-dir", tmp_path)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["SPEC", "--resume", "RUN"], "give SPEC or --resume, not both"),
        (["--resume", "RUN", "--weights", "RUN"], "--resume continues a run from its own"),
        (["--resume", "RUN", "--name", "x"], "goes beside the run it continues"),
        (["--resume", "RUN", "--workers", "2"], "not with --weights or --resume"),
        ([], "give the SPEC to train (or --resume RUN)"),
    ],
)
def test_argument_clashes_are_refused_first(args: list[str], message: str) -> None:
    args = [str(IRIS) if a == "SPEC" else a for a in args]
    result = invoke("train", *args, "--json")
    assert result.code == 2
    assert message in result.json()["errors"][0]["message"]


def _copy(run: Path, root: Path, status: str | None = None, **record: Any) -> Path:
    """A copy of `run` (`root/copy/1`), its run.json's fields changed; an unfinished status
    gets the state.npz of the run's last epoch (with its weights)."""
    copy = root / "copy" / "1"
    shutil.copytree(run, copy)
    fields = {**_record(copy), **record, **({"status": status} if status else {})}
    (copy / "run.json").write_text(json.dumps(fields))
    if status not in (None, "completed"):
        save_state(load_run(copy).model, copy / STATE, fields["epochs_done"])
    return copy


def _refused(*args: Any) -> dict[str, Any]:
    result = invoke("train", "--resume", *args, "--quiet", "--json")
    assert result.code == 2, result.err
    return result.json()["errors"][0]


@pytest.mark.slow
def test_a_resume_keeps_the_input_columns(runs) -> None:
    permuted = "data.features=[petal_width, petal_length, sepal_width, sepal_length]"
    before = sorted(runs["finished"].parent.iterdir())
    error = _refused(runs["finished"], "--epochs", "3", "--set", permuted)
    assert "was trained on the input columns ['sepal_length'" in error["message"]
    assert "--set" in str(error) and "data.features" in str(error)
    assert sorted(runs["finished"].parent.iterdir()) == before


@pytest.mark.slow
def test_the_epochs_done_come_from_the_state_and_files_that_disagree_are_refused(
    runs, tmp_path: Path
) -> None:
    copy = _copy(runs["finished"], tmp_path)
    (copy / "history.csv").unlink()  # was: resumed as if no epoch were done
    assert "history.csv" in str(_refused(copy, "--epochs", "3"))
    shutil.copy(runs["finished"] / "history.csv", copy / "history.csv")
    (copy / "run.json").write_text(json.dumps({**_record(copy), "epochs_done": 5}))
    assert (
        "state.npz says 2 epochs done, its run.json 5" in _refused(copy, "--epochs", "6")["message"]
    )
    assert [p.name for p in (tmp_path / "copy").iterdir()] == ["1"]  # no run left behind


@pytest.mark.slow
def test_a_run_running_on_another_host_resumes_only_with_force(runs, tmp_path: Path) -> None:
    copy = _copy(runs["finished"], tmp_path, "running", host="node7", pid=1)
    message = _refused(copy, "--epochs", "3")["message"]
    assert "still training (pid 1 on node7)" in message and "--force" in message
    result = invoke("train", "--resume", copy, "--epochs", "3", "--force", "--json", "-q")
    assert result.code == 0, result.err
    assert _record(Path(result.json()["run_dir"]))["resumed_from"]["epoch"] == 3


@pytest.mark.slow
def test_a_resumed_run_s_spec_trains_as_a_new_run(runs, tmp_path: Path) -> None:
    result = invoke("train", "--resume", runs["finished"], "--epochs", "3", "--json", "-q")
    assert result.code == 0, result.err
    resumed = Path(result.json()["run_dir"])
    again = train(load_spec(resumed / "spec.yaml", ["fit.epochs=1"]), tmp_path)
    assert [row["epoch"] for row in again.history] == [1]
    assert "resumed_from" not in _record(again.path)


@pytest.mark.slow
def test_a_state_that_does_not_fit_is_refused_before_a_run_is_made(runs, tmp_path: Path) -> None:
    copy = _copy(runs["finished"], tmp_path, "interrupted")
    meta, arrays = read_state(copy / STATE)
    arrays["weight_1"] = np.zeros((5, 5), "float32")
    _write_state(copy / STATE, meta, arrays)
    error = _refused(copy, "--epochs", "3")
    assert error["file"] == str(copy / STATE)
    assert error["message"] == "does not fit the model: its weight_1 is (5, 5), the model's (4,)"
    _write_state(copy / STATE, meta, {k: v for k, v in arrays.items() if "optim" not in k})
    assert "holds no optimizer state" in _refused(copy, "--epochs", "3")["message"]
    assert [p.name for p in (tmp_path / "copy").iterdir()] == ["1"]


def _write_state(path: Path, meta: Any, arrays: dict[str, Any]) -> None:
    np.savez(path, meta=np.array(json.dumps(meta)), **arrays)
    if path.suffix != ".npz":
        path.with_name(path.name + ".npz").replace(path)


OK_META = {"epoch": 2, "weights": True}


@pytest.mark.parametrize(
    ("meta", "arrays", "message"),
    [
        ({"weights": True}, {}, "no epoch count (epoch: None)"),
        ([1, 2], {}, "its `meta` is list, not a record"),
        (OK_META, {"weight_0": np.zeros(2), "weight_2": np.zeros(2)}, "`weight_1` is missing"),
        (OK_META, {"weight_0": np.array(["a", "b"])}, "`weight_0` holds <U1 values"),
        (OK_META, {"other": np.zeros(2)}, "an unknown array `other`"),
        (None, {}, "not a training state kerascli wrote (not an .npz archive)"),
    ],
)
def test_a_damaged_state_is_refused_naming_it(
    tmp_path: Path, meta: Any, arrays: dict[str, Any], message: str
) -> None:
    path = tmp_path / STATE
    if meta is None:
        path.write_text("epoch,loss\n1,0.5\n")  # a text file renamed
    else:
        _write_state(path, meta, arrays)
    with pytest.raises(StateMismatch) as caught:
        read_state(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path) and message in problem.message


def test_a_history_with_an_epoch_that_is_no_number_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n1,0.5\nbanana,0.4\n")
    with pytest.raises(ResumeError) as caught:
        read_history(path)
    (problem,) = caught.value.problems
    assert problem.file == str(path) and "line 3: epoch 'banana' is not an epoch number" in (
        problem.message
    )
