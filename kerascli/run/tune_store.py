"""Where a search lives: `<runs-dir>/<name>-tune/`, holding

- `search.json`: what the search is (spec file, the spec's digest, tuner, objective,
  direction, seed), so that running `kerascli tune` again continues it, and refuses to when
  the spec or the search's settings changed (unless `--overwrite`);
- `oracle/`: KerasTuner's state;
- `trial/<n>/`: one kerascli run a trial (its `run.json` says `trial: {search, id,
  hyperparameters, objective}`), so `kerascli runs <search>` lists them;
- `trials.csv`: one row a trial; `best.yaml`: the best trial's plain spec, ready to train;
- `.lock`: held (`flock`) by the process running the search (`hold_search`), so a second
  `kerascli tune` of the same search is refused rather than running the same trials; the
  kernel releases it when that process ends, killed or not.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerascli.run.portable import portable_spec
from kerascli.run.rundir import HOST, atomic_write, now, write_json
from kerascli.spec.dump import resolved_spec, to_yaml
from kerascli.spec.models import Spec
from kerascli.spec.problems import Problem, SpecError

SEARCH_FILE = "search.json"
LOCK_FILE = ".lock"
TRIAL_RUNS = "trial"
"""The run name of a search's trials: `<search>/trial/<n>/`."""
TRIALS_CSV = "trials.csv"
BEST_SPEC = "best.yaml"
SAME = ("digest", "tuner", "objective", "direction", "seed")
"""What a resumed search must share with the one it continues."""


@dataclass
class TrialRecord:
    """One trial of a search.

    Args:
        id: KerasTuner's trial id (`00`, `01`...).
        status: `completed`, `failed`, or `interrupted` (run again when the search resumes).
        hyperparameters: The value of each search space, by key path (and `fit.epochs` where
            Hyperband set it).
        value: The objective's value (completed trials).
        run_dir: The trial's run directory, where one was made.
        error: Why it failed.
    """

    id: str
    status: str
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    value: float | None = None
    run_dir: Path | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status,
            "hyperparameters": self.hyperparameters,
            "value": self.value,
            "run_dir": None if self.run_dir is None else str(self.run_dir),
            "error": self.error,
        }


@contextlib.contextmanager
def hold_search(path: Path) -> Iterator[None]:
    """Hold the search at `path` (creating its directory) while the `with` block runs.

    Raises:
        SpecError: another process holds it (a search in progress there).
    """
    path.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover (Windows: no locks)
        yield
        return
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            message = (
                f"a search is in progress in {path} ({_holder(fd)}): wait for it to end, or "
                "give --name for another search"
            )
            raise SpecError([Problem(message, "", str(path))]) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": HOST}).encode(), 0)
        yield
    finally:
        os.close(fd)  # (which releases the lock)


def _holder(fd: int) -> str:
    """Who holds the lock, as its file says."""
    try:
        held = json.loads(os.pread(fd, 4096, 0))
        return f"pid {held['pid']} on {held['host']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def open_search(path: Path, record: dict[str, Any], overwrite: bool) -> bool:
    """Start the search at `path`, or continue the one there; whether one was continued.

    Raises:
        SpecError: the search there was made with another spec or settings (without
            `overwrite`), or `path` holds something else.
    """
    found = path / SEARCH_FILE
    resumed = False
    if overwrite and found.is_file():
        for item in path.iterdir():  # (all but the lock this process holds)
            if item.is_dir() and not item.is_symlink():
                shutil.rmtree(item)
            elif item.name != LOCK_FILE:
                item.unlink()
    elif found.is_file():
        old = _read(found)
        changed = [key for key in SAME if old.get(key) != record.get(key)]
        if changed:
            raise SpecError([Problem(_changed(old, record, changed), "", str(found))])
        resumed = True
        record = {**old, **record, "created": old.get("created")}
    elif path.is_dir() and any(p.name != LOCK_FILE for p in path.iterdir()):
        message = f"{path} is not empty and holds no search ({SEARCH_FILE}): give another --name"
        raise SpecError([Problem(message, "", str(path))])
    write_json(found, {"created": now(), **record, "updated": now()})
    return resumed


def _read(found: Path) -> dict[str, Any]:
    try:
        data = json.loads(found.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SpecError([Problem(f"cannot be read: {exc}", "", str(found))]) from None
    if not isinstance(data, dict):
        raise SpecError([Problem("must hold a JSON object (a search)", "", str(found))])
    return data


def _changed(old: dict[str, Any], new: dict[str, Any], keys: list[str]) -> str:
    if "digest" in keys:
        what = f"the spec changed since this search began (from {old.get('spec_file')})"
    else:
        what = "the search began with " + ", ".join(
            f"--{key} {old.get(key)} (now {new.get(key)})" for key in keys
        )
    return (
        f"{what}: its trials would not compare; give --overwrite to start the search again, "
        "or --name for a new one"
    )


def best_trial(trials: list[TrialRecord], direction: str) -> TrialRecord | None:
    """The completed trial with the best finite value (the first of equals)."""
    done = [t for t in trials if t.status == "completed" and _finite(t.value)]
    if not done:
        return None
    sign = -1.0 if direction == "max" else 1.0
    return min(done, key=lambda t: sign * float(t.value or 0.0))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def write_trials_csv(path: Path, trials: list[TrialRecord], objective: str) -> None:
    """`trials.csv`: trial, status, the objective, each hyperparameter, run, error."""
    names = list(dict.fromkeys(n for t in trials for n in t.hyperparameters))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["trial", "status", objective, *names, "run", "error"])
    for t in trials:
        values = [t.hyperparameters.get(n, "") for n in names]
        value = "" if t.value is None else repr(t.value)
        writer.writerow([t.id, t.status, value, *values, t.run_dir or "", t.error or ""])
    atomic_write(path / TRIALS_CSV, out.getvalue())


def write_best(path: Path, spec: Spec, trial: TrialRecord, objective: str) -> Path:
    """`best.yaml`: the best trial's plain spec, data files relative to it."""
    data = portable_spec(resolved_spec(spec), path, {}, None)
    header = (
        f"# The best trial ({trial.id}) of the search in this folder: {objective} "
        f"{trial.value:.6g}.\n# Train it: kerascli train {path / BEST_SPEC}\n"
    )
    atomic_write(path / BEST_SPEC, header + to_yaml(data))
    return path / BEST_SPEC


def trial_columns(records: list[dict[str, Any]]) -> None:
    """Give each run of a search (`kerascli runs <search>`) the `columns` the trials table
    shows for it (`columns_of_trials`), from the `trial` its `run.json` records; a run that
    records none (unreadable, or made before runs recorded it from their start) shows its
    objective only."""
    trials = [r.get("trial", {}) for r in records]
    objective = next((t["objective"] for t in trials if isinstance(t.get("objective"), str)), None)
    rows = [
        (t.get("id"), t.get("hyperparameters", {}), _metric(r, objective))
        for r, t in zip(records, trials, strict=True)
    ]
    for record, columns in zip(records, columns_of_trials(rows, objective), strict=True):
        record["columns"] = columns


def _metric(record: dict[str, Any], name: str | None) -> Any:
    return None if name is None else record.get("metrics", {}).get(name)


def columns_of_trials(
    trials: list[tuple[Any, dict[str, Any], Any]], objective: str | None
) -> list[dict[str, Any]]:
    """The columns of the trials table for each (id, hyperparameters, objective's value): its
    trial id, each hyperparameter by the shortest end of its key path that tells it from the
    others (`units`, or `layers[1].Dense.units` beside `layers[2].Dense.units`), and the
    objective's value."""
    paths = list(dict.fromkeys(p for _, values, _ in trials for p in values))
    short = _short_names(paths)
    out = []
    for trial_id, values, value in trials:
        columns = {"trial": trial_id, **{short[p]: values.get(p) for p in paths}}
        if objective is not None:
            columns[objective] = value
        out.append(columns)
    return out


def _short_names(paths: list[str]) -> dict[str, str]:
    """The shortest end of each key path (whole keys) that no other path ends with."""
    parts = {p: re.split(r"\.(?![^\[]*\])", p) for p in paths}
    out = {}
    for path, keys in parts.items():
        for n in range(1, len(keys) + 1):
            end = ".".join(keys[-n:])
            if not any(o != path and ".".join(parts[o][-n:]) == end for o in paths):
                break
        out[path] = end
    return out
