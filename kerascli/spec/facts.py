"""Facts derived from a spec, each computed in one place and asked everywhere.

The checks, the data reader (`kerascli.data`), the builder, compile, inference and the trainer
ask this module which inputs and outputs a model has and by what keys, which columns feed them
and what is wrong with that binding, which family an argument's value names, which callback
arguments default into the run directory and to what, a data file's format and which plugins a
spec imports. Pure: no TensorFlow, no numpy, no data file read (the argument families come from
the generated catalog). What `compile:` gives each output (its loss, the loss's kind, weights,
metrics) is in `kerascli.spec.outputs`.

Long because it is the one place these rules are written: each fact is a few lines, and a
module split off would be a second place to look for them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascli.spec import catalog
from kerascli.spec.problems import DataError, Finding, KeyPath, did_you_mean

if TYPE_CHECKING:  # (models imports this module for `is_file_ref`, `subclass_source`)
    from kerascli.spec.models import Columns, DataSpec, InputSpec, Spec

SINGLE = ""
"""The key of the only input (output) of a model fed one array (given one target): the name
of a one-input Sequential model's or subclass's `input:`, and of a model's only output."""

# --- callbacks that write into the run directory ---------------------------------------------

_RUN_DIR_PATHS = {
    "ModelCheckpoint": ("filepath", "checkpoints/epoch_{epoch:03d}"),  # see `run_dir_default`
    "TensorBoard": ("log_dir", "logs"),
    "CSVLogger": ("filename", "logs/training.csv"),
    "BackupAndRestore": ("backup_dir", "backup"),  # beside the run; see `run_dir_default`
}

RUN_DIR_DEFAULTS = {name: arg for name, (arg, _) in _RUN_DIR_PATHS.items()}
"""Callback arguments that default to a path inside the run directory (so not required)."""


def run_dir_default(name: str, args: Mapping[str, Any], backup: str = "backup") -> str:
    """The default of callback `name`'s `RUN_DIR_DEFAULTS` argument, given its other `args`:
    a path relative to the run directory (`BackupAndRestore`'s, `backup`, to the directory of
    the runs). A checkpoint's name says whether it keeps the best model, its suffix whether it
    holds weights only."""
    if name == "ModelCheckpoint":
        suffix = ".weights.h5" if args.get("save_weights_only", False) else ".keras"
        best = args.get("save_best_only")
        return ("checkpoints/best" if best else _RUN_DIR_PATHS[name][1]) + suffix
    if name == "BackupAndRestore":
        return backup
    return _RUN_DIR_PATHS[name][1]


# --- plugins and data files -------------------------------------------------------------------


def is_file_ref(ref: str) -> bool:
    """Whether a plugin reference names a file (`plugins/net.py`) rather than a module."""
    return ref.endswith(".py") or "/" in ref or "\\" in ref


def subclass_source(class_ref: str) -> str:
    """The file or module of a subclass's `class:` (`net.py:Net` -> `net.py`)."""
    return class_ref.rsplit(":", 1)[0]


def with_subclass_source(class_ref: str, source: str) -> str:
    """A subclass's `class:` with its file or module replaced by `source`, the class kept."""
    return source + class_ref[len(subclass_source(class_ref)) :]


def plugin_refs(spec: Spec) -> list[str]:
    """Every plugin a spec would import: `plugins:` entries and the subclass's file or module."""
    refs = list(spec.plugins)
    if spec.model.subclass is not None:
        refs.append(subclass_source(spec.model.subclass.class_))
    return refs


DATA_FORMATS = ("csv", "tsv", "npz", "npy", "parquet", "tfrecord", "images", "text")
"""The formats `data.format` names (`kerascli.spec.data_spec.Format`)."""
TABULAR = ("csv", "tsv")
"""The formats read as named columns under a header row (the others hold named arrays)."""
FOLDERS = ("images", "text")
"""The formats of a folder with a subfolder per class."""
STREAMED = ("parquet", "tfrecord", "images", "text")
"""The formats that are always streamed through tf.data, never read whole into memory."""
DATA_FILE_KEYS = ("path", "train", "validation", "test")
"""The keys of `data:` that name a data source (a file, a glob, a folder or a remote path)."""
_EXTENSIONS = {
    "csv": "csv",
    "txt": "csv",
    "tsv": "tsv",
    "npz": "npz",
    "npy": "npy",
    "parquet": "parquet",
    "pq": "parquet",
    "tfrecord": "tfrecord",
    "tfrecords": "tfrecord",
    "tfrec": "tfrecord",
}


def is_tabular(fmt: str | None) -> bool:
    """Whether a data file of format `fmt` is CSV/TSV: named columns, not arrays."""
    return fmt in TABULAR


def has_columns(fmt: str | None) -> bool:
    """Whether a source of format `fmt` is a table of named columns (CSV, TSV, Parquet)."""
    return fmt in (*TABULAR, "parquet")


def is_remote(source: str | Path) -> bool:
    """Whether a data source is a URL TensorFlow's file systems read (`gs://...`), not a local
    path: it is never made absolute, nor looked for on the local disk."""
    return "://" in str(source)


def is_glob(source: str | Path) -> bool:
    """Whether a data source is a glob pattern (`shards/*.csv`, `part-0000[0-4].parquet`)."""
    return any(char in str(source) for char in "*?[")


def format_of(path: str | Path, declared: str | None = None) -> str | None:
    """A file's format, from `declared` or the extension (`.txt` is CSV, `.pq` Parquet, a name
    with `.tfrecord` in it TFRecord); `None` where the extension does not tell."""
    if declared:
        return declared
    name = Path(str(path)).name.lower()
    suffix = name.rsplit(".", 1)[-1] if "." in name else ""
    if suffix in _EXTENSIONS:
        return _EXTENSIONS[suffix]
    return "tfrecord" if ".tfrecord" in name else None


def source_format(data: DataSpec, source: str | Path | None = None) -> str | None:
    """The format of a data source of `data` (its training source by default): `data.format`;
    a folder read by `data.images` (no `column`) is `images`, by `data.text` `text`; TFRecord
    with `data.tfrecord`; else the extension's (`format_of`). `None` where nothing tells."""
    if data.format:
        return data.format
    if data.images is not None and data.images.column is None:
        return "images"
    if data.text is not None:
        return "text"
    if data.tfrecord is not None:
        return "tfrecord"
    source = source if source is not None else training_file(data)
    return format_of(source) if source is not None else None


def file_format(path: str | Path, declared: str | None = None) -> str:
    """A file's format, from `declared` or the file extension (`format_of`).

    Raises:
        DataError: the extension does not tell and nothing is declared.
    """
    found = format_of(path, declared)
    if found is None:
        raise DataError("cannot tell the format from the extension; set data.format", str(path))
    return found


def data_format(data: DataSpec, source: str | Path) -> str:
    """The format of data source `source` of `data` (`source_format`).

    Raises:
        DataError: nothing tells the format.
    """
    found = source_format(data, source)
    if found is None:
        raise DataError("cannot tell the format from the extension; set data.format", str(source))
    return found


def streams(data: DataSpec) -> bool:
    """Whether `data` is streamed through tf.data rather than read into memory: `data.stream`,
    a format that always streams (`STREAMED`), image paths in a column, or a source that is a
    glob or a remote path."""
    sources = [getattr(data, key) for key in DATA_FILE_KEYS if getattr(data, key) is not None]
    return (
        data.stream
        or source_format(data) in STREAMED
        or data.images is not None
        or any(is_glob(source) or is_remote(source) for source in sources)
    )


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


OPS_PREFIX = "ops."
"""How a node names a `keras.ops` function: `ops.add`, `ops.relu6`."""


def layer_family(name: str) -> str:
    """The family of a name written where a layer goes: `ops` for `ops.NAME` (a `keras.ops`
    function), `applications` for a `keras.applications` model, else `layers`."""
    if name.startswith(OPS_PREFIX):
        return "ops"
    if name in catalog.classes("applications"):
        return "applications"
    return "layers"


WEIGHTS_SUFFIXES = (".h5", ".keras")
"""What a local weights file's name ends with (`.weights.h5` included)."""


def is_weights_file(value: Any) -> bool:
    """Whether an application's `weights: value` names a local weights file (`.h5`,
    `.weights.h5`, `.keras`), not `imagenet` nor a URL."""
    return (
        isinstance(value, str) and "://" not in value and value.lower().endswith(WEIGHTS_SUFFIXES)
    )


def takes_positional(name: str) -> bool:
    """Whether `name` is a Keras layer or application whose arguments may be given by position."""
    family = layer_family(name)
    return family != "ops" and name in catalog.classes(family)


def positional_arguments(name: str, values: list[Any]) -> dict[str, Any]:
    """`Conv2D: [32, 3]` as `{filters: 32, kernel_size: 3}`: positional arguments named in the
    order of Keras's signature of `name` (a layer or application).

    Raises:
        ValueError: `name` is not a Keras class with that many positional arguments.
    """
    family = layer_family(name)
    signature = catalog.classes(family).get(name) if family != "ops" else None
    if signature is None:
        raise ValueError(
            f"positional arguments need a Keras layer or application ('{name}' is not one): "
            f"write them by name, e.g. {{{name}: {{argument: value}}}}"
        )
    params = signature.positional
    if len(values) > len(params):
        raise ValueError(f"{name} takes at most {len(params)} arguments, got {len(values)}")
    return dict(zip(params, values, strict=False))


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


def named_outputs(spec: Spec) -> list[str] | None:
    """The output names the spec writes (a Functional model's `outputs:`); `None` where it
    names none (a Sequential model's one output, a subclass's outputs)."""
    functional = spec.model.functional
    return functional.output_names if functional is not None else None


def target_keys(spec: Spec) -> list[str]:
    """The keys of the targets in `y`: the output names of a model with several, `[SINGLE]`
    for one; a subclass (whose outputs the spec does not name) is given the entries of
    `data.outputs` where it has several."""
    names = output_names(spec)
    if names is None:
        data = spec.data
        names = list(data.outputs) if data is not None and data.outputs is not None else []
    return names if len(names) > 1 else [SINGLE]


def fed_one_array(keys: list[str]) -> bool:
    """Whether arrays by `keys` (`inputs_by_array_key`, `target_keys`) are given as one bare
    array rather than a dict."""
    return keys == [SINGLE]


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
    `data.inputs`): every column of the training file's `header` but the targets, the sample
    weights and the split key, in its order."""
    taken = [*written_targets(data), *not_features(data)]
    return [column for column in header if column not in taken]


def not_features(data: DataSpec) -> list[str]:
    """Columns that `data` gives a role other than an input's or a target's: `sample_weight`,
    `split.key`, `images.column`."""
    named = [data.sample_weight, data.split.key if data.split is not None else None]
    named.append(data.images.column if data.images is not None else None)
    return [name for name in named if name is not None]


def implied_input(spec: Spec, data: DataSpec, fmt: str | None) -> bool:
    """Whether `data` implies the columns of the model's input (`implied_feature_columns`): a
    one-input model whose `data` names none (no `data.features` nor `data.inputs`), read from
    CSV/TSV (`fmt`, the format of the file read)."""
    return (
        data.inputs is None
        and data.features is None
        and len(inputs_by_name(spec)) == 1
        and has_columns(fmt)
        and data.images is None  # image paths in a column: the images are the input
    )


@dataclass(frozen=True)
class InputColumns:
    """The columns (or array key) that feed one model input, and where the spec says so.

    Args:
        name: The input's name (`inputs_by_name`).
        key: Its array's key in `x` (`inputs_by_array_key`).
        columns: A column name or array key, or a list of column names.
        path: Where they are written: `data.inputs.<key>`, `data.features`, or `data` when
            they are implied (every column of the training file but the targets).
    """

    name: str
    key: str
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
    single = fed_one_array(list(inputs_by_array_key(spec)))

    def bound(name: str, columns: Columns, path: KeyPath) -> InputColumns:
        return InputColumns(name, SINGLE if single else name, columns, path)

    if data.inputs is not None:
        if one_to_one(list(inputs), list(data.inputs)):
            ((key, columns),) = data.inputs.items()
            return [bound(next(iter(inputs)), columns, ("data", "inputs", key))]
        return [
            bound(key, columns, ("data", "inputs", key))
            for key, columns in data.inputs.items()
            if key in inputs
        ]
    if len(inputs) != 1:
        return []
    name = next(iter(inputs))
    if data.features is not None:
        return [bound(name, data.features, ("data", "features"))]
    if header is None:
        return []
    return [bound(name, implied_feature_columns(data, header), ("data",))]


# --- what is wrong with the binding -----------------------------------------------------------


def binding_problems(
    spec: Spec, data: DataSpec, fmt: str | None, targets: bool = True
) -> Iterator[Finding]:
    """What is wrong with how `data` feeds the model's inputs (and, with `targets`, its
    outputs), as training feeds them; nothing for a binding training accepts. The spec checks
    report every finding, the data reader raises the first.

    `data.inputs`/`data.outputs` must name the model's inputs/outputs (one entry for a
    one-input or one-output model may have any name), a model with several needs them, and a
    one-input model fed arrays (`fmt` NPZ/NPY, the format of the file read; `None` where
    unknown) needs `data.features`. A subclass's outputs are those `data.outputs` names.
    """
    inputs = list(inputs_by_name(spec))
    if data.inputs is not None:
        yield from _name_map_problems(data.inputs, ("data", "inputs"), inputs, "input")
    elif len(inputs) > 1:
        where: KeyPath = ("data", "features") if data.features is not None else ("data",)
        message = f"the model has inputs {', '.join(inputs)}: map each with data.inputs"
        yield (where, message, data.features is None)
    elif data.features is None and fmt is not None and not has_columns(fmt):
        yield (("data",), "name the features array with data.features", True)
    if not targets:
        return
    outputs = output_names(spec) or target_keys(spec)
    if data.outputs is not None:
        yield from _name_map_problems(data.outputs, ("data", "outputs"), outputs, "output")
    elif data.target is not None and len(outputs) > 1:
        message = f"the model has outputs {', '.join(outputs)}: map each with data.outputs"
        yield (("data", "target"), message, False)


def _name_map_problems(
    value: dict[str, Any], path: KeyPath, names: list[str], what: str
) -> Iterator[Finding]:
    """Keys of `data.inputs`/`data.outputs` against the model's input/output `names`: one
    entry for a one-input (one-output) model may have any name; otherwise the keys must be
    exactly the names."""
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
