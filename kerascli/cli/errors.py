"""How a command ends: its exit code, and the one line (or JSON document) that says why.

`report` is the one place where what a command raised becomes an exit code and a message:
0 ok, 1 runtime failure, 2 invalid spec or arguments, 3 a quality gate failed, 130 interrupted
(Ctrl-C), 143 terminated (SIGTERM). The library's errors are imported when one is reported,
so starting the CLI imports none of it.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerascli.cli import render

EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_GATE = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM, as shells report


class GateFailed(Exception):
    """A `--require` quality gate failed (exit code 3); the command has shown the gates."""


class InvalidArgument(Exception):
    """An argument the command cannot use, said in one line (exit code 2), e.g. a file that
    exists without `--force`."""


def report(exc: BaseException, json_mode: bool, debug: bool) -> int:
    """Say why a command ended (stderr, or the JSON document on stdout) and return its exit code.

    Args:
        exc: What the command raised.
        json_mode: Whether the command was given `--json`.
        debug: Whether the command was given `--debug` (tracebacks are shown).
    """
    if isinstance(exc, KeyboardInterrupt):
        return _interrupted(exc)
    if isinstance(exc, GateFailed):
        return EXIT_GATE
    if is_usage_error(exc) or isinstance(exc, InvalidArgument):
        _one_line(exc, json_mode)
        return EXIT_INVALID
    from kerascli.run.rundir import RunFailed
    from kerascli.spec.problems import SpecError

    run_dir = exc.run_dir if isinstance(exc, RunFailed) else None
    cause = exc.cause if isinstance(exc, RunFailed) else exc
    if isinstance(cause, SpecError):
        _invalid(cause, run_dir, json_mode)
        if debug:
            traceback.print_exception(exc)
        return EXIT_INVALID
    _failure(exc, cause, run_dir, json_mode, debug)
    return EXIT_FAILURE


def is_usage_error(exc: BaseException) -> bool:
    """Whether `exc` is a Click usage error (`typer.BadParameter`, an unknown option, a missing
    argument): those can show themselves. Typer vendors Click in new releases, so the class is
    recognised by what it does, not imported from a private module."""
    return callable(getattr(exc, "format_message", None)) and callable(getattr(exc, "show", None))


def _one_line(exc: BaseException, json_mode: bool) -> None:
    """A bad argument: Click's own usage message, or `error: <what is wrong>`."""
    usage = is_usage_error(exc)
    if json_mode:
        message = exc.format_message() if usage else str(exc)  # type: ignore[attr-defined]
        render.print_json({"ok": False, "errors": [{"message": message}]})
    elif usage:
        exc.show()  # type: ignore[attr-defined]
    else:
        render.error(str(exc))


def _invalid(exc: Any, run_dir: Path | None, json_mode: bool) -> None:
    """An invalid spec, data or argument (a `SpecError`): every problem, located."""
    if json_mode:
        invalid = {"ok": False, "errors": [p.to_dict() for p in exc.problems]}
        render.print_json({**invalid, **({"run_dir": str(run_dir)} if run_dir else {})})
        return
    render.print_problems(exc.problems)
    if run_dir is not None:
        render.stderr.print(f"run {run_dir} is marked failed and keeps what it wrote")


def _failure(
    exc: BaseException, cause: BaseException, run_dir: Path | None, json_mode: bool, debug: bool
) -> None:
    """A runtime failure: one line, the traceback with --debug."""
    from kerascli.spec.problems import cause_line

    if json_mode:
        document: dict[str, Any] = {"ok": False, "errors": [{"message": cause_line(cause)}]}
        if run_dir is not None:
            document["run_dir"] = str(run_dir)
        render.print_json(document)
        return
    render.error(cause_line(cause))
    if run_dir is not None:
        render.stderr.print(f"run {run_dir} is marked failed and keeps what it wrote")
    if debug:
        traceback.print_exception(exc)
    else:
        render.stderr.print("[dim](run with --debug for the traceback)[/dim]")


def _interrupted(exc: KeyboardInterrupt) -> int:
    """Ctrl-C or SIGTERM: say so on stderr, and name the run it marked (stdout stays empty)."""
    from kerascli.run.rundir import RunInterrupted, Terminated

    if isinstance(exc, RunInterrupted):
        terminated = exc.terminated
    else:
        terminated = isinstance(exc, Terminated)
    render.error("terminated (SIGTERM)" if terminated else "interrupted")
    if isinstance(exc, RunInterrupted):
        status = "terminated" if terminated else "interrupted"
        render.stderr.print(f"run {exc.run_dir} is marked {status} and keeps what it wrote")
    return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM's handler: end the command as Ctrl-C does, through `Terminated`."""
    from kerascli.run.rundir import Terminated

    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated()


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While the block runs, SIGTERM raises `Terminated` (a `KeyboardInterrupt`), so a run
    marks itself `terminated`; the handler it replaced is put back after. Off the main thread,
    where Python cannot handle signals, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        if previous is not None:  # `None`: a handler not set from Python, cannot be put back
            signal.signal(signal.SIGTERM, previous)
