"""Checks of `data:`: the files a spec names exist, the columns it names are in the training
file's header, and the data feeds the model's inputs and outputs as training feeds them (the
binding itself is `facts.input_columns`, which the data loader asks too)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerascli.spec.datafile import Header, data_header
from kerascli.spec.facts import (
    SINGLE,
    format_of,
    input_columns,
    inputs_by_name,
    is_file_ref,
    one_to_one,
    training_file,
    written_targets,
)
from kerascli.spec.models import Columns, DataSpec, InputSpec, Spec
from kerascli.spec.problems import Finding, KeyPath, did_you_mean


def check_files(spec: Spec, training: bool = True) -> Iterator[Finding]:
    """Plugin files, the subclass's file and (for training) data files must exist."""
    for i, plugin in enumerate(spec.plugins):
        if is_file_ref(plugin) and not Path(plugin).is_file():
            yield (("plugins", i), f"plugin file not found: {plugin}", False)
    if spec.model.subclass is not None:
        ref = spec.model.subclass.class_.rsplit(":", 1)[0]
        if is_file_ref(ref) and not Path(ref).is_file():
            yield (("model", "subclass", "class"), f"model file not found: {ref}", False)
    data = spec.data
    if data is None or not training:
        return
    for key in ("path", "train", "validation", "test"):
        value = getattr(data, key)
        if value is not None and not Path(value).is_file():
            what = "not a regular file" if Path(value).exists() else "data file not found"
            yield (("data", key), f"{what}: {value}", False)


def check_columns(spec: Spec, header: Header | None = None) -> Iterator[Finding]:
    """Columns named in `data` must be in the CSV header."""
    data = spec.data
    if data is None:
        return
    header = header or data_header(spec)
    if header is None:
        return
    file, names = header
    for key in ("features", "target", "inputs", "outputs"):
        value = getattr(data, key)
        for path, column in _column_refs(value, ("data", key)):
            if column not in names:
                hint = did_you_mean(column, names)
                yield (path, f"no column '{column}' in {file}{hint}", False)


def _column_refs(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*path, i), item
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _column_refs(item, (*path, key))


# --- `data:` against the model's inputs and outputs (as kerascli/data/splits.py feeds them) ---


def _check_name_map(
    value: dict[str, Any], path: KeyPath, names: list[str], what: str
) -> Iterator[Finding]:
    """Keys of `data.inputs`/`data.outputs` against the model's input/output `names`.

    As train reads them: one entry for a one-input (one-output) model may have any name;
    otherwise the keys must be exactly the names.
    """
    if one_to_one(names, list(value)):
        return
    if names == [SINGLE]:
        yield (
            path,
            f"the model has one {what}: give data.{path[-1]} one entry, got {len(value)}"
            + (f" ({', '.join(value)})" if value else ""),
            True,
        )
        return
    suggested = ""
    for key in value:
        if key not in names:
            hint = did_you_mean(key, names)
            suggested += hint
            yield (
                (*path, key),
                f"'{key}' is not a model {what}{hint}; {what}s: {', '.join(names)}",
                True,
            )
    for name in names:
        if name not in value and f"'{name}'" not in suggested:
            yield (path, f"no entry for the model {what} '{name}'", True)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _check_column_count(
    model_input: InputSpec, name: str, columns: Columns, path: KeyPath, note: str
) -> Iterator[Finding]:
    """Train reshapes a row of N columns into the input shape: N must be the shape's size."""
    shape = model_input.shape
    if None in shape:
        return  # Train does not reshape to a shape with a free dimension.
    count = 1 if isinstance(columns, str) else len(columns)
    need = math.prod(s for s in shape if s is not None)
    if count != need:
        label = f"input '{name}' of shape" if name else "input shape"
        message = f"{_plural(count, 'column')} for {label} {shape} (needs {need}){note}"
        yield (path, message, path == ("data",))


def _implied_note(data: DataSpec, file: str) -> str:
    """What the columns of an input are when the spec names none (for a count's message)."""
    taken = written_targets(data)
    but = f" but {', '.join(taken)}" if taken else ""
    return f"; without data.features the input gets every column of {file}{but}"


def check_data_model(spec: Spec, header: Header | None = None) -> Iterator[Finding]:
    """`data` must feed the model's inputs and outputs as train feeds them.

    `data.inputs`/`data.outputs` name the model's inputs and outputs, a multi-input
    (multi-output) model needs them, and the columns of a CSV fill each input's shape.
    `header` is the CSV's (`data_header`); without it columns are not counted.
    """
    data = spec.data
    if data is None:
        return
    inputs = inputs_by_name(spec)
    names = list(inputs)
    if data.inputs is not None:
        yield from _check_name_map(data.inputs, ("data", "inputs"), names, "input")
    elif len(inputs) > 1:
        where: KeyPath = ("data", "features") if data.features is not None else ("data",)
        message = f"the model has inputs {', '.join(names)}: map each with data.inputs"
        yield (where, message, data.features is None)
    elif data.features is None and _is_array_file(data):
        yield (("data",), "name the features array with data.features", True)
    functional = spec.model.functional
    if functional is not None:
        outputs = functional.output_names
        if data.outputs is not None:
            yield from _check_name_map(data.outputs, ("data", "outputs"), outputs, "output")
        elif data.target is not None and len(outputs) > 1:
            message = f"the model has outputs {', '.join(outputs)}: map each with data.outputs"
            yield (("data", "target"), message, False)
    if header is not None:
        file, columns = header
        for bound in input_columns(spec, columns):
            note = _implied_note(data, file) if bound.implied else ""
            yield from _check_column_count(
                inputs[bound.name], bound.name, bound.columns, bound.path, note
            )


def _is_array_file(data: DataSpec) -> bool:
    source = training_file(data)
    return source is not None and format_of(source, data.format) in ("npz", "npy")
