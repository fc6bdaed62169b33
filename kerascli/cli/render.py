"""Rendering for the CLI: problems, tables, JSON and the files commands write, on Rich consoles.

Only Rich and the standard library at import: the CLI starts without the library.

Long because every command's tables live here, each a few lines, so they look alike.
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from kerascli.spec.problems import Problem

stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def _finite(value: Any) -> Any:
    """`NaN` and infinities become `null`: strict JSON has no token for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


_json_stdout: TextIO | None = None  # while a --json command runs: the stdout it started with


@contextlib.contextmanager
def json_mode(enabled: bool) -> Iterator[None]:
    """While the block runs (if `enabled`), stdout holds only what `print_json` and
    `write_stdout` write: every other print, ours, Keras's or a plugin's, goes to stderr."""
    global _json_stdout
    if not enabled:
        yield
        return
    saved, _json_stdout = _json_stdout, sys.stdout
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _json_stdout = saved


def write_stdout(text: str) -> None:
    """Write `text` on stdout, also in --json mode (e.g. the document a command prints)."""
    out = _json_stdout or sys.stdout
    out.write(text)
    out.flush()


def print_json(document: Any) -> None:
    """Print one strict JSON document on stdout, nothing else (NaN is written as null)."""
    write_stdout(json.dumps(_finite(document), indent=2, default=str, allow_nan=False) + "\n")


def write_file(path: Path, text: str) -> int:
    """Write `text` to `path` as UTF-8, making its folder; the number of bytes written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return len(text.encode("utf-8"))


def problems_text(problems: list[Problem]) -> Text:
    text = Text()
    for problem in problems:
        text.append(problem.location(), style="bold")
        text.append(": ")
        if problem.path:
            text.append(problem.path, style="cyan")
            text.append(": ")
        text.append(problem.message, style="red")
        text.append("\n")
    return text


def print_problems(problems: list[Problem]) -> None:
    stderr.print(problems_text(problems), end="")
    n = len(problems)
    stderr.print(f"[red]{n} problem{'s' if n != 1 else ''} found[/red]")


def error(message: str) -> None:
    stderr.print(Text("error: ", style="bold red") + Text(message))


def metrics_table(title: str, rows: dict[str, dict[str, float]]) -> Table:
    """A table of metrics: one row per metric name, one column per split."""
    splits = list(rows)
    names: list[str] = []
    for values in rows.values():
        names += [n for n in values if n not in names]
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for split in splits:
        table.add_column(split, justify="right")
    for name in names:
        cells = [f"{rows[s][name]:.4f}" if name in rows[s] else "" for s in splits]
        table.add_row(name, *cells)
    return table


_STATUS_COLOURS = {
    "completed": "green",
    "failed": "red",
    "interrupted": "yellow",
    "terminated": "yellow",
    "running": "cyan",
    "dead": "magenta",  # `running`, but its process is gone (`runs.list_runs`)
}
_SPLIT_TITLES = {"test": "test metrics", "validation": "validation metrics", "train": "metrics"}
MAX_METRIC_COLUMNS = 3


def text(value: Any, style: str = "") -> Text:
    """A table cell or title from a file or a path, shown as written: Rich markup in it is
    not interpreted, and terminal control codes are removed or shown escaped (`plain_text`)."""
    from kerascli.spec.problems import plain_text

    return Text(plain_text(str(value)), style=style)


def gates_table(results: list[Any]) -> Table:
    """The `--require` gates, each with its value (4 significant digits: a difference of 2e-7
    is not 0.0000) and pass or FAIL (shown when one failed)."""
    table = Table(title="quality gates failed", title_justify="left", title_style="bold red")
    for column in ("gate", "value", "result"):
        table.add_column(column)
    for r in results:
        table.add_row(
            str(r.gate), f"{r.value:.4g}", "[green]pass[/green]" if r.passed else "[red]FAIL[/red]"
        )
    return table


def comparison(diff: dict[str, Any], a: Path, b: Path) -> list[RenderableType]:
    """`kerascli runs --compare`: the metrics of runs `a` and `b` side by side, then where
    their specs differ. Names and values from the runs' files are shown as written (`text`)."""
    # columns named NAME/N: whole paths would be cut down to the same prefix
    label_a, label_b = (f"{p.parent.name}/{p.name}" for p in (a, b))
    if label_a == label_b:
        label_a, label_b = str(a), str(b)
    metrics = Table(title="metrics", title_justify="left")
    metrics.add_column("metric", no_wrap=True)
    for column in (text(label_a), text(label_b), "change"):
        metrics.add_column(column, justify="right")
    for row in diff["metrics"]:
        va, vb = row["a"], row["b"]
        change = f"{vb - va:+.4f}" if va is not None and vb is not None else ""
        metrics.add_row(text(row["metric"]), _number(va), _number(vb), change)
    if not diff["spec_diff"]:
        return [metrics, "specs are identical"]
    specs = Table(title="spec differences", title_justify="left")
    specs.add_column("key", no_wrap=True)
    for column in (label_a, label_b):
        specs.add_column(text(column))
    for row in diff["spec_diff"]:
        specs.add_row(text(row["key"]), text(repr(row["a"])), text(repr(row["b"])))
    return [metrics, specs]


def predictions_written(output: Path, rows: int, columns: list[str]) -> str:
    """What `predict --output` wrote: the rows and columns, or the shape of a `.npy` array
    (the model's raw outputs, not the named columns)."""
    if output.suffix.lower() == ".npy":
        import numpy as np

        shape = np.load(output, mmap_mode="r").shape
        return f"wrote an array of shape {shape} (the model's outputs) to {output}"
    return f"wrote {rows} rows ({', '.join(columns)}) to {output}"


def runs_table(records: list[dict[str, Any]], title: str) -> RenderableType:
    """The `kerascli runs` table: one row per run, with its held-out (test, else validation)
    metrics as columns, or in one wrapped column when the runs have more than a few. Every
    text from a `run.json` is shown as written (`text`). The trials of a search (`kerascli
    tune`) show their `columns` instead: trial, hyperparameters, objective."""
    if records and all("columns" in r for r in records):
        return _trials_table(records, title)
    names: list[str] = []
    for r in records:
        names += [m for m in r.get("metrics", {}) if m not in names]
    from kerascli.spec.log_names import SPLIT_PREFIXES  # (not on the start-up path)

    held_out = ("test", "validation")
    split = next(
        (s for s in held_out if any(n.startswith(SPLIT_PREFIXES[s]) for n in names)), "train"
    )
    prefix = SPLIT_PREFIXES[split]
    if prefix:
        names = [n for n in names if n.startswith(prefix)]
    table = Table(title=text(f"{title} ({_SPLIT_TITLES[split]})"), title_justify="left")
    for column in ("name", "n", "status", "started", "duration"):
        table.add_column(column, no_wrap=True)
    wide = len(names) > MAX_METRIC_COLUMNS
    if wide:
        table.add_column(_SPLIT_TITLES[split], ratio=1)
    else:
        for column in names:
            table.add_column(text(column.removeprefix(prefix)), justify="right", no_wrap=True)
    for r in records:
        metrics = r.get("metrics", {})
        status = r.get("status", "?")
        cell = text(status, _STATUS_COLOURS.get(status, "white"))
        if any(not g.get("passed") for g in r.get("gates", [])):
            cell.append("\ngate failed", style="red")
        if wide:
            shown = [f"{n.removeprefix(prefix)} {metrics[n]:.4f}" for n in names if n in metrics]
            values = [text("  ".join(shown))]
        else:
            values = [Text(_number(metrics.get(n))) for n in names]
        table.add_row(
            text(r["name"]),
            text(r["n"]),
            cell,
            text(_date(r.get("started"))),
            f"{r['duration_s']:.1f}s" if "duration_s" in r else "",
            *values,
        )
    return table


def _trials_table(records: list[dict[str, Any]], title: str) -> RenderableType:
    """A search's trials: trial, hyperparameters (`columns`), objective, the run's number,
    status and duration; the hyperparameters in one wrapped column where their own columns do
    not fit the console, so that the others always show."""
    found = (r.get("trial", {}).get("objective") for r in records)
    objective = next((o for o in found if isinstance(o, str)), None)
    spaces = list(dict.fromkeys(c for r in records for c in r["columns"]))
    spaces = [c for c in spaces if c not in ("trial", objective)]
    last = [*([objective] if objective else []), "n", "status", "duration"]
    apart, together = (Table(title=text(title), title_justify="left") for _ in "ab")
    for column in ["trial", *spaces, *last]:
        apart.add_column(text(column), justify="right", no_wrap=True)
    for column in ["trial", "hyperparameters", *last]:
        wraps = column == "hyperparameters"
        together.add_column(column, justify="left" if wraps else "right", no_wrap=not wraps)
    for r in records:
        values, status = r["columns"], r.get("status", "?")
        own = [_cell(values.get(c)) for c in spaces]
        ends = [Text(_number(values.get(objective)))] if objective else []
        ends += [text(r.get("n", "")), text(status, _STATUS_COLOURS.get(status, "white"))]
        ends.append(Text(f"{r['duration_s']:.1f}s" if "duration_s" in r else ""))
        shown = "  ".join(f"{c}={v}" for c, v in zip(spaces, own, strict=True) if v.plain)
        apart.add_row(_cell(values.get("trial")), *own, *ends)
        together.add_row(_cell(values.get("trial")), text(shown), *ends)
    return _Fitting(apart, together)


class _Fitting:
    """`first` where it fits the console's width, else `second`."""

    def __init__(self, first: RenderableType, second: RenderableType) -> None:
        self.first, self.second = first, second

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        natural = Measurement.get(console, options.update_width(10_000), self.first)
        yield self.first if natural.maximum <= options.max_width else self.second


def _cell(value: Any) -> Text:
    return text("" if value is None else f"{value:.4g}" if isinstance(value, float) else value)


def _date(stamp: str | None) -> str:
    """`Nov 25 15:49` this year, `Nov 25  2025` before (as `ls -l` shows dates), local time."""
    if not stamp:
        return ""
    try:
        when = datetime.fromisoformat(stamp).astimezone()
    except ValueError:
        return stamp
    if when.year == datetime.now().year:
        return when.strftime("%b %d %H:%M")
    return when.strftime("%b %d  %Y")


def _number(value: Any) -> str:
    return "" if value is None else f"{value:.4f}"


def summary_table(summary: dict[str, Any]) -> Table:
    """`kerascli summary`: one row per layer, the parameter counts below."""
    table = Table(title=f"{summary['name']} ({summary['class']})", title_justify="left")
    table.add_column("layer")
    table.add_column("type")
    table.add_column("output shape")
    table.add_column("params", justify="right")
    for layer in summary["layers"]:
        table.add_row(layer["name"], layer["class"], layer["output_shape"], f"{layer['params']:,}")
    table.caption = (
        f"total {summary['total_params']:,} · trainable {summary['trainable_params']:,} · "
        f"non-trainable {summary['non_trainable_params']:,}"
    )
    table.caption_justify = "left"
    return table
