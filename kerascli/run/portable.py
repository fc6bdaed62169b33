"""What makes a run directory travel: a self-contained `spec.yaml`, its plugin code, and the
consent needed before that code runs on a machine it did not come from.

A run's `spec.yaml` lists the input columns it was trained on (never "every other column" of
whatever file comes next), names data files relative to the run directory, and names copies of
its plugin files kept in `plugins/`, whose SHA-256 hashes `run.json` records with the host and
directory the run was made in.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from kerascli.spec.checks import is_file_ref
from kerascli.spec.models import Spec
from kerascli.spec.problems import Problem, SpecError

PLUGIN_DIR = "plugins"
"""Where a run keeps copies of the plugin files its spec names."""


class UntrustedRun(SpecError):
    """A run from elsewhere (another host or directory) would import its plugin code without
    `--trust` (exit code 2, as for a missing argument)."""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_plugins(spec: Spec, run_path: Path) -> dict[str, str]:
    """Copy the plugin files the spec names into `run_path/plugins/`.

    Returns:
        `{original path: path relative to the run}` for each file copied.
    """
    sources = [p for p in spec.plugins if is_file_ref(p)]
    sub = spec.model.subclass
    if sub is not None and is_file_ref(sub.class_.rsplit(":", 1)[0]):
        sources.append(sub.class_.rsplit(":", 1)[0])
    copies: dict[str, str] = {}
    for source in dict.fromkeys(sources):
        name = Path(source).name
        taken = set(copies.values())
        n = 1
        while f"{PLUGIN_DIR}/{name}" in taken:  # two plugins of one name from two folders
            n += 1
            name = f"{Path(source).stem}_{n}.py"
        target = run_path / PLUGIN_DIR / name
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(source, target)
        copies[source] = f"{PLUGIN_DIR}/{name}"
    return copies


def portable_spec(
    data: dict[str, Any], run_path: Path, copies: dict[str, str], features: list[str] | None
) -> dict[str, Any]:
    """The resolved spec as a run saves it: the input columns written out, data files relative
    to the run directory, plugin files pointing at the run's copies."""
    data = dict(data)
    section = dict(data.get("data") or {})
    if section:
        if features is not None and "features" not in section and "inputs" not in section:
            section["features"] = features
        for key in ("path", "train", "validation", "test"):
            if key in section:
                section[key] = os.path.relpath(section[key], run_path)
        data["data"] = section
    if "plugins" in data:
        data["plugins"] = [copies.get(p, p) for p in data["plugins"]]
    model = data.get("model") or {}
    if "subclass" in model:
        ref, _, cls = model["subclass"]["class"].rpartition(":")
        if ref in copies:
            subclass = {**model["subclass"], "class": f"{copies[ref]}:{cls}"}
            data["model"] = {**model, "subclass": subclass}
    return data


def origin(run_path: Path, copies: dict[str, str]) -> dict[str, Any]:
    """What `run.json` records so that a later load can tell whether the run moved."""
    return {
        "made_in": {"host": socket.gethostname(), "path": str(run_path.resolve())},
        "plugin_sha256": {rel: sha256(run_path / rel) for rel in copies.values()},
    }


def check_trust(run_path: Path, record: dict[str, Any], trust: bool) -> None:
    """Refuse to import a run's plugin code without consent when the run came from elsewhere
    (another host or directory) or its plugin files changed since it was made.

    Raises:
        UntrustedRun: naming the files and how to consent (`--trust`).
    """
    if trust:
        return
    hashes: dict[str, str] = record.get("plugin_sha256") or {}
    plugin_dir = run_path / PLUGIN_DIR
    present = sorted(p.relative_to(run_path).as_posix() for p in plugin_dir.glob("*.py"))
    if not hashes and not present:
        return
    changed = [rel for rel in present if hashes.get(rel) != sha256(run_path / rel)]
    made_in = record.get("made_in") or {}
    here = {"host": socket.gethostname(), "path": str(run_path.resolve())}
    if changed:
        reason = f"its plugin code changed since it was trained ({', '.join(changed)})"
    elif made_in != here:
        where = f"{made_in.get('host', '?')}:{made_in.get('path', '?')}"
        reason = f"it was made elsewhere ({where})"
    else:
        return
    message = (
        f"run {run_path} holds plugin code ({', '.join(present)}) and {reason}; "
        "read it, then pass --trust to import it"
    )
    raise UntrustedRun([Problem(message, "", str(plugin_dir))])
