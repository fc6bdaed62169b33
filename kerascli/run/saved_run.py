"""Load a saved run: its record, a model archive checked before Keras reads it, plugin code
only with consent, and the spec and class names it was trained with."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerascli.model.builder import Builder
from kerascli.model.plugins import load_object
from kerascli.model.precision import dtype_policy
from kerascli.run.compile import compile_model
from kerascli.run.portable import PLUGIN_DIR, check_trust
from kerascli.run.runs import UnreadableRun, classes_from_record, read_record
from kerascli.spec import load_spec
from kerascli.spec.models import Spec
from kerascli.spec.problems import KerasCliError, Problem, SpecError


@dataclass
class LoadedRun:
    """A trained model with the spec and class names it was trained with (`classes` is `None`
    when no run record says: a bare model file)."""

    model: Any
    spec: Spec
    classes: dict[str, list[str]] | None = None
    path: Path | None = None


def load_run(
    target: str | Path, spec_path: str | Path | None = None, trust: bool = False
) -> LoadedRun:
    """Load `RUN_DIR` or `MODEL.keras` (with `spec_path`, or the `spec.yaml` beside it).

    The model is loaded with Keras `safe_mode=True`; plugin code runs only when the spec names
    plugins, and a run's own plugin copies only with `trust` when the run came from another
    host or directory (or its plugin files changed). The run's data files need not exist.

    Raises:
        UntrustedRun: the run would import plugin code it was not trusted with.
        SpecError: no spec, or a model file that is not a Keras model archive.
    """
    target = Path(target)
    if target.is_dir():
        model_path, run_dir = target / "model.keras", target
    else:
        model_path, run_dir = target, target.parent
    if not model_path.is_file():
        raise KerasCliError(f"no model at {model_path} (is the run finished? see its run.json)")
    spec_file = Path(spec_path) if spec_path else run_dir / "spec.yaml"
    if not spec_file.is_file():
        raise SpecError(
            [
                Problem(
                    f"no spec for {model_path}: pass --spec SPEC (its data section says which "
                    "columns or arrays are the inputs and targets)",
                    "",
                    "--spec",
                )
            ]
        )
    spec = load_spec(spec_file, training=False)  # imports nothing
    record = _run_record(run_dir)
    if record is not None or spec_path is None or (run_dir / PLUGIN_DIR).is_dir():
        # a run directory (or what is left of one): its plugin code loads only with consent
        check_trust(run_dir, record or {}, spec, trust, own_spec=spec_path is None)
    builder = Builder(spec)
    custom = builder.registry.custom_objects()
    if spec.model.subclass is not None:
        cls = load_object(spec.model.subclass.class_)
        custom[cls.__name__] = cls
    model = _load_model(builder, model_path, custom)
    # unknown without a readable run record
    classes = classes_from_record(record, spec) if record else None
    return LoadedRun(model, spec, classes, run_dir if target.is_dir() else None)


def _run_record(run_dir: Path) -> dict[str, Any] | None:
    """The run's `run.json` (`{}` if unreadable, so a damaged record trusts nothing), or `None`
    outside a run directory."""
    path = run_dir / "run.json"
    if not path.exists() and not path.is_symlink():
        return None
    if not path.is_file():  # a directory, a device, a dangling link: nothing to read safely
        return {}
    try:
        return read_record(path)
    except UnreadableRun:
        return {}


MAX_MODEL_CONFIG = 64 * 2**20
"""The largest `config.json` / `metadata.json` a model archive may unpack to (64 MiB)."""
MAX_EXPANSION = 100
"""How many times its stored size a larger member of a model archive may unpack to: Keras
stores its members uncompressed (~1:1), deflate cannot exceed ~1032:1 (Keras's own guard)."""


def check_archive(path: Path) -> None:
    """Refuse, before Keras or h5py reads it, a model file that is not a zip archive, or whose
    JSON members would unpack to more than `MAX_MODEL_CONFIG`, or another member to more than
    that and `MAX_EXPANSION` times its stored size (a zip bomb)."""

    def refuse(message: str) -> SpecError:
        return SpecError([Problem(message, "", str(path))])

    if not zipfile.is_zipfile(path):
        size = path.stat().st_size
        raise refuse(f"not a Keras model archive ({size} bytes): corrupt or truncated")
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise refuse(f"not a Keras model archive: {exc}") from None
    for member in members:
        size = member.file_size
        if size <= MAX_MODEL_CONFIG:
            continue
        if member.filename.endswith(".json") or size > MAX_EXPANSION * member.compress_size:
            raise refuse(
                f"{member.filename} unpacks to {size} bytes from {member.compress_size} (the "
                f"limit is {MAX_MODEL_CONFIG} for JSON, else {MAX_EXPANSION} times the stored "
                "size): a decompression bomb, not a model kerascli will load"
            )


def _load_model(builder: Builder, path: Path, custom: dict[str, Any]) -> Any:
    """The Keras model in `path` (safe mode), compiled from the spec if it was saved without."""
    check_archive(path)
    try:  # under the policy it trained with: a subclass model's layers take the global one
        with dtype_policy(builder.policy):
            model = builder.keras.saving.load_model(path, custom_objects=custom, safe_mode=True)
    except (
        ValueError,
        TypeError,
        OSError,
        KeyError,
        zipfile.BadZipFile,
        EOFError,
        RecursionError,
    ) as exc:
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SpecError(
            [Problem(f"cannot load the model (corrupt or truncated?): {cause}", "", str(path))]
        ) from exc
    if not getattr(model, "compiled", True) and builder.spec.compile.loss is not None:
        compile_model(builder, model)  # saved with compile=False: evaluate needs loss, metrics
    return model
