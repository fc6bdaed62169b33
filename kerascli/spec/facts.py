"""Facts derived from a spec, each computed in one place and asked everywhere.

The checks, the data loader, the builder, compile, inference and the trainer ask this module
which inputs and outputs a model has and by what keys, which columns feed them, which family
an argument's value names, which callback arguments default into the run directory, a data
file's format and whether a plugin reference is a file. Pure: no TensorFlow, no numpy, no
file read. What `compile:` gives each output (its loss, the loss's kind, weights, metrics)
is in `kerascli.spec.outputs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kerascli.spec import catalog
from kerascli.spec.problems import DataError, KeyPath

if TYPE_CHECKING:  # (models imports this module for `is_file_ref`)
    from kerascli.spec.models import Columns, DataSpec, InputSpec, Spec

SINGLE = ""
"""The key of the only input (output) of a model fed one array (given one target): the name
of a one-input Sequential model's or subclass's `input:`, and of a model's only output."""

RUN_DIR_DEFAULTS = {
    "ModelCheckpoint": "filepath",
    "TensorBoard": "log_dir",
    "CSVLogger": "filename",
    "BackupAndRestore": "backup_dir",
}
"""Callback arguments that default to a path inside the run directory (so not required)."""


# --- plugins and data files -------------------------------------------------------------------


def is_file_ref(ref: str) -> bool:
    """Whether a plugin reference names a file (`plugins/net.py`) rather than a module."""
    return ref.endswith(".py") or "/" in ref or "\\" in ref


DATA_FORMATS = ("csv", "tsv", "npz", "npy")


def format_of(path: str | Path, declared: str | None = None) -> str | None:
    """`csv`, `tsv`, `npz` or `npy`, from `declared` or the file extension (`.txt` is CSV);
    `None` where the extension does not tell."""
    if declared:
        return declared
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix in DATA_FORMATS:
        return suffix
    return "csv" if suffix == "txt" else None


def file_format(path: str | Path, declared: str | None = None) -> str:
    """`csv`, `tsv`, `npz` or `npy`, from `declared` or the file extension.

    Raises:
        DataError: the extension does not tell and nothing is declared.
    """
    found = format_of(path, declared)
    if found is None:
        raise DataError("cannot tell the format from the extension; set data.format", str(path))
    return found


def training_file(data: DataSpec) -> str | None:
    """The file training reads first: `data.path`, or `data.train`."""
    return data.path or data.train


# --- argument families ------------------------------------------------------------------------


def argument_family(arg: str) -> str | None:
    """The family an argument's value names, by Keras's argument naming: `activation` an
    activation, `*_initializer` an initializer, `learning_rate` a schedule, `layer` a layer..."""
    if arg in ("activation", "recurrent_activation"):
        return "activations"
    if arg in ("layer", "backward_layer"):
        return "layers"
    if arg == "learning_rate":
        return "schedules"
    for family in ("initializers", "regularizers", "constraints"):
        if arg.endswith(family[:-1]):
            return family
    return None


def nested_family(name: str, arg: str) -> str | None:
    """The family of `{name: {...}}` given as the value of argument `arg`, if any: the family
    the argument names where it has such a class, else the nested family that has it."""
    expected = argument_family(arg)
    if expected is not None and name in catalog.classes(expected):
        return expected
    return catalog.nested_family(name)


# --- inputs and outputs -----------------------------------------------------------------------


def inputs_by_name(spec: Spec) -> dict[str, InputSpec]:
    """The model's inputs by the name the spec gives them; `{SINGLE: input}` where it has one
    unnamed input (`input:` of a Sequential model or subclass)."""
    model = spec.model
    if model.sequential is not None:
        return {SINGLE: model.sequential.input}
    if model.functional is not None:
        return dict(model.functional.inputs)
    assert model.subclass is not None
    if model.subclass.inputs is not None:
        return dict(model.subclass.inputs)
    assert model.subclass.input is not None
    return {SINGLE: model.subclass.input}


def inputs_by_array_key(spec: Spec) -> dict[str, InputSpec]:
    """The model's inputs by the key of their array in `x`: `{SINGLE: input}` for a model fed
    one array (one unnamed input, or a Functional model's only input), else by name."""
    inputs = inputs_by_name(spec)
    if spec.model.functional is not None and len(inputs) == 1:
        return {SINGLE: next(iter(inputs.values()))}
    return inputs


def output_names(spec: Spec) -> list[str] | None:
    """The model's outputs in the spec's `outputs:` order; `[SINGLE]` for a Sequential model's
    one output, `None` for a subclass (the spec does not say)."""
    if spec.model.functional is not None:
        return spec.model.functional.output_names
    if spec.model.sequential is not None:
        return [SINGLE]
    return None


def target_keys(spec: Spec) -> list[str]:
    """The keys of the targets in `y`: the output names of a Functional model with several,
    else the entries of `data.outputs` where it has several, else `[SINGLE]`."""
    functional = spec.model.functional
    if functional is not None and len(functional.output_names) > 1:
        return functional.output_names
    data = spec.data
    if data is not None and data.outputs is not None and len(data.outputs) > 1:
        return list(data.outputs)
    return [SINGLE]


# --- which columns feed which input and output ------------------------------------------------


def one_to_one(names: list[str], entries: list[str]) -> bool:
    """Whether `data.inputs` (`data.outputs`) with `entries` feed a model with input (output)
    `names` as one entry to its only input (output): that entry may have any name."""
    return len(names) == 1 and len(entries) == 1


def target_columns(spec: Spec) -> dict[str, Columns]:
    """The target column(s) (or array key) of each output, by its key in `y` (`target_keys`):
    `data.outputs` (one entry for a one-output model under `SINGLE`), or `data.target`."""
    data = spec.data
    assert data is not None
    if data.outputs is not None:
        if one_to_one(target_keys(spec), list(data.outputs)):
            return {SINGLE: next(iter(data.outputs.values()))}
        return dict(data.outputs)
    if data.target is not None:
        return {SINGLE: data.target}
    return {}


def written_targets(data: DataSpec) -> list[str]:
    """The target columns `data.target` or `data.outputs` name, in the order written."""
    taken: list[str] = []
    for value in (data.target, *(data.outputs or {}).values()):
        taken += [value] if isinstance(value, str) else value or []
    return taken


def implied_feature_columns(data: DataSpec, header: list[str]) -> list[str]:
    """The input columns of a one-input model whose spec names none (no `data.features` nor
    `data.inputs`): every column of the training file's `header` but the targets, in its order."""
    taken = written_targets(data)
    return [column for column in header if column not in taken]


@dataclass(frozen=True)
class InputColumns:
    """The columns (or array key) that feed one model input, and where the spec says so.

    Args:
        name: The input's name (`inputs_by_name`).
        columns: A column name or array key, or a list of column names.
        path: Where they are written: `data.inputs.<key>`, `data.features`, or `data` when
            they are implied (every column of the training file but the targets).
    """

    name: str
    columns: Columns
    path: KeyPath

    @property
    def implied(self) -> bool:
        return self.path == ("data",)


def input_columns(spec: Spec, header: list[str] | None) -> list[InputColumns]:
    """Which columns feed which model input, as training reads them: `data.inputs` (one entry
    for a one-input model, whatever its key; entries that name no input are left out), or
    `data.features`, or else, for a one-input model, every column of the training file's
    `header` but the targets (left out where `header` is `None`)."""
    data = spec.data
    assert data is not None
    inputs = inputs_by_name(spec)
    if data.inputs is not None:
        if one_to_one(list(inputs), list(data.inputs)):
            ((key, columns),) = data.inputs.items()
            return [InputColumns(next(iter(inputs)), columns, ("data", "inputs", key))]
        return [
            InputColumns(key, columns, ("data", "inputs", key))
            for key, columns in data.inputs.items()
            if key in inputs
        ]
    if len(inputs) != 1:
        return []
    name = next(iter(inputs))
    if data.features is not None:
        return [InputColumns(name, data.features, ("data", "features"))]
    if header is None:
        return []
    return [InputColumns(name, implied_feature_columns(data, header), ("data",))]
