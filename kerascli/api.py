"""The Python API: everything the CLI does, as functions.

import kerascli
spec = kerascli.load_spec("model_specs/iris_mlp.yaml", overrides=["fit.epochs=5"])
model = kerascli.build_model(spec)          # a keras.Model
result = kerascli.train(spec, runs_dir="runs")
metrics = kerascli.evaluate(result.path)    # test split of the spec's data
predictions = kerascli.predict(result.path, "model_specs/data/iris.csv")
imported = kerascli.import_spec("MobileNetV3Small", "mobilenet.yaml", weights=True)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kerascli.run.rundir import RunFailed, RunInterrupted
from kerascli.spec import Spec, load_spec


def build_model(spec: Spec) -> Any:
    """Build the `keras.Model` a spec describes."""
    from kerascli.model.builder import build_model as _build

    return _build(spec)


def train(spec: Spec, runs_dir: str | Path = "runs", name: str | None = None, **kwargs: Any) -> Any:
    """Train a spec into `runs_dir/<name>/<n>/`; returns a `RunResult` (path, metrics, history).
    A run that ends early raises `RunFailed` (its `cause`: what ended it) or `RunInterrupted`
    (`kerascli.RunFailed`, `kerascli.RunInterrupted`), each with the `run_dir` it marked."""
    from kerascli.run.trainer import train as _train

    return _train(spec, runs_dir=runs_dir, name=name, **kwargs)


def evaluate(
    target: str | Path,
    split: str = "test",
    data: str | Path | None = None,
    spec: str | Path | None = None,
    trust: bool = False,
) -> dict[str, float]:
    """Metrics of a run's model (or a MODEL.keras with `spec`) on a split or a data file;
    `trust` imports the plugin code of a run that came from elsewhere."""
    from kerascli.run.inference import evaluate as _evaluate
    from kerascli.run.saved_run import load_run

    return _evaluate(load_run(target, spec, trust), split, data)


def predict(
    target: str | Path,
    input_file: str | Path,
    output: str | Path | None = None,
    batch_size: int | None = None,
    spec: str | Path | None = None,
    keep: list[str] | None = None,
    force: bool = False,
    trust: bool = False,
) -> dict[str, Any]:
    """Predictions of a run's model on a data source (a CSV/TSV/Parquet/NPZ/NPY/TFRecord file, a
    glob, a folder), as named columns, read a chunk at a time (and a file in the format
    `output`'s extension names, written as it goes; `force` overwrites it; `predictions` then
    holds its first 10 000 rows). `keep` passes input columns through; `trust` imports the
    plugin code of a run that came from elsewhere."""
    from kerascli.run.inference import predict as _predict
    from kerascli.run.saved_run import load_run

    return _predict(
        load_run(target, spec, trust), input_file, output, batch_size, keep or [], force
    )


__all__ = [
    "RunFailed",
    "RunInterrupted",
    "build_model",
    "evaluate",
    "load_spec",
    "predict",
    "train",
]


def import_spec(source: str | Path, output: str | Path, **kwargs: Any) -> Any:
    """Write the spec of a Keras model (a `.keras`/`.h5` file or a `keras.applications` name)
    to `output`, as `kerascli import` does; returns an `ImportResult` (`spec`, `weights`,
    `unexpressible`). Arguments: `weights`, `input_shape`, `include_top`, `pooling`, `name`,
    `blocks`, `force` (see `kerascli.model.importer.import_spec`)."""
    from kerascli.model.importer import import_spec as _import_spec

    return _import_spec(source, output, **kwargs)
