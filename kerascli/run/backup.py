"""BackupAndRestore's backup directories, made safe to resume from: checked, locked, linked.

Keras's `BackupAndRestore` writes `latest.weights.h5` and `training_metadata.json` (the epochs
done) into its `backup_dir` after every epoch, and restores from them when the next `fit` begins.
A run that dies while writing leaves a file half written, and every later run would fail on it;
two runs of one spec at once would overwrite each other's backup. So, before `fit`, each run:

- locks its backup directory (`flock` on `.<backup>.lock` beside it, released when the run ends,
  by the kernel if the process dies); while another live run holds it, this run backs up to
  `<backup>-2` (`-3`, ...) instead, and says so;
- checks what the directory holds, and moves a broken backup aside to
  `<backup>.broken-<UTC time>`, with a warning, so training starts afresh;
- records in the directory which run writes it (`writer.json`), and in `run.json` the directory
  (`backup`) and, when it resumes, the run whose backup it resumes and the epoch it resumes at
  (`resumed_from`).

In a multi-worker run the chief claims the directory (refusing one another run holds); after a
barrier each other worker copies the chief's checked state into its temporary run and backs up
there, and all must resume from the same epoch."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascli.run.rundir import HOST, RunDir, write_json
from kerascli.spec.problems import KerasCliError, cause_line

if TYPE_CHECKING:
    from kerascli.run.distribute import Placement

WEIGHTS = "latest.weights.h5"  # Keras's names (keras.callbacks.BackupAndRestore)
METADATA = "training_metadata.json"
PREVIOUS = ".bkp"  # `double_checkpoint=True` keeps the state before as `<file>.bkp`
WRITER = "writer.json"  # ours: the run that writes the backup
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class BackupBusy(KerasCliError):
    """A multi-worker run cannot resume in step: another live run holds its backup directory,
    or its workers see different backups."""


def backup_problem(
    path: Path, suffix: str = "", epochs: int | None = None
) -> tuple[str | None, int | None]:
    """What is wrong with the backup in `path` (`None`: nothing), its epochs done (`None`: none).

    Keras's `training_metadata.json` gives `epoch`, the epochs done: 0 up to `fit.epochs` (a
    run that died after its last epoch, before Keras removed the backup). More is no state of
    this training; weights newer than it are the next epoch's (the run died between the two).

    Args:
        path: A `BackupAndRestore` backup directory.
        suffix: `.bkp` to check the previous state `double_checkpoint` keeps. Defaults to `""`.
        epochs: The run's `fit.epochs`. Defaults to `None` (not checked).
    """
    weights, metadata = path / (WEIGHTS + suffix), path / (METADATA + suffix)
    if not weights.exists() and not metadata.exists():
        return None, None  # nothing backed up yet
    if not metadata.is_file():
        return f"{metadata.name} is missing", None
    try:
        epoch = json.loads(metadata.read_text(encoding="utf-8"))["epoch"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        empty = metadata.stat().st_size == 0
        return f"{metadata.name} is {'empty' if empty else f'unreadable ({cause_line(exc)})'}", None
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
        return f"{metadata.name} gives no epoch count (epoch={epoch!r})", None
    if epochs is not None and epoch > epochs:
        return f"{metadata.name} gives {epoch} epochs done, more than fit.epochs ({epochs})", None
    if not weights.is_file() or weights.stat().st_size == 0:
        return f"{weights.name} is {'empty' if weights.is_file() else 'missing'}", None
    if weights.stat().st_mtime_ns > metadata.stat().st_mtime_ns:  # Keras writes weights first
        return f"{weights.name} is newer than {metadata.name}: not one epoch's state", None
    return _weights_problem(weights), epoch


def _weights_problem(weights: Path) -> str | None:
    with open(weights, "rb") as handle:
        if handle.read(len(_HDF5_SIGNATURE)) != _HDF5_SIGNATURE:
            return f"{weights.name} is not an HDF5 file"
    try:
        import h5py
    except ImportError:  # pragma: no cover (a Keras dependency)
        return None
    try:  # HDF5 compares the end of file it recorded with the file's size: a cut file fails
        h5py.File(weights, "r").close()
    except Exception as exc:
        return f"{weights.name} is unreadable ({cause_line(exc)})"
    return None


def _lock(path: Path) -> int | None:
    """An open descriptor holding the exclusive lock `.<path.name>.lock` beside `path`, or
    `None` if another process (or another run of this one) holds it."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows: no locks)
        return -1
    lock = _lock_path(path)
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        try:  # the holder removes the file as it unlocks: lock the file that is there now
            same = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)


def _lock_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.lock")


def _holder(path: Path) -> str:
    """Who holds `path`'s lock, as its lock file says."""
    try:
        held = json.loads(_lock_path(path).read_text(encoding="utf-8"))
        return f"run {held['run']} (pid {held['pid']} on {held['host']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another run"


class Backups:
    """The backup directories of one run: claimed before `fit`, released as the `with` block
    (or `release`) ends.

    Args:
        run: The run that backs up; warnings go to stderr and its `train.log`.
        epochs: The run's epochs (`fit.epochs` and its stages'): a backup of more epochs is
            broken. Defaults to `None` (not checked).

    Attributes:
        resumed: The epochs done in the backup this run resumes from (Keras restores it as
            `fit` begins), or `None` when it starts afresh.
    """

    def __init__(
        self,
        run: RunDir,
        epochs: int | None = None,
        placement: Placement | None = None,
        runs_dir: str | Path = "runs",
    ) -> None:
        self.run = run
        self.epochs = epochs
        self.placement = placement if placement is not None and placement.workers > 1 else None
        self.runs_dir = runs_dir
        self.resumed: int | None = None
        self._locks: list[tuple[int, Path]] = []
        self._claimed: list[Path] = []

    def __enter__(self) -> Backups:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def warn(self, message: str) -> None:
        print(f"warning: {message}", file=sys.stderr)
        self.run.note(f"warning: {message}")

    def claim(self, backup_dir: Path) -> Path:
        """The directory this run backs up to: `backup_dir`, or `backup_dir-2`, `-3`... while
        another live run holds it; locked, checked (a broken backup is moved aside) and
        recorded in `run.json` (`backup`, and `resumed_from` when there is a state to resume)."""
        if self.placement is not None and not self.placement.chief:
            return self._worker_copy(backup_dir)
        n, path, holder = 1, backup_dir, ""
        while (fd := _lock(path)) is None:
            if self.placement is not None:  # the other workers resume from this directory
                raise BackupBusy(
                    f"backup {path} is in use by {_holder(path)}; a multi-worker run resumes "
                    "from one directory: wait for that run to end, or give BackupAndRestore "
                    "another backup_dir"
                )
            if n == 1:
                holder = _holder(path)
            n += 1
            path = backup_dir.with_name(f"{backup_dir.name}-{n}")
        if fd >= 0:
            self._locks.append((fd, path))
            _write_lock(fd, self.run.path.resolve())
        if n > 1:
            self.warn(f"backup {backup_dir} is in use by {holder}; this run backs up to {path}")
        epoch = self._check(path)
        writer: dict[str, Any] = {}
        if epoch is not None:
            with contextlib.suppress(OSError, ValueError):
                writer = json.loads((path / WRITER).read_text(encoding="utf-8"))
        self._claimed.append(path)
        self.mark()
        fields: dict[str, Any] = {"backup": str(path.resolve())}
        if epoch is not None:  # Keras restores this state as fit begins
            fields["resumed_from"] = {"run": writer.get("run"), "epoch": epoch + 1}
            self.resumed = epoch
        self.run.update(**fields)
        if self.placement is not None:
            self.placement.barrier()  # the other workers copy the state checked here
            self._agree(epoch)
        return path

    @property
    def worker(self) -> bool:
        """Whether this process is a multi-worker run's non-chief worker (writing elsewhere)."""
        return self.placement is not None and not self.placement.chief

    def _worker_copy(self, backup_dir: Path) -> Path:
        """A non-chief worker's backup: once the chief has checked its backup, a copy of it in
        this worker's temp directory (where this worker writes), so every worker resumes from
        the same state."""
        assert self.placement is not None
        self.placement.barrier()
        chief = self.placement.chief_path(backup_dir, self.runs_dir)
        local = backup_dir if chief != backup_dir else self.run.path.parent / backup_dir.name
        local.mkdir(parents=True, exist_ok=True)
        for name in (WEIGHTS, METADATA):
            if (chief / name).is_file():
                shutil.copyfile(chief / name, local / name)
        self._agree(backup_problem(local, epochs=self.epochs)[1])
        return local

    def _agree(self, epoch: int | None) -> None:
        """Every worker resumes from the same epoch (or none), or the run fails: a worker that
        cannot see the chief's backup would start afresh while the chief resumes."""
        assert self.placement is not None
        epochs = self.placement.gather(-1.0 if epoch is None else float(epoch))
        if len(set(epochs)) > 1:
            seen = ", ".join("none" if e < 0 else str(int(e)) for e in epochs)
            raise BackupBusy(
                f"the workers see different backups (epochs done: {seen}): a multi-worker "
                "run's backup_dir must be on storage every worker sees (a shared disk, gs://)"
            )

    def mark(self) -> None:
        """Record in each claimed directory that this run writes it (`writer.json`): again
        before each fine-tuning stage, as Keras removes the directory when a `fit` ends."""
        run_path = str(self.run.path.resolve())
        for path in self._claimed:
            path.mkdir(parents=True, exist_ok=True)
            write_json(path / WRITER, {"run": run_path, "pid": os.getpid(), "host": HOST})

    def _check(self, path: Path) -> int | None:
        """The epochs the backup in `path` holds (`None`: nothing to resume); a broken one is
        replaced by its previous state (`double_checkpoint`) if that is whole, else moved
        aside."""
        problem, epoch = backup_problem(path, epochs=self.epochs)
        if problem is None:
            return epoch
        previous, epoch = backup_problem(path, PREVIOUS, self.epochs)
        if previous is None and epoch is not None:
            for name in (WEIGHTS, METADATA):
                shutil.copyfile(path / (name + PREVIOUS), path / name)
            self.warn(f"backup {path}: {problem}; resuming from the state before it ({PREVIOUS})")
            return epoch
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = path.with_name(f"{path.name}.broken-{stamp}")
        n = 1
        while aside.exists():
            n += 1
            aside = path.with_name(f"{path.name}.broken-{stamp}-{n}")
        path.rename(aside)
        self.warn(
            f"backup {path} cannot be resumed from: {problem}; moved it to {aside.name} "
            "and training starts afresh"
        )
        return None

    def release(self) -> None:
        """Unlock every directory claimed (removing the lock files)."""
        if not self._locks:
            return
        import fcntl

        for fd, path in self._locks:
            with contextlib.suppress(OSError):
                _lock_path(path).unlink()
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._locks.clear()


def _write_lock(fd: int, run_path: Path) -> None:
    """Who holds the lock, for the message another run gives (the lock is the `flock`)."""
    text = json.dumps({"run": str(run_path), "pid": os.getpid(), "host": HOST})
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode(), 0)
