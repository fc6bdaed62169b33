"""The `distribute:` section of a spec: which `tf.distribute` strategy trains the model, on which
devices, in which cluster, and at which precision.

What the section means for one process (its strategy, replicas, chief or not) is decided in one
place, `kerascli.run.distribute`; what can be told without TensorFlow is checked by
`kerascli.spec.check_distribute`.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, NonNegativeInt, PositiveInt, field_validator

from kerascli.spec.calls import Strict

Strategy = Literal["default", "one_device", "mirrored", "multi_worker", "parameter_server", "tpu"]
"""`distribute.strategy`'s values, each one `tf.distribute` strategy (`STRATEGY_CLASSES`)."""

STRATEGY_CLASSES = {
    "default": "the default strategy (no tf.distribute strategy)",
    "one_device": "OneDeviceStrategy",
    "mirrored": "MirroredStrategy",
    "multi_worker": "MultiWorkerMirroredStrategy",
    "parameter_server": "ParameterServerStrategy",
    "tpu": "TPUStrategy",
}

CLUSTER_RESOLVERS = (
    "TFConfigClusterResolver",
    "SlurmClusterResolver",
    "KubernetesClusterResolver",
    "TPUClusterResolver",
)
"""The `tf.distribute.cluster_resolver` classes a spec may name."""

Job = Literal["chief", "worker", "ps", "evaluator"]
"""The jobs of a cluster, as TF_CONFIG names them."""

Precision = Literal["float32", "mixed_float16", "mixed_bfloat16"]
"""Keras dtype policies a spec may train under (`keras.config.set_dtype_policy`)."""
MIXED = ("mixed_float16", "mixed_bfloat16")
"""The mixed policies: variables in float32, computations in a 16-bit float."""
CLUSTER_KEYS = ("cluster", "task", "cluster_resolver")
"""The keys that say which cluster a run joins (a cluster's, not `--workers`')."""

DEVICE = re.compile(
    r"^(/job:[A-Za-z0-9_]+(/replica:\d+)?(/task:\d+)?)?/(device:)?(?P<kind>CPU|GPU|TPU):(?P<index>\d+)$",
    re.IGNORECASE,
)
"""A TensorFlow device name: `/gpu:0`, `/device:GPU:1`, `/job:worker/task:0/device:CPU:0`
(groups `kind`, `index`)."""
ADDRESS = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d{1,5}$")
"""A cluster address: `host:port`."""


class TaskSpec(Strict):
    """This process's task in `distribute.cluster`, as TF_CONFIG's `task`."""

    type: Job = Field("worker", description="The task's job. Defaults to `worker`.")
    index: NonNegativeInt = Field(
        0, description="The task's index in its job's addresses. Defaults to 0."
    )


class DistributeSpec(Strict):
    """How `tf.distribute` trains the model (kerascli/run/distribute.py)."""

    strategy: Strategy = Field(
        "default",
        description="`default` (no strategy), `one_device` (OneDeviceStrategy), `mirrored` "
        "(MirroredStrategy: one machine, several devices), `multi_worker` "
        "(MultiWorkerMirroredStrategy: several machines or processes), `parameter_server`, "
        "`tpu` (TPUStrategy). Defaults to `default`.",
        examples=["mirrored"],
    )
    devices: list[str] | PositiveInt | None = Field(
        None,
        description="The devices of this machine to train on: names (`/gpu:0`), or a count N "
        "(the first N GPUs; where there is no GPU, the CPU split into N logical devices). "
        "Defaults to every GPU, or the CPU.",
        examples=[["/gpu:0", "/gpu:1"], 2],
    )
    cluster: dict[Job, list[str]] | None = Field(
        None,
        description="The cluster, as TF_CONFIG's `cluster` (job -> `host:port` addresses), for "
        "a run without TF_CONFIG in its environment. Defaults to TF_CONFIG.",
        examples=[{"worker": ["localhost:12345", "localhost:12346"]}],
    )
    task: TaskSpec | None = Field(
        None,
        description="This process's task in `cluster` (`--set distribute.task.index=1`). "
        "Defaults to worker 0.",
    )
    cluster_resolver: str | dict[str, dict[str, Any]] | None = Field(
        None,
        description="A tf.distribute.cluster_resolver class, or {Class: {arguments}}: "
        "`SlurmClusterResolver`, `KubernetesClusterResolver`, `TPUClusterResolver`, "
        "`TFConfigClusterResolver`. Defaults to TF_CONFIG (TPUClusterResolver for `tpu`).",
        examples=["SlurmClusterResolver", {"TPUClusterResolver": {"tpu": "my-tpu"}}],
    )
    communication: Literal["auto", "ring", "nccl"] = Field(
        "auto",
        description="MultiWorkerMirroredStrategy's collective implementation. Defaults to `auto`.",
    )
    mixed_precision: Precision = Field(
        "float32",
        description="The Keras dtype policy the model is built with: `mixed_float16` (GPUs), "
        "`mixed_bfloat16` (TPUs, recent CPUs and GPUs) or `float32`; the output layers stay "
        "float32. Defaults to `float32`.",
        examples=["mixed_float16"],
    )

    @field_validator("cluster_resolver", mode="before")
    @classmethod
    def _resolver_form(cls, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, dict) and len(value) == 1:
            ((name, args),) = value.items()
            return {name: {} if args is None else args}
        raise ValueError(
            "expected a cluster resolver class name, or {Class: {arguments}}, "
            f"got {type(value).__name__} {value!r}"
        )

    @field_validator("devices", mode="before")
    @classmethod
    def _devices_form(cls, value: Any) -> Any:
        if isinstance(value, str):  # `--set distribute.devices=/gpu:0`
            return [value]
        return value

    def resolver(self) -> tuple[str, dict[str, Any]] | None:
        """`cluster_resolver` as (class name, arguments), if given."""
        value = self.cluster_resolver
        if value is None:
            return None
        if isinstance(value, str):
            return value, {}
        ((name, args),) = value.items()
        return name, dict(args)
