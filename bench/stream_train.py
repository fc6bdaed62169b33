"""Benchmark: training input throughput of `kerascli train` on streamed data against a
hand-written tf.data + Keras script doing the same work.

Two workloads, each side a fresh process, the same model, batch size, epochs and seed:

- csv: a seeded CSV of `--sizes` MiB (16 numbers and an int label of 4 classes). kerascli trains
  a spec with `data: {path: table.csv, stream: true, features: [...], target: label}` (a
  10 000-row shuffle buffer, its default); the hand-written script reads the file with
  `TextLineDataset` + `shuffle(10_000)` + `batch` + a parallel `decode_csv` map + `prefetch`.
  Both train an MLP (16-64-64-4) for one epoch (the whole file once), evaluate the training
  data (kerascli evaluates each split after training) and save the model.
- images: `--images` seeded 64x64 RGB PNGs in 10 class folders. kerascli trains a spec with
  `data: {path: images, images: {image_size: [64, 64], color_mode: rgb}}`; the hand-written
  script uses `keras.utils.image_dataset_from_directory`; both train the same small CNN.

Reported per side: fit time (the epochs) and rows (images) per second through `fit`, the whole
process's wall time, start-up and end-of-run time, peak RSS (`ru_maxrss` of the child); the
kerascli / hand-written ratios; and, for several CSV sizes, each side's peak RSS at the largest
size over that at the smallest (streaming: RSS independent of the file's size).

    python bench/stream_train.py                        # CSV of 100 MiB and 1 GiB, 10 000 images
    python bench/stream_train.py --part csv --sizes 1000
    python bench/stream_train.py --part images --images 10000 --image-epochs 2
    python bench/stream_train.py --quick --json         # 5 MiB CSV, 200 images
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import common

SEED = 7
CLASSES = 10  # image classes
COLUMNS = ["fit_s", "rows_per_s", "total_s", "startup_s", "end_s", "rss_mb", "accuracy"]


def image_spec(folder: Path, size: int, batch: int, epochs: int) -> dict[str, Any]:
    """The kerascli spec of the image workload."""
    return {
        "name": "bench-stream-images",
        "seed": SEED,
        "model": {"sequential": {"input": {"shape": [size, size, 3]}, "layers": _cnn_layers()}},
        "compile": common.COMPILE,
        "fit": {"epochs": epochs, "batch_size": batch},
        "callbacks": [],
        "data": {
            "path": str(folder),
            "images": {"image_size": [size, size], "color_mode": "rgb"},
        },
    }


def _cnn_layers() -> list[Any]:
    return [
        {"Rescaling": {"scale": 1 / 255}},
        {"Conv2D": {"filters": 16, "kernel_size": 3, "activation": "relu"}},
        {"MaxPooling2D": {"pool_size": 2}},
        {"Conv2D": {"filters": 32, "kernel_size": 3, "activation": "relu"}},
        {"MaxPooling2D": {"pool_size": 2}},
        "GlobalAveragePooling2D",
        {"Dense": {"units": CLASSES, "activation": "softmax"}},
    ]


def _model(keras: Any, spec: dict[str, Any]) -> Any:
    """The spec's Sequential model, built by hand from the same layer list."""
    sequential = spec["model"]["sequential"]
    layers = [keras.Input(tuple(sequential["input"]["shape"]))]
    for entry in sequential["layers"]:
        name, args = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        layers.append(getattr(keras.layers, name)(**args))
    model = keras.Sequential(layers)
    model.compile(
        keras.optimizers.Adam(0.001), "sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    return model


def worker_hand(spec: dict[str, Any], out: str) -> dict[str, Any]:
    """The same training written by hand with tf.data and Keras."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)
    data, fit = spec["data"], spec["fit"]
    batch = fit["batch_size"]
    if "images" in data:
        size = tuple(data["images"]["image_size"])

        def dataset(training: bool) -> Any:
            return keras.utils.image_dataset_from_directory(
                data["path"], image_size=size, batch_size=batch, shuffle=training, seed=SEED
            ).prefetch(tf.data.AUTOTUNE)
    else:
        defaults: list[Any] = [[0.0]] * len(data["features"]) + [[0]]

        def parse(lines: Any) -> Any:
            *x, y = tf.io.decode_csv(lines, record_defaults=defaults)
            return tf.stack(x, axis=1), y

        def dataset(training: bool) -> Any:
            lines = tf.data.TextLineDataset(data["path"]).skip(1)
            if training:
                lines = lines.shuffle(data["shuffle"], seed=SEED)
            batches = lines.batch(batch).map(parse, num_parallel_calls=tf.data.AUTOTUNE)
            return batches.prefetch(tf.data.AUTOTUNE)

    model = _model(keras, spec)
    stamps = common.epoch_stamps()
    model.fit(dataset(True), epochs=fit["epochs"], callbacks=[stamps], verbose=0)
    scores = model.evaluate(dataset(False), verbose=0, return_dict=True)
    model.save(Path(out) / "model.keras")
    return {
        "epoch_begins": stamps.begins,
        "epoch_ends": stamps.ends,
        "done": time.time(),
        "accuracy": scores["accuracy"],
    }


def run_pair(spec: dict[str, Any], rows: int, folder: Path) -> dict[str, dict[str, float]]:
    """Each side once, in a fresh process: its phases, rows/s through fit, RSS, accuracy."""
    spec_file = folder / "spec.yaml"
    spec_file.write_text(json.dumps(spec, indent=1))  # JSON is YAML
    results = {}
    for side in ("hand", "kerascli"):
        out = folder / f"out-{side}"
        out.mkdir()
        if side == "hand":
            command = common.worker_command("stream_train.py", "--worker", str(spec_file))
            child = common.run_child([*command, "--out", str(out)], cwd=out)
            times, accuracy = common.worker_phases(child), child.report()["accuracy"]
        else:
            command = [*common.kerascli_command(), "train", str(spec_file), "-q"]
            child = common.run_child([*command, "--runs-dir", str(out)], cwd=out)
            times = common.kerascli_phases(child)
            metrics = json.loads(next(out.glob("*/*/metrics.json")).read_text())
            accuracy = metrics["train"]["accuracy"]
        epochs = spec["fit"]["epochs"]
        rate = rows * epochs / times["fit_s"] if times["fit_s"] > 0 else None
        results[side] = {**times, "rows_per_s": rate, "rss_mb": child.rss_mb, "accuracy": accuracy}
        common.remove(out)
    return results


def ratios(pair: dict[str, dict[str, float]]) -> dict[str, float | None]:
    k, h = pair["kerascli"], pair["hand"]
    return {
        "fit_time": common.ratio(k["fit_s"], h["fit_s"]),
        "total_time": common.ratio(k["total_s"], h["total_s"]),
        "rows_per_s": common.ratio(k["rows_per_s"] or 0, h["rows_per_s"] or 0),
        "rss": common.ratio(k["rss_mb"], h["rss_mb"]),
    }


def bench_csv(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    out = []
    for size in args.sizes:
        table = folder / "table.csv"
        rows = common.generate_csv(table, size, SEED)
        spec = common.mlp_spec("bench-stream-csv", table, args.batch_size, args.csv_epochs)
        spec["data"].update(stream=True, shuffle=args.shuffle)
        pair = run_pair(spec, rows, folder)
        megabytes = table.stat().st_size / 2**20
        out.append({"workload": "csv", "size_mb": megabytes, "rows": rows, "sides": pair})
        common.remove(table)
    return out


def bench_images(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    images = folder / "images"
    count = common.generate_images(images, args.images, args.image_size, SEED)
    spec = image_spec(images, args.image_size, args.image_batch_size, args.image_epochs)
    pair = run_pair(spec, count, folder)
    common.remove(images)
    return {"workload": "images", "images": count, "sides": pair}


def show(results: list[dict[str, Any]]) -> None:
    header = ["", "fit s", "rows/s", "total s", "start-up s", "end s", "peak RSS MB", "acc"]
    for result in results:
        if result["workload"] == "csv":
            title = f"CSV {result['size_mb']:.0f} MiB, {result['rows']:,} rows"
        else:
            title = f"{result['images']:,} images"
        print(title)
        common.print_table(
            header, [[s, *(v[k] for k in COLUMNS)] for s, v in result["sides"].items()]
        )
        r = result["ratio"]
        print(
            f"ratio kerascli/hand: fit time {common.times(r['fit_time'])}, whole process "
            f"{common.times(r['total_time'])}, rows/s {common.times(r['rows_per_s'])}, peak RSS {common.times(r['rss'])}\n"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=["all", "csv", "images"], default="all")
    parser.add_argument("--sizes", default="100,1000", help="CSV sizes, MiB. Default: 100,1000.")
    parser.add_argument("--size-mb", type=float, help="One CSV size, MiB (instead of --sizes).")
    parser.add_argument("--batch-size", type=int, default=1024, help="CSV batch. Default: 1024.")
    parser.add_argument("--csv-epochs", type=int, default=1, help="Default: 1 (one pass).")
    parser.add_argument("--shuffle", type=int, default=10_000, help="CSV shuffle buffer, rows.")
    parser.add_argument("--images", type=int, default=10_000, help="Default: 10 000.")
    parser.add_argument("--image-size", type=int, default=64, help="Default: 64 (x 64, RGB).")
    parser.add_argument("--image-batch-size", type=int, default=32, help="Default: 32.")
    parser.add_argument("--image-epochs", type=int, default=2, help="Default: 2.")
    parser.add_argument("--tmp", help="Where the data is written. Default: the system's temp.")
    parser.add_argument("--quick", action="store_true", help="A 5 MiB CSV and 200 images.")
    parser.add_argument("--json", action="store_true", help="Print one JSON document.")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker_hand(json.loads(Path(args.worker).read_text()), args.out)))
        return
    args.sizes = [float(s) for s in str(args.sizes).split(",") if s.strip()]
    if args.size_mb is not None:
        args.sizes = [args.size_mb]
    if args.quick:
        args.sizes, args.images = [5.0], 200
    results: list[dict[str, Any]] = []
    with common.workspace(args.tmp) as tmp:
        if args.part in ("all", "csv"):
            results += bench_csv(args, Path(tmp))
        if args.part in ("all", "images"):
            results.append(bench_images(args, Path(tmp)))
    for result in results:
        result["ratio"] = ratios(result["sides"])
    growth = common.rss_growth([r for r in results if r["workload"] == "csv"])
    if args.json:
        print(json.dumps({"results": results, "rss_growth": growth}, indent=2))
        return
    show(results)
    if growth:
        small, large = growth["sizes_mb"]
        print(
            f"peak RSS at {large:.0f} MiB / at {small:.0f} MiB: hand {common.times(growth['hand'])}, "
            f"kerascli {common.times(growth['kerascli'])}"
        )


if __name__ == "__main__":
    main()
