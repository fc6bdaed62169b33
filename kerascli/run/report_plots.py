"""The pictures of an evaluation report (matplotlib, Agg): a confusion matrix, ROC and
precision-recall curves, residuals and predicted-vs-true; each written atomically as PNG."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kerascli.run.rundir import atomic_write

MAX_POINTS = 20_000
"""Points a scatter picture draws at most (every k-th row beyond that; the numbers use all)."""
MAX_ANNOTATED = 30
"""Classes up to which a confusion matrix writes its counts in its cells."""


def _figure(path: Path, draw: Callable[[Any], None], size: tuple[float, float]) -> None:
    """Draw on a new figure (`draw(fig)`) and write it to `path` as PNG, atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=size)
    try:
        draw(fig)
        fig.tight_layout()
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100)
        atomic_write(path, buffer.getvalue())
    finally:
        plt.close(fig)


def confusion_picture(path: Path, matrix: np.ndarray, classes: list[str], title: str) -> None:
    """The confusion matrix as a heat map (rows: true class, columns: predicted class)."""
    n = len(classes)
    side = min(3.0 + 0.45 * n, 14.0)

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        image = ax.imshow(matrix, cmap="Blues")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
        ax.set_xticks(
            range(n), classes, rotation=45 if n > 3 else 0, ha="right" if n > 3 else "center"
        )
        ax.set_yticks(range(n), classes)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(title)
        if n <= MAX_ANNOTATED:
            middle = matrix.max() / 2 if matrix.size else 0
            for (i, j), count in np.ndenumerate(matrix):
                colour = "white" if count > middle else "black"
                ax.text(j, i, str(count), ha="center", va="center", color=colour)

    _figure(path, draw, (side + 1.0, side))


def roc_picture(
    path: Path, fpr: np.ndarray, tpr: np.ndarray, auc: float | None, title: str
) -> None:
    """The ROC curve, with the chance diagonal."""

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        label = f"AUC = {auc:.4f}" if auc is not None else "AUC undefined"
        ax.plot(fpr, tpr, label=label)
        ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        _unit_axes(ax, "false positive rate", "true positive rate", title)

    _figure(path, draw, (4.5, 4.2))


def pr_picture(
    path: Path,
    recall: np.ndarray,
    precision: np.ndarray,
    ap: float | None,
    prevalence: float,
    title: str,
) -> None:
    """The precision-recall curve, with the precision of guessing (the positives' share)."""

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        label = f"AP = {ap:.4f}" if ap is not None else "AP undefined"
        ax.step(recall, precision, where="pre", label=label)  # P_n holds on (R_n-1, R_n]
        ax.axhline(prevalence, color="grey", linestyle=":", linewidth=1)
        _unit_axes(ax, "recall", "precision", title)

    _figure(path, draw, (4.5, 4.2))


def _unit_axes(ax: Any, x: str, y: str, title: str) -> None:
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    ax.legend(loc="lower right")


def _thinned(*arrays: np.ndarray) -> list[np.ndarray]:
    """Every k-th value of each array, at most `MAX_POINTS`."""
    step = max(1, -(-len(arrays[0]) // MAX_POINTS))
    return [a[::step] for a in arrays]


def residual_picture(path: Path, true: np.ndarray, predicted: np.ndarray, title: str) -> None:
    """Residuals (target - prediction) against the prediction, and their histogram."""
    residual = true - predicted

    def draw(fig: Any) -> None:
        scatter, histogram = fig.subplots(1, 2)
        x, y = _thinned(predicted, residual)
        scatter.scatter(x, y, s=8, alpha=0.5)
        scatter.axhline(0, color="grey", linestyle=":", linewidth=1)
        scatter.set_xlabel("prediction")
        scatter.set_ylabel("residual (target - prediction)")
        scatter.set_title(title)
        histogram.hist(residual, bins=min(50, max(10, int(np.sqrt(len(residual))))))
        histogram.set_xlabel("residual")
        histogram.set_ylabel("values")

    _figure(path, draw, (9.0, 4.0))


def predicted_picture(path: Path, true: np.ndarray, predicted: np.ndarray, title: str) -> None:
    """Predictions against targets, with the line where they are equal."""

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        x, y = _thinned(true, predicted)
        ax.scatter(x, y, s=8, alpha=0.5)
        low = float(min(true.min(), predicted.min()))
        high = float(max(true.max(), predicted.max()))
        ax.plot([low, high], [low, high], color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("target")
        ax.set_ylabel("prediction")
        ax.set_title(title)

    _figure(path, draw, (4.5, 4.2))
