"""A model's raw output(s) by output key (the one rule the target checks and prediction use),
and the named prediction columns of each output.

What a prediction column means (an output's loss, its kind, whether it gives logits, the names
of classes known by index) is asked of `kerascli.spec.outputs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kerascli.spec.facts import SINGLE, target_columns
from kerascli.spec.models import Spec
from kerascli.spec.outputs import from_logits, index_classes, index_names, loss_kind


def outputs_by_key(raw: Any) -> dict[str, Any]:
    """A model's output(s) (tensors, or what `predict` returns) by output key: a mapping's by
    name, a model's only output (one tensor or array, or a mapping of one) as `SINGLE`, the
    key its targets and classes have."""
    if not isinstance(raw, dict):
        return {SINGLE: raw}
    if len(raw) == 1:
        return {SINGLE: next(iter(raw.values()))}
    return dict(raw)


def prediction_columns(
    spec: Spec, outputs: dict[str, Any], known: dict[str, list[str]]
) -> dict[str, np.ndarray]:
    """The named columns of the model's `outputs` (by output; logits become probabilities in
    place), labelled with the `known` classes training used, else class ids where a
    crossentropy loss says the output is a classifier."""
    columns: dict[str, np.ndarray] = {}
    for name, values in outputs.items():
        prefix = "" if name == SINGLE else f"{name}_"
        label = _label(spec, name)
        values = _probabilities(spec, name, np.asarray(values))
        outputs[name] = values
        classes = known.get(name)
        if values.ndim > 2:  # one prediction per step (or pixel): (rows, steps..., units)
            if classes is None:
                classes = index_classes(spec, name, values.shape[-1])
            columns.update(_step_columns(label, values, classes))
            continue
        if classes is None:
            units = int(np.prod(values.shape[1:])) if values.ndim > 1 else 1
            classes = index_classes(spec, name, units)
        columns.update(_columns(label, prefix, values, classes))
    return columns


def _step_columns(label: str, values: np.ndarray, classes: list[str] | None) -> dict[str, Any]:
    """Columns of an output with one prediction per step: `{label}_{i}` for step i (steps in
    row-major order), the class of each step where the last axis holds one probability per
    class, else each value. (`-o FILE.npy` keeps the whole array, probabilities included.)"""
    if classes and len(classes) > 1 and values.shape[-1] == len(classes):
        labels = np.array(classes)[values.argmax(axis=-1)]
        if classes == index_names(len(classes)):
            labels = labels.astype(np.int64)
        steps = labels.reshape(len(labels), -1)
    else:
        steps = values.reshape(len(values), -1)
    return {f"{label}_{i}": steps[:, i] for i in range(steps.shape[1])}


def _columns(
    label: str, prefix: str, values: np.ndarray, classes: list[str] | None
) -> dict[str, np.ndarray]:
    """Named prediction columns: the class label and one probability per class, or one per unit."""
    values = values.reshape(len(values), -1)
    if classes and values.shape[1] == len(classes) and len(classes) > 1:
        out = {label: np.array(classes)[values.argmax(axis=1)]}
        if classes == index_names(len(classes)):  # integer labels stay integers
            out[label] = out[label].astype(np.int64)
        out.update({f"{prefix}p_{c}": values[:, i] for i, c in enumerate(classes)})
        return out
    if classes and len(classes) == 2 and values.shape[1] == 1:
        label_values = np.array(classes)[(values[:, 0] >= 0.5).astype(int)]
        if classes == index_names(2):
            label_values = label_values.astype(np.int64)
        return {label: label_values, f"{prefix}p_{classes[1]}": values[:, 0]}
    if values.shape[1] == 1:
        return {label: values[:, 0]}
    return {f"{label}_{i}": values[:, i] for i in range(values.shape[1])}


def _probabilities(spec: Spec, output: str, values: np.ndarray) -> np.ndarray:
    """Logits of an output trained with `from_logits: true` as probabilities (softmax for a
    categorical loss, sigmoid per unit for a binary one); other outputs as they are."""
    if not from_logits(spec, output):
        return values
    values = values.astype(np.float64)
    if loss_kind(spec, output) != "binary" and values.ndim > 1 and values.shape[-1] > 1:
        shifted = np.exp(values - values.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-values))


def _label(spec: Spec, output: str) -> str:
    """The name of `output`'s prediction column: its name, or the only output's target column
    (`data.target`, or the one entry of `data.outputs`), else `prediction`."""
    if output != SINGLE:
        return output
    target = target_columns(spec).get(SINGLE) if spec.data is not None else None
    return target if isinstance(target, str) else "prediction"
