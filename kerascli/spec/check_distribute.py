"""Checks of the `distribute:` section that need no TensorFlow: settings that go with another
strategy, a cluster that does not hold its task, device names and addresses that are no names,
and the strategy Keras 3 cannot train with. What only the machine tells (how many GPUs, whether
TF_CONFIG is set) is `kerascli.run.distribute`'s."""

from __future__ import annotations

from collections.abc import Iterator

from kerascli.spec.distribute_spec import (
    ADDRESS,
    CLUSTER_KEYS,
    CLUSTER_RESOLVERS,
    DEVICE,
    STRATEGY_CLASSES,
    DistributeSpec,
)
from kerascli.spec.models import Spec
from kerascli.spec.problems import Finding, KeyPath, did_you_mean

BASE: KeyPath = ("distribute",)
MAX_DEVICES = 64
"""The most devices one machine's `devices` may give (a count beyond is a slip: `2000`)."""
STEPS_PER_EXECUTION = "keras-team/keras#19246"
PARAMETER_SERVER = (
    "Keras 3's fit cannot train with ParameterServerStrategy: it needs a ClusterCoordinator, "
    "which Keras 3 does not create (fit fails: 'pass this dataset to "
    "ClusterCoordinator.create_per_worker_dataset'); use multi_worker"
)


def check_distribute(spec: Spec) -> Iterator[Finding]:
    """What is wrong in `spec.distribute`."""
    dist = spec.distribute
    if dist is None:
        return
    strategy = dist.strategy
    if strategy == "parameter_server":
        yield ((*BASE, "strategy"), PARAMETER_SERVER, False)
    yield from _check_devices(dist)
    yield from replica_problems(spec, known_replicas(dist))
    for key in CLUSTER_KEYS:
        takes = ("multi_worker", "tpu") if key == "cluster_resolver" else ("multi_worker",)
        if getattr(dist, key) is not None and strategy not in takes:
            yield (
                (*BASE, key),
                f"{key} is for a cluster (strategy {' or '.join(takes)}), but the strategy is "
                f"{strategy}",
                True,
            )
    if dist.communication != "auto" and strategy != "multi_worker":
        yield (
            (*BASE, "communication"),
            f"communication is MultiWorkerMirroredStrategy's, but the strategy is {strategy}",
            True,
        )
    yield from _check_cluster(dist)
    resolver = dist.resolver()
    if resolver is not None:
        name = resolver[0]
        if name not in CLUSTER_RESOLVERS:
            yield (
                (*BASE, "cluster_resolver"),
                f"unknown cluster resolver '{name}'{did_you_mean(name, CLUSTER_RESOLVERS)} "
                f"(one of {', '.join(CLUSTER_RESOLVERS)})",
                False,
            )
        elif (name == "TPUClusterResolver") != (strategy == "tpu"):
            want = "tpu" if name == "TPUClusterResolver" else "multi_worker"
            yield (
                (*BASE, "cluster_resolver"),
                f"{name} goes with strategy {want}, but the strategy is {strategy}",
                False,
            )


def _check_devices(dist: DistributeSpec) -> Iterator[Finding]:
    devices, strategy = dist.devices, dist.strategy
    if devices is None:
        return
    path = (*BASE, "devices")
    if strategy in ("default", "tpu", "parameter_server"):
        yield (
            path,
            f"devices go with strategy one_device, mirrored or multi_worker; "
            f"{STRATEGY_CLASSES[strategy]} chooses its own",
            True,
        )
        return
    count = devices if isinstance(devices, int) else len(devices)
    if strategy == "one_device" and count != 1:
        yield (path, f"one_device trains on one device, got {count}", False)
    if count > MAX_DEVICES:
        yield (path, f"at most {MAX_DEVICES} devices on one machine, got {count}", False)
        return
    if isinstance(devices, int):
        return
    if not devices:
        yield (path, "expected at least one device name, got an empty list", False)
    seen: set[str] = set()
    for i, name in enumerate(devices):
        match = DEVICE.match(name)
        if not match:
            yield (
                (*path, i),
                f"{name!r} is not a device name (expected e.g. /gpu:0, /cpu:1, /device:GPU:0)",
                False,
            )
        elif strategy == "multi_worker" and match["kind"].upper() != "GPU":
            yield (
                (*path, i),
                f"a multi_worker worker trains on the GPUs it is given, or else on its one CPU: "
                f"name GPUs (or leave devices out), got {name}",
                False,
            )
        elif name.lower().replace("device:", "") in seen:
            yield ((*path, i), f"device {name} is named twice", False)
        seen.add(name.lower().replace("device:", ""))


def _check_cluster(dist: DistributeSpec) -> Iterator[Finding]:
    cluster, task = dist.cluster, dist.task
    if task is not None and cluster is None:
        yield (
            (*BASE, "task"),
            "task is this process's place in distribute.cluster, which is not given "
            "(with TF_CONFIG in the environment, its own task is used)",
            True,
        )
    if cluster is None:
        return
    if dist.cluster_resolver is not None:
        yield (
            (*BASE, "cluster"),
            "give the cluster either as cluster or by cluster_resolver, not both",
            True,
        )
    if not cluster.get("worker") and not cluster.get("chief"):
        yield ((*BASE, "cluster"), "the cluster has no worker (expected worker: [host:port])", True)
    seen: set[str] = set()
    for job, addresses in cluster.items():
        for i, address in enumerate(addresses):
            path = (*BASE, "cluster", job, i)
            if not ADDRESS.match(address) or not 0 < int(address.rsplit(":", 1)[1]) < 65536:
                yield (path, f"{address!r} is not an address (expected host:port)", False)
            elif address in seen:
                yield (path, f"address {address} is in the cluster twice", False)
            seen.add(address)
    if task is not None:
        listed = cluster.get(task.type) or []
        if not listed:
            jobs = ", ".join(cluster)
            yield ((*BASE, "task", "type"), f"the cluster has no job '{task.type}' ({jobs})", False)
        elif task.index >= len(listed):
            yield (
                (*BASE, "task", "index"),
                f"{task.type} has {len(listed)} address(es): index 0 to {len(listed) - 1}, "
                f"got {task.index}",
                False,
            )


def known_replicas(dist: DistributeSpec) -> int:
    """The replicas a spec alone tells (at least): its device count for `mirrored`, its
    cluster's workers for `multi_worker`; 1 where only the machine tells."""
    if dist.strategy == "mirrored" and dist.devices is not None:
        return dist.devices if isinstance(dist.devices, int) else len(dist.devices)
    if dist.strategy == "multi_worker" and dist.cluster is not None:
        return sum(len(dist.cluster.get(job) or []) for job in ("chief", "worker"))
    return 1


def replica_problems(spec: Spec, replicas: int) -> list[Finding]:
    """What fails or cannot be split over `replicas` replicas: `steps_per_execution` > 1
    (keras-team/keras#19246), a global batch smaller than the replicas. Checked with the
    replicas the spec tells (`validate`), the launcher's workers and the strategy's own."""
    if replicas < 2:
        return []
    problems: list[Finding] = []
    if spec.compile.steps_per_execution > 1:
        problems.append(
            (
                ("compile", "steps_per_execution"),
                f"steps_per_execution > 1 fails with several replicas in Keras 3 "
                f"({STEPS_PER_EXECUTION}); this run has {replicas}: use 1",
                False,
            )
        )
    if spec.fit.batch_size < replicas:
        problems.append(
            (
                ("fit", "batch_size"),
                f"batch_size {spec.fit.batch_size} is the global batch, split over {replicas} "
                f"replicas: give at least {replicas} (one row a replica)",
                False,
            )
        )
    return problems
