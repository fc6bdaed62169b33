"""`model.compile(...)` from the spec's `compile:` section."""

from __future__ import annotations

from typing import Any

from kerascli.model.builder import Builder, _one_line
from kerascli.spec.models import call_parts
from kerascli.spec.monitor import metric_args
from kerascli.spec.outputs import (
    loss_weights_problem,
    losses_by_output,
    metrics_by_output,
    output_names,
    per_output_problem,
    weights_by_output,
)


def _loss_or_metric(builder: Builder, family: str, value: Any, path: tuple[Any, ...]) -> Any:
    if isinstance(value, str):
        value = {value: {}}
    name, args = call_parts(value)
    args = dict(args or {})
    if family == "metrics":  # named as Keras names it in a fresh session: `auc`, not `auc_1`
        args = metric_args(name, args)
    return builder.instantiate(family, name, args, path)


def compile_model(builder: Builder, model: Any) -> None:
    """Compile `model` with the spec's optimizer, loss(es), metrics and loss weights."""
    keras = builder.keras
    spec = builder.spec.compile
    optimizer = builder.call("optimizers", spec.optimizer, ("compile", "optimizer"))
    if isinstance(optimizer, str):
        optimizer = keras.optimizers.get(optimizer)
    outputs = output_names(builder.spec) or []
    loss: Any = None
    if isinstance(spec.loss, list):
        problem = per_output_problem(builder.spec, spec.loss, "loss")
        if problem is not None:
            raise builder.error(("compile", "loss"), problem)
    per_output = losses_by_output(builder.spec)
    if per_output is not None:
        loss = {
            out: _loss_or_metric(builder, "losses", value, path)
            for out, (path, value) in per_output.items()
        }
        if outputs == [""] and isinstance(spec.loss, list):  # `[loss]`: the one output's
            (loss,) = loss.values()
    elif isinstance(spec.loss, list):  # a subclass: Keras matches it to the model's outputs
        loss = [
            _loss_or_metric(builder, "losses", value, ("compile", "loss", i))
            for i, value in enumerate(spec.loss)
        ]
    elif spec.loss is not None:
        loss = _loss_or_metric(builder, "losses", spec.loss, ("compile", "loss"))
        if len(outputs) > 1:  # as Keras applies it, but by name, so loss_weights can be too
            loss = dict.fromkeys(outputs, loss)
    metrics: Any
    listed = metrics_by_output(builder.spec)
    if isinstance(listed, list):
        metrics = [
            _loss_or_metric(builder, "metrics", m, ("compile", "metrics", i))
            for i, m in enumerate(listed)
        ]
    else:
        metrics = {}
        for out, calls in listed.items():
            # A list for every output is written at compile.metrics[i], a mapping's at [out][i].
            base = ("compile", "metrics", *(() if isinstance(spec.metrics, list) else (out,)))
            metrics[out] = [
                _loss_or_metric(builder, "metrics", m, (*base, i)) for i, m in enumerate(calls)
            ]
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
        raise builder.error(("compile",), f"cannot compile: {_one_line(exc)}") from exc
