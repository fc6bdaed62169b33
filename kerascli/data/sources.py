"""Open a data source of a spec as a split: arrays in memory (`Split`) or a `Stream`, by its
format (`facts.source_format`) and whether it streams (`facts.streams`).

Every reader takes the same arguments (`open_source`'s); which reader reads which format is
written here only.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kerascli.data.folders import folder_classes, folder_stream
from kerascli.data.model_arrays import Split, check_binding, read_split
from kerascli.data.read import class_names, read_table
from kerascli.data.stream import Stream
from kerascli.data.table_stream import table_stream
from kerascli.data.tfrecord import tfrecord_stream
from kerascli.spec.facts import (
    FOLDERS,
    data_format,
    has_columns,
    is_tabular,
    source_format,
    streams,
    target_columns,
    training_file,
)
from kerascli.spec.models import DataSpec, Spec
from kerascli.spec.problems import DataError


def open_source(
    spec: Spec,
    source: str,
    classes: dict[str, list[str]],
    require_target: bool = True,
    fixed_classes: bool = False,
    part: str | None = None,
    keep: Sequence[str] = (),
    stream: bool | None = None,
) -> Split | Stream:
    """One data source of `spec` (a file, glob, folder or remote path) as a split.

    Args:
        classes: Class names by output; a training source adds those it finds (a streamed
            table's class pass, a folder's subfolders).
        require_target: Read the targets (not for `predict`).
        fixed_classes: `classes` are those the model was trained with: targets are encoded
            with them, never with classes of their own.
        part: `train`, `validation` or `test`: the part of `source` that `data.split` gives it
            (a stream splits by hash, a folder by its seeded listing); `None` for all of it.
        keep: Columns (a folder: `path`) to pass through, in each chunk's `kept`, for
            `predict --keep`.
        stream: Stream a CSV/TSV/NPY file that `data` reads into memory (`predict` streams
            every file). Defaults to `facts.streams(data)`.
    """
    data = spec.data or DataSpec(path=source)
    fmt = data_format(data, source)
    streamed = streams(data) if stream is None else stream or streams(data)
    if fmt in ("images", "text") or data.images is not None:
        return folder_stream(spec, source, fmt, classes, require_target, fixed_classes, part, keep)
    if fmt == "tfrecord":
        return tfrecord_stream(spec, source, classes, require_target, fixed_classes, part, keep)
    if fmt == "parquet" or (streamed and fmt in ("csv", "tsv", "npy")):
        return table_stream(spec, source, fmt, classes, require_target, fixed_classes, part, keep)
    return read_split(spec, source, classes, require_target, fixed_classes)


def trained_classes(spec: Spec) -> dict[str, list[str]]:
    """The class names a model was trained with, by output, when no run records them (a bare
    `MODEL.keras` with a spec): those its spec's training file gives, by the rule training
    uses (`class_names`). Outputs trained on numbers have none.

    Raises:
        DataError: the training file is CSV/TSV (whose text targets would have been classes)
            and it is not there to say.
    """
    data = spec.data
    source = training_file(data) if data is not None else None
    if data is not None and source is not None:
        if source_format(data, source) in FOLDERS or data.images is not None:
            return folder_classes(spec)
        if streams(data) and has_columns(source_format(data, source)):
            streamed: dict[str, list[str]] = {}
            open_source(spec, source, streamed)  # a streamed table's target pass finds them
            return streamed
    if data is None or source is None or not is_tabular(source_format(data, source)):
        return {}  # arrays: targets are numbers; folders and streamed tables: see their readers
    if not Path(source).is_file():
        raise DataError(
            "the model's class names are unknown: no run.json records them, and the spec's "
            "training file is not there to say; evaluate the run directory (with its run.json)",
            str(source),
        )
    table = read_table(source, data.format)
    check_binding(spec, data, table.kind, targets=True)
    classes: dict[str, list[str]] = {}
    for name, columns in target_columns(spec).items():
        found = class_names(table, columns) if isinstance(columns, str) else None
        if found is not None:
            classes[name] = found
    return classes
