"""Training progress: a Rich progress bar on a terminal, one plain line per epoch otherwise."""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


def format_logs(logs: dict[str, Any]) -> str:
    parts = []
    for key, value in logs.items():
        try:
            parts.append(f"{key}: {float(value):.4f}")
        except (TypeError, ValueError):
            continue
    return " - ".join(parts)


def use_plain(stream: TextIO, quiet: bool) -> bool:
    """Plain lines when asked, under CI, or when the stream is not a terminal."""
    import os

    return quiet or bool(os.environ.get("CI")) or not stream.isatty()


def make_progress(epochs: int, stream: TextIO | None = None, plain: bool | None = None) -> Any:
    """The progress callback for a run (a `keras.callbacks.Callback`).

    Args:
        epochs: The run's `fit.epochs`.
        stream: Where the progress goes. Defaults to stdout.
        plain: One line per epoch instead of a progress bar. Defaults to "not a terminal".
    """
    out: TextIO = stream or sys.stdout
    plain = use_plain(out, False) if plain is None else plain
    plain_progress = _plain_progress(epochs, out)
    return plain_progress() if plain else _rich_progress(plain_progress, epochs, out)()


def _plain_progress(epochs: int, out: TextIO) -> Any:
    """The class of a callback writing one line per epoch on `out`."""
    import keras

    class PlainProgress(keras.callbacks.Callback):
        """One line per epoch: `epoch 3/20 - 0.4s - loss: 0.1234 - val_loss: ...`."""

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            seconds = time.perf_counter() - self.start
            width = len(str(epochs))
            line = (
                f"epoch {epoch + 1:>{width}}/{epochs} - {seconds:.1f}s - {format_logs(logs or {})}"
            )
            out.write(line + "\n")
            out.flush()

    return PlainProgress


def _rich_progress(base: Any, epochs: int, out: TextIO) -> Any:
    """The class of a callback showing a Rich progress bar on `out` (a `base` subclass)."""

    class RichProgress(base):  # type: ignore[misc, valid-type]
        """A live bar per epoch with the running loss, and a line per finished epoch."""

        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            self.console = Console(file=out)
            self.bar = Progress(
                TextColumn("epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[metrics]}"),
                console=self.console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("train", total=None, epoch="", metrics="")

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            super().on_epoch_begin(epoch, logs)
            steps = self.params.get("steps")
            total = steps if steps and not math.isnan(float(steps)) else None
            self.bar.reset(self.task, total=total, epoch=f"{epoch + 1}/{epochs}", metrics="")

        def on_train_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.bar.update(self.task, completed=batch + 1, metrics=format_logs(logs or {}))

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            seconds = time.perf_counter() - self.start
            self.console.print(
                f"[bold]epoch {epoch + 1}/{epochs}[/bold] - {seconds:.1f}s - {format_logs(logs or {})}",
                highlight=False,
            )

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            self.bar.stop()

    return RichProgress
