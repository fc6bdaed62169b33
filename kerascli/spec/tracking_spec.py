"""The `tracking:` section of a spec: where a run's parameters, metrics and files are logged
besides its run directory (MLflow). TensorBoard stays a callback (`callbacks: [TensorBoard]`).

What a run logs, and when, is decided in `kerascli.run.tracking`; the names and values MLflow is
given (the URI, the spec flattened into params) are computed here, without MLflow.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator

from kerascli.spec.calls import Strict

URI_SCHEMES = (
    "file",
    "http",
    "https",
    "databricks",
    "databricks-uc",
    "sqlite",
    "postgresql",
    "mysql",
    "mssql",
)
"""The tracking URI schemes MLflow's stores take (the SQL ones need the full `mlflow` package)."""

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

    @field_validator("uri")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        match = _SCHEME.match(value or "")
        if match and match.group(1).lower() not in URI_SCHEMES:
            raise ValueError(
                f"MLflow takes no '{match.group(1)}:' tracking URI here; expected a folder or "
                f"a {', '.join(s + ':' for s in URI_SCHEMES)} URI"
            )
        return value

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


# --- what MLflow is given (kerascli/run/tracking.py logs it) -------------------------------

MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value (mlflow/utils/validation.py)
MAX_KEY_LENGTH = 250
MAX_TAG_LENGTH = 8000
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")  # `C:\runs` is a path, not a URI
_UNSAFE = re.compile(r"[^\w\- ]")  # a key in a param name (`.` joins the keys)
_UNSAFE_METRIC = re.compile(r"[^\w\-. ]")  # MLflow also takes `/` and `:`, not everywhere


def tracking_uri(uri: str | None) -> str:
    """The MLflow tracking URI of `tracking.mlflow.uri`: a URI as it is (`http://host:5000`,
    `file:///abs/mlruns`, `databricks`), a folder as the `file:` URI of its absolute path,
    relative to the working directory. Defaults to `./mlruns`."""
    value = uri or DEFAULT_MLFLOW_URI
    if _SCHEME.match(value) or value == "databricks":
        return value
    return Path(value).expanduser().resolve().as_uri()


def flat_params(data: Any, prefix: str = "") -> dict[str, str]:
    """A resolved spec as MLflow params: dotted key paths (list items by index, a list of plain
    values as one JSON value), values as YAML writes them (`true`, `null`, `0.01`), cut to
    MLflow's length limits; characters MLflow refuses in a name become `_`."""
    if isinstance(data, dict) and data:
        items: list[tuple[str, Any]] = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, list) and data and not all(_plain(v) for v in data):
        items = [(str(i), v) for i, v in enumerate(data)]
    else:
        text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
        return {prefix[:MAX_KEY_LENGTH]: cut(text or '""', MAX_PARAM_LENGTH)}
    params: dict[str, str] = {}
    for key, value in items:
        name = _UNSAFE.sub("_", key) or "_"
        for k, v in flat_params(value, f"{prefix}.{name}" if prefix else name).items():
            while k in params:  # two keys alike once cleaned (`a b`, `a_b`): both kept
                k += "_"
            params[k] = v
    return params


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def mlflow_name(name: str) -> str:
    """A Keras log name MLflow takes (`output_1_loss` as it is)."""
    return _UNSAFE_METRIC.sub("_", name)[:MAX_KEY_LENGTH] or "_"
