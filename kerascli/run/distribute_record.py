"""What `run.json` and `train.log` record about where a run trained (`distribute`, `devices`):
the strategy, replicas and devices, the global and per-replica batch, the speed switches in
effect, and the warnings a placement gives."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

from kerascli.run.distribute import Placement
from kerascli.run.rundir import RunDir
from kerascli.spec.models import Spec


def placement_record(
    placement: Placement, spec: Spec, model: Any, synchronized: list[str]
) -> dict[str, Any]:
    """What `run.json` records under `distribute`: the strategy, its replicas and devices, the
    global and per-replica batch, and the speed switches in effect."""
    from kerascli.model.precision import policy_name
    from kerascli.spec.distribute_spec import STRATEGY_CLASSES

    batch, replicas = spec.fit.batch_size, placement.replicas
    return {
        "strategy": placement.name,
        "class": STRATEGY_CLASSES[placement.name],
        "replicas": replicas,
        "devices": placement.devices,
        "workers": placement.workers,
        "task": placement.task,
        "chief": placement.chief,
        "global_batch_size": batch,
        "per_replica_batch_size": batch // replicas if batch % replicas == 0 else batch / replicas,
        "mixed_precision": policy_name(spec),
        "jit_compile": bool(getattr(model, "jit_compile", False)),
        "steps_per_execution": spec.compile.steps_per_execution,
        "keras_fix": placement.keras_fix,
        "synchronized_batch_norm": synchronized,
    }


def device_listing() -> list[dict[str, Any]]:
    """This machine's physical devices (`run.json` `devices`), with a GPU's name and compute
    capability where TensorFlow knows them."""
    import tensorflow as tf

    listing = []
    for device in tf.config.list_physical_devices():
        entry: dict[str, Any] = {"name": device.name, "type": device.device_type}
        if device.device_type == "GPU":
            with contextlib.suppress(Exception):
                details = tf.config.experimental.get_device_details(device)
                entry.update(
                    {k: list(v) if isinstance(v, tuple) else v for k, v in details.items()}
                )
        listing.append(entry)
    return listing


def record_placement(
    placement: Placement,
    builder: Any,
    model: Any,
    synchronized: list[str],
    run: RunDir,
    rec: Any,
    rows: int | None = None,
) -> None:
    """`distribute` and `devices` into `run.json`; the strategy and the layers synchronized
    into `train.log`, with a warning for an uneven batch (of the `rows` of the training split,
    where known) and for an output that is not float32 under mixed precision
    (`Builder.precision_problems`)."""
    spec, precision = builder.spec, builder.precision_problems
    record = placement_record(placement, spec, model, synchronized)
    run.update(distribute=record, devices=device_listing())
    if placement.strategy is not None:
        rec.log(
            f"distribute: {record['class']}, {record['replicas']} replica(s) on "
            f"{record['workers']} worker(s); global batch {record['global_batch_size']}"
        )
    if synchronized:
        rec.log(f"BatchNormalization synchronized across replicas: {', '.join(synchronized)}")
    warnings = [*precision, *uneven_batches(spec.fit.batch_size, placement.replicas, rows)]
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
        rec.log(f"warning: {warning}")


def uneven_batches(batch: int, replicas: int, rows: int | None) -> list[str]:
    """Warnings for batches that do not split evenly over the replicas: Keras averages each
    replica's loss over its own rows, so their rows weigh differently than on one device."""
    if replicas < 2:
        return []
    why = "Keras averages each replica's loss, so its rows weigh differently than on one device"
    if batch % replicas:
        return [
            f"batch_size {batch} does not split evenly over {replicas} replicas: {why} "
            f"(use a multiple of {replicas})"
        ]
    last = rows % batch if rows else 0
    if last % replicas:
        return [
            f"the last training batch of an epoch ({last} of {rows} rows) does not split evenly "
            f"over {replicas} replicas: {why}"
        ]
    return []
