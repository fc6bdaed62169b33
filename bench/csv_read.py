"""Benchmark: kerascli reading a CSV against a hand-written `np.loadtxt` of the same file.

A seeded 200k x 20 numeric CSV with a text label column is written to a temporary folder. Each
side then runs in a fresh process: kerascli's `read_table` + `numeric` (+ `labels` for the class
column), and a hand-written `np.loadtxt` of the same columns (+ `np.unique` for the labels).
Reported: the reading time (imports apart) and peak RSS (the child's `ru_maxrss`) per side, and the kerascli / numpy
ratios.

    python bench/csv_read.py                  # 200k x 20, 3 repeats
    python bench/csv_read.py --rows 50000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FEATURES = 20


def write_csv(path: Path, rows: int, seed: int = 7) -> None:
    """`rows` rows of FEATURES numbers (as pandas/numpy write them) and a class name."""
    import numpy as np

    rng = np.random.default_rng(seed)
    values = rng.normal(size=(rows, FEATURES)) * rng.choice([1.0, 10.0, 1000.0], FEATURES)
    classes = np.array(["setosa", "versicolor", "virginica"])[rng.integers(0, 3, rows)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join([*(f"x{j}" for j in range(FEATURES)), "label"]) + "\n")
        for row, label in zip(values, classes, strict=True):
            handle.write(",".join(f"{v:.6g}" for v in row) + f",{label}\n")


def worker(side: str, path: str, with_labels: bool) -> dict[str, float]:
    """Read the file as `side` does; the time and the RSS after the imports are apart."""
    import numpy as np

    if side == "kerascli":
        from kerascli.data.read import class_names, labels, numeric, read_table
    imported_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    names = [f"x{j}" for j in range(FEATURES)]
    if side == "kerascli":
        table = read_table(path)
        x = numeric(table, names)
        if with_labels:
            classes = class_names(table, "label")
            assert classes is not None
            y = labels(table, "label", classes)
    else:
        x = np.loadtxt(path, delimiter=",", skiprows=1, usecols=range(FEATURES))
        if with_labels:
            text = np.loadtxt(path, delimiter=",", skiprows=1, usecols=FEATURES, dtype=str)
            _, y = np.unique(text, return_inverse=True)
    seconds = time.perf_counter() - start
    checksum = float(x.sum()) + (float(y.sum()) if with_labels else 0.0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "rss_mb": rss, "imported_mb": imported_mb, "checksum": checksum}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", choices=["numpy", "kerascli", "write"], help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    parser.add_argument("--labels", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker == "write":
        write_csv(Path(args.path), args.rows)
        return
    if args.worker:
        print(json.dumps(worker(args.worker, args.path, bool(args.labels))))
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "table.csv"
        # written by a child: a parent's peak RSS would be the children's floor (Linux keeps
        # it across fork and exec), so this process imports no numpy and holds no data
        command = [sys.executable, __file__, "--worker", "write", "--path", str(path)]
        subprocess.run([*command, "--rows", str(args.rows)], check=True)
        size = path.stat().st_size / 2**20
        print(
            f"{args.rows} rows x {FEATURES} numbers + a class column, {size:.1f} MB; "
            f"{args.repeat} repeats, a fresh process each; medians"
        )
        print(f"{'':26} {'seconds':>8} {'peak RSS MB':>12} {'after imports':>14}")
        for with_labels in (False, True):
            results: dict[str, list[dict[str, float]]] = {"numpy": [], "kerascli": []}
            for _ in range(args.repeat):
                for side in results:  # interleaved, so drift hits both sides alike
                    command = [sys.executable, __file__, "--worker", side, "--path", str(path)]
                    command += ["--labels", str(int(with_labels))]
                    proc = subprocess.run(command, capture_output=True, text=True, check=True)
                    results[side].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            what = "numbers + labels" if with_labels else "numbers"
            medians = {}
            for side, rows in results.items():
                medians[side] = {k: statistics.median(r[k] for r in rows) for k in rows[0]}
                m = medians[side]
                label = f"{side} ({what})"
                print(
                    f"{label:26} {m['seconds']:8.2f} {m['rss_mb']:12.0f} {m['imported_mb']:14.0f}"
                )
            same = abs(medians["numpy"]["checksum"] - medians["kerascli"]["checksum"]) < 1e-6 * (
                1 + abs(medians["numpy"]["checksum"])
            )
            time_ratio = medians["kerascli"]["seconds"] / medians["numpy"]["seconds"]
            rss_ratio = medians["kerascli"]["rss_mb"] / medians["numpy"]["rss_mb"]
            print(
                f"ratio kerascli/numpy ({what}): time {time_ratio:.2f}x, memory {rss_ratio:.2f}x"
                f"{'' if same else '  (CHECKSUMS DIFFER)'}"
            )


if __name__ == "__main__":
    main()
