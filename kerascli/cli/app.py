"""The `kerascli` command line: thin Typer commands over the library.

The commands live in `commands_spec`, `commands_run` and `commands_tools`; each goes through
`command.command`, which gives it `--debug` and maps what it raises to an exit code
(`errors.report`). This module only puts them on the app. Exit codes: 0 ok, 1 runtime failure,
2 invalid spec or arguments, 3 a quality gate failed, 130 interrupted (Ctrl-C), 143 terminated
(SIGTERM).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer
import typer.core
import typer.main

from kerascli.cli import errors, render
from kerascli.cli.command import DEBUG
from kerascli.cli.commands_evaluate import evaluate
from kerascli.cli.commands_export import export
from kerascli.cli.commands_import import import_
from kerascli.cli.commands_plot import plot
from kerascli.cli.commands_run import predict, runs, train
from kerascli.cli.commands_spec import config, summary, validate
from kerascli.cli.commands_tools import init, schema
from kerascli.cli.commands_tune import tune
from kerascli.cli.options import DebugOpt


class KerasCliGroup(typer.core.TyperGroup):
    """The app as Click runs it: every way it ends becomes `sys.exit(code)`, also the ways
    that come before a command runs (an unknown option, a bad value, no such command)."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        words = list(sys.argv[1:] if args is None else args)
        with errors.sigterm_as_interrupt():
            try:
                code = super().main(
                    args=words,
                    prog_name=prog_name or "kerascli",
                    complete_var=complete_var,
                    standalone_mode=False,
                    windows_expand_args=windows_expand_args,
                    **extra,
                )
            except typer.Abort as exc:
                code = errors.report(exc.__cause__ or KeyboardInterrupt(), False, False)
            except Exception as exc:
                # Click's usage errors come before the command's options are read, so
                # whether to answer in JSON is read from the words themselves.
                code = errors.report(exc, "--json" in words, "--debug" in words)
        for stream in (sys.stdout, sys.stderr):  # for callers in this process, e.g. CliRunner
            stream.flush()
        sys.exit(code if isinstance(code, int) else errors.EXIT_OK)


app = typer.Typer(
    name="kerascli",
    cls=KerasCliGroup,
    help="Declarative, YAML-driven training for tf.keras: validate, train, evaluate, predict.",
    epilog="Every command takes --debug (show tracebacks) and --json (one JSON document on "
    "stdout). Exit codes: 0 ok, 1 runtime failure, 2 invalid spec or arguments, 3 a quality "
    "gate failed, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _print_version(value: bool) -> None:
    if value:
        from kerascli import __version__

        render.stdout.print(f"kerascli {__version__}")
        raise typer.Exit()


@app.callback(invoke_without_command=True)
def _options(
    context: typer.Context,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print kerascli's version.", callback=_print_version, is_eager=True
        ),
    ] = False,
    debug: DebugOpt = False,
) -> None:
    """Declarative, YAML-driven training for tf.keras: validate, train, evaluate, predict."""
    context.meta[DEBUG] = debug  # `kerascli --debug COMMAND`, as `kerascli COMMAND --debug`
    if context.invoked_subcommand is None:  # `kerascli --debug`: the help, as bare `kerascli`
        typer.echo(context.get_help(), nl=False)
        raise typer.Exit(errors.EXIT_INVALID)


for _command in (
    validate,
    summary,
    config,
    train,
    tune,
    evaluate,
    predict,
    export,
    plot,
    runs,
    schema,
    init,
):
    app.command()(_command)
app.command(name="import")(import_)


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app on `argv` (else the process's arguments) and exits with its
    code."""
    typer.main.get_command(app).main(args=argv, prog_name="kerascli")
