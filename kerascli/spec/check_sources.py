"""Checks of `data:` against the format of its source (`facts.source_format`): the sections that
fit it (`check_sources`), how it may be split (`split_problems`), what a folder feeds the model
(`folder_problems`) and TFRecord features against the model (`check_tfrecord`). The readers raise
the first finding of the same functions, so `validate` and a run say the same thing.

Long because it is the one place these rules are written: each format's sections, splits,
folders and TFRecord features against the model take a few lines, sharing the words that name
a source.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from kerascli.spec.data_spec import FeatureSpec, ImagesSpec, TFRecordSpec
from kerascli.spec.facts import (
    DATA_FILE_KEYS,
    FOLDERS,
    SINGLE,
    format_of,
    has_columns,
    input_columns,
    inputs_by_name,
    is_glob,
    is_remote,
    output_names,
    source_format,
    streams,
    training_file,
)
from kerascli.spec.models import DataSpec, Spec
from kerascli.spec.problems import Finding, KeyPath, did_you_mean

FORMAT_WORDS = {
    "csv": "a CSV file",
    "tsv": "a TSV file",
    "npz": "an NPZ file",
    "npy": "an NPY file",
    "parquet": "a Parquet file",
    "tfrecord": "TFRecord shards",
    "images": "an image folder",
    "text": "a text folder",
}
"""How a message names a source of each format."""
CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}
"""The channels of an image read in each `data.images.color_mode`."""


def _source_is(data: DataSpec, fmt: str) -> str:
    """`data.path is a CSV file (by its extension)`: the training source, and what tells."""
    key = "path" if data.path is not None else "train"
    if data.format:
        why = "data.format"
    elif fmt in ("images", "text", "tfrecord") and getattr(data, fmt) is not None:
        why = f"data.{fmt}"
    else:
        why = "its extension"
    return f"data.{key} is {FORMAT_WORDS[fmt]} (by {why})"


def check_sources(spec: Spec) -> Iterator[Finding]:
    """Each section of `data` must fit the format of its source (`facts.source_format`), a
    stream must be of a format that streams, and `split` must fit how the source is split."""
    data = spec.data
    if data is None:
        return
    source = training_file(data)
    fmt = source_format(data)
    written = data.format or (format_of(source) if source is not None else None)
    if data.tfrecord is not None and written not in (None, "tfrecord"):
        message = f"data.tfrecord parses TFRecord shards, but {_source_is(data, written)}"
        yield (("data", "tfrecord"), f"{message}: set data.format: tfrecord, or remove it", True)
    if data.text is not None and written not in (None, "text"):
        message = f"data.text reads a text folder, but {_source_is(data, written)}"
        yield (("data", "text"), f"{message}: set data.format: text, or remove it", True)
    images = data.images
    if images is not None and images.column is None and written not in (None, "images"):
        yield (
            ("data", "images"),
            f"data.images reads an image folder, but {_source_is(data, written)}: give "
            "data.images.column (the column of image paths), or set data.format: images",
            True,
        )
    if images is not None and images.column is not None and source and is_remote(source):
        yield (
            ("data", "path") if data.path is not None else ("data", "train"),
            "a table of image paths (data.images.column) is read from the local disk: copy it "
            "here (the images it lists may stay remote only as a folder or glob source)",
            False,
        )
    if images is not None and images.column is not None and written is not None:
        if not has_columns(written):
            yield (
                ("data", "images", "column"),
                "data.images.column reads image paths from a column of a CSV/TSV/Parquet "
                f"file, but {_source_is(data, written)}",
                True,
            )
    if fmt == "tfrecord" and data.tfrecord is None:
        yield _no_tfrecord_features(data)
    if fmt is not None and not has_columns(fmt):
        if data.columns is not None:
            message = "data.columns types the columns of a CSV/TSV/Parquet table"
            yield (("data", "columns"), f"{message}; {_source_is(data, fmt)}", True)
        if isinstance(data.missing, dict):
            message = "missing values by column apply to a CSV/TSV/Parquet table"
            yield (("data", "missing"), f"{message}; {_source_is(data, fmt)}", False)
    if fmt is not None and has_columns(fmt) and data.columns is not None and not streams(data):
        yield (
            ("data", "columns"),
            "data.columns types the columns of a streamed table; this file is read into memory "
            "(its numbers and class names found as they are): set data.stream: true, or remove "
            "data.columns",
            True,
        )
    if fmt == "npz" and streams(data):
        yield from _streamed_npz(data)
    yield from split_problems(data, fmt)


def column_type_problems(spec: Spec, header: list[str] | None) -> Iterator[Finding]:
    """A column `data.columns` types `string` must feed a `dtype: string` input, and a column
    typed as numbers a number input (`header`: the training table's columns, for the input
    columns a spec implies; `None` where unknown)."""
    data = spec.data
    if data is None or not data.columns:
        return
    inputs = inputs_by_name(spec)
    for bound in input_columns(spec, header):
        dtype = inputs[bound.name].dtype
        for column in [bound.columns] if isinstance(bound.columns, str) else bound.columns:
            declared = data.columns.get(column)
            if declared is not None and (declared == "string") != (dtype == "string"):
                yield (
                    ("data", "columns", column),
                    f"column '{column}' is typed {declared} and feeds {input_label(bound.name)} "
                    f"of dtype {dtype}: a string column feeds a `dtype: string` input, a number "
                    "column a number input",
                    False,
                )


def _streamed_npz(data: DataSpec) -> Iterator[Finding]:
    """An NPZ file is a zip of whole arrays: it is read into memory, never streamed."""
    if data.stream:
        yield (
            ("data", "stream"),
            "cannot stream an NPZ file (a zip of whole arrays, read into memory): remove "
            "data.stream, or save the data as NPY, Parquet or TFRecord to stream it",
            False,
        )
        return
    for key in DATA_FILE_KEYS:
        value = getattr(data, key)
        if value is not None and (is_glob(value) or is_remote(value)):
            yield (
                ("data", key),
                "cannot stream NPZ files (zips of whole arrays, read into memory): give one "
                "local NPZ file, or save the data as NPY, Parquet or TFRecord to stream it",
                False,
            )


def split_problems(data: DataSpec, fmt: str | None) -> Iterator[Finding]:
    """`split` against how the source is split: data in memory by seeded rows, a folder (or
    image paths in a column) by its seeded listing, a stream by a stable hash of row positions,
    key values or file names. The spec checks report every finding; a reader can raise the
    first."""
    split = data.split
    if split is None:
        return
    folder = fmt in FOLDERS or data.images is not None  # image paths: listed, split as a folder
    streamed = streams(data)
    if split.stratify and streamed and not folder:
        yield (
            ("data", "split", "stratify"),
            "a stream splits by hash; stratify needs data in memory or a folder: remove "
            "stratify (a hash split keeps class proportions in expectation)",
            False,
        )
    for key, given in (("key", split.key is not None), ("by_file", split.by_file)):
        path: KeyPath = ("data", "split", key)
        if not given:
            continue
        if folder:
            message = (
                f"a folder (or image paths) is split by its seeded listing: remove split.{key}"
            )
            yield (path, message, True)
        elif not streamed:
            yield (
                path,
                f"split.{key} applies to a stream (split by hash); data in memory is split by "
                f"seeded rows: remove split.{key}, or set data.stream: true",
                True,
            )
        elif key == "by_file" and data.path is not None and not is_glob(data.path):
            yield (path, "split.by_file splits the files of a glob; data.path is one file", True)
        elif key == "key" and fmt is not None and not has_columns(fmt) and fmt != "tfrecord":
            message = f"split.key names a column or feature; {_source_is(data, fmt)}"
            yield (path, message, True)


# --- names against the training file's header ------------------------------------------------


def folder_problems(
    spec: Spec, data: DataSpec, fmt: str | None, targets: bool = True
) -> Iterator[Finding]:
    """What is wrong with how an image or text folder (`fmt` in `FOLDERS`), or image paths in
    a column (`data.images.column`), feed the model: they give its one input and (with
    `targets`) the class label of its one output, so `data` names neither; images are
    `[height, width, channels]` of a number input, texts a string input of shape `[]` or
    `[1]`. The spec checks report every finding; a folder reader can raise the first."""
    folder = fmt in FOLDERS
    source = "a folder" if folder else "image paths in a column"
    inputs = inputs_by_name(spec)
    if len(inputs) != 1:
        message = f"{source} feeds one model input; the model has inputs {', '.join(inputs)}"
        yield (("data",), message, True)
    outputs = output_names(spec) or []
    if targets and len(outputs) > 1:
        message = f"{source} gives one target; the model has outputs {', '.join(outputs)}"
        yield (("data",), message, True)
    gives = "gives the model's input and labels" if folder else "give the model's input"
    for key in ("features", "inputs", "outputs", "sample_weight", *(["target"] * folder)):
        if getattr(data, key) is not None:
            yield (("data", key), f"{source} {gives}: remove data.{key}", True)
    if fmt == "images" and data.images is None:
        yield (("data",), "an image folder needs data.images: {image_size: [h, w]}", True)
    if len(inputs) != 1:
        return
    ((name, model_input),) = inputs.items()
    label = "the model input" if name == SINGLE else f"the model input '{name}'"
    shape = list(model_input.shape)
    if data.images is not None and model_input.dtype == "string":
        message = f"{label} has dtype string; images feed a number input"
        yield (_input_path(spec, name), message, False)
    elif data.images is not None:
        yield from _image_shape_problems(data.images, shape, label)
    elif fmt == "text" and (model_input.dtype != "string" or shape not in ([], [1])):
        yield (
            _input_path(spec, name),
            "a text folder feeds each file's text to a string input: give the model input "
            f"shape [] or [1] and dtype string (it has shape {shape}, dtype {model_input.dtype})",
            False,
        )


def _image_shape_problems(images: ImagesSpec, shape: list[Any], label: str) -> Iterator[Finding]:
    """Images are `[height, width, channels]` (`image_size`, `color_mode`): the model input's
    shape (where a `null` dimension takes any size)."""
    height, width = images.image_size
    channels = CHANNELS[images.color_mode]
    wanted = f"[{height}, {width}, {channels}]"
    if len(shape) != 3:
        yield (
            ("data", "images", "image_size"),
            f"images are {wanted} (height, width, channels: data.images.image_size and "
            f"color_mode); {label} has shape {shape}",
            False,
        )
    elif any(
        s is not None and s != want for s, want in zip(shape[:2], (height, width), strict=True)
    ):
        yield (
            ("data", "images", "image_size"),
            f"data.images.image_size {[height, width]} makes images of shape {wanted}; "
            f"{label} has shape {shape}: give image_size [{shape[0] or height}, {shape[1] or width}]",
            False,
        )
    elif shape[2] is not None and shape[2] != channels:
        modes = {count: mode for mode, count in CHANNELS.items()}
        fix = f": give color_mode {modes[shape[2]]}" if shape[2] in modes else ""
        yield (
            ("data", "images", "color_mode"),
            f"color_mode {images.color_mode} makes images of {plural(channels, 'channel')}; "
            f"{label} has shape {shape}{fix}",
            False,
        )


def _input_path(spec: Spec, name: str) -> KeyPath:
    """Where the model input `name` (`inputs_by_name`) is written in the spec."""
    model = spec.model
    if model.sequential is not None:
        return ("model", "sequential", "input")
    if model.functional is not None:
        return ("model", "functional", "inputs", name)
    assert model.subclass is not None
    if model.subclass.input is not None:
        return ("model", "subclass", "input")
    return ("model", "subclass", "inputs", name)


def tfrecord_problems(spec: Spec, data: DataSpec, targets: bool = True) -> Iterator[Finding]:
    """What is wrong with how TFRecord shards feed the model: `data.tfrecord` missing, or its
    features (`check_tfrecord`). The spec checks report every finding; the TFRecord reader
    raises the first."""
    if data.tfrecord is None:
        yield _no_tfrecord_features(data)
    else:
        yield from check_tfrecord(spec, data, data.tfrecord, targets)


def _no_tfrecord_features(data: DataSpec) -> Finding:
    return (
        ("data", "format") if data.format else ("data",),
        "TFRecord shards need data.tfrecord.features: each feature's dtype and shape, e.g. "
        "{pixels: {dtype: float32, shape: [64]}, label: {dtype: int64}}",
        data.format is None,
    )


def check_tfrecord(
    spec: Spec, data: DataSpec, tfrecord: TFRecordSpec, targets: bool = True
) -> Iterator[Finding]:
    """TFRecord features: a default fits its feature's type, every name `data` gives is
    declared in `data.tfrecord.features`, each input's features fill its shape with values of
    its type, (with `targets`) targets and sample weights are numbers, and a `split.key`
    feature holds one value per record."""
    features = tfrecord.features
    for name, feature in features.items():
        problem = _default_problem(feature.dtype, feature.default)
        if problem is not None:
            yield (("data", "tfrecord", "features", name, "default"), problem, False)
    yield from _feature_refs(data, ("features", "inputs"), features)
    yield from _tfrecord_inputs(spec, features)
    if targets:
        yield from _feature_refs(data, ("target", "outputs", "sample_weight"), features)
    key = data.split.key if data.split is not None else None
    if key is not None:
        yield from _feature_refs(data.split, ("key",), features, ("data", "split"))
        if key in features and math.prod(features[key].shape) != 1:
            yield (
                ("data", "split", "key"),
                f"feature '{key}' of shape {features[key].shape} holds "
                f"{plural(math.prod(features[key].shape), 'value')} a record; a key holds one "
                "value per record (shape [] or [1])",
                False,
            )


def _feature_refs(
    section: Any, keys: tuple[str, ...], features: dict[str, FeatureSpec], base: KeyPath = ("data",)
) -> Iterator[Finding]:
    """The features `section`'s `keys` name must be declared; targets and weights numbers."""
    for key in keys:
        for path, name in column_refs(getattr(section, key), (*base, key)):
            if name not in features:
                hint = did_you_mean(name, features) or f"; features: {', '.join(features)}"
                yield (path, f"no feature '{name}' in data.tfrecord.features{hint}", False)
            elif features[name].dtype == "string" and key in ("target", "outputs"):
                message = "a target is numbers (class ids as int64, values as float32)"
                yield (path, f"feature '{name}' holds strings: {message}", False)
            elif features[name].dtype == "string" and key == "sample_weight":
                yield (path, f"feature '{name}' holds strings: sample weights are numbers", False)


def _tfrecord_inputs(spec: Spec, features: dict[str, FeatureSpec]) -> Iterator[Finding]:
    """The declared features of each input: strings only for an input of dtype string, and
    as many values as the input's shape holds."""
    inputs = inputs_by_name(spec)
    for bound in input_columns(spec, None):
        names = [bound.columns] if isinstance(bound.columns, str) else list(bound.columns)
        if not names or any(name not in features for name in names):
            continue
        model_input = inputs[bound.name]
        label = input_label(bound.name)
        strings = [name for name in names if features[name].dtype == "string"]
        if strings and model_input.dtype != "string":
            yield (
                bound.path,
                f"feature '{strings[0]}' holds strings, but {label} has dtype "
                f"{model_input.dtype} (strings feed an input of dtype: string)",
                False,
            )
            continue
        count = sum(math.prod(features[name].shape) for name in names)
        need = math.prod(s for s in model_input.shape if s is not None)
        if None not in model_input.shape and count != need:
            held = (
                f"feature '{names[0]}' of shape {features[names[0]].shape} holds"
                if len(names) == 1
                else f"features {', '.join(names)} hold"
            )
            message = f"{held} {plural(count, 'value')}; {label} of shape {model_input.shape}"
            yield (bound.path, f"{message} needs {need}", False)


def _default_problem(dtype: str, default: Any) -> str | None:
    """What is wrong with a TFRecord feature's `default` for its `dtype`, if anything."""
    if default is None:
        return None
    if dtype == "string":
        fits, kind = isinstance(default, str), "text"
    elif dtype == "int64":
        fits = isinstance(default, int | float) and float(default).is_integer()
        kind = "an integer"
    else:
        fits, kind = isinstance(default, int | float), "a number"
    if fits and not isinstance(default, bool):
        return None
    article = "an" if dtype == "int64" else "a"
    return f"the default of {article} {dtype} feature must be {kind}, got {default!r}"


def column_refs(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*path, i), item
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from column_refs(item, (*path, key))


# --- `data:` against the model's inputs and outputs (as kerascli/data feeds them) ----------


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def input_label(name: str) -> str:
    return f"input '{name}'" if name != SINGLE else "the input"
