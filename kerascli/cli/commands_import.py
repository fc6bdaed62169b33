"""`kerascli import`: a Keras model file or a `keras.applications` model, as a spec (a thin
wrapper over `kerascli.model.importer.import_spec`)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from kerascli.cli import render
from kerascli.cli.command import command
from kerascli.cli.errors import EXIT_FAILURE, InvalidArgument
from kerascli.cli.options import JsonOpt

WEIGHTS_SUFFIX = ".weights.h5"  # as `import_write.WEIGHTS_SUFFIX` (the help imports no Keras)


class Pooling(str, Enum):
    """An application's `pooling`."""

    avg = "avg"
    max = "max"


SourceArg = Annotated[
    str,
    typer.Argument(
        help="A .keras or .h5 model file, or a keras.applications name (ResNet50V2).",
        show_default=False,
    ),
]
OutputOpt = Annotated[
    Path, typer.Option("--output", "-o", help="The spec file to write.", show_default=False)
]
WeightsOpt = Annotated[
    bool,
    typer.Option(
        "--weights",
        help=f"Also write the weights beside the spec (SPEC{WEIGHTS_SUFFIX}); the spec "
        "points at them.",
    ),
]
InputShapeOpt = Annotated[
    str | None,
    typer.Option(
        "--input-shape", help="An application's input_shape, e.g. 32,32,3.", show_default=False
    ),
]
IncludeTopOpt = Annotated[
    bool | None,
    typer.Option(
        "--include-top/--no-include-top",
        help="An application's include_top. Defaults to Keras's (true).",
        show_default=False,
    ),
]
PoolingOpt = Annotated[
    Pooling | None,
    typer.Option("--pooling", help="An application's pooling.", show_default=False),
]
SpecNameOpt = Annotated[
    str | None, typer.Option("--name", help="The spec's name. Defaults to the output file's stem.")
]
BlocksOpt = Annotated[
    bool,
    typer.Option(
        "--blocks/--no-blocks",
        help="Fold repeated units (NAME_block1_*, NAME_block2_*, ...) into blocks.",
    ),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite existing files.")]


@command
def import_(
    source: SourceArg,
    output: OutputOpt,
    weights: WeightsOpt = False,
    input_shape: InputShapeOpt = None,
    include_top: IncludeTopOpt = None,
    pooling: PoolingOpt = None,
    name: SpecNameOpt = None,
    blocks: BlocksOpt = True,
    force: ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Write a spec that rebuilds a Keras model (a .keras/.h5 file or a keras.applications name)."""
    from kerascli.model.import_types import ImportRefused
    from kerascli.model.importer import import_spec

    try:
        result = import_spec(
            source,
            output,
            weights=weights,
            input_shape=_shape(input_shape),
            include_top=include_top,
            pooling=pooling.value if pooling else None,
            name=name,
            blocks=blocks,
            force=force,
        )
    except ImportRefused as exc:
        if exc.option is None:
            raise InvalidArgument(str(exc)) from None
        raise typer.BadParameter(str(exc), param_hint=exc.option) from None
    _report(result, json_)
    if not result.ok:
        raise typer.Exit(EXIT_FAILURE)


def _shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(part) for part in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(d <= 0 for d in shape):
        raise typer.BadParameter(
            f"expected positive integers such as 32,32,3, got {text!r}",
            param_hint="'--input-shape'",
        )
    return shape


def _report(result: Any, json_: bool) -> None:
    if json_:
        render.print_json(result.to_dict())
        return
    model, output = result.imported.model, result.spec
    wrote = f"{output}" + (f" and {result.weights}" if result.weights else "")
    render.stdout.print(f"wrote {wrote}: {model.name}, {model.count_params():,} parameters")
    for r in result.unexpressible:
        render.error(f"{output}:{r.line}: {r.node}: {r.advice}")
    if result.ok:
        render.stdout.print(f"Next: kerascli validate --deep {output}")
