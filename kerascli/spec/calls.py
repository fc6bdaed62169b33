"""The shape of a call in a spec (`{ClassName: {arg: value}}`), plugin references, and
`Strict`, the base of every spec section (`kerascli.spec.models`, `kerascli.spec.data_spec`)."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, WithJsonSchema

from kerascli.spec.facts import is_file_ref, positional_arguments

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
# Last parts of a dotted name that say "a file of another kind", not a module: `net.txt`.
_NOT_MODULES = frozenset(
    {"txt", "yaml", "yml", "toml", "cfg", "ini", "ipynb", "pyc", "pyi", "pyw", "pkl", "zip", "whl"}
)
PLUGIN_WORDS = "expected a Python file 'path/to/file.py' or a module name 'package.module'"
CLASS_WORDS = "expected 'path/to/file.py:ClassName' or 'package.module:ClassName'"


def is_plugin_ref(ref: str) -> bool:
    """Whether `ref` has the form of a plugin: a `.py` file path or a dotted module name.

    Only the form: nothing is imported, and files are looked for later. `my plugin.txt`,
    `plugins/net` and `net.txt` are neither.
    """
    if is_file_ref(ref):
        return ref.endswith(".py")
    return _MODULE.fullmatch(ref) is not None and ref.rsplit(".", 1)[-1] not in _NOT_MODULES


def _plugin_ref(value: str) -> str:
    if not value.strip():
        raise ValueError("plugin entries must not be empty")
    if not is_plugin_ref(value):
        raise ValueError(PLUGIN_WORDS)
    return value


CALL_EXAMPLE = "a class name such as 'Flatten', or one class name with its arguments such as {Dense: {units: 10}}"


def _to_call(value: Any) -> dict[str, dict[str, Any]]:
    if isinstance(value, str) and value:
        return {value: {}}
    if isinstance(value, dict) and len(value) == 1:
        ((name, args),) = value.items()
        if not isinstance(name, str):
            raise ValueError(f"expected {CALL_EXAMPLE}")
        return {name: call_arguments(name, args)}
    if isinstance(value, dict):
        raise ValueError(f"expected one class name, got {len(value)} keys: {', '.join(value)}")
    raise ValueError(f"expected {CALL_EXAMPLE}, got {type(value).__name__} {value!r}")


def call_arguments(name: str, args: Any) -> dict[str, Any]:
    """A call's arguments as a mapping: `None` is none, and a list gives positional arguments
    where Keras's signature of `name` has them (`Conv2D: [32, 3]`)."""
    if args is None:
        return {}
    if isinstance(args, list):
        return positional_arguments(name, args)
    if not isinstance(args, dict):
        raise ValueError(
            f"the arguments of {name} must be a mapping such as {{units: 10}} or a list of "
            f"positional arguments, got {type(args).__name__} {args!r}"
        )
    return args


FAMILY_KEY = "x-kerascli-family"
"""JSON Schema key naming the Keras family of a call (`kerascli schema` fills in its names)."""


def _call_schema(family: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {
        "anyOf": [
            {"type": "string"},
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": {"type": ["object", "array", "null"]},
            },
        ]
    }
    return {**schema, FAMILY_KEY: family} if family else schema


_CallDict = dict[str, dict[str, Any]]
Call = Annotated[_CallDict, PlainValidator(_to_call), WithJsonSchema(_call_schema())]
LayerCall = Annotated[_CallDict, PlainValidator(_to_call), WithJsonSchema(_call_schema("layers"))]
OptimizerCall = Annotated[
    _CallDict, PlainValidator(_to_call), WithJsonSchema(_call_schema("optimizers"))
]
MetricCall = Annotated[_CallDict, PlainValidator(_to_call), WithJsonSchema(_call_schema("metrics"))]
CallbackCall = Annotated[
    _CallDict, PlainValidator(_to_call), WithJsonSchema(_call_schema("callbacks"))
]
"""A call: `{ClassName: {arg: value}}` (a bare `ClassName` is read as `{ClassName: {}}`)."""


def call_parts(call: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Split a normalised call into its class name and its arguments."""
    ((name, args),) = call.items()
    return name, args


class Strict(BaseModel):
    """Base of every spec section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
