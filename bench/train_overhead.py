"""Benchmark: `kerascli train` against a hand-written Keras script doing the same work.

Each side runs in its own fresh process (TensorFlow import included), trains the same
model on the same data for the same epochs and batch size, evaluates, and saves the model.
Reported: wall time and peak RSS per side, and the kerascli / Keras ratios.

    python bench/train_overhead.py                 # iris MLP, 3 repeats
    python bench/train_overhead.py --workload digits --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKLOADS = {
    "iris": {"spec": ROOT / "model_specs" / "iris_mlp.yaml", "epochs": 60},
    "digits": {"spec": ROOT / "model_specs" / "digits_cnn.yaml", "epochs": 10},
}


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_kerascli(workload: str, epochs: int, out_dir: str) -> dict[str, float]:
    start = time.perf_counter()
    import kerascli

    spec = kerascli.load_spec(
        WORKLOADS[workload]["spec"], overrides=[f"fit.epochs={epochs}", "callbacks=[]"]
    )
    result = kerascli.train(spec, runs_dir=out_dir, plain=True, stream=open(os.devnull, "w"))
    return {
        "seconds": time.perf_counter() - start,
        "rss_mb": _peak_rss_mb(),
        "test_accuracy": result.metrics["test"]["accuracy"],
    }


def worker_keras(workload: str, epochs: int, out_dir: str) -> dict[str, float]:
    """The same work written by hand with Keras (data read and split the same way)."""
    start = time.perf_counter()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    keras.utils.set_random_seed(7)
    rng = np.random.default_rng(7)
    if workload == "iris":
        raw = np.genfromtxt(ROOT / "model_specs" / "data" / "iris.csv", delimiter=",", dtype=str)[
            1:
        ]
        x = raw[:, :4].astype("float32")
        classes = sorted(set(raw[:, 4]))
        y = np.array([classes.index(v) for v in raw[:, 4]])
        model = keras.Sequential(
            [
                keras.Input((4,)),
                keras.layers.Normalization(),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(16, activation="relu"),
                keras.layers.Dense(3, activation="softmax"),
            ]
        )
        batch, optimizer = 16, keras.optimizers.Adam(0.01)
    else:
        with np.load(ROOT / "model_specs" / "data" / "digits.npz") as data:
            x, y = data["images"].astype("float32"), data["digit"]
        model = keras.Sequential(  # model_specs/digits_cnn.yaml, written by hand
            [
                keras.Input((8, 8, 1)),
                keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                keras.layers.BatchNormalization(),
                keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
                keras.layers.MaxPooling2D(2),
                keras.layers.Flatten(),
                keras.layers.Dropout(0.3),
                keras.layers.Dense(64, activation="relu"),
                keras.layers.Dense(10, activation="softmax"),
            ]
        )
        batch, optimizer = 32, keras.optimizers.Adam(0.002)
    index = rng.permutation(len(x))
    share = 0.2 if workload == "iris" else 0.15  # the specs' validation and test fractions
    n_test, n_val = round(share * len(x)), round(share * len(x))
    test, val, train = index[:n_test], index[n_test : n_test + n_val], index[n_test + n_val :]
    if workload == "iris":
        model.layers[0].adapt(x[train])
    model.compile(optimizer, "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(
        x[train],
        y[train],
        batch_size=batch,
        epochs=epochs,
        validation_data=(x[val], y[val]),
        verbose=0,
    )
    for part in (train, val, test):
        scores = model.evaluate(x[part], y[part], verbose=0, return_dict=True)
    model.save(Path(out_dir) / "model.keras")
    return {
        "seconds": time.perf_counter() - start,
        "rss_mb": _peak_rss_mb(),
        "test_accuracy": scores["accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="iris")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", choices=["keras", "kerascli"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    epochs = args.epochs or WORKLOADS[args.workload]["epochs"]
    if args.worker:
        fn = worker_keras if args.worker == "keras" else worker_kerascli
        print(json.dumps(fn(args.workload, epochs, args.out)))
        return
    results: dict[str, list[dict[str, float]]] = {"keras": [], "kerascli": []}
    for _ in range(args.repeat):
        for side in ("keras", "kerascli"):  # interleaved, so drift hits both sides alike
            with tempfile.TemporaryDirectory() as out:
                proc = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--workload",
                        args.workload,
                        "--epochs",
                        str(epochs),
                        "--worker",
                        side,
                        "--out",
                        out,
                    ],
                    capture_output=True,
                    text=True,
                    check=True,
                    env={**os.environ, "CI": "1"},
                )
                results[side].append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(
        f"workload {args.workload}: {epochs} epochs, {args.repeat} repeats, fresh process each "
        "(TensorFlow import included); medians"
    )
    print(f"{'':10} {'seconds':>8} {'peak RSS MB':>12} {'test acc':>9}")
    medians = {}
    for side, rows in results.items():
        medians[side] = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
        m = medians[side]
        print(f"{side:10} {m['seconds']:8.2f} {m['rss_mb']:12.0f} {m['test_accuracy']:9.3f}")
    print(
        f"ratio kerascli/keras: time {medians['kerascli']['seconds'] / medians['keras']['seconds']:.2f}x, "
        f"memory {medians['kerascli']['rss_mb'] / medians['keras']['rss_mb']:.2f}x"
    )


if __name__ == "__main__":
    main()
