"""`kerascli.run.distribute_fix`, our patch of Keras 3's TensorFlow trainer under tf.distribute
(keras-team/keras#20585, tensorflow/tensorflow#72388): when it applies, that the upstream bugs
are still there (a test here fails once they are not, so the fix is dropped rather than kept by
habit), and that the fix makes raw Keras right, kerascli aside.

Each training is a small raw Keras script, written to the test's folder and run in a fresh
Python: a strategy must be created before TensorFlow runs any op, and the patch, once applied,
stays for the process's life."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

from kerascli.run import distribute_fix
from kerascli.run.distribute_fix import needed
from tests.conftest import ROOT

DROP_THE_FIX = (
    "upstream seems fixed: set FIXED_IN in kerascli/run/distribute_fix.py to the first Keras "
    "(major, minor) that fixes it and drop the fix"
)
TIMEOUT = 180

needs_fix = pytest.mark.skipif(
    not needed(version("keras")), reason=f"Keras {version('keras')} needs no fix"
)

MULTI_WORKER = """
import hashlib, json, sys
import numpy as np
import tensorflow as tf
import keras

strategy = tf.distribute.MultiWorkerMirroredStrategy()  # TF_CONFIG from the environment
if sys.argv[1] == "fix":
    from kerascli.run.distribute_fix import apply
    apply()
keras.utils.set_random_seed(7)
rng = np.random.default_rng(7)
x = rng.normal(size=(64, 4)).astype("float32")
y = (x.sum(axis=1) > 0).astype("float32")
data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
with strategy.scope():
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy", metrics=["accuracy"])
history = model.fit(data, epochs=3, verbose=0)
scores = model.evaluate(data, verbose=0, return_dict=True)
predicted = model.predict(data, verbose=0)
weights = model.get_weights()
print(json.dumps({
    "abs_sum": float(sum(np.abs(w).sum() for w in weights)),
    "digest": hashlib.sha256(b"".join(w.tobytes() for w in weights)).hexdigest(),
    "losses": history.history["loss"],
    "evaluate": scores,
    "rows": int(predicted.shape[0]),
    "predicted_sum": float(predicted.sum()),
}))
"""

MIRRORED = """
import contextlib, json
import numpy as np
import tensorflow as tf
import keras

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def losses(strategy):
    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")
    data = tf.data.Dataset.from_tensor_slices((x, y))
    data = data.shuffle(128, seed=7, reshuffle_each_iteration=True).batch(16)
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = keras.Sequential([
            keras.Input((4,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(1, activation="sigmoid"),
        ])
        model.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    return model.fit(data, epochs=3, verbose=0).history["loss"]


def mirrored():
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


plain = losses(None)
unfixed = losses(mirrored())  # before the patch: it cannot be taken back in this process
from kerascli.run.distribute_fix import apply
apply()
print(json.dumps({"plain": plain, "unfixed": unfixed, "fixed": losses(mirrored())}))
"""


def environ(tf_config: dict[str, Any] | None = None) -> dict[str, str]:
    """This environment without TF_CONFIG (with `tf_config`'s if given), `CI` set, kerascli
    importable from the repository."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    path = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.update(CI="true", TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=path)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return env


def free_ports(count: int) -> list[int]:
    """`count` distinct free local ports (each bound to port 0, all held until all are known)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("localhost", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def start_workers(script: Path, mode: str, count: int = 2) -> list[subprocess.Popen[str]]:
    """`count` local MultiWorkerMirroredStrategy workers running `script mode`, TF_CONFIG each."""
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(count)]}
    return [
        subprocess.Popen(
            [sys.executable, str(script), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=environ({"cluster": cluster, "task": {"type": "worker", "index": i}}),
        )
        for i in range(count)
    ]


def finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    """Each worker's exit code, stdout and stderr; a worker still running after `TIMEOUT`
    (waiting on a peer that died) is killed."""
    done = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        done.append((proc.returncode, out, err))
    return done


@pytest.fixture(scope="module")
def multi_worker(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[int, str, str]]]:
    """Two pairs of 2 local workers training the same raw Keras script, at the same time: one
    without the fix, one with it."""
    script = tmp_path_factory.mktemp("multi-worker") / "train.py"
    script.write_text(MULTI_WORKER)
    started = {mode: start_workers(script, mode) for mode in ("nofix", "fix")}
    return {mode: finish(procs) for mode, procs in started.items()}


def test_needed_while_unfixed_upstream() -> None:
    assert distribute_fix.FIXED_IN is None
    assert needed("3.15.1")
    assert needed("3.15.0rc1")
    assert not needed("2.15.0")  # Keras 2 has its own trainer


def test_needed_below_fixed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(distribute_fix, "FIXED_IN", (3, 16))
    assert needed("3.15.1")
    assert not needed("3.16.0")
    assert not needed("3.17.2")


@pytest.mark.slow
@needs_fix
def test_multi_worker_fit_fails_without_fix(
    multi_worker: dict[str, list[tuple[int, str, str]]],
) -> None:
    workers = multi_worker["nofix"]
    if all(code == 0 for code, _, _ in workers):
        pytest.fail(f"2 workers trained without the fix: {DROP_THE_FIX}")
    for code, _, err in workers:
        assert code != 0, err[-3000:]
        assert "PerReplica" in err, f"failed otherwise than keras#20585:\n{err[-3000:]}"


@pytest.mark.slow
@needs_fix
def test_multi_worker_with_fix_trains_evaluates_predicts(
    multi_worker: dict[str, list[tuple[int, str, str]]],
) -> None:
    workers = multi_worker["fix"]
    for code, _, err in workers:
        assert code == 0, err[-3000:]
    first, second = (json.loads(out.strip().splitlines()[-1]) for _, out, _ in workers)
    assert first["abs_sum"] > 0
    assert first["digest"] == second["digest"]  # identical weights, bit for bit
    assert first["abs_sum"] == second["abs_sum"]
    assert first["losses"] == second["losses"]
    assert first["evaluate"] == second["evaluate"]
    assert first["rows"] == second["rows"] == 64  # every row predicted on each worker
    assert first["predicted_sum"] == pytest.approx(second["predicted_sum"], abs=1e-5)


@pytest.mark.slow
@needs_fix
def test_mirrored_with_fix_keeps_the_shuffle_order(tmp_path: Path) -> None:
    script = tmp_path / "mirrored.py"
    script.write_text(MIRRORED)
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environ(),
        timeout=TIMEOUT,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    losses = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(losses["plain"]) == 3
    assert losses["fixed"] == pytest.approx(losses["plain"], abs=1e-5)
    if losses["unfixed"] == pytest.approx(losses["plain"], abs=1e-5):
        pytest.fail(
            "MirroredStrategy without the fix kept a reshuffling dataset's order (Keras no "
            f"longer draws a batch from an extra iterator to build): {DROP_THE_FIX}"
        )


def test_rank_of_a_value_on_several_replicas() -> None:
    """A worker with several devices reduces `PerReplica` values, which have no shape: the fix
    reads one replica's rank (a scalar loss is reduced with axis=None, a batch with axis=0)."""
    import tensorflow as tf
    from tensorflow.python.distribute.values import PerReplica

    from kerascli.run.distribute_fix import rank

    assert rank(PerReplica((tf.constant(1.0), tf.constant(2.0)))) == 0
    assert rank(PerReplica((tf.constant([[1.0]]), tf.constant([[2.0]])))) == 2
    assert rank(tf.constant([1.0, 2.0])) == 1
