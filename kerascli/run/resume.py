"""Resume (`kerascli train --resume RUN`): continue a finished or interrupted run for more epochs,
in a new run directory beside it (`runs/<name>/<n+1>`), from its weights and optimizer state,
its history continued.

A completed run resumes from its `model.keras` (weights and optimizer state as saved: after
EarlyStopping's `restore_best_weights`, the best epoch's weights with the last epoch's optimizer
state) after its last epoch; an interrupted, terminated, failed or dead run from the training
state it saved after its last whole epoch (`kerascli.run.train_state`). The continuation trains
the run's own `spec.yaml`: `fit`, `callbacks`, `tracking`, the optimizer's `learning_rate` and
where the data files are may change, nothing the weights depend on; `fit.initial_epoch` is the
epochs done and `fit.epochs` the total. `run.json` records `resumed_from` (the run, the first epoch trained here, the state
file), and `history.csv` starts with the run's rows.
"""

from __future__ import annotations

import csv
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerascli.run.rundir import RunDir
from kerascli.run.runs import list_runs, read_record, resolve_run
from kerascli.run.train_state import STATE, saved_epoch
from kerascli.spec.dump import resolved_spec
from kerascli.spec.facts import DATA_FILE_KEYS
from kerascli.spec.models import Spec, call_parts
from kerascli.spec.problems import Problem, SpecError, cause_line

FIXED = ("model", "compile", "data", "stages", "seed", "distribute")
"""The spec sections a resumed run keeps (but the optimizer's `learning_rate` and the data
files' location)."""


class ResumeError(SpecError):
    """A run that cannot be resumed, or a resume that cannot be done (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__([Problem(message, "", "--resume")])


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
    return load_spec(spec_file, [*overrides, *([f"fit.epochs={epochs}"] if epochs else [])])


def resumed(
    spec: Spec | None,
    runs_dir: str | Path,
    name: str | None,
    weights: str | Path | None,
    resume: str | Path | None,
) -> tuple[Spec, ResumePoint | None, str | Path, str | None]:
    """What `train` trains and where: `spec`, or with `resume` the run's spec (`prepare_resume`)
    and the runs directory and name beside that run.

    Raises:
        ResumeError: `resume` with `weights` or `name`, or a run that cannot be resumed.
    """
    if resume is None:
        if spec is None:
            raise TypeError("train() needs a spec, or resume=RUN")
        return spec, None, runs_dir, name
    if weights is not None:
        raise ResumeError(
            "--weights starts a new run from other weights; --resume continues a run from its "
            "own: give one"
        )
    if name is not None:
        raise ResumeError("a resumed run goes beside the run it continues: --name does not apply")
    point, spec = prepare_resume(resume, runs_dir, spec)
    where, run_name = point.runs_dir(runs_dir)
    return spec, point, where, run_name


def prepare_resume(
    ref: str | Path, runs_dir: str | Path, spec: Spec | None
) -> tuple[ResumePoint, Spec]:
    """Where the run `ref` resumes and the spec it trains (`spec`, or the run's own when
    `None`), checked, with `fit.initial_epoch` set to the epochs done.

    Raises:
        ResumeError: the run is still training, has no state to resume, has `stages:` or
            `BackupAndRestore`, `spec` changes what the weights depend on, or `fit.epochs`
            leaves nothing to train.
    """
    point = resume_point(find_run(ref, runs_dir))
    if spec is None:
        spec = resume_spec(point.run, runs_dir)
    saved = _saved_spec(point.run)
    if saved.stages:
        raise ResumeError(
            f"run {point.run} trains in stages, each compiling a new optimizer: it cannot be "
            "resumed (train its spec again, with more epochs in its stages)"
        )
    if any(call_parts(call)[0] == "BackupAndRestore" for call in spec.callbacks):
        raise ResumeError(
            f"run {point.run}'s spec has BackupAndRestore, which resumes by training the spec "
            "again; drop it to resume here (--set 'callbacks=[...]')"
        )
    point.learning_rate = _changes(saved, spec, point.run)
    if spec.fit.epochs <= point.epoch:
        raise ResumeError(
            f"run {point.run} has trained {point.epoch} epochs, and fit.epochs is "
            f"{spec.fit.epochs}: give --epochs more than {point.epoch} (the total, those done "
            "included)"
        )
    fit = spec.fit.model_copy(update={"initial_epoch": point.epoch})
    return point, spec.model_copy(update={"fit": fit})


def resume_point(path: Path) -> ResumePoint:
    """Where the run in `path` resumes: a completed run from its `model.keras` after its last
    epoch, another from its `state.npz`."""
    (record,) = list_runs(path)
    status = record["status"]
    if status == "unreadable":
        raise ResumeError(f"run {path} cannot be resumed: {record.get('error')}")
    if status == "running":
        raise ResumeError(
            f"run {path} is still training (pid {record.get('pid')} on {record.get('host')}); "
            "resume it once it has ended"
        )
    rows = read_history(path / "history.csv")
    if status == "completed":
        state, done = path / "model.keras", int(rows[-1]["epoch"]) if rows else 0
        if not state.is_file():
            raise ResumeError(f"run {path} is completed but has no model.keras")
    else:
        state = path / STATE
        saved = saved_epoch(state)
        if saved is None:
            raise ResumeError(
                f"run {path} ({status}) saved no training state to resume from: it ended "
                "before its first epoch did, or its spec has stages: or BackupAndRestore "
                "(which resumes by training the spec again)"
            )
        done = saved
    return ResumePoint(path, done, state, [r for r in rows if int(r["epoch"]) <= done])


def _saved_spec(path: Path) -> Spec:
    from kerascli.spec import load_spec

    return load_spec(path / "spec.yaml", check=False)


def _changes(saved: Spec, spec: Spec, run: Path) -> float | None:
    """Refuse a spec that changes what the run's weights depend on; the new learning rate, if
    the spec changes only that."""
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
    data.path=...`); the input columns are left out (a run's spec.yaml writes them out where
    another spec implies them; other columns would not fit the model's input anyway)."""
    data = resolved_spec(spec)
    section = {k: v for k, v in (data.get("data") or {}).items() if k not in DATA_FILE_KEYS}
    section.pop("features", None)  # (written out in a run's spec.yaml, implied in others)
    data["data"] = section
    return {key: data.get(key) for key in FIXED}


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
    for raw in csv.DictReader(io.StringIO(text)):
        row: dict[str, Any] = {}
        for key, value in raw.items():
            if key is None or value in (None, ""):
                continue
            try:
                number = float(value)
            except ValueError:
                row[key] = value
                continue
            row[key] = int(number) if key == "epoch" else number
        if "epoch" in row:
            rows.append(row)
    return rows
