"""The spec's callbacks, with file-writing callbacks defaulting into the run directory."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from kerascli.model.builder import Builder
from kerascli.run.backup import Backups
from kerascli.run.gates import Gate, check_names
from kerascli.run.progress import make_progress
from kerascli.run.rundir import atomic_write
from kerascli.run.stages import total_epochs
from kerascli.run.train_state import BACKUP, no_state_reason, state_saver
from kerascli.spec.dump import resolved_spec
from kerascli.spec.facts import RUN_DIR_DEFAULTS, run_dir_default
from kerascli.spec.log_names import SPLIT_PREFIXES, training_names
from kerascli.spec.models import Spec, call_parts


def backup_name(spec: Spec) -> str:
    """`backup-<hash>`: one backup per model, compile and data sections, so a run resumes only
    from a backup of the same model trained the same way."""
    data = resolved_spec(spec)
    sections = ("model", "compile", "data", *(("stages",) if spec.stages else ()))
    key = json.dumps({k: data.get(k) for k in sections}, sort_keys=True)
    return f"backup-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def _default_path(
    name: str,
    args: dict[str, Any],
    run_path: Path,
    backup: str = "backup",
    backups: Backups | None = None,
) -> dict[str, Any]:
    """`args` with the callback's path resolved (by default `facts.run_dir_default`): relative
    paths go into the run directory (a backup beside it); a backup directory is claimed for
    the run (`Backups.claim`)."""
    key = RUN_DIR_DEFAULTS.get(name)
    if key is None:
        return args
    args = dict(args)
    value = Path(str(args.get(key, run_dir_default(name, args, backup))))
    if value.is_absolute() and backups is not None and backups.worker and name != BACKUP:
        value = run_path / value.name  # one file a worker: a non-chief writes in its own run
    if not value.is_absolute():
        # A backup is for the next run of the same name to resume from: it lives beside the
        # numbered runs (runs/<name>/backup), not inside one of them.
        value = (run_path.parent if name == BACKUP else run_path) / value
    value.parent.mkdir(parents=True, exist_ok=True)
    if name == BACKUP and backups is not None:
        if (
            backups.placement is not None
        ):  # a worker stopped mid-write: resume from the state before
            args.setdefault("double_checkpoint", True)
        value = backups.claim(value)  # locked, checked, maybe `<backup>-2`
    args[key] = str(value)
    return args


def spec_callbacks(builder: Builder, run_path: Path, backups: Backups | None = None) -> list[Any]:
    """Instantiate the spec's callbacks; `TerminateOnNaN` is added unless listed.

    Args:
        builder: The spec's builder.
        run_path: The run directory; callbacks' relative paths go into it.
        backups: Claims `BackupAndRestore`'s directory for the run. Defaults to `None` (the
            directory is used as it is).
    """
    spec = builder.spec
    out = []
    names = []
    for i, call in enumerate(spec.callbacks):
        name, args = call_parts(call)
        names.append(name)
        out.append(
            builder.instantiate(
                "callbacks",
                name,
                _default_path(name, args, run_path, backup_name(spec), backups),
                ("callbacks", i),
            )
        )
    if "TerminateOnNaN" not in names:
        out.append(builder.keras.callbacks.TerminateOnNaN())
    return out


def history_writer(path: Path, rows: Sequence[dict[str, Any]] = ()) -> Any:
    """A callback that rewrites `history.csv` after every epoch (kept if a run dies); while its
    `stage` is set (a spec with fine-tuning stages), each row says the stage it trained in.
    `rows` come first (a resumed run's, `--resume`)."""
    import keras

    class HistoryWriter(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[dict[str, Any]] = list(rows)
            self.stage: str | None = None

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            row: dict[str, Any] = {"epoch": epoch + 1}
            if self.stage is not None:
                row["stage"] = self.stage
            for key, value in (logs or {}).items():
                try:
                    row[key] = float(value)
                except (TypeError, ValueError):
                    continue
            if "learning_rate" not in row:  # the rate this epoch trained with
                rate = getattr(self.model.optimizer, "learning_rate", None)
                try:
                    row["learning_rate"] = float(keras.ops.convert_to_numpy(rate))
                except (TypeError, ValueError):
                    pass
            self.rows.append(row)
            columns: list[str] = []
            for r in self.rows:
                columns += [k for k in r if k not in columns]
            buffer = io.StringIO()
            writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(self.rows)
            atomic_write(path, buffer.getvalue())

        @property
        def nan_epoch(self) -> int | None:
            for row in self.rows:
                if any(isinstance(v, float) and math.isnan(v) for v in row.values()):
                    return int(row["epoch"])
            return None

    return HistoryWriter()


def gate_name_check(gates: list[Any], splits: list[str]) -> Any:
    """A callback that ends training after its first epoch if a `--require` gate names a metric
    the run will not report (the final metrics are the epoch's, per split: `loss`,
    `val_loss`, `test_loss`...), instead of failing only once training is over."""
    import keras

    class GateNameCheck(keras.callbacks.Callback):
        checked = False

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if self.checked:
                return
            self.checked = True
            base = training_names(logs or {})
            names = [f"{SPLIT_PREFIXES[s]}{k}" for s in splits if s in SPLIT_PREFIXES for k in base]
            check_names(gates, names)

    return GateNameCheck()


def monitor_check(builder: Builder, validation: bool) -> Any:
    """A callback that ends training after its first epoch if a callback's `monitor` names
    something the epoch did not log (Keras's callbacks would only warn, and do nothing), and
    before a `ModelCheckpoint` saves if its `filepath` names a `{field}` the logs lack (Keras
    would fail with a `KeyError`): after the first batch for one that saves every `save_freq`
    batches, else after the first epoch.

    `validate` checks them where the spec alone tells the names (kerascli/spec/monitor.py);
    this checks them all against the real logs, with the same rule. Put it before the callbacks
    it checks: they see the same logs, and Keras's `mode: auto` fails on an unknown name.

    Args:
        builder: The spec's builder (to locate a problem in the YAML).
        validation: Whether training has validation data (so the `val_` names are logged, on
            the epochs `fit.validation_freq` validates).
    """
    import keras

    from kerascli.spec.monitor import monitors, path_fields

    fields = [f for f in path_fields(builder.spec) if not f.after_plugin]

    class MonitorCheck(keras.callbacks.Callback):
        checked = False

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if self.checked:
                return
            self.checked = True
            names = training_names(logs or {})
            for monitor in monitors(builder.spec):
                message = monitor.problem(names, validation)
                if message is not None and not monitor.after_plugin:
                    raise builder.error(monitor.path, message, at_key=not monitor.explicit)
            _check_fields(builder, [f for f in fields if not f.per_batch], names, validation)

    class BatchCheck(MonitorCheck):  # (a batch hook costs Keras its asynchronous dispatch)
        batch_checked = False

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            if not self.batch_checked:
                self.batch_checked = True
                per_batch = [f for f in fields if f.per_batch]
                _check_fields(builder, per_batch, training_names(logs or {}), False)

    return BatchCheck() if any(f.per_batch for f in fields) else MonitorCheck()


def _check_fields(builder: Builder, fields: list[Any], names: list[str], validation: bool) -> None:
    """Raise the located problem of the first path field whose `{field}` `names` lack."""
    for field in fields:
        message = field.problem(names, validation)
        if message is not None:
            raise builder.error(field.path, message)


def training_callbacks(
    builder: Builder,
    run_path: Path,
    history: Any,
    log: TextIO,
    backups: Backups,
    splits: Sequence[str],
    gates: Sequence[Gate],
    progress: TextIO | None,
    plain: bool | None,
) -> list[Any]:
    """The callbacks of a run, in the order Keras calls them: the writers first (`history`,
    then a line per epoch in `log`), so an epoch is on disk even if a later callback fails;
    the checks of the names the first epoch logs (`--require` gates, then the spec's
    `monitor`s) before the spec's callbacks that use them; the save of the training state
    (`state.npz`, after the spec's callbacks, which may change the learning rate); the
    progress on `progress` last.

    Args:
        builder: The spec's builder.
        run_path: The run directory; the spec's callbacks' relative paths go into it.
        history: The run's `history_writer`.
        log: The run's `train.log`.
        backups: Claims the run's `BackupAndRestore` directory.
        splits: The data's splits (`train`, `validation`, `test`).
        gates: The `--require` gates; none adds no gate check.
        progress: Where the progress goes (`None`: stdout).
        plain: One line per epoch instead of a progress bar (`None`: when not a terminal).
    """
    spec = builder.spec  # the state `--resume` goes on from (the rule `--resume` refuses by)
    saved = no_state_reason(spec, workers=backups.placement is not None) is None
    epochs = total_epochs(spec)
    log_lines = make_progress(epochs, log, plain=True)
    spec_part = spec_callbacks(builder, run_path, backups)
    monitor_checks = monitor_check(builder, "validation" in splits)
    gate_checks = [gate_name_check(list(gates), list(splits))] if gates else []
    shown = make_progress(epochs, progress, plain)
    checks = [*gate_checks, monitor_checks]
    save = state_saver(run_path) if saved else []
    return [history, log_lines, *checks, *spec_part, *save, shown]
