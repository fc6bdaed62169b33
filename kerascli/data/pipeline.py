"""tf.data pipelines over model-ready arrays."""

from __future__ import annotations

from typing import Any

from kerascli.data.model_arrays import Split
from kerascli.spec.models import DataSpec


def make_dataset(
    split: Split,
    data: DataSpec | None,
    batch_size: int,
    seed: int | None,
    training: bool,
    sample_weight: Any = None,
) -> Any:
    """A batched `tf.data.Dataset` of `(x, y[, sample_weight])`; shuffled when training.

    numpy str arrays (the data of `dtype: string` inputs) batch as `tf.string` tensors.
    """
    import tensorflow as tf

    parts: tuple[Any, ...] = (split.x,) if split.y is None else (split.x, split.y)
    if sample_weight is not None:
        parts = (*parts, sample_weight)
    dataset = tf.data.Dataset.from_tensor_slices(parts if len(parts) > 1 else parts[0])
    cache = data.cache if data is not None else True
    if cache:
        dataset = dataset.cache()
    shuffle = data.shuffle if data is not None else True
    if training and shuffle:
        buffer = split.rows if shuffle is True else int(shuffle)
        dataset = dataset.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    prefetch = data.prefetch if data is not None else "autotune"
    if prefetch == "autotune":
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
    elif prefetch:
        dataset = dataset.prefetch(int(prefetch))
    return dataset
