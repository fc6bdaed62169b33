"""Training under tf.distribute on CPU: MirroredStrategy on 2 logical CPU devices matches one
device, 2 local workers end with identical weights equal to it, only the chief writes a run,
and what cannot work is refused with a located message.

A strategy must be created before TensorFlow runs any op, and this test session has run many:
each training here is a new `python -m kerascli` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SPECS

IRIS = SPECS / "iris_mlp.yaml"
EPOCHS = "12"


def kerascli(*args: str | Path, env: dict[str, str] | None = None, timeout: int = 300) -> Any:
    """Run `python -m kerascli` in a new process; the completed process (text output)."""
    environ = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    environ.update({"CI": "true", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "kerascli", *map(str, args)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=ROOT,
        timeout=timeout,
    )


def trained(runs: Path, *sets: str, workers: int = 0) -> dict[str, Any]:
    """Train iris for `EPOCHS` with `--set` values; its run: `run.json`, history and path."""
    extra = [a for s in sets for a in ("--set", s)]
    more = ["--workers", str(workers)] if workers else []
    done = kerascli("train", IRIS, "--epochs", EPOCHS, "--runs-dir", runs, *extra, *more, "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    path = Path(json.loads(done.stdout)["run_dir"])
    history = (path / "history.csv").read_text().splitlines()
    header = history[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in history[1:]]
    return {
        "path": path,
        "record": json.loads((path / "run.json").read_text()),
        "metrics": json.loads((path / "metrics.json").read_text()),
        "losses": [float(r["loss"]) for r in rows],
        "stderr": done.stderr,
    }


@pytest.fixture(scope="module")
def one_device(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return trained(tmp_path_factory.mktemp("one"))


@pytest.mark.slow
def test_mirrored_on_two_cpus_matches_one_device(
    tmp_path: Path, one_device: dict[str, Any]
) -> None:
    mirrored = trained(tmp_path, "distribute.strategy=mirrored", "distribute.devices=2")
    record = mirrored["record"]["distribute"]
    assert record["class"] == "MirroredStrategy"
    assert record["replicas"] == 2
    assert len(record["devices"]) == 2
    assert record["global_batch_size"] == 16 and record["per_replica_batch_size"] == 8
    assert record["steps_per_execution"] == 1 and record["jit_compile"] is False  # Keras's auto
    assert record["mixed_precision"] == "float32" and record["synchronized_batch_norm"] == []
    assert mirrored["losses"] == pytest.approx(one_device["losses"], abs=1e-4)
    for split, values in one_device["metrics"].items():
        assert mirrored["metrics"][split] == pytest.approx(values, abs=1e-4)
    assert one_device["record"]["distribute"]["strategy"] == "default"
    assert one_device["record"]["distribute"]["replicas"] == 1
    assert any(d["type"] == "CPU" for d in one_device["record"]["devices"])


@pytest.mark.slow
def test_two_local_workers_match_one_device(tmp_path: Path, one_device: dict[str, Any]) -> None:
    runs = tmp_path / "runs"
    workers = trained(runs, workers=2)
    record = workers["record"]["distribute"]
    assert record["class"] == "MultiWorkerMirroredStrategy"
    assert record["workers"] == 2 and record["replicas"] == 2 and record["chief"] is True
    assert record["keras_fix"] == "keras-team/keras#20585"
    digests = record["weights_digests"]
    assert len(digests) == 2 and digests[0] == digests[1] and digests[0] != 0
    assert workers["losses"] == pytest.approx(one_device["losses"], abs=1e-4)
    for split, values in one_device["metrics"].items():
        assert workers["metrics"][split] == pytest.approx(values, abs=1e-4)
    # one run directory, the chief's; the other worker's went to a temp dir, removed
    assert sorted(p.name for p in (runs / "iris-mlp").iterdir()) == ["1"]
    assert "[worker 1]" not in workers["stderr"] or "Traceback" not in workers["stderr"]


@pytest.mark.slow
def test_mirrored_refuses_steps_per_execution(tmp_path: Path) -> None:
    done = kerascli(
        "train", IRIS, "--epochs", "1", "--runs-dir", tmp_path,
        "--set", "distribute.strategy=mirrored", "--set", "distribute.devices=2",
        "--set", "compile.steps_per_execution=2",
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "compile.steps_per_execution" in done.stderr
    assert "keras-team/keras#19246" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "iris-mlp").exists()  # refused before a run exists


@pytest.mark.slow
def test_what_this_machine_cannot_give_is_refused(tmp_path: Path) -> None:
    import tensorflow as tf

    base = ["train", IRIS, "--epochs", "1", "--runs-dir", tmp_path]
    small = kerascli(
        *base, "--set", "distribute.strategy=mirrored", "--set", "distribute.devices=2",
        "--set", "fit.batch_size=1",
    )  # fmt: skip
    assert small.returncode == 2, small.stderr
    assert "fit.batch_size: batch_size 1 is the global batch, split over 2 replicas" in small.stderr
    tpu = kerascli(*base, "--set", "distribute.strategy=tpu")
    assert tpu.returncode == 1, tpu.stderr
    assert "tpu:" in tpu.stderr and "Traceback" not in tpu.stderr
    cluster = ["--set", "distribute.strategy=multi_worker", "--set", "distribute.cluster={worker: ['localhost:1']}"]  # fmt: skip
    tf_config = {"TF_CONFIG": '{"cluster": {"worker": ["localhost:2"]}}'}
    both = kerascli(*base, *cluster, env=tf_config)
    assert both.returncode == 2, both.stderr
    assert "distribute.cluster: TF_CONFIG is set in the environment" in both.stderr
    alone = kerascli(*base, env=tf_config)  # a cluster's worker without multi_worker
    assert alone.returncode == 1, alone.stderr
    assert "distribute.strategy is default: this process would train alone" in alone.stderr
    if not tf.config.list_physical_devices("GPU"):
        gpu = kerascli(*base, "--set", "distribute.strategy=mirrored", "--set", "distribute.devices=[/gpu:0]")  # fmt: skip
        assert gpu.returncode == 2, gpu.stderr
        assert "distribute.devices[0]: no /gpu:0 on this machine (it has no GPU)" in gpu.stderr
    assert not (tmp_path / "iris-mlp").exists()  # every refusal came before a run existed


def test_a_strategy_after_tensorflow_ran_says_so(tmp_path: Path) -> None:
    """In this test session TensorFlow has run ops: splitting the CPU into devices is refused
    with the reason, not a traceback (the CLI trains in a new process)."""
    import tensorflow as tf

    from kerascli.run.strategies import StrategyFailed
    from kerascli.run.trainer import train
    from kerascli.spec import load_spec

    tf.constant(1.0) + 1.0  # TensorFlow is initialized
    spec = load_spec(IRIS, ["distribute.strategy=mirrored", "distribute.devices=7"])
    with pytest.raises(StrategyFailed, match="before TensorFlow runs any op"):
        train(spec, tmp_path)
    assert not (tmp_path / "iris-mlp").exists()


@pytest.mark.slow
def test_mixed_precision_trains_and_predicts(tmp_path: Path, cli: Any) -> None:
    done = cli(
        "train", IRIS, "--runs-dir", tmp_path, "--json",
        "--set", "distribute.mixed_precision=mixed_bfloat16",
    )  # fmt: skip
    assert done.code == 0, done.err
    path = Path(done.json()["run_dir"])
    assert done.json()["metrics"]["test"]["accuracy"] >= 0.9
    record = json.loads((path / "run.json").read_text())["distribute"]
    assert record["mixed_precision"] == "mixed_bfloat16" and record["strategy"] == "default"
    out = tmp_path / "predictions.csv"
    predicted = cli("predict", path, SPECS / "data" / "iris.csv", "-o", out)
    assert predicted.code == 0, predicted.err
    rows = out.read_text().splitlines()
    assert len(rows) == 151 and "setosa" in rows[1]


KILL_ONCE = """
import json
import os
import signal

import keras


class KillOnce(keras.callbacks.Callback):
    \"\"\"Worker 1 dies by SIGKILL in `epoch` (0-based) after `batch`, once (`marker`).\"\"\"

    def __init__(self, epoch, batch, marker):
        super().__init__()
        self.epoch, self.batch, self.marker, self.now = epoch, batch, marker, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.now = epoch

    def on_train_batch_end(self, batch, logs=None):
        task = json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {})
        here = (self.now, batch) == (self.epoch, self.batch)
        if task.get("index") == 1 and here and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
@pytest.mark.parametrize("backup", ["BackupAndRestore", "absolute"])
def test_a_killed_worker_restarts_and_resumes_from_the_backup(tmp_path: Path, backup: str) -> None:
    """Worker 1 dies in epoch 4 of 6; the launcher restarts both workers, which resume from the
    chief's backup (beside the runs, or at an absolute `backup_dir`, which the other worker
    must not write)."""
    plugin, marker, runs = tmp_path / "kill.py", tmp_path / "killed", tmp_path / "runs"
    plugin.write_text(KILL_ONCE)
    if backup == "absolute":
        backup = f"{{BackupAndRestore: {{backup_dir: '{tmp_path / 'backup'}'}}}}"
    callbacks = f"callbacks=[{backup}, {{KillOnce: {{epoch: 3, batch: 2, marker: '{marker}'}}}}]"
    done = kerascli(
        "train", IRIS, "--epochs", "6", "--runs-dir", runs, "--workers", "2",
        "--max-restarts", "1", "--json", "--set", f"plugins=['{plugin}']", "--set", callbacks,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert marker.exists()  # worker 1 was killed in epoch 4
    assert "worker 1 exited with code -9 (SIGKILL)" in done.stderr
    assert "restarting the 2 workers (restart 1 of 1)" in done.stderr
    first = json.loads((runs / "iris-mlp" / "1" / "run.json").read_text())
    assert first["status"] in ("terminated", "failed", "running")  # stopped by the launcher
    path = Path(json.loads(done.stdout)["run_dir"])
    record = json.loads((path / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["resumed_from"]["epoch"] == 4  # the 3 epochs backed up before the kill
    digests = record["distribute"]["weights_digests"]
    assert len(digests) == 2 and digests[0] == digests[1]
    epochs = [line.split(",")[0] for line in (path / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["4", "5", "6"]
    assert " train " in record["command"] and "--workers 2" in record["command"]  # the user's


@pytest.mark.slow
def test_a_mixed_subclass_run_evaluates_as_it_trained(tmp_path: Path, cli: Any) -> None:
    """A subclass model's layers take the global policy as it is rebuilt from `model.keras`:
    `evaluate` loads it under the policy it trained with, and gives the training's numbers."""
    spec = SPECS / "digits_subclass.yaml"
    mixed = "distribute.mixed_precision=mixed_bfloat16"
    done = cli("train", spec, "--epochs", "2", "--runs-dir", tmp_path, "--json", "--set", mixed)
    assert done.code == 0, done.err
    assert "is bfloat16 under mixed_bfloat16" in done.err  # the subclass output warned
    path, test = Path(done.json()["run_dir"]), done.json()["metrics"]["test"]
    again = cli("evaluate", path, "--json")
    assert again.code == 0, again.err
    assert again.json()["metrics"] == pytest.approx(test, abs=1e-6)


@pytest.mark.parametrize(
    ("batch", "replicas", "rows", "warned"),
    [
        (16, 1, 107, ""),
        (16, 2, 90, ""),  # iris: 5 batches of 16 and one of 10 (5 + 5)
        (16, 2, 106, ""),  # the last batch of 10 splits evenly
        (15, 2, 90, "batch_size 15 does not split evenly over 2 replicas"),
        (16, 2, 107, "the last training batch of an epoch (11 of 107 rows)"),
        (16, 4, 102, "the last training batch of an epoch (6 of 102 rows)"),
        (16, 2, None, ""),  # a stream: its size is not known ahead
    ],
)
def test_uneven_batches_are_warned(
    batch: int, replicas: int, rows: int | None, warned: str
) -> None:
    from kerascli.run.distribute_record import uneven_batches

    found = uneven_batches(batch, replicas, rows)
    assert found[0].startswith(warned) if warned else found == [], found


@pytest.mark.slow
def test_batch_normalization_is_synchronized_across_replicas(tmp_path: Path) -> None:
    """digits_resnet_blocks has BatchNormalization: on 2 replicas each is made `synchronized`
    (its statistics over the global batch), and the run ends close to one device's (not equal:
    Keras's synchronized moments compute the variance as E[x²] - E[x]², one device's in two
    passes; measured 1e-3 in the first epoch's loss, 0.01 in accuracy after two)."""
    spec = SPECS / "digits_resnet_blocks.yaml"
    even = ["--set", "data.split.test=0.17"]  # 1232 training rows: every batch splits evenly
    runs = []
    for sets in ([], ["--set", "distribute.strategy=mirrored", "--set", "distribute.devices=2"]):
        done = kerascli(
            "train", spec, "--epochs", "2", "--runs-dir", tmp_path, "--json", *even, *sets
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        runs.append(json.loads(done.stdout))
    one, two = runs
    path = Path(two["run_dir"])
    synced = json.loads((path / "run.json").read_text())["distribute"]["synchronized_batch_norm"]
    assert synced and all("bn" in name for name in synced), synced
    log = (path / "train.log").read_text()
    assert "BatchNormalization synchronized across replicas" in log and "warning" not in log
    for split, values in one["metrics"].items():
        assert two["metrics"][split] == pytest.approx(values, abs=0.03)


def test_all_layers_reach_into_nested_models() -> None:
    """BatchNormalization inside an application (a nested model) is synchronized too: the walk
    over a model's layers reaches into the models it holds (Keras's private `_flatten_layers`)."""
    import keras

    from kerascli.model.keras_private import all_layers

    inner = keras.Sequential([keras.Input((4,)), keras.layers.BatchNormalization(name="inner_bn")])
    outer = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2, name="head")])
    names = [layer.name for layer in all_layers(outer)]
    assert "inner_bn" in names and "head" in names and inner.name in names
