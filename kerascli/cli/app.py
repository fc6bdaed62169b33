"""The `kerascli` command line: thin Typer commands over the library.

Exit codes: 0 ok, 1 runtime failure, 2 invalid spec or arguments, 3 a quality gate failed,
130 interrupted (Ctrl-C), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from kerascli.cli import render
from kerascli.run.rundir import Terminated
from kerascli.spec.problems import Problem, SpecError, cause_line

app = typer.Typer(
    name="kerascli",
    help="Declarative, YAML-driven training for tf.keras: validate, train, evaluate, predict.",
    epilog="Every command takes --debug (show tracebacks) and --json (one JSON document on "
    "stdout). Exit codes: 0 ok, 1 runtime failure, 2 invalid spec or arguments, 3 a quality "
    "gate failed, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_GATE = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM, as shells report


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


_debug = False  # `--debug` of the running command (set by `main`)


def _print_version(value: bool) -> None:
    if value:
        from kerascli import __version__

        render.stdout.print(f"kerascli {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print kerascli's version.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Declarative, YAML-driven training for tf.keras: validate, train, evaluate, predict."""


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
                from kerascli.model.builder import build_model

                build_model(spec)
        except SpecError as exc:
            problems = exc.problems
            if _debug:
                traceback.print_exception(exc)
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


RequireOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--require",
        "-r",
        help="A quality gate METRIC OP NUMBER (repeatable): train's metrics are named "
        "'accuracy', 'val_accuracy', 'test_accuracy'; evaluate's by their own name, "
        "e.g. 'accuracy>=0.9'.",
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Plain lines instead of progress bars.")
]


def _gates(texts: list[str] | None) -> list[Any]:
    from kerascli.run.gates import parse_gates

    return parse_gates(texts or [])


def _apply_gates(gates: list[Any], metrics: dict[str, float], json_: bool) -> list[Any]:
    from kerascli.run.gates import check_gates

    results = check_gates(gates, metrics)
    failed = [r for r in results if not r.passed]
    if failed and not json_:
        from rich.table import Table

        table = Table(title="quality gates failed", title_justify="left", title_style="bold red")
        for column in ("gate", "value", "result"):
            table.add_column(column)
        for r in results:
            table.add_row(
                str(r.gate),
                f"{r.value:.4f}",
                "[green]pass[/green]" if r.passed else "[red]FAIL[/red]",
            )
        render.stderr.print(table)
    return results


def _directory_path(path: Path) -> Path:
    """A directory argument none of whose parents is a file (`file_okay=False` checks only the
    path itself)."""
    for parent in path.parents:
        if os.path.exists(parent) and not os.path.isdir(parent):
            raise typer.BadParameter(f"'{path}': {parent} is a file, not a directory")
    return path


@app.command()
def train(
    spec: SpecArg,
    set_: SetOpt = None,
    epochs: Annotated[
        int | None, typer.Option("--epochs", help="Override fit.epochs.", min=1)
    ] = None,
    runs_dir: Annotated[
        Path,
        typer.Option(
            "--runs-dir", help="Where runs go.", file_okay=False, callback=_directory_path
        ),
    ] = Path("runs"),
    name: Annotated[
        str | None, typer.Option("--name", help="Run name. Defaults to the spec's name.")
    ] = None,
    require: RequireOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Train a spec: compile, fit, evaluate and save into runs/<name>/<n>/."""
    from kerascli.run.rundir import RunDir
    from kerascli.spec import load_spec
    from kerascli.spec.models import NAME_PATTERN

    if name is not None and not re.match(NAME_PATTERN, name):
        raise typer.BadParameter(
            f"{name!r} is not a run name (letters, digits, '_', '.', '-'; no '/')",
            param_hint="--name",
        )
    overrides = [*(set_ or []), *([f"fit.epochs={epochs}"] if epochs else [])]
    loaded = load_spec(spec, overrides)
    gates = _gates(require)
    from kerascli.run.progress import use_plain
    from kerascli.run.trainer import train as run_training

    stream = sys.stderr if json_ else sys.stdout
    try:
        result = run_training(
            loaded, runs_dir, name, stream=stream, plain=use_plain(stream, quiet), gates=gates
        )
    except KeyboardInterrupt as exc:  # Typer would turn it into a silent exit 130
        _interrupted(exc)
        raise typer.Exit(_interrupted_code(exc)) from None
    metrics = result.flat_metrics()
    gate_results = _apply_gates(gates, metrics, json_)
    passed = all(r.passed for r in gate_results)
    if gate_results:
        RunDir.open(result.path).update(gates=[r.to_dict() for r in gate_results])
    if json_:
        render.print_json(
            {
                "ok": passed,
                "run_dir": str(result.path),
                "status": result.status,
                "metrics": result.metrics,
                "epochs": len(result.history),
                "gates": [r.to_dict() for r in gate_results],
            }
        )
    else:
        render.stdout.print(render.metrics_table("metrics", result.metrics))
        render.stdout.print(f"run: [bold]{result.path}[/bold]")
    if not passed:
        raise GateFailed()


TargetArg = Annotated[
    Path,
    typer.Argument(help="A run directory or a MODEL.keras file.", show_default=False, exists=True),
]


TrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust",
        help="Import the plugin code kept in a run that came from another host or directory.",
    ),
]


@app.command()
def evaluate(
    target: TargetArg,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="Spec for a bare MODEL.keras.", exists=True)
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Evaluate on this whole file.", exists=True)
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split of the spec's data.")] = "test",
    require: RequireOpt = None,
    trust: TrustOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Evaluate a trained model on a split of its spec's data, or on a data file."""
    gates = _gates(require)
    from kerascli.run.inference import evaluate as run_evaluate
    from kerascli.run.inference import load_run

    run = load_run(target, spec, trust=trust)
    metrics = run_evaluate(run, split, data)
    gate_results = _apply_gates(gates, metrics, json_)
    passed = all(r.passed for r in gate_results)
    where = str(data) if data else split
    if json_:
        render.print_json(
            {
                "ok": passed,
                "target": str(target),
                "data": where,
                "metrics": metrics,
                "gates": [r.to_dict() for r in gate_results],
            }
        )
    else:
        render.stdout.print(render.metrics_table(f"evaluate {target}", {where: metrics}))
    if not passed:
        raise GateFailed()


@app.command()
def predict(
    target: TargetArg,
    input_file: Annotated[
        Path,
        typer.Argument(
            help="CSV, TSV, NPZ or NPY input with the spec's input columns, by name "
            "(any order; targets and other columns not needed).",
            show_default=False,
            exists=True,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write predictions to a file: .csv, .tsv, .npy, .parquet or .jsonl.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the --output file if it exists.")
    ] = False,
    keep: Annotated[
        list[str] | None,
        typer.Option("--keep", help="Pass an input column through, e.g. an id (repeatable)."),
    ] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    spec: Annotated[
        Path | None, typer.Option("--spec", help="Spec for a bare MODEL.keras.", exists=True)
    ] = None,
    trust: TrustOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Predict with a trained model; prints CSV, or writes the --output file's format."""
    from kerascli.run.inference import load_run
    from kerascli.run.inference import predict as run_predict
    from kerascli.run.outputs import check_output, table_text

    if output is not None:  # before loading anything
        check_output(output, force, keep or [])
    run = load_run(target, spec, trust=trust)
    result = run_predict(run, input_file, output, batch_size, keep or [], force)
    columns = result.pop("predictions")
    if json_:
        if output is None:
            result["predictions"] = {k: v.tolist() for k, v in columns.items()}
        render.print_json({"ok": True, **result})
    elif output is None:
        sys.stdout.write(table_text(columns, result["rows"]))
    elif output.suffix.lower() == ".npy":  # the raw outputs, not the named columns
        import numpy as np

        shape = np.load(output, mmap_mode="r").shape
        render.stdout.print(f"wrote an array of shape {shape} (the model's outputs) to {output}")
    else:
        render.stdout.print(
            f"wrote {result['rows']} rows ({', '.join(result['columns'])}) to {output}"
        )


RunsDirArg = Annotated[
    Path,
    typer.Argument(
        help="The runs directory (or one name's, or one run's).",
        file_okay=False,
        callback=_directory_path,
    ),
]


@app.command()
def runs(
    runs_dir: RunsDirArg = Path("runs"),
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--compare", help="Compare two runs (directories or NAME/N).", show_default=False
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """List runs (name, n, status, date, duration, metrics), or compare two."""
    from rich.table import Table

    from kerascli.run.runs import compare_runs, list_runs, resolve_run

    if compare:
        try:
            a, b = (resolve_run(ref, runs_dir) for ref in compare)
        except FileNotFoundError as exc:
            raise typer.BadParameter(str(exc), param_hint="--compare") from None
        diff = compare_runs(a, b)
        if json_:
            render.print_json(diff)
            return
        # columns named NAME/N: whole paths would be cut down to the same prefix
        label_a, label_b = (f"{p.parent.name}/{p.name}" for p in (a, b))
        if label_a == label_b:
            label_a, label_b = str(a), str(b)
        text = render.text  # names and values from the runs' files, shown as written
        table = Table(title="metrics", title_justify="left")
        table.add_column("metric", no_wrap=True)
        for column in (text(label_a), text(label_b), "change"):
            table.add_column(column, justify="right")
        for row in diff["metrics"]:
            va, vb = row["a"], row["b"]
            change = f"{vb - va:+.4f}" if va is not None and vb is not None else ""
            table.add_row(text(row["metric"]), _num(va), _num(vb), change)
        render.stdout.print(table)
        spec_table = Table(title="spec differences", title_justify="left")
        spec_table.add_column("key", no_wrap=True)
        for column in (label_a, label_b):
            spec_table.add_column(text(column))
        for row in diff["spec_diff"]:
            spec_table.add_row(text(row["key"]), text(repr(row["a"])), text(repr(row["b"])))
        render.stdout.print(spec_table if diff["spec_diff"] else "specs are identical")
        return
    records = list_runs(runs_dir)
    if json_:
        render.print_json({"runs_dir": str(runs_dir), "runs": records})
        return
    if not records:
        render.stdout.print(render.text(f"no runs in {runs_dir}"))
        return
    render.stdout.print(render.runs_table(records, str(runs_dir)))
    for record in records:  # why a run is `unreadable`: its file and what is wrong with it
        if record["status"] == "unreadable" and "error" in record:
            render.stderr.print(render.text(f"warning: {record['error']}"))


def _num(value: Any) -> str:
    return "" if value is None else f"{value:.4f}"


def _configure_logging(verbose: bool) -> None:
    if verbose:
        os.environ["KERASCLI_VERBOSE"] = "1"


def _interrupted(exc: BaseException) -> None:
    """Ctrl-C or SIGTERM: say so on stderr, and name the run it marked (stdout stays empty)."""
    status = "terminated" if isinstance(exc, Terminated) else "interrupted"
    render.error("terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted")
    run_dir = getattr(exc, "run_dir", None)
    if run_dir is not None:
        render.stderr.print(f"run {run_dir} is marked {status} and keeps what it wrote")


def _interrupted_code(exc: BaseException) -> int:
    return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPTED


def _terminate(signum: int, frame: Any) -> None:
    """SIGTERM's handler: end the command as Ctrl-C does, through `Terminated`."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
    raise Terminated()


def _handle_sigterm() -> Any:
    """Install `_terminate` for SIGTERM; the handler it replaces (`None` off the main thread,
    where Python cannot handle signals)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _terminate)


def _is_usage_error(exc: BaseException) -> bool:
    """Whether `exc` is a Click usage error (`typer.BadParameter`, an unknown option, a missing
    argument): those can show themselves. Typer vendors Click in new releases, so the class is
    recognised by what it does, not imported from a private module."""
    return callable(getattr(exc, "format_message", None)) and callable(getattr(exc, "show", None))


def _report_failure(exc: BaseException, json_mode: bool, debug: bool) -> None:
    """A runtime failure: one line, the traceback with --debug."""
    cause = cause_line(exc)
    run_dir = getattr(exc, "run_dir", None)
    if json_mode:
        document: dict[str, Any] = {"ok": False, "errors": [{"message": cause}]}
        if run_dir is not None:
            document["run_dir"] = str(run_dir)
        render.print_json(document)
        return
    render.error(cause)
    if run_dir is not None:
        render.stderr.print(f"run {run_dir} is marked failed and keeps what it wrote")
    if debug:
        traceback.print_exc()
    else:
        render.stderr.print("[dim](run with --debug for the traceback)[/dim]")


def main(argv: list[str] | None = None) -> None:
    """Entry point: runs the app and maps failures to exit codes and one-line messages."""
    global _debug
    args = list(sys.argv[1:] if argv is None else argv)
    debug = _debug = "--debug" in args
    args = [a for a in args if a != "--debug"]
    json_mode = "--json" in args
    _configure_logging("--verbose" in args)
    command = typer.main.get_command(app)
    code = EXIT_OK
    render.json_stream = sys.stdout
    if json_mode:  # stdout holds the JSON document only: prints of Keras or plugins go to stderr
        sys.stdout = sys.stderr
    previous_handler = _handle_sigterm()
    try:
        result = command.main(args=args, prog_name="kerascli", standalone_mode=False)
        code = result if isinstance(result, int) else EXIT_OK
    except typer.Exit as exc:
        code = exc.exit_code
        if isinstance(exc.__cause__, KeyboardInterrupt):  # how Typer ends an interrupted command
            _interrupted(exc.__cause__)
            code = _interrupted_code(exc.__cause__)
    except (typer.Abort, KeyboardInterrupt) as exc:
        cause = exc.__cause__ or exc
        _interrupted(cause)
        code = _interrupted_code(cause)
    except SpecError as exc:
        run_dir = getattr(exc, "run_dir", None)  # e.g. a --require gate naming no metric
        if json_mode:
            invalid = {"ok": False, "errors": [p.to_dict() for p in exc.problems]}
            render.print_json({**invalid, **({"run_dir": str(run_dir)} if run_dir else {})})
        else:
            render.print_problems(exc.problems)
            if run_dir is not None:
                render.stderr.print(f"run {run_dir} is marked failed and keeps what it wrote")
        if debug:
            traceback.print_exc()
        code = EXIT_INVALID
    except GateFailed:
        code = EXIT_GATE
    except Exception as exc:
        if _is_usage_error(exc):  # a bad argument or option (Click's errors, as Typer raises them)
            if json_mode:
                message = exc.format_message()  # type: ignore[attr-defined]
                render.print_json({"ok": False, "errors": [{"message": message}]})
            else:
                exc.show()  # type: ignore[attr-defined]
            code = EXIT_INVALID
        else:
            _report_failure(exc, json_mode, debug)
            code = EXIT_FAILURE
    finally:
        sys.stdout = render.json_stream
        if previous_handler is not None:
            signal.signal(signal.SIGTERM, previous_handler)
    sys.exit(code)


from kerascli.cli import tools as _tools  # noqa: E402,F401  (registers `schema` and `init`)
