"""`kerascli train --workers N` (`kerascli.run.workers`): real worker processes, small Python
scripts standing in for `kerascli train`: their TF_CONFIG, the relayed logs, one failure stopping
all, restarts after a crash, signals passed on, temporary folders removed; and the CLI's
refusals and the command line it gives the workers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from kerascli.run.workers import kerascli_train, launch_workers
from tests.cli.conftest import IRIS, write
from tests.conftest import ROOT, invoke

pytest.importorskip("fcntl")  # process groups and signals as on Linux and macOS

WORKER = """
import json, os, signal, sys, time
from pathlib import Path

config = json.loads(os.environ["TF_CONFIG"])
index = config["task"]["index"]
folder, mode = Path(sys.argv[1]), sys.argv[2]
seen = {"config": config, "env": {k: os.environ.get(k) for k in ("PYTHONUNBUFFERED",
        "KERASCLI_WORKER_DIR")}, "argv": sys.argv}
(folder / f"seen-{index}.json").write_text(json.dumps(seen))
with open(folder / "starts.txt", "a") as handle:
    handle.write(f"{index}\\n")

def wait_for(name, seconds=30):
    deadline = time.time() + seconds
    while not (folder / name).exists() and time.time() < deadline:
        time.sleep(0.02)
    return (folder / name).exists()

def chief_started():  # in this attempt: as many starts of worker 0 as of worker 1
    for _ in range(1500):
        starts = (folder / "starts.txt").read_text().split()
        if starts.count("0") >= starts.count("1"):
            return
        time.sleep(0.02)

def noted(signum, frame):
    (folder / f"got-{signum}-{index}").touch()
    sys.exit(128 + signum)

if mode == "ok":
    print(f"out of {index}")
    print(f"hello from {index}", file=sys.stderr)
elif mode in ("fail", "exit2"):
    if index == 1:
        chief_started()
        print("boom", file=sys.stderr)
        sys.exit(1 if mode == "fail" else 2)
    time.sleep(60)
elif mode == "crash-once":
    if index == 1:
        chief_started()
        if not (folder / "crashed").exists():
            (folder / "crashed").touch()
            os.kill(os.getpid(), signal.SIGKILL)
        (folder / "ok").touch()
    elif not wait_for("ok"):
        sys.exit(5)
elif mode == "json-crash":
    if index == 0:
        if not (folder / "crashed").exists():
            (folder / "crashed").touch()
            print('{"attempt": 1}')
            sys.exit(1)
        print('{"ok": true}')
elif mode == "signals":
    signal.signal(signal.SIGTERM, noted)
    signal.signal(signal.SIGINT, noted)
    (folder / f"ready-{index}").touch()
    time.sleep(60)
elif mode == "stubborn":
    if index == 1:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        (folder / "ready-1").touch()
        time.sleep(60)
    wait_for("ready-1")
    sys.exit(1)
elif mode == "lingers":
    if index == 1:
        time.sleep(60)
"""


def script(folder: Path, mode: str) -> Any:
    """The command of a stand-in worker that behaves as `mode` says (see WORKER)."""
    path = folder / "worker.py"
    if not path.exists():
        path.write_text(textwrap.dedent(WORKER))
    return lambda index: [sys.executable, str(path), str(folder), mode]


def seen(folder: Path, index: int) -> dict[str, Any]:
    return json.loads((folder / f"seen-{index}.json").read_text())


def starts(folder: Path) -> list[str]:
    return (folder / "starts.txt").read_text().split()


def test_each_worker_has_its_tf_config_on_free_ports(tmp_path: Path, capfd) -> None:
    assert launch_workers(script(tmp_path, "ok"), 3) == 0
    configs = [seen(tmp_path, i)["config"] for i in range(3)]
    addresses = configs[0]["cluster"]["worker"]
    assert all(c["cluster"] == {"worker": addresses} for c in configs)
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    hosts, ports = zip(*(a.split(":") for a in addresses), strict=True)
    assert set(hosts) == {"localhost"} and len(set(ports)) == 3
    envs = [seen(tmp_path, i)["env"] for i in range(3)]
    assert all(env["PYTHONUNBUFFERED"] == "1" for env in envs)
    assert envs[0]["KERASCLI_WORKER_DIR"] is None  # the chief writes the run itself
    worker_dirs = [Path(envs[i]["KERASCLI_WORKER_DIR"]) for i in (1, 2)]
    assert [d.name for d in worker_dirs] == ["worker-1", "worker-2"]
    assert worker_dirs[0].parent == worker_dirs[1].parent
    assert worker_dirs[0].parent.name == "attempt-0"
    assert not worker_dirs[0].parent.parent.exists()  # removed at the end


def test_the_chief_keeps_stdout_the_others_stderr_is_relayed(tmp_path: Path, capfd) -> None:
    assert launch_workers(script(tmp_path, "ok"), 2) == 0
    out, err = capfd.readouterr()
    assert out == "out of 0\n"  # the others' stdout is dropped
    assert "hello from 0\n" in err and "[worker 1] hello from 1\n" in err


def test_a_failed_worker_stops_the_others(tmp_path: Path, capfd) -> None:
    started = time.monotonic()
    assert launch_workers(script(tmp_path, "fail"), 3, max_restarts=0) == 1
    assert time.monotonic() - started < 10  # the chief slept 60 s
    err = capfd.readouterr().err
    assert "[worker 1] boom" in err
    assert "worker 1 exited with code 1: stopping the other workers" in err
    worker_dir = Path(seen(tmp_path, 1)["env"]["KERASCLI_WORKER_DIR"])
    assert not worker_dir.parent.parent.exists()


def test_a_crash_restarts_all_the_workers(tmp_path: Path, capfd) -> None:
    assert launch_workers(script(tmp_path, "crash-once"), 2, max_restarts=1) == 0
    err = capfd.readouterr().err
    assert "worker 1 exited with code -9 (SIGKILL)" in err
    assert "restarting the 2 workers (restart 1 of 1)" in err
    assert sorted(starts(tmp_path)) == ["0", "0", "1", "1"]
    worker_dir = Path(seen(tmp_path, 1)["env"]["KERASCLI_WORKER_DIR"])
    assert worker_dir.parent.name == "attempt-1"  # the second attempt's
    assert not worker_dir.parent.parent.exists()


def test_no_restarts_left_is_a_runtime_failure(tmp_path: Path, capfd) -> None:
    assert launch_workers(script(tmp_path, "crash-once"), 2) == 1  # a runtime failure
    assert "restarting" not in capfd.readouterr().err
    assert sorted(starts(tmp_path)) == ["0", "1"]


def test_an_invalid_spec_is_not_restarted(tmp_path: Path, capfd) -> None:
    assert launch_workers(script(tmp_path, "exit2"), 2, max_restarts=3) == 2
    assert "restarting" not in capfd.readouterr().err
    assert sorted(starts(tmp_path)) == ["0", "1"]


def test_held_stdout_is_the_last_attempts(tmp_path: Path, capfd) -> None:
    """Under --json the chief's stdout is held: one document, the last attempt's."""
    command = script(tmp_path, "json-crash")
    assert launch_workers(command, 2, max_restarts=1, hold_stdout=sys.stdout.write) == 0
    assert json.loads(capfd.readouterr().out) == {"ok": True}


def test_held_stdout_tells_a_failure_the_chief_did_not(tmp_path: Path, capfd) -> None:
    assert launch_workers(script(tmp_path, "fail"), 2, hold_stdout=sys.stdout.write) == 1
    document = json.loads(capfd.readouterr().out)
    assert document == {"ok": False, "errors": [{"message": "worker 1 exited with code 1"}]}


def test_a_worker_that_ignores_sigterm_is_killed(tmp_path: Path, capfd) -> None:
    started = time.monotonic()
    assert launch_workers(script(tmp_path, "stubborn"), 2, grace=0.5) == 1
    assert time.monotonic() - started < 10
    assert "worker 0 exited with code 1" in capfd.readouterr().err


def test_the_others_may_linger_after_the_chief(tmp_path: Path, capfd) -> None:
    assert launch_workers(script(tmp_path, "lingers"), 2, linger=0.5) == 0
    assert "warning: worker 1 still runs 0.5 s after the chief: stopped" in capfd.readouterr().err


LAUNCHER = """
import sys
from kerascli.run.workers import launch_workers
try:
    sys.exit(launch_workers(lambda i: {command!r}, 2))
except KeyboardInterrupt as exc:
    print(type(exc).__name__)
    sys.exit(99)
"""


@pytest.mark.parametrize(
    ("signum", "raised"), [(signal.SIGINT, "KeyboardInterrupt"), (signal.SIGTERM, "Terminated")]
)
def test_signals_are_passed_on(tmp_path: Path, signum: int, raised: str) -> None:
    command = script(tmp_path, "signals")(0)
    code = textwrap.dedent(LAUNCHER).format(command=command)
    launcher = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 30
    while not all((tmp_path / f"ready-{i}").exists() for i in (0, 1)):
        assert time.monotonic() < deadline and launcher.poll() is None
        time.sleep(0.02)
    launcher.send_signal(signum)
    out, _ = launcher.communicate(timeout=20)
    assert (launcher.returncode, out.strip()) == (99, raised)
    assert all((tmp_path / f"got-{int(signum)}-{i}").exists() for i in (0, 1))


def test_ctrl_c_while_starting_stops_every_worker(tmp_path: Path, monkeypatch) -> None:
    """Ctrl-C between two workers' starts waits until both have started; both are stopped."""
    argv, started = script(tmp_path, "signals"), []

    class Counted(subprocess.Popen):  # the processes started, to see them end
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            started.append(self)

    def command(index: int) -> list[str]:
        if index == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return argv(index)

    monkeypatch.setattr(subprocess, "Popen", Counted)
    with pytest.raises(KeyboardInterrupt):
        launch_workers(command, 2)
    assert len(started) == 2
    assert all(process.returncode is not None for process in started)


# --- the CLI ---------------------------------------------------------------------------------

FAKE_PYTHON = """#!{python}
import json, os, sys
from pathlib import Path
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
Path(os.environ["FAKE_WORKERS"], f"argv-{{index}}.json").write_text(json.dumps(sys.argv[1:]))
if index == 0 and "--json" in sys.argv:
    print(json.dumps({{"ok": True}}))
"""


@pytest.fixture
def fake_python(tmp_path: Path, monkeypatch) -> Path:
    """`sys.executable` a stand-in that writes its words to `<folder>/argv-<index>.json`; the
    folder."""
    folder = tmp_path / "started"
    folder.mkdir()
    fake = tmp_path / "python"
    fake.write_text(FAKE_PYTHON.format(python=sys.executable))
    fake.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(fake))
    monkeypatch.setenv("FAKE_WORKERS", str(folder))
    monkeypatch.delenv("TF_CONFIG", raising=False)
    return folder


def test_the_workers_get_the_options_given(fake_python: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    result = invoke(
        "--debug", "train", IRIS, "--workers", "2", "--set", "fit.batch_size=8",
        "--epochs", "3", "--runs-dir", runs, "--name", "w", "--require", "accuracy>=0.5",
        "--json", "--verbose",
    )  # fmt: skip
    assert result.code == 0, result.err
    assert result.json() == {"ok": True}
    shared = ["train", str(IRIS), "--set", "fit.batch_size=8", "--epochs", "3"]
    shared += ["--runs-dir", str(runs), "--name", "w", "--verbose", "--debug"]
    multi_worker = ["--set", "distribute.strategy=multi_worker"]
    chief = json.loads((fake_python / "argv-0.json").read_text())
    other = json.loads((fake_python / "argv-1.json").read_text())
    assert chief == [
        "-m",
        "kerascli",
        *shared,
        "--require",
        "accuracy>=0.5",
        "--json",
        *multi_worker,
    ]
    assert other == ["-m", "kerascli", *shared, "--quiet", *multi_worker]


def test_kerascli_train_ends_with_the_strategy() -> None:
    argv = kerascli_train(["train", "a.yaml"], ["train", "a.yaml", "--quiet"])
    assert argv(0) == [
        sys.executable,
        "-m",
        "kerascli",
        "train",
        "a.yaml",
        "--set",
        "distribute.strategy=multi_worker",
    ]
    assert argv(1)[-3:] == ["--quiet", "--set", "distribute.strategy=multi_worker"]


CLUSTER = """
extends: {iris}
distribute:
  strategy: multi_worker
  cluster: {{worker: ["localhost:12345"]}}
"""


@pytest.mark.parametrize(
    ("words", "env", "says"),
    [
        (["--set", "distribute.strategy=mirrored"], {}, "spec says 'mirrored'"),
        (["--set", "distribute.strategy=one_device"], {}, "distribute.strategy multi_worker"),
        ([], {"TF_CONFIG": '{"cluster": {}}'}, "TF_CONFIG is set"),
        (["--spec-with-cluster"], {}, "the spec gives distribute.cluster"),
        (["--max-restarts", "1"], {}, "needs --workers"),
        (["--workers", "0"], {}, "--workers"),
        (["--set", "fit.epochs=0"], {}, "fit.epochs"),
        (["--require", "accuracy>>1"], {}, "accuracy>>1"),
    ],
)
def test_refusals(
    fake_python: Path, tmp_path: Path, monkeypatch, words: list[str], env: dict, says: str
) -> None:
    """Refused before any worker starts, in a line, exit 2."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    spec = IRIS
    if words == ["--spec-with-cluster"]:
        spec, words = write(tmp_path, "cluster.yaml", CLUSTER.format(iris=IRIS)), []
    if "--workers" not in words and "--max-restarts" not in words:
        words = [*words, "--workers", "2"]
    result = invoke("train", spec, *words, "--runs-dir", tmp_path / "runs")
    assert result.code == 2, result.err
    assert says in result.err
    assert not list(fake_python.iterdir())  # no worker started
    assert not (tmp_path / "runs").exists()


def test_a_refusal_in_json(fake_python: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TF_CONFIG", "{}")
    result = invoke("train", IRIS, "--workers", "2", "--json", "--runs-dir", tmp_path / "r")
    assert result.code == 2
    assert result.json()["ok"] is False
    assert "TF_CONFIG" in result.json()["errors"][0]["message"]
