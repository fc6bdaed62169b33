"""`kerascli evaluate`: a trained model's metrics on a split of its spec's data or on a data
source."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

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
    gate_results = _apply_gates(gates, metrics, json_)
    passed = all(r.passed for r in gate_results)
    where = str(data) if data else split
    if json_:
        render.print_json(
            {
                "ok": passed,
                "target": str(target),
                "data": where,
                "metrics": metrics,
                "gates": [r.to_dict() for r in gate_results],
            }
        )
    else:
        render.stdout.print(render.metrics_table(f"evaluate {target}", {where: metrics}))
    if not passed:
        raise GateFailed()
