"""Benchmark: `kerascli train` against a hand-written Keras script doing the same work, the
overhead split into start-up, per-epoch and end-of-run costs.

Each side runs in its own fresh process (TensorFlow import included), trains the same model on
the same data for the same epochs and batch size, evaluates every split and saves the model.
kerascli runs as a user runs it (`kerascli train SPEC --set callbacks=[]`; `--via api`: the
`kerascli.train` function in a worker). Each process is split in time, on the parent's clock:

- start-up: process start to the first epoch's begin (imports, spec checks, data, build);
- first epoch (tracing included) and the mean of the later epochs (the steady cost);
- end of run: the last epoch's end to process exit (evaluation, `model.keras`, history plot).

The epochs' times are when kerascli's plain epoch lines (`epoch 3/10 - 0.4s - ...`) reach the
parent (the first epoch's begin is its line's time less its printed length, 0.1 s
resolution); the hand-written script reports its own `time.time()` stamps. Peak RSS is each
child's `ru_maxrss` (`os.wait4`).

    python bench/train_overhead.py                       # digits CNN, 10 epochs, 3 repeats
    python bench/train_overhead.py --workload iris --repeat 5
    python bench/train_overhead.py --quick --json        # 3 epochs, once
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import common

ROOT = common.ROOT
WORKLOADS = {
    "iris": {"spec": ROOT / "model_specs" / "iris_mlp.yaml", "epochs": 60},
    "digits": {"spec": ROOT / "model_specs" / "digits_cnn.yaml", "epochs": 10},
}
PHASES = ["startup_s", "first_epoch_s", "epoch_s", "end_s", "total_s"]


def worker_api(workload: str, epochs: int, out_dir: str) -> dict[str, Any]:
    """`kerascli.train` in this process; the epoch lines go to stdout as the CLI prints them."""
    import kerascli

    spec = kerascli.load_spec(
        WORKLOADS[workload]["spec"], overrides=[f"fit.epochs={epochs}", "callbacks=[]"]
    )
    result = kerascli.train(spec, runs_dir=out_dir, plain=True, stream=sys.stdout)
    return {"test_accuracy": result.metrics["test"]["accuracy"]}


def worker_keras(workload: str, epochs: int, out_dir: str) -> dict[str, Any]:
    """The same work written by hand with Keras (data read and split the same way)."""
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
    stamps = common.epoch_stamps()
    model.fit(
        x[train],
        y[train],
        batch_size=batch,
        epochs=epochs,
        validation_data=(x[val], y[val]),
        callbacks=[stamps],
        verbose=0,
    )
    for part in (train, val, test):
        scores = model.evaluate(x[part], y[part], verbose=0, return_dict=True)
    model.save(Path(out_dir) / "model.keras")
    return {
        "epoch_begins": stamps.begins,
        "epoch_ends": stamps.ends,
        "done": time.time(),
        "test_accuracy": scores["accuracy"],
    }


def run_side(side: str, workload: str, epochs: int, via: str) -> dict[str, float]:
    """One fresh process of `side`: its phases, peak RSS and test accuracy."""
    with common.workspace(None) as out:
        spec = WORKLOADS[workload]["spec"]
        if side == "keras" or via == "api":
            worker = "keras" if side == "keras" else "api"
            command = common.worker_command(
                "train_overhead.py", "--workload", workload, "--epochs", str(epochs)
            )
            child = common.run_child([*command, "--worker", worker, "--out", out], cwd=out)
        else:
            command = [*common.kerascli_command(), "train", str(spec), "--runs-dir", out, "-q"]
            command += ["--set", f"fit.epochs={epochs}", "--set", "callbacks=[]"]
            child = common.run_child(command, cwd=out)
        if side == "keras":
            result = common.worker_phases(child)
            accuracy = child.report()["test_accuracy"]
        else:
            result = common.kerascli_phases(child)
            accuracy = _kerascli_accuracy(child, Path(out))
    return {**result, "rss_mb": child.rss_mb, "test_accuracy": accuracy}


def _kerascli_accuracy(child: common.Child, out: Path) -> float:
    """The test accuracy the run recorded (`metrics.json`), or the API worker's report."""
    try:
        return float(child.report()["test_accuracy"])
    except (ValueError, KeyError, IndexError):
        metrics = next(out.glob("*/*/metrics.json"))
        return float(json.loads(metrics.read_text())["test"]["accuracy"])


def report(
    args: argparse.Namespace, epochs: int, results: dict[str, list[dict[str, float]]]
) -> None:
    """The medians as a table (or JSON), the differences and the ratios."""
    m = {side: common.medians(rows) for side, rows in results.items()}
    difference = {k: m["kerascli"][k] - m["keras"][k] for k in [*PHASES, "rss_mb"]}
    document = {
        "workload": args.workload,
        "epochs": epochs,
        "repeat": args.repeat,
        "via": args.via,
        "medians": m,
        "difference": difference,
        "ratio": {
            "time": common.ratio(m["kerascli"]["total_s"], m["keras"]["total_s"]),
            "rss": common.ratio(m["kerascli"]["rss_mb"], m["keras"]["rss_mb"]),
        },
    }
    if args.json:
        print(json.dumps(document, indent=2))
        return
    print(
        f"workload {args.workload}: {epochs} epochs, {args.repeat} repeat(s), a fresh process "
        f"each (kerascli via {args.via}); medians, seconds"
    )
    header = [
        "",
        "start-up",
        "1st epoch",
        "epoch",
        "end of run",
        "total",
        "peak RSS MB",
        "test acc",
    ]
    rows: list[list[Any]] = [
        [side, *(v[k] for k in PHASES), v["rss_mb"], v["test_accuracy"]] for side, v in m.items()
    ]
    rows.append(["difference", *(difference[k] for k in PHASES), difference["rss_mb"], None])
    common.print_table(header, rows)
    later = difference["epoch_s"] * (epochs - 1)
    print(
        f"overhead {difference['total_s']:+.2f} s = start-up {difference['startup_s']:+.2f} s"
        f" + first epoch {difference['first_epoch_s']:+.2f} s"
        f" + {epochs - 1} later epochs {later:+.2f} s ({difference['epoch_s']:+.3f} s each)"
        f" + end of run {difference['end_s']:+.2f} s"
    )
    ratios = document["ratio"]
    print(f"ratio kerascli/keras: time {ratios['time']:.2f}x, memory {ratios['rss']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="digits")
    parser.add_argument("--epochs", type=int, default=None, help="Default: 10 (digits), 60 (iris).")
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each side. Default: 3.")
    parser.add_argument(
        "--via", choices=["cli", "api"], default="cli", help="How kerascli runs. Default: cli."
    )
    parser.add_argument("--quick", action="store_true", help="3 epochs, one repeat.")
    parser.add_argument("--json", action="store_true", help="Print one JSON document.")
    parser.add_argument("--worker", choices=["keras", "api"], help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.epochs, args.repeat = args.epochs or 3, 1
    epochs = args.epochs or WORKLOADS[args.workload]["epochs"]
    if args.worker:
        fn = worker_keras if args.worker == "keras" else worker_api
        print(json.dumps(fn(args.workload, epochs, args.out)))
        return
    results: dict[str, list[dict[str, float]]] = {"keras": [], "kerascli": []}
    for _ in range(args.repeat):
        for side in results:  # interleaved, so drift hits both sides alike
            results[side].append(run_side(side, args.workload, epochs, args.via))
    report(args, epochs, results)


if __name__ == "__main__":
    main()
