"""The arguments and options the commands share, as `Annotated` types (Typer's own style).

Only Typer and the standard library here: the whole CLI is built from these at start-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer


def directory_path(path: Path) -> Path:
    """A directory argument none of whose parents is a file (`file_okay=False` checks only the
    path itself)."""
    for parent in path.parents:
        if os.path.exists(parent) and not os.path.isdir(parent):
            raise typer.BadParameter(f"'{path}': {parent} is a file, not a directory")
    return path


# --- what every command may take (`kerascli.cli.command` reads these by name) ---------------
DebugOpt = Annotated[bool, typer.Option("--debug", help="Show the traceback of a failure.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
VerboseOpt = Annotated[bool, typer.Option("--verbose", help="Show TensorFlow's logs.")]

# --- specs ------------------------------------------------------------------------------------
SpecArg = Annotated[Path, typer.Argument(help="The YAML spec.", show_default=False)]
SpecsArg = Annotated[list[Path], typer.Argument(help="Spec files.", show_default=False)]
TrainSpecArg = Annotated[
    Path | None,
    typer.Argument(help="The YAML spec (none with --resume).", show_default=False),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option("--set", "-s", help="Override a spec value: key.path=value (repeatable)."),
]

# --- training ---------------------------------------------------------------------------------
EpochsOpt = Annotated[int | None, typer.Option("--epochs", help="Override fit.epochs.", min=1)]
TrainEpochsOpt = Annotated[
    int | None,
    typer.Option(
        "--epochs",
        help="Override fit.epochs; with --resume, the total epochs (those done included).",
        min=1,
    ),
]
WeightsOpt = Annotated[
    str | None,
    typer.Option(
        "--weights",
        help="Start from the weights of a run (directory or NAME/N), a .keras or a .weights.h5 "
        "file, layer by layer by name; the layers not matched are reported.",
        show_default=False,
    ),
]
MlflowOpt = Annotated[
    str | None,
    typer.Option(
        "--mlflow",
        help="Log the run to MLflow at this tracking URI (a folder is a file store), as "
        "--set tracking.mlflow.uri=URI.",
        show_default=False,
    ),
]
ResumeOpt = Annotated[
    str | None,
    typer.Option(
        "--resume",
        help="Continue a finished or interrupted run (directory or NAME/N) for more epochs, "
        "its optimizer state and history included, in a new run beside it.",
        show_default=False,
    ),
]
ForceResumeOpt = Annotated[
    bool,
    typer.Option(
        "--force",
        help="With --resume: resume a run still marked running on another host, whose process "
        "cannot be checked from here (it ended there without saying so: a power cut).",
    ),
]
RunsDirOpt = Annotated[
    Path,
    typer.Option("--runs-dir", help="Where runs go.", file_okay=False, callback=directory_path),
]
NameOpt = Annotated[
    str | None, typer.Option("--name", help="Run name. Defaults to the spec's name.")
]
RequireOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--require",
        "-r",
        help="A quality gate METRIC OP NUMBER (repeatable): train's metrics are named "
        "'accuracy', 'val_accuracy', 'test_accuracy'; evaluate's by their own name, "
        "e.g. 'accuracy>=0.9'.",
    ),
]
QuietOpt = Annotated[
    bool, typer.Option("--quiet", "-q", help="Plain lines instead of progress bars.")
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Train on N local worker processes (MultiWorkerMirroredStrategy); worker 0, the "
        "chief, writes the run.",
        show_default=False,
    ),
]
MaxRestartsOpt = Annotated[
    int,
    typer.Option(
        "--max-restarts",
        min=0,
        help="With --workers: start all the workers again, up to K times, after one crashed "
        "(a backup resumes the run).",
    ),
]

# --- trained models ---------------------------------------------------------------------------
TargetArg = Annotated[
    Path,
    typer.Argument(help="A run directory or a MODEL.keras file.", show_default=False, exists=True),
]
BareSpecOpt = Annotated[
    Path | None, typer.Option("--spec", help="Spec for a bare MODEL.keras.", exists=True)
]
TrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust",
        help="Import the plugin code kept in a run that came from another host or directory.",
    ),
]
InputFileArg = Annotated[
    str,  # not a Path: `gs://bucket/x.csv` must stay a URL
    typer.Argument(
        help="The input: a CSV, TSV, Parquet, NPZ, NPY or TFRecord file, a glob of them, a "
        "folder of images or texts, or a gs:// path; the spec's input columns by name (any "
        "order; targets and other columns not needed).",
        show_default=False,
    ),
]
PredictionsOpt = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write predictions to a file: .csv, .tsv, .npy, .parquet or .jsonl."
    ),
]
KeepOpt = Annotated[
    list[str] | None,
    typer.Option("--keep", help="Pass an input column through, e.g. an id (repeatable)."),
]
RunsDirArg = Annotated[
    Path,
    typer.Argument(
        help="The runs directory (or one name's, or one run's).",
        file_okay=False,
        callback=directory_path,
    ),
]
CompareOpt = Annotated[
    tuple[str, str] | None,
    typer.Option("--compare", help="Compare two runs (directories or NAME/N).", show_default=False),
]
