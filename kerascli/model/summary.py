"""A built model's summary as plain data: layers, output shapes, parameter counts (what
`kerascli summary` shows, and its `--json` document)."""

from __future__ import annotations

from typing import Any


def _shape(layer: Any) -> str:
    try:
        output = layer.output
    except (AttributeError, ValueError):
        return "?"
    if isinstance(output, dict):
        return ", ".join(f"{k}: {tuple(v.shape)}" for k, v in output.items())
    if isinstance(output, (list, tuple)):
        return ", ".join(str(tuple(o.shape)) for o in output)
    return str(tuple(output.shape))


def model_summary(model: Any) -> dict[str, Any]:
    """Plain data about a built model."""
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    total = int(model.count_params())
    return {
        "name": model.name,
        "class": type(model).__name__,
        "layers": [
            {
                "name": layer.name,
                "class": type(layer).__name__,
                "output_shape": _shape(layer),
                "params": int(layer.count_params()) if layer.built else 0,
            }
            for layer in model.layers
        ],
        "total_params": total,
        "trainable_params": trainable,
        "non_trainable_params": total - trainable,
    }
