"""The numbers of an evaluation report, from targets and predictions, in numpy alone.

Classification (`classification`): a confusion matrix (rows: the true class, columns: the
predicted one), per-class precision, recall, F1 and support, accuracy, and their macro and
weighted averages. Binary scores (`binary_curves`): the ROC curve and its area, and the
precision-recall curve and its average precision, computed at every distinct score as
scikit-learn computes them. Regression (`regression`): MAE, MSE, RMSE, R² and the residuals'
statistics. `DEFINITIONS` says, in `report.json`, what each number is where it could be read two
ways (a ratio over zero, the sign of a residual).
"""

from __future__ import annotations

from typing import Any

import numpy as np

ZERO_DIVISION = 0.0
"""A ratio whose denominator is zero: the precision of a class never predicted, the recall of a
class absent from the targets, F1 where precision and recall are both 0."""

DEFINITIONS = {
    "confusion_matrix": "counts; rows are the true classes, columns the predicted ones",
    "zero_division": (
        f"{ZERO_DIVISION:g}: precision of a class never predicted, recall of a class absent "
        "from the targets, F1 where precision and recall are both 0"
    ),
    "macro_avg": "unweighted mean over the classes found in the targets or the predictions",
    "weighted_avg": "mean over the classes weighted by their support (rows of that class)",
    "predicted_class": (
        "the class of highest probability; for one sigmoid unit the positive class where its "
        "probability is >= 0.5"
    ),
    "roc_auc": "area under the ROC curve over every distinct score (trapezoids); null when "
    "the targets hold one class only",
    "average_precision": "sum over thresholds of (recall step) x precision; null without "
    "positive targets",
    "residual": "target - prediction",
    "r2": "1 - sum(residual^2) / sum((target - mean target)^2); null for constant targets",
    "weights": "every row counts once (sample weights are not applied)",
}


def _ratio(numerator: Any, denominator: Any) -> np.ndarray:
    """`numerator / denominator`, `ZERO_DIVISION` where the denominator is zero."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    out = np.full(numerator.shape, ZERO_DIVISION)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def confusion_matrix(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) over class ids `0..classes-1`."""
    pairs = np.asarray(true, np.int64) * classes + np.asarray(predicted, np.int64)
    return np.bincount(pairs, minlength=classes * classes).reshape(classes, classes)


def classification(matrix: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support, accuracy and the averages of a confusion
    matrix whose rows and columns are `classes`."""
    hits = np.diag(matrix).astype(float)
    support, predicted = matrix.sum(axis=1), matrix.sum(axis=0)
    precision, recall = _ratio(hits, predicted), _ratio(hits, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    scores = {"precision": precision, "recall": recall, "f1": f1}
    seen = (support + predicted) > 0
    total = int(support.sum())
    per_class = {
        name: {**{k: float(v[i]) for k, v in scores.items()}, "support": int(support[i])}
        for i, name in enumerate(classes)
    }
    return {
        "accuracy": float(hits.sum() / total) if total else ZERO_DIVISION,
        "per_class": per_class,
        "macro_avg": {k: float(v[seen].mean()) if seen.any() else 0.0 for k, v in scores.items()}
        | {"support": total},
        "weighted_avg": {k: float(_ratio((v * support).sum(), total)) for k, v in scores.items()}
        | {"support": total},
        "confusion_matrix": matrix.astype(int).tolist(),
    }


def _area(x: np.ndarray, y: np.ndarray) -> float:
    """The area under the polyline through (x, y) (trapezoids; `np.trapz` is gone in numpy 2)."""
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))


def binary_curves(true: np.ndarray, scores: np.ndarray) -> dict[str, Any]:
    """ROC and precision-recall curves of `scores` (the positive class's probability) against
    0/1 `true`, with one point per distinct score, and their areas: `roc_auc` (trapezoids) and
    `average_precision` (the step sum); each `None` where it is undefined (no positive or no
    negative target)."""
    order = np.argsort(-np.asarray(scores, float), kind="mergesort")
    ranked, labels = np.asarray(scores, float)[order], np.asarray(true, float)[order]
    last = np.r_[np.flatnonzero(np.diff(ranked)), len(ranked) - 1]  # last row of each score
    hits = np.cumsum(labels)[last]
    false = (last + 1) - hits
    positives, negatives = hits[-1] if len(hits) else 0.0, false[-1] if len(false) else 0.0
    fpr = np.r_[0.0, _ratio(false, np.full_like(false, negatives))]
    tpr = np.r_[0.0, _ratio(hits, np.full_like(hits, positives))]
    precision = np.r_[1.0, _ratio(hits, hits + false)]
    recall = tpr
    return {
        "roc": {"fpr": fpr, "tpr": tpr, "thresholds": ranked[last]},
        "pr": {"precision": precision, "recall": recall},
        "roc_auc": _area(fpr, tpr) if positives and negatives else None,
        "average_precision": float(np.sum(np.diff(recall) * precision[1:])) if positives else None,
        "positives": int(positives),
        "negatives": int(negatives),
    }


def regression(true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """MAE, MSE, RMSE, R² and the statistics of the residuals (`target - prediction`) over
    every value (each row's values, flattened)."""
    true, predicted = np.asarray(true, float).ravel(), np.asarray(predicted, float).ravel()
    residual = true - predicted
    mse = float(np.mean(residual**2))
    spread = float(np.sum((true - true.mean()) ** 2))
    quantiles = np.quantile(residual, [0.05, 0.5, 0.95])
    return {
        "mae": float(np.mean(np.abs(residual))),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "r2": 1 - float(np.sum(residual**2)) / spread if spread > 0 else None,
        "residuals": {
            "mean": float(residual.mean()),
            "std": float(residual.std()),
            "min": float(residual.min()),
            "p05": float(quantiles[0]),
            "median": float(quantiles[1]),
            "p95": float(quantiles[2]),
            "max": float(residual.max()),
        },
        "values": int(true.size),
    }
