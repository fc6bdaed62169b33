"""One output's part of an evaluation report: what the output is (`output_kind`, from its
loss in `spec.outputs`), its numbers (`report_metrics`) and the pictures to draw for it
(`report_plots`), as `describe` returns them; an output it cannot describe is refused."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kerascli.run import report_metrics as rm
from kerascli.run import report_plots as plots
from kerascli.run.output_keys import predicted_classes, target_classes
from kerascli.spec.models import Spec
from kerascli.spec.outputs import index_classes, loss_kind, loss_name
from kerascli.spec.problems import KerasCliError, Problem, SpecError

Picture = Callable[[], None]
"""A picture to draw (once every output is described: a refused one draws nothing)."""


def _refuse(name: str, why: str) -> SpecError:
    return SpecError([Problem(f"cannot report on output '{name}': {why}", "", "--report")])


def output_kind(spec: Spec, key: str, units: int, name: str) -> str:
    """`binary`, `multiclass` or `regression`: what output `key` (`units` wide) is, from its loss
    (`loss_kind`, `index_classes`); a crossentropy that does not hold one class per row, or no
    loss, is refused."""
    classes = index_classes(spec, key, units)
    if classes is not None:
        return "binary" if len(classes) == 2 else "multiclass"
    loss = loss_name(spec, key)
    if loss_kind(spec, key):
        why = f"{loss} over {units} units is not one class per row"
        if units > 1:
            why += " (several sigmoid units: a multi-label output, which the report does not cover)"
        raise _refuse(name, why)
    if not loss:
        raise _refuse(name, "the spec gives it no loss, so whether it is a classifier is unknown")
    return "regression"


def describe(
    spec: Spec,
    key: str,
    name: str,
    predicted: np.ndarray,
    target: np.ndarray,
    known: dict[str, list[str]],
    out: Path,
    prefix: str,
) -> tuple[dict[str, Any], list[Picture]]:
    """One output's entry in the report, and the pictures to draw for it."""
    units = int(predicted.shape[-1]) if predicted.ndim > 1 else 1
    kind = output_kind(spec, key, units, name)
    if not np.isfinite(predicted).all():
        bad = int((~np.isfinite(predicted.reshape(len(predicted), -1))).any(axis=1).sum())
        raise KerasCliError(f"output '{name}' predicts NaN or infinity for {bad} rows")
    head = {"kind": kind, "loss": loss_name(spec, key)}
    if kind == "regression":
        return _regression(name, predicted, target, out, prefix, head)
    classes = index_classes(spec, key, units) or []
    names = known.get(key) if len(known.get(key) or []) == len(classes) else None
    probabilities = predicted.reshape(-1, units)  # one row per prediction (or per step)
    guess = predicted_classes(loss_kind(spec, key), probabilities)
    try:
        true = target_classes(loss_kind(spec, key), target, guess.shape, units)
    except ValueError as error:
        raise _refuse(name, str(error)) from None
    return _classifier(name, kind, probabilities, guess, true, names or classes, out, prefix, head)


def _regression(
    name: str, predicted: np.ndarray, target: np.ndarray, out: Path, prefix: str, head: dict
) -> tuple[dict[str, Any], list[Picture]]:
    """A regression output's errors and residuals (every value of each row), and its pictures."""
    if target.size != predicted.size:
        raise _refuse(name, f"{target.size} target values for {predicted.size} predicted")
    true, guess = target.astype(float).ravel(), predicted.astype(float).ravel()
    if not np.isfinite(true).all():
        raise _refuse(name, f"{int((~np.isfinite(true)).sum())} of its target values are NaN")
    residuals, versus = f"{prefix}_residuals.png", f"{prefix}_predicted_vs_true.png"
    entry = {**head, **rm.regression(true, guess), "pictures": [residuals, versus]}
    return entry, [
        lambda: plots.residual_picture(out / residuals, true, guess, f"{name}: residuals"),
        lambda: plots.predicted_picture(out / versus, true, guess, f"{name}: predicted vs true"),
    ]


def _classifier(
    name: str,
    kind: str,
    probabilities: np.ndarray,
    guess: np.ndarray,
    true: np.ndarray,
    classes: list[str],
    out: Path,
    prefix: str,
    head: dict,
) -> tuple[dict[str, Any], list[Picture]]:
    """A classifier's entry (per-class scores, confusion matrix; curves for a binary one) and
    its pictures; `probabilities`: one row per prediction, `guess` and `true`: the predicted
    and the target class ids."""
    scores = probabilities[:, -1]  # a binary output's positive class (its one sigmoid unit)
    matrix = rm.confusion_matrix(true, guess, len(classes))
    entry = {**head, "classes": classes, **rm.classification(matrix, classes)}
    title = f"{name}: confusion matrix"
    confusion = f"{prefix}_confusion_matrix.png"
    pictures = {confusion: lambda: plots.confusion_picture(out / confusion, matrix, classes, title)}
    if kind == "binary":
        curves = rm.binary_curves(true, scores)
        keys = ("roc_auc", "average_precision", "positives", "negatives")
        entry |= {"positive_class": classes[1], **{k: curves[k] for k in keys}}
        pictures |= _curve_pictures(name, curves, out, prefix)
    entry["pictures"] = list(pictures)
    return entry, list(pictures.values())


def _curve_pictures(
    name: str, curves: dict[str, Any], out: Path, prefix: str
) -> dict[str, Picture]:
    """A binary output's ROC and precision-recall pictures, by file name."""
    roc, pr = curves["roc"], curves["pr"]
    share = curves["positives"] / max(curves["positives"] + curves["negatives"], 1)
    roc_file, pr_file = f"{prefix}_roc.png", f"{prefix}_pr.png"
    return {
        roc_file: lambda: plots.roc_picture(
            out / roc_file, roc["fpr"], roc["tpr"], curves["roc_auc"], f"{name}: ROC"
        ),
        pr_file: lambda: plots.pr_picture(
            out / pr_file,
            pr["recall"],
            pr["precision"],
            curves["average_precision"],
            share,
            f"{name}: precision-recall",
        ),
    }
