"""`data.augment`: Keras preprocessing layers applied to training batches only, in the tf.data
pipeline (never in the saved model, so predict and evaluate see the data as it is)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kerascli.model.builder import Builder
from kerascli.run.adapt import ADAPTABLE
from kerascli.spec.facts import inputs_by_array_key, inputs_by_name
from kerascli.spec.problems import KeyPath


def augmentation(builder: Builder) -> Callable[[Any], Any] | None:
    """The function of a training batch's `x` that `data.augment` gives, or `None`.

    A list augments the model's only input; a mapping augments the inputs it names (by input
    name), each through its own layers, in order, with `training=True`.
    """
    data = builder.spec.data
    if data is None or not data.augment:
        return None
    # the inputs by name (as `data.augment` names them) and the key of each in a batch's `x`
    keys = dict(zip(inputs_by_name(builder.spec), inputs_by_array_key(builder.spec), strict=True))
    by_input: dict[str, tuple[list[Any], KeyPath]]
    if isinstance(data.augment, list):  # `validate` refuses a list for several inputs
        by_input = {next(iter(keys.values())): (data.augment, ("data", "augment"))}
    else:  # `validate` checks the names (`check_names.check_augment`)
        by_input = {
            keys[name]: (calls, ("data", "augment", name)) for name, calls in data.augment.items()
        }
    layers = {
        key: [_layer(builder, call, (*path, i)) for i, call in enumerate(calls)]
        for key, (calls, path) in by_input.items()
    }

    def augment(x: Any) -> Any:
        if isinstance(x, dict):
            return {key: _through(layers.get(key, []), value) for key, value in x.items()}
        return _through(next(iter(layers.values())), x)

    return augment


NOISE = ("GaussianNoise", "GaussianDropout")
"""Keras layers outside `keras.layers` preprocessing that augment a batch too."""


def _layer(builder: Builder, call: dict[str, Any], path: KeyPath) -> Any:
    """An augmentation layer: a Keras preprocessing layer that needs no adapting (`RandomFlip`,
    `RandomRotation`...), a noise layer, or a plugin's layer. A layer that learns or normalises
    (`Dense`, `BatchNormalization`, an unadapted `Normalization`) would change training
    batches only, silently: it belongs in the model."""
    layer = builder.call("layers", call, path)
    name = type(layer).__name__
    module = type(layer).__module__
    keras_layer = module.startswith("keras.")
    if keras_layer and ".preprocessing." not in module and name not in NOISE:
        raise builder.error(
            path,
            f"{name} is not a preprocessing layer: data.augment takes the layers that augment "
            "training batches (RandomFlip, RandomRotation, RandomZoom, GaussianNoise...); a "
            "layer that learns or normalises belongs in the model",
        )
    if name in ADAPTABLE:
        raise builder.error(
            path,
            f"{name} needs adapting to the data: put it in the model (it is adapted there, and "
            "travels into predict)",
        )
    return layer


def _through(layers: list[Any], x: Any) -> Any:
    for layer in layers:
        x = layer(x, training=True)
    return x
