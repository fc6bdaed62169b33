"""Resume (`kerascli train --resume RUN`): continue a finished or interrupted run for more epochs,
in a new run directory beside it (`runs/<name>/<n+1>`), from its weights and optimizer state,
its history continued.

A completed run resumes from its `model.keras` (weights and optimizer state as saved: after
EarlyStopping's `restore_best_weights`, the best epoch's weights with the last epoch's optimizer
state) after its last epoch; an interrupted, terminated, failed or dead run from the training
state it saved after its last whole epoch (`kerascli.run.train_state`). The continuation trains
the run's own `spec.yaml`: `fit`, `callbacks`, `tracking`, the optimizer's `learning_rate` and
where the data files are may change, nothing the weights depend on (the input columns
included); it trains from the epochs done (`fit.initial_epoch`) up to `fit.epochs`, the total.
`run.json` records `resumed_from` (the run, the first epoch trained here, the state file), its
`spec.yaml` is the spec as trained from scratch (`fit.initial_epoch` as in the run's), and
`history.csv` starts with the run's rows.

The epochs done are the state's (`state.npz`'s count, which a completed run keeps, or
`run.json`'s `epochs_done`), and `history.csv` must hold every one of them: a run whose files
disagree is refused, naming them.

Long because where a run resumes (its status, its epochs done by each file) and what its spec
may change (sections, input columns, learning rate) are the one check `--resume` makes before
anything is built.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerascli.run.rundir import HOST, RunDir
from kerascli.run.runs import list_runs, read_record, resolve_run
from kerascli.run.train_state import STATE, no_state_reason, saved_epoch, state_epoch
from kerascli.spec.dump import resolved_spec
from kerascli.spec.facts import DATA_FILE_KEYS, input_columns
from kerascli.spec.models import Spec
from kerascli.spec.problems import Problem, SpecError, cause_line

FIXED = ("model", "compile", "data", "stages", "seed", "distribute")
"""The spec sections a resumed run keeps (but the optimizer's `learning_rate` and the data
files' location)."""


class ResumeError(SpecError):
    """A run that cannot be resumed, or a resume that cannot be done (exit code 2), located at
    the option (`where`) or the file that says why."""

    def __init__(self, message: str, where: str | Path = "--resume", key: str = "") -> None:
        super().__init__([Problem(message, key, str(where))])


def epoch_overrides(epochs: int | None) -> list[str]:
    """`--epochs E` as an override (`fit.epochs=E`; with `--resume`, the total)."""
    return [f"fit.epochs={epochs}"] if epochs else []


def check_resume_args(
    weights: str | Path | None, name: str | None, resume: str | Path | None
) -> None:
    """`resume` goes with neither `weights` nor `name` (a `ResumeError` at the option)."""
    if resume is None:
        return
    if weights is not None:
        raise ResumeError(
            "--weights starts a new run from other weights, --resume continues a run from its "
            "own: give one",
            "--weights",
        )
    if name is not None:
        raise ResumeError("a resumed run goes beside the run it continues", "--name")


@dataclass
class ResumePoint:
    """Where a resumed run begins: the run it continues, its epochs done, the file holding its
    state (`model.keras` or `state.npz`) and its `history.csv` rows up to there."""

    run: Path
    epoch: int
    state: Path
    rows: list[dict[str, Any]] = field(default_factory=list)
    learning_rate: float | None = None
    """A new learning rate (the spec's), set over the restored one."""
    initial_epoch: int = 0
    """The spec's own `fit.initial_epoch` (the resumed run trains from `epoch`)."""

    def as_written(self, spec: Spec) -> Spec:
        """The spec a resumed run saves (`spec.yaml`): as trained from scratch, its
        `fit.initial_epoch` the spec's own."""
        fit = spec.fit.model_copy(update={"initial_epoch": self.initial_epoch})
        return spec.model_copy(update={"fit": fit})

    def record(self) -> dict[str, Any]:
        """`run.json`'s `resumed_from`: the run, the first epoch trained here, the state file."""
        return {"run": str(self.run.resolve()), "epoch": self.epoch + 1, "state": self.state.name}

    def runs_dir(self, fallback: str | Path) -> tuple[Path, str]:
        """Where the continuation goes: beside the run (`runs/<name>/<n+1>`)."""
        if self.run.name.isdigit():
            return self.run.parent.parent, self.run.parent.name
        return Path(fallback), str(read_record(self.run / "run.json").get("name", self.run.name))


def record_resume(point: ResumePoint | None, run: RunDir) -> None:
    """Say where a resumed run begins (stderr, `train.log`), and record it (`resumed_from`)."""
    if point is None:
        return
    line = f"resuming run {point.run} at epoch {point.epoch + 1} (from its {point.state.name})"
    print(line, file=sys.stderr)
    run.note(line)
    run.update(resumed_from=point.record())


def find_run(ref: str | Path, runs_dir: str | Path) -> Path:
    """The run `ref` names: a run directory, or `NAME/N` (`NAME`: its latest) under `runs_dir`."""
    try:
        return resolve_run(str(ref), runs_dir)
    except FileNotFoundError as exc:
        raise ResumeError(str(exc)) from None


def resume_spec(
    ref: str | Path,
    runs_dir: str | Path = "runs",
    overrides: list[str] | tuple[str, ...] = (),
    epochs: int | None = None,
    trust: bool = False,
) -> Spec:
    """The spec a resumed run trains: the run's `spec.yaml` with `overrides` (`--set`) and
    `epochs` (`fit.epochs`: the total, the epochs done included); its plugin code is imported
    only with `trust` for a run made elsewhere (as `load_run`)."""
    from kerascli.run.portable import check_trust
    from kerascli.spec import load_spec

    path = find_run(ref, runs_dir)
    spec_file = path / "spec.yaml"
    if not spec_file.is_file():
        raise ResumeError(f"run {path} has no spec.yaml to resume with")
    check_trust(path, read_record(path / "run.json"), load_spec(spec_file, training=False), trust)
    return load_spec(spec_file, [*overrides, *epoch_overrides(epochs)])


def resumed(
    spec: Spec | None,
    runs_dir: str | Path,
    name: str | None,
    weights: str | Path | None,
    resume: str | Path | None,
    force: bool = False,
) -> tuple[Spec, ResumePoint | None, str | Path, str | None]:
    """What `train` trains and where: `spec`, or with `resume` the run's spec (`prepare_resume`)
    and the runs directory and name beside that run.

    Raises:
        ResumeError: `resume` with `weights` or `name`, or a run that cannot be resumed.
    """
    check_resume_args(weights, name, resume)
    if resume is None:
        if spec is None:
            raise TypeError("train() needs a spec, or resume=RUN")
        return spec, None, runs_dir, name
    point, spec = prepare_resume(resume, runs_dir, spec, force)
    where, run_name = point.runs_dir(runs_dir)
    return spec, point, where, run_name


def prepare_resume(
    ref: str | Path, runs_dir: str | Path, spec: Spec | None, force: bool = False
) -> tuple[ResumePoint, Spec]:
    """Where the run `ref` resumes and the spec it trains (`spec`, or the run's own when
    `None`), checked, with `fit.initial_epoch` set to the epochs done (`force`: see
    `resume_point`).

    Raises:
        ResumeError: the run is still training, has no state to resume, has `stages:` or
            `BackupAndRestore`, `spec` changes what the weights depend on, or `fit.epochs`
            leaves nothing to train.
    """
    point = resume_point(find_run(ref, runs_dir), force)
    if spec is None:
        spec = resume_spec(point.run, runs_dir)
    saved = _saved_spec(point.run)
    reason = no_state_reason(saved) if saved.stages else no_state_reason(spec)
    if reason is not None:  # (the same rule as the runs that save a state to resume)
        fix = (
            "train its spec again, with more epochs in its stages"
            if saved.stages
            else "drop it (--set 'callbacks=[...]')"
        )
        raise ResumeError(f"run {point.run} cannot be resumed here: {reason}: {fix}")
    point.learning_rate = _changes(saved, spec, point.run)
    point.initial_epoch = spec.fit.initial_epoch
    if spec.fit.epochs <= point.epoch:
        raise ResumeError(
            f"run {point.run} has trained {point.epoch} epochs, and fit.epochs is "
            f"{spec.fit.epochs}: give --epochs more than {point.epoch} (the total, those done "
            "included)"
        )
    fit = spec.fit.model_copy(update={"initial_epoch": point.epoch})
    return point, spec.model_copy(update={"fit": fit})


def resume_point(path: Path, force: bool = False) -> ResumePoint:
    """Where the run in `path` resumes: a completed run from its `model.keras` after its last
    epoch, another from its `state.npz`. A run `running` on another host (whose process cannot
    be checked from here) is refused, but with `force`.

    Raises:
        ResumeError: the run is still training or saved nothing to resume from, or its files
            disagree on the epochs done.
    """
    (record,) = list_runs(path)
    status = record["status"]
    if status == "unreadable":
        raise ResumeError(f"run {path} cannot be resumed: {record.get('error')}")
    elsewhere = record.get("host") != HOST
    if status == "running" and not (force and elsewhere):
        where = f"pid {record.get('pid')} on {record.get('host')}"
        hint = (
            f"; this host ({HOST}) cannot check a process on another: if it has ended (killed, a "
            "power cut), give --force to resume it from its last saved epoch"
            if elsewhere
            else ""
        )
        raise ResumeError(
            f"run {path} is still training ({where}); resume it once it has ended{hint}"
        )
    state, done = _state_and_epochs(path, status, record)
    return ResumePoint(path, done, state, _history_upto(path / "history.csv", done, state))


def _state_and_epochs(path: Path, status: str, record: dict[str, Any]) -> tuple[Path, int]:
    """The file a run resumes from and its epochs done: a completed run's `model.keras`, the
    count its `state.npz` and `run.json` agree on; another's `state.npz` and its count."""
    if status != "completed":
        saved = saved_epoch(path / STATE)
        if saved is None:
            raise ResumeError(
                f"run {path} ({status}) saved no training state to resume from: it ended "
                "before its first epoch did, or its spec has stages: or BackupAndRestore "
                "(which resumes by training the spec again), or it trained on several workers "
                "(a multi-worker run resumes from a BackupAndRestore backup)"
            )
        return path / STATE, saved
    model = path / "model.keras"
    if not model.is_file():
        raise ResumeError(f"run {path} is completed but has no model.keras", model)
    recorded = record.get("epochs_done")
    counts = {STATE: state_epoch(path / STATE), "run.json": recorded}
    known = {k: v for k, v in counts.items() if isinstance(v, int) and not isinstance(v, bool)}
    if not known:
        raise ResumeError(
            f"run {path} records no epochs done (no {STATE}, no epochs_done in run.json): "
            "it cannot be resumed",
            path / "run.json",
        )
    if len(set(known.values())) > 1:
        raise ResumeError(
            f"run {path}'s {STATE} says {counts[STATE]} epochs done, its run.json {recorded}: "
            "they disagree, it cannot be resumed",
            path / STATE,
        )
    return model, next(iter(known.values()))


def _history_upto(path: Path, done: int, state: Path) -> list[dict[str, Any]]:
    """`history.csv`'s rows up to epoch `done`, which must end there, one row an epoch."""
    rows = [row for row in read_history(path) if row["epoch"] <= done]
    epochs = [row["epoch"] for row in rows]
    if not epochs or epochs[-1] != done or epochs != list(range(epochs[0], done + 1)):
        held = f"epochs {epochs[0]}-{epochs[-1]} of them" if epochs else "none of them"
        raise ResumeError(
            f"{state.name} says {done} epochs done, {path.name} holds {held}: the run's files "
            "disagree (or one is missing), it cannot be resumed",
            path,
        )
    return rows


def _saved_spec(path: Path) -> Spec:
    from kerascli.spec import load_spec

    return load_spec(path / "spec.yaml", check=False)


def _changes(saved: Spec, spec: Spec, run: Path) -> float | None:
    """Refuse a spec that changes what the run's weights depend on; the new learning rate, if
    the spec changes only that."""
    old_inputs, new_inputs = _inputs(saved), _inputs(spec)
    if old_inputs != new_inputs:
        changed_at = next(
            (n.path for o, n in zip(old_inputs, new_inputs, strict=False) if o != n), None
        )
        raise ResumeError(
            f"run {run} was trained on the input columns {_columns(old_inputs)}, this spec "
            f"gives {_columns(new_inputs)}: a resumed run keeps its inputs",
            "--set",
            ".".join(map(str, changed_at or ("data",))),
        )
    old, new = _fixed(saved), _fixed(spec)
    old_rate, new_rate = _pop_rate(old), _pop_rate(new)
    changed = [key for key in FIXED if old.get(key) != new.get(key)]
    if changed:
        raise ResumeError(
            f"run {run} resumes with its own {', '.join(changed)}: only fit, callbacks, "
            "tracking, the optimizer's learning_rate and the data files' location may change"
        )
    if new_rate == old_rate:
        return None
    if isinstance(old_rate, dict) or not isinstance(new_rate, (int, float)):
        raise ResumeError("a resumed run's learning_rate may change from a number to a number")
    return float(new_rate)


def _fixed(spec: Spec) -> dict[str, Any]:
    """The sections a resumed run keeps, as compared: its data files may move (`--set
    data.path=...`); the input columns are compared as resolved (`_inputs`: a run's spec.yaml
    writes them out where another spec implies them)."""
    data = resolved_spec(spec)
    section = {k: v for k, v in (data.get("data") or {}).items() if k not in DATA_FILE_KEYS}
    section.pop("features", None)  # (compared by `_inputs`)
    data["data"] = section
    return {key: data.get(key) for key in FIXED}


def _inputs(spec: Spec) -> list[Any]:
    """The columns that feed each model input, in order, as training reads them
    (`facts.input_columns`, with those the training file's header implies)."""
    from kerascli.data.model_arrays import implied_features

    if spec.data is None:
        return []
    implied = implied_features(spec)
    if implied is not None:
        spec = spec.model_copy(update={"data": spec.data.model_copy(update={"features": implied})})
    return input_columns(spec, None)


def _columns(inputs: list[Any]) -> str:
    return (
        "; ".join(f"{c.name}: {c.columns}" if len(inputs) > 1 else str(c.columns) for c in inputs)
        or "none"
    )


def _pop_rate(fixed: dict[str, Any]) -> Any:
    """Take the optimizer's `learning_rate` argument out of `fixed`'s `compile` (`None`: none)."""
    compile_ = dict(fixed.get("compile") or {})
    optimizer = compile_.get("optimizer")
    if not isinstance(optimizer, dict) or len(optimizer) != 1:
        return None
    ((name, args),) = optimizer.items()
    args = dict(args or {})
    rate = args.pop("learning_rate", None)
    compile_["optimizer"] = {name: args}
    fixed["compile"] = compile_
    return rate


def read_history(path: Path) -> list[dict[str, Any]]:
    """The rows of a run's `history.csv` (`[]` if it has none): `epoch` an int, numbers as
    floats, others (`stage`) as text."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ResumeError(f"{path} cannot be read: {cause_line(exc)}") from None
    rows = []
    for line, raw in enumerate(csv.DictReader(io.StringIO(text)), start=2):
        row: dict[str, Any] = {}
        for key, value in raw.items():
            if key is None or value in (None, ""):
                continue
            try:
                number = float(value)
            except ValueError:
                number = None
            if key == "epoch" and (number is None or not number.is_integer() or number < 1):
                raise ResumeError(f"line {line}: epoch {value!r} is not an epoch number", path)
            row[key] = value if number is None else int(number) if key == "epoch" else number
        if "epoch" in row:
            rows.append(row)
    return rows
