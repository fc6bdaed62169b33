"""The Python API: everything the CLI does, as functions.

import kerascli
spec = kerascli.load_spec("model_specs/iris_mlp.yaml", overrides=["fit.epochs=5"])
model = kerascli.build_model(spec)          # a keras.Model
result = kerascli.train(spec, runs_dir="runs")
metrics = kerascli.evaluate(result.path)    # test split of the spec's data
predictions = kerascli.predict(result.path, "model_specs/data/iris.csv")
imported = kerascli.import_spec("MobileNetV3Small", "mobilenet.yaml", weights=True)
exported = kerascli.export(result.path, "onnx")   # parity checked: exported.parity
report = kerascli.report(result.path)       # per class precision/recall/F1, pictures
kerascli.plot("model_specs/iris_mlp.yaml", "model.png")
search = kerascli.tune("model_specs/iris_tune.yaml", max_trials=4)  # search.best_spec
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


def train(
    spec: Spec | None, runs_dir: str | Path = "runs", name: str | None = None, **kwargs: Any
) -> Any:
    """Train a spec into `runs_dir/<name>/<n>/`; returns a `RunResult` (path, metrics, history).
    A run that ends early raises `RunFailed` (its `cause`: what ended it) or `RunInterrupted`
    (`kerascli.RunFailed`, `kerascli.RunInterrupted`), each with the `run_dir` it marked.
    `weights=RUN|FILE` starts from another model's weights, layer by layer by name;
    `resume=RUN` continues a run (with `spec=None`, or `kerascli.run.resume.resume_spec(...)`
    for more epochs or other `fit` settings) into a new run beside it (`force=True`: a run left
    `running` by another host, whose process cannot be checked from here)."""
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
    "export",
    "import_spec",
    "load_spec",
    "plot",
    "predict",
    "report",
    "train",
    "tune",
]


def import_spec(source: str | Path, output: str | Path, **kwargs: Any) -> Any:
    """Write the spec of a Keras model (a `.keras`/`.h5` file or a `keras.applications` name)
    to `output`, as `kerascli import` does; returns an `ImportResult` (`spec`, `weights`,
    `unexpressible`). Arguments: `weights`, `input_shape`, `include_top`, `pooling`, `name`,
    `blocks`, `force` (see `kerascli.model.importer.import_spec`)."""
    from kerascli.model.importer import import_spec as _import_spec

    return _import_spec(source, output, **kwargs)


def export(
    target: str | Path, format: str = "saved_model", output: str | Path | None = None, **kwargs: Any
) -> Any:
    """Export a run's model as `saved_model` (TF Serving layout `<output>/<version>/`), `onnx`
    or `litert` into `output` (defaults to `<run>/export/<format>/`), after a parity check of the
    artifact against the Keras model on the test split; returns an `ExportResult` (`path`,
    `parity`, `gates`, `passed`). Arguments: `data`, `split`, `quantize`, `version`, `require`,
    `spec`, `trust` (see `kerascli.run.export.export_run`)."""
    from kerascli.run.export import export_run

    return export_run(target, format, output, **kwargs)


def report(
    target: str | Path,
    split: str = "test",
    data: str | Path | None = None,
    output: str | Path | None = None,
    spec: str | Path | None = None,
    trust: bool = False,
) -> dict[str, Any]:
    """The evaluation report of a run's model on a split (or a data source), as `kerascli
    evaluate --report` writes it: `report.json` and pictures in `output` (defaults to
    `<run>/report/<split>/`); returns the report document."""
    from kerascli.run.inference import evaluate as _evaluate
    from kerascli.run.report import report as _report
    from kerascli.run.saved_run import load_run

    run = load_run(target, spec, trust)
    return _report(run, split, data, output, metrics=_evaluate(run, split, data))


def plot(target: str | Path, output: str | Path, **options: Any) -> Path:
    """Draw the model of a spec file (built, not trained) or of a run into `output` (`.png`,
    `.svg`, `.pdf`, `.dot`), as `kerascli plot`; `options` are Keras `plot_model` arguments
    (`show_shapes`, `expand_nested`, `rankdir`, `dpi`, ...)."""
    from kerascli.run.model_plot import PlotOptions, model_to_plot, plot_model

    return plot_model(model_to_plot(target), output, PlotOptions(**options))


def tune(spec: str | Path, runs_dir: str | Path = "runs", **kwargs: Any) -> Any:
    """Search the hyperparameters of a spec file's `{choice: [...]}` / `{range: [...]}` values
    with KerasTuner, each trial a run in `<runs_dir>/<name>-tune/trial/`, as `kerascli tune`;
    returns a `TuneResult` (`trials`, `best`, `best_spec`: the written `best.yaml`). Arguments:
    `name`, `max_trials`, `objective`, `tuner` (random, hyperband, bayesian), `direction`,
    `overrides`, `seed`, `overwrite` (see `kerascli.run.tune.tune`)."""
    from kerascli.run.tune import tune as _tune

    return _tune(spec, runs_dir, **kwargs)
