"""Rendering for the CLI: problems, tables and JSON, on Rich consoles."""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

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


def print_json(document: Any) -> None:
    """Print one strict JSON document on stdout, nothing else (NaN is written as null)."""
    text = json.dumps(_finite(document), indent=2, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


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
