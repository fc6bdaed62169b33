"""`kerascli export` (being built; see /work/plan/PLAN.md)."""

from __future__ import annotations

from kerascli.cli.command import command
from kerascli.cli.errors import InvalidArgument


@command
def export() -> None:
    """(being built)"""
    raise InvalidArgument("not built yet")
