"""Reuse a run: evaluate its model on a split or file, predict on new data.

What a prediction column means (an output's loss, its kind, whether it gives logits, the names
of classes known by index) is asked of `kerascli.spec.outputs`; loading a run is
`kerascli.run.saved_run`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kerascli.data import load_data, read_split
from kerascli.data.model_arrays import Split, trained_classes
from kerascli.data.pipeline import make_dataset
from kerascli.data.read import read_table
from kerascli.run.output_keys import outputs_by_key
from kerascli.run.prediction_files import check_output, write_output
from kerascli.run.saved_run import LoadedRun
from kerascli.spec.facts import SINGLE, target_columns
from kerascli.spec.models import Spec
from kerascli.spec.outputs import from_logits, index_classes, index_names, loss_kind
from kerascli.spec.problems import Problem, SpecError, did_you_mean


def _trained_classes(run: LoadedRun) -> dict[str, list[str]]:
    """The class names the model was trained with: its run's record, or (a bare model file)
    those of the spec's training file, which `trained_classes` refuses to guess without."""
    return dict(run.classes) if run.classes is not None else trained_classes(run.spec)


def evaluate(
    run: LoadedRun, split: str = "test", data_file: str | Path | None = None
) -> dict[str, float]:
    """Metrics of the model on a split of the spec's data, or on a whole data file.

    A file's targets are encoded with the classes the model was trained with: those its
    `run.json` records or, for a bare model file, those of the spec's training file.
    """
    if data_file is not None:
        classes = _trained_classes(run)
        file = str(Path(data_file).resolve())
        values = read_split(run.spec, file, classes, fixed_classes=True)
    else:
        splits = load_data(run.spec).splits
        if split not in splits:
            message = f"the spec's data has no '{split}' split (it has: {', '.join(splits)})"
            raise SpecError([Problem(message, "", "--split")])
        values = splits[split]
    where = str(data_file) if data_file is not None else "--split"
    if values.rows == 0:
        raise SpecError([Problem("no rows to evaluate on", "", where)])
    dataset = make_dataset(values, run.spec.data, run.spec.fit.batch_size, None, training=False)
    result = run.model.evaluate(dataset, verbose=0, return_dict=True)
    if not result:  # nothing measured is not a pass
        message = "the model gives no metrics to evaluate (compile it with a loss and metrics)"
        raise SpecError([Problem(message, "", where)])
    return {k: float(v) for k, v in result.items()}


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


def predict(
    run: LoadedRun,
    input_file: str | Path,
    output: str | Path | None = None,
    batch_size: int | None = None,
    keep: Sequence[str] = (),
    force: bool = False,
) -> dict[str, Any]:
    """Predict on a CSV/TSV/NPZ/NPY file (input columns by name, targets optional).

    Args:
        keep: Columns (or 1-D arrays) of the input file to pass through, first, into the
            predictions. Defaults to none.
        output: A file to write, in the format its extension names (`prediction_files.FORMATS`).
        force: Overwrite `output` if it exists. Defaults to `False`.
    """
    keep = list(keep)
    if output is not None:
        check_output(Path(output), force, keep)
    path = str(Path(input_file).resolve())
    split: Split = read_split(run.spec, path, {}, require_target=False)
    dataset = make_dataset(
        Split(split.x, None, split.rows),
        run.spec.data,
        batch_size or run.spec.fit.batch_size,
        None,
        training=False,
    )
    try:  # the label columns name the classes as training did, where that can be told
        known = _trained_classes(run)
    except SpecError:  # a bare model whose training file is gone: class ids, as numbers
        known = {}
    raw = run.model.predict(dataset, verbose=0)
    outputs = outputs_by_key(raw)
    columns = _prediction_columns(run.spec, outputs, known)
    if keep:
        columns = {**_kept_columns(run.spec, path, keep, columns), **columns}
    result = {"rows": split.rows, "columns": list(columns)}
    if output is not None:
        write_output(Path(output), columns, list(outputs.values()), split.rows)
        result["output"] = str(output)
    result["predictions"] = columns
    return result


def _prediction_columns(
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


def _kept_columns(
    spec: Spec, path: str, names: list[str], predicted: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The input file's columns `names`, as written (CSV text) or as stored (1-D arrays)."""
    table = read_table(path, spec.data.format if spec.data is not None else None)
    csv = table.csv  # CSV text is read back for the kept columns only
    pool: list[str] = csv.names if csv is not None else list(table.columns)
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name in predicted:
            raise SpecError(
                [
                    Problem(
                        f"'{name}' is also a prediction column; keep another column", "", "--keep"
                    )
                ]
            )
        if name not in pool:
            hint = did_you_mean(name, pool)
            message = f"no column '{name}' in {Path(path).name}{hint}"
            raise SpecError([Problem(message, "", "--keep")])
        values = np.asarray(csv.cells(name) if csv is not None else table.columns[name])
        if values.ndim != 1:
            raise SpecError([Problem(f"array '{name}' is not one value per row", "", "--keep")])
        out[name] = values
    return out
