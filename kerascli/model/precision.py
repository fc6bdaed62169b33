"""Mixed precision: the Keras dtype policy a spec's model is built under
(`distribute.mixed_precision`), and the float32 outputs Keras advises under a mixed policy.

Layers take the global dtype policy when they are constructed, so the builder sets it for the
build only (`dtype_policy`) and the model keeps it: `compile` wraps the optimizer in a
`LossScaleOptimizer` for a model built under `mixed_float16`, and a saved model reloads with its
layers' policies. Under a mixed policy the layer that produces each model output is built with
`dtype="float32"` (`output_args`) unless the spec writes its `dtype`: the last layer of a
Sequential model, the output nodes of a Functional one. An application, a `reuse:` node, an op,
or a subclass model (its plugin decides its layers' dtypes) is left as it is; `output_problems`
names the outputs that still compute in a lower precision.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kerascli.model.keras_env import import_keras
from kerascli.spec.distribute_spec import MIXED
from kerascli.spec.models import Spec


def policy_name(spec: Spec) -> str:
    """The dtype policy the spec's model is built and trained under; `float32` when the spec
    has no `distribute` section."""
    return "float32" if spec.distribute is None else spec.distribute.mixed_precision


@contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Set Keras's global dtype policy to `name` for the block, and restore the one before it
    afterwards (also on an error), so that one build does not leave its policy to the next."""
    keras = import_keras()
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def output_args(args: dict[str, Any], policy: str) -> dict[str, Any]:
    """The arguments of a layer that produces a model output: `dtype: float32` added under a
    mixed `policy` (the loss is then computed in float32), unless `args` gives a `dtype`."""
    if policy not in MIXED or "dtype" in args:
        return args
    return {**args, "dtype": "float32"}


def output_problems(model: Any, outputs: Any = None) -> list[str]:
    """Under a mixed policy, one line for each model output that is not float32 (a subclass
    model's, an application head's, an op's), for a warning; none under float32.

    Args:
        model: A built model.
        outputs: What the model returned on a sample (a subclass model keeps no `outputs`).
            Defaults to `model.outputs`.
    """
    keras = import_keras()
    policy = model.dtype_policy.name
    if policy not in MIXED:
        return []
    if outputs is None:
        outputs = getattr(model, "outputs", None) or []
    return [
        f"output '{name}' is {dtype} under {policy}: its loss loses precision "
        "(end it with a layer of `dtype: float32`)"
        for name, tensor in _named(outputs, getattr(model, "output_names", None))
        if (dtype := keras.backend.standardize_dtype(tensor.dtype)) != "float32"
    ]


def _named(outputs: Any, names: list[str] | None) -> list[tuple[str, Any]]:
    """`outputs` (a tensor, a list or a dict of them) as (name, tensor) pairs."""
    if isinstance(outputs, dict):
        return [(str(k), v) for k, v in outputs.items()]
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    if names is None or len(names) != len(outputs):
        names = [str(i) for i in range(len(outputs))]
    return list(zip(names, outputs, strict=True))
