"""`Stream`: one split of data that is never read whole into memory (a streamed table, Parquet,
TFRecord shards, an image or text folder).

A stream gives its data two ways: `chunks()`, model-ready numpy `Split`s of a bounded number of
rows in source order (predict, evaluate, adapt and the class pass read these), and `dataset()`,
its unbatched tf.data elements for `fit` (`kerascli.data.pipeline.make_dataset` shuffles,
batches, augments and prefetches them). A problem found while the pipeline runs is raised as
the located `DataError` the source's reader found (`failure`), not as TensorFlow's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerascli.data.model_arrays import Split
from kerascli.spec.facts import SINGLE
from kerascli.spec.problems import DataError, KerasCliError

CHUNK_ROWS = 65_536
"""Rows a chunk of a streamed table holds at most (a few MB for a few hundred columns)."""


@dataclass
class Chunk:
    """Model-ready rows of a stream, in source order, and the columns kept for `predict --keep`
    (by name, one value per row)."""

    split: Split
    kept: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class Stream:
    """One split of streamed data.

    Args:
        chunks: Model-ready chunks in source order (each call starts from the first row).
        elements: `(training, seed) -> tf.data.Dataset` of unbatched `(x, y[, w])` elements
            (`x` alone without targets); `None` builds them from `chunks`.
        rows: The rows, where known without reading the data (a folder's files).
        label_counts: Rows per class id by output key (`np.bincount` of the ids), where the
            source knows them (a folder's listing, a table's class pass); for the target checks
            and `class_weight: balanced`.
        shuffles_itself: `elements` shuffles (a folder shuffles its file list, not decoded
            images), so the pipeline adds no shuffle buffer.
        what: What the stream reads, for messages (a folder, a glob).
        locate: Finds the located error behind a TensorFlow error its `elements` raised (an
            image that does not decode: which file), where `failure` holds none.
    """

    chunks: Callable[[], Iterator[Chunk]]
    elements: Callable[[bool, int | None], Any] | None = None
    rows: int | None = None
    label_counts: dict[str, np.ndarray] | None = None
    shuffles_itself: bool = False
    what: str = ""
    locate: Callable[[BaseException], KerasCliError | None] | None = None
    failure: KerasCliError | None = field(default=None, repr=False)

    def dataset(self, training: bool, seed: int | None) -> Any:
        """The stream's unbatched tf.data elements."""
        if self.elements is not None:
            return self.elements(training, seed)
        return self._from_chunks()

    def signature(self) -> Any:
        """The `tf.TensorSpec` structure of the stream's `(x, y[, w])`, rows left free (from
        its first chunk)."""
        import tensorflow as tf

        first = next(self.guarded(self.chunks()), None)
        if first is None:
            raise DataError("no rows to read", self.what)
        return tf.nest.map_structure(_spec_of, parts(first.split))

    def _from_chunks(self) -> Any:
        import tensorflow as tf

        signature = self.signature()

        def generate() -> Iterator[Any]:
            for chunk in self.guarded(self.chunks()):
                yield parts(chunk.split)

        chunks = tf.data.Dataset.from_generator(generate, output_signature=signature)
        return chunks.unbatch()

    def guarded(self, chunks: Iterator[Chunk]) -> Iterator[Chunk]:
        """`chunks`, remembering the located error a reader raises (`failure`): inside tf.data
        it surfaces as TensorFlow's error, which `raise_failure` turns back into this one."""
        try:
            yield from chunks
        except KerasCliError as exc:
            self.failure = exc
            raise


def parts(split: Split) -> Any:
    """The `(x, y[, w])` (or `x`) structure a split feeds `fit`, `evaluate` and `predict`."""
    items: tuple[Any, ...] = (split.x,) if split.y is None else (split.x, split.y)
    if split.w is not None:
        items = (*items, split.w)
    return items if len(items) > 1 else items[0]


def _pick(values: Any, index: Any) -> Any:
    if values is None:
        return None
    return {k: v[index] for k, v in values.items()} if isinstance(values, dict) else values[index]


def take(split: Split, index: np.ndarray) -> Split:
    """The rows `index` of a split (an array of row numbers)."""
    return Split(_pick(split.x, index), _pick(split.y, index), len(index), _pick(split.w, index))


def rows(split: Split, start: int, stop: int) -> Split:
    """The rows `start` to `stop` of a split (views, not copies)."""
    index = slice(start, stop)
    return Split(_pick(split.x, index), _pick(split.y, index), stop - start, _pick(split.w, index))


def _joined(a: Any, b: Any) -> Any:
    if a is None:
        return None
    if isinstance(a, dict):
        return {k: np.concatenate([a[k], b[k]]) for k in a}
    return np.concatenate([a, b])


def join(first: Split, second: Split) -> Split:
    """The rows of `first`, then those of `second`."""
    x, y, w = (_joined(getattr(first, f), getattr(second, f)) for f in ("x", "y", "w"))
    return Split(x, y, first.rows + second.rows, w)


def with_target_dtypes(split: Split, dtypes: dict[str, np.dtype]) -> Split:
    """`split` with each numeric target (by output key) in the dtype its source's target pass
    found: every chunk of a stream then has the same element types (`split_of_table` makes a
    chunk of whole floats class ids, the next float32)."""
    y = split.y
    if isinstance(y, dict):
        y = {k: v.astype(dtypes[k], copy=False) if k in dtypes else v for k, v in y.items()}
    elif y is not None and SINGLE in dtypes:
        y = y.astype(dtypes[SINGLE], copy=False)
    return Split(split.x, y, split.rows, split.w)


def _spec_of(values: np.ndarray) -> Any:
    """The `tf.TensorSpec` of a chunk's array, its row count left free."""
    import tensorflow as tf

    dtype = tf.string if values.dtype.kind in "US" else tf.as_dtype(values.dtype)
    return tf.TensorSpec((None, *values.shape[1:]), dtype)


@contextmanager
def located_failures(splits: Iterable[Any]) -> Iterator[None]:
    """Run `fit`, `evaluate` or `predict` over `splits`: an error raised while a stream among
    them is read is the located error its reader found (`raise_failure`)."""
    try:
        yield
    except KerasCliError:
        raise
    except Exception as exc:
        raise_failure(splits, exc)
        raise


def raise_failure(splits: Iterable[Any], error: BaseException) -> None:
    """Raise the located error a stream among `splits` remembered (`Stream.failure`) in place of
    TensorFlow's `error`; nothing when no stream failed."""
    for split in splits:
        if not isinstance(split, Stream):
            continue
        failure, split.failure = split.failure, None
        if failure is None and split.locate is not None:
            failure = split.locate(error)
        if failure is not None:
            raise failure from None
