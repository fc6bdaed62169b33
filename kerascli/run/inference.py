"""Reuse a run: load its model and spec, evaluate on a split or file, predict on new data.

Long because loading a run safely (its record, the archive's limits, consent for plugin code),
evaluating and predicting share `LoadedRun` and the classes training used; what a prediction
column means (an output's loss and its kind) is asked of `kerascli.spec.outputs`.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerascli.data import load_data, read_split
from kerascli.data.pipeline import make_dataset
from kerascli.data.splits import Split, trained_classes
from kerascli.data.tables import read_table
from kerascli.model.builder import Builder
from kerascli.model.plugins import load_object
from kerascli.run.compile import compile_model
from kerascli.run.outputs import check_output, write_output
from kerascli.run.portable import PLUGIN_DIR, check_trust
from kerascli.run.runs import UnreadableRun, read_record
from kerascli.spec import load_spec
from kerascli.spec.facts import SINGLE
from kerascli.spec.models import Spec
from kerascli.spec.outputs import (
    index_classes,
    loss_call,
    loss_kind,
)
from kerascli.spec.problems import KerasCliError, Problem, SpecError, did_you_mean


@dataclass
class LoadedRun:
    """A trained model with the spec and class names it was trained with (`classes` is `None`
    when no run record says: a bare model file)."""

    model: Any
    spec: Spec
    classes: dict[str, list[str]] | None = None
    path: Path | None = None


def load_run(
    target: str | Path, spec_path: str | Path | None = None, trust: bool = False
) -> LoadedRun:
    """Load `RUN_DIR` or `MODEL.keras` (with `spec_path`, or the `spec.yaml` beside it).

    The model is loaded with Keras `safe_mode=True`; plugin code runs only when the spec names
    plugins, and a run's own plugin copies only with `trust` when the run came from another
    host or directory (or its plugin files changed). The run's data files need not exist.

    Raises:
        UntrustedRun: the run would import plugin code it was not trusted with.
        SpecError: no spec, or a model file that is not a Keras model archive.
    """
    target = Path(target)
    if target.is_dir():
        model_path, run_dir = target / "model.keras", target
    else:
        model_path, run_dir = target, target.parent
    if not model_path.is_file():
        raise KerasCliError(f"no model at {model_path} (is the run finished? see its run.json)")
    spec_file = Path(spec_path) if spec_path else run_dir / "spec.yaml"
    if not spec_file.is_file():
        raise SpecError(
            [
                Problem(
                    f"no spec for {model_path}: pass --spec SPEC (its data section says which "
                    "columns or arrays are the inputs and targets)",
                    "",
                    "--spec",
                )
            ]
        )
    spec = load_spec(spec_file, training=False)  # imports nothing
    record = _run_record(run_dir)
    if record is not None or spec_path is None or (run_dir / PLUGIN_DIR).is_dir():
        # a run directory (or what is left of one): its plugin code loads only with consent
        check_trust(run_dir, record or {}, spec, trust, own_spec=spec_path is None)
    builder = Builder(spec)
    custom = builder.registry.custom_objects()
    if spec.model.subclass is not None:
        cls = load_object(spec.model.subclass.class_)
        custom[cls.__name__] = cls
    model = _load_model(builder, model_path, custom)
    classes: dict[str, list[str]] | None = None  # unknown without a readable run record
    if record:
        saved = record.get("classes")
        saved = saved if isinstance(saved, dict) else {}
        classes = {(SINGLE if k == "target" else k): v for k, v in saved.items()}
    return LoadedRun(model, spec, classes, run_dir if target.is_dir() else None)


def _run_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's `run.json` (`{}` if unreadable, so a damaged record trusts nothing), or `None`
    outside a run directory."""
    path = run_dir / "run.json"
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_file():  # a directory, a device, a dangling link: nothing to read safely
        return {}
    try:
        return read_record(path)
    except UnreadableRun:
        return {}


MAX_MODEL_CONFIG = 64 * 2**20
"""The largest `config.json` / `metadata.json` a model archive may unpack to (64 MiB)."""


def _check_archive(path: Path) -> None:
    """Refuse, before Keras reads it, a model file that is not a zip archive or whose JSON
    members would unpack to more than `MAX_MODEL_CONFIG` (a zip bomb)."""

    def refuse(message: str) -> SpecError:
        return SpecError([Problem(message, "", str(path))])

    if not zipfile.is_zipfile(path):
        size = path.stat().st_size
        raise refuse(f"not a Keras model archive ({size} bytes): corrupt or truncated")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise refuse(f"not a Keras model archive: {exc}") from None
    for member in members:
        if member.filename.endswith(".json") and member.file_size > MAX_MODEL_CONFIG:
            raise refuse(
                f"{member.filename} unpacks to {member.file_size} bytes (the limit is "
                f"{MAX_MODEL_CONFIG}): not a model kerascli will load"
            )


def _load_model(builder: Builder, path: Path, custom: dict[str, Any]) -> Any:
    """The Keras model in `path` (safe mode), compiled from the spec if it was saved without."""
    _check_archive(path)
    try:
        model = builder.keras.saving.load_model(path, custom_objects=custom, safe_mode=True)
    except (
        ValueError,
        TypeError,
        OSError,
        KeyError,
        zipfile.BadZipFile,
        EOFError,
        RecursionError,
    ) as exc:
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(
            [Problem(f"cannot load the model (corrupt or truncated?): {cause}", "", str(path))]
        ) from exc
    if not getattr(model, "compiled", True) and builder.spec.compile.loss is not None:
        compile_model(builder, model)  # saved with compile=False: evaluate needs loss, metrics
    return model


def _trained_classes(run: LoadedRun) -> dict[str, list[str]]:
    """The class names the model was trained with: its run's record, or (a bare model file)
    those of the spec's training file, which `trained_classes` refuses to guess without."""
    return dict(run.classes) if run.classes is not None else trained_classes(run.spec)


def evaluate(
    run: LoadedRun, split: str = "test", data_file: str | Path | None = None
) -> dict[str, float]:
    """Metrics of the model on a split of the spec's data, or on a whole data file.

    A file's targets are encoded with the classes the model was trained with: those its
    `run.json` records or, for a bare model file, those of the spec's training file.
    """
    if data_file is not None:
        classes = _trained_classes(run)
        file = str(Path(data_file).resolve())
        values = read_split(run.spec, file, classes, fixed_classes=True)
    else:
        splits = load_data(run.spec).splits
        if split not in splits:
            message = f"the spec's data has no '{split}' split (it has: {', '.join(splits)})"
            raise SpecError([Problem(message, "", "--split")])
        values = splits[split]
    where = str(data_file) if data_file is not None else "--split"
    if values.rows == 0:
        raise SpecError([Problem("no rows to evaluate on", "", where)])
    dataset = make_dataset(values, run.spec.data, run.spec.fit.batch_size, None, training=False)
    result = run.model.evaluate(dataset, verbose=0, return_dict=True)
    if not result:  # nothing measured is not a pass
        message = "the model gives no metrics to evaluate (compile it with a loss and metrics)"
        raise SpecError([Problem(message, "", where)])
    return {k: float(v) for k, v in result.items()}


def _columns(
    label: str, prefix: str, values: np.ndarray, classes: list[str] | None
) -> dict[str, np.ndarray]:
    """Named prediction columns: the class label and one probability per class, or one per unit."""
    values = values.reshape(len(values), -1)
    if classes and values.shape[1] == len(classes) and len(classes) > 1:
        out = {label: np.array(classes)[values.argmax(axis=1)]}
        if classes == [str(i) for i in range(len(classes))]:  # integer labels stay integers
            out[label] = out[label].astype(np.int64)
        out.update({f"{prefix}p_{c}": values[:, i] for i, c in enumerate(classes)})
        return out
    if classes and len(classes) == 2 and values.shape[1] == 1:
        label_values = np.array(classes)[(values[:, 0] >= 0.5).astype(int)]
        if classes == ["0", "1"]:
            label_values = label_values.astype(np.int64)
        return {label: label_values, f"{prefix}p_{classes[1]}": values[:, 0]}
    if values.shape[1] == 1:
        return {label: values[:, 0]}
    return {f"{label}_{i}": values[:, i] for i in range(values.shape[1])}


def _probabilities(spec: Spec, output: str, values: np.ndarray) -> np.ndarray:
    """Logits of an output trained with `from_logits: true` as probabilities (softmax for a
    categorical loss, sigmoid per unit for a binary one); other outputs as they are."""
    kind = loss_kind(spec, output)
    if not kind or not loss_call(spec, output)[1].get("from_logits"):
        return values
    values = values.astype(np.float64)
    if kind != "binary" and values.ndim > 1 and values.shape[-1] > 1:
        shifted = np.exp(values - values.max(axis=-1, keepdims=True))
        return shifted / shifted.sum(axis=-1, keepdims=True)
    return 1.0 / (1.0 + np.exp(-values))


def _label(spec: Spec, output: str) -> str:
    if output != SINGLE:
        return output
    target = spec.data.target if spec.data is not None else None
    return target if isinstance(target, str) else "prediction"


def predict(
    run: LoadedRun,
    input_file: str | Path,
    output: str | Path | None = None,
    batch_size: int | None = None,
    keep: Sequence[str] = (),
    force: bool = False,
) -> dict[str, Any]:
    """Predict on a CSV/TSV/NPZ/NPY file (input columns by name, targets optional).

    Args:
        keep: Columns (or 1-D arrays) of the input file to pass through, first, into the
            predictions. Defaults to none.
        output: A file to write, in the format its extension names (`outputs.FORMATS`).
        force: Overwrite `output` if it exists. Defaults to `False`.
    """
    keep = list(keep)
    if output is not None:
        check_output(Path(output), force, keep)
    path = str(Path(input_file).resolve())
    split: Split = read_split(run.spec, path, {}, require_target=False)
    dataset = make_dataset(
        Split(split.x, None, split.rows),
        run.spec.data,
        batch_size or run.spec.fit.batch_size,
        None,
        training=False,
    )
    try:  # the label columns name the classes as training did, where that can be told
        known = _trained_classes(run)
    except SpecError:  # a bare model whose training file is gone: class ids, as numbers
        known = {}
    raw = run.model.predict(dataset, verbose=0)
    outputs = dict(raw) if isinstance(raw, dict) else {SINGLE: raw}
    columns = _prediction_columns(run.spec, outputs, known)
    if keep:
        columns = {**_kept_columns(run.spec, path, keep, columns), **columns}
    result = {"rows": split.rows, "columns": list(columns)}
    if output is not None:
        write_output(Path(output), columns, list(outputs.values()), split.rows)
        result["output"] = str(output)
    result["predictions"] = columns
    return result


def _prediction_columns(
    spec: Spec, outputs: dict[str, Any], known: dict[str, list[str]]
) -> dict[str, np.ndarray]:
    """The named columns of the model's `outputs` (by output; logits become probabilities in
    place), labelled with the `known` classes training used, else class ids where a
    crossentropy loss says the output is a classifier."""
    columns: dict[str, np.ndarray] = {}
    for name, values in outputs.items():
        prefix = "" if len(outputs) == 1 else f"{name}_"
        label = _label(spec, name)
        values = _probabilities(spec, name, np.asarray(values))
        outputs[name] = values
        classes = known.get(name)
        if classes is None:
            units = int(np.prod(values.shape[1:])) if values.ndim > 1 else 1
            classes = index_classes(spec, name, units)
        columns.update(_columns(label, prefix, values, classes))
    return columns


def _kept_columns(
    spec: Spec, path: str, names: list[str], predicted: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The input file's columns `names`, as written (CSV text) or as stored (1-D arrays)."""
    table = read_table(path, spec.data.format if spec.data is not None else None)
    csv = table.csv  # CSV text is read back for the kept columns only
    pool: list[str] = csv.names if csv is not None else list(table.columns)
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name in predicted:
            raise SpecError(
                [
                    Problem(
                        f"'{name}' is also a prediction column; keep another column", "", "--keep"
                    )
                ]
            )
        if name not in pool:
            hint = did_you_mean(name, pool)
            message = f"no column '{name}' in {Path(path).name}{hint}"
            raise SpecError([Problem(message, "", "--keep")])
        values = np.asarray(csv.cells(name) if csv is not None else table.columns[name])
        if values.ndim != 1:
            raise SpecError([Problem(f"array '{name}' is not one value per row", "", "--keep")])
        out[name] = values
    return out
