"""One trial of `kerascli tune`: the spec at the oracle's values, trained as a kerascli run
(`kerascli.run.trainer.train`) into `<search>/trial/<n>/` whose `run.json` records the trial
from the start (so a run killed outright is still known as the trial it was); its value is the
objective from the run's metrics. A run that fails (a NaN loss), or a spec
invalid at these values, fails the trial, and the search goes on."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TextIO

from kerascli.run.rundir import RunFailed
from kerascli.run.trainer import train
from kerascli.run.tune_keras import (
    EPOCHS_KEY,
    Settings,
    TrialFunction,
    chosen,
    failed_trial,
    fatal,
    import_keras_tuner,
)
from kerascli.run.tune_store import TRIAL_RUNS
from kerascli.spec.problems import KeyPath, SpecError
from kerascli.spec.search_spec import SearchSpec

EPOCHS: KeyPath = ("fit", "epochs")


def _say(stream: TextIO | None, line: str) -> None:
    if stream is not None:
        stream.write(line + "\n")
        stream.flush()


def _words(values: dict[str, Any]) -> str:
    """`units=64, learning_rate=0.00312`: each value by the last key of its path."""
    return ", ".join(f"{_last_key(name)}={_short(value)}" for name, value in values.items())


def _last_key(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else repr(value)


def trial_function(
    search: SearchSpec, path: Path, settings: Settings, stream: TextIO | None
) -> TrialFunction:
    """A trial: the spec at the oracle's values, trained as a run that records the trial."""
    kt = import_keras_tuner()

    def trial(trial_id: str, values: dict[str, Any]) -> float:
        picked = chosen(search.spaces, values)
        fixed = {EPOCHS: values[EPOCHS_KEY]} if EPOCHS_KEY in values else {}
        hyperparameters = {**picked, **({"fit.epochs": values[EPOCHS_KEY]} if fixed else {})}
        record = {
            "search": str(path),
            "id": trial_id,
            "hyperparameters": hyperparameters,
            "objective": settings.objective,
        }
        _say(stream, f"trial {trial_id}: {_words(hyperparameters)}")
        try:
            result = _train(search.resolve(picked, fixed), path, record)
        except RunFailed as exc:
            _say(stream, f"trial {trial_id} failed: {exc}")
            raise failed_trial(kt, str(exc)) from exc
        except SpecError as exc:  # invalid at these values: no run was made
            _say(stream, f"trial {trial_id} failed: {exc.problems[0]}")
            raise failed_trial(kt, str(exc.problems[0])) from exc
        metrics = result.flat_metrics()
        if settings.objective not in metrics:
            names = ", ".join(metrics)
            raise fatal(
                kt,
                f"trial {trial_id}'s run {result.path} did not record "
                f"'{settings.objective}' (it recorded: {names}): give another --objective",
            )
        value = metrics[settings.objective]
        _say(stream, f"trial {trial_id}: {settings.objective} {value:.4f} ({result.path})")
        return value

    return trial


def _train(spec: Any, path: Path, trial: dict[str, Any]) -> Any:
    """Train one trial's spec into `<search>/trial/<n>/`, its `run.json` recording the `trial`
    from the start, in a fresh Keras session, its progress not shown (each run keeps it in
    `train.log`)."""
    from kerascli.model.keras_env import import_keras

    import_keras().utils.clear_session()
    with open(os.devnull, "w", encoding="utf-8") as null:
        return train(spec, path, TRIAL_RUNS, stream=null, plain=True, record={"trial": trial})
