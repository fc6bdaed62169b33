"""Run directories: `runs/<name>/<n>/`, never overwritten, written atomically."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from kerascli.spec.problems import KerasCliError, cause_line

HOST = socket.gethostname()


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: the run ends as after Ctrl-C, but is marked `terminated` (exit 143)."""


class RunFailed(KerasCliError):
    """A run that ended early: `run_dir` is marked `failed` in its `run.json`; `cause` (also
    `__cause__`) is what ended it (a `SpecError` stays a `SpecError`, with its problems).
    `str()` is the cause's one line."""

    def __init__(self, run_dir: Path, cause: BaseException) -> None:
        super().__init__(cause_line(cause))
        self.run_dir = run_dir
        self.cause = cause


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (`terminated`) ended a run: `run_dir` is marked `interrupted` or
    `terminated` in its `run.json`."""

    def __init__(self, run_dir: Path, terminated: bool = False) -> None:
        super().__init__()
        self.run_dir = run_dir
        self.terminated = terminated


def process_alive(pid: int, since: float | None = None) -> bool:
    """Whether process `pid` of this host is alive (`True` where that cannot be told).

    Args:
        pid: The process id.
        since: A time (seconds since the epoch) the process was already running at: a process
            of that id started well after it is another one that reused the id (Linux only).
            Defaults to `None` (not checked).
    """
    if os.name != "posix" or pid <= 0:
        return True  # os.kill(pid, 0) would stop the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        pass
    started = _process_start(pid) if since is not None else None
    return started is None or since is None or started <= since + _START_SLACK_S


_START_SLACK_S = 30  # /proc's boot time is whole seconds and may drift with the clock


def _process_start(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), from Linux's /proc; else `None`."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        boot = next(
            line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime")
        )
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime
        return int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, StopIteration, IndexError, ValueError):
        return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()  # what open() would give: mkstemp's files are owner-only


def atomic_write(path: Path, data: str | bytes) -> None:
    """Write a file so readers see the old content or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.chmod(tmp, _FILE_MODE)
        if isinstance(data, bytes):
            with os.fdopen(fd, "wb") as binary:
                binary.write(data)
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as text:
                text.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, document: Any) -> None:
    atomic_write(path, json.dumps(document, indent=2, default=str) + "\n")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class Recording:
    """A run being recorded (what `RunDir.recording` yields): its open `train.log` (`file`)
    and the fields `run.json` records once the run completes."""

    file: TextIO
    fields: dict[str, Any] = field(default_factory=dict)

    def log(self, line: str) -> None:
        """Add `line` to `train.log`."""
        self.file.write(f"{line}\n")

    def complete(self, **fields: Any) -> None:
        """Fields for `run.json` to record when the run completes (its `metrics`)."""
        self.fields.update(fields)


@dataclass
class RunDir:
    """One run's directory and its `run.json` record.

    Args:
        path: `runs/<name>/<n>`.
        record: What `run.json` holds; updated with `update`.
    """

    path: Path
    record: dict[str, Any]
    _recording: Recording | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def create(cls, runs_dir: str | Path, name: str, record: dict[str, Any]) -> RunDir:
        """Make the next free `runs_dir/name/<n>/` (n = 1, 2, ...), safely under concurrency.

        `run.json` records the process (`pid`, `host`), so `kerascli runs` can tell a run that
        died unrecorded (SIGKILL, power loss). If `run.json` cannot be written (a full disk),
        the directory is removed again: no empty numbered directory is left.
        """
        parent = Path(runs_dir) / name
        parent.mkdir(parents=True, exist_ok=True)
        taken = [int(p.name) for p in parent.iterdir() if p.name.isdigit()]
        n = max(taken, default=0) + 1
        while True:
            path = parent / str(n)
            try:
                path.mkdir()
                break
            except FileExistsError:
                n += 1
        record = {"name": name, "n": n, "status": "running", "started": now(), **record}
        run = cls(path, {**record, "pid": os.getpid(), "host": HOST})
        try:
            run.save()
        except BaseException:
            with contextlib.suppress(OSError):
                path.rmdir()  # empty: atomic_write removed its temporary file
            raise
        return run

    @classmethod
    def open(cls, path: str | Path) -> RunDir:
        """An existing run, to update its `run.json`."""
        path = Path(path)
        return cls(path, json.loads((path / "run.json").read_text(encoding="utf-8")))

    def save(self) -> None:
        write_json(self.path / "run.json", self.record)

    def update(self, **fields: Any) -> None:
        self.record.update(fields)
        self.save()

    def finish(self, status: str, **fields: Any) -> None:
        started = datetime.fromisoformat(self.record["started"])
        ended = datetime.now(timezone.utc)
        self.update(
            status=status,
            ended=ended.isoformat(timespec="seconds"),
            duration_s=round((ended - started).total_seconds(), 1),
            **fields,
        )

    @contextlib.contextmanager
    def recording(self, epochs_done: Callable[[], int]) -> Iterator[Recording]:
        """Record the run while the block runs; yields a `Recording`: its `train.log` (a line
        at a time, the command line first, open until the block ends) and the fields `run.json`
        records when it completes.

        The end goes into `train.log`'s last line and `run.json` (`status`, `ended`,
        `duration_s`, `epochs_done`): `completed` with the `complete` fields when the block
        ends; else `failed: <cause>` (with `error`), `interrupted` or `terminated`, raised as
        `RunFailed` (for an `Exception`) or `RunInterrupted` from what ended the run. What
        `run.json` could not record (a full disk) is raised as it is, with a warning on stderr.

        Args:
            epochs_done: The number of epochs trained so far.
        """
        recording = Recording(self._open_log())
        self._recording = recording
        try:
            yield recording
            recording.log("completed")
            self.finish("completed", epochs_done=epochs_done(), **recording.fields)
        except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (`Terminated`)
            terminated = isinstance(exc, Terminated)
            status = "terminated" if terminated else "interrupted"
            if self._record_end(status, status, epochs_done=epochs_done()):
                raise RunInterrupted(self.path, terminated) from exc
            raise
        except BaseException as exc:
            cause = cause_line(exc)
            fields = {"error": cause, "epochs_done": epochs_done()}
            recorded = self._record_end("failed", f"failed: {cause}", **fields)
            if recorded and isinstance(exc, Exception):  # a SystemExit stays what it is
                raise RunFailed(self.path, exc) from exc
            raise
        finally:
            self._recording = None
            with contextlib.suppress(OSError):
                recording.file.close()

    def _open_log(self) -> TextIO:
        """`train.log`, open for appending a line at a time, the command line written."""
        log = open(self.path / "train.log", "a", encoding="utf-8", buffering=1)
        try:
            log.write(f"{self.record['command']}\n")
        except BaseException:
            with contextlib.suppress(OSError):
                log.close()
            raise
        return log

    def note(self, line: str) -> None:
        """Add `line` to `train.log` while the run is recorded, as far as the disk lets."""
        with contextlib.suppress(OSError, ValueError):
            if self._recording is not None:
                self._recording.log(line)

    def _record_end(self, status: str, line: str, **fields: Any) -> bool:
        """Mark how the run ended (`train.log`'s last line, `run.json`'s status), as far as the
        disk lets: a full disk must not hide the error that ended the run. Whether `run.json`
        says so."""
        self.note(line)
        try:
            self.finish(status, **fields)
        except OSError as exc:
            print(
                f"warning: could not mark run {self.path} {status} ({cause_line(exc)}); "
                "`kerascli runs` shows it dead once this process ends",
                file=sys.stderr,
            )
            return False
        return True
