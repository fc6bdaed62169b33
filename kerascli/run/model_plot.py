"""`kerascli plot`: a picture of a model, the spec's (built, not trained) or a run's.

Keras draws it (`keras.utils.model_to_dot`, what `keras.utils.plot_model` draws with, given the
same arguments); pydot (`pip install 'kerascli[plot]'`) holds the graph, and graphviz's `dot`
program lays it out as PNG, SVG, PDF or JPEG. A `.dot` file is the graph's source, written
without graphviz. Each missing piece is named in one line, with how to install it; the file is
written atomically, whole or not at all.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kerascli.run.rundir import atomic_write
from kerascli.spec.problems import KerasCliError, Problem, SpecError

FORMATS = ("png", "svg", "pdf", "jpg", "jpeg", "dot")
"""The file extensions `plot_model` writes: graphviz's formats, and `dot` (the graph's source)."""
RANKDIRS = ("TB", "LR", "BT", "RL")
SPEC_SUFFIXES = (".yaml", ".yml")
PYDOT_MISSING = "pydot is not installed: pip install 'kerascli[plot]'"
GRAPHVIZ_MISSING = (
    "graphviz's `dot` program is not on PATH: install graphviz (apt install graphviz, "
    "brew install graphviz, or https://graphviz.org/download/), or write a .dot file"
)


@dataclass(frozen=True)
class PlotOptions:
    """What the picture shows, as Keras's `plot_model` arguments (`show_shapes`, `dpi`...).

    Shapes and layer names are shown unless turned off (Keras's own defaults leave them out).
    """

    show_shapes: bool = True
    show_dtype: bool = False
    show_layer_names: bool = True
    show_layer_activations: bool = False
    show_trainable: bool = False
    expand_nested: bool = False
    rankdir: str = "TB"
    dpi: int = 200

    def __post_init__(self) -> None:
        if self.rankdir not in RANKDIRS:
            message = f"expected one of {', '.join(RANKDIRS)}; got '{self.rankdir}'"
            raise SpecError([Problem(message, "", "--rankdir")])


def plot_format(output: Path) -> str:
    """The format the extension of `output` names; a `SpecError` for one not in `FORMATS`."""
    extension = output.suffix.lower().lstrip(".")
    if extension not in FORMATS:
        got = f"'{output.suffix}'" if output.suffix else "no extension"
        message = f"expected a file ending in {', '.join('.' + f for f in FORMATS)}; got {got}"
        raise SpecError([Problem(message, "", "--output")])
    return extension


def check_plot_tools(fmt: str) -> None:
    """Raise a one-line `KerasCliError` naming what to install when pydot, or for a picture
    graphviz's `dot` program, is missing."""
    if importlib.util.find_spec("pydot") is None:
        raise KerasCliError(PYDOT_MISSING)
    if fmt != "dot" and shutil.which("dot") is None:
        raise KerasCliError(GRAPHVIZ_MISSING)


def model_to_plot(
    target: str | Path,
    spec: str | Path | None = None,
    overrides: Sequence[str] = (),
    trust: bool = False,
) -> Any:
    """The model to draw: a spec's, built (`target` a `.yaml`/`.yml` file, with `overrides`),
    or a run's (a run directory or a `MODEL.keras`, with `spec` and `trust` as `load_run`)."""
    target = Path(target)
    if target.suffix.lower() in SPEC_SUFFIXES and target.is_file():
        from kerascli.model.builder import Builder
        from kerascli.spec import load_spec

        return Builder(load_spec(target, overrides, training=False)).build()
    if overrides:
        raise SpecError([Problem("--set applies to a spec, not a run", "", "--set")])
    from kerascli.run.saved_run import load_run

    return load_run(target, spec, trust=trust).model


def plot_model(model: Any, output: str | Path, options: PlotOptions | None = None) -> Path:
    """Draw `model` into `output`, in the format its extension names (`FORMATS`).

    Args:
        options: What the picture shows. Defaults to `PlotOptions()`.

    Raises:
        SpecError: an extension not in `FORMATS`, or an option Keras refuses.
        KerasCliError: pydot or graphviz is missing, or graphviz failed.
    """
    output = Path(output)
    fmt = plot_format(output)
    options = options or PlotOptions()
    check_plot_tools(fmt)
    from kerascli.model.keras_env import import_keras

    keras = import_keras()
    try:
        graph = keras.utils.model_to_dot(model, **asdict(options))
    except ValueError as exc:  # e.g. a model not built
        raise KerasCliError(f"cannot draw the model: {exc}") from exc
    atomic_write(output, _rendered(graph, fmt))
    return output


def _rendered(graph: Any, fmt: str) -> bytes:
    """The graph as the bytes of a `fmt` file: its source for `dot`, else graphviz's picture."""
    if fmt == "dot":
        return graph.to_string().encode("utf-8")
    try:
        return bytes(graph.create(format="jpeg" if fmt == "jpg" else fmt))
    except FileNotFoundError as exc:  # `dot` went missing since the check
        raise KerasCliError(GRAPHVIZ_MISSING) from exc
    except Exception as exc:  # pydot's error for graphviz's own failure
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise KerasCliError(f"graphviz could not draw the model: {first}") from exc
