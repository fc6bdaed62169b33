"""`model.compile(...)` from the spec's `compile:` section."""

from __future__ import annotations

from typing import Any

from kerascli.build.builder import Builder, _one_line
from kerascli.spec.models import call_parts
from kerascli.spec.monitor import (
    loss_weights_problem,
    metric_args,
    metrics_by_output,
    one_loss,
    output_names,
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
    if spec.loss is not None:
        if one_loss(spec.loss, outputs):
            loss = _loss_or_metric(builder, "losses", spec.loss, ("compile", "loss"))
            if len(outputs) > 1:  # as Keras applies it, but by name, so loss_weights can be too
                loss = dict.fromkeys(outputs, loss)
        else:
            assert isinstance(spec.loss, dict)
            loss = {
                out: _loss_or_metric(builder, "losses", value, ("compile", "loss", out))
                for out, value in spec.loss.items()
            }
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
