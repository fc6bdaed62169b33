"""Which rows (or files) of a data source fall in which split: seeded row permutations for data
in memory and folder listings (`split_indices`), stable hashes for streams (`hashed_part`)."""

from __future__ import annotations

import zlib

import numpy as np

from kerascli.spec.data_spec import SplitSpec


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


_BUCKETS = 1 << 32


def _buckets(values: np.ndarray, seed: int) -> np.ndarray:
    """A stable hash of each value (a row position, or a key's text) into [0, 2**32): the same
    value and seed give the same bucket on every machine and in every run."""
    if values.dtype.kind in "iu":
        with np.errstate(over="ignore"):  # splitmix64: wraps around by design
            mixed = values.astype(np.uint64) + np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15)
            mixed = (mixed ^ (mixed >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            mixed = (mixed ^ (mixed >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
            mixed ^= mixed >> np.uint64(31)
        return (mixed % np.uint64(_BUCKETS)).astype(np.uint64)
    prefix = f"{seed}:".encode()
    return np.fromiter(
        (zlib.crc32(prefix + str(v).encode("utf-8")) for v in values.reshape(-1)),
        dtype=np.uint64,
        count=values.size,
    )


def hashed_part(values: np.ndarray, split: SplitSpec, part: str, seed: int) -> np.ndarray:
    """Which of `values` (row positions, key values or file names) fall in split `part`
    (`train`, `validation`, `test`) of a stream: a boolean mask by a stable hash, test first
    (`split.test` of the buckets), then validation, the rest train."""
    fraction = _buckets(np.asarray(values), seed).astype(np.float64) / _BUCKETS
    test_end = split.test
    validation_end = split.test + split.validation
    if part == "test":
        return fraction < test_end
    if part == "validation":
        return (fraction >= test_end) & (fraction < validation_end)
    return fraction >= validation_end


def split_parts(split: SplitSpec | None) -> list[str]:
    """The parts a split makes: `train`, and `validation`/`test` where their fraction is > 0."""
    if split is None:
        return ["train"]
    return ["train"] + [p for p in ("validation", "test") if getattr(split, p) > 0]
