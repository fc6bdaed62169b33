"""The Python API: everything the CLI does, as functions."""

from __future__ import annotations

from typing import Any

from kerascli.spec import Spec, load_spec


def build_model(spec: Spec) -> Any:
    """Build the `keras.Model` a spec describes (see `kerascli.build.builder`)."""
    from kerascli.build.builder import build_model as _build

    return _build(spec)


__all__ = ["build_model", "load_spec"]
