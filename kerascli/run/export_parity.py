"""The parity check of an export: the artifact, run in its own runtime, against the Keras model
on the same batches of rows (the rows `evaluate` reads).

Per output: the largest and mean absolute difference of the raw outputs, and the values the
artifact gives as NaN or infinity where the Keras model's are finite; for a classifier output
(a crossentropy loss) the share of predicted classes that agree (`output_keys.predicted_classes`,
the rule of `predict`'s labels) and, where the rows have targets that are classes, each
model's accuracy; for another output each model's mean absolute error on the targets.
`Parity.metrics` names them for the gates an export is held to (`parity_gates`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kerascli.data.model_arrays import Split
from kerascli.data.pipeline import make_dataset
from kerascli.data.stream import Stream, located_failures
from kerascli.run.export_formats import ExportFailed, Runner, Signature
from kerascli.run.gates import Gate, parse_gates
from kerascli.run.output_keys import outputs_by_key, predicted_classes, target_classes
from kerascli.run.saved_run import LoadedRun
from kerascli.spec.models import DataSpec, Spec
from kerascli.spec.outputs import from_logits, loss_kind
from kerascli.spec.problems import Problem, SpecError

PARITY_BATCH = 256
"""Rows per batch given to both models."""
DEFAULT_REQUIRE = "max_abs_diff<1e-3"
"""The gate an export is held to when `--require` gives none (a quantized LiteRT model: none,
its int8 weights move the outputs by ~1e-2)."""
FINITE_REQUIRE = "export_nonfinite==0"
"""The gate every export is held to: no NaN or infinite output where the Keras model's is
finite."""
SCORED = ("accuracy_change", "mae_change", "_accuracy", "_mae")
"""The endings of the figures that need the rows' targets (`keras_accuracy`, `mae_change`, an
output's own prefixed with its name)."""


@dataclass
class _Tally:
    """One output's differences and scores, summed over batches."""

    kind: str  # `loss_kind`: '' for an output that is not a classifier
    logits: bool = False  # it gives logits (`from_logits: true`), not probabilities
    elements: int = 0
    abs_sum: float = 0.0
    max_abs: float = 0.0
    nonfinite: int = 0  # the artifact's NaN or infinite values where Keras's are finite
    agree: int = 0
    classified: int = 0
    keras_score: float = 0.0  # classifier: right predictions; else: summed absolute error
    export_score: float = 0.0
    scored: int = 0
    soft: bool = False  # targets that are not classes (soft labels): no accuracy

    def add(self, keras: np.ndarray, export: np.ndarray, target: Any) -> None:
        with np.errstate(invalid="ignore"):  # inf - inf: the same infinity is no difference
            diff = np.abs(keras - export)
        diff[(keras == export) | (np.isnan(keras) & np.isnan(export))] = 0.0
        self.nonfinite += int((np.isfinite(keras) & ~np.isfinite(export)).sum())
        self.elements += diff.size
        self.abs_sum += float(diff.sum())
        self.max_abs = float(np.max([self.max_abs, diff.max(initial=0.0)]))  # NaN stays NaN
        if self.kind:
            self._classify(keras, export, target)
        elif target is not None and np.size(target) == keras.size:
            truth = np.asarray(target, np.float64).reshape(keras.shape)
            self.keras_score += float(np.abs(keras - truth).sum())
            self.export_score += float(np.abs(export - truth).sum())
            self.scored += truth.size

    def _classify(self, keras: np.ndarray, export: np.ndarray, target: Any) -> None:
        """Count the predicted classes that agree, and (targets given) that are right."""
        ours = predicted_classes(self.kind, keras, self.logits)
        theirs = predicted_classes(self.kind, export, self.logits)
        self.agree += int((ours == theirs).sum())
        self.classified += ours.size
        if target is None or self.soft:
            return
        units = int(keras.shape[-1]) if keras.ndim > 1 else 1
        try:
            truth = target_classes(self.kind, target, ours.shape, units)
        except ValueError:
            self.soft = True
            return
        self.keras_score += float((ours == truth).sum())
        self.export_score += float((theirs == truth).sum())
        self.scored += truth.size

    def metrics(self) -> dict[str, float]:
        out = {"max_abs_diff": self.max_abs, "mean_abs_diff": self.abs_sum / max(self.elements, 1)}
        out["export_nonfinite"] = float(self.nonfinite)
        if self.kind:
            out["class_agreement"] = self.agree / max(self.classified, 1)
        if self.scored and not self.soft:
            what = "accuracy" if self.kind else "mae"
            keras, export = self.keras_score / self.scored, self.export_score / self.scored
            out.update(
                {f"keras_{what}": keras, f"export_{what}": export, f"{what}_change": export - keras}
            )
        return out


@dataclass
class Parity:
    """The parity of an artifact with its Keras model: `rows` compared, and the figures of
    each output (by the artifact's output name)."""

    rows: int
    outputs: dict[str, dict[str, float]] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """The figures a gate may name: `rows`, `max_abs_diff` (over every output),
        `export_nonfinite` (summed), `class_agreement` (the lowest of the classifier outputs'),
        and each output's own (for a model of several outputs, prefixed by its name:
        `diagnosis_class_agreement`)."""
        out: dict[str, float] = {"rows": float(self.rows)}
        if len(self.outputs) == 1:
            return {**out, **next(iter(self.outputs.values()))}
        out["max_abs_diff"] = float(np.max([m["max_abs_diff"] for m in self.outputs.values()]))
        out["export_nonfinite"] = float(sum(m["export_nonfinite"] for m in self.outputs.values()))
        agreements = [m["class_agreement"] for m in self.outputs.values() if "class_agreement" in m]
        if agreements:
            out["class_agreement"] = min(agreements)
        for name, values in self.outputs.items():
            out.update({f"{name}_{k}": v for k, v in values.items()})
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "metrics": self.metrics(), "outputs": self.outputs}


def measure(
    run: LoadedRun, values: Split | Stream, artifact: Runner, signature: Signature
) -> Parity:
    """Run the Keras model and the artifact on the same batches of `values` and compare them."""
    data = (run.spec.data or DataSpec(path="-")).model_copy(update={"cache": False})
    tallies: dict[str, _Tally] = {}
    names: dict[str, str] = {}
    rows = 0
    with located_failures([values]):
        for batch in make_dataset(values, data, PARITY_BATCH, None, training=False):
            x, y = (batch[0], batch[1]) if isinstance(batch, tuple) else (batch, None)
            keras = outputs_by_key(run.model(x, training=False))
            raw = artifact(signature.feeds(x))
            export = outputs_by_key(raw)
            if set(keras) != set(export):
                message = (
                    f"the artifact gives outputs {sorted(raw)}, the Keras model {sorted(keras)}"
                )
                raise ExportFailed(message)
            targets = outputs_by_key(y) if y is not None else {}
            for key, value in keras.items():
                ours, theirs = _same_shape(key, np.asarray(value), export[key])
                tally = tallies.setdefault(key, _tally(run.spec, key))
                tally.add(ours, theirs, targets.get(key))
            names = names or {k: (k or next(iter(raw))) for k in keras}
            rows += len(next(iter(keras.values())))
    if rows == 0:
        raise SpecError([Problem("no rows to check the export's parity on", "", "--data")])
    return Parity(rows, {names[k]: t.metrics() for k, t in tallies.items()})


def _same_shape(key: str, keras: np.ndarray, export: Any) -> tuple[np.ndarray, np.ndarray]:
    theirs = np.asarray(export)
    if theirs.shape != keras.shape:
        name = key or "the output"
        message = f"{name}: the artifact gives shape {theirs.shape}, the Keras model {keras.shape}"
        raise ExportFailed(message)
    return keras.astype(np.float64), theirs.astype(np.float64)


def _tally(spec: Spec, key: str) -> _Tally:
    return _Tally(loss_kind(spec, key), from_logits(spec, key))


def parity_gates(require: Sequence[str], quantize: bool) -> list[Gate]:
    """The gates an export is held to: `require`, else `DEFAULT_REQUIRE` (none when
    `quantize`); and always `FINITE_REQUIRE`."""
    texts = list(require) or ([] if quantize else [DEFAULT_REQUIRE])
    return parse_gates([*texts, FINITE_REQUIRE])


def check_scored(gates: list[Gate], where: str, labelled: bool) -> None:
    """Refuse a gate on an accuracy or MAE figure for rows without targets (exit code 2)."""
    for gate in gates if not labelled else []:
        if gate.metric.endswith(SCORED):
            message = (
                f"{gate.metric} needs targets, and {where} has none (without them the parity "
                "check compares outputs and classes only)"
            )
            raise SpecError([Problem(message, "", f"--require {gate}")])
