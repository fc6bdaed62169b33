"""`kerascli plot`: a picture of a spec's model (built, not trained) or a run's model
(`kerascli.run.model_plot`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kerascli.cli import render
from kerascli.cli.command import command
from kerascli.cli.errors import InvalidArgument
from kerascli.cli.options import BareSpecOpt, JsonOpt, SetOpt, TrustOpt, VerboseOpt


def _flag(name: str, help_: str) -> typer.models.OptionInfo:
    return typer.Option(f"--{name}/--no-{name}", help=help_)


PlotTargetArg = Annotated[
    Path,
    typer.Argument(
        help="A YAML spec, a run directory or a MODEL.keras file.", show_default=False, exists=True
    ),
]
PictureOpt = Annotated[
    Path,
    typer.Option(
        "--output", "-o", help="The picture: .png, .svg, .pdf, .jpg, or .dot (graph source)."
    ),
]
ShapesOpt = Annotated[bool, _flag("show-shapes", "Show each layer's shapes.")]
DtypeOpt = Annotated[bool, _flag("show-dtype", "Show each layer's dtype.")]
NamesOpt = Annotated[bool, _flag("show-layer-names", "Show each layer's name.")]
ActivationsOpt = Annotated[bool, _flag("show-layer-activations", "Show the layers' activations.")]
TrainableOpt = Annotated[bool, _flag("show-trainable", "Show whether each layer is trainable.")]
NestedOpt = Annotated[bool, _flag("expand-nested", "Draw nested models' layers, in clusters.")]
RankdirOpt = Annotated[
    str, typer.Option("--rankdir", help="Direction: TB (top to bottom), LR, BT or RL.")
]
DpiOpt = Annotated[int, typer.Option("--dpi", help="Resolution of a PNG/JPEG.", min=1)]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite the file.")]


@command
def plot(
    target: PlotTargetArg,
    output: PictureOpt,
    show_shapes: ShapesOpt = True,
    show_dtype: DtypeOpt = False,
    show_layer_names: NamesOpt = True,
    show_layer_activations: ActivationsOpt = False,
    show_trainable: TrainableOpt = False,
    expand_nested: NestedOpt = False,
    rankdir: RankdirOpt = "TB",
    dpi: DpiOpt = 200,
    force: ForceOpt = False,
    spec: BareSpecOpt = None,
    set_: SetOpt = None,
    trust: TrustOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Draw a model (Keras plot_model): a spec's, built without training, or a run's."""
    if output.is_dir():
        raise typer.BadParameter(f"{output} is a directory: give a file", param_hint="--output")
    if output.exists() and not force:
        raise InvalidArgument(f"{output} exists: pass --force to overwrite it")
    from kerascli.run.model_plot import (
        PlotOptions,
        check_plot_tools,
        model_to_plot,
        plot_format,
        plot_model,
    )

    options = PlotOptions(
        show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable,
        expand_nested, rankdir.upper(), dpi,
    )  # fmt: skip
    check_plot_tools(plot_format(output))  # before building or loading anything
    written = plot_model(model_to_plot(target, spec, set_ or (), trust), output, options)
    if json_:
        render.print_json({"ok": True, "target": str(target), "output": str(written)})
    else:
        render.stdout.print(render.text(f"wrote {written}"))
