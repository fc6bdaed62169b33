"""Preprocessing layers the spec gives no state to (`Normalization`, ...), adapted on the
training data before fit."""

from __future__ import annotations

from typing import Any

from kerascli.data.model_arrays import Split
from kerascli.data.pipeline import sample_rows
from kerascli.data.stream import Stream
from kerascli.spec.blocks import expand
from kerascli.spec.facts import inputs_by_array_key
from kerascli.spec.models import Spec

ADAPTABLE = {
    "Normalization": ("mean", "variance"),
    "Discretization": ("bin_boundaries",),
    "TextVectorization": ("vocabulary",),
    "StringLookup": ("vocabulary",),
    "IntegerLookup": ("vocabulary",),
}


def _stateless_preprocessing(spec: Spec, model: Any) -> list[tuple[str, Any]]:
    """(node or layer name, layer) of each preprocessing layer the spec gives no state to
    (a `Normalization` without `mean`/`variance`, ...), in model order."""
    found: list[tuple[str, Any]] = []
    if spec.model.sequential is not None:
        layers = zip(spec.model.sequential.layers, model.layers, strict=False)
        for i, (layer_call, layer) in enumerate(layers):
            ((name, args),) = layer_call.items()
            if name in ADAPTABLE and not any(k in args for k in ADAPTABLE[name]):
                found.append((f"layers[{i}]", layer))  # stable, unlike Keras's layer names
    elif spec.model.functional is not None:
        for node_name, expanded in expand(spec.model).nodes.items():
            node_call = expanded.node.layer
            if node_call is None or node_call[0] not in ADAPTABLE:
                continue
            class_name, args = node_call
            if not any(k in args for k in ADAPTABLE[class_name]):
                found.append((node_name, model.get_layer(args.get("name", node_name))))
        order = {id(layer): i for i, layer in enumerate(model.layers)}
        found.sort(key=lambda item: order.get(id(item[1]), 0))
    return found


def adapt_preprocessing(spec: Spec, model: Any, train: Split | Stream) -> list[str]:
    """Adapt the preprocessing layers the spec gives no state to (`Normalization`, ...) on the
    training data as it reaches them: the model's inputs, or the outputs of the layers before
    (those adapted first). They see at most `data.adapt_rows` rows (`sample_rows`)."""
    from kerascli.model.keras_env import import_keras

    keras = import_keras()
    adapted: list[str] = []
    stateless = _stateless_preprocessing(spec, model)  # none in a subclass model
    if not stateless:
        return adapted
    try:  # the model's inputs as the data feeds them: one tensor, or a dict by spec key
        structure = model.input
    except (AttributeError, ValueError):
        structure = model.inputs[0]
    rows = spec.data.adapt_rows if spec.data is not None else None
    x = sample_rows(train, rows, spec.seed)
    if isinstance(structure, list):  # several inputs, in declared order: by their keys
        structure = dict(zip(inputs_by_array_key(spec), structure, strict=True))
    for name, layer in stateless:
        if isinstance(structure, dict):
            keys = [key for key, tensor in structure.items() if tensor is layer.input]
            direct = bool(keys)
        else:
            keys, direct = [], structure is layer.input
        if direct:  # fed directly by a model input
            layer.adapt(x[keys[0]] if keys and isinstance(x, dict) else x)
        else:
            upstream = keras.Model(structure, layer.input)
            layer.adapt(upstream.predict(x, verbose=0, batch_size=256))
        adapted.append(name)
    return adapted
