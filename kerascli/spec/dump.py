"""The resolved spec as plain data and YAML (what a run saves as `spec.yaml`)."""

from __future__ import annotations

from typing import Any

import yaml

from kerascli.spec.models import NODE_KEYS, Spec

NODE_DEFAULTS = {"params": {}, "repeat": 1}
"""Node keys left out of the resolved spec at these values (they say nothing)."""


def resolved_spec(spec: Spec) -> dict[str, Any]:
    """Plain data of a validated spec, defaults filled in, Keras's key names kept. A node is
    written layer first, without a block's keys where it uses none; no empty `blocks`."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.pop("extends", None)
    model = data["model"]
    if not model.get("blocks"):
        model.pop("blocks", None)
    graphs = [model.get("functional", {}), *model.get("blocks", {}).values()]
    for graph in graphs:
        if "layers" in graph:
            graph["layers"] = {name: _node(node) for name, node in graph["layers"].items()}
    if spec.seed is None:  # `seed: null` (unseeded) must not reload as the default seed
        data = {"name": data.pop("name"), "seed": None, **data}
    return data


def _node(node: dict[str, Any]) -> dict[str, Any]:
    layer = {k: v for k, v in node.items() if k not in NODE_KEYS}
    keys = {k: v for k, v in node.items() if k in NODE_KEYS and NODE_DEFAULTS.get(k, ...) != v}
    return {**layer, **keys}


class _Dumper(yaml.SafeDumper):
    pass


def _flow_small(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, (int, float, str, bool)) or v is None for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(list, _flow_small)


def to_yaml(data: dict[str, Any]) -> str:
    """YAML text of a spec, keys in spec order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
