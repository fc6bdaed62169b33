"""Shared test fixtures: the CLI run in-process (TensorFlow is imported once per test session)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kerascli.cli.app import main

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "model_specs"


@dataclass
class Result:
    """What one kerascli command left: its exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def invoke(*args: str | Path) -> Result:
    """Run kerascli in-process (with `CI` set, as in a pipeline) and capture what it printed.

    Needs no pytest fixture, so module-scoped fixtures can train a run once and share it.
    """
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_ci = sys.argv, os.environ.get("CI")
    sys.argv = ["kerascli", *argv]
    os.environ["CI"] = "true"
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(argv)
            except SystemExit as exc:
                code = int(exc.code or 0)
            else:
                code = 0
    finally:
        sys.argv = saved_argv
        if saved_ci is None:
            os.environ.pop("CI", None)
        else:
            os.environ["CI"] = saved_ci
    return Result(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli() -> Callable[..., Result]:
    """`cli("train", spec, ...)` runs kerascli and returns its exit code, stdout and stderr."""
    return invoke
