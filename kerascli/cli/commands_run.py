"""The commands that train and use models: `train`, `predict` and `runs`."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kerascli.cli import render
from kerascli.cli.command import command
from kerascli.cli.errors import GateFailed, InvalidArgument
from kerascli.cli.options import (
    BareSpecOpt,
    CompareOpt,
    DebugOpt,
    EpochsOpt,
    InputFileArg,
    JsonOpt,
    KeepOpt,
    MaxRestartsOpt,
    NameOpt,
    PredictionsOpt,
    QuietOpt,
    RequireOpt,
    RunsDirArg,
    RunsDirOpt,
    SetOpt,
    SpecArg,
    TargetArg,
    TrustOpt,
    VerboseOpt,
    WorkersOpt,
)


@command
def train(
    spec: SpecArg,
    set_: SetOpt = None,
    epochs: EpochsOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    name: NameOpt = None,
    require: RequireOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
    workers: WorkersOpt = None,
    max_restarts: MaxRestartsOpt = 0,
    debug: DebugOpt = False,
) -> None:
    """Train a spec: compile, fit, evaluate and save into runs/<name>/<n>/."""
    from kerascli.run.rundir import RunDir
    from kerascli.spec import load_spec

    _check_run_name(name)
    if max_restarts and workers is None:
        raise typer.BadParameter("needs --workers", param_hint="--max-restarts")
    overrides = [*(set_ or []), *([f"fit.epochs={epochs}"] if epochs else [])]
    if workers is not None:
        shared = {"--set": set_, "--epochs": epochs, "--runs-dir": runs_dir, "--name": name}
        shared.update({"--verbose": verbose, "--debug": debug})
        chief = {"--require": require, "--quiet": quiet, "--json": json_}
        _train_workers(overrides, spec, shared, chief, workers, max_restarts)
        return
    loaded = load_spec(spec, overrides)
    gates = _gates(require)
    from kerascli.run.progress import use_plain
    from kerascli.run.trainer import train as run_training

    stream = sys.stderr if json_ else sys.stdout
    result = run_training(
        loaded, runs_dir, name, stream=stream, plain=use_plain(stream, quiet), gates=gates
    )
    gate_results = _apply_gates(gates, result.flat_metrics(), json_)
    if gate_results and result.chief:  # another worker's run is gone as training ends
        RunDir.open(result.path).update(gates=[r.to_dict() for r in gate_results])
    _report_training(result, gate_results, json_)


def _report_training(result: Any, gate_results: list[Any], json_: bool) -> None:
    """What `train` prints: its metrics and run (or the JSON document); exit 3 if a gate
    failed."""
    passed = all(r.passed for r in gate_results)
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
        where = result.path if result.chief else "written by the chief worker"
        render.stdout.print(f"run: [bold]{where}[/bold]")
    if not passed:
        raise GateFailed()


def _train_workers(
    overrides: list[str],
    spec: Path,
    shared: dict[str, Any],
    chief: dict[str, Any],
    workers: int,
    max_restarts: int,
) -> None:
    """`train --workers N`: the spec checked here, then trained by N local processes given the
    `shared` options; the chief also the `chief` ones (gates, --json), the others `--quiet`."""
    from kerascli.run.workers import MULTI_WORKER, kerascli_train, launch_workers, refusal
    from kerascli.spec import SpecError, load_spec
    from kerascli.spec.check_distribute import replica_problems

    problem = refusal(load_spec(spec, overrides, check=False), os.environ)
    if problem is not None:
        raise InvalidArgument(problem)
    loaded = load_spec(spec, [*overrides, MULTI_WORKER])  # as the workers will: errors once
    problems = replica_problems(loaded, workers)  # at least one replica a worker
    if problems:
        raise SpecError([loaded.document.problem(path, text) for path, text, _ in problems])
    _gates(chief["--require"])  # a malformed gate is refused here, once
    words = _option_words(["train", str(spec)], shared)
    command = kerascli_train(_option_words(words, chief), [*words, "--quiet"])
    hold = render.write_stdout if chief["--json"] else None  # one document on stdout
    code = launch_workers(command, workers, max_restarts, hold_stdout=hold)
    if code != 0:
        raise typer.Exit(code)


def _option_words(words: list[str], options: dict[str, Any]) -> list[str]:
    """`words` and then the options given: a flag when True, repeated for a list."""
    out = list(words)
    for flag, value in options.items():
        if value is True:
            out.append(flag)
        elif isinstance(value, list):
            out += [word for item in value for word in (flag, str(item))]
        elif value is not None and value is not False:
            out += [flag, str(value)]
    return out


def _check_run_name(name: str | None) -> None:
    """`--name`, if given, names one directory."""
    from kerascli.spec.models import NAME_PATTERN

    if name is not None and not re.match(NAME_PATTERN, name):
        raise typer.BadParameter(
            f"{name!r} is not a run name (letters, digits, '_', '.', '-'; no '/')",
            param_hint="--name",
        )


def _gates(texts: list[str] | None) -> list[Any]:
    from kerascli.run.gates import parse_gates

    return parse_gates(texts or [])


def _apply_gates(gates: list[Any], metrics: dict[str, float], json_: bool) -> list[Any]:
    """Check the gates; when one failed, show them all (stderr) unless in --json mode."""
    from kerascli.run.gates import check_gates

    results = check_gates(gates, metrics)
    if not json_ and any(not r.passed for r in results):
        render.stderr.print(render.gates_table(results))
    return results


@command
def predict(
    target: TargetArg,
    input_file: InputFileArg,
    output: PredictionsOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the --output file if it exists.")
    ] = False,
    keep: KeepOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size",
            min=1,
            help="Rows per batch. Defaults to as many rows as hold 4 MiB of inputs, between "
            "fit.batch_size and 8192.",
        ),
    ] = None,
    spec: BareSpecOpt = None,
    trust: TrustOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Predict with a trained model, a chunk of rows at a time: prints CSV as it goes, or
    writes the --output file's format."""
    from kerascli.run.inference import predict as run_predict
    from kerascli.run.prediction_files import check_output
    from kerascli.run.progress import use_plain
    from kerascli.run.saved_run import load_run

    if output is not None:  # before loading anything
        check_output(output, force, keep or [])
    run = load_run(target, spec, trust=trust)
    echo = sys.stdout if output is None and not json_ else None  # CSV as it is predicted
    plain = use_plain(sys.stderr, quiet)
    result = run_predict(
        run, input_file, output, batch_size, keep or [], force, echo, sys.stderr, plain=plain
    )
    columns = result.pop("predictions")
    if json_:
        if output is None:
            result["predictions"] = {k: v.tolist() for k, v in columns.items()}
        render.print_json({"ok": True, **result})
    elif output is not None:
        render.stdout.print(render.predictions_written(output, result["rows"], result["columns"]))


@command
def runs(
    runs_dir: RunsDirArg = Path("runs"), compare: CompareOpt = None, json_: JsonOpt = False
) -> None:
    """List runs (name, n, status, date, duration, metrics), or compare two."""
    from kerascli.run.runs import compare_runs, list_runs, resolve_run

    if compare:
        try:
            a, b = (resolve_run(ref, runs_dir) for ref in compare)
        except FileNotFoundError as exc:
            raise typer.BadParameter(str(exc), param_hint="--compare") from None
        diff = compare_runs(a, b)
        if json_:
            render.print_json(diff)
        else:
            for table in render.comparison(diff, a, b):
                render.stdout.print(table)
        return
    records = list_runs(runs_dir)
    if json_:
        render.print_json({"runs_dir": str(runs_dir), "runs": records})
    elif not records:
        render.stdout.print(render.text(f"no runs in {runs_dir}"))
    else:
        render.stdout.print(render.runs_table(records, str(runs_dir)))
        for record in records:  # why a run is `unreadable`: its file and what is wrong with it
            if record["status"] == "unreadable" and "error" in record:
                render.stderr.print(render.text(f"warning: {record['error']}"))
