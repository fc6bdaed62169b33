"""`evaluate --report`: what a model gets right and wrong on a split, per output, as
`report.json` and pictures in a folder (`<run>/report/<split>/` by default).

The rows are those `evaluate` measures (`inference.evaluation_data`), predicted a chunk at a time
as `predict` predicts them (`inference.predicted_outputs`: logits become probabilities).
Each output is described by `report_outputs` (what it is, from its loss; its numbers from
`report_metrics`, its pictures from `report_plots`); every output is described before any
file is written, so a refused one leaves nothing behind.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from kerascli.data.model_arrays import Arrays, Split
from kerascli.data.stream import Stream, located_failures
from kerascli.run import report_metrics as rm
from kerascli.run.inference import chunks, evaluation_data, known_classes, predicted_outputs
from kerascli.run.output_keys import output_name, outputs_by_key
from kerascli.run.predict_batches import predict_batch_size
from kerascli.run.report_outputs import Picture, describe
from kerascli.run.rundir import write_json
from kerascli.run.saved_run import LoadedRun
from kerascli.spec.problems import KerasCliError, Problem, SpecError

REPORT_FILE = "report.json"


def report_dir(base: Path, split: str = "test", data_file: str | Path | None = None) -> Path:
    """Where a report goes by default: `<base>/report/<split>/`, or for a data source
    `<base>/report/data-<its file name>/`."""
    if data_file is None:
        return base / "report" / split
    name = re.sub(r"[^\w.-]+", "_", str(data_file).rstrip("/").rsplit("/", 1)[-1]) or "data"
    return base / "report" / f"data-{name}"


def report(
    run: LoadedRun,
    split: str = "test",
    data_file: str | Path | None = None,
    out_dir: str | Path | None = None,
    metrics: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Describe the model's outputs on a split of its spec's data (or a whole data source):
    write `report.json` and the pictures into `out_dir`, and return the document.

    Args:
        out_dir: The folder to write. Defaults to `report_dir(run.path, split, data_file)`
            (a run directory's; a bare model file needs one).
        metrics: `evaluate`'s metrics on the same rows, kept in the report. Defaults to none.

    Raises:
        SpecError: an output the report cannot describe, or no folder for a bare model.
    """
    if out_dir is None and run.path is None:
        message = "a model file outside a run directory needs a folder for its report"
        raise SpecError([Problem(message, "", "--report-dir")])
    out = Path(out_dir) if out_dir is not None else report_dir(run.path or Path(), split, data_file)
    values = evaluation_data(run, split, data_file)
    predicted, targets, rows = _predictions(run, values)
    known = known_classes(run)
    described: dict[str, Any] = {}
    pictures: list[Picture] = []
    for key, values_ in predicted.items():
        name = output_name(run.spec, key)
        prefix = _file_name(name)
        entry, drawn = describe(run.spec, key, name, values_, targets[key], known, out, prefix)
        described[name] = entry
        pictures += drawn
    out.mkdir(parents=True, exist_ok=True)
    for draw in pictures:
        draw()
    document = {
        "data": str(data_file) if data_file is not None else split,
        "rows": rows,
        "dir": str(out),
        "outputs": described,
        "evaluate": dict(metrics or {}),
        "definitions": rm.DEFINITIONS,
    }
    write_json(out / REPORT_FILE, document)
    return document


def _file_name(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


def _predictions(
    run: LoadedRun, values: Split | Stream
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
    """The model's outputs (probabilities where it gives logits) and the targets, by output
    key, over every row; and the rows."""
    data = run.spec.data.model_copy(update={"cache": False}) if run.spec.data else None
    outputs: dict[str, list[np.ndarray]] = {}
    targets: dict[str, list[np.ndarray]] = {}
    rows = 0
    with located_failures([values]):
        for chunk in chunks(values):
            split = chunk.split
            size = predict_batch_size(run.spec.fit.batch_size, split.x)
            for key, array in predicted_outputs(run, split, data, size).items():
                outputs.setdefault(key, []).append(array)
                targets.setdefault(key, []).append(_target(split.y, key))
            rows += split.rows
    if rows == 0:
        raise SpecError([Problem("no rows to report on", "", "--split")])
    joined = {k: np.concatenate(v) for k, v in outputs.items()}
    return joined, {k: np.concatenate(v) for k, v in targets.items()}, rows


def _target(y: Arrays | None, key: str) -> np.ndarray:
    """The targets of output `key` in a split's `y` (by the key its outputs have)."""
    if y is None:
        raise KerasCliError("the data has no targets to report against")
    return np.asarray(outputs_by_key(y)[key])
