"""What training logs each epoch, by name, and what the callbacks' `monitor:` watch.

Keras's `EarlyStopping`, `ModelCheckpoint` and `ReduceLROnPlateau` look their `monitor` up in an
epoch's logs. A name the logs do not hold is only a warning (or, in `mode: auto`, an error about
the metric's direction once the first epoch is over), and the callback does nothing: training runs
to the end, no best model is kept. This module derives, without TensorFlow, the names Keras 3
logs for a spec (`loss`, `accuracy`, `<output>_loss`, `<output>_mae`, `val_...`) where the spec
alone tells them, so `validate` rejects a misspelt monitor; where it cannot (plugins, subclass
models), a callback checks each monitor against the first epoch's real logs with the same rule.

The names follow how `compile.py` hands `compile:` to Keras, which `outputs.py` decides: a list
(of losses, `loss_weights` or metrics) follows the spec's `outputs:`, not Keras's sorted output
names. The same names fill the `{fields}` of `ModelCheckpoint`'s `filepath`, checked alike; and
where a monitor's direction is certain (a loss, an accuracy), a `mode` against it is an error.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

from kerascli.spec import catalog
from kerascli.spec.checks import Finding
from kerascli.spec.models import Spec, call_parts
from kerascli.spec.outputs import loss_outputs, metrics_by_output, output_names
from kerascli.spec.problems import KeyPath, did_you_mean

# Callbacks that put `learning_rate` into the logs of each epoch (for the callbacks after them).
RATE_CALLBACKS = ("ReduceLROnPlateau", "LearningRateScheduler")
# Callbacks that use their `monitor` only with `save_best_only: true`.
BEST_ONLY = ("ModelCheckpoint", "OrbaxCheckpoint")

Call = dict[str, dict[str, Any]]


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


class LoggedMetric(NamedTuple):
    """One metric of an epoch's logs: its name there (`alpha_mae_1`), its own name before Keras
    adds the output's name or numbers a repeat (`mae`), and its call as the spec writes it."""

    logged: str
    own: str
    call: Call


def _logged_metrics(spec: Spec) -> list[LoggedMetric] | None:
    """The metrics as Keras logs them; `None` where a name is unknown or the outputs are."""
    outputs = output_names(spec)
    if outputs is None:
        return None
    several = len(outputs) > 1
    groups = metrics_by_output(spec)
    found: list[LoggedMetric] = []
    items = groups.items() if isinstance(groups, dict) else [("", groups)]
    for output, calls in items:
        seen: dict[str, int] = {}
        for call in calls:
            name = metric_name(call)
            if name is None:
                return None
            full = f"{output}_{name}" if several else name
            found.append(
                LoggedMetric(f"{full}_{seen[full]}" if seen.get(full) else full, name, call)
            )
            seen[full] = seen.get(full, 0) + 1
    return found


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
    metrics = _logged_metrics(spec)
    if metrics is None:
        return None
    names += [metric.logged for metric in metrics]
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


# --- which way is better ---------------------------------------------------------------------

# Keras metrics whose value is better higher, besides the accuracies, by class; a string
# identifier names its class in snake case (`auc`, `precision_at_recall`).
HIGHER_IS_BETTER = {
    "AUC": "an AUC",
    "Precision": "a precision",
    "PrecisionAtRecall": "a precision",
    "Recall": "a recall",
    "RecallAtPrecision": "a recall",
}


def metric_kind(call: Call) -> str | None:
    """What a Keras metric whose value is better higher is (`an accuracy`, `an AUC`, `a
    precision`, `a recall`); `None` for any other metric, where its direction is left alone."""
    name, _ = call_parts(call)
    if name not in catalog.classes("metrics"):
        if name not in catalog.identifiers("metrics"):
            return None
        name = next((c for c in catalog.classes("metrics") if snake_case(c) == name), name)
    if name.endswith(("Accuracy", "accuracy")) or name == "acc":
        return "an accuracy"
    return HIGHER_IS_BETTER.get(name)


def direction(spec: Spec, name: str) -> tuple[str, str] | None:
    """(`min` or `max`, what it is) for a logged name whose direction is certain: a loss
    (`loss`, `<output>_loss`, and their `val_`) is better lower, an accuracy, AUC, precision or
    recall higher. `None` for any other name, and for the metrics of a spec with plugins (which
    may define a metric of any name)."""
    base = name.removeprefix("val_")
    lossy = loss_outputs(spec) or []
    if base == "loss" or (len(lossy) > 1 and base in [f"{out}_loss" for out in lossy]):
        return "min", "a loss"
    if spec.plugins:
        return None
    for metric in _logged_metrics(spec) or []:
        if metric.logged == base:
            kind = metric_kind(metric.call)
            return ("max", kind) if kind is not None else None
    return None


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
        what = f"{self.callback} monitors '{self.name}'" + ("" if self.explicit else " by default")
        return _unlogged(
            what, self.name, names, validation, "the callback would do nothing", "monitor"
        )

    def mode_problem(self, spec: Spec, own: list[str]) -> str | None:
        """What is wrong with this monitor's `mode` where the direction of its name is certain
        (`mode: max` on a loss would keep the worst model); `own` are the metrics' own names,
        which Keras's mode `auto` knows."""
        certain = direction(spec, self.name)
        if certain is None or self.mode in ("auto", certain[0]):
            return None
        want, what = certain
        base = self.name.removeprefix("val_")
        auto = " (or auto)" if base == "loss" or base in own else ""
        return (
            f"'{self.name}' is {what}: {'lower' if want == 'min' else 'higher'} is better; use "
            f"mode: {want}{auto} ({self.callback} with mode: {self.mode} would keep the worst)"
        )


def _unlogged(
    what: str, name: str, names: list[str], validation: bool, effect: str, verb: str
) -> str | None:
    """What is wrong with `name`, which `what` reads from the logs, given the `names` they hold
    and whether there is validation data: `None` when they hold it."""
    if name in names:
        return None
    if name.startswith("val_") and not validation and name[4:] in names:
        return (
            f"{what}, but training has no validation data, so Keras never logs it and {effect}: "
            f"{verb} '{name[4:]}', or add validation data (data.split.validation, or "
            "data.validation with data.train)"
        )
    hint = did_you_mean(name, names)
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
    """A monitor that training will not log, where the spec tells the names, or whose `mode`
    goes against its certain direction; and the `{fields}` of `ModelCheckpoint`'s `filepath`
    (`validate`)."""
    names = train_log_names(spec) if spec.data is not None else None
    # (where it is None, checked against the first epoch's logs: kerascli/run/callbacks.py)
    validation = has_validation(spec)
    own = [metric.own for metric in _logged_metrics(spec) or []]
    for monitor in monitors(spec):
        if monitor.callback not in catalog.classes("callbacks"):
            continue  # an unknown callback, reported as such
        if monitor.mode not in ("auto", "min", "max"):  # Keras would warn and use `auto`
            path = (*monitor.path[:3], "mode")
            yield (path, f"expected mode auto, min or max, got '{monitor.mode}'", False)
            continue
        message = None if names is None else monitor.problem(names, validation)
        if names is not None and message is None and monitor.mode == "auto" and monitor.explicit:
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
            continue
        message = monitor.mode_problem(spec, own)
        if message is not None:
            yield ((*monitor.path[:3], "mode"), message, False)
    yield from check_path_fields(spec, names, validation)


# --- ModelCheckpoint's filepath ---------------------------------------------------------------


@dataclass(frozen=True)
class PathField:
    """A `{name}` in the `filepath` of a `ModelCheckpoint`, which Keras fills from the logs each
    time it saves: a name they do not hold fails the run (`KeyError`) after its first epoch.

    Args:
        index: The callback's position in `callbacks:`.
        name: The field's name (`val_loss` of `{val_loss:.2f}`).
        per_batch: Whether the callback saves every `save_freq` batches (from the batch's logs,
            which have no `val_` names; Keras adds `batch`) rather than each epoch. Defaults to
            `False`.
        after_rate: Whether a callback that logs `learning_rate` runs before it. Defaults to
            `False`.
        after_plugin: Whether a plugin callback (which may add to the logs) runs before it.
            Defaults to `False`.
    """

    index: int
    name: str
    per_batch: bool = False
    after_rate: bool = False
    after_plugin: bool = False

    @property
    def path(self) -> KeyPath:
        """Where the spec writes the filepath."""
        return ("callbacks", self.index, "ModelCheckpoint", "filepath")

    def problem(self, train_names: list[str], validation: bool) -> str | None:
        """What is wrong with this field, given the training logs' names (without `val_`) and
        whether there is validation data; `None` when Keras fills it."""
        what = f"ModelCheckpoint's filepath names '{{{self.name}}}'"
        if self.per_batch:
            if self.name.startswith("val_"):
                return (
                    f"{what}, but saving every save_freq batches, Keras fills it from the "
                    "batch's logs, which have no val_ values: leave it out, or save each epoch "
                    "(save_freq: epoch)"
                )
            names = ["epoch", "batch", *train_names]
        elif self.name == "batch":
            return f"{what}, which Keras fills only when it saves every save_freq batches"
        else:
            names = ["epoch", *train_names, *(f"val_{n}" for n in train_names if validation)]
            names += ["learning_rate"] if self.after_rate else []
        return _unlogged(what, self.name, names, validation, "saving would fail", "name")


def _field_names(template: str) -> list[str]:
    """The names of a format string's fields (`val_loss` of `{val_loss:.2f}`, `""` for `{}`);
    `ValueError` where it is malformed."""
    names: list[str] = []
    for _, field, format_spec, _ in string.Formatter().parse(template):
        if field is not None:
            names.append(re.split(r"[.\[]", field, maxsplit=1)[0])
            names += _field_names(format_spec or "")
    return names


def _checkpoint_paths(spec: Spec) -> Iterator[tuple[int, str, dict[str, Any], list[str]]]:
    """Each `ModelCheckpoint` with a `filepath` of its own: (index, filepath, its arguments, the
    names of the callbacks up to it)."""
    before: list[str] = []
    for i, call in enumerate(spec.callbacks):
        name, args = call_parts(call)
        before.append(name)
        if name == "ModelCheckpoint" and isinstance(args.get("filepath"), str):
            yield i, args["filepath"], args, list(before)


def path_fields(spec: Spec) -> list[PathField]:
    """The named fields of each `ModelCheckpoint`'s `filepath` (a malformed one has none:
    `check_path_fields` reports it)."""
    known = catalog.classes("callbacks")
    found: list[PathField] = []
    for i, filepath, args, before in _checkpoint_paths(spec):
        try:
            names = _field_names(filepath)
        except ValueError:
            continue
        save_freq = args.get("save_freq", "epoch")
        for name in dict.fromkeys(names):
            if name and not name.isdigit():
                found.append(
                    PathField(
                        index=i,
                        name=name,
                        per_batch=isinstance(save_freq, int) and not isinstance(save_freq, bool),
                        after_rate=any(b in RATE_CALLBACKS for b in before),
                        after_plugin=any(b not in known for b in before[:-1]),
                    )
                )
    return found


def check_path_fields(spec: Spec, names: list[str] | None, validation: bool) -> Iterator[Finding]:
    """The `{fields}` of each `ModelCheckpoint`'s `filepath`: well formed, named, and (where the
    spec tells the logs' `names`) ones Keras fills when it saves."""
    freq = spec.fit.validation_freq
    fields = path_fields(spec)
    for i, filepath, _, _ in _checkpoint_paths(spec):
        path: KeyPath = ("callbacks", i, "ModelCheckpoint", "filepath")
        try:
            found = _field_names(filepath)
        except ValueError as exc:
            yield (
                path,
                f"filepath is not a format string Keras can fill: {exc} (write {{{{ "
                "and }} for a brace)",
                False,
            )
            continue
        if any(not name or name.isdigit() for name in found):
            yield (
                path,
                "filepath has a positional field ('{}' or '{0}'); Keras fills only named "
                "fields: {epoch} and the values training logs, such as {val_loss:.2f}",
                False,
            )
            continue
        problems: list[str] = []
        for field in (f for f in fields if f.index == i):
            message = None if names is None else field.problem(names, validation)
            if validation and freq > 1 and not field.per_batch and field.name.startswith("val_"):
                message = (
                    f"ModelCheckpoint's filepath names '{{{field.name}}}', which Keras logs "
                    f"only on the epochs it validates (fit.validation_freq: {freq}), so saving "
                    "after the first epoch would fail: leave it out, or validate every epoch"
                )
            problems += [message] if message is not None else []
        yield from ((path, message, False) for message in problems)
        if problems:
            continue
        values = {name: 1 if name in ("epoch", "batch") else 0.5 for name in found}
        try:
            filepath.format(**values)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
            yield (path, f"Keras cannot fill filepath: {type(exc).__name__}: {exc}", False)
