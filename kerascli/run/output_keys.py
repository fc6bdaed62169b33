"""A model's raw output(s) by output key (the one rule the target checks and prediction use),
the named prediction columns of each output, and the one rule for a classifier's classes:
the class its probabilities predict (`predicted_classes`) and the class its targets hold
(`target_classes`), which `predict`, the evaluation report and the export's parity check ask.

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
    spec: Spec, outputs: dict[str, np.ndarray], known: dict[str, list[str]]
) -> dict[str, np.ndarray]:
    """The named columns of the model's `outputs` (by output, as probabilities: `probabilities`),
    labelled with the `known` classes training used, else class ids where a crossentropy loss
    says the output is a classifier."""
    columns: dict[str, np.ndarray] = {}
    for name, values in outputs.items():
        prefix = "" if name == SINGLE else f"{name}_"
        label, kind = output_name(spec, name), loss_kind(spec, name)
        classes = known.get(name)
        if values.ndim > 2:  # one prediction per step (or pixel): (rows, steps..., units)
            if classes is None:
                classes = index_classes(spec, name, values.shape[-1])
            columns.update(_step_columns(label, kind, values, classes))
            continue
        if classes is None:
            units = int(np.prod(values.shape[1:])) if values.ndim > 1 else 1
            classes = index_classes(spec, name, units)
        columns.update(_columns(label, prefix, kind, values, classes))
    return columns


def _step_columns(
    label: str, kind: str, values: np.ndarray, classes: list[str] | None
) -> dict[str, Any]:
    """Columns of an output with one prediction per step: `{label}_{i}` for step i (steps in
    row-major order), the class of each step where the last axis holds one probability per
    class, else each value. (`-o FILE.npy` keeps the whole array, probabilities included.)"""
    if classes and len(classes) > 1 and values.shape[-1] == len(classes):
        labels = np.array(classes)[predicted_classes(kind, values)]
        if classes == index_names(len(classes)):
            labels = labels.astype(np.int64)
        steps = labels.reshape(len(labels), -1)
    else:
        steps = values.reshape(len(values), -1)
    return {f"{label}_{i}": steps[:, i] for i in range(steps.shape[1])}


def _columns(
    label: str, prefix: str, kind: str, values: np.ndarray, classes: list[str] | None
) -> dict[str, np.ndarray]:
    """Named prediction columns: the class label and one probability per class, or one per unit."""
    values = values.reshape(len(values), -1)
    if classes and values.shape[1] == len(classes) and len(classes) > 1:
        out = {label: np.array(classes)[predicted_classes(kind, values)]}
        if classes == index_names(len(classes)):  # integer labels stay integers
            out[label] = out[label].astype(np.int64)
        out.update({f"{prefix}p_{c}": values[:, i] for i, c in enumerate(classes)})
        return out
    if classes and len(classes) == 2 and values.shape[1] == 1:
        label_values = np.array(classes)[predicted_classes(kind, values)]
        if classes == index_names(2):
            label_values = label_values.astype(np.int64)
        return {label: label_values, f"{prefix}p_{classes[1]}": values[:, 0]}
    if values.shape[1] == 1:
        return {label: values[:, 0]}
    return {f"{label}_{i}": values[:, i] for i in range(values.shape[1])}


def probabilities(spec: Spec, output: str, values: Any) -> np.ndarray:
    """An output's predictions as probabilities: the logits of an output trained with
    `from_logits: true` through a softmax (a categorical loss) or a sigmoid per unit (a binary
    one); other outputs as they are."""
    values = np.asarray(values)
    if not from_logits(spec, output):
        return values
    values = values.astype(np.float64)
    if loss_kind(spec, output) != "binary" and values.ndim > 1 and values.shape[-1] > 1:
        shifted = np.exp(values - values.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-values))


def predicted_classes(kind: str, values: Any, logits: bool = False) -> np.ndarray:
    """The class ids a classifier output predicts, one per row (or per step), the one rule of
    `predict`'s labels, the report and the export's parity check: the unit with the highest
    probability; for one sigmoid unit, class 1 where its probability is `>= 0.5` (Keras's
    `accuracy` counts `> 0.5`: they differ only at exactly 0.5); for a binary crossentropy
    over several units (multi-label), each unit so.

    Args:
        kind: The output's `loss_kind`.
        values: Its probabilities, `(rows, [steps...,] units)`.
        logits: `values` are the logits the probabilities come from (a logit `>= 0` is a
            probability `>= 0.5`). Defaults to `False`.
    """
    values = np.asarray(values)
    threshold = 0.0 if logits else 0.5
    if values.ndim < 2 or (kind == "binary" and values.shape[-1] > 1):
        return (values >= threshold).astype(np.int64)
    if values.shape[-1] == 1:
        return (values[..., 0] >= threshold).astype(np.int64)
    return values.argmax(axis=-1)


def target_classes(kind: str, target: Any, shape: tuple[int, ...], units: int) -> np.ndarray:
    """The class ids a classifier output's targets hold, in `shape` (that of its
    `predicted_classes`), as its loss `kind` says they hold them: `categorical`, one-hot rows
    of `units`; `sparse`, class ids `0..units-1`; `binary`, 0 or 1 (per unit).

    Raises:
        ValueError: targets that do not fit `shape`, or that are not classes (soft labels),
            saying which.
    """
    values = np.asarray(target)
    count = int(np.prod(shape))
    if kind == "categorical":
        if values.size != count * units:
            raise ValueError(f"{values.size} target values for {count} one-hot rows")
        onehot = values.reshape(count, units)
        if not (np.isin(onehot, (0, 1)).all() and (onehot.sum(axis=1) == 1).all()):
            raise ValueError("its targets are not one-hot rows (soft labels?)")
        return onehot.argmax(axis=1).reshape(shape)
    if values.size != count:
        raise ValueError(f"{values.size} target values for {count} predicted rows")
    top = 2 if kind == "binary" else max(units, 2)
    ids = values.reshape(shape)
    if not ((ids == np.trunc(ids)) & (ids >= 0) & (ids < top)).all():
        raise ValueError(f"its targets are not class ids 0..{top - 1} (soft labels?)")
    return ids.astype(np.int64)


def output_name(spec: Spec, output: str) -> str:
    """An output's name in predictions and reports: its own, or the only output's target
    column (`data.target`, or the one entry of `data.outputs`), else `prediction`."""
    if output != SINGLE:
        return output
    target = target_columns(spec).get(SINGLE) if spec.data is not None else None
    return target if isinstance(target, str) else "prediction"
