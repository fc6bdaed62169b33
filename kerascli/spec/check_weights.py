"""Checks of the weights files a spec names: `model.weights` and each application's `weights`.

kerascli never downloads: an application's `weights` is `null` or a local file, and a value that
Keras would download (`imagenet`, a URL) is answered with how to fetch the file once. A file
path is relative to the spec file that writes it, as data paths are (`weights_path`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerascli.spec.facts import WEIGHTS_SUFFIXES, is_weights_file, layer_family
from kerascli.spec.models import Spec, call_parts, parameter
from kerascli.spec.problems import Finding, KeyPath


def fetch_recipe(name: str, args: dict[str, Any]) -> str:
    """How to get the weights of application `name` once, where there is network: the Keras
    call with the spec's own arguments, so the file fits the model the spec builds."""
    kept = {k: v for k, v in args.items() if k not in ("weights", "trainable", "name")}
    call = ", ".join([*(f"{k}={v!r}" for k, v in kept.items()), "weights='imagenet'"])
    file = f"{name.lower()}.weights.h5"
    return (
        "kerascli never downloads weights: fetch them once where there is network, with "
        f"python -c \"import keras; keras.applications.{name}({call}).save_weights('{file}')\" "
        "(Keras downloads its file into ~/.keras/models/ and names it as it does), then write "
        f"weights: {file} (a path relative to the spec; the file Keras downloaded works too), "
        "or weights: null for random weights"
    )


def weights_problem(name: str, args: dict[str, Any]) -> tuple[KeyPath, str, bool] | None:
    """What is wrong with application `name`'s `weights` (relative to its call), if anything."""
    if "weights" not in args:
        return (
            (name,),
            f"{name} loads Keras's 'imagenet' weights unless told otherwise: give weights: null "
            f"or a weights file; {fetch_recipe(name, args)}",
            True,
        )
    value = args["weights"]
    if value is None or is_weights_file(value) or parameter(value) is not None:
        return None
    expected = f"expected null or a local weights file ({', '.join(WEIGHTS_SUFFIXES)})"
    if value == "imagenet" or (isinstance(value, str) and "://" in value):
        message = f"weights {value!r} would be downloaded: {expected}; {fetch_recipe(name, args)}"
    else:
        message = f"{expected}, got {value!r}"
    return ((name, "weights"), message, False)


def weights_path(spec: Spec, path: KeyPath, value: str) -> Path:
    """The file `value` written at `path`, relative to the spec file that writes it (`--set`
    values: to the working directory), as the loader resolves data paths."""
    file = Path(value).expanduser()
    if file.is_absolute():
        return file
    doc = spec.document
    mark_file = doc.mark(path).file if doc is not None else "--set"
    base = Path.cwd() if mark_file.startswith("--set") else Path(mark_file).resolve().parent
    return (base / file).resolve()


def application_calls(spec: Spec) -> Iterator[tuple[KeyPath, str, dict[str, Any]]]:
    """Every application a spec builds: (path of its node or list item, name, arguments); the
    arguments are the spec's own mapping (the loader makes their `weights` file absolute)."""
    model = spec.model
    if model.sequential is not None:
        for i, call in enumerate(model.sequential.layers):
            name, args = call_parts(call)
            if layer_family(name) == "applications":
                yield ("model", "sequential", "layers", i), name, args
    nodes: list[tuple[KeyPath, Any]] = []
    if model.functional is not None:
        base: KeyPath = ("model", "functional", "layers")
        nodes += [((*base, n), node) for n, node in model.functional.layers.items()]
    for block_name, block in model.blocks.items():
        base = ("model", "blocks", block_name, "layers")
        nodes += [((*base, n), node) for n, node in block.layers.items()]
    for path, node in nodes:
        layer = node.layer
        if layer is not None and layer_family(layer[0]) == "applications":
            written = (node.model_extra or {})[layer[0]]  # the spec's own mapping, not a copy
            yield path, layer[0], written if isinstance(written, dict) else layer[1]


def check_weights(spec: Spec) -> Iterator[Finding]:
    """`model.weights` and every application's local `weights` file must exist."""
    files: list[tuple[KeyPath, Any]] = [(("model", "weights"), spec.model.weights)]
    for path, name, args in application_calls(spec):
        files.append(((*path, name, "weights"), args.get("weights")))
    for path, value in files:
        if not is_weights_file(value) and path != ("model", "weights"):
            continue  # null, a block parameter, or a value `check_application` refuses
        if isinstance(value, str):
            problem = weights_file_problem(spec, path, value)
            if problem is not None:
                yield (path, problem, False)


def weights_file_problem(spec: Spec, path: KeyPath, value: str) -> str | None:
    """What is wrong with the weights file `value` written at `path`: none, or not a file."""
    file = weights_path(spec, path, value)
    if file.is_file():
        return None
    what = "not a regular file" if file.exists() else "weights file not found"
    return f"{what}: {value}" + (f" ({file})" if str(file) != value else "")
