"""Train: seed, load, build, adapt, compile, fit, evaluate and save a spec into a run directory
that records itself (`RunDir.recording`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TextIO

from kerascli.data import Data, load_data
from kerascli.data.model_arrays import implied_features
from kerascli.model.builder import Builder
from kerascli.run.adapt import adapt_preprocessing
from kerascli.run.augment import augmentation
from kerascli.run.backup import Backups
from kerascli.run.callbacks import history_writer, training_callbacks
from kerascli.run.compile import compile_model
from kerascli.run.distribute import Placement, check_in_step, check_placement, placed
from kerascli.run.distribute_record import record_placement
from kerascli.run.fitting import evaluate_and_save, fit_stage
from kerascli.run.gates import Gate
from kerascli.run.portable import copy_plugins, origin, portable_spec
from kerascli.run.progress import format_logs
from kerascli.run.resume import ResumePoint, record_resume, resumed
from kerascli.run.rundir import RunDir, atomic_write
from kerascli.run.runs import classes_to_record, environment
from kerascli.run.stages import check_stage_settings, run_stages, stages_record, total_epochs
from kerascli.run.targets import check_class_ids
from kerascli.run.tracking import tracked
from kerascli.run.train_state import check_state, restore_state
from kerascli.run.warm_start import WarmStart, apply_warm_start, plan_warm_start
from kerascli.spec.dump import resolved_spec, to_yaml
from kerascli.spec.log_names import SPLIT_PREFIXES
from kerascli.spec.models import Spec
from kerascli.spec.problems import KerasCliError


class TrainingFailed(KerasCliError):
    """Training ran but did not finish well (e.g. the loss became NaN)."""


@dataclass
class RunResult:
    """What a finished run left: its directory, final metrics and per-epoch history."""

    path: Path
    status: str
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    chief: bool = True
    """Whether this process wrote `path` (another worker's run is removed as it ends)."""

    def flat_metrics(self) -> dict[str, float]:
        return flatten_metrics(self.metrics)


def flatten_metrics(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """`{train: {loss}, validation: {loss}, test: {loss}}` -> `loss, val_loss, test_loss`."""
    return {
        f"{SPLIT_PREFIXES.get(split, split + '_')}{name}": value
        for split, values in metrics.items()
        for name, value in values.items()
    }


def seed_everything(seed: int | None) -> None:
    """Seed Python, NumPy and Keras, and ask TensorFlow for deterministic ops."""
    if seed is None:
        return
    from kerascli.model.keras_env import import_keras

    keras = import_keras()
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def save_spec(spec: Spec, run: RunDir) -> None:
    """Write the run's `spec.yaml` so the run travels: the input columns it was trained on,
    data files relative to it, copies of its plugin files (hashed in `run.json`)."""
    copies = copy_plugins(spec, run.path)
    features = implied_features(spec)
    saved = portable_spec(resolved_spec(spec), run.path, copies, features)
    atomic_write(run.path / "spec.yaml", to_yaml(saved))
    run.update(**origin(run.path, copies))


def train(
    spec: Spec | None,
    runs_dir: str | Path = "runs",
    name: str | None = None,
    stream: TextIO | None = None,
    plain: bool | None = None,
    gates: Sequence[Gate] = (),
    weights: str | Path | None = None,
    resume: str | Path | None = None,
    record: dict[str, Any] | None = None,
    force: bool = False,
) -> RunResult:
    """Train the model a spec describes and leave a run directory.

    Args:
        spec: A validated spec (from `load_spec`).
        runs_dir: Where runs go. Defaults to `runs`.
        name: The run's name. Defaults to the spec's `name`.
        stream: Where progress goes. Defaults to stdout.
        plain: One line per epoch instead of a progress bar. Defaults to "not a terminal".
        gates: `--require` gates; one naming a metric the run will not have stops training
            after the first epoch. Defaults to none (the caller checks the values).
        weights: Start from the weights of this run (`NAME/N` or its directory), `.keras` or
            `.weights.h5` file, layer by layer by name (`kerascli.run.warm_start`). Defaults to
            none.
        resume: Continue this run (`NAME/N` or its directory) in a new run beside it, its
            optimizer state and history included (`kerascli.run.resume`); `spec` is then `None`
            (the run's own) or one from `resume_spec`. Defaults to none.
        record: Fields `run.json` holds from the start (`trial` of a tune). Defaults to none.
        force: Resume a run `running` on another host (unchecked from here). Defaults to no.

    Returns:
        A `RunResult` with the run directory, metrics and history.

    Raises:
        SpecError: The spec, data or model is invalid; no run directory is made.
        RunFailed: The run ended early, marked `failed`; `cause` is what ended it.
        RunInterrupted: Ctrl-C or SIGTERM ended the run, marked `interrupted`/`terminated`.
    """
    spec, point, runs_dir, name = resumed(spec, runs_dir, name, weights, resume, force)
    with placed(spec) as placement, placement.scope():  # before any TensorFlow op
        seed_everything(spec.seed)
        data, builder, model, augment = _prepare(spec)  # their errors come before a run exists
        synchronized = check_placement(placement, builder, model)
        warm = plan_warm_start(weights, runs_dir, model) if weights is not None else None
        check_state(point, model)
        fields = {**environment(spec.seed, _spec_file(spec)), **(record or {})}
        run = RunDir.create(placement.runs_dir(runs_dir), name or spec.name, fields)
        prepared = _Prepared(data, builder, model, augment, placement, synchronized, warm, point)
        return _train_run(prepared, run, runs_dir, stream, plain, gates)


@dataclass
class _Prepared:
    """What a run trains: data, model and where (`Placement`), ready before the run exists."""

    data: Data
    builder: Builder
    model: Any
    augment: Callable[[Any], Any] | None
    placement: Placement
    synchronized: list[str]
    warm: WarmStart | None = None
    resume: ResumePoint | None = None


def _train_run(
    p: _Prepared,
    run: RunDir,
    runs_dir: str | Path,
    stream: TextIO | None,
    plain: bool | None,
    gates: Sequence[Gate],
) -> RunResult:
    """Compile, fit, evaluate and save into `run`, recording it."""
    spec, model, data = p.builder.spec, p.model, p.data
    history = history_writer(run.path / "history.csv", p.resume.rows if p.resume else ())
    with (
        tracked(spec, run, p.placement.chief) as tracker,
        Backups(run, total_epochs(spec), p.placement, runs_dir) as backups,
        run.recording(lambda: len(history.rows)) as rec,
    ):
        tracker.start()  # MLflow reached (or the run fails) before training
        _record_inputs(p, run)
        compile_model(p.builder, model)
        restore_state(model, p.resume)
        rows = getattr(data.splits["train"], "rows", None)
        record_placement(p.placement, p.builder, model, p.synchronized, run, rec, rows)
        callbacks = training_callbacks(
            p.builder, run.path, history, rec.file, backups, list(data.splits), gates, stream, plain
        )
        callbacks = [*tracker.callbacks, *callbacks]  # an epoch logged before one can fail
        fit = partial(fit_stage, model, spec, data, callbacks, p.augment, p.resume is not None)
        fit_started = time.time()
        run_stages(p.builder, model, history, backups, fit)
        _trained(spec, run, history, fit_started)
        metrics = evaluate_and_save(model, spec, data, run.path, history.rows)
        check_in_step(p.placement, model, run)
        run.update(timings={**run.record["timings"], "saved": round(time.time(), 3)})
        if "test" in metrics:
            rec.log(f"test: {format_logs(metrics['test'])}")
        rec.complete(metrics=flatten_metrics(metrics))
    return RunResult(run.path, "completed", metrics, history.rows, p.placement.chief)


def _prepare(spec: Spec) -> tuple[Data, Builder, Any, Callable[[Any], Any] | None]:
    """The data, the builder, the built model and the augmentation, checked against what only
    the built model tells: the data's class ids fit its outputs, the stages' `trainable` names
    are its layers."""
    data = load_data(spec)
    builder = Builder(spec)
    model = builder.build()
    check_class_ids(builder, model, data)
    check_stage_settings(builder, model)
    return data, builder, model, augmentation(builder)


def _spec_file(spec: Spec) -> str | None:
    """The spec's file, if it came from one."""
    doc = spec.document
    return doc.file if doc is not None and not doc.file.endswith("<spec>") else None


def _trained(spec: Spec, run: RunDir, history: Any, fit_started: float) -> None:
    """After the last `fit`: when it started and ended (`timings`, seconds since the epoch) and
    the stages as trained into `run.json`; a NaN loss fails the run."""
    fit_ended = round(time.time(), 3)
    run.update(timings={"fit_started": round(fit_started, 3), "fit_ended": fit_ended})
    if spec.stages:
        run.update(stages=stages_record(spec, history.rows))
    _check_loss(history.nan_epoch)


def _check_loss(nan_epoch: int | None) -> None:
    """Raise `TrainingFailed` if the loss became NaN (in epoch `nan_epoch`)."""
    if nan_epoch is not None:
        raise TrainingFailed(
            f"the loss became NaN in epoch {nan_epoch}; training stopped "
            "(lower the learning rate or check the data)"
        )


def _record_inputs(p: _Prepared, run: RunDir) -> None:
    """Save the spec, the classes and the preprocessing layers adapted (on the training data),
    then the layers a warm start loads (over them) and the run a resumed one continues."""
    spec, model, data = p.builder.spec, p.model, p.data
    save_spec(p.resume.as_written(spec) if p.resume else spec, run)
    if data.classes:
        run.update(classes=classes_to_record(data.classes))
    adapted = adapt_preprocessing(spec, model, data.splits["train"])
    if adapted:
        run.update(adapted=adapted)
    if spec.stages:
        run.update(stages=stages_record(spec))
    apply_warm_start(p.warm, model, run)
    record_resume(p.resume, run)
