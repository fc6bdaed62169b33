"""Shared test fixtures: the CLI run in-process (TensorFlow is imported once per test session)."""

from __future__ import annotations

import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kerascli.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
SPECS = ROOT / "model_specs"

# stdout and stderr apart: Click 8.2+ always keeps them apart; Click 8.1 (Typer 0.12.4, the
# floor in .ci/constraints-min.txt) only with `mix_stderr=False`.
_APART = {"mix_stderr": False} if "mix_stderr" in inspect.signature(CliRunner).parameters else {}
RUNNER = CliRunner(env={"CI": "true"}, **_APART)  # `CI` set, as in a pipeline


@dataclass
class Result:
    """What one kerascli command left: its exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def invoke(*args: str | Path) -> Result:
    """Run kerascli in-process (`typer.testing.CliRunner`) and capture what it printed.

    Needs no pytest fixture, so module-scoped fixtures can train a run once and share it.
    `sys.argv` is the command line, as a run records it in `train.log` and `run.json`.
    """
    argv = [str(a) for a in args]
    saved_argv, sys.argv = sys.argv, ["kerascli", *argv]
    try:
        result = RUNNER.invoke(app, argv, catch_exceptions=False)
    finally:
        sys.argv = saved_argv
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def cli() -> Callable[..., Result]:
    """`cli("train", spec, ...)` runs kerascli and returns its exit code, stdout and stderr."""
    return invoke


def train_example(factory: pytest.TempPathFactory, stem: str, epochs: int) -> Path:
    """Train the shipped example `model_specs/<stem>.yaml` for `epochs` into a fresh runs
    directory; the run's directory."""
    runs = factory.mktemp(f"{stem}-runs")
    result = invoke(
        "train", SPECS / f"{stem}.yaml", "--epochs", str(epochs), "--runs-dir", runs, "--json"
    )
    assert result.code == 0, result.err
    return Path(result.json()["run_dir"])


@pytest.fixture(scope="session")
def iris_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One completed 2-epoch run of the iris example, `<runs>/iris-mlp/1`, trained once per test
    session and shared by the tests that only read it: copy it before changing anything in it."""
    return train_example(tmp_path_factory, "iris_mlp", 2)


STOP_AT = """
import keras

class StopAt(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise RuntimeError(f"stopped at epoch {self.epoch}")
"""
"""A plugin file with a callback `StopAt: {epoch: N}` that makes a run die after epoch N."""
