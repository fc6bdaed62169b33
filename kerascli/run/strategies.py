"""Create the `tf.distribute` strategy a spec's `distribute:` names, on this machine's devices.

`create_strategy` is called once per process before TensorFlow runs any op (through
`kerascli.run.distribute.place`). Device names and counts the machine cannot give are located
spec errors; TensorFlow refusing the strategy is a one-line runtime failure.
"""

from __future__ import annotations

import json
import os
from typing import Any

from kerascli.spec.distribute_spec import DEVICE
from kerascli.spec.models import Spec
from kerascli.spec.problems import KerasCliError, KeyPath, SpecError, short_message
from kerascli.spec.source import Document

STARTED = (
    "the {what} must be set up before TensorFlow runs any op, and this process already ran "
    "one: train in a new process (kerascli train), or create the strategy first"
)


class StrategyFailed(KerasCliError):
    """TensorFlow refused to create the strategy (no TPU, an unreachable cluster, ...)."""


def _error(spec: Spec, path: KeyPath, message: str) -> SpecError:
    doc = spec.document or Document(None, "<spec>")
    return SpecError([doc.problem(("distribute", *path), message)])


def create_strategy(spec: Spec) -> tuple[Any, dict[str, Any] | None]:
    """The strategy `spec.distribute` names, and the cluster it joined (TF_CONFIG's form:
    `{"cluster": ..., "task": ...}`), if any."""
    from kerascli.model.keras_env import import_keras

    import_keras()
    import tensorflow as tf

    dist = spec.distribute
    assert dist is not None and dist.strategy != "default"
    try:
        if dist.strategy == "one_device":
            devices = _devices(spec, tf)
            return tf.distribute.OneDeviceStrategy(devices[0] if devices else _first(tf)), None
        if dist.strategy == "mirrored":
            return tf.distribute.MirroredStrategy(devices=_devices(spec, tf)), None
        if dist.strategy == "multi_worker":
            return _multi_worker(spec, tf)
        if dist.strategy == "tpu":
            return _tpu(spec, tf), None
    except RuntimeError as exc:
        if "initialized" in str(exc) or "program startup" in str(exc):
            what = "multi-worker strategy" if dist.strategy == "multi_worker" else "devices"
            raise StrategyFailed(STARTED.format(what=what)) from exc
        raise StrategyFailed(f"{dist.strategy}: {short_message(exc)}") from exc
    except (ValueError, tf.errors.OpError) as exc:
        raise StrategyFailed(f"{dist.strategy}: {short_message(exc)}") from exc
    raise _error(spec, ("strategy",), f"strategy {dist.strategy} cannot train with Keras 3")


def _first(tf: Any) -> str:
    return "/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"


def _devices(spec: Spec, tf: Any) -> list[str] | None:
    """The device names `distribute.devices` gives, checked against the machine; a count, or
    CPU names beyond the first, split the CPU into logical devices where there is no GPU."""
    dist = spec.distribute
    assert dist is not None
    wanted = dist.devices
    if wanted is None:
        return None
    gpus = tf.config.list_physical_devices("GPU")
    if isinstance(wanted, int):
        if gpus:
            if wanted > len(gpus):
                raise _error(
                    spec, ("devices",), f"{wanted} GPUs asked, this machine has {len(gpus)}"
                )
            return [f"/gpu:{i}" for i in range(wanted)]
        _split_cpu(tf, wanted)
        return [f"/cpu:{i}" for i in range(wanted)]
    cpus = 0
    for i, name in enumerate(wanted):
        match = DEVICE.match(name)
        if match is None:
            continue
        kind, index = match["kind"].upper(), int(match["index"])
        if kind == "GPU" and index >= len(gpus):
            have = f"{len(gpus)} GPU(s)" if gpus else "no GPU"
            raise _error(spec, ("devices", i), f"no {name} on this machine (it has {have})")
        if kind == "TPU":
            raise _error(spec, ("devices", i), "TPU cores are the tpu strategy's: use strategy tpu")
        if kind == "CPU":
            cpus = max(cpus, index + 1)
    if cpus > 1:
        _split_cpu(tf, cpus)
    return list(wanted)


def _split_cpu(tf: Any, count: int) -> None:
    """Make the CPU `count` logical devices (`/cpu:0` ... `/cpu:<count-1>`), if not already."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    current = tf.config.get_logical_device_configuration(cpu)
    if current is not None and len(current) >= count:
        return
    config = [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
    tf.config.set_logical_device_configuration(cpu, config)


def _cluster(spec: Spec) -> dict[str, Any] | None:
    """The cluster a multi-worker run joins: the spec's `cluster` and `task`, or TF_CONFIG."""
    dist = spec.distribute
    assert dist is not None
    env = os.environ.get("TF_CONFIG")
    if dist.cluster is not None:
        if env:
            raise _error(
                spec,
                ("cluster",),
                "TF_CONFIG is set in the environment and distribute.cluster in the spec: give one",
            )
        task = dist.task.model_dump() if dist.task is not None else {"type": "worker", "index": 0}
        return {"cluster": dict(dist.cluster), "task": task}
    if not env:
        return None
    try:
        config = json.loads(env)
    except ValueError as exc:
        raise StrategyFailed(f"TF_CONFIG is not JSON: {short_message(exc)}") from exc
    if not isinstance(config, dict) or not isinstance(config.get("cluster"), dict):
        raise StrategyFailed("TF_CONFIG has no cluster (expected {cluster: ..., task: ...})")
    return config


def _multi_worker(spec: Spec, tf: Any) -> tuple[Any, dict[str, Any] | None]:
    dist = spec.distribute
    assert dist is not None
    implementation = getattr(
        tf.distribute.experimental.CommunicationImplementation, dist.communication.upper()
    )
    options = tf.distribute.experimental.CommunicationOptions(implementation=implementation)
    resolver_call = dist.resolver()
    cluster = None
    if resolver_call is not None:
        resolver = _resolver(spec, tf, *resolver_call)
        cluster = {"cluster": resolver.cluster_spec().as_dict()}
    else:
        cluster = _cluster(spec)
        resolver = None
        if cluster is not None:
            task = cluster.get("task", {})
            resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
                tf.train.ClusterSpec(cluster["cluster"]),
                task_type=task.get("type"),
                task_id=task.get("index"),
                rpc_layer="grpc",
            )
    if dist.devices is not None:
        _visible_gpus(spec, tf)
    strategy = tf.distribute.MultiWorkerMirroredStrategy(
        cluster_resolver=resolver, communication_options=options
    )
    return strategy, cluster


def _visible_gpus(spec: Spec, tf: Any) -> None:
    """Keep the GPUs `distribute.devices` gives visible: a worker trains on its visible GPUs
    (the first N for a count; names are GPUs, `check_distribute` says)."""
    dist = spec.distribute
    assert dist is not None and dist.devices is not None
    gpus = tf.config.list_physical_devices("GPU")
    wanted = dist.devices
    names = [f"/gpu:{i}" for i in range(wanted)] if isinstance(wanted, int) else wanted
    keep = []
    for i, name in enumerate(names):
        match = DEVICE.match(name)
        index = int(match["index"]) if match else 0
        if index >= len(gpus):
            have = f"{len(gpus)} GPU(s)" if gpus else "no GPU"
            where = ("devices",) if isinstance(wanted, int) else ("devices", i)
            raise _error(spec, where, f"no {name} on this machine (it has {have})")
        keep.append(gpus[index])
    tf.config.set_visible_devices(keep, "GPU")


def _resolver(spec: Spec, tf: Any, name: str, args: dict[str, Any]) -> Any:
    cls = getattr(tf.distribute.cluster_resolver, name)
    try:
        return cls(**args)
    except TypeError as exc:
        raise _error(spec, ("cluster_resolver",), f"{name}: {short_message(exc)}") from exc


def _tpu(spec: Spec, tf: Any) -> Any:
    dist = spec.distribute
    assert dist is not None
    name, args = dist.resolver() or ("TPUClusterResolver", {})
    try:
        resolver = _resolver(spec, tf, name, args)
    except ValueError as exc:  # "Please provide a TPU Name to connect to."
        raise StrategyFailed(
            f"tpu: no TPU to connect to ({short_message(exc)}); on a TPU VM give "
            "cluster_resolver: {TPUClusterResolver: {tpu: local}}, else the TPU's name"
        ) from exc
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
