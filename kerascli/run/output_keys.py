"""A model's raw output(s) by output key: the one rule the target checks and prediction use."""

from __future__ import annotations

from typing import Any

from kerascli.spec.facts import SINGLE


def outputs_by_key(raw: Any) -> dict[str, Any]:
    """A model's output(s) (tensors, or what `predict` returns) by output key: a mapping's by
    name, a model's only output (one tensor or array, or a mapping of one) as `SINGLE`, the
    key its targets and classes have."""
    if not isinstance(raw, dict):
        return {SINGLE: raw}
    if len(raw) == 1:
        return {SINGLE: next(iter(raw.values()))}
    return dict(raw)
