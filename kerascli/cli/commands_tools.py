"""`kerascli schema` and `kerascli init`: files to start from and to edit specs with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from kerascli.cli import render
from kerascli.cli.command import command
from kerascli.cli.errors import InvalidArgument
from kerascli.cli.options import JsonOpt


@command
def schema(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the schema to this file instead of stdout."),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """Print the spec's JSON Schema (draft 2020-12), for editor completion and checks."""
    from kerascli.spec.schema import schema_text

    text = schema_text()
    if output is None:
        render.write_stdout(text)  # stdout, also in --json mode
        return
    size = render.write_file(output, text)
    if json_:
        render.print_json({"ok": True, "output": str(output), "bytes": size})
    else:
        render.stderr.print(f"wrote {output} ({size // 1024} KB)")


@command
def init(
    file: Annotated[Path, typer.Argument(help="Where to write the spec.")] = Path("spec.yaml"),
    template: Annotated[
        str,
        typer.Option(
            "--template", "-t", help="mlp, cnn, functional, subclass or lstm.", show_default=True
        ),
    ] = "mlp",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Write a commented starter spec, and the data it trains on, next to it."""
    from kerascli.spec.schema import SCHEMA_FILE
    from kerascli.templates import UnknownTemplate, write_starter

    try:
        written = write_starter(template, file, force)
    except UnknownTemplate as exc:
        raise typer.BadParameter(str(exc), param_hint="'--template'") from None
    except FileExistsError as exc:
        raise InvalidArgument(str(exc)) from None
    schema_path = file.parent / SCHEMA_FILE
    if json_:
        render.print_json(
            {
                "ok": True,
                "template": written.template.name,
                "spec": str(written.spec),
                "files": [str(p) for p in written.files],
                "kept": [str(p) for p in written.kept],
                "schema": str(schema_path),
            }
        )
        return
    render.stdout.print(f"wrote {', '.join(str(p) for p in written.files)}")
    if written.kept:
        render.stdout.print(f"kept {', '.join(str(p) for p in written.kept)} (same content)")
    render.stdout.print(
        f"{written.template.summary}. Next:\n"
        f"  kerascli validate {file}\n"
        f"  kerascli train {file}\n"
        f"  kerascli schema --output {schema_path}   [dim]# editor completion[/dim]"
    )
