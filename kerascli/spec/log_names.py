"""The names training logs each epoch, derived from a spec without TensorFlow, and which way
each is better.

Keras 3 logs `loss`, `<output>_loss` and each metric (`accuracy`, `<output>_mae`, `mae_1` for a
repeat), and `val_` of each with validation data. The names follow how `compile.py` hands
`compile:` to Keras, which `outputs.py` decides: a list (of losses, `loss_weights` or metrics)
follows the spec's `outputs:`, not Keras's sorted output names. `monitor.py` checks what reads
the logs (callbacks' `monitor:`, `ModelCheckpoint`'s `filepath`) against these names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, NamedTuple

from kerascli.spec import catalog
from kerascli.spec.facts import output_names
from kerascli.spec.models import Spec, call_parts
from kerascli.spec.outputs import loss_outputs, metrics_by_output
from kerascli.spec.problems import did_you_mean

Call = dict[str, dict[str, Any]]

SPLIT_PREFIXES = {"train": "", "validation": "val_", "test": "test_"}
"""What a split's metric names start with, as Keras logs them and `run.json` records them
(`loss`, `val_loss`, `test_loss`)."""


def training_names(keys: Iterable[str]) -> list[str]:
    """The training metrics among an epoch's log keys or a history row's (`loss`, `accuracy`):
    not the validation ones (`val_`), nor the `learning_rate` a callback logs, nor `epoch`."""
    validation = SPLIT_PREFIXES["validation"]
    return [k for k in keys if not k.startswith(validation) and k not in ("learning_rate", "epoch")]


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


def logged_metrics(spec: Spec) -> list[LoggedMetric] | None:
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
    metrics = logged_metrics(spec)
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
    for metric in logged_metrics(spec) or []:
        if metric.logged == base:
            kind = metric_kind(metric.call)
            return ("max", kind) if kind is not None else None
    return None


ERROR_NAMES = ("mae", "mse", "rmse", "mape", "msle", "logcosh")
"""Short names of Keras's error metrics, which are better lower."""
SCORE_NAMES = ("f1_score", "fbeta_score", "r2_score", "iou", "mean_iou", "one_hot_iou")
"""Names of Keras's score metrics, which are better higher."""


def better(spec: Spec, name: str) -> tuple[str, str | None]:
    """(`min` or `max`, what it is or `None`) for a logged name: its certain `direction`
    where there is one; else a guess: a name ending in `loss` or `error`, or an error's short
    name (`val_mae`, `alpha_rmse`), is better lower, a Keras score (`f1_score`, `iou`) higher
    (`None`: a guess, which a user may overrule); any other name is `unknown`."""
    certain = direction(spec, name)
    if certain is not None:
        return certain
    base = name.removeprefix(SPLIT_PREFIXES["validation"])
    lower = base.endswith(("loss", "error")) or base.split("_")[-1] in ERROR_NAMES
    if lower or base.endswith(SCORE_NAMES):
        return ("min" if lower else "max"), None
    return "unknown", None


def unlogged(
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
