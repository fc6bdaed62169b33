"""Starter specs for `kerascli init`: commented YAML that validates and trains anywhere.

Each template is `kerascli/templates/NAME.yaml`; `write_starter` writes it with the small
files it needs next to it (data under `data/`, a plugin under `plugins/`), so the new spec
trains without the repository's `model_specs/`.

Example:

    from pathlib import Path
    from kerascli.templates import write_starter

    written = write_starter("mlp", Path("spec.yaml"))
    print(written.files)   # [spec.yaml, data/iris.csv]
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kerascli.spec.problems import did_you_mean

HERE = Path(__file__).resolve().parent
SINE_SEED = 7


@dataclass(frozen=True)
class Template:
    """A starter spec and the files (relative to the spec) it reads."""

    name: str
    summary: str
    files: tuple[str, ...]

    @property
    def text(self) -> str:
        """The template's YAML."""
        return (HERE / f"{self.name}.yaml").read_text(encoding="utf-8")


TEMPLATES = {
    t.name: t
    for t in (
        Template("mlp", "Sequential MLP on the iris flowers (CSV)", ("data/iris.csv",)),
        Template("cnn", "Sequential CNN on 8x8 handwritten digits (NPZ)", ("data/digits.npz",)),
        Template(
            "functional",
            "Functional model with two named inputs on the iris flowers",
            ("data/iris.csv",),
        ),
        Template(
            "subclass",
            "keras.Model subclass from a plugin file, on the iris flowers",
            ("data/iris.csv", "plugins/iris_net.py"),
        ),
        Template("lstm", "LSTM predicting the next value of a sine wave (NPZ)", ("data/sine.npz",)),
    )
}


class UnknownTemplate(ValueError):
    """A template name that is not in `TEMPLATES`."""


@dataclass
class Written:
    """What `write_starter` did: files written and files already there with the same bytes."""

    template: Template
    spec: Path
    files: list[Path] = field(default_factory=list)
    kept: list[Path] = field(default_factory=list)


def get(name: str) -> Template:
    """The template called `name`; `UnknownTemplate` (with near matches) otherwise."""
    if name in TEMPLATES:
        return TEMPLATES[name]
    hint = did_you_mean(name, TEMPLATES)
    raise UnknownTemplate(f"unknown template '{name}'{hint}; templates: {', '.join(TEMPLATES)}")


def sine_series(count: int = 400, steps: int = 16, seed: int = SINE_SEED) -> dict[str, np.ndarray]:
    """Windows of noisy sines (random period, phase, amplitude) and the value after each.

    Args:
        count: Number of windows. Defaults to `400`.
        steps: Values per window. Defaults to `16`.
        seed: Seed of the generator. Defaults to `7`.

    Returns:
        `window` float32 (count, steps, 1) and `next` float32 (count,).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(steps + 1)
    period = rng.uniform(8.0, 24.0, size=(count, 1))
    phase = rng.uniform(0.0, 2 * np.pi, size=(count, 1))
    amplitude = rng.uniform(0.5, 1.0, size=(count, 1))
    series = amplitude * np.sin(2 * np.pi * t / period + phase)
    series += rng.normal(0.0, 0.05, size=series.shape)
    return {
        "window": series[:, :steps, None].astype(np.float32),
        "next": series[:, steps].astype(np.float32),
    }


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An NPZ archive of `arrays`, the same bytes on every run (fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, array in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def file_bytes(relative: str) -> bytes:
    """The content of a template's support file (`data/iris.csv`, `plugins/iris_net.py`...)."""
    if relative == "data/sine.npz":
        return npz_bytes(sine_series())
    return (HERE / relative).read_bytes()


def write_starter(name: str, spec: Path, force: bool = False) -> Written:
    """Write template `name` to `spec` and its support files next to it.

    Args:
        name: A template name (see `TEMPLATES`).
        spec: Where the spec goes; data and plugin files go beside it.
        force: Overwrite existing files. Defaults to `False`.

    Raises:
        UnknownTemplate: `name` is not a template.
        FileExistsError: a file to write exists (with other bytes) and `force` is off.
            Nothing is written then.
    """
    template = get(name)
    planned = [(spec, template.text.encode("utf-8"))]
    planned += [(spec.parent / rel, file_bytes(rel)) for rel in template.files]
    written = Written(template, spec)
    if not force:
        clashes = [
            path
            for i, (path, content) in enumerate(planned)
            if path.exists() and (i == 0 or path.read_bytes() != content)
        ]
        if clashes:
            names = ", ".join(str(p) for p in clashes)
            raise FileExistsError(f"{names} already exists; use --force to overwrite")
    for path, content in planned:
        if not force and path != spec and path.exists():
            written.kept.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        written.files.append(path)
    return written
