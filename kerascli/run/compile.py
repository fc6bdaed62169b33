"""`model.compile(...)` from the spec's `compile:` section."""

from __future__ import annotations

from typing import Any

from kerascli.build.builder import Builder, _one_line
from kerascli.spec.checks import is_single_call
from kerascli.spec.models import call_parts


def _loss_or_metric(builder: Builder, family: str, value: Any, path: tuple[Any, ...]) -> Any:
    if isinstance(value, str):
        return builder.instantiate(family, value, {}, path)
    name, args = call_parts(value)
    return builder.instantiate(family, name, dict(args or {}), path)


def _outputs(builder: Builder) -> list[str]:
    fn = builder.spec.model.functional
    return fn.output_names if fn is not None else []


def _single_loss(loss: Any, outputs: list[str]) -> bool:
    """One loss for the model (`mse`, `{Huber: {delta: 2}}`) rather than one per output."""
    if is_single_call("losses", loss):
        return True
    if isinstance(loss, dict) and len(loss) == 1:
        ((key, value),) = loss.items()
        return key not in outputs and (value is None or isinstance(value, dict))
    return False


def compile_model(builder: Builder, model: Any) -> None:
    """Compile `model` with the spec's optimizer, loss(es), metrics and loss weights."""
    keras = builder.keras
    spec = builder.spec.compile
    optimizer = builder.call("optimizers", spec.optimizer, ("compile", "optimizer"))
    if isinstance(optimizer, str):
        optimizer = keras.optimizers.get(optimizer)
    loss: Any = None
    if spec.loss is not None:
        if _single_loss(spec.loss, _outputs(builder)):
            loss = _loss_or_metric(builder, "losses", spec.loss, ("compile", "loss"))
        else:
            assert isinstance(spec.loss, dict)
            loss = {
                out: _loss_or_metric(builder, "losses", value, ("compile", "loss", out))
                for out, value in spec.loss.items()
            }
    metrics: Any
    if isinstance(spec.metrics, list):
        metrics = [
            _loss_or_metric(builder, "metrics", m, ("compile", "metrics", i))
            for i, m in enumerate(spec.metrics)
        ]
    else:
        metrics = {
            out: [
                _loss_or_metric(builder, "metrics", m, ("compile", "metrics", out, i))
                for i, m in enumerate(value if isinstance(value, list) else [value])
            ]
            for out, value in spec.metrics.items()
        }
    try:
        model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics or None,
            loss_weights=spec.loss_weights,
            jit_compile=spec.jit_compile,
            run_eagerly=spec.run_eagerly,
            steps_per_execution=spec.steps_per_execution,
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise builder.error(("compile",), f"cannot compile: {_one_line(exc)}") from exc
