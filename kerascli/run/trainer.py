"""Train, evaluate and predict: the compile -> fit -> evaluate -> save workflow of a spec."""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from kerascli.data import Data, load_data
from kerascli.data.pipeline import make_dataset
from kerascli.data.splits import SINGLE, Split, implied_features
from kerascli.model.builder import Builder
from kerascli.run.backup import Backups
from kerascli.run.callbacks import gate_name_check, history_writer, monitor_check, spec_callbacks
from kerascli.run.compile import compile_model
from kerascli.run.gates import Gate
from kerascli.run.inference import loss_kind, loss_name
from kerascli.run.portable import copy_plugins, origin, portable_spec
from kerascli.run.progress import format_logs, make_progress
from kerascli.run.rundir import RunDir, Terminated, atomic_write, environment, write_json
from kerascli.spec.dump import resolved_spec, to_yaml
from kerascli.spec.models import Spec
from kerascli.spec.outputs import losses_by_output
from kerascli.spec.problems import KerasCliError, cause_line

ADAPTABLE = {
    "Normalization": ("mean", "variance"),
    "Discretization": ("bin_boundaries",),
    "TextVectorization": ("vocabulary",),
    "StringLookup": ("vocabulary",),
    "IntegerLookup": ("vocabulary",),
}


class TrainingFailed(KerasCliError):
    """Training ran but did not finish well (e.g. the loss became NaN)."""


@dataclass
class RunResult:
    """What a finished run left: its directory, final metrics and per-epoch history."""

    path: Path
    status: str
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)

    def flat_metrics(self) -> dict[str, float]:
        return flatten_metrics(self.metrics)


def flatten_metrics(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """`{train: {loss}, validation: {loss}, test: {loss}}` -> `loss, val_loss, test_loss`."""
    prefix = {"train": "", "validation": "val_", "test": "test_"}
    return {
        f"{prefix.get(split, split + '_')}{name}": value
        for split, values in metrics.items()
        for name, value in values.items()
    }


def seed_everything(seed: int | None) -> None:
    """Seed Python, NumPy and Keras, and ask TensorFlow for deterministic ops."""
    if seed is None:
        return
    from kerascli.model.keras_env import import_keras

    keras = import_keras()
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _stateless_preprocessing(spec: Spec, model: Any) -> list[tuple[str, Any]]:
    """(node or layer name, layer) of each preprocessing layer the spec gives no state to
    (a `Normalization` without `mean`/`variance`, ...), in model order."""
    found: list[tuple[str, Any]] = []
    if spec.model.sequential is not None:
        layers = zip(spec.model.sequential.layers, model.layers, strict=False)
        for i, (layer_call, layer) in enumerate(layers):
            ((name, args),) = layer_call.items()
            if name in ADAPTABLE and not any(k in args for k in ADAPTABLE[name]):
                found.append((f"layers[{i}]", layer))  # stable, unlike Keras's layer names
    elif spec.model.functional is not None:
        for node_name, node in spec.model.functional.layers.items():
            node_call = node.layer
            if node_call is None or node_call[0] not in ADAPTABLE:
                continue
            class_name, args = node_call
            if not any(k in args for k in ADAPTABLE[class_name]):
                found.append((node_name, model.get_layer(args.get("name", node_name))))
        order = {id(layer): i for i, layer in enumerate(model.layers)}
        found.sort(key=lambda item: order.get(id(item[1]), 0))
    return found


def adapt_preprocessing(spec: Spec, model: Any, train: Split) -> list[str]:
    """Adapt the preprocessing layers the spec gives no state to (`Normalization`, ...) on the
    training data as it reaches them: the model's inputs, or the outputs of the layers before
    (those adapted first)."""
    from kerascli.model.keras_env import import_keras

    keras = import_keras()
    adapted: list[str] = []
    stateless = _stateless_preprocessing(spec, model)  # none in a subclass model
    if not stateless:
        return adapted
    try:  # the model's inputs as the data feeds them: one tensor, or a dict by spec key
        structure = model.input
    except (AttributeError, ValueError):
        structure = model.inputs[0]
    for name, layer in stateless:
        if isinstance(structure, dict):
            keys = [key for key, tensor in structure.items() if tensor is layer.input]
            direct = bool(keys)
        else:
            keys, direct = [], structure is layer.input
        if direct:  # fed directly by a model input
            layer.adapt(train.x[keys[0]] if keys and isinstance(train.x, dict) else train.x)
        else:
            upstream = keras.Model(structure, layer.input)
            layer.adapt(upstream.predict(train.x, verbose=0, batch_size=256))
        adapted.append(name)
    return adapted


def _class_weight(spec: Spec, data: Data) -> dict[int, float] | None:
    weights = spec.fit.class_weight
    if weights is None:
        return None
    y = data.splits["train"].y
    if isinstance(y, dict):
        raise KerasCliError("fit.class_weight applies to one-output models only")
    assert y is not None
    if weights == "balanced":
        ids, counts = np.unique(y, return_counts=True)
        return {int(i): float(len(y) / (len(ids) * c)) for i, c in zip(ids, counts, strict=True)}
    classes = data.classes.get(SINGLE, [])
    out: dict[int, float] = {}
    for key, value in weights.items():
        if isinstance(key, str) and key in classes:
            out[classes.index(key)] = float(value)
        else:
            try:
                out[int(key)] = float(value)
            except ValueError:
                raise KerasCliError(
                    f"fit.class_weight: unknown class '{key}' (classes: {', '.join(classes)})"
                ) from None
    return out


def _output_path(spec: Spec, output: str) -> tuple[str | int, ...]:
    """Where the layer giving `output` is written in the spec."""
    model = spec.model
    if model.sequential is not None:
        return ("model", "sequential", "layers", len(model.sequential.layers) - 1)
    if model.functional is not None:
        fn = model.functional
        node = output if output != SINGLE else fn.output_names[0]
        return ("model", "functional", "layers", node)
    return ("model", "subclass", "args")


def _output_tensors(model: Any, data: Data) -> Any:
    """The model's output tensor(s): symbolic for Sequential and Functional models, from one
    row of data for a subclass; `None` when that cannot run yet (e.g. before `adapt`)."""
    try:
        output = model.output  # a Functional model's (a dict for several outputs)
    except (AttributeError, ValueError):
        output = None
    if output is None:
        outputs = getattr(model, "outputs", None)  # a Sequential model's
        output = outputs[0] if outputs and len(outputs) == 1 else None
    if output is not None:
        return output
    x = data.splits["train"].x
    sample = {k: v[:1] for k, v in x.items()} if isinstance(x, dict) else x[:1]
    try:
        return model(sample, training=False)
    except Exception:  # training reports what is wrong, with more context
        return None


def check_class_ids(builder: Builder, model: Any, data: Data) -> None:
    """Targets must suit their loss and output, before anything trains:

    - class ids with a sparse categorical loss fit the output: ids 0..n-1 need n units (Keras
      would fail mid-fit with `indices[0] = 2 is not in [0, 2)`);
    - a categorical (not sparse) crossentropy gets one-hot rows, not one class per row.
    """
    spec = builder.spec
    loss_text = str(spec.compile.loss).lower().replace("_", "")
    if "categorical" not in loss_text:
        return
    raw = _output_tensors(model, data)
    if raw is None:
        return
    raw = raw if isinstance(raw, dict) else {SINGLE: raw}
    outputs = dict(raw) if len(raw) > 1 else {SINGLE: next(iter(raw.values()))}
    for name, tensor in outputs.items():
        kind = loss_kind(spec, name)
        if kind not in ("sparse", "categorical"):
            continue
        ids: list[Any] = [
            s.y if name == SINGLE or not isinstance(s.y, dict) else s.y.get(name)
            for s in data.splits.values()
        ]
        arrays: list[np.ndarray] = [np.asarray(i) for i in ids if i is not None and np.size(i)]
        units = tensor.shape[-1]
        if not arrays or units is None or not np.issubdtype(arrays[0].dtype, np.number):
            continue
        one_per_row = arrays[0].ndim == 1 or arrays[0].shape[-1] == 1
        if kind == "categorical" and one_per_row and units > 1:
            per_output = losses_by_output(spec) or {}
            loss_path = per_output[name][0] if name in per_output else ("compile", "loss")
            raise builder.error(
                loss_path,
                f"{loss_name(spec, name)} wants one-hot targets ({units} columns), but the "
                "target has one class per row: use sparse_categorical_crossentropy",
            )
        if kind != "sparse":
            continue
        top = int(max(i.max() for i in arrays))
        if top >= units:
            label = f"output '{name}'" if name else "the output layer"
            raise builder.error(
                _output_path(spec, name),
                f"the target has {top + 1} classes (ids 0 to {top}) but {label} gives "
                f"{units} unit{'s' if units != 1 else ''}; give it {top + 1} units",
            )


def save_spec(spec: Spec, run: RunDir) -> None:
    """Write the run's `spec.yaml` so the run travels: the input columns it was trained on,
    data files relative to it, copies of its plugin files (hashed in `run.json`)."""
    copies = copy_plugins(spec, run.path)
    features = implied_features(spec)
    saved = portable_spec(resolved_spec(spec), run.path, copies, features)
    atomic_write(run.path / "spec.yaml", to_yaml(saved))
    run.update(**origin(run.path, copies))


def _save_model(model: Any, path: Path) -> None:
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:  # e.g. the disk is full: no half-written model is left
        tmp.unlink(missing_ok=True)
        raise


def _evaluate(model: Any, spec: Spec, split: Split) -> dict[str, float]:
    dataset = make_dataset(split, spec.data, spec.fit.batch_size, spec.seed, training=False)
    values = model.evaluate(dataset, verbose=0, return_dict=True)
    return {k: float(v) for k, v in values.items()}


def train(
    spec: Spec,
    runs_dir: str | Path = "runs",
    name: str | None = None,
    stream: TextIO | None = None,
    plain: bool | None = None,
    gates: Sequence[Gate] = (),
) -> RunResult:
    """Train the model a spec describes and leave a run directory.

    Args:
        spec: A validated spec (from `load_spec`).
        runs_dir: Where runs go. Defaults to `runs`.
        name: The run's name. Defaults to the spec's `name`.
        stream: Where progress goes. Defaults to stdout.
        plain: One line per epoch instead of a progress bar. Defaults to "not a terminal".
        gates: `--require` gates; one naming a metric the run will not have stops training
            after the first epoch. Defaults to none (the caller checks the values).

    Returns:
        A `RunResult` with the run directory, metrics and history.
    """
    stream = stream or sys.stdout
    seed_everything(spec.seed)
    data = load_data(spec)  # data and model errors come before any run directory is made
    builder = Builder(spec)
    model = builder.build()
    check_class_ids(builder, model, data)
    doc = spec.document
    spec_file = doc.file if doc is not None and not doc.file.endswith("<spec>") else None
    run = RunDir.create(runs_dir, name or spec.name, environment(spec.seed, spec_file))
    writer = history_writer(run.path / "history.csv")
    log = open(run.path / "train.log", "a", encoding="utf-8", buffering=1)  # a line per epoch
    log.write(f"{run.record['command']}\n")
    backups = Backups(run, log, spec.fit.epochs)
    try:
        save_spec(spec, run)
        if data.classes:
            run.update(classes={k or "target": v for k, v in data.classes.items()})
        train_split = data.splits["train"]
        adapted = adapt_preprocessing(spec, model, train_split)
        if adapted:
            run.update(adapted=adapted)
        compile_model(builder, model)
        # The writers come first, so an epoch is on disk even if a later callback fails.
        log_lines = make_progress(spec.fit.epochs, log, plain=True)
        callbacks = [writer, log_lines, *spec_callbacks(builder, run.path, backups)]
        callbacks.insert(2, monitor_check(builder, "validation" in data.splits))
        if gates:
            callbacks.insert(2, gate_name_check(list(gates), list(data.splits)))
        callbacks.append(make_progress(spec.fit.epochs, stream, plain))
        batch = spec.fit.batch_size
        fit = spec.fit
        validation = data.splits.get("validation")
        train_data = make_dataset(train_split, spec.data, batch, spec.seed, training=True)
        if fit.steps_per_epoch:  # epochs of that many batches, the data cycling as needed
            train_data = train_data.repeat()
        validation_data = None
        if validation is not None:
            validation_data = make_dataset(validation, spec.data, batch, spec.seed, training=False)
            if fit.validation_steps:
                validation_data = validation_data.repeat()
        model.fit(
            train_data,
            validation_data=validation_data,
            epochs=fit.epochs,
            initial_epoch=fit.initial_epoch,
            steps_per_epoch=fit.steps_per_epoch,
            validation_steps=fit.validation_steps,
            validation_freq=fit.validation_freq,
            class_weight=_class_weight(spec, data),
            callbacks=callbacks,
            shuffle=False,  # the tf.data pipeline shuffles, seeded
            verbose=0,
        )
        if writer.nan_epoch is not None:
            raise TrainingFailed(
                f"the loss became NaN in epoch {writer.nan_epoch}; training stopped "
                "(lower the learning rate or check the data)"
            )
        metrics = {split: _evaluate(model, spec, values) for split, values in data.splits.items()}
        write_json(run.path / "metrics.json", metrics)
        _save_model(model, run.path / "model.keras")
        _plot_history(writer.rows, run.path / "history.png")
        log.write(f"test: {format_logs(metrics['test'])}\n" if "test" in metrics else "")
        log.write("completed\n")
        run.finish("completed", epochs_done=len(writer.rows), metrics=flatten_metrics(metrics))
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (`Terminated`)
        status = "terminated" if isinstance(exc, Terminated) else "interrupted"
        if _record_end(run, log, status, status, epochs_done=len(writer.rows)):
            exc.run_dir = run.path  # type: ignore[attr-defined]
        raise
    except BaseException as exc:
        cause = cause_line(exc)
        fields = {"error": cause, "epochs_done": len(writer.rows)}
        if _record_end(run, log, "failed", f"failed: {cause}", **fields):
            exc.run_dir = run.path  # type: ignore[attr-defined]  # the CLI names the failed run
        raise
    finally:
        with contextlib.suppress(OSError):
            log.close()
        backups.release()
    return RunResult(run.path, "completed", metrics, writer.rows)


def _record_end(run: RunDir, log: TextIO, status: str, line: str, **fields: Any) -> bool:
    """Mark how a run ended (`train.log`'s last line, `run.json`'s status), as far as the disk
    lets: a full disk must not hide the error that ended the run. Whether `run.json` says so."""
    with contextlib.suppress(OSError, ValueError):
        log.write(f"{line}\n")
    try:
        run.finish(status, **fields)
    except OSError as exc:
        print(
            f"warning: could not mark run {run.path} {status} ({cause_line(exc)}); "
            "`kerascli runs` shows it dead once this process ends",
            file=sys.stderr,
        )
        return False
    return True


def _plot_history(rows: list[dict[str, float]], path: Path) -> None:
    """Loss and metrics per epoch, one panel per metric (train and validation together)."""
    if not rows:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [
        k for k in rows[0] if k != "epoch" and not k.startswith("val_") and k != "learning_rate"
    ]
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3.2), squeeze=False)
    epochs = [r["epoch"] for r in rows]
    for ax, name in zip(axes[0], names, strict=True):
        ax.plot(epochs, [r.get(name, math.nan) for r in rows], label="train")
        if any(f"val_{name}" in r for r in rows):
            ax.plot(epochs, [r.get(f"val_{name}", math.nan) for r in rows], label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
    fig.tight_layout()
    tmp = path.with_name(f".{path.stem}.tmp.png")
    try:
        fig.savefig(tmp, dpi=80)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
