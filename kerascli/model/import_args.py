"""A layer's constructor arguments as a spec writes them: only those that differ from the
class's defaults, nested Keras objects as `{Class: {arguments}}` (`kerascli import`).

A layer's defaults are the config of a fresh instance made with only its required arguments,
so both sides are serialised the same way by Keras itself.
"""

from __future__ import annotations

import inspect
import json
import re
from typing import Any

# Serialised Keras objects that a spec writes as `{Class: {arguments}}`, by config module.
NESTED_MODULES = {
    "keras.initializers": "initializers",
    "keras.regularizers": "regularizers",
    "keras.constraints": "constraints",
    "keras.layers": "layers",
}
_OMITTED = ("name",)  # the node name is the layer name


def plain(value: Any) -> Any:
    """`value` as YAML-safe data: tuples as lists, NumPy scalars and arrays as Python values."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)  # also a `str` subclass (a tensor reference)
    if hasattr(value, "tolist"):  # numpy scalar or array
        return plain(value.tolist())
    return value


def _same(a: Any, b: Any) -> bool:
    return json.dumps(plain(a), sort_keys=True, default=str) == json.dumps(
        plain(b), sort_keys=True, default=str
    )


def required_arguments(cls: type) -> list[str]:
    """The constructor arguments of `cls` that have no default."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return []
    return [
        name
        for name, p in params.items()
        if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


class Arguments:
    """Writes Keras configs as spec arguments, defaults left out.

    Args:
        keras: The `keras` module.
    """

    def __init__(self, keras: Any):
        self.keras = keras
        self._configs: dict[str, dict[str, Any] | None] = {}

    def config_of(self, cls: type, args: dict[str, Any]) -> dict[str, Any] | None:
        """The config of a fresh `cls` made from `args` (serialised, as in a config); `None`
        when one cannot be made."""
        key = f"{cls.__module__}.{cls.__qualname__}:{json.dumps(plain(args), default=str)}"
        if key not in self._configs:
            self._configs[key] = None
            for make in (cls.from_config, lambda a: cls(**a)):  # type: ignore[attr-defined]
                try:
                    self._configs[key] = make(dict(args)).get_config()
                    break
                except Exception:
                    continue
        return self._configs[key]

    def of(self, cls: type, config: dict[str, Any]) -> dict[str, Any]:
        """The arguments of `config` (a `get_config()` of `cls`) that are not `cls`'s defaults.

        An argument equal to its default is left out only where the class, made without it,
        gives the same config: a default that follows another argument (`MaxPooling2D`'s
        `strides`, which follows `pool_size`) stays.
        """
        required = [k for k in required_arguments(cls) if k in config]
        defaults = self.config_of(cls, {k: config[k] for k in required}) or {}
        kept = [
            key
            for key, value in config.items()
            if key not in _OMITTED
            and (key in required or key not in defaults or not _same(value, defaults[key]))
        ]
        rebuilt = self.config_of(cls, {k: config[k] for k in kept})
        if rebuilt is not None:  # what leaving the others out changed comes back
            kept += [
                k
                for k, v in config.items()
                if k not in kept and k not in _OMITTED and not _same(v, rebuilt.get(k))
            ]
        return {k: self.value(v, k) for k, v in config.items() if k in kept}

    def value(self, value: Any, key: str = "") -> Any:
        """One argument value: serialised Keras objects as `{Class: {arguments}}` (a dtype
        policy as its name), everything else as plain data."""
        if isinstance(value, dict) and "class_name" in value and "config" in value:
            return self._nested(value)
        if isinstance(value, dict):
            return {str(k): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return plain(value)

    def _nested(self, value: dict[str, Any]) -> Any:
        name, config = value["class_name"], value["config"]
        if name in ("DTypePolicy", "FloatDTypePolicy") and isinstance(config, dict):
            return config.get("name")
        if name == "function" and isinstance(config, str):  # a registered activation function
            return config
        if name == "__tuple__" and isinstance(config, dict):
            return self.value(config.get("value", []))
        family = NESTED_MODULES.get(str(value.get("module")))
        cls = getattr(getattr(self.keras, family), name, None) if family else None
        if cls is None or not isinstance(config, dict):
            return {name: self.value(config) if isinstance(config, dict) else {}}
        return {name: self.of(cls, config)}


def snake_case(name: str) -> str:
    """A class name as Keras writes it in names and functions: `TrueDivide` -> `true_divide`."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()


_AUTO_NAME = re.compile(r"^(?P<base>.+?)(_\d+)?$")


def is_auto_name(name: str, cls: type) -> bool:
    """Whether `name` is what Keras names an unnamed `cls` (`dense`, `dense_3`)."""
    match = _AUTO_NAME.match(name)
    return match is not None and match["base"] == snake_case(cls.__name__)


def key_text(key: Any) -> str:
    """A serialised `x[key]` as the text `ops.getitem` reads: `[:, -1]`, `[..., None, 1:3]`."""
    parts = key if isinstance(key, list) else [key]
    return "[" + ", ".join(_key_part(p) for p in parts) + "]"


def _key_part(part: Any) -> str:
    if isinstance(part, dict) and part.get("class_name") == "__ellipsis__":
        return "..."
    if isinstance(part, dict) and part.get("class_name") == "__slice__":
        c = part["config"]
        text = ":".join("" if c[k] is None else str(c[k]) for k in ("start", "stop", "step"))
        return text[:-1] if c["step"] is None else text
    return "None" if part is None else str(part)
