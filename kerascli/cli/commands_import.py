"""`kerascli import`: a Keras model file or a `keras.applications` model, as a spec."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import typer

from kerascli.cli import render
from kerascli.cli.command import command
from kerascli.cli.errors import EXIT_FAILURE, InvalidArgument
from kerascli.cli.options import JsonOpt

WEIGHTS_SUFFIX = ".weights.h5"


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
    str | None,
    typer.Option("--pooling", help="An application's pooling: avg or max.", show_default=False),
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
    from kerascli.model.import_write import write_import
    from kerascli.model.importer import UnknownSource, import_model, load_source

    spec_name = _spec_name(name or output.name.split(".")[0])
    weights_file = output.with_name(output.name.split(".")[0] + WEIGHTS_SUFFIX)
    targets = [output, *([weights_file] if weights else [])]
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise InvalidArgument(f"{', '.join(existing)} exists: give --force to overwrite")
    options = {"input_shape": _shape(input_shape), "include_top": include_top, "pooling": pooling}
    try:
        model = load_source(source, options)
    except UnknownSource as exc:
        raise typer.BadParameter(str(exc), param_hint="'SOURCE'") from None
    imported = import_model(model, spec_name, blocks=blocks)
    found = write_import(imported, output, weights_file if weights else None)
    _report(imported, output, weights_file if weights else None, found, json_)
    if found:
        raise typer.Exit(EXIT_FAILURE)


def _spec_name(name: str) -> str:
    from kerascli.spec.models import NAME_PATTERN

    if not re.match(NAME_PATTERN, name):
        raise typer.BadParameter(
            f"'{name}' is not a spec name (letters, digits, _ . -)", param_hint="'--name'"
        )
    return name


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


def _report(
    imported: Any, output: Path, weights: Path | None, found: list[Any], json_: bool
) -> None:
    model = imported.model
    if json_:
        render.print_json(
            {
                "ok": not found,
                "spec": str(output),
                "weights": str(weights) if weights else None,
                "kind": imported.kind,
                "layers": len(imported.spec["model"][imported.kind]["layers"]),
                "params": model.count_params(),
                "unexpressible": [r.to_dict() for r in found],
            }
        )
        return
    wrote = f"{output}" + (f" and {weights}" if weights else "")
    render.stdout.print(f"wrote {wrote}: {model.name}, {model.count_params():,} parameters")
    for r in found:
        render.error(f"{output}:{r.line}: {r.node}: {r.advice}")
    if not found:
        render.stdout.print(f"Next: kerascli validate --deep {output}")
