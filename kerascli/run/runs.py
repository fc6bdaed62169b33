"""The runs table: list run directories and compare two runs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from kerascli.run.rundir import HOST, process_alive


def _status(record: dict[str, Any]) -> str:
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
    name's directory, `runs/<name>`); a `running` run whose process died is `dead`."""
    root = Path(runs_dir)
    records = []
    found = sorted(root.glob("*/*/run.json")) or sorted(root.glob("*/run.json"))
    for record in found:
        try:
            data = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            data = {"status": "unreadable"}
        data.setdefault("name", record.parent.parent.name)
        data.setdefault("n", int(record.parent.name) if record.parent.name.isdigit() else 0)
        data["path"] = str(record.parent)
        data["status"] = _status(data)
        records.append(data)
    return sorted(records, key=lambda r: (r.get("started", ""), r["name"], r["n"]))


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


def compare_runs(a: Path, b: Path) -> dict[str, Any]:
    """Both runs' metrics side by side and the spec keys whose values differ."""

    def load(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        record = json.loads((path / "run.json").read_text(encoding="utf-8"))
        spec_file = path / "spec.yaml"
        spec = yaml.safe_load(spec_file.read_text(encoding="utf-8")) if spec_file.is_file() else {}
        return record, _flatten(spec or {})

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
