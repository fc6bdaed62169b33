"""Benchmark: `kerascli predict RUN table.csv -o out.csv` against a hand-written tf.data + Keras
script doing the same work, on generated CSVs of several sizes.

A tiny MLP (16-64-64-4) is trained once by `kerascli train` on a small seeded file; each
`--sizes` CSV (the same 16 numeric columns and an int label, seeded) is then predicted by each
side in a fresh process:

- kerascli: `kerascli predict RUN table.csv -o out.csv --batch-size B`;
- hand-written: `keras.models.load_model`, `TextLineDataset` in chunks of 65 536 lines, a
  parallel `decode_csv` of the feature columns, `model.predict` per chunk, and `np.savetxt` of
  the class label and the probabilities (`%.6g`) into a CSV of the same format
  (`label,p_0,...,p_3`), written as it goes.

Reported per side: the whole process's wall time and rows/s, peak RSS (`ru_maxrss` of the
child); the hand-written script's rows/s after its model is loaded; the kerascli / hand-written
ratios; how the outputs agree (rows, header, identical lines, same labels, the largest
difference of a probability); and each side's peak RSS at the largest size over that at the
smallest (streaming: RSS independent of the file's size).

    python bench/predict_csv.py                 # CSVs of 100 MiB and 1 GiB
    python bench/predict_csv.py --sizes 1000
    python bench/predict_csv.py --quick --json  # a 5 MiB CSV
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import common

SEED = 7
CHUNK = 65_536
COLUMNS = ["total_s", "rows_per_s", "loop_rows_per_s", "rss_mb"]


def worker_hand(model_path: str, source: str, output: str, batch: int) -> dict[str, Any]:
    """Predict `source` with the model, writing `output` as it goes."""
    import keras
    import numpy as np
    import tensorflow as tf

    model = keras.models.load_model(model_path)
    loaded = time.time()
    names = common.feature_names()
    with open(source, encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    select = [header.index(name) for name in names]

    def parse(lines: Any) -> Any:
        columns = tf.io.decode_csv(lines, [[0.0]] * len(names), select_cols=select)
        return tf.stack(columns, axis=1)

    chunks = tf.data.TextLineDataset(source).skip(1).batch(CHUNK)
    chunks = chunks.map(parse, num_parallel_calls=tf.data.AUTOTUNE).prefetch(1)
    rows = 0
    with open(output, "w", encoding="utf-8") as out:
        classes = [f"p_{c}" for c in range(common.CLASSES)]
        out.write(",".join(["label", *classes]) + "\n")
        for x in chunks.as_numpy_iterator():
            probabilities = model.predict(x, batch_size=batch, verbose=0)
            table = np.column_stack([probabilities.argmax(axis=1), probabilities])
            np.savetxt(out, table, fmt=["%d"] + ["%.6g"] * len(classes), delimiter=",")
            rows += len(x)
    return {"rows": rows, "loaded": loaded, "done": time.time()}


def train_run(folder: Path, batch: int) -> Path:
    """A run of the MLP trained by `kerascli train` on a small seeded CSV; its directory."""
    data = folder / "train.csv"
    common.run_child(common.worker_command("common.py", "csv", str(data), "--size-mb", "2"))
    spec_file = folder / "train.yaml"
    spec = common.mlp_spec("bench-predict", data, batch, epochs=3)
    spec_file.write_text(json.dumps(spec, indent=1))  # JSON is YAML
    runs = folder / "runs"
    common.run_child([*common.kerascli_command(), "train", str(spec_file), "--runs-dir", str(runs)])
    return next(runs.glob("bench-predict/*"))


def run_pair(run: Path, table: Path, rows: int, batch: int) -> dict[str, Any]:
    """Each side once, in a fresh process; the outputs compared, then removed."""
    sides: dict[str, dict[str, Any]] = {}
    outputs = {side: table.with_name(f"out-{side}.csv") for side in ("hand", "kerascli")}
    for side, output in outputs.items():
        if side == "hand":
            command = common.worker_command("predict_csv.py", "--worker", str(run / "model.keras"))
            command += ["--input", str(table), "--out", str(output), "--batch-size", str(batch)]
        else:
            command = [*common.kerascli_command(), "predict", str(run), str(table)]
            command += ["-o", str(output), "--batch-size", str(batch)]
        child = common.run_child(command, cwd=table.parent)
        loop = None
        if side == "hand":
            report = child.report()
            loop = report["rows"] / (report["done"] - report["loaded"])
        sides[side] = {
            "total_s": child.seconds,
            "rows_per_s": rows / child.seconds,
            "loop_rows_per_s": loop,
            "rss_mb": child.rss_mb,
        }
    agreement = compare(outputs["hand"], outputs["kerascli"])
    for output in outputs.values():
        common.remove(output)
    return {"sides": sides, "outputs": agreement}


def compare(a: Path, b: Path) -> dict[str, Any]:
    """Lines of each output, the share of lines (and labels) that are the same, and the largest
    difference of a probability; read a line at a time (this process holds no data)."""
    lines = [0, 0]
    same = same_label = 0
    largest = 0.0
    with a.open(encoding="utf-8") as fa, b.open(encoding="utf-8") as fb:
        header = next(fa, ""), next(fb, "")
        for line_a, line_b in zip(fa, fb, strict=False):  # the longer one is counted on
            lines[0] += 1
            lines[1] += 1
            if line_a == line_b:
                same += 1
                same_label += 1
                continue
            label_a, *probabilities_a = line_a.split(",")
            label_b, *probabilities_b = line_b.split(",")
            same_label += label_a == label_b
            for p, q in zip(probabilities_a, probabilities_b, strict=False):
                largest = max(largest, abs(float(p) - float(q)))
        lines[0] += sum(1 for _ in fa)
        lines[1] += sum(1 for _ in fb)
    shared = min(lines) or 1
    return {
        "rows": {"hand": lines[0], "kerascli": lines[1]},
        "same_header": header[0] == header[1],
        "identical_lines": same / shared,
        "same_label": same_label / shared,
        "largest_difference": largest,
    }


def show(results: list[dict[str, Any]], growth: dict[str, Any] | None) -> None:
    header = ["", "seconds", "rows/s", "rows/s after load", "peak RSS MB"]
    for result in results:
        print(f"CSV {result['size_mb']:.0f} MiB, {result['rows']:,} rows")
        common.print_table(
            header, [[s, *(v[k] for k in COLUMNS)] for s, v in result["sides"].items()]
        )
        r, out = result["ratio"], result["outputs"]
        print(
            f"ratio kerascli/hand: time {common.times(r['time'])}, rows/s {common.times(r['rows_per_s'])}, "
            f"peak RSS {common.times(r['rss'])}\noutputs: rows {out['rows']['kerascli']:,} "
            f"(hand {out['rows']['hand']:,}), header {'same' if out['same_header'] else 'DIFFERS'}, "
            f"identical lines {out['identical_lines']:.1%}, same label {out['same_label']:.1%}, "
            f"largest probability difference {out['largest_difference']:.2g}\n"
        )
    if growth:
        small, large = growth["sizes_mb"]
        print(
            f"peak RSS at {large:.0f} MiB / at {small:.0f} MiB: hand {common.times(growth['hand'])}, "
            f"kerascli {common.times(growth['kerascli'])}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="100,1000", help="CSV sizes, MiB. Default: 100,1000.")
    parser.add_argument("--size-mb", type=float, help="One CSV size, MiB (instead of --sizes).")
    parser.add_argument("--batch-size", type=int, default=1024, help="Default: 1024.")
    parser.add_argument("--tmp", help="Where the data is written. Default: the system's temp.")
    parser.add_argument("--quick", action="store_true", help="A 5 MiB CSV.")
    parser.add_argument("--json", action="store_true", help="Print one JSON document.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--input", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker_hand(args.worker, args.input, args.out, args.batch_size)))
        return
    sizes = [float(s) for s in str(args.sizes).split(",") if s.strip()]
    sizes = [5.0] if args.quick else [args.size_mb] if args.size_mb is not None else sizes
    results = []
    with common.workspace(args.tmp) as tmp:
        folder = Path(tmp)
        run = train_run(folder, args.batch_size)
        for size in sizes:
            table = folder / "table.csv"
            rows = common.generate_csv(table, size, SEED)
            result = run_pair(run, table, rows, args.batch_size)
            result.update(size_mb=table.stat().st_size / 2**20, rows=rows)
            common.remove(table)
            k, h = result["sides"]["kerascli"], result["sides"]["hand"]
            result["ratio"] = {
                "time": common.ratio(k["total_s"], h["total_s"]),
                "rows_per_s": common.ratio(k["rows_per_s"], h["rows_per_s"]),
                "rss": common.ratio(k["rss_mb"], h["rss_mb"]),
            }
            results.append(result)
    growth = common.rss_growth(results)
    if args.json:
        print(json.dumps({"results": results, "rss_growth": growth}, indent=2))
    else:
        show(results, growth)


if __name__ == "__main__":
    main()
