"""Shared helpers of the bench scripts: children in fresh processes, each one's peak RSS, its
stdout lines timestamped as they arrive, kerascli's plain epoch lines, seeded data, tables.

The parent process imports neither numpy nor TensorFlow and holds no data: Linux keeps a
process's peak RSS across fork and exec, so a heavy parent would be every child's floor. Data
is written by a child too:

    python bench/common.py csv table.csv --size-mb 100       # seeded numeric CSV, int label
    python bench/common.py images folder --images 1000       # seeded PNGs, a folder per class

Long because it holds all the three benchmarks share: children, timing, tables and data.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
CHILD_ENV = {"CI": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONUNBUFFERED": "1"}
"""Both sides of a benchmark run with this environment: plain progress lines, TensorFlow's
C++ info logs off, stdout unbuffered (each line arrives when it is printed)."""
EPOCH_LINE = re.compile(r"^epoch\s+(\d+)/(\d+) - ([0-9.]+)s\b")
"""kerascli's plain progress line: `epoch 3/20 - 0.4s - loss: ...` (run/progress.py)."""


class ChildFailed(RuntimeError):
    """A benchmark child exited with an error; the message ends with its output."""


@dataclass
class Child:
    """A finished child process.

    Args:
        seconds: Its wall time, start to exit, on the parent's clock.
        rss_mb: Its peak resident set size (`ru_maxrss` of `os.wait4`), MiB.
        lines: Its stdout lines, each with when it arrived (seconds after the start).
        started: `time.time()` when it was started, to place the child's own stamps.
    """

    seconds: float
    rss_mb: float
    lines: list[tuple[float, str]]
    started: float

    def report(self) -> dict[str, Any]:
        """The JSON document a worker prints as its last line."""
        return json.loads(self.lines[-1][1])

    def since_start(self, stamp: float) -> float:
        """A `time.time()` stamp of the child as seconds after its start."""
        return stamp - self.started


def kerascli_command() -> list[str]:
    """`kerascli` as a user runs it: the console script beside this Python, else `-m`."""
    script = Path(sys.executable).with_name("kerascli")
    return [str(script)] if script.exists() else [sys.executable, "-m", "kerascli"]


def worker_command(script: str, *args: str) -> list[str]:
    """A fresh Python running `script` (a bench file) with `args`."""
    return [sys.executable, str(HERE / script), *args]


def run_child(command: Sequence[str], cwd: str | Path | None = None) -> Child:
    """Run `command` to its end: wall time, peak RSS (this child's alone, by `os.wait4`, not
    the maximum over every child so far that `RUSAGE_CHILDREN` gives), timestamped stdout.

    Raises:
        ChildFailed: it exited with an error.
    """
    env = {**os.environ, **CHILD_ENV}
    with tempfile.TemporaryFile() as errors:
        started = time.time()
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(command), stdout=subprocess.PIPE, stderr=errors, text=True, env=env, cwd=cwd
        )
        assert proc.stdout is not None
        lines = [(time.perf_counter() - start, line.rstrip("\n")) for line in proc.stdout]
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        proc.stdout.close()
        if proc.returncode != 0:
            errors.seek(0)
            tail = errors.read().decode("utf-8", "replace")[-3000:]
            output = "\n".join(text for _, text in lines[-20:])
            raise ChildFailed(
                f"{' '.join(command)} exited with {proc.returncode}\n{output}\n{tail}"
            )
    return Child(seconds, usage.ru_maxrss / 1024, lines, started)


def kerascli_epochs(child: Child) -> list[tuple[float, float]]:
    """`(arrival, seconds)` of each epoch line kerascli printed: when the epoch ended (after
    the start) and its length as printed (0.1 s resolution)."""
    out = []
    for arrived, text in child.lines:
        match = EPOCH_LINE.match(text.strip())
        if match:
            out.append((arrived, float(match.group(3))))
    if not out:
        raise ChildFailed(
            "kerascli printed no epoch lines:\n" + "\n".join(t for _, t in child.lines)
        )
    return out


def phases(first_begin: float, epoch_ends: Sequence[float], exit_s: float) -> dict[str, float]:
    """A training process split in time (seconds after its start): `startup_s` (to the first
    epoch's begin: imports, checks, data, build), `first_epoch_s`, `epoch_s` (the mean of the
    later epochs, end to end: the steady per-epoch cost), `fit_s` (every epoch), `end_s` (the
    last epoch's end to exit: evaluation, saving, plots) and `total_s`."""
    n = len(epoch_ends)
    first = epoch_ends[0] - first_begin
    return {
        "startup_s": first_begin,
        "first_epoch_s": first,
        "epoch_s": (epoch_ends[-1] - epoch_ends[0]) / (n - 1) if n > 1 else first,
        "fit_s": epoch_ends[-1] - first_begin,
        "end_s": exit_s - epoch_ends[-1],
        "total_s": exit_s,
    }


def kerascli_phases(child: Child) -> dict[str, float]:
    """`phases` of a `kerascli train` child, from its epoch lines as they arrived."""
    epochs = kerascli_epochs(child)
    return phases(epochs[0][0] - epochs[0][1], [end for end, _ in epochs], child.seconds)


def worker_phases(child: Child) -> dict[str, float]:
    """`phases` of a hand-written worker, from the `time.time()` stamps it reported
    (`epoch_begins`, `epoch_ends`)."""
    report = child.report()
    ends = [child.since_start(t) for t in report["epoch_ends"]]
    return phases(child.since_start(report["epoch_begins"][0]), ends, child.seconds)


def epoch_stamps() -> Any:
    """A Keras callback recording `time.time()` at each epoch's begin and end (a worker's)."""
    import keras

    class EpochStamps(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.begins: list[float] = []
            self.ends: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.begins.append(time.time())

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.ends.append(time.time())

    return EpochStamps()


def medians(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """The median of each number over repeats."""
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def times(value: float | None) -> str:
    """A ratio as `1.23x`."""
    return "-" if value is None else f"{value:.2f}x"


def rss_growth(results: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Each side's peak RSS at the largest size over that at the smallest, of results with
    `size_mb` and `sides: {side: {rss_mb}}`; `None` for fewer than two sizes."""
    if len(results) < 2:
        return None
    ordered = sorted(results, key=lambda r: r["size_mb"])
    small, large = ordered[0], ordered[-1]
    growth = {
        side: ratio(large["sides"][side]["rss_mb"], v["rss_mb"])
        for side, v in small["sides"].items()
    }
    return {"sizes_mb": [small["size_mb"], large["size_mb"]], **growth}


def print_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Rows under a header, columns aligned (the first left, the rest right)."""
    cells = [[_cell(v) for v in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row in cells:
        first, *rest = row
        print(
            f"{first:<{widths[0]}}  "
            + "  ".join(f"{v:>{w}}" for v, w in zip(rest, widths[1:], strict=True))
        )


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1e4:
            return f"{value:,.0f}"
        return f"{value:.0f}" if abs(value) >= 100 else f"{value:.2f}"
    return str(value)


def workspace(folder: str | None) -> tempfile.TemporaryDirectory[str]:
    """A temporary folder (under `folder` if given), removed when the benchmark ends."""
    return tempfile.TemporaryDirectory(prefix="kerascli-bench-", dir=folder)


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


# --- seeded data (run in a child) -------------------------------------------------------------

FEATURES = 16
CLASSES = 4


def feature_names(features: int = FEATURES) -> list[str]:
    return [f"x{j}" for j in range(features)]


COMPILE = {
    "optimizer": {"Adam": {"learning_rate": 0.001}},
    "loss": "sparse_categorical_crossentropy",
    "metrics": ["accuracy"],
}
"""Both CSV and image workloads compile the same way (the hand-written sides too)."""


def mlp_spec(name: str, path: Path, batch: int, epochs: int) -> dict[str, Any]:
    """The kerascli spec (a JSON-able dict) of an MLP (FEATURES-64-64-CLASSES) on `write_csv`'s
    table, read into memory (set `data.stream` to stream it)."""
    features = feature_names()
    dense = [{"Dense": {"units": 64, "activation": "relu"}}] * 2
    return {
        "name": name,
        "seed": 7,
        "model": {
            "sequential": {
                "input": {"shape": [len(features)]},
                "layers": [*dense, {"Dense": {"units": CLASSES, "activation": "softmax"}}],
            }
        },
        "compile": COMPILE,
        "fit": {"epochs": epochs, "batch_size": batch},
        "callbacks": [],
        "data": {"path": str(path), "features": features, "target": "label"},
    }


def write_csv(path: Path, size_mb: float, seed: int = 7, features: int = FEATURES) -> int:
    """A CSV of about `size_mb` MiB: `features` numbers (4 decimals) and an int `label`
    (0..CLASSES-1, the largest of the first CLASSES features plus noise: learnable); the rows."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(seed)
    names = feature_names(features)
    target = int(size_mb * 2**20)
    rows, chunk = 0, 1000  # a first chunk to learn the bytes per row
    options = pacsv.WriteOptions(include_header=False)
    with path.open("wb") as handle:
        handle.write((",".join([*names, "label"]) + "\n").encode())
        while handle.tell() < target:
            x = np.round(rng.normal(size=(chunk, features)), 4)
            noise = rng.normal(scale=0.5, size=(chunk, CLASSES))
            label = (x[:, :CLASSES] + noise).argmax(axis=1).astype(np.int64)
            columns = {name: x[:, j] for j, name in enumerate(names)}
            table = pa.table({**columns, "label": label})
            before = handle.tell()
            pacsv.write_csv(table, handle, options)
            rows += chunk
            per_row = (handle.tell() - before) / chunk
            chunk = max(1, min(100_000, int((target - handle.tell()) / per_row) + 1))
    return rows


def write_images(
    folder: Path, images: int, size: int = 64, classes: int = 10, seed: int = 7
) -> int:
    """`images` RGB PNGs of `size` x `size` in `classes` subfolders (`class_0`...): each class a
    colour of its own plus noise (learnable); written with `tf.io.encode_png`."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    colours = rng.integers(40, 216, size=(classes, 3))
    written = 0
    for c in range(classes):
        count = images // classes + (1 if c < images % classes else 0)
        sub = folder / f"class_{c}"
        sub.mkdir(parents=True, exist_ok=True)
        noise = rng.normal(scale=40.0, size=(count, size, size, 3))
        pixels = np.clip(colours[c] + noise, 0, 255).astype(np.uint8)
        for i in range(count):
            (sub / f"{i:05d}.png").write_bytes(tf.io.encode_png(pixels[i]).numpy())
        written += count
    return written


def generate_csv(path: Path, size_mb: float, seed: int) -> int:
    """Write the CSV in a child; its rows."""
    command = worker_command("common.py", "csv", str(path), "--size-mb", str(size_mb))
    return int(run_child([*command, "--seed", str(seed)]).report()["rows"])


def generate_images(folder: Path, images: int, size: int, seed: int) -> int:
    """Write the images in a child; how many."""
    command = worker_command("common.py", "images", str(folder), "--images", str(images))
    command += ["--image-size", str(size), "--seed", str(seed)]
    return int(run_child(command).report()["images"])


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the benchmarks' seeded data.")
    parser.add_argument("kind", choices=["csv", "images"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--size-mb", type=float, default=100.0)
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    if args.kind == "csv":
        rows = write_csv(args.path, args.size_mb, args.seed)
        print(json.dumps({"rows": rows, "bytes": args.path.stat().st_size}))
    else:
        count = write_images(args.path, args.images, args.image_size, seed=args.seed)
        print(json.dumps({"images": count}))


if __name__ == "__main__":
    main()
