"""Split a spec's data into train / validation / test `Split`s (`load_data`): one file split
by seeded (optionally stratified) row indices, or a file per split. Reading a file into
model-ready arrays is `kerascli.data.model_arrays`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kerascli.data.model_arrays import (
    Arrays,
    Split,
    located,
    read_split,
)
from kerascli.data.partition import split_indices as split_indices
from kerascli.data.partition import split_parts
from kerascli.data.stream import Stream, take
from kerascli.spec.check_sources import split_problems
from kerascli.spec.data_spec import DataSpec
from kerascli.spec.facts import source_format, streams
from kerascli.spec.models import Spec


@dataclass
class Data:
    """The splits of a spec's data (arrays in memory, or streams), and the class names of
    encoded label columns."""

    splits: dict[str, Split | Stream]
    classes: dict[str, list[str]] = field(default_factory=dict)


def _first_target(y: Arrays | None) -> np.ndarray | None:
    if y is None:
        return None
    return next(iter(y.values())) if isinstance(y, dict) else y


def load_data(spec: Spec) -> Data:
    """Read and split the data a spec names.

    Raises:
        SpecError: for a missing file, unknown column, non-numeric value or shape mismatch.
    """
    data = spec.data
    if data is None:
        raise located(spec, (), "this spec has no data section; add `data:` to train")
    classes: dict[str, list[str]] = {}
    if streams(data):
        return _streamed(spec, data, classes)
    if data.path is not None:
        whole = read_split(spec, data.path, classes)
        split = data.split
        if split is None or (split.validation == 0 and split.test == 0):
            return Data({"train": whole}, classes)
        strata = None
        if split.stratify:
            target = _first_target(whole.y)
            if target is not None and target.ndim == 2 and target.shape[1] == 1:
                target = target[:, 0]  # labels stored as a column, e.g. an NPZ of shape (n, 1)
            if target is None or target.ndim != 1 or target.dtype.kind not in "iu":
                raise located(
                    spec,
                    ("data", "split", "stratify"),
                    "stratify needs one integer or class-name target",
                )
            strata = target
        index = split_indices(whole.rows, split.validation, split.test, spec.seed or 0, strata)
        return Data({name: take(whole, rows) for name, rows in index.items()}, classes)
    assert data.train is not None
    splits: dict[str, Split | Stream] = {"train": read_split(spec, data.train, classes)}
    for name in ("validation", "test"):
        file = getattr(data, name)
        if file is not None:  # encoded as the training file's targets are
            splits[name] = read_split(spec, file, classes, fixed_classes=True)
    return Data(splits, classes)


def _streamed(spec: Spec, data: DataSpec, classes: dict[str, list[str]]) -> Data:
    """The splits of streamed data: the parts of `data.path` (by `data.split`), or a source per
    split; the training source first, which finds the classes the others are encoded with."""
    from kerascli.data.sources import open_source

    splits: dict[str, Split | Stream] = {}
    if data.path is not None:
        for path, message, at_key in split_problems(data, source_format(data)):
            raise located(spec, path, message, at_key)  # as `validate` says it
        for part in split_parts(data.split):
            splits[part] = open_source(
                spec, data.path, classes, fixed_classes=part != "train", part=part
            )
        return Data(splits, classes)
    assert data.train is not None
    splits["train"] = open_source(spec, data.train, classes)
    for name in ("validation", "test"):
        source = getattr(data, name)
        if source is not None:
            splits[name] = open_source(spec, source, classes, fixed_classes=True)
    return Data(splits, classes)
