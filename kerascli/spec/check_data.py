"""Checks of `data:`: the sources a spec names exist, the columns it names are in the training
file's header, each section fits the source's format (`facts.source_format`), and the data
feeds the model's inputs and outputs as training feeds them (the binding and what is wrong
with it are `facts.input_columns` and `facts.binding_problems`, which the data reader asks too).
What the source's format allows is `check_sources`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

from kerascli.spec.check_sources import (
    check_tfrecord,
    column_refs,
    column_type_problems,
    folder_problems,
    plural,
)
from kerascli.spec.datafile import Header, data_header, glob_files
from kerascli.spec.facts import (
    DATA_FILE_KEYS,
    FOLDERS,
    SINGLE,
    binding_problems,
    data_format,
    input_columns,
    inputs_by_name,
    is_file_ref,
    is_glob,
    is_remote,
    not_features,
    source_format,
    subclass_source,
    written_targets,
)
from kerascli.spec.models import Columns, DataSpec, InputSpec, Spec
from kerascli.spec.problems import DataError, Finding, KeyPath, did_you_mean


def check_files(spec: Spec, training: bool = True) -> Iterator[Finding]:
    """Plugin files, the subclass's file and (for training) data sources must exist, and
    each source's format must be known."""
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
        problem = source_problem(data, value) if value is not None else None
        if problem is None and value is not None:
            try:
                data_format(data, value)
            except DataError as exc:  # nothing tells the format
                problem = exc.problems[0].message
        if problem is not None:
            yield (("data", key), problem, False)


def source_problem(data: DataSpec, source: str) -> str | None:
    """What is wrong with data source `source` before it is read: a file that is not there, a
    glob that matches no file, a folder format (`FOLDERS`) that is not a folder. Remote paths
    are TensorFlow's to open."""
    if is_remote(source):
        return None
    if is_glob(source):
        if not glob_files(source):
            return f"no file matches {source}"
        return None
    path = Path(source)
    if source_format(data, source) in FOLDERS:
        if not path.exists():
            return f"folder not found: {source}"
        return None if path.is_dir() else f"not a folder: {source}"
    if path.is_file():
        return None
    if path.is_dir():
        return f"a folder, not a data file: {source} (an image or text folder needs data.images or data.text)"
    return f"{'not a regular file' if path.exists() else 'data file not found'}: {source}"


# --- each section against the source's format -----------------------------------------------


def check_columns(spec: Spec, header: Header | None = None) -> Iterator[Finding]:
    """Columns named in `data` must be in the header of the training file (CSV/TSV, or
    whatever `datafile.data_header` reads)."""
    data = spec.data
    if data is None:
        return
    header = header or data_header(spec)
    if header is None:
        return
    file, names = header
    refs = [
        (path, column, False)
        for key in ("features", "target", "inputs", "outputs", "sample_weight")
        for path, column in column_refs(getattr(data, key), ("data", key))
    ]
    if data.split is not None and data.split.key is not None:
        refs.append((("data", "split", "key"), data.split.key, False))
    if data.images is not None and data.images.column is not None:
        refs.append((("data", "images", "column"), data.images.column, False))
    for key, value in (("columns", data.columns), ("missing", data.missing)):
        if isinstance(value, dict):
            refs += [(("data", key, column), column, True) for column in value]
    for path, column, at_key in refs:
        if column not in names:
            hint = did_you_mean(column, names)
            yield (path, f"no column '{column}' in {file}{hint}", at_key)


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
        message = f"{plural(count, 'column')} for {label} {shape} (needs {need}){note}"
        yield (path, message, path == ("data",))


def _implied_note(data: DataSpec, file: str) -> str:
    """What the columns of an input are when the spec names none (for a count's message)."""
    taken = [*written_targets(data), *not_features(data)]
    but = f" but {', '.join(taken)}" if taken else ""
    return f"; without data.features the input gets every column of {file}{but}"


def check_data_model(spec: Spec, header: Header | None = None) -> Iterator[Finding]:
    """`data` must feed the model's inputs and outputs as train feeds them.

    The binding's problems (`facts.binding_problems`, for the training source's format), or a
    folder's (its one input and class label); TFRecord features against the inputs and
    outputs they feed; then whether the columns of a CSV fill each input's shape. `header` is
    the training file's (`data_header`); without it columns are not counted.
    """
    data = spec.data
    if data is None:
        return
    fmt = source_format(data)
    if fmt in FOLDERS or data.images is not None:
        yield from folder_problems(spec, data, fmt)
        one_input = len(inputs_by_name(spec)) == 1 and data.features is data.inputs is None
        if fmt not in FOLDERS and one_input:  # a column of image paths: targets in columns
            yield from binding_problems(spec, data, fmt)
    else:
        yield from binding_problems(spec, data, fmt)
    if fmt == "tfrecord" and data.tfrecord is not None:
        yield from check_tfrecord(spec, data, data.tfrecord)
    yield from column_type_problems(spec, header[1] if header is not None else None)
    inputs = inputs_by_name(spec)
    if header is not None and data.images is None:
        file, columns = header
        for bound in input_columns(spec, columns):
            note = _implied_note(data, file) if bound.implied else ""
            yield from _check_column_count(
                inputs[bound.name], bound.name, bound.columns, bound.path, note
            )
