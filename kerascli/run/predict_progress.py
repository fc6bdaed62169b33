"""Progress of `predict` and `evaluate` over rows, on stderr (stdout may hold the predictions or
the JSON document): a Rich bar with the rows done and rows/s on a terminal; elsewhere (a pipe,
CI, `--quiet`) a plain line every `PLAIN_EVERY` seconds, so a short run prints nothing and a
long one leaves a readable log.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.text import Text

PLAIN_EVERY = 10.0
"""Seconds between two plain progress lines (and the least a run takes to get a last line)."""


class RowsProgress:
    """Rows done so far, shown as they advance; a context manager (the bar shows while it runs).

    Args:
        what: The command, first on each line (`predict`, `evaluate`).
        total: The rows there are, where known (a folder's files, a file read into memory).
        out: Where the progress goes (stderr); `None` shows nothing.
        plain: Plain lines instead of a bar (`kerascli.run.progress.use_plain`).
        clock: Seconds, for the rates. Defaults to `time.monotonic`.
    """

    def __init__(
        self,
        what: str,
        total: int | None,
        out: TextIO | None,
        plain: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what, self.total, self.out, self.plain, self.clock = what, total, out, plain, clock
        self.rows = 0
        self.start = self.shown = 0.0
        self.bar: Progress | None = None

    def __enter__(self) -> RowsProgress:
        self.start = self.shown = self.clock()
        if self.out is not None and not self.plain:
            self.bar = _bar(self.out)
            self.task = self.bar.add_task(self.what, total=self.total)
            self.bar.start()
        return self

    def advance(self, rows: int) -> None:
        """`rows` more rows are done."""
        self.rows += rows
        if self.total is not None:
            self.rows = min(self.rows, self.total)
        if self.bar is not None:
            self.bar.update(self.task, completed=self.rows)
        elif self.out is not None and self.clock() - self.shown >= PLAIN_EVERY:
            self.shown = self.clock()
            self._line(self.line())

    def line(self) -> str:
        """`predict: 131,072 of 290,000 rows (45%) - 52,300 rows/s`."""
        done = f"{self.rows:,}"
        if self.total:
            done += f" of {self.total:,}"
        share = f" ({100 * self.rows / self.total:.0f}%)" if self.total else ""
        return f"{self.what}: {done} rows{share} - {_rate(self.rows, self.clock() - self.start)}"

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self.bar is not None:
            self.bar.stop()
        seconds = self.clock() - self.start
        if kind is None and self.out is not None and seconds >= PLAIN_EVERY:
            rate = _rate(self.rows, seconds)
            self._line(f"{self.what}: {self.rows:,} rows in {seconds:.1f}s - {rate}")

    def _line(self, text: str) -> None:
        assert self.out is not None
        self.out.write(text + "\n")
        self.out.flush()


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s" if seconds > 0 else "- rows/s"


class _RowsColumn(ProgressColumn):
    """`131,072/290,000 rows`, or `131,072 rows` when the total is not known."""

    def render(self, task: Task) -> Text:
        total = f"/{int(task.total):,}" if task.total is not None else ""
        return Text(f"{int(task.completed):,}{total} rows")


class _RateColumn(ProgressColumn):
    """`52,300 rows/s` (Rich's estimate over the last seconds)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s")


def _bar(out: TextIO) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        _RowsColumn(),
        _RateColumn(),
        TimeElapsedColumn(),
        console=Console(file=out),
        transient=True,
    )


def batch_counter(progress: RowsProgress, batch_size: int) -> Any:
    """A `keras.callbacks.Callback` for `evaluate`: counts the batches it sees (`batches`)
    and advances `progress` by `batch_size` rows each (the last batch's rows counted whole,
    up to the total where it is known)."""
    import keras

    class BatchCounter(keras.callbacks.Callback):
        batches = 0

        def on_test_batch_end(self, batch: int, logs: dict[str, Any] | None = None) -> None:
            self.batches += 1
            progress.advance(batch_size)

    return BatchCounter()
