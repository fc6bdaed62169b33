"""Keras names and constructor arguments, read from the generated `keras_catalog.json`.

Lets the spec layer check names and arguments without importing TensorFlow. Besides Keras's
classes by family, the families `applications` (the `keras.applications` constructors) and `ops`
(the `keras.ops` functions, by bare name such as `add`, and kerascli's `getitem`) hold functions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_FILE = Path(__file__).with_name("keras_catalog.json")

# Families whose classes may appear nested as an argument value, e.g.
# `kernel_regularizer: {L2: {l2: 0.01}}` or `layer: {LSTM: {units: 8}}`.
NESTED_FAMILIES = ("layers", "schedules", "initializers", "regularizers", "constraints")

SINGULAR = {
    "layers": "layer",
    "optimizers": "optimizer",
    "schedules": "learning-rate schedule",
    "losses": "loss",
    "metrics": "metric",
    "callbacks": "callback",
    "initializers": "initializer",
    "regularizers": "regularizer",
    "constraints": "constraint",
    "activations": "activation",
    "applications": "application",
    "ops": "op",
}


@dataclass(frozen=True)
class Signature:
    """Constructor arguments of one Keras class."""

    name: str
    params: dict[str, dict[str, Any]]
    open: bool
    doc: str
    positional: tuple[str, ...] = ()
    """The arguments that may be given by position, in the signature's order."""

    @property
    def required(self) -> list[str]:
        return [n for n, p in self.params.items() if p.get("required")]


@cache
def _raw() -> dict[str, Any]:
    return json.loads(CATALOG_FILE.read_text(encoding="utf-8"))


def keras_version() -> str:
    """The Keras version the catalog was generated from."""
    return _raw()["keras_version"]


def classes(family: str) -> dict[str, Signature]:
    """Every class of a family, by name."""
    return _classes(family)


@cache
def _classes(family: str) -> dict[str, Signature]:
    if family not in _raw()["families"]:  # a family the installed catalog does not have yet
        return {}
    raw = _raw()["families"][family]["classes"]
    return {
        name: Signature(
            name, entry["params"], entry["open"], entry["doc"], tuple(entry.get("positional", ()))
        )
        for name, entry in raw.items()
    }


def identifiers(family: str) -> list[str]:
    """String identifiers of a family (`adam`, `mse`, `relu`...)."""
    return list(_raw()["families"][family]["identifiers"])


def names(family: str) -> list[str]:
    """Every name a family accepts: class names and string identifiers."""
    return [*classes(family), *identifiers(family)]


def nested_family(name: str) -> str | None:
    """The family of a class that may appear as an argument value, if any."""
    for family in NESTED_FAMILIES:
        if name in classes(family):
            return family
    return None
