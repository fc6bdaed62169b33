"""Export a run's model (`kerascli export`): a SavedModel in TensorFlow Serving's layout
(`<dir>/<version>/`), an ONNX file or a LiteRT file, checked against the Keras model before it
is published.

The artifact is written into a hidden staging folder inside the export directory
(`export_formats`), run in its own runtime on the rows `evaluate` reads (`export_parity`),
checked against the gates (`parity_gates`: the `--require` ones, else `max_abs_diff<1e-3`; an
output the artifact makes NaN or infinite always fails), and only then moved into place: a
failed export, a failed gate or an interrupt (Ctrl-C, SIGTERM: `KeyboardInterrupt`, also one
TensorFlow made another error of) leaves nothing in the directory. Beside the artifact go
`parity.json` (what the check measured) and `classes.json` (the class names of its outputs,
where the run has them); the run's `run.json` lists every export (`exports`). Only a completed
run is exported (`export_guards`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from kerascli.data.model_arrays import Split
from kerascli.data.stream import Stream
from kerascli.run.export_formats import Format, check_inputs, input_signature, runner, write
from kerascli.run.export_guards import checked_format, exported_run, interrupts_kept
from kerascli.run.export_parity import Parity, check_scored, measure, parity_gates
from kerascli.run.gates import Gate, GateResult, check_gates
from kerascli.run.inference import comparison_data
from kerascli.run.rundir import RunDir, now, write_json
from kerascli.run.saved_run import LoadedRun, load_run
from kerascli.spec.facts import SINGLE
from kerascli.spec.problems import Problem, SpecError


@dataclass
class ExportResult:
    """What one export made and measured.

    Args:
        path: The published artifact (`<dir>/<version>`, `<dir>/model.onnx`,
            `<dir>/model.tflite`); `None` when a gate failed and nothing was published.
        version: The SavedModel's version (`None` for the other formats).
        data: The rows the parity check read: `test split`, or the `--data` source.
        labelled: Whether those rows have targets (accuracy or MAE figures); a `--data`
            source without the target columns has none.
        size_bytes: The artifact's size (all its files, for a SavedModel).
    """

    format: str
    directory: Path
    quantized: bool
    inputs: list[str]
    outputs: list[str]
    data: str
    parity: Parity
    labelled: bool = True
    gates: list[GateResult] = field(default_factory=list)
    size_bytes: int = 0
    path: Path | None = None
    version: int | None = None

    @property
    def passed(self) -> bool:
        """Whether every gate passed (and so the artifact was published)."""
        return all(g.passed for g in self.gates)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "path": str(self.path) if self.path is not None else None,
            "directory": str(self.directory),
            "version": self.version,
            "quantized": self.quantized,
            "size_bytes": self.size_bytes,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "data": self.data,
            "labelled": self.labelled,
            "parity": self.parity.to_dict(),
            "gates": [g.to_dict() for g in self.gates],
            "published": self.path is not None,
        }


def export_run(
    target: str | Path,
    format: str = "saved_model",
    output: str | Path | None = None,
    *,
    data: str | Path | None = None,
    split: str = "test",
    quantize: bool = False,
    version: int | None = None,
    require: Sequence[str] = (),
    spec: str | Path | None = None,
    trust: bool = False,
    progress: TextIO | None = None,
) -> ExportResult:
    """Export a run's model (or a MODEL.keras with `spec`) and check its parity.

    Args:
        target: A completed run's directory or its `model.keras`, or a MODEL.keras elsewhere.
        format: `saved_model`, `onnx` or `litert`. Defaults to `saved_model`.
        output: The export directory. Defaults to `<run>/export/<format>` (`-quantized`).
        data: Check parity on this whole data source instead of a split; one without the
            target columns is compared without accuracy (or MAE) figures.
        split: The split of the spec's data to check parity on. Defaults to `test`.
        quantize: LiteRT only: dynamic-range quantization (int8 weights).
        version: SavedModel only: the version directory, which must not exist. Defaults to
            1, or the one after the highest in the directory.
        require: Gates on the parity figures (`max_abs_diff<1e-4`); one that fails publishes
            nothing (`ExportResult.passed` is false). Defaults to `max_abs_diff<1e-3` (none
            for `quantize`); `export_nonfinite==0` applies always (`parity_gates`).
        progress: Where to say what it does (stderr). Defaults to nowhere.

    Raises:
        SpecError: an option the format does not take, an unknown gate (or an accuracy
            gate on rows without targets), a version that exists, a run not completed.
        ExportFailed: the model does not export, or its artifact does not run.
    """
    fmt = checked_format(format, quantize, version)
    gates = parity_gates(require, quantize)
    target = exported_run(target) or target
    with interrupts_kept():  # (TensorFlow's tracing can make a Ctrl-C another error)
        run = load_run(target, spec, trust)
        check_inputs(fmt, run.spec)
        values, labelled = comparison_data(run, split, data)
        rows = (str(data) if data is not None else f"{split} split", labelled)
        check_scored(gates, *rows)
        directory = _directory(output, target, fmt, quantize)
        _check_free(directory, version)
        result = _export(run, values, fmt, directory, rows, quantize, version, gates, progress)
        _record(run, result)
    return result


def _export(
    run: LoadedRun,
    values: Split | Stream,
    fmt: Format,
    directory: Path,
    rows: tuple[str, bool],
    quantize: bool,
    version: int | None,
    gates: list[Gate],
    progress: TextIO | None,
) -> ExportResult:
    """Write the artifact in a staging folder, check its parity and gates, and publish it
    into `directory` if they pass. `rows`: what the rows are, and whether they have targets."""
    signature = input_signature(run.spec)
    where, labelled = rows
    _say(progress, f"exporting to {fmt.name} in {directory}")
    with _staging(directory) as stage:
        with interrupts_kept():  # an interrupt (even one TensorFlow lost) publishes nothing
            artifact = write(fmt, run.model, signature, stage, quantize)
            note = "" if labelled else " (no targets: outputs and classes only)"
            _say(progress, f"checking parity in {fmt.runtime} on the {where}{note}")
            parity = measure(run, values, runner(fmt, artifact), signature)
        inputs, outputs = list(signature.names.values()), list(parity.outputs)
        result = ExportResult(fmt.name, directory, quantize, inputs, outputs, where, parity)
        result.labelled = labelled
        result.gates = check_gates(gates, parity.metrics())
        result.size_bytes = _size(artifact)
        if result.passed:
            _write_beside(artifact if fmt.file is None else stage, run, result)
            result.path, result.version = _publish(fmt, stage, artifact, directory, version)
    return result


def _directory(output: str | Path | None, target: str | Path, fmt: Format, quantize: bool) -> Path:
    """`output`, else `<run>/export/<format>` (beside a bare model file: its folder's)."""
    if output is not None:
        return Path(output)
    base = Path(target) if Path(target).is_dir() else Path(target).parent
    return base / "export" / (f"{fmt.name}-quantized" if quantize else fmt.name)


def _check_free(directory: Path, version: int | None) -> None:
    if version is not None and (directory / str(version)).exists():
        message = f"version {version} exists in {directory}; versions are never overwritten"
        raise SpecError([Problem(message, "", "--version")])


def _say(progress: TextIO | None, line: str) -> None:
    if progress is not None:
        print(line, file=progress, flush=True)


@contextlib.contextmanager
def _staging(directory: Path) -> Iterator[Path]:
    """A hidden folder inside `directory` (made, with its parents, if missing) to write the
    artifact in; removed at the end, and with it the folders made that are still empty."""
    made = [p for p in (directory, *directory.parents) if not p.exists()]
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise SpecError([Problem(f"{directory} is not a directory", "", "--output")]) from None
    stage = Path(tempfile.mkdtemp(prefix=".export-", dir=directory))
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        for folder in made:  # the deepest first; one not empty stays
            with contextlib.suppress(OSError):
                folder.rmdir()


def _write_beside(folder: Path, run: LoadedRun, result: ExportResult) -> None:
    """`parity.json`, and `classes.json` (class names by output name) where the run has them."""
    write_json(folder / "parity.json", {"created": now(), **_summary(result)})
    only = result.outputs[0] if len(result.outputs) == 1 else None
    named = {(only if key == SINGLE else key): v for key, v in (run.classes or {}).items()}
    classes = {name: names for name, names in named.items() if name in result.outputs}
    if classes:
        write_json(folder / "classes.json", classes)


def _summary(result: ExportResult) -> dict[str, Any]:
    document = result.to_dict()
    for key in ("path", "directory", "version", "published"):  # said by where it lies
        document.pop(key)
    return document


def _publish(
    fmt: Format, stage: Path, artifact: Path, directory: Path, version: int | None
) -> tuple[Path, int | None]:
    """Move the staged files into `directory`: a SavedModel as the next free version (or
    `version`), never over one; the files of the other formats in place of earlier ones."""
    if fmt.file is None:
        return _publish_version(artifact, directory, version)
    stale = directory / "classes.json"  # an earlier export's, of a run that had classes
    if not (stage / "classes.json").exists() and (directory / fmt.file).exists():
        stale.unlink(missing_ok=True)
    for name in ("classes.json", "parity.json", fmt.file):  # the artifact last
        if (stage / name).exists():
            os.replace(stage / name, directory / name)
    return directory / fmt.file, None


def _publish_version(saved: Path, directory: Path, version: int | None) -> tuple[Path, int]:
    taken = [int(p.name) for p in directory.iterdir() if p.name.isdigit()]
    n = version if version is not None else max(taken, default=0) + 1
    while True:
        target = directory / str(n)
        if version is not None:
            _check_free(directory, n)  # (again: another export may have made it meanwhile)
        if not target.exists():
            try:
                os.rename(saved, target)  # fails onto a version that is not empty
                return target, n
            except OSError:
                if version is not None or not target.exists():
                    raise
        n += 1


def _size(path: Path) -> int:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files)


def _record(run: LoadedRun, result: ExportResult) -> None:
    """Add the export to the run's `run.json` (`exports`); nothing for a bare model file."""
    if run.path is None or not (run.path / "run.json").is_file():
        return
    record = RunDir.open(run.path)
    entry = {"created": now(), **result.to_dict(), "parity": result.parity.metrics()}
    record.update(exports=[*(record.record.get("exports") or []), entry])
