"""Checks of `data:`: the files a spec names exist, the columns it names are in the training
file's header, and the data feeds the model's inputs and outputs as training feeds them (the
binding and what is wrong with it are `facts.input_columns` and `facts.binding_problems`,
which the data reader asks too)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerascli.spec.datafile import Header, data_header
from kerascli.spec.facts import (
    DATA_FILE_KEYS,
    SINGLE,
    binding_problems,
    format_of,
    input_columns,
    inputs_by_name,
    is_file_ref,
    subclass_source,
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
        ref = subclass_source(spec.model.subclass.class_)
        if is_file_ref(ref) and not Path(ref).is_file():
            yield (("model", "subclass", "class"), f"model file not found: {ref}", False)
    data = spec.data
    if data is None or not training:
        return
    for key in DATA_FILE_KEYS:
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


# --- `data:` against the model's inputs and outputs (as kerascli/data feeds them) ----------


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
        label = f"input '{name}' of shape" if name != SINGLE else "input shape"
        message = f"{_plural(count, 'column')} for {label} {shape} (needs {need}){note}"
        yield (path, message, path == ("data",))


def _implied_note(data: DataSpec, file: str) -> str:
    """What the columns of an input are when the spec names none (for a count's message)."""
    taken = written_targets(data)
    but = f" but {', '.join(taken)}" if taken else ""
    return f"; without data.features the input gets every column of {file}{but}"


def check_data_model(spec: Spec, header: Header | None = None) -> Iterator[Finding]:
    """`data` must feed the model's inputs and outputs as train feeds them.

    The binding's problems (`facts.binding_problems`, for the training file's format), then
    whether the columns of a CSV fill each input's shape. `header` is the CSV's
    (`data_header`); without it columns are not counted.
    """
    data = spec.data
    if data is None:
        return
    yield from binding_problems(spec, data, _training_format(data))
    inputs = inputs_by_name(spec)
    if header is not None:
        file, columns = header
        for bound in input_columns(spec, columns):
            note = _implied_note(data, file) if bound.implied else ""
            yield from _check_column_count(
                inputs[bound.name], bound.name, bound.columns, bound.path, note
            )


def _training_format(data: DataSpec) -> str | None:
    source = training_file(data)
    return format_of(source, data.format) if source is not None else None
