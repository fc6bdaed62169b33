"""Split a spec's data into train / validation / test `Split`s (`load_data`): one file split
by seeded (optionally stratified) row indices, or a file per split. Reading a file into
model-ready arrays is `kerascli.data.model_arrays`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerascli.data.model_arrays import (
    Arrays,
    Split,
    located,
    read_split,
)
from kerascli.spec.models import Spec


@dataclass
class Data:
    """The splits of a spec's data, and the class names of encoded label columns."""

    splits: dict[str, Split]
    classes: dict[str, list[str]] = field(default_factory=dict)


def take(split: Split, index: np.ndarray) -> Split:
    """The rows `index` of a split."""

    def pick(a: Arrays | None) -> Any:
        if a is None:
            return None
        if isinstance(a, dict):
            return {k: v[index] for k, v in a.items()}
        return a[index]

    return Split(pick(split.x), pick(split.y), len(index))


def split_indices(
    rows: int, validation: float, test: float, seed: int, strata: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Seeded train/validation/test row indices, stratified by `strata` if given."""
    rng = np.random.default_rng(seed)
    groups = (
        [np.arange(rows)]
        if strata is None
        else [np.flatnonzero(strata == c) for c in np.unique(strata)]
    )
    parts: dict[str, list[np.ndarray]] = {"train": [], "validation": [], "test": []}
    for group in groups:
        group = rng.permutation(group)
        n_test = int(round(test * len(group)))
        n_val = int(round(validation * len(group)))
        parts["test"].append(group[:n_test])
        parts["validation"].append(group[n_test : n_test + n_val])
        parts["train"].append(group[n_test + n_val :])
    out = {k: np.sort(np.concatenate(v)) for k, v in parts.items()}
    return {k: v for k, v in out.items() if len(v) or k == "train"}


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
    splits = {"train": read_split(spec, data.train, classes)}
    for name in ("validation", "test"):
        file = getattr(data, name)
        if file is not None:  # encoded as the training file's targets are
            splits[name] = read_split(spec, file, classes, fixed_classes=True)
    return Data(splits, classes)
