"""KerasTuner's side of `kerascli tune`: the spec's search spaces as KerasTuner
hyperparameters, its oracles (random, Hyperband, Bayesian optimisation), and a tuner whose
trial is a function of the oracle's values (a kerascli run; `kerascli.run.tune`).

KerasTuner (`keras_tuner`, the `tune` extra) is imported here only, when a search starts. Its
state lives in `<search>/oracle/` (the oracle's `oracle.json`, one `trial_<id>/trial.json` a
trial), which it reloads to resume a search: completed trials are kept, a trial cut short is
run again. Its own printing is kept off stdout.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from kerascli.spec.problems import KerasCliError
from kerascli.spec.search_space import Space

INSTALL = "kerascli tune needs KerasTuner: pip install 'kerascli[tune]'"
BAYESIAN_INSTALL = (
    "--tuner bayesian needs scikit-learn and scipy (KerasTuner's Gaussian process): "
    "pip install 'kerascli[tune]'"
)
TUNERS = ("random", "hyperband", "bayesian")
ORACLE_DIR = "oracle"
"""The folder of a search's directory that holds KerasTuner's state."""
EPOCHS_KEY = "tuner/epochs"
"""The value Hyperband gives each trial: its number of epochs (`fit.epochs`)."""
MAX_FAILED_IN_A_ROW = 3
"""A search stops after this many trials in a row failed (KerasTuner's default)."""


class TuneError(KerasCliError):
    """The search cannot go on (exit code 1): KerasTuner missing, too many trials in a row
    failed, or a trial's run did not record the objective."""


def import_keras_tuner() -> ModuleType:
    """`keras_tuner`, imported after Keras is (TensorFlow's logs silenced first)."""
    from kerascli.model.keras_env import import_keras

    import_keras()
    try:
        import keras_tuner
    except ImportError:
        raise TuneError(INSTALL) from None
    return keras_tuner


def _one_type(values: tuple[Any, ...]) -> bool:
    """Whether KerasTuner takes the choices as they are (all `int`, `float`, `str` or `bool`)."""
    kinds = {type(v) for v in values}
    return len(kinds) == 1 and kinds <= {int, float, str, bool}


def declare(hp: Any, spaces: tuple[Space, ...]) -> None:
    """Declare each search space in KerasTuner's `HyperParameters`, named by its key path;
    a choice of values of several kinds (`[relu, null]`) by the index of each value."""
    for s in spaces:
        if s.kind == "choice":
            if _one_type(s.values):
                hp.Choice(s.name, list(s.values))
            else:
                hp.Choice(s.name, list(range(len(s.values))), ordered=False)
            continue
        low, high = s.values
        sampling = "log" if s.log else "linear"
        if s.integer:
            hp.Int(s.name, low, high, step=s.step, sampling=sampling)
        else:
            hp.Float(s.name, float(low), float(high), step=s.step, sampling=sampling)


def chosen(spaces: tuple[Space, ...], values: dict[str, Any]) -> dict[str, Any]:
    """The value of each space at the oracle's `values` (an index back to its choice)."""
    out = {}
    for s in spaces:
        value = values.get(s.name, s.default)
        if s.kind == "choice" and not _one_type(s.values):
            value = s.values[int(value)]
        out[s.name] = value
    return out


@dataclass(frozen=True)
class Settings:
    """How to search: the oracle and its objective.

    Args:
        tuner: `random`, `hyperband` or `bayesian`.
        objective: The metric the trials return.
        direction: `min` or `max`.
        max_trials: Trials at most (counting those of an earlier, resumed search).
        seed: The oracle's seed (`None`: KerasTuner picks one).
        max_epochs: Hyperband's most epochs for a trial (the spec's `fit.epochs`).
    """

    tuner: str
    objective: str
    direction: str
    max_trials: int
    seed: int | None
    max_epochs: int


def make_oracle(kt: ModuleType, settings: Settings, spaces: tuple[Space, ...]) -> Any:
    """The KerasTuner oracle of `settings.tuner`, its space declared."""
    hp = kt.HyperParameters()
    declare(hp, spaces)
    common = {
        "objective": kt.Objective(settings.objective, settings.direction),
        "hyperparameters": hp,
        "seed": settings.seed,
        "max_consecutive_failed_trials": MAX_FAILED_IN_A_ROW,
    }
    oracles = kt.oracles
    if settings.tuner == "hyperband":
        oracle = oracles.HyperbandOracle(max_epochs=settings.max_epochs, **common)
        oracle.max_trials = settings.max_trials  # (Hyperband has no such argument)
        return oracle
    if settings.tuner == "bayesian":
        try:
            return oracles.BayesianOptimizationOracle(max_trials=settings.max_trials, **common)
        except ImportError:
            raise TuneError(BAYESIAN_INSTALL) from None
    return oracles.RandomSearchOracle(max_trials=settings.max_trials, **common)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """KerasTuner prints its progress on stdout, and each failed trial's traceback on stderr:
    kept out of the command's output (a trial's line says why it failed)."""
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


TrialFunction = Callable[[str, dict[str, Any]], float]
"""A trial: given its id and the oracle's values, the objective's value (raises to fail)."""


def run_search(
    settings: Settings, spaces: tuple[Space, ...], directory: Path, trial: TrialFunction
) -> tuple[list[Any], str | None]:
    """Run (or resume) the search in `directory` until the oracle stops. Returns its trials,
    in the order they started (KerasTuner `Trial`s: `trial_id`, `status`, `score`,
    `hyperparameters.values`, `message`), and why the search stopped early, if it did
    (`MAX_FAILED_IN_A_ROW` trials in a row failed; a run did not record the objective).

    Raises:
        TuneError: KerasTuner is missing.
    """
    kt = import_keras_tuner()
    objective = settings.objective

    class SpecTuner(kt.engine.base_tuner.BaseTuner):  # type: ignore[misc,name-defined]
        def run_trial(self, t: Any, *args: Any, **kwargs: Any) -> dict[str, float]:
            return {objective: trial(t.trial_id, dict(t.hyperparameters.values))}

    stopped = None
    with _quiet():
        oracle = make_oracle(kt, settings, spaces)
        oracle.verbose = 0
        tuner = SpecTuner(oracle, directory=str(directory), project_name=ORACLE_DIR)
        try:
            tuner.search()
        except RuntimeError as exc:
            if "consecutive failures" not in str(exc):
                raise
            stopped = (
                f"{MAX_FAILED_IN_A_ROW} trials in a row failed, so the search stopped (the "
                f"last: {last_line(exc)})"
            )
        except kt.errors.FatalError as exc:
            stopped = str(exc)
    return [tuner.oracle.trials[i] for i in tuner.oracle.start_order], stopped


def last_line(error: Any) -> str:
    """What a failed trial's KerasTuner message (a traceback) says, in one line."""
    lines = str(error or "").strip().splitlines()
    return lines[-1].split("Error: ", 1)[-1] if lines else "no message"


def failed_trial(kt: ModuleType, message: str) -> Exception:
    """What a trial raises to be recorded failed, the search going on."""
    return kt.errors.FailedTrialError(message)  # type: ignore[no-any-return]


def fatal(kt: ModuleType, message: str) -> Exception:
    """What a trial raises to stop the search (a run that does not record the objective)."""
    return kt.errors.FatalError(message)  # type: ignore[no-any-return]
