"""What reads an epoch's logs by name, checked against the names training logs (`log_names`):
the callbacks' `monitor:` and the `{fields}` of `ModelCheckpoint`'s `filepath`.

Keras's `EarlyStopping`, `ModelCheckpoint` and `ReduceLROnPlateau` look their `monitor` up in an
epoch's logs; a name the logs do not hold is only a warning, and the callback does nothing. So
`validate` rejects a misspelt monitor where the spec tells the names; where it cannot (plugins,
subclass models), a callback checks it against the first epoch's logs with the same rule. A
`filepath` field is checked alike, and a `mode` against a certain direction is an error.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kerascli.spec import catalog
from kerascli.spec.log_names import (
    direction,
    has_validation,
    logged_metrics,
    train_log_names,
    unlogged,
)
from kerascli.spec.models import Spec, call_parts
from kerascli.spec.problems import Finding, KeyPath

# Callbacks that put `learning_rate` into the logs of each epoch (for the callbacks after them).
RATE_CALLBACKS = ("ReduceLROnPlateau", "LearningRateScheduler")
# Callbacks that use their `monitor` only with `save_best_only: true`.
BEST_ONLY = ("ModelCheckpoint", "OrbaxCheckpoint")


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
        return unlogged(
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
    own = [metric.own for metric in logged_metrics(spec) or []]
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
        return unlogged(what, self.name, names, validation, "saving would fail", "name")


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
