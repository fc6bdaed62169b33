"""Read one data file into model-ready arrays (`read_split`): inputs shaped and typed as the
model takes them, targets encoded, by the binding `kerascli.spec.facts` gives.

Long because every reader of a table (a whole file, a chunk of a stream, image paths in a
column) turns it into model arrays here (`split_of_table`): the shape, dtype, class and weight
rules are written once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerascli.data.arrays import rows_differ
from kerascli.data.read import (
    STRING,
    cast,
    class_names,
    labels,
    missing_applied,
    no_class_names,
    numeric,
    read_table,
    text,
)
from kerascli.data.table import Table
from kerascli.spec.datafile import data_header
from kerascli.spec.facts import (
    SINGLE,
    binding_problems,
    fed_one_array,
    has_columns,
    implied_feature_columns,
    implied_input,
    input_columns,
    inputs_by_array_key,
    source_format,
    target_columns,
    training_file,
)
from kerascli.spec.models import DataSpec, InputSpec, Spec
from kerascli.spec.problems import DataError, KeyPath, SpecError

Arrays = np.ndarray | dict[str, np.ndarray]


@dataclass
class Split:
    """Model-ready arrays of one split: `x` and `y` are arrays, or dicts by input/output name."""

    x: Arrays
    y: Arrays | None
    rows: int
    w: np.ndarray | None = None  # per-row sample weights (`data.sample_weight`)


def located(spec: Spec, path: KeyPath, message: str, at_key: bool = False) -> SpecError:
    """A problem with the spec's `data:`, located in its document where it has one."""
    if spec.document is not None:
        return SpecError([spec.document.problem(path, message, at_key=at_key)])
    return SpecError([DataError(message).problems[0]])


def check_binding(spec: Spec, data: DataSpec, fmt: str, targets: bool) -> None:
    """Raise the first thing wrong with how `data` feeds the model (`facts.binding_problems`),
    located as `kerascli validate` reports it."""
    for path, message, at_key in binding_problems(spec, data, fmt, targets):
        raise located(spec, path, message, at_key)


def _input_columns(spec: Spec, data: DataSpec, fmt: str) -> dict[str, Any]:
    """The columns (or array key) of each input, by its key in `x` (`facts.input_columns`), for
    a file of format `fmt`."""
    header = _training_columns(spec) if implied_input(spec, data, fmt) else None
    return {b.key: b.columns for b in input_columns(spec, header)}


def implied_features(spec: Spec) -> list[str] | None:
    """The input columns a spec implies without naming them (`facts.implied_input`, for the
    training file), as `feature_columns` resolves them; else `None`."""
    data = spec.data
    source = training_file(data) if data is not None else None
    if data is None or source is None:
        return None
    if not implied_input(spec, data, source_format(data, source)):
        return None
    return feature_columns(spec)


def feature_columns(spec: Spec) -> list[str]:
    """The input columns of a one-input model fed from CSV/TSV: `data.features`, or, when the
    spec leaves it out, every column of the *training* file's header but the targets, in that
    header's order.

    Every file is then read by these names, whatever its column order: a file to predict on
    with the same columns in another order (or with extra columns) gives the same inputs. A run
    writes the list into its `spec.yaml`, so it still holds when the training file is gone.
    """
    data = spec.data
    assert data is not None
    if data.features is not None:
        return [data.features] if isinstance(data.features, str) else list(data.features)
    return implied_feature_columns(data, _training_columns(spec))


def _training_columns(spec: Spec) -> list[str]:
    """The column names of the training file's header, which the input columns a spec implies
    are taken from."""
    header = data_header(spec)
    if header is None:
        raise located(
            spec,
            ("data",),
            "without data.features the input columns are every column of the training file "
            "but the targets, and that file is not there to say which: list the input columns "
            "in data.features",
        )
    return header[1]


def _shape_input(
    values: np.ndarray, spec: InputSpec, name: str, source: Any, table: Table
) -> np.ndarray:
    path = table.path
    shape = tuple(spec.shape)
    rows = values.shape[0]
    label = f"input '{name}'" if name != SINGLE else "the model input"
    named = source if isinstance(source, str) else ", ".join(source)
    got = values.shape[1:] if values.ndim > 1 else (1,) if isinstance(source, list) else ()
    if values.ndim == 1 and isinstance(source, list):
        values = values.reshape(rows, 1)
    fits = len(got) == len(shape) and all(
        s is None or s == g for s, g in zip(shape, got, strict=True)
    )
    if not fits:
        if None not in shape and math.prod(s or 1 for s in shape) == math.prod(got or (1,)):
            values = values.reshape((rows, *shape))
        else:
            if isinstance(source, list) and got == (len(source),):  # CSV columns
                what = f"{len(source)} column{'s' if len(source) != 1 else ''} ({named})"
            else:  # an array: what its rows hold, whatever the spec's names
                given = math.prod(got)
                where = named if isinstance(source, str) else "the array"
                values_per_row = f"{given} value{'s' if given != 1 else ''} per row"
                what = f"{values_per_row} (shape {list(got)}, {where})"
            need = math.prod(s or 1 for s in shape)
            raise DataError(
                f"{label} expects shape {list(shape)} ({need} values per row); the data gives {what}",
                path,
            )
    if spec.dtype == STRING:
        return values  # already a numpy str array (`text`); tf.data makes it tf.string
    try:
        return cast(table, source, values, spec.dtype)  # `1e39` is out of float32's range
    except (ValueError, TypeError) as exc:  # e.g. an NPZ str array for a float32 input
        raise DataError(
            f"{label} has dtype {spec.dtype}; the data ({named}) does not convert: {exc} "
            "(for a text input, set the input's dtype: string)",
            path,
        ) from None


def _input_values(table: Table, columns: Any, spec: InputSpec) -> np.ndarray:
    """An input's values: text for a `string` input, numbers otherwise."""
    return text(table, columns) if spec.dtype == STRING else numeric(table, columns)


def encode_targets(
    table: Table, targets: dict[str, Any], classes: dict[str, list[str]], fixed: bool = False
) -> dict[str, np.ndarray]:
    """Targets by output: class ids of a column of class names, numbers as they are.

    Training (`fixed` false) takes an output's classes from `classes`, or from the column (its
    sorted names, added to `classes`). With `fixed`, `classes` are those the model was trained
    with: a recorded output's column must hold those names, and an output without classes was
    trained on numbers, so a column of text labels is refused rather than encoded anew.
    """
    out: dict[str, np.ndarray] = {}
    for name, columns in targets.items():
        column = isinstance(columns, str) and has_columns(table.kind)
        if fixed and name in classes:
            if not column:
                output = f"output '{name}'" if name != SINGLE else "the model"
                raise DataError(
                    f"{output} was trained on class names ({', '.join(classes[name])}): "
                    f"give its target as a CSV/TSV column of those names",
                    table.path,
                )
            out[name] = labels(table, columns, classes[name], fixed=True)
            continue
        found = class_names(table, columns) if column else None
        if found is not None:
            if fixed:
                raise no_class_names(table, columns)
            classes.setdefault(name, found)
            out[name] = labels(table, columns, classes[name])
            continue
        values = numeric(table, columns)
        if values.dtype.kind not in "biuf":  # e.g. an NPZ array of class names
            raise DataError(
                f"the target array '{columns}' holds {values.dtype} values; a target array "
                "holds numbers (class ids; class names come from a CSV/TSV column)",
                table.path,
            )
        if (
            values.ndim == 1
            and values.dtype.kind == "f"
            and np.all(np.mod(values, 1) == 0)
            and np.all(np.abs(values) <= 2**53)  # beyond, a float is no exact integer
        ):
            values = values.astype(np.int64)  # integer labels written in a CSV
        out[name] = cast(table, columns, values, np.float32) if values.dtype.kind == "f" else values
    return out


def read_split(
    spec: Spec,
    path: str,
    classes: dict[str, list[str]],
    require_target: bool = True,
    fixed_classes: bool = False,
) -> Split:
    """Read one data file into model-ready arrays; without `require_target` (prediction) the
    targets are not read, even where the file has them (a label the model never saw, a missing
    one, must not stop a prediction).

    Args:
        classes: Class names by output; training adds those it finds.
        fixed_classes: `classes` are those the model was trained with (evaluate, and the
            validation and test files of training): a target is encoded with them, never
            with classes of its own (see `encode_targets`). Defaults to `False`.
    """
    data = spec.data or DataSpec(path=path)
    table = read_table(path, data.format)
    table = missing_applied(table, data.missing, used_columns(spec, require_target))
    return split_of_table(spec, table, classes, require_target, fixed_classes)


def split_of_table(
    spec: Spec,
    table: Table,
    classes: dict[str, list[str]],
    require_target: bool = True,
    fixed_classes: bool = False,
) -> Split:
    """The model-ready arrays of a `Table` (a whole file, or a chunk of a streamed one), as
    `read_split` reads them."""
    data = spec.data or DataSpec(path=table.path)
    check_binding(spec, data, table.kind, targets=require_target)
    inputs = inputs_by_array_key(spec)
    sources = _input_columns(spec, data, table.kind)
    x = {
        name: _shape_input(
            _input_values(table, columns, inputs[name]), inputs[name], name, columns, table
        )
        for name, columns in sources.items()
    }
    targets = target_columns(spec) if require_target else {}
    y: dict[str, np.ndarray] | None = None
    if targets:
        if table.kind == "npy":
            raise DataError(
                "an NPY file holds one array, the model's input; this needs the targets too: "
                "use a CSV/TSV file or an NPZ file with the target arrays",
                table.path,
            )
        # a missing column is a located error
        y = encode_targets(table, targets, classes, fixed_classes)
    elif require_target:
        raise located(spec, ("data",), "name the target with data.target (or data.outputs)")
    counts = {_named(sources[name]): len(values) for name, values in x.items()}
    counts.update({_named(targets[name]): len(values) for name, values in (y or {}).items()})
    weights = None
    if require_target and data.sample_weight is not None:
        weights = _sample_weights(table, data.sample_weight)
        counts[data.sample_weight] = len(weights)
    if len(set(counts.values())) > 1:  # NPZ arrays: CSV columns have a row each
        raise DataError(rows_differ(counts), table.path)
    rows = next(iter(counts.values()), table.rows)
    return Split(_unwrap(x), _unwrap(y) if y is not None else None, rows, weights)


def _sample_weights(table: Table, name: str) -> np.ndarray:
    """The per-row weights in column (or array) `name`: finite numbers, none negative."""
    values = cast(table, name, numeric(table, name), np.float32)
    if values.ndim != 1:
        raise DataError(f"sample_weight '{name}' must be one number per row", table.path)
    negative = np.flatnonzero(values < 0)
    if len(negative):
        row = int(negative[0])
        raise DataError(
            f"negative sample weight {values[row]} in '{name}' (weights are >= 0)",
            table.path,
            table.line(row),
        )
    return values


def _named(columns: Any) -> str:
    return columns if isinstance(columns, str) else ", ".join(columns)


def _unwrap(arrays: dict[str, np.ndarray]) -> Arrays:
    return arrays[SINGLE] if fed_one_array(list(arrays)) else arrays


def used_columns(spec: Spec, require_target: bool) -> list[str]:
    """The columns the model reads: its inputs', and, with `require_target`, the targets and
    sample weights (those `data.missing` applies to)."""
    data = spec.data
    assert data is not None
    used = column_names_of([b.columns for b in input_columns(spec, implied_features(spec))])
    if require_target:
        used += column_names_of(list(target_columns(spec).values()))
        used += [data.sample_weight] if data.sample_weight is not None else []
    return list(dict.fromkeys(used))


def column_names_of(columns: list[Any]) -> list[str]:
    """The column names of bindings (each a name or a list of names), flat."""
    return [c for entry in columns for c in ([entry] if isinstance(entry, str) else entry)]
