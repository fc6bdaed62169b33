"""Shared test fixtures: the CLI run in-process (TensorFlow is imported once per test session)."""

from __future__ import annotations

import json
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
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Result]:
    """`cli("train", spec, ...)` runs kerascli and returns its exit code, stdout and stderr."""
    monkeypatch.setenv("CI", "true")

    def run(*args: str | Path) -> Result:
        argv = [str(a) for a in args]
        monkeypatch.setattr("sys.argv", ["kerascli", *argv])
        capsys.readouterr()
        try:
            main(argv)
        except SystemExit as exc:
            code = int(exc.code or 0)
        else:
            code = 0
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run
