"""`kerascli tune`: search a spec's search spaces, each trial a run (`kerascli.run.tune`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from kerascli.cli import render
from kerascli.cli.command import command
from kerascli.cli.commands_run import check_run_name
from kerascli.cli.errors import EXIT_FAILURE
from kerascli.cli.options import EpochsOpt, JsonOpt, RunsDirOpt, SetOpt, SpecArg, VerboseOpt

if TYPE_CHECKING:
    from kerascli.run.tune import TuneResult

MaxTrialsOpt = Annotated[
    int,
    typer.Option(
        "--max-trials", min=1, help="Trials at most, counting those of a search continued."
    ),
]
ObjectiveOpt = Annotated[
    str,
    typer.Option(
        "--objective",
        help="The metric to optimise, as runs record it: 'val_accuracy', 'val_loss', 'loss'...",
    ),
]
TunerOpt = Annotated[
    str, typer.Option("--tuner", help="KerasTuner's oracle: random, hyperband or bayesian.")
]
DirectionOpt = Annotated[
    str | None,
    typer.Option(
        "--direction",
        help="min or max. Defaults to the objective's: lower for a loss or an error, higher "
        "for anything else.",
        show_default=False,
    ),
]
SeedOpt = Annotated[
    int | None,
    typer.Option(
        "--seed", help="The oracle's seed. Defaults to the spec's seed.", show_default=False
    ),
]
SearchNameOpt = Annotated[
    str | None,
    typer.Option(
        "--name",
        help="The search's name: it lives in RUNS_DIR/NAME-tune/. Defaults to the spec's name.",
        show_default=False,
    ),
]
OverwriteOpt = Annotated[
    bool,
    typer.Option(
        "--overwrite",
        help="Start the search again where one with another spec or settings is.",
    ),
]


@command
def tune(
    spec: SpecArg,
    max_trials: MaxTrialsOpt = 10,
    objective: ObjectiveOpt = "val_accuracy",
    tuner: TunerOpt = "random",
    direction: DirectionOpt = None,
    set_: SetOpt = None,
    epochs: EpochsOpt = None,
    runs_dir: RunsDirOpt = Path("runs"),
    name: SearchNameOpt = None,
    seed: SeedOpt = None,
    overwrite: OverwriteOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Search the spec's search spaces with KerasTuner, each trial a run; resumable."""
    from kerascli.run.tune import TuneStopped
    from kerascli.run.tune import tune as run_tune
    from kerascli.run.tune_keras import TuneError

    check_run_name(name)
    overrides = [*(set_ or []), *([f"fit.epochs={epochs}"] if epochs else [])]
    try:
        result = run_tune(
            spec,
            runs_dir,
            name,
            max_trials=max_trials,
            objective=objective,
            tuner=tuner,
            direction=direction,
            overrides=overrides,
            seed=seed,
            overwrite=overwrite,
            stream=sys.stderr if json_ else sys.stdout,
        )
    except TuneStopped as exc:  # what the search left, then why it stopped (exit code 1)
        _report(exc.result, json_, str(exc))
        raise
    if result.best is None:
        message = "no trial completed, so there is no best spec"
        _report(result, json_, message)
        raise TuneError(message)
    _report(result, json_)


def _report(result: TuneResult, json_: bool, error: str | None = None) -> None:
    """The trials table (every trial, with a run or without) and the best trial, or the JSON
    document (which says the `error` too, and then ends the command: one document on
    stdout)."""
    best = result.best
    if json_:
        errors = [] if error is None else [{"message": error}]
        render.print_json({"ok": error is None, "errors": errors, **result.to_dict()})
        if error is not None:
            raise typer.Exit(EXIT_FAILURE)
        return
    if result.trials:
        render.stdout.print(render.runs_table(result.table(), f"trials of {result.path}"))
    if best is not None:
        words = ", ".join(f"{k}={v!r}" for k, v in best.hyperparameters.items())
        render.stdout.print(
            render.text(f"best: trial {best.id}, {result.objective} {best.value:.4f} ({words})")
        )
        render.stdout.print(render.text(f"best spec: {result.best_spec} (kerascli train it)"))
