"""The commands that train and use models: `train`, `predict` and `runs`."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from kerascli.cli import render
from kerascli.cli.command import command
from kerascli.cli.errors import GateFailed
from kerascli.cli.options import (
    BareSpecOpt,
    CompareOpt,
    DebugOpt,
    ForceResumeOpt,
    InputFileArg,
    JsonOpt,
    KeepOpt,
    MaxRestartsOpt,
    MlflowOpt,
    NameOpt,
    PredictionsOpt,
    QuietOpt,
    RequireOpt,
    ResumeOpt,
    RunsDirArg,
    RunsDirOpt,
    SetOpt,
    TargetArg,
    TrainEpochsOpt,
    TrainSpecArg,
    TrustOpt,
    VerboseOpt,
    WeightsOpt,
    WorkersOpt,
)
from kerascli.cli.train_workers import train_workers


@command
def train(
    spec: TrainSpecArg = None,
    set_: SetOpt = None,
    epochs: TrainEpochsOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    name: NameOpt = None,
    weights: WeightsOpt = None,
    resume: ResumeOpt = None,
    force: ForceResumeOpt = False,
    mlflow: MlflowOpt = None,
    trust: TrustOpt = False,
    require: RequireOpt = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
    workers: WorkersOpt = None,
    max_restarts: MaxRestartsOpt = 0,
    debug: DebugOpt = False,
) -> None:
    """Train a spec: compile, fit, evaluate and save into runs/<name>/<n>/; --weights starts from
    another model's weights, --resume continues a run."""
    from kerascli.run.resume import epoch_overrides
    from kerascli.run.rundir import RunDir

    check_run_name(name)
    _check_start(spec, weights, resume, name, (workers, max_restarts), runs_dir, force)
    overrides = [*(set_ or []), *epoch_overrides(epochs)]
    overrides += [f"tracking.mlflow.uri={json.dumps(mlflow)}"] if mlflow else []
    if workers is not None and spec is not None:
        shared = {"--set": set_, "--epochs": epochs, "--runs-dir": runs_dir, "--name": name}
        shared["--mlflow"] = mlflow
        shared.update({"--verbose": verbose, "--debug": debug})
        chief = {"--require": require, "--quiet": quiet, "--json": json_}
        train_workers(overrides, spec, shared, chief, workers, max_restarts)
        return
    loaded = _training_spec(spec, overrides, resume, runs_dir, trust)
    gates = _gates(require)
    from kerascli.run.progress import use_plain
    from kerascli.run.trainer import train as run_training

    stream = sys.stderr if json_ else sys.stdout
    plain = use_plain(stream, quiet)
    result = run_training(
        loaded, runs_dir, name, stream, plain, gates, weights=weights, resume=resume, force=force
    )
    gate_results = _apply_gates(gates, result.flat_metrics(), json_)
    if gate_results and result.chief:  # another worker's run is gone as training ends
        RunDir.open(result.path).update(gates=[r.to_dict() for r in gate_results])
    _report_training(result, gate_results, json_)


def _check_start(
    spec: Path | None,
    weights: str | None,
    resume: str | None,
    name: Any,
    workers_restarts: tuple[Any, int],
    runs: Path,
    force: bool,
) -> None:
    """A SPEC or `--resume RUN` (which trains the run's own spec.yaml); `--weights` and `--name`
    not with `--resume` (`resume.check_resume_args`); neither with `--workers`;
    `--max-restarts` only with `--workers`, `--force` with `--resume`; a `--weights` source
    that exists."""
    from kerascli.run.resume import check_resume_args

    check_resume_args(weights, name, resume)
    workers, max_restarts = workers_restarts
    refused = [
        (resume is None and spec is None, "SPEC", "give the SPEC to train (or --resume RUN)"),
        (resume and spec, "--resume", "a resumed run trains the run's own spec.yaml: give SPEC "
         "or --resume, not both (--set changes fit or callbacks)"),
        (workers is not None and (weights or resume), "--workers", "not with --weights or "
         "--resume (a multi-worker run resumes from a BackupAndRestore backup)"),
        (max_restarts and workers is None, "--max-restarts", "needs --workers"),
        (force and resume is None, "--force", "only with --resume"),
    ]  # fmt: skip
    for clash, hint, message in refused:
        if clash:
            raise typer.BadParameter(message, param_hint=hint)
    if weights is not None:  # before the spec's data is read
        from kerascli.run.warm_start import source_file

        source_file(weights, runs)


def _training_spec(
    spec: Path | None, overrides: list[str], resume: str | None, runs_dir: Path, trust: bool
) -> Any:
    """The spec `train` trains: SPEC, or with --resume the run's own; `overrides` over it
    (`--set`, and `--epochs`: with --resume the total, the epochs done included)."""
    if resume is not None:
        from kerascli.run.resume import resume_spec

        return resume_spec(resume, runs_dir, overrides, trust=trust)
    from kerascli.spec import load_spec

    return load_spec(spec or Path(), overrides)


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


def check_run_name(name: str | None) -> None:
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
