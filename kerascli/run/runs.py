"""Run records: what `run.json` records about how a run was made (`environment`) and how it
names things (classes, metrics by split), the runs table, and comparing two runs."""

from __future__ import annotations

import json
import os
import platform
import reprlib
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kerascli.run.rundir import HOST, process_alive
from kerascli.run.tune_store import trial_columns
from kerascli.spec.facts import SINGLE, fed_one_array, target_keys
from kerascli.spec.problems import Problem, SpecError, cause_line

if TYPE_CHECKING:
    from kerascli.spec.models import Spec

RECORD_TARGET = "target"
"""The key `run.json`'s `classes` gives a model's only output (`SINGLE` in memory); an output
of a model with several keeps its name, `target` too."""


def classes_to_record(classes: dict[str, list[str]]) -> dict[str, list[str]]:
    """Class names by output key as `run.json` records them (`SINGLE` as `target`)."""
    return {(RECORD_TARGET if key == SINGLE else key): names for key, names in classes.items()}


def classes_from_record(record: dict[str, Any], spec: Spec) -> dict[str, list[str]]:
    """The class names a `run.json` records, by output key of the model `spec` describes
    (`target` as `SINGLE` for a model given one target); `{}` where it records none."""
    saved = record.get("classes")
    saved = saved if isinstance(saved, dict) else {}
    one = fed_one_array(target_keys(spec))
    return {
        (SINGLE if one and key == RECORD_TARGET else key): names for key, names in saved.items()
    }


class UnreadableRun(SpecError):
    """A run's `run.json` (or `spec.yaml`) cannot be read, or holds a field of the wrong type.
    `kerascli runs` lists such a run as `unreadable`; a command given it fails (exit code 2).

    Args:
        message: What is wrong.
        file: The file.
    """

    def __init__(
        self, message: str, file: Path, line: int | None = None, column: int | None = None
    ) -> None:
        super().__init__([Problem(message, "", str(file), line, column)])


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


LAUNCHED_BY = "KERASCLI_COMMAND"
"""The command that started a worker of `kerascli train --workers` (`run.json` `command`)."""


def environment(seed: int | None, spec_file: str | None) -> dict[str, Any]:
    """What `run.json` records about how a run was made."""
    return {
        "seed": seed,
        "command": os.environ.get(LAUNCHED_BY) or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "cwd": os.getcwd(),
        "spec_file": spec_file,
        "git_commit": git_commit(Path(spec_file)) if spec_file else None,
        "versions": versions(),
    }


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# The fields of `run.json` that `kerascli runs` shows or sorts by: what each must be.
_FIELDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "name": ("a string", lambda v: isinstance(v, str)),
    "n": ("an integer", lambda v: isinstance(v, int) and not isinstance(v, bool)),
    "status": ("a string", lambda v: isinstance(v, str)),
    "started": ("a string", lambda v: isinstance(v, str)),
    "duration_s": ("a number", _number),
    "metrics": ("an object", lambda v: isinstance(v, dict)),
    "gates": (
        "a list of objects",
        lambda v: isinstance(v, list) and all(isinstance(g, dict) for g in v),
    ),
    "trial": (  # a trial of `kerascli tune`
        "an object with hyperparameters",
        lambda v: isinstance(v, dict) and isinstance(v.get("hyperparameters", {}), dict),
    ),
}


def _kind(value: Any) -> str:
    """What a JSON or YAML document holds, in words: `a list`, `a string`, `null`..."""
    kinds = {list: "a list", str: "a string", int: "a number", float: "a number"}
    kinds.update({bool: "a boolean", type(None): "null"})
    return kinds.get(type(value), type(value).__name__)


def read_record(run_json: Path) -> dict[str, Any]:
    """A run's `run.json`, checked: a JSON object whose fields `kerascli runs` shows have the
    right types (`metrics` maps names to numbers).

    Raises:
        UnreadableRun: naming the file and what is wrong with it.
    """
    try:
        record = json.loads(run_json.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as exc:  # ValueError: bad JSON or UTF-8
        raise UnreadableRun(f"cannot be read: {cause_line(exc)}", run_json) from None
    if not isinstance(record, dict):
        raise UnreadableRun(
            f"must hold a JSON object (a run's record). Received: {_kind(record)}",
            run_json,
        )
    for field, (expected, check) in _FIELDS.items():
        if field in record and not check(record[field]):
            received = reprlib.repr(record[field])
            raise UnreadableRun(f"`{field}` must be {expected}. Received: {received}", run_json)
    for name, value in record.get("metrics", {}).items():
        if not _number(value):
            raise UnreadableRun(
                f"`metrics.{name}` must be a number. Received: {reprlib.repr(value)}",
                run_json,
            )
    return record


def run_status(record: dict[str, Any]) -> str:
    """A run's status: `dead` for one `running` whose process, on this host, is gone (killed
    by SIGKILL or the machine going down); one on another host is left `running`."""
    status = str(record.get("status", "?"))
    pid, host = record.get("pid"), record.get("host")
    if status != "running" or not isinstance(pid, int) or host != HOST:
        return status
    try:
        since: float | None = datetime.fromisoformat(record["started"]).timestamp()
    except (KeyError, TypeError, ValueError):
        since = None
    return status if process_alive(pid, since) else "dead"


def list_runs(runs_dir: str | Path) -> list[dict[str, Any]]:
    """Every `runs_dir/<name>/<n>/run.json`, oldest first (`runs_dir` may also be one
    name's directory, `runs/<name>`, or one run's, `runs/<name>/<n>`); a `running` run whose
    process died is `dead`, one whose `run.json` is broken `unreadable` (with `error`)."""
    root = Path(runs_dir)
    records = []
    if (root / "run.json").is_file():
        found = [root / "run.json"]
    else:
        found = sorted(root.glob("*/*/run.json")) or sorted(root.glob("*/run.json"))
    for record in found:
        try:
            data = read_record(record)
        except UnreadableRun as exc:
            data = {"status": "unreadable", "error": str(exc.problems[0])}
        data.setdefault("name", record.parent.parent.name)
        data.setdefault("n", int(record.parent.name) if record.parent.name.isdigit() else 0)
        data["path"] = str(record.parent)
        data["status"] = run_status(data)
        records.append(data)
    if _one_search(records):
        trial_columns(records)
    return sorted(records, key=lambda r: (r.get("started", ""), r["name"], r["n"]))


def _one_search(records: list[dict[str, Any]]) -> bool:
    """Whether the runs are the trials of one search (`kerascli tune`): runs of one folder
    (`<search>/trial/`), some recording their trial (a run without one is still listed as a
    trial: its `run.json` may be unreadable, or older than trials recorded at their start)."""
    folders = {Path(r["path"]).parent for r in records}
    return len(folders) == 1 and any("trial" in r for r in records)


def resolve_run(ref: str, runs_dir: str | Path) -> Path:
    """A run given as a directory, or as `name/n` (or `name` for its latest) under `runs_dir`."""
    path = Path(ref)
    if (path / "run.json").is_file():
        return path
    candidate = Path(runs_dir) / ref
    if (candidate / "run.json").is_file():
        return candidate
    if candidate.is_dir():
        numbered = sorted(
            (p for p in candidate.iterdir() if p.name.isdigit() and (p / "run.json").is_file()),
            key=lambda p: int(p.name),
        )
        if numbered:
            return numbered[-1]
    raise FileNotFoundError(f"no run '{ref}' (give a run directory or NAME/N under {runs_dir})")


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """`{a: {b: [x, {c: 1}]}}` -> `{"a.b[0]": x, "a.b[1].c": 1}`; an empty mapping or list is
    a value of its own (`Flatten: {}` must not vanish from a comparison)."""
    if isinstance(data, dict) and data:
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(data, list) and any(isinstance(v, (dict, list)) and v for v in data):
        out = {}
        for i, value in enumerate(data):
            out.update(_flatten(value, f"{prefix}[{i}]"))
        return out
    return {prefix: data}


def _read_spec(spec_file: Path) -> dict[str, Any]:
    """A run's `spec.yaml` as plain data (`{}` if the run has none)."""
    if not spec_file.is_file():
        return {}
    try:
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (None, None)
        message = f"not valid YAML: {exc.problem}"
        raise UnreadableRun(message, spec_file, line, column) from None
    except (OSError, ValueError, yaml.YAMLError, RecursionError) as exc:
        raise UnreadableRun(f"cannot be read: {cause_line(exc)}", spec_file) from None
    if spec is not None and not isinstance(spec, dict):
        raise UnreadableRun(f"must hold a mapping (a spec). Received: {_kind(spec)}", spec_file)
    return spec or {}


def compare_runs(a: Path, b: Path) -> dict[str, Any]:
    """Both runs' metrics side by side and the spec keys whose values differ."""

    def load(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        record = read_record(path / "run.json")
        return record, _flatten(_read_spec(path / "spec.yaml"))

    record_a, spec_a = load(a)
    record_b, spec_b = load(b)
    metrics_a, metrics_b = record_a.get("metrics", {}), record_b.get("metrics", {})
    names = list(dict.fromkeys([*metrics_a, *metrics_b]))
    keys = sorted(set(spec_a) | set(spec_b))
    return {
        "a": str(a),
        "b": str(b),
        "metrics": [{"metric": n, "a": metrics_a.get(n), "b": metrics_b.get(n)} for n in names],
        "spec_diff": [
            {"key": k, "a": spec_a.get(k), "b": spec_b.get(k)}
            for k in keys
            if spec_a.get(k) != spec_b.get(k)
        ],
    }
