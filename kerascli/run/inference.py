"""Reuse a run: evaluate its model on a split or file, predict on new data.

Both read a file a chunk at a time where its reader streams it (`open_source(stream=True)`), so
any input size runs in bounded memory: `predict` writes each chunk's predictions as it goes
(`prediction_files`), `evaluate` feeds the stream to `model.evaluate`. The named prediction
columns are `output_keys.prediction_columns`; loading a run is `kerascli.run.saved_run`. The
report and the export's parity check read rows here too (`evaluation_data`, `chunks`).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from kerascli.data import load_data
from kerascli.data.model_arrays import Split
from kerascli.data.pipeline import make_dataset
from kerascli.data.read import read_table
from kerascli.data.sources import open_source, trained_classes
from kerascli.data.stream import Chunk, Stream, located_failures
from kerascli.run.output_keys import outputs_by_key, prediction_columns, probabilities
from kerascli.run.predict_batches import aligned, sized
from kerascli.run.predict_progress import RowsProgress, batch_counter
from kerascli.run.prediction_files import (
    PredictionWriter,
    check_output,
    prediction_file,
    text_stream,
)
from kerascli.run.saved_run import LoadedRun
from kerascli.spec.facts import is_remote, written_targets
from kerascli.spec.models import DataSpec, Spec
from kerascli.spec.problems import DataError, Problem, SpecError, did_you_mean

PREVIEW_ROWS = 10_000
"""The rows of predictions `predict` returns when it writes them (to `output` or `echo`): the
first ones; every row when it writes none."""


def _trained_classes(run: LoadedRun) -> dict[str, list[str]]:
    """The class names the model was trained with: its run's record, or (a bare model file)
    those of the spec's training file, which `trained_classes` refuses to guess without."""
    return dict(run.classes) if run.classes is not None else trained_classes(run.spec)


def _source_path(source: str | Path) -> str:
    """A source given on the command line: a local path made absolute, a remote one as it is."""
    return str(source) if is_remote(source) else str(Path(source).resolve())


def _opened(spec: Spec, path: str, classes: dict[str, list[str]], **how: Any) -> Split | Stream:
    """`path` as its reader gives it, streamed where it can be (`open_source(stream=True)`)."""
    return open_source(spec, path, classes, stream=True, **how)


def evaluation_data(
    run: LoadedRun, split: str = "test", data_file: str | Path | None = None
) -> Split | Stream:
    """The rows `evaluate` measures (and `report` describes): a split of the spec's data, or a
    whole data file whose targets are encoded with the classes the model was trained with."""
    if data_file is not None:
        file = _source_path(data_file)
        values = _opened(run.spec, file, _trained_classes(run), fixed_classes=True)
    else:
        splits = load_data(run.spec).splits
        if split not in splits:
            message = f"the spec's data has no '{split}' split (it has: {', '.join(splits)})"
            raise SpecError([Problem(message, "", "--split")])
        values = splits[split]
    if values.rows == 0:
        raise SpecError([Problem("no rows to evaluate on", "", str(data_file or "--split"))])
    return values


def comparison_data(
    run: LoadedRun, split: str = "test", data_file: str | Path | None = None
) -> tuple[Split | Stream, bool]:
    """The rows `evaluation_data` gives, for a check that needs only their inputs (the export's
    parity check), and whether they have targets: a data file without the target columns (or
    arrays) of the spec is read without them."""
    try:
        return evaluation_data(run, split, data_file), True
    except DataError as error:
        if data_file is None or not _lacks_targets(run.spec, error):
            raise
    return _opened(run.spec, _source_path(data_file), {}, require_target=False), False


def _lacks_targets(spec: Spec, error: DataError) -> bool:
    """Whether `error` is a reader's word for a missing target column or array."""
    names = written_targets(spec.data) if spec.data is not None else []
    missing = {f"no {what} '{name}'" for name in names for what in ("column", "array")}
    return any(p.message.startswith(tuple(missing)) for p in error.problems) if missing else False


def evaluate(
    run: LoadedRun,
    split: str = "test",
    data_file: str | Path | None = None,
    progress: TextIO | None = None,
    plain: bool = True,
) -> dict[str, float]:
    """Metrics of the model on a split of the spec's data, or on a whole data file.

    A file's targets are encoded with the classes the model was trained with: those its
    `run.json` records or, for a bare model file, those of the spec's training file.

    Args:
        progress: Where to show the rows evaluated (stderr). Defaults to nowhere.
        plain: Plain lines there instead of a bar (`RowsProgress`). Defaults to `True`.
    """
    values = evaluation_data(run, split, data_file)
    no_rows = SpecError([Problem("no rows to evaluate on", "", str(data_file or "--split"))])
    size = run.spec.fit.batch_size
    with located_failures([values]), RowsProgress("evaluate", values.rows, progress, plain) as bar:
        dataset = make_dataset(values, run.spec.data, size, None, training=False)
        counter = batch_counter(bar, size)
        with warnings.catch_warnings():  # Keras's word for the end of a stream of unknown size
            warnings.filterwarnings("ignore", "Your input ran out of data")
            result = run.model.evaluate(dataset, verbose=0, return_dict=True, callbacks=[counter])
    if counter.batches == 0:  # a stream that held no rows
        raise no_rows
    if not result:  # nothing measured is not a pass
        message = "the model gives no metrics to evaluate (compile it with a loss and metrics)"
        raise SpecError([Problem(message, "", str(data_file or "--split"))])
    return {k: float(v) for k, v in result.items()}


def predict(
    run: LoadedRun,
    input_file: str | Path,
    output: str | Path | None = None,
    batch_size: int | None = None,
    keep: Sequence[str] = (),
    force: bool = False,
    echo: TextIO | None = None,
    progress: TextIO | None = None,
    plain: bool = True,
) -> dict[str, Any]:
    """Predict on a data file (input columns by name, targets optional), a chunk at a time;
    returns `rows`, `columns` (their names), `output` (the file written, when given) and
    `predictions` (`{column: array}`: every row; the first `PREVIEW_ROWS` when written).

    Args:
        output: A file to write, in the format its extension names (`prediction_files.FORMATS`),
            chunk by chunk; it appears once every row is written. `force`: overwrite it.
        batch_size: Rows per batch. Defaults to the spec's `fit.batch_size`.
        keep: Columns (or 1-D arrays) of the input to pass through, first, into the
            predictions. Defaults to none.
        echo: A text stream (stdout) to write the predictions on as CSV, chunk by chunk,
            when there is no `output`. Defaults to none.
        progress: Where to show the rows predicted and rows/s (stderr). Defaults to nowhere.
        plain: Plain lines there instead of a bar (`RowsProgress`). Defaults to `True`.
    """
    keep = list(keep)
    if output is not None:
        check_output(Path(output), force, keep)
    path = _source_path(input_file)
    source = _opened(run.spec, path, {}, require_target=False, keep=keep)
    known = known_classes(run)
    size, chunks = sized(_chunks(run.spec, source, path, keep), batch_size, run.spec)
    data = (run.spec.data or DataSpec(path=path)).model_copy(update={"cache": False})  # read once
    collected = _Collected(PREVIEW_ROWS if output is not None or echo is not None else None)
    with (
        _writer(output, echo) as writer,
        located_failures([source]),
        RowsProgress("predict", source.rows, progress, plain) as bar,
    ):
        for chunk in aligned(chunks, size):
            columns, arrays = _predicted(run, chunk, data, size, known, keep)
            writer.write(columns, arrays)
            collected.add(columns)
            bar.advance(chunk.split.rows)
        if collected.rows == 0:  # (nothing written)
            raise DataError("no rows to predict on", path)
    result: dict[str, Any] = {"rows": collected.rows, "columns": collected.names}
    result.update({"output": str(output)} if output is not None else {})
    return {**result, "predictions": collected.columns()}


def _predicted(
    run: LoadedRun,
    chunk: Chunk,
    data: DataSpec,
    size: int,
    known: dict[str, list[str]],
    keep: list[str],
) -> tuple[dict[str, np.ndarray], list[np.ndarray]]:
    """A chunk's named columns, its kept columns first, and the model's outputs (logits as
    probabilities)."""
    outputs = predicted_outputs(run, chunk.split, data, size)
    columns = prediction_columns(run.spec, outputs, known)
    return {**_kept(chunk, keep, columns), **columns}, list(outputs.values())


def predicted_outputs(
    run: LoadedRun, split: Split, data: DataSpec | None, size: int
) -> dict[str, np.ndarray]:
    """The model's outputs on the inputs of `split` (its targets unread), `size` rows a batch,
    by output key (`outputs_by_key`), logits as probabilities (`probabilities`)."""
    dataset = make_dataset(Split(split.x, None, split.rows), data, size, None, training=False)
    raw = outputs_by_key(run.model.predict(dataset, verbose=0))
    return {key: probabilities(run.spec, key, values) for key, values in raw.items()}


def chunks(values: Split | Stream) -> Iterator[Chunk]:
    """The chunks of `values`, targets included: a stream's as it reads them (its reader's
    located errors kept: `Stream.guarded`), a split in memory as one."""
    if isinstance(values, Stream):
        yield from values.guarded(values.chunks())
    else:
        yield Chunk(values)


def known_classes(run: LoadedRun) -> dict[str, list[str]]:
    """The classes the label columns are named with, as training named them where that can be
    told; none for a bare model whose training file is gone (class ids, as numbers)."""
    try:
        return _trained_classes(run)
    except SpecError:
        return {}


@contextmanager
def _writer(output: str | Path | None, echo: TextIO | None) -> Iterator[PredictionWriter]:
    """The file's writer, CSV on `echo`, or (neither given) one that writes nothing."""
    if output is not None:
        with prediction_file(Path(output)) as writer:
            yield writer
    else:
        yield text_stream(echo) if echo is not None else PredictionWriter()


class _Collected:
    """The predictions kept to return: every row, or the first `limit`."""

    def __init__(self, limit: int | None) -> None:
        self.limit, self.rows, self.held = limit, 0, 0
        self.names: list[str] = []
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, columns: dict[str, np.ndarray]) -> None:
        rows = len(next(iter(columns.values()))) if columns else 0
        self.names = self.names or list(columns)
        take = rows if self.limit is None else min(rows, self.limit - self.held)
        if take > 0:
            self.parts.append({k: v[:take] for k, v in columns.items()})
            self.held += take
        self.rows += rows

    def columns(self) -> dict[str, np.ndarray]:
        if len(self.parts) == 1:
            return self.parts[0]
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.names}


def _chunks(spec: Spec, source: Split | Stream, path: str, keep: list[str]) -> Iterator[Chunk]:
    """The input's chunks, without targets: a stream's as it reads them, a file read into
    memory as one (its kept columns read from the file)."""
    kept = _kept_columns(spec, path, keep) if keep and isinstance(source, Split) else {}
    for chunk in chunks(source):
        yield Chunk(Split(chunk.split.x, None, chunk.split.rows), chunk.kept or kept)


def _kept(chunk: Chunk, names: list[str], predicted: dict[str, Any]) -> dict[str, np.ndarray]:
    """The chunk's kept columns `names`, in that order; none may be a prediction column."""
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name in predicted:
            message = f"'{name}' is also a prediction column; keep another column"
            raise SpecError([Problem(message, "", "--keep")])
        if name not in chunk.kept:  # (a reader refuses an unknown column first)
            raise SpecError([Problem(f"no column '{name}' in the input", "", "--keep")])
        out[name] = chunk.kept[name]
    return out


def _kept_columns(spec: Spec, path: str, names: list[str]) -> dict[str, np.ndarray]:
    """The input file's columns `names`, as written (CSV text) or as stored (1-D arrays)."""
    table = read_table(path, spec.data.format if spec.data is not None else None)
    csv = table.csv  # CSV text is read back for the kept columns only
    pool: list[str] = csv.names if csv is not None else list(table.columns)
    out: dict[str, np.ndarray] = {}
    for name in names:
        if name not in pool:
            hint = did_you_mean(name, pool)
            message = f"no column '{name}' in {Path(path).name}{hint}"
            raise SpecError([Problem(message, "", "--keep")])
        values = np.asarray(csv.cells(name) if csv is not None else table.columns[name])
        if values.ndim != 1:
            raise SpecError([Problem(f"array '{name}' is not one value per row", "", "--keep")])
        out[name] = values
    return out
