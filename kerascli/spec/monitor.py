"""What training logs each epoch, by name, and what the callbacks' `monitor:` watch.

Keras's `EarlyStopping`, `ModelCheckpoint` and `ReduceLROnPlateau` look their `monitor` up in an
epoch's logs. A name the logs do not hold is only a warning (or, in `mode: auto`, an error about
the metric's direction once the first epoch is over), and the callback does nothing: training runs
to the end, no best model is kept. This module derives, without TensorFlow, the names Keras 3
logs for a spec (`loss`, `accuracy`, `<output>_loss`, `<output>_mae`, `val_...`) where the spec
alone tells them, so `validate` rejects a misspelt monitor; where it cannot (plugins, subclass
models), a callback checks each monitor against the first epoch's real logs with the same rule.

The names follow how `compile.py` hands `compile:` to Keras, which this module also decides,
once: a list (of `loss_weights` or metrics) follows the spec's `outputs:`, not Keras's sorted
output names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kerascli.spec import catalog
from kerascli.spec.checks import Finding, is_single_call
from kerascli.spec.models import Spec, call_parts
from kerascli.spec.problems import KeyPath, did_you_mean

# Callbacks that put `learning_rate` into the logs of each epoch (for the callbacks after them).
RATE_CALLBACKS = ("ReduceLROnPlateau", "LearningRateScheduler")
# Callbacks that use their `monitor` only with `save_best_only: true`.
BEST_ONLY = ("ModelCheckpoint", "OrbaxCheckpoint")

Call = dict[str, dict[str, Any]]


# --- compile: per output, in the spec's order -----------------------------------------------


def output_names(spec: Spec) -> list[str] | None:
    """The model's outputs in the spec's `outputs:` order; `[""]` for a Sequential model's one
    output, `None` for a subclass (the spec does not say)."""
    if spec.model.functional is not None:
        return spec.model.functional.output_names
    if spec.model.sequential is not None:
        return [""]
    return None


def one_loss(loss: Any, outputs: list[str] | None) -> bool:
    """Whether `compile.loss` is one loss for the model (`mse`, `{Huber: {delta: 2}}`) rather
    than a mapping of output name to loss."""
    if is_single_call("losses", loss):
        return True
    if isinstance(loss, dict) and len(loss) == 1:
        ((key, value),) = loss.items()
        return key not in (outputs or []) and (value is None or isinstance(value, dict))
    return False


def loss_outputs(spec: Spec) -> list[str] | None:
    """The outputs that have a loss, in `outputs:` order: all of them for one loss."""
    outputs = output_names(spec)
    loss = spec.compile.loss
    if outputs is None or loss is None:
        return None
    if one_loss(loss, outputs):
        return outputs
    return [name for name in outputs if name in loss]


def loss_weights_problem(spec: Spec) -> str | None:
    """What is wrong with a list of `compile.loss_weights`: one weight per output."""
    weights = spec.compile.loss_weights
    outputs = output_names(spec)
    if not isinstance(weights, list) or outputs is None or len(weights) == len(outputs):
        return None
    if outputs == [""]:
        return f"expected one weight for the model's one output, got {len(weights)}"
    return (
        f"expected {len(outputs)} weights, one per output in `outputs:` order "
        f"({', '.join(outputs)}), got {len(weights)}"
    )


def weights_by_output(spec: Spec) -> dict[str, float] | list[float] | None:
    """`compile.loss_weights` as Keras should get them: by output name.

    A list follows the spec's `outputs:` order (Keras would match it to its own output order,
    which sorts the names); weights of outputs without a loss are left out.
    """
    weights = spec.compile.loss_weights
    outputs = output_names(spec)
    if weights is None or outputs is None or outputs == [""]:
        return weights
    assert loss_weights_problem(spec) is None, "check loss_weights_problem first"
    by_name = dict(zip(outputs, weights, strict=True)) if isinstance(weights, list) else weights
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


# --- metric names ---------------------------------------------------------------------------


def snake_case(name: str) -> str:
    """`MeanIoU` -> `mean_io_u`: how Keras names an object after its class."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def metric_args(name: str, args: dict[str, Any]) -> dict[str, Any]:
    """The arguments to build Keras metric class `name` with: `args`, plus the name Keras gives
    it in a fresh session where its default is none (Keras numbers those across a process:
    a second `AUC()` logs as `auc_1`)."""
    signature = catalog.classes("metrics").get(name)
    if signature is None or "name" not in signature.params or args.get("name") is not None:
        return args
    if signature.params["name"].get("default") is not None:
        return args
    return {**args, "name": snake_case(name)}


def metric_name(call: Call) -> str | None:
    """The name a metric logs under (for one output); `None` where the spec cannot tell
    (a plugin's metric)."""
    name, args = call_parts(call)
    known = catalog.classes("metrics")
    if name not in known:
        # A string identifier (`accuracy`, `mae`): Keras names the metric after the string.
        return name if name in catalog.identifiers("metrics") else None
    given = metric_args(name, args).get("name")
    if given is None:
        given = known[name].params.get("name", {}).get("default")
    return given if isinstance(given, str) else None


def _metric_names(spec: Spec) -> tuple[list[str], list[str]] | None:
    """(the log names of the metrics, their own names before Keras adds the output's name or
    numbers a repeat); `None` where a name is unknown."""
    outputs = output_names(spec)
    assert outputs is not None
    several = len(outputs) > 1
    groups = metrics_by_output(spec)
    logged: list[str] = []
    own: list[str] = []
    items = groups.items() if isinstance(groups, dict) else [("", groups)]
    for output, calls in items:
        seen: dict[str, int] = {}
        for call in calls:
            name = metric_name(call)
            if name is None:
                return None
            own.append(name)
            full = f"{output}_{name}" if several else name
            logged.append(f"{full}_{seen[full]}" if seen.get(full) else full)
            seen[full] = seen.get(full, 0) + 1
    return logged, own


def train_log_names(spec: Spec) -> list[str] | None:
    """The names in each epoch's training logs (without `val_`), as Keras 3 writes them:
    `loss`; `<output>_loss` for each output with a loss when several have one; each metric's
    name, `<output>_<name>` for a model with several outputs and `<name>_1` for a repeat.

    `None` where the spec alone cannot tell: plugins (their metrics and callbacks), a subclass
    model, no loss.
    """
    if spec.plugins or spec.compile.loss is None or output_names(spec) is None:
        return None
    names = ["loss"]
    lossy = loss_outputs(spec) or []
    if len(lossy) > 1:
        names += [f"{name}_loss" for name in lossy]
    metrics = _metric_names(spec)
    if metrics is None:
        return None
    names += metrics[0]
    if len(set(names)) != len(names):  # Keras would number one of two equal names: which?
        return None
    return names


def has_validation(spec: Spec) -> bool:
    """Whether training has validation data (so Keras logs the `val_` names)."""
    data = spec.data
    if data is None:
        return False
    if data.path is not None:
        return data.split is not None and data.split.validation > 0
    return data.validation is not None


# --- monitors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Monitor:
    """The log name one callback of `callbacks:` watches.

    Args:
        index: The callback's position in `callbacks:`.
        callback: Its class name.
        name: The name it watches.
        explicit: Whether the spec writes `monitor:` (else it is Keras's default).
        mode: Its `mode`. Defaults to `auto`.
        after_rate: Whether a callback that logs `learning_rate` runs before it (or is it).
            Defaults to `False`.
        after_plugin: Whether a plugin callback (which may add to the logs) runs before it.
            Defaults to `False`.
    """

    index: int
    callback: str
    name: str
    explicit: bool
    mode: str = "auto"
    after_rate: bool = False
    after_plugin: bool = False

    @property
    def path(self) -> KeyPath:
        """Where the spec writes the monitor (the callback itself for Keras's default)."""
        base: KeyPath = ("callbacks", self.index, self.callback)
        return (*base, "monitor") if self.explicit else base

    def problem(self, train_names: list[str], validation: bool) -> str | None:
        """What is wrong with this monitor, given the training logs' names (without `val_`) and
        whether there is validation data; `None` when the logs hold its name."""
        names = [*train_names, *(f"val_{n}" for n in train_names if validation)]
        if self.after_rate:
            names.append("learning_rate")
        if self.name in names:
            return None
        what = f"{self.callback} monitors '{self.name}'" + ("" if self.explicit else " by default")
        if self.name.startswith("val_") and not validation and self.name[4:] in names:
            return (
                f"{what}, but training has no validation data, so Keras never logs it and the "
                f"callback would do nothing: monitor '{self.name[4:]}', or add validation data "
                "(data.split.validation, or data.validation with data.train)"
            )
        hint = did_you_mean(self.name, names)
        return f"{what}, which training does not log{hint}; it logs: {', '.join(names)}"


def monitors(spec: Spec) -> list[Monitor]:
    """The monitor of each callback that watches one: its `monitor:`, or Keras's default where
    the callback uses it (`ModelCheckpoint` only with `save_best_only: true`)."""
    known = catalog.classes("callbacks")
    found: list[Monitor] = []
    before: list[str] = []
    for i, call in enumerate(spec.callbacks):
        name, args = call_parts(call)
        before.append(name)
        value = args.get("monitor")
        explicit = value is not None
        signature = known.get(name)
        if value is None and signature is not None and "monitor" in signature.params:
            if name not in BEST_ONLY or args.get("save_best_only"):
                value = signature.params["monitor"].get("default")
        if not isinstance(value, str):
            continue
        found.append(
            Monitor(
                index=i,
                callback=name,
                name=value,
                explicit=explicit,
                mode=str(args.get("mode", "auto")),
                after_rate=any(b in RATE_CALLBACKS for b in before),
                after_plugin=any(b not in known for b in before[:-1]),
            )
        )
    return found


def check_monitors(spec: Spec) -> Iterator[Finding]:
    """A monitor that training will not log, where the spec tells the names (`validate`)."""
    names = train_log_names(spec)
    if names is None or spec.data is None:
        return  # checked against the first epoch's logs instead (kerascli/run/callbacks.py)
    validation = has_validation(spec)
    metrics = _metric_names(spec)
    own = metrics[1] if metrics is not None else []
    for monitor in monitors(spec):
        if monitor.callback not in catalog.classes("callbacks"):
            continue  # an unknown callback, reported as such
        if monitor.mode not in ("auto", "min", "max"):  # Keras would warn and use `auto`
            path = (*monitor.path[:3], "mode")
            yield (path, f"expected mode auto, min or max, got '{monitor.mode}'", False)
            continue
        message = monitor.problem(names, validation)
        if message is None and monitor.mode == "auto" and monitor.explicit:
            # Keras's mode `auto` looks the name, less `val_`, up among `loss` and the metrics'
            # own names; for anything else (`zeta_loss`, `mae_1`) it raises after an epoch.
            base = monitor.name.removeprefix("val_")
            if base != "loss" and base not in own:
                message = (
                    f"{monitor.callback} cannot tell whether '{monitor.name}' should go down "
                    "or up (mode auto knows only `loss` and metrics by their own names): "
                    "give mode: min or mode: max"
                )
        if message is not None:
            yield (monitor.path, message, not monitor.explicit)


def check_loss_weights(spec: Spec) -> Iterator[Finding]:
    """A list of `compile.loss_weights` needs one weight per output."""
    message = loss_weights_problem(spec)
    if message is not None:
        yield (("compile", "loss_weights"), message, False)
