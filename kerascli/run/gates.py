"""Quality gates: `--require 'val_accuracy>=0.9'` checked against a run's metrics."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass

from kerascli.spec.problems import Problem, SpecError, did_you_mean

_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
_GATE = re.compile(
    r"^\s*([A-Za-z_][\w./-]*)\s*(>=|<=|==|>|<)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*$"
)


@dataclass(frozen=True)
class Gate:
    """One requirement on a metric, e.g. `val_accuracy >= 0.9`."""

    metric: str
    op: str
    threshold: float

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.threshold:g}"

    def passes(self, value: float) -> bool:
        return not math.isnan(value) and bool(_OPS[self.op](value, self.threshold))


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    value: float
    passed: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "gate": str(self.gate),
            "metric": self.gate.metric,
            "op": self.gate.op,
            "threshold": self.gate.threshold,
            "value": self.value,
            "passed": self.passed,
        }


def parse_gates(texts: list[str]) -> list[Gate]:
    """Parse `--require` expressions; a malformed one is an argument error (exit 2)."""
    gates, problems = [], []
    for text in texts:
        match = _GATE.match(text)
        if match is None:
            problems.append(
                Problem(
                    f"cannot read '{text}': expected METRIC OP NUMBER, e.g. 'val_accuracy>=0.9' "
                    f"(OP one of {', '.join(_OPS)})",
                    "",
                    "--require",
                )
            )
            continue
        gates.append(Gate(match.group(1), match.group(2), float(match.group(3))))
    if problems:
        raise SpecError(problems)
    return gates


def check_names(gates: list[Gate], names: list[str]) -> None:
    """Every gate must name one of `names`; raises `SpecError` (exit 2) otherwise."""
    problems = []
    for gate in gates:
        if gate.metric not in names:
            hint = did_you_mean(gate.metric, names)
            problems.append(
                Problem(
                    f"no metric '{gate.metric}'{hint}; metrics: {', '.join(names)}",
                    "",
                    f"--require {gate}",
                )
            )
    if problems:
        raise SpecError(problems)


def check_gates(gates: list[Gate], metrics: dict[str, float]) -> list[GateResult]:
    """Check gates against metrics; naming a metric the run does not have is an error."""
    check_names(gates, list(metrics))
    return [GateResult(g, metrics[g.metric], g.passes(metrics[g.metric])) for g in gates]
