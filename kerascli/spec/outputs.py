"""`compile:` per model output, in the spec's `outputs:` order, as Keras should get it.

Keras matches a list (of losses, of `loss_weights`) to its own order of a model's outputs,
which sorts their names; a spec's list follows its `outputs:`. This module decides, once, what
each output gets: a list becomes a mapping by output name (`by_output`), which `compile.py` hands
to Keras (arranged by `keras_losses` and `keras_metrics`), the checks validate and `monitor.py`
derives the logged names from: with `outputs: [zeta, alpha]`, `loss: [mse, mae]` is `{zeta: mse,
alpha: mae}` and `loss_weights: [1, 0]` is `{zeta: 1.0, alpha: 0.0}`. It is also the one home
of an output's loss and its kind (`loss_kind`: which crossentropy, `from_logits`), which
training and inference ask; the model's outputs themselves are `facts.output_names`.
"""

from __future__ import annotations

from typing import Any, TypeVar

from kerascli.spec import catalog
from kerascli.spec.facts import SINGLE, named_outputs, output_names
from kerascli.spec.models import Spec
from kerascli.spec.problems import KeyPath

T = TypeVar("T")
Call = dict[str, dict[str, Any]]
Placed = tuple[KeyPath, Any]
"""A loss or metric as the spec writes it, with where it is written."""
PLURALS = {"loss": "losses"}


def as_call(value: Any) -> tuple[str, dict[str, Any]] | None:
    """A loss or metric as written (`mse`, `{Huber: {delta: 2}}`) as (name, arguments); `None`
    for anything else."""
    if isinstance(value, str):
        return value, {}
    if isinstance(value, dict) and len(value) == 1:
        ((name, args),) = value.items()
        if args is None or isinstance(args, dict):
            return name, args or {}
    return None


def is_single_call(family: str, value: Any) -> bool:
    """Whether a compile value is one call (`{Huber: {delta: 2}}`) rather than per-output."""
    call = as_call(value)
    return call is not None and (isinstance(value, str) or call[0] in catalog.classes(family))


def one_loss(loss: Any, outputs: list[str] | None) -> bool:
    """Whether `compile.loss` is one loss for the model (`mse`, `{Huber: {delta: 2}}`) rather
    than one per output (a mapping by output name, or a list in `outputs:` order).

    A mapping of one key is one loss unless it names one of the `outputs` the spec names
    (`facts.named_outputs`: a Functional model's) or its value is no mapping of arguments
    (`{species: mse}`); where the spec names no output (`None`) it is always one loss.
    """
    if is_single_call("losses", loss):
        return True
    if isinstance(loss, dict) and len(loss) == 1:
        if outputs is None:
            return True
        ((key, value),) = loss.items()
        return key not in outputs and (value is None or isinstance(value, dict))
    return False


def per_output_problem(spec: Spec, values: list[Any], what: str) -> str | None:
    """What is wrong with a list of `what`s (`loss`, `weight`) for the outputs: it needs one
    per output, in `outputs:` order. `None` where it has, or the spec does not tell (a subclass:
    Keras matches the list to the model's own outputs)."""
    outputs = output_names(spec)
    if outputs is None or len(values) == len(outputs):
        return None
    if named_outputs(spec) is None:  # a Sequential model's one output
        return f"expected one {what} for the model's one output, got {len(values)}"
    return (
        f"expected {len(outputs)} {PLURALS.get(what, what + 's')}, one per output "
        f"in `outputs:` order ({', '.join(outputs)}), got {len(values)}"
    )


def by_output(spec: Spec, values: list[T]) -> dict[str, T]:
    """A list with one entry per output (a `loss`, a weight) by output name, in the spec's
    `outputs:` order: the one place a list of `compile:` becomes a mapping."""
    outputs = output_names(spec)
    assert outputs is not None and per_output_problem(spec, values, "entry") is None, (
        "check per_output_problem first"
    )
    return dict(zip(outputs, values, strict=True))


def losses_by_output(spec: Spec) -> dict[str, tuple[KeyPath, Any]] | None:
    """Each output's loss as written, with where it is written, for a `compile.loss` per output
    (a mapping by output name, or a list in `outputs:` order); `None` for one loss, no loss, or
    a list for a subclass model (Keras matches it to the model's own outputs)."""
    loss = spec.compile.loss
    if loss is None or one_loss(loss, named_outputs(spec)):
        return None
    if isinstance(loss, list):
        if output_names(spec) is None:
            return None
        return by_output(spec, [(("compile", "loss", i), value) for i, value in enumerate(loss)])
    assert isinstance(loss, dict)
    return {out: (("compile", "loss", out), value) for out, value in loss.items()}


def output_loss(spec: Spec, output: str) -> Any:
    """The loss `output` trains with, as written (`mse`, `{Huber: {delta: 2}}`); `None` where it
    has none. `output` is an output's name, or `SINGLE` for a model's only output."""
    loss = spec.compile.loss
    if loss is None or one_loss(loss, named_outputs(spec)):
        return loss
    per_output = losses_by_output(spec)
    if per_output is None:  # a list for a subclass
        return loss[0] if isinstance(loss, list) and len(loss) == 1 else None
    if output == SINGLE and len(per_output) == 1:
        return next(iter(per_output.values()))[1]
    return per_output[output][1] if output in per_output else None


def loss_outputs(spec: Spec) -> list[str] | None:
    """The outputs that have a loss, in `outputs:` order: all of them for one loss or a list."""
    outputs = output_names(spec)
    loss = spec.compile.loss
    if outputs is None or loss is None:
        return None
    if one_loss(loss, named_outputs(spec)) or isinstance(loss, list):
        return outputs
    return [name for name in outputs if name in loss]


def loss_weights_problem(spec: Spec) -> str | None:
    """What is wrong with a list of `compile.loss_weights`: one weight per output."""
    weights = spec.compile.loss_weights
    return per_output_problem(spec, weights, "weight") if isinstance(weights, list) else None


def weights_by_output(spec: Spec) -> dict[str, float] | list[float] | None:
    """`compile.loss_weights` as Keras should get them: by output name.

    A list follows the spec's `outputs:` order (Keras would match it to its own output order,
    which sorts the names); weights of outputs without a loss are left out.
    """
    weights = spec.compile.loss_weights
    outputs = named_outputs(spec)
    if weights is None or outputs is None:
        return weights
    by_name = by_output(spec, weights) if isinstance(weights, list) else weights
    lossy = loss_outputs(spec) or outputs
    return {name: float(value) for name, value in by_name.items() if name in lossy}


def metrics_by_output(spec: Spec) -> dict[str, list[Call]] | list[Call]:
    """`compile.metrics` as Keras should get them.

    A list applies to every output of a model with several (Keras would give a list as long as
    the outputs one entry per output, in its sorted order); a mapping gives each output a list.
    """
    metrics = spec.compile.metrics
    outputs = output_names(spec)
    if isinstance(metrics, list):
        if metrics and outputs is not None and len(outputs) > 1:
            return {name: list(metrics) for name in outputs}
        return metrics
    return {name: value if isinstance(value, list) else [value] for name, value in metrics.items()}


def loss_call(spec: Spec, output: str) -> tuple[str, dict[str, Any]]:
    """The loss an output trains with, as (name, arguments); `("", {})` when there is none."""
    call = as_call(output_loss(spec, output))
    return (str(call[0]), dict(call[1])) if call is not None else ("", {})


def loss_name(spec: Spec, output: str) -> str:
    """The name of the loss an output trains with (`''` when the spec has none)."""
    return loss_call(spec, output)[0]


def loss_kind(spec: Spec, output: str) -> str:
    """`sparse`, `categorical` or `binary` for an output trained with that kind of crossentropy
    (their targets and predictions differ), else `''`."""
    name = loss_name(spec, output).lower().replace("_", "")
    if "crossentropy" not in name:
        return ""
    if "sparsecategorical" in name:
        return "sparse"
    if "categorical" in name:
        return "categorical"
    return "binary" if "binary" in name else ""


def from_logits(spec: Spec, output: str) -> bool:
    """Whether `output` is trained with a crossentropy loss `from_logits: true` (its
    predictions are logits, not probabilities)."""
    return bool(loss_kind(spec, output)) and bool(loss_call(spec, output)[1].get("from_logits"))


def index_names(count: int) -> list[str]:
    """The names of `count` classes known by index only: `0..count-1`."""
    return [str(i) for i in range(count)]


def index_classes(spec: Spec, output: str, units: int) -> list[str] | None:
    """Class names `0..n-1` for a classifier trained on integer labels (a crossentropy loss)."""
    kind = loss_kind(spec, output)
    if units > 1 and kind in ("sparse", "categorical"):
        return index_names(units)
    if units == 1 and kind == "binary":
        return index_names(2)
    return None


def keras_losses(spec: Spec) -> Placed | dict[str, Placed] | list[Placed] | None:
    """`compile.loss` arranged as Keras should get it, each loss with where it is written.

    A loss per output is by output name (`[loss]` of a one-output model is that loss); a list
    for a subclass stays a list (Keras matches it to the model's own outputs); one loss for a
    model with several outputs is given to each by name (so `loss_weights` can be too): the
    same `Placed` for each, to be built once. Check `per_output_problem` first.
    """
    loss = spec.compile.loss
    outputs = output_names(spec) or []
    per_output = losses_by_output(spec)
    if per_output is not None:
        if named_outputs(spec) is None and isinstance(loss, list):  # a Sequential model's
            (only,) = per_output.values()
            return only
        return per_output
    if isinstance(loss, list):  # a subclass: Keras matches it to the model's outputs
        return [(("compile", "loss", i), value) for i, value in enumerate(loss)]
    if loss is None:
        return None
    placed: Placed = (("compile", "loss"), loss)
    return dict.fromkeys(outputs, placed) if len(outputs) > 1 else placed


def keras_metrics(spec: Spec) -> list[Placed] | dict[str, list[Placed]]:
    """`compile.metrics` arranged as Keras should get them (`metrics_by_output`), each metric
    with where it is written: a list for every output at `compile.metrics[i]`, a mapping's at
    `compile.metrics.<output>[i]`."""
    written = spec.compile.metrics
    listed = metrics_by_output(spec)
    if isinstance(listed, list):
        return [(("compile", "metrics", i), metric) for i, metric in enumerate(listed)]
    placed: dict[str, list[Placed]] = {}
    for out, calls in listed.items():
        base: KeyPath = ("compile", "metrics", *(() if isinstance(written, list) else (out,)))
        placed[out] = [((*base, i), metric) for i, metric in enumerate(calls)]
    return placed
