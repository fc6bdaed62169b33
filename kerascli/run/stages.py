"""Fine-tuning in stages, the Keras transfer-learning recipe: the first stage trains `fit.epochs`
as compiled; each stage of `stages:` then sets what trains, compiles anew (its optimizer, new
state) and continues `model.fit` from the epochs done, with the same callbacks and history.

- EarlyStopping ends the stage it stops, not the run: the next stage still runs (Keras's
  EarlyStopping starts afresh at each `fit`). A NaN loss ends the run.
- `--resume` (a `BackupAndRestore` backup) resumes in the stage the backup was written in: the
  stages before it set what trains without training, that stage compiles its optimizer and Keras
  restores its weights and optimizer state. Keras removes the backup as each stage's `fit` ends, so
  a run that dies between two stages starts afresh.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kerascli.model.builder import Builder
from kerascli.model.keras_private import forget_restored_epoch
from kerascli.model.trainable import check_trainable, set_trainable
from kerascli.run.backup import Backups
from kerascli.run.compile import build_optimizer, compile_model
from kerascli.spec.check_stages import FIRST_STAGE, stage_name
from kerascli.spec.models import Spec, StageSpec, call_parts
from kerascli.spec.problems import KeyPath, did_you_mean


@dataclass(frozen=True)
class Stage:
    """One `model.fit` of a run: epochs `first` (0-based) up to `end` (Keras's `initial_epoch`
    and `epochs`); `index` and `spec` are those in `spec.stages` (`None` for the first)."""

    name: str
    first: int
    end: int
    index: int | None = None
    spec: StageSpec | None = None


def plan(spec: Spec) -> list[Stage]:
    """The stages of a run, in order: the first (`fit.epochs`), then `spec.stages`."""
    stages = [Stage(FIRST_STAGE, spec.fit.initial_epoch, spec.fit.epochs)]
    for i, stage in enumerate(spec.stages):
        end = stages[-1].end
        stages.append(Stage(stage_name(i, stage), end, end + stage.epochs, i, stage))
    return stages


def total_epochs(spec: Spec) -> int:
    """The epochs of the whole run: `fit.epochs` and every stage's."""
    return plan(spec)[-1].end


def stages_record(spec: Spec, rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """`run.json`'s `stages`: each stage's name and its epochs (1-based, first and last): as
    planned, or with `rows` (history.csv's) as trained (EarlyStopping may end a stage early; a
    stage that trained no epoch has `[]`)."""
    if rows is None:
        return [{"name": s.name, "epochs": [s.first + 1, s.end]} for s in plan(spec)]
    trained: dict[str, list[int]] = {}
    for row in rows:
        trained.setdefault(str(row.get("stage")), []).append(int(row["epoch"]))
    return [
        {"name": s.name, "epochs": [min(e), max(e)] if (e := trained.get(s.name)) else []}
        for s in plan(spec)
    ]


def run_stages(
    builder: Builder,
    model: Any,
    history: Any,
    backups: Backups,
    fit: Callable[[int, int], None],
) -> None:
    """Train every stage of the spec with `fit(initial_epoch, epochs)`, `model` compiled for the
    first. Stops after a stage whose loss became NaN (`history.nan_epoch`).

    Args:
        builder: The spec's builder.
        model: The built, compiled model.
        history: The run's `history_writer`: its `stage` names the stage of each row.
        backups: The run's backups: the one it resumes from, if any, picks the stage to begin
            with; each stage records again that this run writes them.
        fit: Calls `model.fit` from `initial_epoch` up to `epochs`.
    """
    stages = plan(builder.spec)
    start = _resume_stage(stages, backups.resumed)
    for i, stage in enumerate(stages):
        if stage.spec is not None:
            _set_trainable(builder, model, stage)
            if i >= start:
                compile_model(builder, model, _optimizer(builder, stage))
        if i < start:
            continue
        history.stage = stage.name if len(stages) > 1 else None
        forget_restored_epoch(model)
        backups.mark()
        fit(stage.first, stage.end)
        if history.nan_epoch is not None:
            return


def _resume_stage(stages: list[Stage], resumed: int | None) -> int:
    """The stage a backup of `resumed` epochs done was written in (its `fit` restores it; a
    backup of a stage's last epoch is that stage's, whose optimizer state it holds)."""
    if resumed is None:
        return 0
    return next((i for i, s in enumerate(stages) if resumed <= s.end), len(stages) - 1)


def check_stage_settings(builder: Builder, model: Any) -> None:
    """Check every stage's `trainable` settings against the built model, and build its optimizer,
    before training (a located `SpecError` and no run directory, rather than a failed run)."""
    for stage in plan(builder.spec)[1:]:
        _set_trainable(builder, model, stage, check_trainable)
        _optimizer(builder, stage)


def _set_trainable(
    builder: Builder, model: Any, stage: Stage, apply: Callable[..., Any] = set_trainable
) -> None:
    """Apply a stage's `trainable` settings, in order; a problem is located at its key."""
    for name, setting in stage.spec.trainable.items() if stage.spec else ():
        path: KeyPath = ("stages", stage.index or 0, "trainable", name)
        layer = find_layer(model, name)
        if layer is None:
            names = [inner.name for inner in _all_layers(model)]
            raise builder.error(
                path, f"the model has no layer '{name}'{did_you_mean(name, names)}", True
            )
        try:
            apply(layer, setting, f"'{name}'")
        except ValueError as exc:
            raise builder.error(path, str(exc)) from exc


def _optimizer(builder: Builder, stage: Stage) -> Any:
    """A stage's new optimizer: its own or `compile.optimizer`, with its `learning_rate`."""
    assert stage.spec is not None
    call = stage.spec.optimizer
    path: KeyPath = ("stages", stage.index or 0, "optimizer")
    if call is None:
        call, path = builder.spec.compile.optimizer, ("compile", "optimizer")
    rate = stage.spec.learning_rate
    name, args = call_parts(call)
    identifier = isinstance(builder.resolve("optimizers", name, path), str)  # `adam`
    if rate is not None and not identifier:  # over the call's own (a schedule included)
        call = {name: {**args, "learning_rate": rate}}
    optimizer = build_optimizer(builder, call, path)
    if rate is not None and identifier:
        optimizer.learning_rate = rate
    return optimizer


def find_layer(model: Any, name: str) -> Any:
    """The layer `name` of `model` (`model.get_layer`), else of a model nested in it (an
    application), or `None`."""
    import keras

    for layer in model.layers:
        if layer.name == name:
            return layer
    for layer in model.layers:
        found = find_layer(layer, name) if isinstance(layer, keras.Model) else None
        if found is not None:
            return found
    return None


def _all_layers(model: Any) -> list[Any]:
    """`model.layers`, then the layers of the models among them, depth first."""
    import keras

    out = []
    for layer in model.layers:
        out.append(layer)
        if isinstance(layer, keras.Model):
            out += _all_layers(layer)
    return out
