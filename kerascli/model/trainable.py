"""Freeze and unfreeze a layer or a nested model, as the Keras transfer-learning guide does.

A setting is `true` / `false` (the layer and everything in it), `{last: N}` (only the last N layers
of a model train) or `{from: LAYER}` (the layers of a model from LAYER on, in `model.layers` order,
train). Setting `trainable` on a model sets it on all its layers (Keras 3), so a partial setting
first unfreezes the whole model, then freezes the layers before the cut.

BatchNormalization: in Keras 3 a BatchNormalization layer with `trainable=False` runs in inference
mode (it uses and keeps its moving statistics). The guide's advice when unfreezing a backbone that
holds BatchNormalization layers is to call it with `training=False` (a node's `call: {training:
false}`), so that its statistics are not updated by the small fine-tuning data set.

Example:

    set_trainable(backbone, {"from": "block_12_expand"}, "'backbone'")
"""

from __future__ import annotations

from typing import Any

from kerascli.spec.models import needs_a_model, trainable_problem
from kerascli.spec.problems import did_you_mean


def set_trainable(layer: Any, setting: Any, where: str) -> None:
    """Apply a trainable setting to `layer` (a keras Layer or Model).

    Args:
        layer: The layer or model to freeze or unfreeze.
        setting: `True`, `False`, `{"last": N}` or `{"from": "LAYER"}`.
        where: What `layer` is, for messages, e.g. `"'backbone'"` (its name, quoted).

    Raises:
        ValueError: for a setting of another form, a dict form on a layer that is not a model,
            N out of range or an unknown layer name (with a did-you-mean).
    """
    first = check_trainable(layer, setting, where)
    if first is None:
        layer.trainable = setting
        return
    layer.trainable = True
    for inner in layer.layers[:first]:
        inner.trainable = False


def check_trainable(layer: Any, setting: Any, where: str) -> int | None:
    """Check a trainable setting for `layer` without applying it: `None` for `true`/`false`,
    else the index in `layer.layers` of the first layer that trains.

    Raises:
        ValueError: as `set_trainable` does.
    """
    if isinstance(setting, bool):
        return None
    problem = trainable_problem(setting)
    if problem is not None:
        raise ValueError(f"trainable of {where}: {problem}")
    layers = getattr(layer, "layers", None)
    if not isinstance(layers, list):
        raise ValueError(needs_a_model(setting, where, type(layer).__name__))
    return _first_trainable(layers, setting, where)


def _first_trainable(layers: list[Any], setting: dict[str, Any], where: str) -> int:
    """The index in `layers` of the first layer that trains."""
    if "last" in setting:
        count = setting["last"]
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= len(layers):
            raise ValueError(
                f"trainable {{last: N}} of {where} must be an integer from 0 to {len(layers)} "
                f"(its number of layers). Received: last={count!r}"
            )
        return len(layers) - count
    name = setting["from"]
    names = [inner.name for inner in layers]
    if name not in names:
        raise ValueError(
            f"trainable {{from: {name}}}: {where} has no layer '{name}'"
            f"{did_you_mean(str(name), names)}"
        )
    return names.index(name)
