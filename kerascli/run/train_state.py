"""A run's training state, `state.npz` in its directory, to resume it from (`--resume`).

After each epoch it holds the model's weights, the optimizer's variables (its step count,
learning rate and moments) and the seed states of the model's random layers (Dropout), written
atomically, so it always holds one whole epoch; once the run completes (`model.keras` holds the
weights and the optimizer state), only the epoch count and the seed states. Keras's own
`save_weights` would hold the same but costs ~50 ms an epoch even for a small model (it walks
the model's attributes); this is one `np.savez` of `get_weights()` and the optimizer's
variables (~1 ms for iris_mlp).
"""

from __future__ import annotations

import io
import json
import math
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascli.run.rundir import atomic_write
from kerascli.spec.problems import KerasCliError, cause_line

if TYPE_CHECKING:
    from kerascli.run.resume import ResumePoint

STATE = "state.npz"
"""A run's training state, in its directory."""
ITERATORS_PER_EPOCH = 2
"""Keras 3's epoch iterator makes a new iterator over the training data as each epoch begins,
and another as it ends when the number of batches is known: each draws the next shuffle order."""


class StateMismatch(KerasCliError):
    """A saved training state that is unreadable or does not fit the model it is restored into
    (exit code 1)."""


def read_state(path: Path, arrays: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """`state.npz`'s record (`epoch`, `weights`: whether it holds them) and its arrays (with
    `arrays`)."""
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as saved:
            meta = json.loads(str(saved["meta"]))
            values = {k: saved[k] for k in saved.files if k != "meta"} if arrays else {}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise StateMismatch(f"{path} cannot be read: {cause_line(exc)}") from None
    return meta, values


def saved_epoch(path: Path) -> int | None:
    """The epochs done in the state `path` holds weights of (`None`: no such state)."""
    if not path.is_file():
        return None
    meta, _ = read_state(path, arrays=False)
    return int(meta["epoch"]) if meta.get("weights") else None


def _seed_states(model: Any) -> list[Any]:
    """The seed-generator state variables of the model's random layers (Dropout...), in order."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


def save_state(model: Any, path: Path, epoch: int) -> None:
    """Write the training state after `epoch` epochs to `path`, atomically: the weights (as
    `get_weights` orders them), the optimizer's variables and the seed states."""
    import keras
    import numpy as np

    def array(variable: Any) -> Any:
        value = np.asarray(keras.ops.convert_to_numpy(variable))
        return value if value.dtype.kind in "biuf" else value.astype("float32")  # bfloat16

    optimizer = model.optimizer.variables if model.optimizer is not None else []
    arrays = {f"weight_{i}": array(v) for i, v in enumerate(model.weights)}
    arrays.update({f"optimizer_{i}": array(v) for i, v in enumerate(optimizer)})
    arrays.update({f"seed_{i}": array(v) for i, v in enumerate(_seed_states(model))})
    meta = json.dumps({"epoch": epoch, "weights": True, "keras": keras.__version__})
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(meta), **arrays)
    atomic_write(path, buffer.getvalue())


def finish_state(run_path: Path) -> None:
    """Once a run completes (`model.keras` saved), shrink its `state.npz` to the epoch count
    and the seed states."""
    path = run_path / STATE
    if not path.is_file():
        return
    import numpy as np

    meta, arrays = read_state(path)
    meta["weights"] = False
    seeds = {key: value for key, value in arrays.items() if key.startswith("seed_")}
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array(json.dumps(meta)), **seeds)
    atomic_write(path, buffer.getvalue())


def restore_state(model: Any, point: ResumePoint | None) -> None:
    """Restore a run's training state into the compiled `model` (its optimizer built first, as
    `BackupAndRestore` does): `model.keras` through Keras, or `state.npz`; then the seed states
    and a new learning rate. Nothing for a new run (`None`)."""
    if point is None:
        return
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        optimizer.build(model.trainable_variables)
    if point.state.suffix == ".keras":
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.load_weights(point.state)
        skipped = [str(w.message) for w in caught if "Skipping variable" in str(w.message)]
        if skipped:
            raise StateMismatch(f"{point.state} does not fit the model: {skipped[0].strip()}")
        state = point.run / STATE
        arrays = read_state(state)[1] if state.is_file() else {}
    else:
        arrays = read_state(point.state)[1]
        _assign(model, arrays, point.state)
    seeds = [arrays[f"seed_{i}"] for i in range(_count(arrays, "seed_"))]
    variables = _seed_states(model)
    if len(seeds) == len(variables):  # (a state without them: the random layers start afresh)
        for variable, value in zip(variables, seeds, strict=True):
            variable.assign(value)
    if point.learning_rate is not None:
        optimizer.learning_rate = point.learning_rate


def _assign(model: Any, arrays: dict[str, Any], path: Path) -> None:
    """Set the model's weights and its optimizer's variables from `state.npz`'s arrays."""
    weights = [arrays[f"weight_{i}"] for i in range(_count(arrays, "weight_"))]
    values = [arrays[f"optimizer_{i}"] for i in range(_count(arrays, "optimizer_"))]
    variables = model.optimizer.variables if model.optimizer is not None else []
    shapes = [tuple(v.shape) for v in variables]
    if len(values) != len(variables) or shapes != [tuple(a.shape) for a in values]:
        raise StateMismatch(
            f"{path} does not fit the model: its optimizer has {len(values)} variables, "
            f"the model's {len(variables)} (or their shapes differ)"
        )
    try:
        model.set_weights(weights)
    except ValueError as exc:
        raise StateMismatch(f"{path} does not fit the model: {cause_line(exc)}") from None
    for variable, value in zip(variables, values, strict=True):
        variable.assign(value)


def _count(arrays: dict[str, Any], prefix: str) -> int:
    return sum(1 for key in arrays if key.startswith(prefix))


def advance_shuffle(dataset: Any, epochs_done: int) -> None:
    """Draw the shuffle orders of `epochs_done` epochs from the training `dataset`, as `fit`
    would have (`ITERATORS_PER_EPOCH`), so the next epoch sees the order the uninterrupted run
    gave it. Only where the number of batches is known (in-memory data; a stream's first epoch
    draws differently) and `fit.steps_per_epoch` is not set (one iterator runs on across
    epochs); elsewhere the epochs after a resume see other orders."""
    if epochs_done <= 0 or int(dataset.cardinality()) < 0:
        return
    for _ in range(ITERATORS_PER_EPOCH * epochs_done):
        iter(dataset)


def state_saver(run_path: Path) -> list[Any]:
    """A callback that saves the run's training state after each epoch, skipping an epoch whose
    loss is NaN (`TerminateOnNaN` stops there; the state before it is the one to resume)."""
    import keras

    class SaveState(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            loss = (logs or {}).get("loss")
            if loss is None or not math.isnan(float(loss)):
                save_state(self.model, run_path / STATE, epoch + 1)

    return [SaveState()]
