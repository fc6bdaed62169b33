"""`${VAR}` interpolation in the spec's JSON Schema: every scalar value schema also takes a
`${VAR}` reference, which the loader substitutes (and types) before it checks the value.

The walk over a schema's value schemas (`at_values`) and the reading of one (`takes_scalar`,
`ref_target`, `schema_types`, `union_with`) are public: `schema_search` admits a search space
with them the same way."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# `${VAR}` and `${VAR:-default}`, as `kerascli.spec.source` substitutes them.
ENV_REFERENCE = r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}"
INTERPOLATION: dict[str, Any] = {
    "type": "string",
    "pattern": f"^{ENV_REFERENCE}$",
    "description": "`${VAR}` or `${VAR:-default}`: the variable's value, read as YAML "
    "(`${EPOCHS:-10}` is the integer 10), is checked when the spec is loaded.",
}
INTERPOLATED: dict[str, Any] = {
    "type": "string",
    "pattern": ENV_REFERENCE,
    "description": "A string with `${VAR}` or `${VAR:-default}` in it, checked once substituted.",
}
# Keywords that describe a value but do not constrain it: kept outside the interpolation union.
ANNOTATIONS = ("description", "examples", "default", "title", "deprecated", "$comment")
# In-place applicators walked for values; `not`, `if` and `propertyNames` are left alone
# (interpolation there would flip a condition or apply to keys, which are never substituted).
_IN_PLACE = ("allOf", "then", "else")
UNIONS = ("anyOf", "oneOf")
_SCALAR_TYPES = {"string", "integer", "number", "boolean"}


def ref_target(node: dict[str, Any], defs: dict[str, Any]) -> Any:
    ref = node.get("$ref", "")
    return defs.get(ref[8:], True) if ref.startswith("#/$defs/") else True


def schema_types(node: dict[str, Any]) -> set[str] | None:
    kind = node.get("type")
    return None if kind is None else {kind} if isinstance(kind, str) else set(kind)


def takes_scalar(node: Any, defs: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether `node` may accept a (non-null) scalar: a number, boolean or string."""
    if not isinstance(node, dict):
        return node is not False
    if "$ref" in node:
        if node["$ref"] in seen:
            return False
        if not takes_scalar(ref_target(node, defs), defs, seen | {node["$ref"]}):
            return False
    types = schema_types(node)
    if types is not None and not types & _SCALAR_TYPES:
        return False
    values = node["enum"] if "enum" in node else [node["const"]] if "const" in node else None
    if values is not None and not any(isinstance(v, (str, int, float)) for v in values):
        return False
    if "allOf" in node and not all(takes_scalar(s, defs, seen) for s in node["allOf"]):
        return False
    return all(any(takes_scalar(s, defs, seen) for s in node[key]) for key in UNIONS if key in node)


def _rejects_reference(node: Any, defs: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether `node` rejects a `${VAR}` string (conservatively: unknown means no)."""
    if not isinstance(node, dict):
        return node is False
    if "$ref" in node and node["$ref"] not in seen:
        if _rejects_reference(ref_target(node, defs), defs, seen | {node["$ref"]}):
            return True
    types = schema_types(node)
    if types is not None and "string" not in types:
        return True
    if any(key in node for key in ("enum", "const", "pattern")):
        return True
    if any(_rejects_reference(s, defs, seen) for s in node.get("allOf", [])):
        return True
    return any(
        all(_rejects_reference(s, defs, seen) for s in node[key]) for key in UNIONS if key in node
    )


def _admit_reference(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`node`, or a union of it with a `${VAR}` value (free text with a pattern: any `${...}`)."""
    if not (takes_scalar(node, defs) and _rejects_reference(node, defs)):
        return node
    reference = {"$ref": f"#/$defs/{'Interpolated' if 'pattern' in node else 'Interpolation'}"}
    return union_with(node, reference)


def union_with(node: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`node` or `schema`: `node`'s own `anyOf` extended, or a new one (annotations kept
    outside it)."""
    if set(node) - set(ANNOTATIONS) == {"anyOf"}:
        return {**node, "anyOf": [*node["anyOf"], schema]}
    kept = {k: v for k, v in node.items() if k in ANNOTATIONS}
    core = {k: v for k, v in node.items() if k not in ANNOTATIONS}
    return {**kept, "anyOf": [core, schema]}


Admit = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
"""Given a value schema and the `$defs`, the schema that also takes something else."""


def at_values(node: Any, defs: dict[str, Any], admit: Admit, wrap: bool = True) -> Any:
    """`node` with `admit` applied to every value schema under it.

    `wrap` is false for the members of a union (the union itself is admitted) and for `$defs`
    roots (a def may check keys too; the places that use it for values are admitted instead).
    """
    if not isinstance(node, dict):
        return node
    if wrap:
        node = admit(node, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "$defs"):
            out[key] = {k: at_values(v, defs, admit, key != "$defs") for k, v in value.items()}
        elif key in ("items", "additionalProperties", "contains", "unevaluatedProperties"):
            out[key] = at_values(value, defs, admit)
        elif key == "prefixItems":
            out[key] = [at_values(v, defs, admit) for v in value]
        elif key in UNIONS:
            out[key] = [at_values(v, defs, admit, wrap=False) for v in value]
        elif key in _IN_PLACE:
            items = value if isinstance(value, list) else [value]
            done = [at_values(v, defs, admit) for v in items]
            out[key] = done if isinstance(value, list) else done[0]
        else:
            out[key] = value
    return out


def with_interpolation(document: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`document` (a whole schema, its `$defs` given as `defs`) with every scalar value schema
    also taking a `${VAR}` interpolation, and the `Interpolation`/`Interpolated` defs added."""
    out: dict[str, Any] = at_values(document, defs, _admit_reference, wrap=False)
    out["$defs"].update(Interpolation=INTERPOLATION, Interpolated=INTERPOLATED)
    return out
