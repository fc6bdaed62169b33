"""Where a run trains: the `tf.distribute` strategy its `distribute:` section asks for, and this
process's part in it (`Placement`): the one place that knows replicas, workers and the chief.

A strategy is created before TensorFlow runs any op (a multi-worker strategy configures the
runtime's collectives; splitting the CPU into logical devices must precede its first use), so
`place` comes first in `kerascli.run.trainer.train`. The model is built and compiled, and `fit`,
`evaluate` and the save run, in `Placement.scope()`. Only the chief writes the run directory;
another worker writes its run to a temporary directory, removed when training ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerascli.model.keras_private import all_layers
from kerascli.run.rundir import RunDir
from kerascli.run.strategies import StrategyFailed, create_strategy
from kerascli.spec.check_distribute import replica_problems
from kerascli.spec.models import Spec
from kerascli.spec.problems import SpecError

WORKER_DIR = "KERASCLI_WORKER_DIR"
"""Where a non-chief worker writes its run (the local launcher sets it); else a new temp dir."""


@dataclass
class Placement:
    """A run's strategy and this process's part in it.

    Attributes:
        name: The spec's `distribute.strategy` (`default` without a `distribute:` section).
        strategy: The `tf.distribute.Strategy`, or `None` for Keras's default (no scope).
        workers: How many workers train together (1 but for `multi_worker`).
        task: This worker's TF_CONFIG task, `{"type": "worker", "index": 0}`, in a cluster.
        chief: Whether this process writes the run (the only worker, or the cluster's chief).
        keras_fix: The upstream Keras issue patched for training under a strategy
            (`distribute_fix`).
    """

    name: str = "default"
    strategy: Any = None
    workers: int = 1
    task: dict[str, Any] | None = None
    chief: bool = True
    keras_fix: str | None = None
    _temp: Path | None = field(default=None, repr=False)

    @property
    def replicas(self) -> int:
        """The replicas one global batch is split over."""
        return 1 if self.strategy is None else int(self.strategy.num_replicas_in_sync)

    @property
    def devices(self) -> list[str]:
        """This worker's devices the strategy trains on."""
        if self.strategy is None:
            return []
        return [str(d) for d in self.strategy.extended.worker_devices]

    def scope(self) -> contextlib.AbstractContextManager[Any]:
        """The strategy's scope (nothing without a strategy)."""
        return contextlib.nullcontext() if self.strategy is None else self.strategy.scope()

    def runs_dir(self, runs_dir: str | Path) -> Path:
        """Where this process writes its run: `runs_dir` for the chief, else a temp directory."""
        if self.chief:
            return Path(runs_dir)
        given = os.environ.get(WORKER_DIR)
        if given:
            self._temp = Path(given)
            self._temp.mkdir(parents=True, exist_ok=True)
        else:
            self._temp = Path(tempfile.mkdtemp(prefix="kerascli-worker-"))
        return self._temp

    def chief_path(self, path: Path, runs_dir: str | Path) -> Path:
        """The chief's counterpart of `path`, a path under this worker's temp runs directory."""
        if self._temp is None:
            return path
        with contextlib.suppress(ValueError):
            return Path(runs_dir) / path.relative_to(self._temp)
        return path

    def barrier(self) -> None:
        """Wait until every worker is here (a collective sum); nothing with one worker."""
        if self.workers < 2:
            return
        import tensorflow as tf

        per_replica = self.strategy.run(lambda: tf.constant(1.0))
        self.strategy.reduce("SUM", per_replica, axis=None)

    def gather(self, value: float) -> list[float]:
        """`value` from every replica of every worker (a collective: all workers call it)."""
        if self.workers < 2:
            return [value]
        import tensorflow as tf

        per_replica = self.strategy.run(lambda: tf.constant([value], tf.float64))
        gathered = self.strategy.gather(per_replica, axis=0)
        return [float(v) for v in gathered.numpy()]

    def weights_digests(self, model: Any) -> list[float]:
        """A digest of the model's weights from every replica of every worker (the same number
        when the workers are in step)."""
        return self.gather(weights_digest(model.get_weights()))

    def close(self) -> None:
        """Remove a non-chief worker's temp directory."""
        if self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None


def weights_digest(weights: list[Any]) -> float:
    """One number that changes with any weight's value or place."""
    import numpy as np

    total = 0.0
    for i, w in enumerate(weights):
        flat = np.asarray(w, dtype=np.float64).ravel()
        total += float(np.dot(flat, np.sin(np.arange(flat.size) + i + 1.0)))
    return total


_PLACED: dict[str, Placement] = {}


def place(spec: Spec) -> Placement:
    """The placement `spec.distribute` asks for, its strategy created (once per process and
    setting: a second run in the process reuses it).

    Raises:
        SpecError: A device or setting this machine cannot give (located in the spec).
        StrategyFailed: TensorFlow already ran in this process, or refused the strategy.
    """
    dist = spec.distribute
    name = "default" if dist is None else dist.strategy
    if os.environ.get("TF_CONFIG") and name not in ("multi_worker", "tpu"):
        raise StrategyFailed(
            f"TF_CONFIG is set in the environment (a cluster), but distribute.strategy is "
            f"{name}: this process would train alone. Set distribute.strategy=multi_worker "
            "to train in the cluster, or unset TF_CONFIG"
        )
    if dist is None or dist.strategy == "default":
        return Placement()
    key = json.dumps([dist.model_dump(mode="json"), os.environ.get("TF_CONFIG")], sort_keys=True)
    if key not in _PLACED:
        strategy, cluster = create_strategy(spec)
        placement = Placement(dist.strategy, strategy, **_task(strategy, cluster))
        from kerascli.run.distribute_fix import apply

        placement.keras_fix = apply()  # Keras 3's fit under a strategy (distribute_fix)
        _PLACED[key] = placement
    first = _PLACED[key]
    return Placement(
        first.name, first.strategy, first.workers, first.task, first.chief, first.keras_fix
    )


def _task(strategy: Any, cluster: dict[str, Any] | None) -> dict[str, Any]:
    """`workers`, `task` and `chief` of a strategy in `cluster` (TF_CONFIG's, if any)."""
    if not cluster:
        return {}
    resolver = strategy.cluster_resolver
    task_type, task_id = resolver.task_type, resolver.task_id
    jobs = cluster.get("cluster", {})
    workers = sum(len(jobs.get(job, [])) for job in ("chief", "worker"))
    return {
        "workers": max(workers, 1),
        "task": {"type": task_type, "index": task_id},
        "chief": bool(strategy.extended.should_checkpoint),
    }


@contextlib.contextmanager
def placed(spec: Spec) -> Iterator[Placement]:
    """`place(spec)`, its temp directory removed as the block ends."""
    placement = place(spec)
    try:
        yield placement
    finally:
        placement.close()


def check_placement(placement: Placement, builder: Any, model: Any) -> list[str]:
    """Refuse what fails or differs under several replicas; synchronize BatchNormalization.

    Returns:
        The BatchNormalization layers made `synchronized` (statistics over the global batch,
        as on one device).

    Raises:
        SpecError: `steps_per_execution` > 1 (keras-team/keras#19246), or a global batch
            smaller than the replicas.
    """
    replicas, spec = placement.replicas, builder.spec
    if replicas < 2:
        return []
    problems = replica_problems(spec, replicas)
    if problems:
        raise SpecError([builder.doc.problem(path, message) for path, message, _ in problems])
    synced = []
    norm = builder.keras.layers.BatchNormalization
    for layer in all_layers(model):
        if isinstance(layer, norm) and not layer.synchronized:
            layer.synchronized = True
            synced.append(layer.name)
    return synced


def check_in_step(placement: Placement, model: Any, run: RunDir) -> None:
    """Every worker ends with the same weights, or the run fails (`weights_digests`)."""
    if placement.workers < 2:
        return
    digests = placement.weights_digests(model)
    run.update(distribute={**run.record["distribute"], "weights_digests": digests})
    if len(set(digests)) > 1:
        raise StrategyFailed(f"the workers ended with different weights (digests {digests})")
