"""The `kerascli` command line: thin Typer commands over the library.

Exit codes: 0 ok, 1 runtime failure, 2 invalid spec or arguments, 3 a quality gate failed.
"""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from kerascli.cli import render
from kerascli.spec.problems import KerasCliError, Problem, SpecError

app = typer.Typer(
    name="kerascli",
    help="Declarative, YAML-driven training for tf.keras: validate, train, evaluate, predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_GATE = 0, 1, 2, 3


class GateFailed(Exception):
    """A `--require` quality gate failed (exit code 3)."""


SpecArg = Annotated[Path, typer.Argument(help="The YAML spec.", show_default=False)]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a spec value: key.path=value (repeatable)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="Show TensorFlow's logs.")]


def _json_mode() -> bool:
    return "--json" in sys.argv[1:]


@app.command()
def validate(
    specs: Annotated[list[Path], typer.Argument(help="Spec files.", show_default=False)],
    deep: Annotated[bool, typer.Option("--deep", help="Also build each model with Keras.")] = False,
    set_: SetOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Check specs: YAML, schema, Keras names and arguments, graph, files. No TensorFlow unless --deep."""
    from kerascli.spec import load_spec

    results: list[dict[str, Any]] = []
    for path in specs:
        problems: list[Problem] = []
        try:
            spec = load_spec(path, set_ or ())
            if deep:
                from kerascli.build.builder import build_model

                build_model(spec)
        except SpecError as exc:
            problems = exc.problems
        results.append(
            {"file": str(path), "ok": not problems, "errors": [p.to_dict() for p in problems]}
        )
        if not json_:
            if problems:
                render.stderr.print(render.problems_text(problems), end="")
            else:
                render.stdout.print(f"[green]ok[/green] {path}")
    failed = [r for r in results if not r["ok"]]
    if json_:
        render.print_json({"ok": not failed, "specs": results})
    elif failed:
        n = sum(len(r["errors"]) for r in failed)
        render.stderr.print(
            f"[red]{n} problem{'s' if n != 1 else ''} in {len(failed)} of {len(results)} spec(s)[/red]"
        )
    raise typer.Exit(EXIT_INVALID if failed else EXIT_OK)


@app.command()
def summary(spec: SpecArg, set_: SetOpt = None, json_: JsonOpt = False) -> None:
    """Build the model and print its layers, output shapes and parameter counts."""
    from kerascli.api import build_model, load_spec
    from kerascli.cli.summary import model_summary, summary_table

    data = model_summary(build_model(load_spec(spec, set_ or ())))
    if json_:
        render.print_json(data)
    else:
        render.stdout.print(summary_table(data))


@app.command()
def config(spec: SpecArg, set_: SetOpt = None, json_: JsonOpt = False) -> None:
    """Print the fully resolved spec (extends, --set and ${ENV} applied), as `train` would use it."""
    from kerascli.spec import load_spec
    from kerascli.spec.dump import resolved_spec, to_yaml

    data = resolved_spec(load_spec(spec, set_ or ()))
    if json_:
        render.print_json(data)
    else:
        sys.stdout.write(to_yaml(data))


def _configure_logging(verbose: bool) -> None:
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and maps failures to exit codes and one-line messages."""
    import click

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    json_mode = "--json" in args
    _configure_logging("--verbose" in args)
    command = typer.main.get_command(app)
    code = EXIT_OK
    try:
        result = command.main(args=args, prog_name="kerascli", standalone_mode=False)
        code = result if isinstance(result, int) else EXIT_OK
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.Abort:
        render.error("aborted")
        code = 130
    except click.exceptions.ClickException as exc:
        if json_mode:
            render.print_json({"ok": False, "errors": [{"message": exc.format_message()}]})
        else:
            exc.show()
        code = EXIT_INVALID
    except SpecError as exc:
        if json_mode:
            render.print_json({"ok": False, "errors": [p.to_dict() for p in exc.problems]})
        else:
            render.print_problems(exc.problems)
        if debug:
            traceback.print_exc()
        code = EXIT_INVALID
    except GateFailed:
        code = EXIT_GATE
    except KeyboardInterrupt:
        render.error("interrupted")
        code = 130
    except Exception as exc:  # a runtime failure: one line, traceback with --debug
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        cause = (
            f"{type(exc).__name__}: {message}" if not isinstance(exc, KerasCliError) else message
        )
        if json_mode:
            render.print_json({"ok": False, "errors": [{"message": cause}]})
        else:
            render.error(cause)
            if debug:
                traceback.print_exc()
            else:
                render.stderr.print("[dim](run with --debug for the traceback)[/dim]")
        code = EXIT_FAILURE
    sys.exit(code)
