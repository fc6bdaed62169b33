"""Write an imported model: the spec's YAML (one node a line where it fits), the check that the
written spec builds the model, its weights file, and where each node the spec cannot build is
written (`kerascli import`); where it may write (never over the source model, only a
`.yaml`/`.yml` in a directory that exists).

Long because writing the spec, checking it and placing its weights are one sequence over one
rebuilt model (built once, from the written file).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kerascli.model.import_types import Imported, ImportFailed, ImportRefused
from kerascli.spec.source import parse_yaml

SPEC_FILES = (".yaml", ".yml")
WEIGHTS_SUFFIX = ".weights.h5"
"""The weights file `--weights` writes beside `SPEC.yaml`: `SPEC.weights.h5`."""

LINE_WIDTH = 100
"""A node (or a Sequential layer) is written on one line when it fits in this many characters."""


class _Flow(dict):  # type: ignore[type-arg]
    """A mapping written in flow style: `{Conv2D: {filters: 16}, from: x}`."""


class _FlowList(list):  # type: ignore[type-arg]
    """A list written in flow style: `[{strides: 2}, {}, {}]`."""


class _Dumper(yaml.SafeDumper):
    pass


def _flow(dumper: yaml.SafeDumper, value: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", value, flow_style=True)


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, (int, float, str, bool)) or v is None for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


def _flow_list(dumper: yaml.SafeDumper, value: _FlowList) -> yaml.Node:
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=True)


_Dumper.add_representer(_Flow, _flow)
_Dumper.add_representer(_FlowList, _flow_list)
_Dumper.add_representer(list, _list)


def _one_line(key: Any, value: dict[str, Any], indent: int) -> bool:
    text = yaml.dump({key: _Flow(value)}, Dumper=_Dumper, sort_keys=False, width=10**6)
    return indent + len(text.rstrip("\n")) <= LINE_WIDTH


def _fitted(key: Any, value: dict[str, Any], indent: int) -> dict[str, Any]:
    """`value` on one line if it fits, else each of its mappings on one line where it fits."""
    if _one_line(key, value, indent):
        return _Flow(value)
    return {
        k: _Flow(v) if isinstance(v, dict) and _one_line(k, v, indent + 2) else v
        for k, v in value.items()
    }


def _sequential_layer(layer: dict[str, Any]) -> Any:
    """`- Flatten`, `- Dense: {units: 3}`."""
    ((name, args),) = layer.items()
    return {name: _Flow(args)} if args else name


def _block(block: dict[str, Any]) -> dict[str, Any]:
    """A block of `model.blocks`: its params on one line, each node on one line where it fits."""
    written = dict(block)
    if "params" in written:
        written["params"] = _Flow(written["params"])
    written["layers"] = {k: _fitted(k, v, 8) for k, v in block["layers"].items()}
    return written


def _node(key: str, node: dict[str, Any]) -> dict[str, Any]:
    """A node of `functional.layers`; a block use's `repeat_params` as `[{...}, {}, ...]`."""
    if "repeat_params" in node:
        node = {**node, "repeat_params": _FlowList(_Flow(p) for p in node["repeat_params"])}
    return _fitted(key, node, 6)


def spec_text(spec: dict[str, Any]) -> str:
    """The spec's YAML: sections in spec order, each node on one line where it fits."""
    model = dict(spec["model"])
    if "blocks" in model:
        model["blocks"] = {k: _block(v) for k, v in model["blocks"].items()}
    if "functional" in model:
        functional = dict(model["functional"])
        functional["inputs"] = {k: _Flow(v) for k, v in functional["inputs"].items()}
        functional["layers"] = {k: _node(k, v) for k, v in functional["layers"].items()}
        model["functional"] = functional
    if "sequential" in model:
        sequential = dict(model["sequential"])
        sequential["input"] = _Flow(sequential["input"])
        sequential["layers"] = [_sequential_layer(layer) for layer in sequential["layers"]]
        model["sequential"] = sequential
    data = {**spec, "model": model}
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


@dataclass(frozen=True)
class Report:
    """A node the spec cannot build: its name, class, line in the written spec, what to do."""

    node: str
    class_name: str
    line: int | None
    advice: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "class": self.class_name,
            "line": self.line,
            "advice": self.advice,
        }


def unexpressible_path(imported: Imported, node: str) -> tuple[Any, ...]:
    """Where the node `node` is written in the spec (a Sequential's layers by index)."""
    if imported.kind == "functional":
        return ("model", "functional", "layers", node)
    names = [layer.name for layer in imported.model.layers]
    return ("model", "sequential", "layers", names.index(node))


def reports(imported: Imported, text: str, file: str) -> list[Report]:
    """Where each node the spec cannot build is written in `text` (the spec's YAML)."""
    doc = parse_yaml(text, file, env={})
    found = []
    for item in imported.unexpressible:
        path = unexpressible_path(imported, item.node)
        line = doc.mark(path, at_key=True).line
        found.append(Report(item.node, item.class_name, line, item.advice))
    return found


def rebuild(imported: Imported, output: Path) -> Any:
    """The model the written spec `output` builds, checked against the imported one: the same
    parameter count and the same layer classes in order (nested models inlined).

    Raises:
        ImportFailed: the spec does not build, or builds another model (the spec stays written,
            for the user to fix).
    """
    from kerascli.model.builder import build_model
    from kerascli.spec.loader import load_spec
    from kerascli.spec.problems import SpecError

    source = imported.model
    try:
        rebuilt = build_model(load_spec(output))
    except SpecError as exc:
        raise ImportFailed(f"{output} does not build {source.name}: {exc.problems[0]}") from exc
    params, expected = rebuilt.count_params(), source.count_params()
    if params != expected:
        raise ImportFailed(f"{output} builds {params:,} parameters, {source.name} has {expected:,}")
    built, original = layer_sequence(rebuilt), layer_sequence(source)
    if built != original:
        i = next(
            (i for i, pair in enumerate(zip(built, original, strict=False)) if len(set(pair)) > 1),
            min(len(built), len(original)),
        )
        got, want = (seq[i] if i < len(seq) else "nothing" for seq in (built, original))
        raise ImportFailed(
            f"{output} builds other layers than {source.name}: layer {i + 1} is {got}, "
            f"{source.name}'s is {want}"
        )
    return rebuilt


def layer_sequence(model: Any) -> list[str]:
    """The class names of `model`'s layers and raw ops in order, nested models inlined, input
    layers left out (a Sequential's import may be a Functional spec)."""
    from kerascli.model.keras_env import import_keras

    keras = import_keras()
    names: list[str] = []
    for op in getattr(model, "operations", None) or model.layers:  # a Sequential: its layers
        if isinstance(op, keras.Model):
            names += layer_sequence(op)
        elif not isinstance(op, keras.layers.InputLayer):
            names.append(type(op).__name__)
    return names


def save_weights(imported: Imported, rebuilt: Any, target: Path) -> None:
    """Write the imported model's weights to `target` as the spec's model (`rebuilt`) loads
    them: each of its layers given the weights of the layer it rebuilds (`weight_sources`), so
    the file follows the rebuilt model's own structure (nested models inlined)."""
    missing = []
    for layer, source in weight_sources(imported, rebuilt):
        if source is not None and source.weights:
            layer.set_weights(source.get_weights())
        elif layer.weights:
            missing.append(layer.name)
    if missing:
        raise ImportFailed(f"no weights found for the rebuilt layers {', '.join(missing)}")
    rebuilt.save_weights(target)


def weight_sources(imported: Imported, rebuilt: Any) -> list[tuple[Any, Any]]:
    """Each layer of the model the spec built with the original layer it rebuilds (`None`:
    none). A Functional node is named by its layer, so layers pair by name; a Sequential spec
    leaves Keras's automatic names out (the rebuilt layers are named anew: `dense_3`), so its
    layers pair in order, one class sequence."""
    if imported.kind == "functional":
        return [(layer, imported.layers.get(layer.name)) for layer in rebuilt.layers]
    classes = [type(layer).__name__ for layer in rebuilt.layers]
    if classes != [type(layer).__name__ for layer in imported.model.layers]:
        raise ImportFailed(f"the spec rebuilds other layers than the model's: {', '.join(classes)}")
    return list(zip(rebuilt.layers, imported.model.layers, strict=True))


def write_import(imported: Imported, output: Path, weights: Path | None = None) -> list[Report]:
    """Write the spec to `output` (and the weights to `weights`, which the spec then names);
    return the nodes it cannot build, located in the written file.

    A spec with no such node is then built from the file and checked against the model
    (`rebuild`); its weights are placed in the rebuilt model and saved. Where a node cannot be
    built, the original model's weights are written (for the plugin that will build it).

    Raises:
        ImportFailed: the written spec does not build the model, or its weights cannot be placed.
    """
    spec = imported.spec
    named = {**spec, "model": {"weights": weights.name, **spec["model"]}} if weights else spec
    if imported.unexpressible:
        if weights is not None:
            imported.model.save_weights(weights)
        text = spec_text(named)
        output.write_text(text, encoding="utf-8")
        return reports(imported, text, str(output))
    output.write_text(spec_text(spec), encoding="utf-8")
    rebuilt = rebuild(imported, output)
    if weights is not None:
        save_weights(imported, rebuilt, weights)
        output.write_text(spec_text(named), encoding="utf-8")
    return []


def weights_path(output: Path) -> Path:
    """The weights file beside the spec file `output`: `SPEC.weights.h5`."""
    return output.with_name(output.name.split(".")[0] + WEIGHTS_SUFFIX)


@dataclass
class ImportResult:
    """What `import_spec` wrote.

    Args:
        spec: The spec file.
        weights: The weights file beside it (`None` without `weights`).
        imported: The model as spec data (`imported.model`: the Keras model read).
        unexpressible: The nodes the spec cannot build, each located in the spec file
            (`import_write.Report`); the spec is written all the same.
    """

    spec: Path
    weights: Path | None
    imported: Imported
    unexpressible: list[Any]

    @property
    def ok(self) -> bool:
        """Whether the spec builds the model (no node it cannot build)."""
        return not self.unexpressible

    def to_dict(self) -> dict[str, Any]:
        """`{ok, spec, weights, kind, layers, params, unexpressible}` (`import --json`)."""
        imported = self.imported
        return {
            "ok": self.ok,
            "spec": str(self.spec),
            "weights": str(self.weights) if self.weights else None,
            "kind": imported.kind,
            "layers": len(imported.spec["model"][imported.kind]["layers"]),
            "params": imported.model.count_params(),
            "unexpressible": [report.to_dict() for report in self.unexpressible],
        }


def check_targets(source: Path, targets: list[Path], force: bool) -> None:
    """Refuse to write over the source model (even with `force`), a spec that is not
    `.yaml`/`.yml`, into a directory that does not exist, or over a file without `force`.
    `targets`: the spec file, then the weights file if any."""
    output = targets[0]
    for target, what in zip(targets, ("the spec", "the weights"), strict=False):
        if source.is_file() and target.exists() and source.samefile(target):
            message = f"'{target}' is the source model: writing {what} there would overwrite it"
            raise ImportRefused(message, "'--output'")
    if output.suffix.lower() not in SPEC_FILES:
        message = f"'{output}' is not a spec file: its name must end {' or '.join(SPEC_FILES)}"
        raise ImportRefused(message, "'--output'")
    parent = output.parent
    if not parent.is_dir():
        what = (
            "is a file, not a directory" if parent.exists() else "does not exist: create it first"
        )
        raise ImportRefused(f"'{output}': {parent} {what}", "'--output'")
    existing = [str(p) for p in targets if p.exists()]
    if existing and not force:
        raise ImportRefused(f"{', '.join(existing)} exists: give --force to overwrite")
