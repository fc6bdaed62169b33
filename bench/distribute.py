"""Benchmark: training throughput (images/s) of an image model under tf.distribute with kerascli
(`distribute:`) against a hand-written Keras + tf.data script doing the same work.

Four configurations, each side a fresh process (a strategy must be created before TensorFlow
runs any op), the same model, seeded data, global batch, epochs and seed:

- one device: `distribute.strategy=one_device` (the first GPU; the CPU where there is none);
  hand-written: `tf.distribute.OneDeviceStrategy`;
- all devices: `distribute.strategy=mirrored` (every GPU, or `--devices N`); hand-written:
  `tf.distribute.MirroredStrategy`;
- mixed_float16 and mixed_bfloat16: all devices, with `distribute.mixed_precision=...`;
  hand-written: `keras.config.set_dtype_policy(...)` before the model is built, the softmax
  output in float32 (as Keras advises, and as kerascli does).

The model is `keras.applications.ResNet50(weights=None, include_top=False, pooling="avg")` after
a `Rescaling(1/255)` and before a `Dense` softmax of 10 classes (`--model cnn`: a small CNN with
BatchNormalization), compiled with Adam and `sparse_categorical_crossentropy`. The data:
`--images` random uint8 RGB images of `--image-size` (224) and random labels, seeded, written
once to an NPZ in a temporary folder (no download). kerascli trains a spec on it (in memory,
shuffled); the hand-written script loads the arrays into `from_tensor_slices` + `shuffle` +
`batch` + `prefetch` (kerascli holds the images as the input's float32, 4 bytes a value: at
the defaults 1.2 GiB against 0.3 GiB of uint8, which peak RSS shows). The global batch is `--batch-size` (per device) x the replicas. With
more than one replica kerascli makes BatchNormalization `synchronized`; the hand-written side
does the same (same work). Both seed and ask for deterministic ops (kerascli's default for a
seeded spec); `--no-seed` turns both off. Both run with oneDNN off, as kerascli sets it
(`TF_ENABLE_ONEDNN_OPTS=0` unless the environment says otherwise: on a CPU it changes the
speed, mixed_float16's several times over; a GPU's kernels are not oneDNN's).

Reported per configuration and side: images/s in the steady state (the images of an epoch over
the mean time of the epochs after the first: tracing and autotuning left out), the first
epoch's seconds, the whole process's seconds, peak RSS (the child's `ru_maxrss`); the ratio
kerascli / hand-written of images/s, and each side's speed-up over its one-device run. A table
is printed and a JSON document written (`--output`). XLA: `--jit-compile` (default `auto`, both
sides; Keras's `auto` leaves XLA off under any tf.distribute strategy, so every configuration
here runs without it unless `--jit-compile true`); what each side ran with is in the JSON.

    python bench/distribute.py                           # ResNet50, 224x224, every GPU
    python bench/distribute.py --configs one_device,mixed_bfloat16 --output out.json
    python bench/distribute.py --smoke                   # CPU: small CNN, 2 logical CPUs

`--smoke` proves the script runs (about 1.5 min on 2 CPU cores; its figures are start-up and
noise). The default run is 8 processes (4 configurations x 2 sides), each a TensorFlow start,
data load, ResNet50 build, 3 epochs of 2048 images, an evaluation and a save.

Long because it holds both sides, the data writer and the report of one benchmark.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import common

SEED = 7
CLASSES = 10
CONFIGS = {
    "one_device": ("one_device", "float32"),
    "mirrored": ("mirrored", "float32"),
    "mixed_float16": ("mirrored", "mixed_float16"),
    "mixed_bfloat16": ("mirrored", "mixed_bfloat16"),
}
"""Each configuration: (`distribute.strategy`, `distribute.mixed_precision`)."""
FULL = {"model": "resnet50", "images": 2048, "image_size": 224, "batch_size": 128}
SMOKE = {"model": "cnn", "images": 256, "image_size": 32, "batch_size": 16, "devices": 2}
"""The sizes by default, and with `--smoke` (where the options leave them unset)."""

# --- children ---------------------------------------------------------------------------------


def worker_data(path: Path, images: int, size: int) -> dict[str, Any]:
    """Write the seeded images and labels to `path` (NPZ); report this machine's GPUs."""
    import numpy as np
    import tensorflow as tf

    rng = np.random.default_rng(SEED)
    pixels = rng.integers(0, 256, size=(images, size, size, 3), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, size=images).astype(np.int64)
    np.savez(path, images=pixels, label=labels)
    gpus = [
        tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        for gpu in tf.config.list_physical_devices("GPU")
    ]
    return {"images": images, "gpus": gpus}


def model_spec(args: argparse.Namespace, data: Path, batch: int) -> dict[str, Any]:
    """The kerascli spec (JSON-able) of the workload; `distribute` is set per configuration."""
    size = args.image_size
    if args.model == "resnet50":
        backbone = {
            "ResNet50": {"include_top": False, "weights": None, "pooling": "avg"},
            "from": "scaled",
        }
        body = {"features": backbone}
    else:
        body = {
            "conv1": {"Conv2D": {"filters": 32, "kernel_size": 3, "activation": "relu"}},
            "norm1": {"BatchNormalization": {}, "from": "conv1"},
            "pool1": {"MaxPooling2D": {"pool_size": 2}, "from": "norm1"},
            "conv2": {"Conv2D": {"filters": 64, "kernel_size": 3, "activation": "relu"}},
            "norm2": {"BatchNormalization": {}, "from": "conv2"},
            "features": {"GlobalAveragePooling2D": {}, "from": "norm2"},
        }
        body["conv1"]["from"], body["conv2"]["from"] = "scaled", "pool1"
    layers = {
        "scaled": {"Rescaling": {"scale": 1 / 255}, "from": "image"},
        **body,
        "label": {"Dense": {"units": CLASSES, "activation": "softmax"}, "from": "features"},
    }
    return {
        "name": "bench-distribute",
        "seed": SEED if args.seed else None,
        "model": {
            "functional": {
                "inputs": {"image": {"shape": [size, size, 3]}},
                "layers": layers,
                "outputs": "label",
            }
        },
        "compile": {**common.COMPILE, "jit_compile": args.jit_compile},
        "fit": {"epochs": args.epochs, "batch_size": batch},
        "callbacks": [],
        "data": {"path": str(data), "features": "images", "target": "label"},
    }


def hand_strategy(tf: Any, strategy: str, devices: int | None) -> Any:
    """The strategy, as a user writes it; `devices`: the first N GPUs, or N logical CPUs."""
    gpus = tf.config.list_physical_devices("GPU")
    if devices and not gpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        config = [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
        tf.config.set_logical_device_configuration(cpu, config)
    kind = "GPU" if gpus else "CPU"
    if strategy == "one_device":
        return tf.distribute.OneDeviceStrategy(f"/{kind.lower()}:0")
    names = [f"/{kind.lower()}:{i}" for i in range(devices)] if devices else None
    return tf.distribute.MirroredStrategy(names)


def hand_model(keras: Any, model: str, size: int) -> Any:
    """The spec's model written by hand (`model_spec`)."""
    image = keras.Input((size, size, 3), name="image")
    x = keras.layers.Rescaling(1 / 255)(image)
    if model == "resnet50":
        x = keras.applications.ResNet50(
            include_top=False, weights=None, pooling="avg", input_shape=(size, size, 3)
        )(x)
    else:
        x = keras.layers.Conv2D(32, 3, activation="relu")(x)
        x = keras.layers.MaxPooling2D(2)(keras.layers.BatchNormalization()(x))
        x = keras.layers.BatchNormalization()(keras.layers.Conv2D(64, 3, activation="relu")(x))
        x = keras.layers.GlobalAveragePooling2D()(x)
    label = keras.layers.Dense(CLASSES, activation="softmax", dtype="float32")(x)
    return keras.Model(image, label)


def worker_hand(spec: dict[str, Any], config: str, devices: int | None, model: str) -> Any:
    """The same training written by hand with tf.distribute, tf.data and Keras."""
    import os

    # kerascli turns oneDNN off (`kerascli.model.keras_env`, unless the environment sets it);
    # on a CPU that changes the speed (float16 several times over), so the sides run alike
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import numpy as np
    import tensorflow as tf

    strategy = hand_strategy(tf, CONFIGS[config][0], devices)  # before any op
    import keras

    if spec["seed"] is not None:
        keras.utils.set_random_seed(spec["seed"])
        tf.config.experimental.enable_op_determinism()
    with np.load(spec["data"]["path"]) as arrays:
        x, y = arrays["images"], arrays["label"]
    batch, epochs = spec["fit"]["batch_size"], spec["fit"]["epochs"]
    data = tf.data.Dataset.from_tensor_slices((x, y))
    train = data.shuffle(len(x), seed=spec["seed"], reshuffle_each_iteration=True)
    keras.config.set_dtype_policy(CONFIGS[config][1])
    with strategy.scope():
        net = hand_model(keras, model, x.shape[1])
        if strategy.num_replicas_in_sync > 1:  # as kerascli does: statistics over the batch
            for layer in net._flatten_layers(include_self=False, recursive=True):
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.synchronized = True
        jit = spec["compile"]["jit_compile"]
        net.compile(
            keras.optimizers.Adam(0.001),
            "sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=jit,
        )
        stamps = common.epoch_stamps()
        auto = tf.data.AUTOTUNE
        net.fit(train.batch(batch).prefetch(auto), epochs=epochs, callbacks=[stamps], verbose=0)
        scores = net.evaluate(data.batch(batch).prefetch(auto), verbose=0, return_dict=True)
        net.save(Path(spec["data"]["path"]).with_name(f"hand-{config}.keras"))
    return {
        "epoch_begins": stamps.begins,
        "epoch_ends": stamps.ends,
        "replicas": strategy.num_replicas_in_sync,
        "jit_compile": bool(getattr(net, "jit_compile", False)),
        "accuracy": scores["accuracy"],
    }


def worker_api(spec_file: Path, sets: list[str], out: Path) -> dict[str, Any]:
    """`kerascli.train` in this process; the epoch lines go to stdout as the CLI prints them."""
    import sys

    import kerascli

    spec = kerascli.load_spec(spec_file, overrides=sets)
    result = kerascli.train(spec, runs_dir=out, plain=True, stream=sys.stdout)
    return {"run_dir": str(result.path)}


# --- the parent -------------------------------------------------------------------------------


def run_side(
    side: str, config: str, args: argparse.Namespace, spec_file: Path, folder: Path
) -> dict[str, Any]:
    """One fresh process of `side` on `config`: images/s, times, RSS, what it ran on."""
    strategy, precision = CONFIGS[config]
    out = folder / f"out-{side}-{config}"
    out.mkdir()
    if side == "hand":
        command = common.worker_command("distribute.py", "--worker", "hand", "--config", config)
        command += ["--spec", str(spec_file), "--model", args.model]
        many = strategy == "mirrored" and args.devices
        command += ["--devices", str(args.devices if many else 0)]
        child = common.run_child(command, cwd=out)
        times, report = common.worker_phases(child), child.report()
        ran = {"replicas": report["replicas"], "jit_compile": report["jit_compile"]}
    else:
        sets = [f"distribute.strategy={strategy}", f"distribute.mixed_precision={precision}"]
        if args.devices and strategy == "mirrored":
            sets.append(f"distribute.devices={args.devices}")
        if args.via == "api":
            command = common.worker_command("distribute.py", "--worker", "api", "--out", str(out))
            command += ["--spec", str(spec_file), *(a for s in sets for a in ("--set", s))]
        else:
            command = [*common.kerascli_command(), "train", str(spec_file), "-q"]
            command += ["--runs-dir", str(out), *(a for s in sets for a in ("--set", s))]
        child = common.run_child(command, cwd=out)
        times = common.kerascli_phases(child)
        record = json.loads(next(out.glob("*/*/run.json")).read_text())["distribute"]
        ran = {k: record[k] for k in ("replicas", "jit_compile", "mixed_precision", "class")}
        ran["global_batch_size"] = record["global_batch_size"]
    common.remove(out)
    rate = args.images / times["epoch_s"] if times["epoch_s"] > 0 else None
    return {**times, "images_per_s": rate, "rss_mb": child.rss_mb, **ran}


def bench(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """Write the data, then run every configuration's sides, interleaved, `--repeat` times."""
    data = folder / "images.npz"
    command = common.worker_command("distribute.py", "--worker", "data", "--out", str(data))
    command += ["--images", str(args.images), "--image-size", str(args.image_size)]
    machine = common.run_child(command).report()
    gpus = len(machine["gpus"])
    replicas = args.devices or max(gpus, 1)
    results: dict[str, Any] = {}
    for config in args.configs:
        many = CONFIGS[config][0] == "mirrored"
        batch = args.batch_size * (replicas if many else 1)
        spec_file = folder / f"spec-{config}.json"
        spec_file.write_text(json.dumps(model_spec(args, data, batch), indent=1))  # JSON is YAML
        runs: dict[str, list[dict[str, Any]]] = {"hand": [], "kerascli": []}
        for _ in range(args.repeat):
            for side in runs:
                runs[side].append(run_side(side, config, args, spec_file, folder))
        sides = {side: _median(rows) for side, rows in runs.items()}
        results[config] = {"global_batch_size": batch, "sides": sides}
    return {"machine": machine, "results": results}


def _median(rows: list[dict[str, Any]]) -> dict[str, Any]:
    numbers = [k for k, v in rows[0].items() if isinstance(v, float) and not isinstance(v, bool)]
    return {**rows[0], **common.medians([{k: r[k] or 0.0 for k in numbers} for r in rows])}


def add_ratios(document: dict[str, Any]) -> None:
    """kerascli / hand-written images/s per configuration; each side's speed-up over one device."""
    results = document["results"]
    base = results.get("one_device", {}).get("sides")
    for result in results.values():
        k, h = result["sides"]["kerascli"], result["sides"]["hand"]
        result["ratio"] = {
            "images_per_s": common.ratio(k["images_per_s"] or 0, h["images_per_s"] or 0),
            "total_time": common.ratio(k["total_s"], h["total_s"]),
            "rss": common.ratio(k["rss_mb"], h["rss_mb"]),
        }
        for side, values in result["sides"].items():
            one = base[side]["images_per_s"] if base else None
            values["speedup"] = common.ratio(values["images_per_s"] or 0, one or 0)


def show(document: dict[str, Any]) -> None:
    setup = document["setup"]
    gpus = ", ".join(document["machine"]["gpus"]) or "no GPU"
    print(
        f"{setup['model']} {setup['image_size']}x{setup['image_size']}, {setup['images']} images, "
        f"{setup['epochs']} epochs, {setup['batch_size']} per device; {gpus}; "
        f"images/s: steady state (epochs after the first); medians of {setup['repeat']}"
    )
    header = ["", "side", "replicas", "batch", "images/s", "ratio", "speed-up", "1st epoch s"]
    header += ["total s", "peak RSS MB"]
    rows = []
    for config, result in document["results"].items():
        for side, v in result["sides"].items():
            ratio = result["ratio"]["images_per_s"] if side == "kerascli" else None
            rows.append(
                [config, side, v["replicas"], result["global_batch_size"], v["images_per_s"]]
                + [common.times(ratio) if ratio else "", common.times(v["speedup"])]
                + [v["first_epoch_s"], v["total_s"], v["rss_mb"]]
            )
    common.print_table(header, rows)
    print("ratio: kerascli / hand-written images/s; speed-up: over the side's one_device run")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--configs", default=",".join(CONFIGS), help="Default: all four.")
    parser.add_argument("--model", choices=["resnet50", "cnn"], help="Default: resnet50.")
    parser.add_argument("--images", type=int, help="Per epoch. Default: 2048.")
    parser.add_argument("--image-size", type=int, help="Default: 224 (RGB).")
    parser.add_argument("--batch-size", type=int, help="Per device. Default: 128.")
    parser.add_argument("--epochs", type=int, default=3, help="At least 2. Default: 3.")
    parser.add_argument("--devices", type=int, help="Mirrored over N (GPUs, else logical CPUs).")
    parser.add_argument("--jit-compile", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--no-seed", dest="seed", action="store_false", help="No determinism.")
    parser.add_argument("--repeat", type=int, default=1, help="Runs of each side. Default: 1.")
    parser.add_argument("--via", choices=["cli", "api"], default="cli", help="Default: cli.")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="A check that runs on a CPU: defaults cnn, 256 images of 32x32, 16 per device, "
        "mirrored over 2 (logical CPUs without a GPU). Its figures mean little.",
    )
    parser.add_argument("--tmp", help="Where the data is written. Default: the system's temp.")
    parser.add_argument("--output", default="distribute-bench.json", help="The JSON written.")
    parser.add_argument("--json", action="store_true", help="Print the JSON, not the table.")
    for hidden in ("--worker", "--config", "--spec", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    parser.add_argument("--set", action="append", default=[], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    args.jit_compile = {"true": True, "false": False}.get(args.jit_compile, "auto")
    defaults = SMOKE if args.smoke else FULL
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = sorted(set(args.configs) - set(CONFIGS))
    if unknown or args.epochs < 2:
        parser.error(f"unknown configs {unknown}" if unknown else "--epochs: at least 2")
    started = time.perf_counter()
    with common.workspace(args.tmp) as tmp:
        document = bench(args, Path(tmp))
    setup = ["model", "images", "image_size", "batch_size", "epochs", "devices", "jit_compile"]
    document["setup"] = {k: getattr(args, k) for k in [*setup, "seed", "repeat", "via", "smoke"]}
    document["seconds"] = time.perf_counter() - started
    add_ratios(document)
    Path(args.output).write_text(json.dumps(document, indent=2))
    if args.json:
        print(json.dumps(document, indent=2))
    else:
        show(document)
        print(f"written: {args.output} ({document['seconds']:.0f} s)")


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """A child's work (`--worker data | hand | api`), its report."""
    if args.worker == "data":
        return worker_data(Path(args.out), args.images, args.image_size)
    if args.worker == "api":
        return worker_api(Path(args.spec), args.set, Path(args.out))
    spec = json.loads(Path(args.spec).read_text())
    return worker_hand(spec, args.config, args.devices or None, args.model)


if __name__ == "__main__":
    main()
