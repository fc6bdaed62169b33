"""Log a run to MLflow when its spec has `tracking.mlflow` (`train --mlflow URI`).

One MLflow run per kerascli run, in the experiment `tracking.mlflow.experiment` (the spec's
`name` by default, made if missing) at `tracking.mlflow.uri` (a file store in `./mlruns` by
default). It holds the flattened resolved spec as params (`compile.optimizer.Adam.learning_rate`),
each epoch's logs as metrics (step = the epoch, 1-based as in `history.csv`), the final
evaluation (`test_accuracy`; the train and validation splits as `final_loss`, `final_val_loss`,
since `loss` and `val_loss` are the per-epoch series) and the run directory's files as
artifacts. It ends FINISHED, FAILED or KILLED as the kerascli run does.

MLflow is reached before training: a missing `mlflow` or an unreachable server fails the run
at once (bounded retries and timeouts). Once training runs, a logging failure is a warning
and the run goes on. MLflow is imported only here, when a spec asks for it.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from kerascli.run.rundir import RunDir
from kerascli.spec.dump import resolved_spec
from kerascli.spec.log_names import SPLIT_PREFIXES
from kerascli.spec.models import Spec
from kerascli.spec.problems import KerasCliError, cause_line
from kerascli.spec.tracking_spec import (
    MAX_TAG_LENGTH,
    MlflowSpec,
    cut,
    flat_params,
    mlflow_name,
    tracking_uri,
)

INSTALL = "tracking with MLflow needs mlflow: pip install 'kerascli[tracking]'"

HTTP_BOUNDS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
}
"""How long one MLflow call may wait on a server (three tries, 10 s each, 1-2 s apart), where
the environment does not say; MLflow's own defaults retry for minutes."""


class TrackingError(KerasCliError):
    """MLflow is missing, cannot be reached or refuses the run (before training starts)."""


def final_metrics(metrics: dict[str, dict[str, float]]) -> dict[str, float]:
    """The final evaluation's metrics for MLflow: a test split's as `test_accuracy` (the names
    `RunResult.flat_metrics()` gives), the train and validation splits' as `final_loss`,
    `final_val_loss` (`loss` and `val_loss` hold one value per epoch)."""
    final = {}
    for split, values in metrics.items():
        prefix = SPLIT_PREFIXES.get(split, f"{split}_")
        if split in ("train", "validation"):
            prefix = f"final_{prefix}"
        final.update({f"{prefix}{name}": float(value) for name, value in values.items()})
    return final


@contextlib.contextmanager
def tracked(spec: Spec, run: RunDir, chief: bool = True) -> Iterator[Tracker]:
    """Track `run` in MLflow while the block runs (nothing without `tracking.mlflow`, nor on a
    worker that is not the chief). The block calls `start()` before training and trains with
    `callbacks`; when it ends, the final metrics and the run directory are logged and the MLflow
    run ends FINISHED, FAILED (an exception) or KILLED (Ctrl-C, SIGTERM).

    Args:
        spec: The run's spec.
        run: The run directory; put this around its `recording`, so the files logged at the end
            are final (`run.json` says how the run ended).
        chief: Whether this process writes the run. Defaults to `True`.
    """
    settings = spec.tracking.mlflow if spec.tracking is not None and chief else None
    tracker = Tracker(spec, run, settings)
    try:
        yield tracker
    except KeyboardInterrupt:
        tracker.end("KILLED")
        raise
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end("FINISHED")


class Tracker:
    """One kerascli run's MLflow run (see `tracked`); does nothing when `settings` is `None`.

    Args:
        spec: The run's spec.
        run: The run directory.
        settings: The spec's `tracking.mlflow`.
    """

    def __init__(self, spec: Spec, run: RunDir, settings: MlflowSpec | None) -> None:
        self.spec, self.run, self.settings = spec, run, settings
        self.uri = tracking_uri(settings.uri) if settings is not None else None
        self.run_id: str | None = None
        self.callbacks: list[Any] = []
        """The Keras callbacks that log each epoch's metrics (one once `start` ran)."""
        self._client: Any = None
        self._broken = False  # a call failed while training: log no more epochs
        self.epoch = 0  # the last epoch trained

    def start(self) -> None:
        """Make the MLflow run and log the params; record it in `run.json` (`tracking`).

        Raises:
            TrackingError: `mlflow` is not installed, or MLflow cannot be reached or refuses
                the run.
        """
        if self.settings is None or self.uri is None:
            return
        try:
            self._client = self._call(_client, self.uri)
            experiment_id = self._call(self._experiment)
            created = self._call(self._client.create_run, experiment_id, **self._run_args())
        except TrackingError:
            raise
        except Exception as exc:
            raise TrackingError(f"cannot log to MLflow at {self.uri}: {_reason(exc)}") from exc
        self.run_id = created.info.run_id
        mlflow = {"uri": self.uri, "experiment_id": experiment_id, "run_id": self.run_id}
        self.run.update(tracking={"mlflow": mlflow})
        self._safely("params", self._log_params, stop=False)  # e.g. a value too long
        self.callbacks = [_epoch_logger(self)]

    def _experiment(self) -> str:
        """The id of the experiment the run goes into, made if missing."""
        from mlflow.exceptions import MlflowException

        name = (self.settings.experiment if self.settings else None) or self.spec.name
        found = self._client.get_experiment_by_name(name)
        if found is None:
            try:
                return str(self._client.create_experiment(name))
            except MlflowException:  # made meanwhile by another run
                found = self._client.get_experiment_by_name(name)
                if found is None:
                    raise
        if found.lifecycle_stage != "active":
            raise TrackingError(
                f"MLflow experiment {name!r} at {self.uri} is deleted: restore it "
                f"(mlflow experiments restore --experiment-id {found.experiment_id}) "
                "or set tracking.mlflow.experiment"
            )
        return str(found.experiment_id)

    def _run_args(self) -> dict[str, Any]:
        record, settings = self.run.record, self.settings
        name = (settings.run_name if settings else None) or f"{record['name']}/{record['n']}"
        tags = {
            "kerascli.run_dir": str(self.run.path.resolve()),
            "kerascli.version": str(record.get("versions", {}).get("kerascli", "unknown")),
            "kerascli.command": str(record.get("command", "")),
            **(settings.tags if settings else {}),
        }
        return {"run_name": name, "tags": {k: cut(v, MAX_TAG_LENGTH) for k, v in tags.items()}}

    def _log_params(self) -> None:
        from mlflow.entities import Param

        params = flat_params(resolved_spec(self.spec))
        self._client.log_batch(self.run_id, params=[Param(k, v) for k, v in params.items()])

    def log_epoch(self, epoch: int, logs: dict[str, Any]) -> None:
        """Log an epoch's metrics at step `epoch` (1-based); a failure is a warning, after which
        no more epochs are logged."""
        self.epoch = epoch
        values = {k: float(v) for k, v in logs.items() if hasattr(v, "__float__")}
        if self.run_id is not None:
            self._safely(f"epoch {epoch}", lambda: self._log_metrics(values, epoch))

    def _log_metrics(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        stamp = int(time.time() * 1000)
        metrics = [Metric(mlflow_name(k), v, stamp, step) for k, v in values.items()]
        if metrics:
            self._client.log_batch(self.run_id, metrics=metrics)

    def _log_final(self) -> None:
        metrics = json.loads((self.run.path / "metrics.json").read_text(encoding="utf-8"))
        self._log_metrics(final_metrics(metrics), self.epoch)

    def end(self, status: str) -> None:
        """Log the final metrics and the run directory's files, and end the MLflow run with
        `status`; after a failed call only the status is set. Never raises."""
        if self.run_id is None:
            return
        if (self.run.path / "metrics.json").is_file():  # the run evaluated the model
            self._safely("final metrics", self._log_final)
        self._safely(
            "artifacts", lambda: self._client.log_artifacts(self.run_id, str(self.run.path))
        )
        self._broken = False
        self._safely(f"status {status}", lambda: self._client.set_terminated(self.run_id, status))

    def _safely(self, what: str, call: Callable[[], Any], stop: bool = True) -> None:
        """Make an MLflow call; a failure is a warning on stderr (and in `train.log`), after
        which (with `stop`) only the status is sent."""
        if self._broken:
            return
        try:
            self._call(call)
        except Exception as exc:
            self._broken = stop
            line = f"warning: MLflow at {self.uri}: could not log {what} ({_reason(exc)})"
            self.run.note(line)
            print(line, file=sys.stderr)

    def _call(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """`call(*args, **kwargs)` with bounded HTTP retries and MLflow's file store allowed (where
        the environment does not say), MLflow's deprecation warnings and info logs kept off the
        terminal."""
        defaults = dict(HTTP_BOUNDS)
        if self.uri is not None and self.uri.startswith("file:"):
            defaults["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3.x refuses it unless asked
        with _environ_defaults(defaults), _quiet():
            return call(*args, **kwargs)


def _client(uri: str) -> Any:
    """An `MlflowClient` of `uri`."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise TrackingError(INSTALL) from None
    return MlflowClient(uri)


_REASONS = (r"\[Errno -?\d+\][^'\")]*", r"[^'\"(]*timed out[^'\")]*")


def _reason(exc: BaseException) -> str:
    """Why an MLflow call failed, short: the socket's error (`[Errno 111] Connection refused`,
    `... timed out`) rather than MLflow's paragraph about the request and its retries."""
    text = str(exc)
    for pattern in _REASONS:
        found = re.search(pattern, text)
        if found:
            return found.group(0).strip(" .:")
    return cause_line(exc)[:300]


def _epoch_logger(tracker: Tracker) -> Any:
    """A Keras callback that hands each epoch's logs to `tracker.log_epoch`."""
    import keras

    class MlflowEpochs(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            tracker.log_epoch(epoch + 1, logs or {})

    return MlflowEpochs()


@contextlib.contextmanager
def _environ_defaults(values: dict[str, str]) -> Iterator[None]:
    """Set the environment variables of `values` not set already, while the block runs."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow's FutureWarnings and DeprecationWarnings (the file store's deprecation in MLflow 3)
    and its INFO logs off while the block runs; its errors, warnings and warning logs stay."""
    import logging

    logger = logging.getLogger("mlflow")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        with warnings.catch_warnings():
            for category in (FutureWarning, DeprecationWarning):  # only MLflow runs here
                warnings.filterwarnings("ignore", category=category)
            yield
    finally:
        logger.setLevel(level)
