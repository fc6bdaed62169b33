"""Runs that end badly leave records you can trust: broken backups are set aside, concurrent runs
keep their own backups, a resumed run names the run it resumed, SIGTERM and SIGKILL are told
apart from a running run, a full disk leaves no half-written files, and `--runs-dir` must be a
directory."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kerascli.run.rundir import HOST
from tests.conftest import STOP_AT

from .conftest import IRIS, ROOT, invoke, write

fcntl = pytest.importorskip("fcntl")  # locks and signals as on Linux and macOS


def backup_specs(folder: Path, backup: str = "BackupAndRestore") -> tuple[Path, Path]:
    """A spec whose run dies after epoch 2 with a backup, and the same spec that runs through
    (4 epochs)."""
    write(folder, "stop.py", STOP_AT)
    base = f"extends: {IRIS}\nfit: {{epochs: 4}}\nplugins: [stop.py]\n"
    dies = write(folder, "dies.yaml", base + f"callbacks: [{backup}, {{StopAt: {{epoch: 2}}}}]")
    again = write(folder, "again.yaml", base + f"callbacks: [{backup}]")
    return dies, again


def record(run: Path) -> dict[str, Any]:
    return json.loads((run / "run.json").read_text())


def epochs(run: Path) -> list[int]:
    lines = (run / "history.csv").read_text().splitlines()[1:]
    return [int(float(line.split(",")[0])) for line in lines]


def interrupted_backup(cli, tmp_path: Path, backup: str = "BackupAndRestore") -> Path:
    """Run 1 dies after epoch 2 and leaves its backup; the backup directory."""
    dies, _ = backup_specs(tmp_path, backup)
    assert cli("train", dies, "--runs-dir", tmp_path / "runs", "--quiet").code == 1
    (backup_dir,) = (tmp_path / "runs" / "iris-mlp").glob("backup-*")
    assert json.loads((backup_dir / "training_metadata.json").read_text())["epoch"] == 2
    return backup_dir


@pytest.fixture(scope="module")
def died(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder where run 1 of `backup_specs` died after epoch 2 and left its backup, trained
    once for the tests that only resume from (or damage) a copy of it."""
    folder = tmp_path_factory.mktemp("died")
    dies, _ = backup_specs(folder)
    assert invoke("train", dies, "--runs-dir", folder / "runs", "--quiet").code == 1
    return folder


@pytest.fixture
def backup(died: Path, tmp_path: Path) -> Path:
    """In a copy of `died` in tmp_path: the backup directory run 1 left (after epoch 2)."""
    shutil.copytree(died, tmp_path, dirs_exist_ok=True)
    (backup_dir,) = (tmp_path / "runs" / "iris-mlp").glob("backup-*")
    assert json.loads((backup_dir / "training_metadata.json").read_text())["epoch"] == 2
    return backup_dir


# --- 1. a broken backup does not block later runs ---------------------------------------


def _empty_metadata(backup: Path) -> None:
    (backup / "training_metadata.json").write_bytes(b"")  # died while Keras wrote it


def _cut_weights(backup: Path) -> None:
    weights = backup / "latest.weights.h5"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _no_weights(backup: Path) -> None:
    (backup / "latest.weights.h5").unlink()  # Keras would resume at epoch 3 with new weights


def _epochs_beyond_fit(backup: Path) -> None:  # Keras would train nothing and say completed
    (backup / "training_metadata.json").write_text('{"epoch": 100000, "batch": 0}')


def _epoch_true(backup: Path) -> None:  # JSON's true is no epoch count
    (backup / "training_metadata.json").write_text('{"epoch": true, "batch": 0}')


def _negative_epoch(backup: Path) -> None:
    (backup / "training_metadata.json").write_text('{"epoch": -1, "batch": 0}')


def _weights_after_metadata(backup: Path) -> None:
    """Died after Keras saved epoch 3's weights, before it wrote their epoch count: epoch 2's
    count with epoch 3's weights would train an epoch twice."""
    later = (backup / "training_metadata.json").stat().st_mtime_ns + 10**9
    os.utime(backup / "latest.weights.h5", ns=(later, later))


@pytest.mark.parametrize(
    "damage",
    [
        _empty_metadata,
        _cut_weights,
        _no_weights,
        _epochs_beyond_fit,
        _epoch_true,
        _negative_epoch,
        _weights_after_metadata,
    ],
)
def test_broken_backup_is_moved_aside_and_training_starts_afresh(
    cli, tmp_path: Path, backup: Path, damage
) -> None:
    damage(backup)
    _, again = backup_specs(tmp_path)
    result = cli("train", again, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.code == 0, result.err
    run = tmp_path / "runs" / "iris-mlp" / "2"
    assert epochs(run) == [1, 2, 3, 4]
    (aside,) = backup.parent.glob(f"{backup.name}.broken-*")
    warning = f"warning: backup {backup} cannot be resumed from"
    assert warning in result.err and aside.name in result.err
    assert warning in (run / "train.log").read_text()
    assert "resumed_from" not in record(run)
    assert not backup.exists()  # the new run's backup, removed by Keras as it completed


def test_a_backup_of_every_epoch_is_resumed_from(cli, tmp_path: Path, backup: Path) -> None:
    # Keras's `epoch` counts the epochs done: 4 of 4 is a run that died before Keras removed
    # its backup, and is resumed from (nothing left to train), not set aside.
    (backup / "training_metadata.json").write_text('{"epoch": 4, "batch": 0}')
    _, again = backup_specs(tmp_path)
    result = cli("train", again, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.code == 0, result.err
    assert "cannot be resumed from" not in result.err
    assert not list(backup.parent.glob(f"{backup.name}.broken-*"))
    run = tmp_path / "runs" / "iris-mlp" / "2"
    assert record(run)["resumed_from"]["epoch"] == 5


def test_previous_state_of_a_double_checkpoint_is_resumed_from(cli, tmp_path: Path) -> None:
    import inspect

    import keras

    if "double_checkpoint" not in inspect.signature(keras.callbacks.BackupAndRestore).parameters:
        pytest.skip("BackupAndRestore(double_checkpoint=...) needs Keras 3.7 or newer")
    backup = interrupted_backup(cli, tmp_path, "{BackupAndRestore: {double_checkpoint: true}}")
    _empty_metadata(backup)  # the state after epoch 2 is broken; the one after epoch 1 is whole
    _, again = backup_specs(tmp_path, "{BackupAndRestore: {double_checkpoint: true}}")
    result = cli("train", again, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.code == 0, result.err
    assert "resuming from the state before it" in result.err
    run = tmp_path / "runs" / "iris-mlp" / "2"
    assert epochs(run) == [2, 3, 4]
    assert record(run)["resumed_from"]["epoch"] == 2


# --- 2. and 3. concurrent runs keep their own backups; a resumed run names its origin --------


@pytest.fixture
def held(tmp_path: Path) -> Iterator[Any]:
    """`held(backup_dir)` locks a backup directory as another live run would, until the test
    ends."""
    handles: list[Any] = []

    def hold(backup: Path) -> None:
        handle = open(backup.with_name(f".{backup.name}.lock"), "a+")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write(json.dumps({"run": "runs/other/7", "pid": os.getpid(), "host": HOST}))
        handle.flush()
        handles.append(handle)

    yield hold
    for handle in handles:
        handle.close()


def test_a_backup_in_use_is_not_shared(cli, tmp_path: Path, backup: Path, held) -> None:
    held(backup)
    metadata = (backup / "training_metadata.json").read_bytes()
    dies, again = backup_specs(tmp_path)
    runs = tmp_path / "runs"
    result = cli("train", dies, "--runs-dir", runs, "--quiet")
    assert result.code == 1  # dies after epoch 2, keeping its own backup
    second = backup.with_name(f"{backup.name}-2")
    assert f"backup {backup} is in use by run runs/other/7 (pid {os.getpid()} on {HOST})" in (
        result.err
    )
    assert f"this run backs up to {second}" in result.err
    assert record(runs / "iris-mlp" / "2")["backup"] == str(second.resolve())
    assert epochs(runs / "iris-mlp" / "2") == [1, 2]  # nothing resumed from the other's backup
    assert (backup / "training_metadata.json").read_bytes() == metadata  # untouched
    assert json.loads((second / "training_metadata.json").read_text())["epoch"] == 2


def test_a_lock_left_by_a_dead_process_is_taken_over(cli, tmp_path: Path, backup: Path) -> None:
    lock = backup.with_name(f".{backup.name}.lock")
    lock.write_text(json.dumps({"run": "runs/gone/1", "pid": 999_999_999, "host": HOST}))
    _, again = backup_specs(tmp_path)
    result = cli("train", again, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.code == 0, result.err
    assert "in use" not in result.err
    assert epochs(tmp_path / "runs" / "iris-mlp" / "2") == [3, 4]
    assert not lock.exists()  # released as the run ended


def test_the_next_run_of_the_model_resumes_and_names_the_run_it_resumed(
    cli, tmp_path: Path
) -> None:
    backup = interrupted_backup(cli, tmp_path)
    runs = tmp_path / "runs"
    first, other, resumed = (runs / "iris-mlp" / str(n) for n in (1, 2, 3))
    assert json.loads((backup / "writer.json").read_text())["run"] == str(first.resolve())
    _, again = backup_specs(tmp_path)
    # another model (more units) does not resume from this backup: it starts at epoch 1
    wider = ("--set", "model.sequential.layers[1].Dense.units=24")
    assert cli("train", again, *wider, "--runs-dir", runs, "--quiet").code == 0
    assert epochs(other) == [1, 2, 3, 4] and "resumed_from" not in record(other)
    assert backup.is_dir()
    result = cli("train", again, "--runs-dir", runs, "--quiet")
    assert result.code == 0, result.err
    assert epochs(resumed) == [3, 4]  # epochs 1-2 were done (and backed up) by the first run
    assert record(resumed)["resumed_from"] == {"run": str(first.resolve()), "epoch": 3}
    assert record(resumed)["backup"] == record(first)["backup"] == str(backup.resolve())
    assert "resumed_from" not in record(first)
    assert not backup.exists()  # Keras removes it once training ends
    assert cli("runs", runs, "--json").json()["runs"][-1]["n"] == 3  # a backup is no run


# --- 4. and 5. SIGTERM and SIGKILL: in this process, then with real processes (slow lane) ---

TERMINATE = """
import os
import signal

import keras

class Terminate(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None):
            raise RuntimeError("kerascli set no SIGTERM handler: none sent")
        os.kill(os.getpid(), signal.SIGTERM)  # what `kill <pid>` sends
"""


def test_sigterm_marks_the_run_terminated(cli, tmp_path: Path) -> None:
    write(tmp_path, "terminate.py", TERMINATE)
    spec = write(
        tmp_path, "spec.yaml", f"extends: {IRIS}\nplugins: [terminate.py]\ncallbacks: [Terminate]\n"
    )
    result = cli("train", spec, "--runs-dir", tmp_path / "runs", "--quiet")
    assert result.code == 143, result.err
    run = tmp_path / "runs" / "iris-mlp" / "1"
    assert "error: terminated (SIGTERM)" in result.err
    assert f"run {run} is marked terminated" in result.err
    assert record(run)["status"] == "terminated"
    assert (run / "train.log").read_text().splitlines()[-1] == "terminated"


def _start(spec: Path, runs: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CI": "true"}
    command = [sys.executable, "-m", "kerascli", "train", spec, "--runs-dir", runs, "--quiet"]
    with open(log, "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def _run_of(process: subprocess.Popen[bytes], runs: Path, timeout: float = 120) -> Path:
    """The run directory of `process`, once it has trained an epoch."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, "the training process ended early"
        for run_json in runs.glob("*/*/run.json"):
            try:
                mine = json.loads(run_json.read_text()).get("pid") == process.pid
            except ValueError:
                continue
            if mine and (run_json.parent / "history.csv").exists():
                return run_json.parent
        time.sleep(0.1)
    raise AssertionError("no epoch trained in time")


@pytest.fixture(scope="module")
def ended(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Two `kerascli train` processes of one spec with a backup at once, one ended by SIGTERM,
    the other by SIGKILL."""
    tmp = tmp_path_factory.mktemp("signals")
    spec = write(
        tmp, "long.yaml", f"extends: {IRIS}\nfit: {{epochs: 100000}}\ncallbacks: [BackupAndRestore]"
    )
    runs = tmp / "runs"
    termed = _start(spec, runs, tmp / "termed.log")
    killed = _start(spec, runs, tmp / "killed.log")
    try:
        termed_run, killed_run = _run_of(termed, runs), _run_of(killed, runs)
        termed.send_signal(signal.SIGTERM)
        killed.send_signal(signal.SIGKILL)
        codes = termed.wait(60), killed.wait(60)  # reaped: no zombie looks alive
    finally:
        for process in (termed, killed):
            if process.poll() is None:
                process.kill()
                process.wait()
    yield {
        "runs": runs,
        "termed": termed_run,
        "killed": killed_run,
        "codes": codes,
        "output": (tmp / "termed.log").read_text(),
    }


@pytest.mark.slow
def test_concurrent_runs_back_up_to_their_own_directories(ended) -> None:
    backups = {record(ended["termed"])["backup"], record(ended["killed"])["backup"]}
    assert len(backups) == 2
    (first,) = [b for b in backups if not b.endswith("-2")]
    assert f"{first}-2" in backups


@pytest.mark.slow
def test_sigterm_to_a_process_marks_its_run_terminated_and_exits_143(ended) -> None:
    assert ended["codes"][0] == 143, ended["output"]
    run = ended["termed"]
    assert record(run)["status"] == "terminated"
    assert record(run)["epochs_done"] >= 1
    assert "error: terminated (SIGTERM)" in ended["output"]
    assert f"run {run} is marked terminated" in ended["output"]
    assert (run / "train.log").read_text().splitlines()[-1] == "terminated"


@pytest.mark.slow
def test_a_killed_run_is_listed_dead(cli, ended) -> None:
    assert ended["codes"][1] == -signal.SIGKILL
    assert record(ended["killed"])["status"] == "running"  # it could not write anything else
    listed = {r["path"]: r["status"] for r in cli("runs", ended["runs"], "--json").json()["runs"]}
    assert listed == {str(ended["killed"]): "dead", str(ended["termed"]): "terminated"}
    assert "dead" in cli("runs", ended["runs"]).out


def _fake_running(root: Path, n: int, **fields: Any) -> None:
    run = root / "cnn" / str(n)
    run.mkdir(parents=True)
    started = "2026-01-01T10:00:00+00:00"
    record = {"name": "cnn", "n": n, "status": "running", "started": started, **fields}
    (run / "run.json").write_text(json.dumps(record))


def test_only_a_run_whose_process_is_gone_from_this_host_is_dead(cli, tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    _fake_running(tmp_path, 1, pid=gone.pid, host=HOST)
    _fake_running(tmp_path, 2, pid=gone.pid, host=f"not-{HOST}")  # cannot be told: running
    _fake_running(tmp_path, 3)  # written before runs recorded their process
    statuses = [r["status"] for r in cli("runs", tmp_path, "--json").json()["runs"]]
    assert statuses == ["dead", "running", "running"]


def test_sigterm_handler_is_put_back_after_a_command(cli, tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    assert cli("runs", tmp_path).code == 0
    assert signal.getsignal(signal.SIGTERM) is before


# --- 6. a full disk --------------------------------------------------------------------------


@pytest.fixture
def disk_full(monkeypatch: pytest.MonkeyPatch):
    """`disk_full("metrics.json", ...)`: replacing those files (how kerascli writes every file,
    atomically) fails with ENOSPC, as on a full disk; `disk_full(after="history.csv")`: every
    write fails once that file has been written."""
    real = os.replace

    def fill(*names: str, after: str | None = None) -> None:
        full = [False]

        def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
            name = Path(dst).name
            if name in names or full[0]:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
            real(src, dst, *args, **kwargs)
            full[0] = full[0] or name == after

        monkeypatch.setattr(os, "replace", replace)

    return fill


def _leftovers(root: Path) -> list[str]:
    """Hidden files: the temporary files kerascli writes before renaming them."""
    return sorted(p.name for p in root.rglob(".*") if p.is_file())


def test_run_json_that_cannot_be_written_leaves_no_run_directory(
    cli, tmp_path: Path, disk_full
) -> None:
    disk_full("run.json")
    result = cli("train", IRIS, "--epochs", "1", "--runs-dir", tmp_path, "--quiet")
    assert result.code == 1
    assert "No space left on device" in result.err
    assert list((tmp_path / "iris-mlp").iterdir()) == []  # no empty numbered directory
    assert "marked failed" not in result.err


@pytest.mark.parametrize("name", ["metrics.json", "model.keras", "history.csv"])
def test_disk_full_marks_the_run_failed_and_leaves_no_temporary_file(
    cli, tmp_path: Path, disk_full, name: str
) -> None:
    disk_full(name)
    result = cli("train", IRIS, "--epochs", "2", "--runs-dir", tmp_path, "--quiet")
    assert result.code == 1
    run = tmp_path / "iris-mlp" / "1"
    assert f"run {run} is marked failed" in result.err
    assert record(run)["status"] == "failed"
    assert "No space left on device" in record(run)["error"]
    assert _leftovers(tmp_path) == []
    assert not (run / name).exists()


def test_a_run_the_disk_cannot_mark_says_so(cli, tmp_path: Path, disk_full) -> None:
    disk_full(after="history.csv")  # after epoch 1, nothing more can be written
    result = cli("train", IRIS, "--epochs", "3", "--runs-dir", tmp_path, "--quiet")
    assert result.code == 1
    run = tmp_path / "iris-mlp" / "1"
    assert "No space left on device" in result.err
    assert f"could not mark run {run} failed" in result.err
    assert "is marked failed" not in result.err
    assert record(run)["status"] == "running"  # `kerascli runs` shows it dead once we are gone
    assert _leftovers(tmp_path) == []


# --- 7. --runs-dir must be a directory --------------------------------------------------------


def test_runs_dir_that_is_a_file_is_an_argument_error(cli, tmp_path: Path) -> None:
    runs = write(tmp_path, "runs", "not a directory\n")
    broken = write(tmp_path, "broken.yaml", "name: [oops\n")  # would be exit 2 too, differently
    for args in (("train", broken, "--runs-dir", runs), ("runs", runs)):
        result = cli(*args)
        assert result.code == 2, result.err
        assert "is a file" in result.err
        # the argument's name, as Click spells it ('runs_dir'; older Click: '[RUNS_DIR]')
        names = ("'--runs-dir'",) if args[0] == "train" else ("'runs_dir'", "'[RUNS_DIR]'")
        assert any(name in result.err for name in names), result.err
    assert runs.read_text() == "not a directory\n"


def test_runs_dir_under_a_file_is_an_argument_error(cli, tmp_path: Path) -> None:
    afile = write(tmp_path, "afile", "not a directory\n")
    for runs in (afile / "sub", afile / "sub" / "deeper"):
        for args in (("train", IRIS, "--runs-dir", runs), ("runs", runs)):
            result = cli(*args)
            assert result.code == 2, result.err
            assert f"{afile} is a file" in result.err and "Traceback" not in result.err
            names = ("'--runs-dir'",) if args[0] == "train" else ("'runs_dir'", "'[RUNS_DIR]'")
            assert any(name in result.err for name in names), result.err
            document = cli(*args, "--json")
            assert document.code == 2
            assert f"{afile} is a file" in document.json()["errors"][0]["message"]
    assert afile.read_text() == "not a directory\n"
