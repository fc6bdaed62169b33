"""The resolved spec as plain data and YAML (what a run saves as `spec.yaml`)."""

from __future__ import annotations

from typing import Any

import yaml

from kerascli.spec.models import Spec


def resolved_spec(spec: Spec) -> dict[str, Any]:
    """Plain data of a validated spec, defaults filled in, Keras's key names kept."""
    data = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.pop("extends", None)
    if spec.seed is None:  # `seed: null` (unseeded) must not reload as the default seed
        data = {"name": data.pop("name"), "seed": None, **data}
    return data


class _Dumper(yaml.SafeDumper):
    pass


def _flow_small(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, (int, float, str, bool)) or v is None for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(list, _flow_small)


def to_yaml(data: dict[str, Any]) -> str:
    """YAML text of a spec, keys in spec order."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
