"""`kerascli evaluate`: a trained model's metrics on a split of its spec's data or on a data
source, and with `--report` what it gets right and wrong per class (`kerascli.run.report`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kerascli.cli import render
from kerascli.cli.command import command
from kerascli.cli.commands_run import _apply_gates, _gates
from kerascli.cli.errors import GateFailed
from kerascli.cli.options import (
    BareSpecOpt,
    JsonOpt,
    QuietOpt,
    RequireOpt,
    TargetArg,
    TrustOpt,
    VerboseOpt,
)

ReportOpt = Annotated[
    bool,
    typer.Option(
        "--report",
        help="Also write report.json and pictures: per-class precision/recall/F1 and a "
        "confusion matrix, ROC and PR curves, residuals (in <run>/report/<split>/).",
    ),
]
ReportDirOpt = Annotated[
    Path | None,
    typer.Option(
        "--report-dir",
        help="Write the report into this folder (implies --report).",
        file_okay=False,
    ),
]


@command
def evaluate(
    target: TargetArg,
    spec: BareSpecOpt = None,
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            help="Evaluate on this whole source (a file, a glob, a folder, a gs:// path), "
            "streamed.",
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", help="Split of the spec's data.")] = "test",
    report: ReportOpt = False,
    report_dir: ReportDirOpt = None,
    require: RequireOpt = None,
    trust: TrustOpt = False,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Evaluate a trained model on a split of its spec's data, or on a data file."""
    gates = _gates(require)
    from kerascli.run.inference import evaluate as run_evaluate
    from kerascli.run.progress import use_plain
    from kerascli.run.saved_run import load_run

    run = load_run(target, spec, trust=trust)
    metrics = run_evaluate(run, split, data, sys.stderr, use_plain(sys.stderr, quiet))
    document = None
    if report or report_dir is not None:
        from kerascli.run.report import report as run_report
        from kerascli.run.report import report_dir as default_dir

        # a bare MODEL.keras (no run directory): the folder it is in
        out = report_dir or default_dir(run.path or target.parent, split, data)
        document = run_report(run, split, data, out, metrics)
    gate_results = _apply_gates(gates, metrics, json_)
    passed = all(r.passed for r in gate_results)
    where = str(data) if data else split
    if json_:
        result = {"ok": passed, "target": str(target), "data": where, "metrics": metrics}
        result["gates"] = [r.to_dict() for r in gate_results]
        render.print_json({**result, **({"report": document} if document else {})})
    else:
        render.stdout.print(render.metrics_table(f"evaluate {target}", {where: metrics}))
        if document is not None:
            _print_report(document)
    if not passed:
        raise GateFailed()


def _print_report(document: dict[str, Any]) -> None:
    """The report's summary: a table per output, and where its files are."""
    for name, entry in document["outputs"].items():
        if entry["kind"] == "regression":
            render.stdout.print(_regression_table(name, entry))
        else:
            render.stdout.print(_classifier_table(name, entry))
    pictures = sum(len(e["pictures"]) for e in document["outputs"].values())
    plural = "s" if pictures != 1 else ""
    render.stdout.print(
        render.text(f"report: {document['dir']} (report.json, {pictures} picture{plural})")
    )


def _classifier_table(name: str, entry: dict[str, Any]) -> Table:
    """Per-class precision, recall, F1 and support, with the averages (a classification
    report); a binary output's ROC AUC and average precision below it."""
    title = f"{name} ({entry['kind']}): accuracy {entry['accuracy']:.4f}"
    table = Table(title=render.text(title), title_justify="left")
    table.add_column("class")
    for column in ("precision", "recall", "f1", "support"):
        table.add_column(column, justify="right")

    def row(label: str, scores: dict[str, Any], style: str = "") -> None:
        cells = [f"{scores[k]:.4f}" for k in ("precision", "recall", "f1")]
        table.add_row(render.text(label, style), *cells, str(scores["support"]))

    for label, scores in entry["per_class"].items():
        row(label, scores)
    table.add_section()
    row("macro avg", entry["macro_avg"], "dim")
    row("weighted avg", entry["weighted_avg"], "dim")
    if entry["kind"] == "binary":
        table.caption = render.text(
            f"positive class {entry['positive_class']}: ROC AUC {_number(entry['roc_auc'])}, "
            f"average precision {_number(entry['average_precision'])}"
        )
        table.caption_justify = "left"
    return table


def _regression_table(name: str, entry: dict[str, Any]) -> Table:
    """A regression output's errors and its residuals (target - prediction)."""
    table = Table(title=render.text(f"{name} (regression)"), title_justify="left")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key in ("mae", "rmse", "r2"):
        table.add_row(key, _number(entry[key]))
    for key, value in entry["residuals"].items():
        table.add_row(f"residual {key}", _number(value))
    return table


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
