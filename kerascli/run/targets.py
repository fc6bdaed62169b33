"""Targets checked against their loss and output before anything trains, and
`fit.class_weight` as Keras takes it."""

from __future__ import annotations

from typing import Any

import numpy as np

from kerascli.data import Data
from kerascli.data.model_arrays import Split
from kerascli.data.pipeline import sample_rows
from kerascli.data.stream import Stream
from kerascli.model.builder import Builder
from kerascli.run.output_keys import outputs_by_key
from kerascli.spec.facts import SINGLE, output_names, target_keys
from kerascli.spec.models import Spec
from kerascli.spec.outputs import loss_kind, loss_name, losses_by_output
from kerascli.spec.problems import KerasCliError

CLASS_KINDS = ("sparse", "categorical")
"""The crossentropy kinds whose targets are classes (ids, or one-hot rows)."""


def class_weight(spec: Spec, data: Data) -> dict[int, float] | None:
    """`fit.class_weight` as Keras takes it, by class index (`balanced`: inverse frequency)."""
    weights = spec.fit.class_weight
    if weights is None:
        return None
    if weights == "balanced":
        ids, counts = _class_counts(data.splits["train"])
        total = counts.sum()
        return {int(i): float(total / (len(ids) * c)) for i, c in zip(ids, counts, strict=True)}
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


def _class_counts(train: Split | Stream) -> tuple[np.ndarray, np.ndarray]:
    """The class ids of a one-output model's training targets, and the rows of each."""
    if isinstance(train, Stream):
        counts = train.label_counts or {}
        if len(counts) != 1:
            raise KerasCliError(
                "fit.class_weight: balanced needs the class counts, which this stream does not "
                "know (float targets, or several outputs): give a weight per class"
            )
        per_class = next(iter(counts.values()))
        ids = np.flatnonzero(per_class)
        return ids, per_class[ids]
    if isinstance(train.y, dict):
        raise KerasCliError("fit.class_weight applies to one-output models only")
    assert train.y is not None
    return np.unique(train.y, return_counts=True)


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
    sample = sample_rows(data.splits["train"], 1, None)
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
    if not _has_class_kind(spec):  # nothing to check: the model need not run
        return
    raw = _output_tensors(model, data)
    if raw is None:
        return
    for name, tensor in outputs_by_key(raw).items():
        kind = loss_kind(spec, name)
        if kind in CLASS_KINDS:
            _check_output(builder, name, kind, tensor.shape[-1], _targets(data, name))


def _has_class_kind(spec: Spec) -> bool:
    """Whether an output trains with a categorical crossentropy: of the outputs the spec
    names, or (a subclass) those of its targets (`facts.target_keys`)."""
    names = output_names(spec) or target_keys(spec)
    return any(loss_kind(spec, name) in CLASS_KINDS for name in names)


def _targets(data: Data, output: str) -> list[np.ndarray]:
    """The targets of `output` in each split that has some."""
    ids: list[Any] = []
    for split in data.splits.values():
        if isinstance(split, Stream):  # the class ids its class pass or listing found
            counts = (split.label_counts or {}).get(output)
            ids.append(np.flatnonzero(counts) if counts is not None else None)
        else:
            y = split.y
            ids.append(y if output == SINGLE or not isinstance(y, dict) else y.get(output))
    return [np.asarray(i) for i in ids if i is not None and np.size(i)]


def _check_ids(builder: Builder, name: str, arrays: list[np.ndarray]) -> None:
    """Class ids are whole numbers from 0: Keras's sparse crossentropy would silently cut `1.5`
    to 1 (and `-1` fails mid-fit, or gives NaN on a GPU)."""
    spec = builder.spec
    per_output = losses_by_output(spec) or {}
    loss_path = per_output[name][0] if name in per_output else ("compile", "loss")
    for values in arrays:
        cut = values[values != np.trunc(values)] if values.dtype.kind == "f" else values[:0]
        if len(cut):
            raise builder.error(
                loss_path,
                f"{loss_name(spec, name)} takes class ids, whole numbers; the target holds "
                f"{cut[0]:g}: for a regression target use a regression loss (mse...)",
            )
        if values.min() < 0:
            raise builder.error(
                loss_path,
                f"the target holds class id {values.min():g}: class ids count from 0",
            )


def _check_output(
    builder: Builder, name: str, kind: str, units: int | None, arrays: list[np.ndarray]
) -> None:
    """Numeric targets `arrays` of output `name` (`units` wide) against its loss `kind`."""
    spec = builder.spec
    if not arrays or units is None or not np.issubdtype(arrays[0].dtype, np.number):
        return
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
        return
    _check_ids(builder, name, arrays)
    top = int(max(i.max() for i in arrays))
    if top >= units:
        label = f"output '{name}'" if name != SINGLE else "the output layer"
        raise builder.error(
            _output_path(spec, name),
            f"the target has {top + 1} classes (ids 0 to {top}) but {label} gives "
            f"{units} unit{'s' if units != 1 else ''}; give it {top + 1} units",
        )
