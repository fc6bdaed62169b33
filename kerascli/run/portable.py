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
from pathlib import Path
from typing import Any

from kerascli.run.rundir import HOST
from kerascli.spec.facts import (
    DATA_FILE_KEYS,
    is_file_ref,
    is_remote,
    is_weights_file,
    layer_family,
    plugin_refs,
    subclass_source,
    with_subclass_source,
)
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
    sources = [ref for ref in plugin_refs(spec) if is_file_ref(ref)]
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
        for key in DATA_FILE_KEYS:
            if key in section and not is_remote(section[key]):
                section[key] = os.path.relpath(section[key], run_path)
        data["data"] = section
    if "plugins" in data:
        data["plugins"] = [copies.get(p, p) for p in data["plugins"]]
    model = data.get("model") or {}
    _relative_weights(model, run_path)
    if "subclass" in model:
        class_ref = model["subclass"]["class"]
        ref = subclass_source(class_ref)
        if ref in copies:
            subclass = {**model["subclass"], "class": with_subclass_source(class_ref, copies[ref])}
            data["model"] = {**model, "subclass": subclass}
    return data


def _relative_weights(model: dict[str, Any], run_path: Path) -> None:
    """Weights files (`model.weights`, applications' `weights`) relative to the run directory,
    as data files are (in place: `model` is the resolved spec's own data)."""
    if isinstance(model.get("weights"), str):
        model["weights"] = os.path.relpath(model["weights"], run_path)
    calls: list[dict[str, Any]] = list((model.get("sequential") or {}).get("layers", []))
    graphs = [model.get("functional") or {}, *(model.get("blocks") or {}).values()]
    calls += [node for graph in graphs for node in (graph.get("layers") or {}).values()]
    for call in calls:
        for name, args in call.items():
            weights = args.get("weights") if isinstance(args, dict) else None
            if layer_family(name) == "applications" and is_weights_file(weights):
                args["weights"] = os.path.relpath(str(weights), run_path)


def origin(run_path: Path, copies: dict[str, str]) -> dict[str, Any]:
    """What `run.json` records so that a later load can tell whether the run moved."""
    return {
        "made_in": {"host": HOST, "path": str(run_path.resolve())},
        "plugin_sha256": {rel: sha256(run_path / rel) for rel in copies.values()},
    }


def check_trust(
    run_path: Path, record: dict[str, Any], spec: Spec, trust: bool, own_spec: bool = True
) -> None:
    """Refuse to import plugin code from a run without consent (`trust`).

    The plugins of a run's own spec (`own_spec`) load without consent only where the run was
    made (`made_in`: this host, this directory), and only as the copies it recorded: a file in
    its `plugins/` with the SHA-256 of `run.json`. With a spec of the user's own (`--spec`),
    only plugin files inside the run directory are held to that. Anything else (a run copied
    from elsewhere, plugin code changed since training, a spec edited to name other code)
    needs `trust`.

    Raises:
        UntrustedRun: naming the plugins and why (exit code 2).
    """
    if trust:
        return
    run_path = run_path.resolve()
    hashes: dict[str, str] = record.get("plugin_sha256") or {}
    checked, unrecorded = _held_plugins(spec, run_path, hashes, own_spec)
    made_in = record.get("made_in")
    made_in = made_in if isinstance(made_in, dict) else {}
    if unrecorded:
        reason = f"{', '.join(unrecorded)} is not plugin code it recorded (changed since training?)"
    elif checked and made_in != {"host": HOST, "path": str(run_path)}:
        where = f"{made_in.get('host', '?')}:{made_in.get('path', '?')}" if made_in else "?"
        reason = f"it was made elsewhere ({where})"
    else:
        return
    message = (
        f"run {run_path} would import plugin code ({', '.join(checked)}) and {reason}; "
        "read that code, then pass --trust to import it"
    )
    raise UntrustedRun([Problem(message, "", str(run_path / "spec.yaml"))])


def _held_plugins(
    spec: Spec, run_path: Path, hashes: dict[str, str], own_spec: bool
) -> tuple[list[str], list[str]]:
    """The plugins `check_trust` holds to its rule, as the run names them, and those of them
    that are not the copies the run recorded (`hashes`), files beside the copies included."""
    checked: list[str] = []
    unrecorded: list[str] = []
    for ref in plugin_refs(spec):
        if not is_file_ref(ref):
            if own_spec:
                checked.append(ref)  # a module: trusted where the run was made
            continue
        path = Path(ref).resolve()
        inside = path.is_relative_to(run_path)
        if not own_spec and not inside:
            continue  # the user's own file, named by the user's own spec
        rel = path.relative_to(run_path).as_posix() if inside else ref
        checked.append(rel)
        if hashes.get(rel) is None or not path.is_file() or hashes[rel] != sha256(path):
            unrecorded.append(rel)
    plugin_dir = run_path / PLUGIN_DIR
    if plugin_dir.is_dir():  # files beside the copies could be imported by them
        extra = [
            f"{PLUGIN_DIR}/{p.name}"
            for p in sorted(plugin_dir.iterdir())
            if f"{PLUGIN_DIR}/{p.name}" not in hashes
        ]
        checked += [rel for rel in extra if rel not in checked]
        unrecorded += [rel for rel in extra if rel not in unrecorded]
    return checked, unrecorded
