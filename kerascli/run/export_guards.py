"""What an export is held to besides parity: options its format takes, and its packages
(`checked_format`); a run that completed (`exported_run`); and a Ctrl-C or SIGTERM while it
runs ends it as an interrupt (`interrupts_kept`), whatever the code it interrupted made of it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerascli.run.export_formats import Format, check_installed, get_format
from kerascli.run.rundir import Terminated
from kerascli.run.runs import read_record, run_status
from kerascli.spec.problems import Problem, SpecError


def checked_format(name: str, quantize: bool, version: int | None) -> Format:
    """The format `name`, refusing (exit code 2) `quantize` or `version` where it does not
    take them, and (exit code 1, naming the extra) packages it needs that are missing."""
    fmt = get_format(name)
    if quantize and fmt.name != "litert":
        message = f"--quantize is for --format litert only (got --format {fmt.name})"
        raise SpecError([Problem(message, "", "--quantize")])
    if version is not None and fmt.name != "saved_model":
        message = f"--version is for --format saved_model only (got --format {fmt.name})"
        raise SpecError([Problem(message, "", "--version")])
    if version is not None and version < 1:
        message = f"a version is a positive integer, got {version}"
        raise SpecError([Problem(message, "", "--version")])
    check_installed(fmt)
    return fmt


MODEL_FILE = "model.keras"
"""A run directory's model (`RUN/model.keras`)."""


def exported_run(target: str | Path) -> Path | None:
    """The run directory `target` names: a run directory, or its `model.keras` (exported as
    the run, and recorded in its `run.json`); `None` for a model file or folder without a
    `run.json` (a bare model: nothing to check).

    Raises:
        SpecError: the run's `run.json` says it did not complete (`failed`, `interrupted`,
            `running`, `dead`, ... read as `kerascli runs` reads it): its `model.keras`, if
            any, is not the model it was to train (exit code 2).
        UnreadableRun: the run's `run.json` cannot be read.
    """
    path = Path(target)
    run = path if path.is_dir() else path.parent if path.name == MODEL_FILE else None
    if run is None or not (run / "run.json").is_file():
        return None
    status = run_status(read_record(run / "run.json"))
    if status != "completed":
        why = {"running": "is still running", "dead": "is dead (its process is gone)"}
        said = why.get(status, f"is marked {status}")
        message = (
            f"run {run} {said}, not completed: its model is not the model it was to train; "
            "export a completed run"
        )
        raise SpecError([Problem(message, "", str(run / "run.json"))])
    return run


_noted: list[int] = []
"""The signals that arrived since the outermost `interrupts_kept` block began."""
_replaced: dict[int, Any] = {}
"""The handlers the outermost block replaced, by signal; empty outside one."""


@contextlib.contextmanager
def interrupts_kept() -> Iterator[None]:
    """While the block runs, a Ctrl-C (SIGINT) or SIGTERM is noted as it arrives, and raises
    as before (`KeyboardInterrupt`, or `Terminated` under the CLI); if one arrived since the
    outermost such block began, the block ends with it even where the code it interrupted
    made another error of it or swallowed it (TensorFlow's tracing has a bare `except` that
    raises a `TypeError` instead). A block inside another shares its notes: it ends as an
    interrupt for one that arrived earlier in the outer block. Off the main thread, or for a
    signal whose handler is not Python's, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outermost = not _replaced
    if outermost:
        _noted.clear()
        _note_signals()
    try:
        yield
    except Exception as exc:
        if _noted:
            raise _interrupt() from exc
        raise
    finally:
        if outermost:
            _restore_handlers()
    if _noted:
        raise _interrupt()


def _note_signals() -> None:
    for signum in (signal.SIGINT, signal.SIGTERM):
        handler = signal.getsignal(signum)
        if callable(handler):  # (not SIG_DFL, SIG_IGN, or one set outside Python)
            _replaced[signum] = handler
            signal.signal(signum, _note)


def _note(signum: int, frame: Any) -> None:
    _noted.append(signum)
    _replaced[signum](signum, frame)


def _restore_handlers() -> None:
    for signum, handler in _replaced.items():
        if signal.getsignal(signum) is _note:  # (SIGTERM's CLI handler resets itself)
            signal.signal(signum, handler)
    _replaced.clear()


def _interrupt() -> KeyboardInterrupt:
    return Terminated() if _noted[0] == signal.SIGTERM else KeyboardInterrupt()
