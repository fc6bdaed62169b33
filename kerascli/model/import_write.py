"""Write an imported model: the spec's YAML (one node a line where it fits), its weights file,
and where each node the spec cannot build is written (`kerascli import`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kerascli.model.importer import Imported, ImportFailed, unexpressible_path
from kerascli.spec.source import parse_yaml

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


def reports(imported: Imported, text: str, file: str) -> list[Report]:
    """Where each node the spec cannot build is written in `text` (the spec's YAML)."""
    doc = parse_yaml(text, file, env={})
    found = []
    for item in imported.unexpressible:
        path = unexpressible_path(imported, item.node)
        line = doc.mark(path, at_key=True).line
        found.append(Report(item.node, item.class_name, line, item.advice))
    return found


def save_weights(imported: Imported, spec: dict[str, Any], base_dir: Path, target: Path) -> None:
    """Write the imported model's weights to `target` as the spec's model will load them.

    The model the spec builds is made here and given each layer's weights by node name, so the
    file follows the rebuilt model's own structure (nested models inlined); where the spec
    cannot be built (a layer it cannot express), the original model's weights are written.
    """
    from kerascli.model.builder import build_model
    from kerascli.spec.loader import load_spec_dict
    from kerascli.spec.problems import SpecError

    try:
        rebuilt = build_model(load_spec_dict(spec, base_dir))
    except SpecError:
        imported.model.save_weights(target)
        return
    missing = []
    for layer in rebuilt.layers:
        source = imported.layers.get(layer.name)
        if source is not None and source.weights:
            layer.set_weights(source.get_weights())
        elif layer.weights:
            missing.append(layer.name)
    if missing:
        raise ImportFailed(f"no weights found for the rebuilt layers {', '.join(missing)}")
    rebuilt.save_weights(target)


def write_import(imported: Imported, output: Path, weights: Path | None = None) -> list[Report]:
    """Write the spec to `output` (and the weights to `weights`, which the spec then names);
    return the nodes it cannot build, located in the written file."""
    spec = imported.spec
    output.parent.mkdir(parents=True, exist_ok=True)
    if weights is not None:
        save_weights(imported, spec, output.parent, weights)
        spec = {**spec, "model": {"weights": weights.name, **spec["model"]}}
    text = spec_text(spec)
    output.write_text(text, encoding="utf-8")
    return reports(imported, text, str(output))
