"""`kerascli export`: a run's model as a SavedModel (TensorFlow Serving's layout), ONNX or
LiteRT artifact, its parity with the Keras model checked (`kerascli.run.export.export_run`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from kerascli.cli import render
from kerascli.cli.command import command
from kerascli.cli.errors import GateFailed
from kerascli.cli.options import BareSpecOpt, JsonOpt, TargetArg, TrustOpt, VerboseOpt


def _format_names(incomplete: str) -> list[str]:
    """`--format`'s shell completion: the formats of `kerascli.run.export_formats.FORMATS`
    (imported when completing only: `kerascli --help` imports no run code)."""
    from kerascli.run.export_formats import FORMATS

    return [name for name in FORMATS if name.startswith(incomplete)]


FormatOpt = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="saved_model (TensorFlow Serving's layout, DIR/VERSION/), onnx (DIR/model.onnx) "
        "or litert (DIR/model.tflite).",
        autocompletion=_format_names,
    ),
]
DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="The export directory. Defaults to RUN/export/FORMAT.",
        file_okay=False,
        show_default=False,
    ),
]
ParityGateOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--require",
        "-r",
        help="A gate on the parity check, METRIC OP NUMBER (repeatable): max_abs_diff, "
        "mean_abs_diff, export_nonfinite, class_agreement, keras_accuracy, export_accuracy, "
        "accuracy_change, keras_mae, export_mae, mae_change, rows; e.g. 'max_abs_diff<1e-4'. "
        "Without one: max_abs_diff<1e-3 (none with --quantize); export_nonfinite==0 always. "
        "A failed gate publishes nothing (exit 3).",
    ),
]


DataOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="Check parity on this whole source instead of a split (without its target "
        "columns: outputs and classes only, no accuracy).",
    ),
]
SplitOpt = Annotated[str, typer.Option("--split", help="Split to check parity on.")]
QuantizeOpt = Annotated[
    bool,
    typer.Option("--quantize", help="LiteRT only: dynamic-range quantization (int8 weights)."),
]
VersionOpt = Annotated[
    int | None,
    typer.Option(
        "--version",
        min=1,
        help="SavedModel only: the version directory (never overwritten). Defaults to the "
        "next free one.",
        show_default=False,
    ),
]
SilentOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="No progress lines on stderr (what it is doing).")
]


@command
def export(
    target: TargetArg,
    format_: FormatOpt = "saved_model",
    output: DirOpt = None,
    data: DataOpt = None,
    split: SplitOpt = "test",
    quantize: QuantizeOpt = False,
    version: VersionOpt = None,
    require: ParityGateOpt = None,
    spec: BareSpecOpt = None,
    trust: TrustOpt = False,
    quiet: SilentOpt = False,
    verbose: VerboseOpt = False,
    json_: JsonOpt = False,
) -> None:
    """Export a trained model as a SavedModel, ONNX or LiteRT artifact, checked against the
    Keras model on the test split (parity)."""
    from kerascli.run.export import export_run

    result = export_run(
        target,
        format_,
        output,
        data=data,
        split=split,
        quantize=quantize,
        version=version,
        require=require or [],
        spec=spec,
        trust=trust,
        progress=None if quiet else sys.stderr,
    )
    _show(result, target, json_)
    if not result.passed:
        raise GateFailed()


def _show(result: Any, target: Path, json_: bool) -> None:
    """The parity table and the artifact (or the JSON document); the gates when one failed."""
    if json_:
        render.print_json({"ok": result.passed, "target": str(target), **result.to_dict()})
        return
    render.stdout.print(parity_table(result))
    if result.path is not None:
        render.stdout.print(f"exported: [bold]{render.text(result.path)}[/bold]")
    else:
        render.stderr.print(render.gates_table(result.gates))
        render.stderr.print("a gate failed: nothing was exported")


def parity_table(result: Any) -> Table:
    """The parity figures: a row per figure, a column per output of the artifact."""
    parity = result.parity
    title = f"parity: {result.format} vs Keras, {parity.rows} rows of the {result.data}"
    table = Table(title=render.text(title), title_justify="left")
    table.add_column("")
    names: list[str] = []
    for name, values in parity.outputs.items():
        table.add_column(render.text(name), justify="right")
        names += [n for n in values if n not in names]
    for figure in names:
        cells = [_cell(values.get(figure)) for values in parity.outputs.values()]
        table.add_row(figure, *cells)
    notes = [f"artifact size {result.size_bytes / 1024:.1f} KiB"] if result.size_bytes else []
    if not result.labelled:
        notes.append("no targets in the data: the accuracy (or MAE) change needs labelled data")
    table.caption = "; ".join(notes) or None
    return table


def _cell(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
