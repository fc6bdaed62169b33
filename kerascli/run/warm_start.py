"""Warm start (`kerascli train SPEC --weights RUN|FILE`): a new run's model starts from another
model's weights, layer by layer, matched by name; its optimizer starts afresh.

The source is a run directory (its `model.keras`), a `.keras` model or a `.weights.h5` file. Its
weights are read with h5py from the file Keras wrote (`model.weights.h5` inside a `.keras`
archive): no code of the source runs. Keras 3 files each layer's weights under a group named
by the layer's class (`layers/dense_1/vars/0`, a nested model's under
`layers/functional/layers/...`) and keeps the layer's own name in the `vars` group's `name`
attribute. A layer of this model takes the source's weights when the source has a layer of the
same name (the names of the layers around it added where a name repeats) whose arrays have the
same shapes; the rest keep their own weights and are reported. A file from an older Keras that
names no layers is matched by its groups instead, as Keras's `load_weights` would.

Matched layers are written into a copy of this model's own weights file, which
`model.load_weights` then reads: Keras assigns every weight, as it would load its own file.
This runs after the preprocessing layers are adapted, so a matched `Normalization` takes the
source's mean and variance: the layers after it learned on inputs scaled by those.
"""

from __future__ import annotations

import re
import sys
import tempfile
import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerascli.model.keras_private import (
    WEIGHTS_MEMBER,
    optimizer_variables,
    recorded_name,
    sublayers,
)
from kerascli.run.rundir import RunDir
from kerascli.run.runs import resolve_run
from kerascli.spec.problems import Problem, SpecError, cause_line

ABSENT = "absent in the source"


class WarmStartError(SpecError):
    """A `--weights` source that cannot be read or matches no layer (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__([Problem(message, "", "--weights")])


@dataclass(frozen=True)
class LayerWeights:
    """A layer's weights in a Keras weights file: what it is matched by (`key`), its group, its
    arrays (path within the group -> shape) and its name."""

    key: str
    group: str
    shapes: dict[str, tuple[int, ...]]
    name: str = ""

    def described(self) -> str:
        return " + ".join(str(list(shape)) for shape in self.shapes.values())


@dataclass
class WarmStart:
    """What a warm start takes from its source: the arrays of each matched layer (by its
    group in this model's weights file), and what it reports."""

    source: Path
    pairs: list[tuple[LayerWeights, str]] = field(default_factory=list)
    """Each matched layer of this model, with its source's group."""
    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The source's arrays by group of this model's file, then path within it."""
    matched: list[str] = field(default_factory=list)
    not_matched: dict[str, str] = field(default_factory=dict)
    unused: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """`run.json`'s `warm_start`."""
        return {
            "from": str(self.source.resolve()),
            "matched": self.matched,
            "not_matched": self.not_matched,
            "unused": self.unused,
        }

    def lines(self) -> list[str]:
        """What `train` says about it, a line each."""
        total = len(self.matched) + len(self.not_matched)
        out = [f"warm start from {self.source}: {len(self.matched)} of {total} layers matched"]
        out += [f"  not matched: {name}: {why}" for name, why in self.not_matched.items()]
        out += [f"  unused from the source: {name}" for name in self.unused]
        return out


def plan_warm_start(ref: str | Path, runs_dir: str | Path, model: Any) -> WarmStart:
    """Match the built `model`'s layers with those of the source `ref` names (a run directory,
    `NAME/N` under `runs_dir`, a `.keras` or `.weights.h5` file), and read the matched arrays.

    Raises:
        WarmStartError: the source is missing or unreadable, or no layer matches.
    """
    path = source_file(ref, runs_dir)
    with tempfile.TemporaryDirectory(prefix="kerascli-warm-") as tmp:
        own = Path(tmp) / "model.weights.h5"
        model.save_weights(own)
        with _open_weights(path) as source, _h5(own, "r") as target:
            theirs = _layers(source)
            if not theirs:
                raise WarmStartError(f"{path}: holds no layer weights (not saved by Keras 3?)")
            plan = _match(_layers(target, model), theirs, path)
            try:
                for layer, group in plan.pairs:
                    plan.values[layer.group] = {r: source[f"{group}/{r}"][()] for r in layer.shapes}
            except (OSError, KeyError) as exc:
                raise WarmStartError(
                    f"{path}: cannot read its weights ({cause_line(exc)})"
                ) from None
    if not plan.matched:
        report = "; ".join(f"{name}: {why}" for name, why in list(plan.not_matched.items())[:5])
        raise WarmStartError(f"no layer of the model matches one in {path} ({report})")
    return plan


def apply_warm_start(plan: WarmStart | None, model: Any, run: RunDir) -> None:
    """Load the matched layers' weights (`plan_warm_start`) into `model`, and say which (stderr,
    `train.log` and `run.json`'s `warm_start`)."""
    if plan is None:
        return
    with tempfile.TemporaryDirectory(prefix="kerascli-warm-") as tmp:
        own = Path(tmp) / "model.weights.h5"
        model.save_weights(own)
        with _h5(own, "r+") as target:
            for group, arrays in plan.values.items():
                for rel, value in arrays.items():
                    target[f"{group}/{rel}"][...] = value
        model.load_weights(own)
    for line in plan.lines():
        print(line, file=sys.stderr)
        run.note(line)
    run.update(warm_start=plan.record())


def source_file(ref: str | Path, runs_dir: str | Path) -> Path:
    """The weights file `ref` names: a file, or a run's `model.keras`."""
    path = Path(ref)
    if not path.exists():
        try:
            path = resolve_run(str(ref), runs_dir)
        except FileNotFoundError:
            raise WarmStartError(f"no run directory or weights file '{ref}'") from None
    if path.is_dir():
        if not (path / "model.keras").is_file():
            raise WarmStartError(
                f"{path} has no model.keras: give a completed run (--resume continues one "
                "that ended early)"
            )
        path = path / "model.keras"
    if path.name.endswith(".weights.h5") or path.suffix == ".keras":
        return path
    if path.suffix in (".h5", ".hdf5"):
        raise WarmStartError(
            f"{path}: a legacy HDF5 model (Keras 2); give a .keras model or a .weights.h5 file"
        )
    raise WarmStartError(f"{path}: give a run directory, a .keras model or a .weights.h5 file")


def _h5(path: Any, mode: str) -> Any:
    import h5py

    return h5py.File(path, mode)


@contextmanager
def _open_weights(path: Path) -> Iterator[Any]:
    """The source's weights file, open: inside a `.keras` archive, read as h5py goes (never
    unpacked whole), the archive checked first (`saved_run.check_archive`: no zip bomb)."""
    from kerascli.run.saved_run import check_archive

    with ExitStack() as stack:
        try:
            source: Any = path
            if path.suffix == ".keras":
                check_archive(path)
                archive = stack.enter_context(zipfile.ZipFile(path))
                source = stack.enter_context(archive.open(WEIGHTS_MEMBER))
            opened = stack.enter_context(_h5(source, "r"))
        except SpecError as exc:
            raise WarmStartError(
                f"{path}: cannot read its weights ({exc.problems[0].message})"
            ) from None
        except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            raise WarmStartError(f"{path}: cannot read its weights ({cause_line(exc)})") from None
        yield opened


def layout_problem(path: Path, model: Any) -> str | None:
    """What keeps the weights of a run's `model.keras` (`path`) from loading into the built
    `model` as Keras loads them, group by group: a layer's arrays of other shapes, a layer
    missing, no optimizer state; `None` when they fit."""
    try:
        with tempfile.TemporaryDirectory(prefix="kerascli-resume-") as tmp:
            own = Path(tmp) / "model.weights.h5"
            model.save_weights(own)
            with _open_weights(path) as source, _h5(own, "r") as target:
                theirs = {layer.group: layer.shapes for layer in _layers(source)}
                ours = {layer.group: layer.shapes for layer in _layers(target)}
                optimizer = optimizer_variables(source)
    except WarmStartError as exc:
        return exc.problems[0].message
    for group in [*ours, *theirs]:
        if ours.get(group) != theirs.get(group):
            held, wanted = (_described(shapes) for shapes in (theirs.get(group), ours.get(group)))
            return f"{group} holds {held}, the model's {wanted}"
    return None if optimizer else "it holds no optimizer state (saved without its optimizer)"


def _layers(root: Any, model: Any = None) -> list[LayerWeights]:
    """The layers with weights in a Keras weights file, by name (see the module's docstring);
    in `model`'s layer order when given."""
    found: list[tuple[tuple[str, ...], str, dict[str, tuple[int, ...]], str]] = []

    def walk(group: Any, chain: tuple[str, ...]) -> None:
        for key, child in sublayers(group):
            name = recorded_name(child)
            here = (*chain, key if name is None or _automatic(name, key) else name)
            shapes = _shapes(child)
            if shapes:
                found.append((here, child.name.lstrip("/"), shapes, name or key))
            walk(child, here)

    walk(root, ())
    counts = Counter(chain[-1] for chain, *_ in found)
    out = [
        LayerWeights(chain[-1] if counts[chain[-1]] == 1 else "/".join(chain), group, shapes, name)
        for chain, group, shapes, name in found
    ]
    if model is not None:
        order = {name: i for i, name in enumerate(_layer_names(model))}
        out.sort(key=lambda layer: order.get(layer.name, len(order)))
    return out


def _described(shapes: dict[str, tuple[int, ...]] | None) -> str:
    return " + ".join(str(list(shape)) for shape in shapes.values()) if shapes else "nothing"


def _automatic(name: str, key: str) -> bool:
    """Whether `name` is one Keras made up (`dense_7` for a layer of group `dense_1`): the
    class's name and a number that differs from one process to another."""
    base = re.sub(r"_\d+$", "", key)
    return re.fullmatch(rf"{re.escape(base)}(_\d+)?", name) is not None


def _shapes(layer: Any) -> dict[str, tuple[int, ...]]:
    """A layer group's arrays (path -> shape), its sublayers' included, its nested model's
    layers (under `layers/`) not."""
    import h5py

    shapes: dict[str, tuple[int, ...]] = {}

    def visit(rel: str, item: Any) -> None:
        if isinstance(item, h5py.Dataset) and not rel.startswith("layers/"):
            shapes[rel] = tuple(item.shape)

    layer.visititems(visit)
    return dict(sorted(shapes.items()))


def _layer_names(model: Any) -> list[str]:
    """The names of `model`'s layers, depth first through nested models."""
    names = []
    for layer in getattr(model, "layers", []):
        names.append(layer.name)
        if hasattr(layer, "layers"):
            names += _layer_names(layer)
    return names


def _match(target: list[LayerWeights], source: list[LayerWeights], path: Path) -> WarmStart:
    """Pair each of this model's layers with the source's of the same key and shapes."""
    plan = WarmStart(path)
    by_key = {layer.key: layer for layer in source}
    for layer in target:
        theirs = by_key.get(layer.key)
        if theirs is None:
            plan.not_matched[layer.key] = ABSENT
        elif theirs.shapes != layer.shapes:
            plan.not_matched[layer.key] = (
                f"shape mismatch: source {theirs.described()}, this model {layer.described()}"
            )
        else:
            plan.matched.append(layer.key)
            plan.pairs.append((layer, theirs.group))
    ours = {layer.key for layer in target}
    plan.unused = [layer.key for layer in source if layer.key not in ours]
    return plan
