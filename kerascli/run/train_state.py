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
import re
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascli.model.keras_private import ITERATORS_PER_EPOCH, seed_states, skipped_variables
from kerascli.run.rundir import atomic_write
from kerascli.spec.models import Spec, call_parts
from kerascli.spec.problems import Problem, SpecError, cause_line

if TYPE_CHECKING:
    from kerascli.run.resume import ResumePoint

STATE = "state.npz"
"""A run's training state, in its directory."""
BACKUP = "BackupAndRestore"
_KEY = re.compile(r"(weight|optimizer|seed)_(\d+)")


class StateMismatch(SpecError):
    """A saved training state that is unreadable, damaged or does not fit the model it is
    restored into (exit code 2, as a corrupt `model.keras`), located at its file."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__([Problem(message, "", str(path))])


def no_state_reason(spec: Spec, workers: bool = False) -> str | None:
    """Why a run of `spec` saves no training state (`state.npz`) that `--resume` goes on from
    (`None`: it saves one): stages, `BackupAndRestore`, several workers (`workers`)."""
    if spec.stages:
        return "its spec trains in stages, each compiling a new optimizer"
    if BACKUP in [call_parts(call)[0] for call in spec.callbacks]:
        return f"its spec has {BACKUP}, which resumes by training the spec again"
    if workers:
        return f"it trained on several workers, which resume from a {BACKUP} backup"
    return None


def read_state(path: Path, arrays: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """`state.npz`'s record (`epoch`, `weights`: whether it holds them) and its arrays (with
    `arrays`), checked.

    Raises:
        StateMismatch: not a state kerascli wrote, or a damaged one.
    """
    import numpy as np

    if not zipfile.is_zipfile(path):
        raise StateMismatch(path, "not a training state kerascli wrote (not an .npz archive)")
    try:
        with np.load(path, allow_pickle=False) as saved:
            if "meta" not in saved.files:
                raise StateMismatch(path, "damaged training state: it has no `meta` record")
            meta = json.loads(str(saved["meta"]))
            values = {k: saved[k] for k in saved.files if k != "meta"} if arrays else {}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise StateMismatch(path, f"cannot be read: {cause_line(exc)}") from None
    problem = _meta_problem(meta) or _arrays_problem(values)
    if problem is not None:
        raise StateMismatch(path, f"damaged training state: {problem}")
    return meta, values


def _meta_problem(meta: Any) -> str | None:
    if not isinstance(meta, dict):
        return f"its `meta` is {type(meta).__name__}, not a record"
    epoch = meta.get("epoch")
    if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 1:
        return f"its `meta` has no epoch count (epoch: {epoch!r})"
    if not isinstance(meta.get("weights"), bool):
        return f"its `meta` does not say whether it holds weights ({meta.get('weights')!r})"
    return None


def _arrays_problem(arrays: dict[str, Any]) -> str | None:
    """What is wrong with a state's arrays: an unknown name, a gap in a numbering, not numbers."""
    for key, value in arrays.items():
        if _KEY.fullmatch(key) is None:
            return f"an unknown array `{key}`"
        if value.dtype.kind not in "biuf":
            return f"`{key}` holds {value.dtype} values, not numbers"
    for prefix in ("weight_", "optimizer_", "seed_"):
        missing = [
            f"{prefix}{i}" for i in range(_count(arrays, prefix)) if f"{prefix}{i}" not in arrays
        ]
        if missing:
            return f"`{missing[0]}` is missing"
    return None


def saved_epoch(path: Path) -> int | None:
    """The epochs done in the state `path` holds weights of (`None`: no such state)."""
    if not path.is_file():
        return None
    meta, _ = read_state(path, arrays=False)
    return int(meta["epoch"]) if meta["weights"] else None


def state_epoch(path: Path) -> int | None:
    """The epochs done `path` records, with or without weights (`None`: no such file)."""
    return int(read_state(path, arrays=False)[0]["epoch"]) if path.is_file() else None


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
    arrays.update({f"seed_{i}": array(v) for i, v in enumerate(seed_states(model))})
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


def check_state(point: ResumePoint | None, model: Any) -> None:
    """Before the new run exists: the state `point` resumes from holds an optimizer state, and
    weights of the built `model`'s shapes (the optimizer's own are checked as it is restored).

    Raises:
        StateMismatch: it does not fit.
    """
    if point is None:
        return
    if point.state.suffix == ".keras":
        from kerascli.run.warm_start import layout_problem

        problem = layout_problem(point.state, model)
    else:
        problem = _arrays_fit(read_state(point.state)[1], model)
    if problem is not None:
        raise StateMismatch(point.state, f"does not fit the model: {problem}")


def _arrays_fit(arrays: dict[str, Any], model: Any) -> str | None:
    """Why a state's arrays do not fit the built `model` (`None`: they do)."""
    if not _count(arrays, "optimizer_"):
        return "it holds no optimizer state"
    weights = [tuple(arrays[f"weight_{i}"].shape) for i in range(_count(arrays, "weight_"))]
    shapes = [tuple(v.shape) for v in model.weights]
    if not shapes or weights == shapes:  # (a model not built yet: restore_state checks them)
        return None
    pairs = zip(weights, shapes, strict=False)
    first = next((i for i, (a, b) in enumerate(pairs) if a != b), None)
    if first is None or len(weights) != len(shapes):
        return f"it holds {len(weights)} weights, the model {len(shapes)}"
    return f"its weight_{first} is {weights[first]}, the model's {shapes[first]}"


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
        skipped = skipped_variables([str(w.message) for w in caught])
        if skipped:
            raise StateMismatch(point.state, f"does not fit the model: {skipped[0]}")
        state = point.run / STATE
        arrays = read_state(state)[1] if state.is_file() else {}
    else:
        arrays = read_state(point.state)[1]
        _assign(model, arrays, point.state)
    seeds = [arrays[f"seed_{i}"] for i in range(_count(arrays, "seed_"))]
    variables = seed_states(model)
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
            path,
            f"does not fit the model: its optimizer has {len(values)} variables, "
            f"the model's {len(variables)} (or their shapes differ)",
        )
    try:
        model.set_weights(weights)
    except ValueError as exc:
        raise StateMismatch(path, f"does not fit the model: {cause_line(exc)}") from None
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
