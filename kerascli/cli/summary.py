"""A model summary (layers, output shapes, parameter counts) as data and as a Rich table."""

from __future__ import annotations

from typing import Any

from rich.table import Table


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


def summary_table(summary: dict[str, Any]) -> Table:
    table = Table(title=f"{summary['name']} ({summary['class']})", title_justify="left")
    table.add_column("layer")
    table.add_column("type")
    table.add_column("output shape")
    table.add_column("params", justify="right")
    for layer in summary["layers"]:
        table.add_row(layer["name"], layer["class"], layer["output_shape"], f"{layer['params']:,}")
    table.caption = (
        f"total {summary['total_params']:,} · trainable {summary['trainable_params']:,} · "
        f"non-trainable {summary['non_trainable_params']:,}"
    )
    table.caption_justify = "left"
    return table
