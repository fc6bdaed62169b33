"""`model.compile(...)` from the spec's `compile:` section.

What each output gets is a spec fact (`kerascli.spec.outputs`); this module builds the Keras
objects and calls `model.compile`.
"""

from __future__ import annotations

from typing import Any

from kerascli.model.builder import Builder
from kerascli.spec.log_names import metric_args
from kerascli.spec.models import call_parts
from kerascli.spec.outputs import (
    Placed,
    keras_losses,
    keras_metrics,
    loss_weights_problem,
    per_output_problem,
    weights_by_output,
)
from kerascli.spec.problems import KeyPath, short_message


def _loss_or_metric(builder: Builder, family: str, value: Any, path: tuple[Any, ...]) -> Any:
    if isinstance(value, str):
        value = {value: {}}
    name, args = call_parts(value)
    args = dict(args or {})
    if family == "metrics":  # named as Keras names it in a fresh session: `auc`, not `auc_1`
        args = metric_args(name, args)
    return builder.instantiate(family, name, args, path)


def _losses(builder: Builder) -> Any:
    """The loss(es) to compile with, as `keras_losses` arranges them; one loss object per place
    in the spec (one loss given to several outputs is one object)."""
    loss = builder.spec.compile.loss
    if isinstance(loss, list):
        problem = per_output_problem(builder.spec, loss, "loss")
        if problem is not None:
            raise builder.error(("compile", "loss"), problem)
    built: dict[Any, Any] = {}

    def build(placed: Placed) -> Any:
        path, value = placed
        if path not in built:
            built[path] = _loss_or_metric(builder, "losses", value, path)
        return built[path]

    arranged = keras_losses(builder.spec)
    if isinstance(arranged, dict):
        return {out: build(placed) for out, placed in arranged.items()}
    if isinstance(arranged, list):
        return [build(placed) for placed in arranged]
    return None if arranged is None else build(arranged)


def _metrics(builder: Builder) -> Any:
    """The metrics to compile with, as `keras_metrics` arranges them (a new object each)."""
    arranged = keras_metrics(builder.spec)
    if isinstance(arranged, list):
        return [_loss_or_metric(builder, "metrics", m, path) for path, m in arranged]
    return {
        out: [_loss_or_metric(builder, "metrics", m, path) for path, m in placed]
        for out, placed in arranged.items()
    }


def build_optimizer(builder: Builder, call: dict[str, dict[str, Any]], path: KeyPath) -> Any:
    """A new optimizer object from a `{Class: {args}}` call (or a bare identifier: `adam`)."""
    optimizer = builder.call("optimizers", call, path)
    if isinstance(optimizer, str):
        optimizer = builder.keras.optimizers.get(optimizer)
    return optimizer


def compile_model(builder: Builder, model: Any, optimizer: Any = None) -> None:
    """Compile `model` with the spec's optimizer, loss(es), metrics and loss weights.

    Args:
        builder: The spec's builder.
        model: The model to compile.
        optimizer: A built optimizer (a fine-tuning stage's). Defaults to `compile.optimizer`,
            built anew.
    """
    spec = builder.spec.compile
    if optimizer is None:
        optimizer = build_optimizer(builder, spec.optimizer, ("compile", "optimizer"))
    loss = _losses(builder)
    metrics = _metrics(builder)
    problem = loss_weights_problem(builder.spec)
    if problem is not None:
        raise builder.error(("compile", "loss_weights"), problem)
    try:
        model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics or None,
            loss_weights=weights_by_output(builder.spec),
            jit_compile=spec.jit_compile,
            run_eagerly=spec.run_eagerly,
            steps_per_execution=spec.steps_per_execution,
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise builder.error(("compile",), f"cannot compile: {short_message(exc)}") from exc
