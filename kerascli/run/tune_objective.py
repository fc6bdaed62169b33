"""What `kerascli tune` optimises: a metric each trial's run records (`val_accuracy`), and
which way is better.

The names are the ones `run.json` records (`loss`, `val_loss`, `test_loss`...), checked with
the rules of `kerascli.spec.log_names` where the spec tells them. Which way is better is
`log_names.better`'s (the rule `monitor:` checks use): certain for a loss, an accuracy, AUC,
precision or recall, a guess for any other name; `--direction` says it where the guess is
wrong, and may not contradict a certain direction.
"""

from __future__ import annotations

from kerascli.spec.log_names import (
    SPLIT_PREFIXES,
    better,
    has_validation,
    train_log_names,
    unlogged,
)
from kerascli.spec.models import Spec
from kerascli.spec.problems import Problem, SpecError
from kerascli.spec.search_space import Space
from kerascli.spec.search_spec import SearchSpec

DIRECTIONS = ("min", "max")

WHERE = "--objective"


def _refuse(message: str, where: str = WHERE) -> SpecError:
    return SpecError([Problem(message, "", where)])


def check_objective(spec: Spec, objective: str) -> None:
    """Refuse an objective the trials' runs will not record (where the spec tells the names),
    and one on the test split (choosing by it would leave no unbiased test).

    Raises:
        SpecError: naming `--objective`, with the names the runs record.
    """
    test = SPLIT_PREFIXES["test"]
    if objective.startswith(test):
        instead = SPLIT_PREFIXES["validation"] + objective.removeprefix(test)
        raise _refuse(
            f"'{objective}' is measured on the test split: choosing by it leaves no unbiased "
            f"test of the choice; tune on validation data ('{instead}')"
        )
    names = train_log_names(spec) if spec.data is not None else None
    if names is None:
        return  # (plugins, subclass models: the first trial's run tells)
    validation = has_validation(spec)
    logged = [*names, *(f"{SPLIT_PREFIXES['validation']}{n}" for n in names if validation)]
    what = f"'{objective}' names a metric"
    message = unlogged(what, objective, logged, validation, "no trial could be scored", "tune on")
    if message is not None:
        raise _refuse(message)


def check_search_objective(search: SearchSpec, objective: str) -> None:
    """`check_objective` at every option of each space, as `load_search_spec` validates them
    (each in turn, the other spaces at their defaults), before any trial: an option at which
    no run would record the objective (`data.split.validation: {choice: [0.2, 0.0]}` with
    `val_accuracy`) is refused at the option's line. Where the spec at its defaults fails, the
    spaces some other option of which passes are to blame (at their first option); where no
    option passes, the objective is (at `--objective`).

    Raises:
        SpecError: every option refused, or the objective.
    """
    try:
        check_objective(search.default, objective)
        failed = None
    except SpecError as exc:
        failed = exc
    found = [(space, value, _refusal(spec, objective)) for space, value, spec in search.variants]
    if failed is None:
        problems = [_at(search, s, v, why) for s, v, why in found if why is not None]
    else:
        passing = list(dict.fromkeys(s for s, _, why in found if why is None))
        if not passing:
            raise failed
        why = failed.problems[0].message
        problems = [_at(search, s, s.default, why) for s in passing]
    if problems:
        raise SpecError(problems)


def _refusal(spec: Spec, objective: str) -> str | None:
    try:
        check_objective(spec, objective)
    except SpecError as exc:
        return exc.problems[0].message
    return None


def _at(search: SearchSpec, space: Space, value: object, why: str) -> Problem:
    """`why` the objective is refused, located at `value`, an option of `space`."""
    where = next(w for v, w in space.alternatives() if type(v) is type(value) and v == value)
    mark = search.document.mark(where)
    message = f"{WHERE}: {why} (with {space.name} = {value!r}, an option of its search space)"
    return Problem(message, space.name, mark.file, mark.line, mark.column)


def objective_direction(spec: Spec, objective: str, given: str | None = None) -> str:
    """`min` or `max`: `given` (`--direction`), else the objective's (`log_names.better`).

    Raises:
        SpecError: `given` contradicts a certain direction, or is not `min`/`max`.
    """
    want, what = better(spec, objective)
    if given is None and want not in DIRECTIONS:  # a plugin's metric: which way is unknown
        raise _refuse(
            f"which way '{objective}' is better is not known: give --direction min or max",
            "--direction",
        )
    if given is None:
        return want
    if given not in DIRECTIONS:
        raise _refuse(f"expected min or max. Received: {given!r}", "--direction")
    if what is not None and want != given:
        raise _refuse(
            f"'{objective}' is {what}: {'lower' if want == 'min' else 'higher'} is better; "
            f"--direction {given} would choose the worst trial",
            "--direction",
        )
    return given
