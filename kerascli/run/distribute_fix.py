"""Keras 3's `fit`, `evaluate` and `predict` under a `tf.distribute` strategy: two upstream
bugs and our fix, in one module, to drop when Keras fixes them.

Upstream: keras-team/keras#20585 and tensorflow/tensorflow#72388. Keras 3's TensorFlow trainer
(`keras/src/backend/tensorflow/trainer.py`):

1. `TensorFlowTrainer._maybe_symbolic_build`, under any strategy, draws the first batch from a
   new iterator of the dataset to learn the input shapes. Under `MultiWorkerMirroredStrategy` it
   then fails: it reduces the `PerReplica` batch with `strategy.reduce("MEAN", ..., axis=None)`
   ("Attempt to convert a value (PerReplica...) with an unsupported type"). Under every
   strategy the extra iterator advances a reshuffling dataset's seed, so epoch 1 trains on the
   order epoch 2 would have without a strategy (measured: MirroredStrategy and
   OneDeviceStrategy then differ from no strategy from the first epoch). We build from the
   dataset's `element_spec` instead: the same shapes and dtypes, no batch drawn.
2. `reduce_per_replica`'s multi-worker `mean` calls `strategy.reduce("MEAN", v, axis=0)`, which
   fails on a scalar (a loss or a metric): we reduce scalars with `axis=None`.

Measured here (Keras 3.15, TF 2.21, CPU): with both changes, 2 local workers train, evaluate
and predict, end with identical weights, and their losses equal MirroredStrategy's on 2 devices
and one device's with the same seed and global batch (`tests/run/test_distribute.py`,
`tests/run/test_distribute_fix.py`). `apply` patches while `FIXED_IN` is unset or the installed
Keras is older than it; a test fails once an upgrade no longer needs the fix, so it is dropped
rather than kept by habit.
"""

from __future__ import annotations

import warnings
from typing import Any

UPSTREAM = "keras-team/keras#20585"
"""The upstream issue the fix works around."""
FIXED_IN: tuple[int, int] | None = None
"""The first Keras (major, minor) that fixes it upstream; `None` while none does."""

PATCHED = ("TensorFlowTrainer", "reduce_per_replica", "_collective_all_reduce_multi_worker")
"""What the fix needs in `keras/src/backend/tensorflow/trainer.py`."""
_applied = False


def rank(value: Any) -> int | None:
    """The rank of a tensor, or of one replica's value of a distributed one (a worker with
    several devices holds a `PerReplica`, which has no shape)."""
    import tensorflow as tf

    if isinstance(value, tf.distribute.DistributedValues):
        value = value.values[0]
    return value.shape.rank


def needed(version: str) -> bool:
    """Whether Keras `version` (`"3.15.1"`) needs the fix."""
    parts = version.split(".")
    major, minor = int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    return major == 3 and (FIXED_IN is None or (major, minor) < FIXED_IN)


def apply() -> str | None:
    """Patch Keras's TensorFlow trainer for training under a strategy, once per process.

    Returns:
        The upstream issue worked around (for `run.json`), or `None` when this Keras needs no fix.
    """
    global _applied
    import keras

    if not needed(keras.__version__):
        return None
    if _applied:
        return UPSTREAM
    from keras.src.backend.tensorflow import trainer

    if not all(hasattr(trainer, name) for name in PATCHED):
        warnings.warn(
            f"kerascli's fix for {UPSTREAM} does not apply to Keras {keras.__version__} (its "
            "TensorFlow trainer changed): training under a strategy may fail",
            stacklevel=2,
        )
        return None

    original = trainer.reduce_per_replica

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        import tensorflow as tf
        from keras.src import tree

        if reduction == "auto" and not isinstance(strategy, tf.distribute.TPUStrategy):
            reduction = "mean"
        if reduction == "mean" and trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=None if rank(v) == 0 else 0),
                values,
            )
        return original(values, strategy, reduction)

    def _maybe_symbolic_build(self: Any, iterator: Any = None, data_batch: Any = None) -> None:
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            data_batch = iterator.data_adapter.get_tf_dataset().element_spec
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    _applied = True
    return UPSTREAM
