"""What `kerascli import` hands between its steps: a model as spec data (`Imported`), and its
two refusals (`ImportRefused`: a bad argument, exit 2; `ImportFailed`: an unreadable model, exit 1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kerascli.spec.problems import KerasCliError


class ImportFailed(KerasCliError):
    """The source cannot be read as a Keras model (a runtime failure, exit code 1)."""


@dataclass
class Unexpressible:
    """A node whose layer the spec cannot build: where it is and what to do."""

    node: str
    class_name: str
    advice: str


class ImportRefused(ValueError):
    """An argument `import` cannot use (exit code 2), refused before anything is written.

    Args:
        message: What is wrong, in one line.
        option: The argument it is about, as the CLI names it (`'--output'`), or `None`.
    """

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option


class UnknownSource(ImportRefused):
    """The source is neither a model file nor a `keras.applications` name."""

    def __init__(self, message: str):
        super().__init__(message, "'SOURCE'")


@dataclass
class Imported:
    """A model as spec data.

    Args:
        spec: The spec as plain data (`name`, `plugins`, `model`).
        layers: Node name -> the Keras layer whose weights the node's layer gets.
        unexpressible: The nodes the spec cannot build, with what to do.
        model: The Keras model it was read from.
    """

    spec: dict[str, Any]
    layers: dict[str, Any] = field(default_factory=dict)
    unexpressible: list[Unexpressible] = field(default_factory=list)
    model: Any = None

    @property
    def kind(self) -> str:
        return "sequential" if "sequential" in self.spec["model"] else "functional"
