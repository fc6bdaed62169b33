"""tf.data pipelines over a split: arrays in memory (`Split`) or a `Stream`.

One pipeline for both: cache, shuffle (training), batch, the stream's parallel map, augment
(training batches only), prefetch; and bounded samples of a split (`sample_rows`).
"""

from __future__ import annotations

import atexit
import itertools
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kerascli.data.model_arrays import Arrays, Split
from kerascli.data.stream import Stream, join, located_failures, parts, rows, take
from kerascli.spec.models import DataSpec

STREAM_SHUFFLE = 262_144
"""Rows of a table stream shuffled together unless `data.shuffle` sets it (four chunks)."""


def make_dataset(
    split: Split | Stream,
    data: DataSpec | None,
    batch_size: int,
    seed: int | None,
    training: bool,
    augment: Callable[[Any], Any] | None = None,
    cache_dir: str | Path | None = None,
) -> Any:
    """A batched `tf.data.Dataset` of `(x, y[, sample_weight])` (`x` alone without targets);
    shuffled and augmented when training.

    numpy str arrays (the data of `dtype: string` inputs) batch as `tf.string` tensors.

    Args:
        augment: A function of a batch's `x` (the spec's `data.augment` layers), applied to
            training batches only.
        cache_dir: Where `cache: disk` writes its cache file. Defaults to a temporary folder.
    """
    import tensorflow as tf

    data = data or DataSpec(path="-")
    streamed = isinstance(split, Stream)
    cached = _cache_kind(data, streamed)
    if isinstance(split, Stream) and split.elements is None and cached is None:
        pool = _shuffle_buffer(split, data) if training and data.shuffle else 0
        dataset = _prefetched(stream_batches(split, batch_size, pool, seed), data)
        return _augmented(dataset, data, augment) if training else dataset
    # a stream that shuffles itself (a folder's file list) does not when cached: the cache
    # would replay its first order; the buffer below shuffles the cached elements instead
    shuffled = isinstance(split, Stream) and split.shuffles_itself and cached is None
    if isinstance(split, Stream):
        dataset = split.dataset(training and shuffled, seed)
    else:
        dataset = tf.data.Dataset.from_tensor_slices(parts(split))
    dataset = _cache(dataset, cached, cache_dir)
    if training and data.shuffle and not shuffled:
        buffer = _shuffle_buffer(split, data)
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if training:
        dataset = _augmented(dataset, data, augment)
    return _prefetched(dataset, data)


def _augmented(dataset: Any, data: DataSpec, augment: Callable[[Any], Any] | None) -> Any:
    """Training batches through `data.augment`'s layers, in parallel, in order."""
    import tensorflow as tf

    if augment is None:
        return dataset
    parallel = tf.data.AUTOTUNE if data.parallel == "autotune" else int(data.parallel)
    return dataset.map(
        lambda x, *rest: (augment(x), *rest),  # training batches are (x, y[, w])
        num_parallel_calls=parallel,
        deterministic=True,
    )


def _prefetched(dataset: Any, data: DataSpec) -> Any:
    """`dataset` prefetched as `data.prefetch` says, and sharded by data under a multi-worker
    strategy: each worker keeps every N-th batch of the one order all workers make (seeded),
    so the global batches are one device's; sharding by file would change them, and fail on a
    source of fewer files than workers."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)
    if data.prefetch == "autotune":
        return dataset.prefetch(tf.data.AUTOTUNE)
    return dataset.prefetch(int(data.prefetch)) if data.prefetch else dataset


def stream_batches(stream: Stream, batch_size: int, pool: int, seed: int | None) -> Any:
    """A table stream's batches, made in numpy from its chunks (no per-row tf.data work).

    With `pool` (rows, > 0) the rows are shuffled: chunks gather into a pool of `pool` rows,
    whose rows are permuted (seeded, new each epoch) and half of them batched, the rest staying
    for the next chunk's rows to mix with — a shuffle buffer of `pool` rows. Every batch but
    the last holds `batch_size` rows.
    """
    import tensorflow as tf

    signature = stream.signature()
    epochs = itertools.count()

    def generate() -> Iterator[Any]:
        rng = np.random.default_rng([seed or 0, next(epochs)])
        pending: Split | None = None
        for chunk in stream.guarded(stream.chunks()):
            split = chunk.split if pending is None else join(pending, chunk.split)
            if pool and split.rows < pool:
                pending = split
                continue
            keep = 0
            if pool:
                split = take(split, rng.permutation(split.rows))
                keep = pool // 2
            ready = (split.rows - keep) // batch_size * batch_size
            yield from _batches(rows(split, 0, ready), batch_size)
            pending = rows(split, ready, split.rows)
        if pending is not None and pending.rows:
            if pool:
                pending = take(pending, rng.permutation(pending.rows))
            yield from _batches(pending, batch_size)

    return tf.data.Dataset.from_generator(generate, output_signature=signature)


def _batches(split: Split, batch_size: int) -> Iterator[Any]:
    for start in range(0, split.rows, batch_size):
        yield parts(rows(split, start, min(start + batch_size, split.rows)))


def _shuffle_buffer(split: Split | Stream, data: DataSpec) -> int:
    """Rows shuffled together: `data.shuffle` when a number; else every row of arrays in memory
    or of a cached folder (its decoded images are in the cache already), `STREAM_SHUFFLE` rows
    of a table stream."""
    if data.shuffle is not True:
        return int(data.shuffle)
    if isinstance(split, Split):
        return split.rows
    if split.shuffles_itself and split.rows is not None:
        return split.rows
    return STREAM_SHUFFLE


def _cache_kind(data: DataSpec, stream: bool) -> str | None:
    """`data.cache` as `memory`, `disk` or `None`: memory by default for arrays, none for a
    stream."""
    cache = data.cache if data.cache is not None else not stream
    if cache is True or cache == "memory":
        return "memory"
    return "disk" if cache == "disk" else None


def _cache(dataset: Any, cache: str | None, cache_dir: str | Path | None) -> Any:
    """The dataset cached after its first pass, in memory or in a file (`_cache_kind`)."""
    if cache == "memory":
        return dataset.cache()
    if cache == "disk":
        if cache_dir is None:  # a temporary folder, removed when the process ends
            cache_dir = tempfile.mkdtemp(prefix="kerascli-cache-")
            atexit.register(shutil.rmtree, cache_dir, True)
        folder = Path(cache_dir)
        folder.mkdir(parents=True, exist_ok=True)
        return dataset.cache(str(folder / "data"))
    return dataset


SAMPLE_BYTES = 1 << 30
"""The most bytes of inputs a sample of a stream holds (`sample_rows`): 100 000 images of
224x224x3 would be 60 GB."""


def sample_rows(split: Split | Stream, rows: int | None, seed: int | None) -> Arrays:
    """Inputs (`x`) of at most `rows` rows of a split (every row with `None`), a seeded sample
    of the whole split: of arrays in memory, of a folder's shuffled file list, or of a table
    stream's rows (one pass over its chunks). A stream's sample holds at most `SAMPLE_BYTES`."""
    if isinstance(split, Split):
        if rows is None or split.rows <= rows:
            return split.x
        index = np.sort(np.random.default_rng(seed or 0).permutation(split.rows)[:rows])
        return _take(split.x, index)
    if split.shuffles_itself and split.elements is not None:
        return _first_shuffled(split, rows, seed)
    rng = np.random.default_rng(seed or 0)
    kept: Arrays | None = None
    keys = np.empty(0)
    limit = rows
    for chunk in split.guarded(split.chunks()):
        x = chunk.split.x
        if limit is None or kept is None:
            limit = _row_limit(x, rows)
        # the rows with the `limit` smallest random keys so far: a uniform sample, one pass
        pool = x if kept is None else _concatenate([kept, x])
        keys = np.concatenate([keys, rng.random(chunk.split.rows)])
        if limit is not None and len(keys) > limit:
            best = np.sort(np.argpartition(keys, limit)[:limit])
            pool, keys = _take(pool, best), keys[best]
        kept = pool
    if kept is None:
        raise_empty(split)
    assert kept is not None
    return kept


def _first_shuffled(split: Stream, rows: int | None, seed: int | None) -> Arrays:
    """The first `rows` inputs of a stream that shuffles itself (a folder's file list)."""
    dataset = split.dataset(True, seed)
    taken: list[Arrays] = []
    have, limit = 0, rows
    with located_failures([split]):
        for element in dataset.batch(256):
            x = element[0] if isinstance(element, tuple) else element
            x = {k: v.numpy() for k, v in x.items()} if isinstance(x, dict) else x.numpy()
            limit = _row_limit(x, rows) if not taken else limit
            taken.append(x)
            have += len(next(iter(x.values())) if isinstance(x, dict) else x)
            if limit is not None and have >= limit:
                break
    if not taken:
        raise_empty(split)
    x = _concatenate(taken)
    return _take(x, np.arange(limit)) if limit is not None and have > limit else x


def _row_limit(x: Arrays, rows: int | None) -> int | None:
    """`rows`, or fewer where that many rows like those of `x` would pass `SAMPLE_BYTES`."""
    arrays = list(x.values()) if isinstance(x, dict) else [x]
    per_row = sum(a.nbytes // max(len(a), 1) for a in arrays) or 1
    most = max(SAMPLE_BYTES // per_row, 1)
    return most if rows is None else min(rows, most)


def raise_empty(split: Stream) -> None:
    from kerascli.spec.problems import DataError

    raise DataError("no rows to read", split.what)


def _take(x: Arrays, index: np.ndarray) -> Arrays:
    return {k: v[index] for k, v in x.items()} if isinstance(x, dict) else x[index]


def _concatenate(pieces: list[Arrays]) -> Arrays:
    first = pieces[0]
    if isinstance(first, dict):
        return {k: np.concatenate([p[k] for p in pieces]) for k in first}  # type: ignore[index]
    return np.concatenate(pieces)  # type: ignore[arg-type]
