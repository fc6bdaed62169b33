"""Reuse a run: load its model and spec, evaluate on a split or file, predict on new data."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerascli.build.builder import Builder
from kerascli.build.plugins import load_object
from kerascli.data import load_data, read_split
from kerascli.data.loader import SINGLE, Split
from kerascli.data.pipeline import make_dataset
from kerascli.run.rundir import atomic_write
from kerascli.spec import load_spec
from kerascli.spec.models import Spec
from kerascli.spec.problems import KerasCliError, Problem, SpecError


@dataclass
class LoadedRun:
    """A trained model with the spec and class names it was trained with."""

    model: Any
    spec: Spec
    classes: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None


def load_run(target: str | Path, spec_path: str | Path | None = None) -> LoadedRun:
    """Load `RUN_DIR` or `MODEL.keras` (with `spec_path`, or the `spec.yaml` beside it).

    The model is loaded with Keras `safe_mode=True`; plugin code runs only when the
    spec names plugins.
    """
    target = Path(target)
    if target.is_dir():
        model_path, run_dir = target / "model.keras", target
    else:
        model_path, run_dir = target, target.parent
    if not model_path.is_file():
        raise KerasCliError(f"no model at {model_path} (is the run finished? see its run.json)")
    spec_file = Path(spec_path) if spec_path else run_dir / "spec.yaml"
    if not spec_file.is_file():
        raise SpecError(
            [
                Problem(
                    f"no spec for {model_path}: pass --spec SPEC (its data section says which "
                    "columns or arrays are the inputs and targets)",
                    "",
                    "--spec",
                )
            ]
        )
    spec = load_spec(spec_file)
    builder = Builder(spec)
    custom = builder.registry.custom_objects()
    if spec.model.subclass is not None:
        cls = load_object(spec.model.subclass.class_)
        custom[cls.__name__] = cls
    try:
        model = builder.keras.saving.load_model(model_path, custom_objects=custom, safe_mode=True)
    except (ValueError, TypeError, OSError) as exc:
        raise KerasCliError(f"cannot load {model_path}: {str(exc).splitlines()[0]}") from exc
    classes: dict[str, list[str]] = {}
    record = run_dir / "run.json"
    if record.is_file():
        saved = json.loads(record.read_text(encoding="utf-8")).get("classes", {})
        classes = {(SINGLE if k == "target" else k): v for k, v in saved.items()}
    return LoadedRun(model, spec, classes, run_dir if target.is_dir() else None)


def evaluate(
    run: LoadedRun, split: str = "test", data_file: str | Path | None = None
) -> dict[str, float]:
    """Metrics of the model on a split of the spec's data, or on a whole data file."""
    if data_file is not None:
        values = read_split(run.spec, str(Path(data_file).resolve()), dict(run.classes))
    else:
        splits = load_data(run.spec).splits
        if split not in splits:
            message = f"the spec's data has no '{split}' split (it has: {', '.join(splits)})"
            raise SpecError([Problem(message, "", "--split")])
        values = splits[split]
    dataset = make_dataset(values, run.spec.data, run.spec.fit.batch_size, None, training=False)
    result = run.model.evaluate(dataset, verbose=0, return_dict=True)
    return {k: float(v) for k, v in result.items()}


def _columns(
    label: str, prefix: str, values: np.ndarray, classes: list[str] | None
) -> dict[str, np.ndarray]:
    """Named prediction columns: the class label and one probability per class, or one per unit."""
    values = values.reshape(len(values), -1)
    if classes and values.shape[1] == len(classes) and len(classes) > 1:
        out = {label: np.array(classes)[values.argmax(axis=1)]}
        if classes == [str(i) for i in range(len(classes))]:  # integer labels stay integers
            out[label] = out[label].astype(np.int64)
        out.update({f"{prefix}p_{c}": values[:, i] for i, c in enumerate(classes)})
        return out
    if classes and len(classes) == 2 and values.shape[1] == 1:
        label_values = np.array(classes)[(values[:, 0] >= 0.5).astype(int)]
        if classes == ["0", "1"]:
            label_values = label_values.astype(np.int64)
        return {label: label_values, f"{prefix}p_{classes[1]}": values[:, 0]}
    if values.shape[1] == 1:
        return {label: values[:, 0]}
    return {f"{label}_{i}": values[:, i] for i in range(values.shape[1])}


def _loss_call(spec: Spec, output: str) -> tuple[str, dict[str, Any]]:
    """The loss an output trains with, as (name, arguments); `("", {})` when there is none."""
    loss: Any = spec.compile.loss
    functional = spec.model.functional
    names = functional.output_names if functional is not None else []
    if isinstance(loss, dict) and output in loss:
        loss = loss[output]
    elif isinstance(loss, dict) and len(loss) == 1 and next(iter(loss)) in names:
        loss = next(iter(loss.values()))  # `{out: loss}` for a one-output model
    if isinstance(loss, dict) and len(loss) == 1:
        ((name, args),) = loss.items()
        return str(name), dict(args) if isinstance(args, dict) else {}
    return (loss, {}) if isinstance(loss, str) else ("", {})


def loss_name(spec: Spec, output: str) -> str:
    """The name of the loss an output trains with (`''` when the spec has none)."""
    return _loss_call(spec, output)[0]


def loss_kind(spec: Spec, output: str) -> str:
    """`sparse`, `categorical` or `binary` for an output trained with that kind of crossentropy
    (their targets and predictions differ), else `''`."""
    name = loss_name(spec, output).lower().replace("_", "")
    if "crossentropy" not in name:
        return ""
    if "sparsecategorical" in name:
        return "sparse"
    if "categorical" in name:
        return "categorical"
    return "binary" if "binary" in name else ""


def _probabilities(spec: Spec, output: str, values: np.ndarray) -> np.ndarray:
    """Logits of an output trained with `from_logits: true` as probabilities (softmax for a
    categorical loss, sigmoid per unit for a binary one); other outputs as they are."""
    kind = loss_kind(spec, output)
    if not kind or not _loss_call(spec, output)[1].get("from_logits"):
        return values
    values = values.astype(np.float64)
    if kind != "binary" and values.ndim > 1 and values.shape[-1] > 1:
        shifted = np.exp(values - values.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-values))


def _index_classes(spec: Spec, output: str, units: int) -> list[str] | None:
    """Class names `0..n-1` for a classifier trained on integer labels (a crossentropy loss)."""
    kind = loss_kind(spec, output)
    if units > 1 and kind in ("sparse", "categorical"):
        return [str(i) for i in range(units)]
    if units == 1 and kind == "binary":
        return ["0", "1"]
    return None


def _label(spec: Spec, output: str) -> str:
    if output != SINGLE:
        return output
    target = spec.data.target if spec.data is not None else None
    return target if isinstance(target, str) else "prediction"


def predict(
    run: LoadedRun,
    input_file: str | Path,
    output: str | Path | None = None,
    batch_size: int | None = None,
) -> dict[str, Any]:
    """Predict on a CSV/NPZ/NPY file (target columns optional); write CSV or NPY."""
    split: Split = read_split(
        run.spec, str(Path(input_file).resolve()), dict(run.classes), require_target=False
    )
    dataset = make_dataset(
        Split(split.x, None, split.rows),
        run.spec.data,
        batch_size or run.spec.fit.batch_size,
        None,
        training=False,
    )
    raw = run.model.predict(dataset, verbose=0)
    outputs = dict(raw) if isinstance(raw, dict) else {SINGLE: raw}
    columns: dict[str, np.ndarray] = {}
    for name, values in outputs.items():
        prefix = "" if len(outputs) == 1 else f"{name}_"
        label = _label(run.spec, name)
        values = _probabilities(run.spec, name, np.asarray(values))
        outputs[name] = values
        classes = run.classes.get(name)
        if classes is None:
            units = int(np.prod(values.shape[1:])) if values.ndim > 1 else 1
            classes = _index_classes(run.spec, name, units)
        columns.update(_columns(label, prefix, values, classes))
    result = {"rows": split.rows, "columns": list(columns)}
    if output is not None:
        output = Path(output)
        if output.suffix == ".npy":
            arrays = [np.asarray(v).reshape(split.rows, -1) for v in outputs.values()]
            buffer = io.BytesIO()
            np.save(buffer, np.concatenate(arrays, axis=1), allow_pickle=False)
            atomic_write(output, buffer.getvalue())
        else:
            atomic_write(output, _csv(columns, split.rows))
        result["output"] = str(output)
    result["predictions"] = columns
    return result


def _csv(columns: dict[str, np.ndarray], rows: int) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for i in range(rows):
        writer.writerow(
            [
                f"{v[i]:.6g}" if isinstance(v[i], (float, np.floating)) else v[i]
                for v in columns.values()
            ]
        )
    return buffer.getvalue()
