"""Search spaces in the spec's JSON Schema: every scalar value schema also takes a search space
(`{choice: [...]}`, `{range: [low, high], log, step}`), so an editor accepts a spec written for
`kerascli tune`; `kerascli.spec.search_space` checks one in full when the spec is loaded."""

from __future__ import annotations

from typing import Any

from kerascli.spec.schema_interpolation import (
    UNIONS,
    at_values,
    ref_target,
    schema_types,
    takes_scalar,
    union_with,
)

_SCALAR = {"type": ["string", "number", "boolean", "null"]}
SEARCH_SPACE: dict[str, Any] = {
    "description": "A search space for `kerascli tune`: a choice of values, or a range of "
    "numbers (`log: true` samples it on a log scale; `step` spaces its values). `train` takes "
    "one value (`--set PATH=VALUE`).",
    "anyOf": [
        {
            "type": "object",
            "properties": {"choice": {"type": "array", "minItems": 1, "items": _SCALAR}},
            "required": ["choice"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {
                "range": {
                    "type": "array",
                    "items": {"type": "number"},
                    "minItems": 2,
                    "maxItems": 2,
                },
                "log": {"type": "boolean"},
                "step": {"type": "number", "exclusiveMinimum": 0},
            },
            "required": ["range"],
            "additionalProperties": False,
        },
    ],
    "examples": [{"choice": [32, 64, 128]}, {"range": [0.0001, 0.01], "log": True}],
}
_REF = {"$ref": "#/$defs/SearchSpace"}


def _rejects_mapping(node: Any, defs: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether `node` rejects a mapping (conservatively: unknown means no), so that a search
    space needs a place of its own there."""
    if not isinstance(node, dict):
        return node is False
    if "$ref" in node and node["$ref"] not in seen:
        if _rejects_mapping(ref_target(node, defs), defs, seen | {node["$ref"]}):
            return True
    types = schema_types(node)
    if (types is not None and "object" not in types) or "enum" in node or "const" in node:
        return True
    if any(_rejects_mapping(s, defs, seen) for s in node.get("allOf", [])):
        return True
    return any(
        all(_rejects_mapping(s, defs, seen) for s in node[key]) for key in UNIONS if key in node
    )


def _admit_space(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`node`, or a union of it with a search space where it takes a scalar and no mapping."""
    if not (takes_scalar(node, defs) and _rejects_mapping(node, defs)):
        return node
    return union_with(node, _REF)


def with_search_spaces(document: dict[str, Any]) -> dict[str, Any]:
    """`document` (a whole schema, `${VAR}` interpolation admitted) with every scalar value
    schema also taking a search space, and the `SearchSpace` def added."""
    out: dict[str, Any] = at_values(document, document["$defs"], _admit_space, wrap=False)
    out["$defs"]["SearchSpace"] = SEARCH_SPACE
    return out
