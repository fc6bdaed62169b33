"""A run's calls of Keras on its data: `model.fit` (one stage), then evaluating every split and
saving `metrics.json`, `model.keras` and `history.png`."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kerascli.data import Data
from kerascli.data.model_arrays import Split
from kerascli.data.pipeline import make_dataset
from kerascli.data.stream import Stream, located_failures
from kerascli.run.plots import plot_history
from kerascli.run.rundir import write_json
from kerascli.run.targets import class_weight
from kerascli.run.train_state import advance_shuffle, finish_state
from kerascli.spec.models import Spec


def fit_stage(
    model: Any,
    spec: Spec,
    data: Data,
    callbacks: list[Any],
    augment: Callable[[Any], Any] | None,
    resumed: bool,
    initial_epoch: int,
    epochs: int,
) -> None:
    """`model.fit` from `initial_epoch` up to `epochs` (one stage) on the training split,
    validating on the validation split if any; a `resumed` run's training data shuffled on from
    the epochs done (`advance_shuffle`)."""
    fit, batch = spec.fit, spec.fit.batch_size
    train_data = make_dataset(
        data.splits["train"], spec.data, batch, spec.seed, training=True, augment=augment
    )
    if fit.steps_per_epoch:  # epochs of that many batches, the data cycling as needed
        train_data = train_data.repeat()
    elif resumed:
        advance_shuffle(train_data, initial_epoch)
    validation = data.splits.get("validation")
    validation_data = None
    if validation is not None:
        validation_data = make_dataset(validation, spec.data, batch, spec.seed, training=False)
        if fit.validation_steps:
            validation_data = validation_data.repeat()
    with located_failures(data.splits.values()):
        model.fit(
            train_data,
            validation_data=validation_data,
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=fit.steps_per_epoch,
            validation_steps=fit.validation_steps,
            validation_freq=fit.validation_freq,
            class_weight=class_weight(spec, data),
            callbacks=callbacks,
            shuffle=False,  # the tf.data pipeline shuffles, seeded
            verbose=0,
        )


def evaluate(model: Any, spec: Spec, split: Split | Stream) -> dict[str, float]:
    """The model's metrics on one split."""
    dataset = make_dataset(split, spec.data, spec.fit.batch_size, spec.seed, training=False)
    with located_failures([split]):
        values = model.evaluate(dataset, verbose=0, return_dict=True)
    return {k: float(v) for k, v in values.items()}


def save_model(model: Any, path: Path) -> None:
    """`model.save(path)`, atomically."""
    tmp = path.with_name(f".{path.stem}.tmp.keras")
    try:
        model.save(tmp)
        os.replace(tmp, path)
    except BaseException:  # e.g. the disk is full: no half-written model is left
        tmp.unlink(missing_ok=True)
        raise


def evaluate_and_save(
    model: Any, spec: Spec, data: Data, path: Path, history: list[dict[str, float]]
) -> dict[str, dict[str, float]]:
    """Evaluate every split, and write `metrics.json`, `model.keras` (then shrink the training
    state `model.keras` now holds) and `history.png`."""
    metrics = {split: evaluate(model, spec, values) for split, values in data.splits.items()}
    write_json(path / "metrics.json", metrics)
    save_model(model, path / "model.keras")
    finish_state(path)
    plot_history(history, path / "history.png")
    return metrics
