"""The `tracking:` section of a spec: where a run's parameters, metrics and files are logged
besides its run directory (MLflow). TensorBoard stays a callback (`callbacks: [TensorBoard]`).

What a run logs, and when, is decided in `kerascli.run.tracking`.
"""

from __future__ import annotations

from pydantic import Field

from kerascli.spec.calls import Strict

DEFAULT_MLFLOW_URI = "mlruns"
"""Where MLflow logs when no `uri` is given: a file store in `./mlruns` (MLflow's own default
folder), relative to the working directory."""


class MlflowSpec(Strict):
    """An MLflow tracking server or store to log each run to (kerascli/run/tracking.py)."""

    uri: str | None = Field(
        None,
        description="The MLflow tracking URI: a folder or `file:` URI (a local file store), "
        "`http(s)://host:port` (a tracking server), `databricks`. Defaults to a file store in "
        "`./mlruns`.",
        examples=["mlruns", "http://localhost:5000"],
    )
    experiment: str | None = Field(
        None,
        description="The MLflow experiment the run goes into (made if missing). Defaults to the "
        "spec's `name`.",
        examples=["iris"],
    )
    run_name: str | None = Field(
        None,
        description="The MLflow run's name. Defaults to the run directory's `<name>/<n>`.",
    )
    tags: dict[str, str] = Field(
        default_factory=dict,
        description="Tags set on the MLflow run, besides kerascli's own (`kerascli.run_dir`).",
        examples=[{"team": "vision"}],
    )


class TrackingSpec(Strict):
    """Experiment trackers a run logs to; each is opt-in."""

    mlflow: MlflowSpec | None = Field(
        None,
        description="Log to MLflow: the flattened resolved spec as params, per-epoch and test "
        "metrics, the run directory as artifacts (`--mlflow URI` sets it on the command line).",
        examples=[{"uri": "mlruns", "experiment": "iris"}],
    )
