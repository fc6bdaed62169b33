"""Run directories: `runs/<name>/<n>/`, never overwritten, written atomically."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


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


def git_commit(path: Path) -> str | None:
    """The commit of the git repository holding `path`, if any."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=path if path.is_dir() else path.parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for package in ("kerascli", "tensorflow", "keras", "numpy"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            pass
    return out


@dataclass
class RunDir:
    """One run's directory and its `run.json` record.

    Args:
        path: `runs/<name>/<n>`.
        record: What `run.json` holds; updated with `update`.
    """

    path: Path
    record: dict[str, Any]

    @classmethod
    def create(cls, runs_dir: str | Path, name: str, record: dict[str, Any]) -> RunDir:
        """Make the next free `runs_dir/name/<n>/` (n = 1, 2, ...), safely under concurrency."""
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
        run = cls(path, {"name": name, "n": n, "status": "running", "started": now(), **record})
        run.save()
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


def environment(seed: int | None, spec_file: str | None) -> dict[str, Any]:
    """What `run.json` records about how a run was made."""
    return {
        "seed": seed,
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "cwd": os.getcwd(),
        "spec_file": spec_file,
        "git_commit": git_commit(Path(spec_file)) if spec_file else None,
        "versions": versions(),
    }
