"""`kerascli tune`: search a spec's search spaces with KerasTuner, each trial a kerascli run.

The oracle (random, Hyperband or Bayesian optimisation; `tune_keras`) asks for values; a trial
resolves the spec at them (`SearchSpec.resolve`: a plain spec, checked as any) and trains it
with `kerascli.run.trainer.train` into `<search>/trial/<n>/` (`tune_trial`), and returns the
objective's value from the run's metrics (`tune_objective`). Before any trial, the objective
is checked at every option of each space (`tune_objective`) and the data read at each
(`tune_data`). A trial that fails (a NaN loss, a model that does not build at its values) is
recorded failed, and the search goes on. The search's directory, its lock, its resuming and
its outputs are `tune_store`'s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from kerascli.run.runs import UnreadableRun, list_runs, read_record
from kerascli.run.tune_data import check_data
from kerascli.run.tune_keras import (
    EPOCHS_KEY,
    TUNERS,
    Settings,
    TuneError,
    chosen,
    last_line,
    run_search,
)
from kerascli.run.tune_objective import check_search_objective, objective_direction
from kerascli.run.tune_store import (
    TRIAL_RUNS,
    TrialRecord,
    best_trial,
    columns_of_trials,
    hold_search,
    open_search,
    write_best,
    write_trials_csv,
)
from kerascli.run.tune_trial import EPOCHS, trial_function
from kerascli.spec.problems import Problem, SpecError
from kerascli.spec.search_spec import SearchSpec, load_search_spec


class TuneStopped(TuneError):
    """The search stopped early (exit code 1): `result` is what it left (`trials.csv` and
    `best.yaml` written)."""

    def __init__(self, message: str, result: TuneResult) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class TuneResult:
    """What a search left.

    Args:
        path: The search's directory, `<runs-dir>/<name>-tune/`.
        objective: The metric searched on.
        direction: `min` or `max`.
        trials: Every trial so far (an earlier, resumed search's included), in order.
        best: The best completed trial, if any.
        best_spec: `best.yaml`, the best trial's plain spec, if any.
        resumed: Whether the search continued one found at `path`.
    """

    path: Path
    objective: str
    direction: str
    trials: list[TrialRecord]
    best: TrialRecord | None
    best_spec: Path | None
    resumed: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "search_dir": str(self.path),
            "objective": self.objective,
            "direction": self.direction,
            "resumed": self.resumed,
            "trials": [t.to_dict() for t in self.trials],
            "best": None if self.best is None else self.best.to_dict(),
            "best_spec": None if self.best_spec is None else str(self.best_spec),
        }

    def table(self) -> list[dict[str, Any]]:
        """The trials as the records of `kerascli runs`'s trials table (`columns`, `n`,
        `status`, `duration_s`), one a trial, with or without a run (a trial whose spec is
        invalid at its values made none); the status is the trial's."""
        rows = [(t.id, t.hyperparameters, t.value) for t in self.trials]
        columns = columns_of_trials(rows, self.objective)
        trial = {"objective": self.objective}
        return [
            {**_run_fields(t.run_dir), "status": t.status, "columns": c, "trial": trial}
            for t, c in zip(self.trials, columns, strict=True)
        ]


def _run_fields(run_dir: Path | None) -> dict[str, Any]:
    """A trial's run's number and duration, where it has a readable run."""
    try:
        record = {} if run_dir is None else read_record(run_dir / "run.json")
    except UnreadableRun:
        record = {}
    return {k: record[k] for k in ("n", "duration_s") if k in record}


def tune(
    spec: str | Path,
    runs_dir: str | Path = "runs",
    name: str | None = None,
    max_trials: int = 10,
    objective: str = "val_accuracy",
    tuner: str = "random",
    direction: str | None = None,
    overrides: Sequence[str] = (),
    seed: int | None = None,
    overwrite: bool = False,
    stream: TextIO | None = None,
) -> TuneResult:
    """Search the search spaces of a spec, each trial a run; resumable.

    Args:
        spec: The YAML spec, with search spaces (`{choice: [...]}`, `{range: [low, high]}`).
        runs_dir: Where the search's directory goes. Defaults to `runs`.
        name: The search's name: its directory is `<runs_dir>/<name>-tune/`. Defaults to the
            spec's `name`.
        max_trials: Trials at most, counting those of the search being continued. Defaults
            to 10.
        objective: The metric to optimise, as runs record it. Defaults to `val_accuracy`.
        tuner: `random`, `hyperband` or `bayesian`. Defaults to `random`.
        direction: `min` or `max`. Defaults to the objective's (see `tune_objective`).
        overrides: `key.path=value` strings (one over a space fixes it). Defaults to none.
        seed: The oracle's seed. Defaults to the spec's `seed`.
        overwrite: Start again where a search with another spec or settings is. Defaults to
            `False` (refused).
        stream: Where a line per trial goes. Defaults to none.

    Returns:
        A `TuneResult`: every trial, the best, and `best.yaml`.

    Raises:
        SpecError: the spec, or the objective or data at an option, is invalid, the spec has
            no spaces or changed since the search began, or it is running (exit code 2).
        TuneError: KerasTuner is missing, or (`TuneStopped`, whose `result` is what the search
            left) it stopped early on failures (exit code 1).
    """
    search, settings = _search(spec, overrides, tuner, objective, direction, max_trials, seed)
    path = Path(runs_dir) / f"{name or search.default.name}-tune"
    with hold_search(path):  # (a second `tune` of this search is refused while it runs)
        resumed = open_search(path, _search_record(search, spec, settings), overwrite)
        trial = trial_function(search, path, settings, stream)
        trials, stopped = run_search(settings, search.spaces, path, trial)
        result = _finish(search, path, settings, trials, resumed)
    if stopped is not None:
        raise TuneStopped(stopped, result)
    return result


def _search(
    spec: str | Path,
    overrides: Sequence[str],
    tuner: str,
    objective: str,
    direction: str | None,
    max_trials: int,
    seed: int | None,
) -> tuple[SearchSpec, Settings]:
    """The spec and its spaces, and how to search them, checked before any trial."""
    if tuner not in TUNERS:
        message = f"expected one of {', '.join(TUNERS)}. Received: {tuner!r}"
        raise SpecError([Problem(message, "", "--tuner")])
    search = load_search_spec(spec, overrides)
    base = search.default
    if not search.spaces:
        message = (
            "no search spaces: nothing to tune (write {choice: [...]} or {range: [low, high]} "
            "where a value goes)"
        )
        raise SpecError([Problem(message, "", str(spec))])
    check_search_objective(search, objective)
    check_data(search)
    best_is = objective_direction(base, objective, direction)
    seed = base.seed if seed is None else seed
    settings = Settings(tuner, objective, best_is, max_trials, seed, base.fit.epochs)
    _check_hyperband(search, settings)
    return search, settings


def _check_hyperband(search: SearchSpec, settings: Settings) -> None:
    if settings.tuner != "hyperband":
        return
    for space in search.spaces:
        if space.path == EPOCHS:
            raise SpecError(
                [
                    search.document.problem(
                        EPOCHS,
                        "Hyperband chooses each trial's epochs itself (up to fit.epochs): "
                        "fix fit.epochs",
                    )
                ]
            )


def _search_record(search: SearchSpec, spec: str | Path, settings: Settings) -> dict[str, Any]:
    return {
        "spec_file": str(Path(spec).resolve()),
        "digest": search.digest(),
        "tuner": settings.tuner,
        "objective": settings.objective,
        "direction": settings.direction,
        "seed": settings.seed,
        "max_trials": settings.max_trials,
        "spaces": {s.name: s.describe() for s in search.spaces},
    }


def _finish(
    search: SearchSpec, path: Path, settings: Settings, trials: list[Any], resumed: bool
) -> TuneResult:
    """The trials as records (with their runs), `trials.csv` and `best.yaml`."""
    runs = {}
    for record in list_runs(path / TRIAL_RUNS):
        trial = record.get("trial")
        if isinstance(trial, dict):
            runs[str(trial.get("id"))] = Path(record["path"])  # (a rerun's later run wins)
    records = [_record(t, search, runs.get(t.trial_id)) for t in trials]
    write_trials_csv(path, records, settings.objective)
    best = best_trial(records, settings.direction)
    best_spec = None
    if best is not None:
        values = {k: v for k, v in best.hyperparameters.items() if k != "fit.epochs"}
        fixed = (
            {EPOCHS: best.hyperparameters["fit.epochs"]}
            if "fit.epochs" in best.hyperparameters
            else {}
        )
        best_spec = write_best(path, search.resolve(values, fixed), best, settings.objective)
    return TuneResult(
        path, settings.objective, settings.direction, records, best, best_spec, resumed
    )


_STATUS = {"COMPLETED": "completed", "FAILED": "failed", "INVALID": "failed"}


def _record(trial: Any, search: SearchSpec, run_dir: Path | None) -> TrialRecord:
    """A KerasTuner trial as a `TrialRecord`."""
    values = dict(trial.hyperparameters.values)
    hyperparameters = chosen(search.spaces, values)
    if EPOCHS_KEY in values:
        hyperparameters["fit.epochs"] = values[EPOCHS_KEY]
    status = _STATUS.get(str(trial.status), "interrupted")
    score = float(trial.score) if status == "completed" and trial.score is not None else None
    if score is not None and not math.isfinite(score):
        status = "failed"
    error = None
    if status == "failed":
        error = last_line(trial.message) if trial.message else "the objective is not a number"
        score = None
    return TrialRecord(trial.trial_id, status, hyperparameters, score, run_dir, error)
