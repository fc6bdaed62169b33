"""The spec's JSON Schema (draft 2020-12), for editors: `kerascli schema`.

Generated from the Pydantic models (`Spec.model_json_schema()`) and enriched
from the Keras catalog, without TensorFlow: every layer, optimizer, loss,
metric and callback call site lists the Keras class names (and string
identifiers), each class with its one-line doc and its arguments as properties.

The schema mirrors `kerascli validate` as far as JSON Schema can:

- Structure (keys, types, ranges) always applies.
- Required keys apply unless the spec `extends` a base (a child spec may be partial). The
  top-level `name` is never required here, since a base file may leave it to the specs that
  extend it; `kerascli validate` still requires it on the final spec.
- `${VAR}` / `${VAR:-default}` interpolation is accepted wherever a scalar goes (numbers,
  booleans, names, patterned strings): the loader substitutes and types the value first.
- Unknown Keras names are errors unless the spec has `plugins` or `extends` (which
  may define or bring in custom names); arguments of known classes are always checked.

Example:

    import json
    from kerascli.spec.schema import spec_schema

    document = spec_schema()
    assert "Dense" in document["$defs"]["LayerClasses"]["properties"]
"""

from __future__ import annotations

import json
from typing import Any

from kerascli.spec import catalog
from kerascli.spec.checks import RUN_DIR_DEFAULTS
from kerascli.spec.models import FAMILY_KEY, Spec

DRAFT = "https://json-schema.org/draft/2020-12/schema"
SCHEMA_FILE = "kerascli.schema.json"
"""The file name docs and templates use for the generated schema."""

# Family -> the name stem of its `$defs` entries (`Layer`, `LayerName`, `LayerClasses`).
STEMS = {
    "layers": "Layer",
    "optimizers": "Optimizer",
    "schedules": "Schedule",
    "losses": "Loss",
    "metrics": "Metric",
    "callbacks": "Callback",
    "initializers": "Initializer",
    "regularizers": "Regularizer",
    "constraints": "Constraint",
    "activations": "Activation",
}

# Families written as calls at their own sites (`layers:`, `optimizer:`...): unknown names
# there are errors without plugins. The others appear nested as argument values.
CALL_FAMILIES = ("layers", "optimizers", "losses", "metrics", "callbacks")

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
_ANNOTATIONS = ("description", "examples", "default", "title", "deprecated", "$comment")
# In-place applicators walked for values; `not`, `if` and `propertyNames` are left alone
# (interpolation there would flip a condition or apply to keys, which are never substituted).
_IN_PLACE = ("allOf", "then", "else")
_UNIONS = ("anyOf", "oneOf")
_SCALAR_TYPES = {"string", "integer", "number", "boolean"}

# Structural rules of the models' validators, in JSON Schema. `ALWAYS` holds in every spec;
# `COMPLETE` only in a spec that extends nothing (a child spec may leave them to its base).
ALWAYS: dict[str, dict[str, Any]] = {
    "ModelSpec": {"maxProperties": 1},
    "SubclassSpec": {"not": {"required": ["input", "inputs"]}},
    "DataSpec": {
        "allOf": [
            {"not": {"required": ["path", "train"]}},
            {"not": {"required": ["features", "inputs"]}},
            {"not": {"required": ["target", "outputs"]}},
            {"if": {"required": ["path"]}, "then": {"not": {"required": ["validation"]}}},
            {"if": {"required": ["path"]}, "then": {"not": {"required": ["test"]}}},
            {"if": {"required": ["train"]}, "then": {"not": {"required": ["split"]}}},
        ]
    },
    "FunctionalNode": {"maxProperties": 2},
}
COMPLETE: dict[str, dict[str, Any]] = {
    "ModelSpec": {"minProperties": 1},
    "SubclassSpec": {"oneOf": [{"required": ["input"]}, {"required": ["inputs"]}]},
    "DataSpec": {"oneOf": [{"required": ["path"]}, {"required": ["train"]}]},
    "FunctionalNode": {"minProperties": 2},
}

_DESCRIPTIONS = {
    "layers": "A Keras layer: a class name such as `Flatten`, or `{Class: {arguments}}`.",
    "optimizers": "An optimizer: a name such as `adam`, or `{Class: {arguments}}`.",
    "schedules": "A learning-rate schedule `{Class: {arguments}}`, or a number.",
    "losses": "A loss: a name such as `mse`, or `{Class: {arguments}}`.",
    "metrics": "A metric: a name such as `accuracy`, or `{Class: {arguments}}`.",
    "callbacks": "A Keras callback: a class name, or `{Class: {arguments}}`.",
    "initializers": "An initializer: a name such as `he_normal`, or `{Class: {arguments}}`.",
    "regularizers": "A regularizer: a name such as `l2`, or `{Class: {arguments}}`.",
    "constraints": "A weight constraint: a name such as `non_neg`, or `{Class: {arguments}}`.",
    "activations": "An activation function, by name.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/$defs/{name}"}


def _argument_family(family: str, argument: str) -> str | None:
    """The family of the values an argument takes, where its name tells."""
    if argument.endswith("_initializer"):
        return "initializers"
    if argument.endswith("_regularizer"):
        return "regularizers"
    if argument.endswith("_constraint"):
        return "constraints"
    if argument in ("activation", "recurrent_activation"):
        return "activations"
    if family == "optimizers" and argument == "learning_rate":
        return "schedules"
    if family == "layers" and argument in ("layer", "backward_layer"):
        return "layers"
    return None


def _arguments(family: str, signature: catalog.Signature) -> dict[str, Any]:
    """`{Class: {...}}`'s value: the constructor's arguments as properties."""
    properties: dict[str, Any] = {}
    for argument, info in signature.params.items():
        nested = _argument_family(family, argument)
        schema: dict[str, Any] = _ref(STEMS[nested]) if nested else {}
        if "default" in info:
            schema["default"] = info["default"]
        properties[argument] = schema
    required = [a for a in signature.required if RUN_DIR_DEFAULTS.get(signature.name) != a]
    schema = {
        "type": "object" if required else ["object", "null"],
        "description": signature.doc,
        "properties": properties,
        "additionalProperties": signature.open,
    }
    if required:
        schema["required"] = required
    return schema


def _family_defs(family: str) -> dict[str, Any]:
    """`$defs` of one family: its names, its classes' arguments, and a call of it."""
    stem = STEMS[family]
    names = catalog.names(family)
    defs: dict[str, Any] = {f"{stem}Name": {"type": "string", "enum": names}}
    classes = catalog.classes(family)
    if classes:
        defs[f"{stem}Classes"] = {
            "type": "object",
            "properties": {name: _arguments(family, sig) for name, sig in classes.items()},
        }
    branches: list[dict[str, Any]] = [_ref(f"{stem}Name")]
    if family in CALL_FAMILIES:
        # Any other name may come from a plugin; `KnownNames` rejects it where none can.
        branches.append({"type": "string"})
        branches.append(
            {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 1,
                "additionalProperties": {"type": ["object", "null"]},
                "allOf": [_ref(f"{stem}Classes")],
            }
        )
    else:
        # Nested argument values: numbers, custom names, Keras config dicts pass too.
        branches.append({"type": ["string", "number", "boolean", "array", "null"]})
        if classes:
            branches.append({"type": "object", "allOf": [_ref(f"{stem}Classes")]})
    defs[stem] = {"description": _DESCRIPTIONS[family], "anyOf": branches}
    if family in CALL_FAMILIES:
        name = _ref(f"{stem}Name")
        defs[f"Known{stem}"] = {
            "if": {"type": "string"},
            "then": name,
            "else": {"propertyNames": name},
        }
    return defs


def _strip_titles(node: Any) -> Any:
    """Drop Pydantic's generated titles (noise in hovers), keep everything else."""
    if isinstance(node, dict):
        return {
            k: _strip_titles(v)
            for k, v in node.items()
            if not (k == "title" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_strip_titles(v) for v in node]
    return node


def _use_families(node: Any) -> Any:
    """Replace each generic call marked with `FAMILY_KEY` by a `$ref` to its family."""
    if isinstance(node, dict):
        if FAMILY_KEY in node:
            kept = {k: v for k, v in node.items() if k in ("description", "examples", "default")}
            return {**_ref(STEMS[node[FAMILY_KEY]]), **kept}
        return {k: _use_families(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_use_families(v) for v in node]
    return node


def _completion(schema: Any, models: dict[str, Any]) -> dict[str, Any] | None:
    """The `Complete*` overlay of a property schema: required keys of the models it holds."""
    if not isinstance(schema, dict):
        return None
    ref = schema.get("$ref", "")
    if ref.startswith("#/$defs/") and ref[8:] in models:
        return _ref(f"Complete{ref[8:]}")
    for key in ("anyOf", "oneOf"):
        found = [c for c in (_completion(s, models) for s in schema.get(key, [])) if c]
        if found:
            assert len(found) == 1, "one object branch per union"
            return found[0]
    for key in ("additionalProperties", "items"):
        inner = _completion(schema.get(key), models)
        if inner:
            return {key: inner}
    return None


def _structure(spec: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split the models' schema into relaxed models (no `required`) and `Complete*` overlays."""
    models = {"Spec": {k: v for k, v in spec.items() if k != "$defs"}, **spec["$defs"]}
    relaxed: dict[str, Any] = {}
    complete: dict[str, Any] = {}
    for name, model in models.items():
        model = dict(model)
        required = model.pop("required", [])
        if name == "FunctionalNode":
            # Its layer is any one extra key: a known class (arguments checked) or a plugin's.
            model["additionalProperties"] = {"type": ["object", "null"]}
            model["allOf"] = [_ref("LayerClasses")]
        model.update(ALWAYS.get(name, {}))
        relaxed[name] = model
        overlay: dict[str, Any] = dict(COMPLETE.get(name, {}))
        if required:
            overlay["required"] = required
        props = {
            key: found
            for key, prop in model.get("properties", {}).items()
            if (found := _completion(prop, models))
        }
        if props:
            overlay["properties"] = props
        complete[f"Complete{name}"] = overlay
    return relaxed, complete


def _target(node: dict[str, Any], defs: dict[str, Any]) -> Any:
    ref = node.get("$ref", "")
    return defs.get(ref[8:], True) if ref.startswith("#/$defs/") else True


def _types(node: dict[str, Any]) -> set[str] | None:
    kind = node.get("type")
    return None if kind is None else {kind} if isinstance(kind, str) else set(kind)


def _takes_scalar(node: Any, defs: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether `node` may accept a (non-null) scalar: a number, boolean or string."""
    if not isinstance(node, dict):
        return node is not False
    if "$ref" in node:
        if node["$ref"] in seen:
            return False
        if not _takes_scalar(_target(node, defs), defs, seen | {node["$ref"]}):
            return False
    types = _types(node)
    if types is not None and not types & _SCALAR_TYPES:
        return False
    values = node["enum"] if "enum" in node else [node["const"]] if "const" in node else None
    if values is not None and not any(isinstance(v, (str, int, float)) for v in values):
        return False
    if "allOf" in node and not all(_takes_scalar(s, defs, seen) for s in node["allOf"]):
        return False
    return all(
        any(_takes_scalar(s, defs, seen) for s in node[key]) for key in _UNIONS if key in node
    )


def _rejects_reference(node: Any, defs: dict[str, Any], seen: frozenset[str] = frozenset()) -> bool:
    """Whether `node` rejects a `${VAR}` string (conservatively: unknown means no)."""
    if not isinstance(node, dict):
        return node is False
    if "$ref" in node and node["$ref"] not in seen:
        if _rejects_reference(_target(node, defs), defs, seen | {node["$ref"]}):
            return True
    types = _types(node)
    if types is not None and "string" not in types:
        return True
    if any(key in node for key in ("enum", "const", "pattern")):
        return True
    if any(_rejects_reference(s, defs, seen) for s in node.get("allOf", [])):
        return True
    return any(
        all(_rejects_reference(s, defs, seen) for s in node[key]) for key in _UNIONS if key in node
    )


def _admit_reference(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """`node`, or a union of it with a `${VAR}` value (free text with a pattern: any `${...}`)."""
    if not (_takes_scalar(node, defs) and _rejects_reference(node, defs)):
        return node
    reference = _ref("Interpolated" if "pattern" in node else "Interpolation")
    if set(node) - set(_ANNOTATIONS) == {"anyOf"}:
        return {**node, "anyOf": [*node["anyOf"], reference]}
    kept = {k: v for k, v in node.items() if k in _ANNOTATIONS}
    core = {k: v for k, v in node.items() if k not in _ANNOTATIONS}
    return {**kept, "anyOf": [core, reference]}


def _with_interpolation(node: Any, defs: dict[str, Any], wrap: bool = True) -> Any:
    """Let every scalar value schema under `node` also take a `${VAR}` interpolation.

    `wrap` is false for the members of a union (the union itself takes it) and for `$defs`
    roots (a def may check keys too; the places that use it for values take it instead).
    """
    if not isinstance(node, dict):
        return node
    if wrap:
        node = _admit_reference(node, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("properties", "patternProperties", "$defs"):
            out[key] = {k: _with_interpolation(v, defs, key != "$defs") for k, v in value.items()}
        elif key in ("items", "additionalProperties", "contains", "unevaluatedProperties"):
            out[key] = _with_interpolation(value, defs)
        elif key == "prefixItems":
            out[key] = [_with_interpolation(v, defs) for v in value]
        elif key in _UNIONS:
            out[key] = [_with_interpolation(v, defs, wrap=False) for v in value]
        elif key in _IN_PLACE:
            items = value if isinstance(value, list) else [value]
            done = [_with_interpolation(v, defs) for v in items]
            out[key] = done if isinstance(value, list) else done[0]
        else:
            out[key] = value
    return out


def _known_names() -> dict[str, Any]:
    """Overlay: every call site names a Keras class or identifier (specs without plugins)."""
    node = {
        "propertyNames": {"anyOf": [{"enum": ["from", "reuse"]}, _ref("LayerName")]},
    }
    metrics = {"if": {"type": "array"}, "then": {"items": _ref("KnownMetric")}}
    return {
        "properties": {
            "model": {
                "properties": {
                    "sequential": {"properties": {"layers": {"items": _ref("KnownLayer")}}},
                    "functional": {"properties": {"layers": {"additionalProperties": node}}},
                }
            },
            "compile": {
                "properties": {
                    "optimizer": _ref("KnownOptimizer"),
                    # One loss, one per output name, or one per output in `outputs:` order.
                    "loss": {
                        "if": {"type": "array"},
                        "then": {"items": _ref("KnownLoss")},
                        "else": {
                            "anyOf": [
                                _ref("KnownLoss"),
                                {"type": "object", "additionalProperties": _ref("KnownLoss")},
                            ]
                        },
                    },
                    # A list, or a metric or list of metrics per output name.
                    "metrics": {
                        **metrics,
                        "else": {"additionalProperties": {**metrics, "else": _ref("KnownMetric")}},
                    },
                }
            },
            "callbacks": {"items": _ref("KnownCallback")},
        },
    }


def spec_schema() -> dict[str, Any]:
    """The JSON Schema of a kerascli spec, with the Keras catalog's names and arguments."""
    generated = _use_families(_strip_titles(Spec.model_json_schema()))
    relaxed, complete = _structure(generated)
    top = relaxed.pop("Spec")
    compile_def = relaxed["CompileSpec"]
    compile_def["properties"]["loss"] = {
        **{k: v for k, v in compile_def["properties"]["loss"].items() if k != "anyOf"},
        "anyOf": [
            _ref("Loss"),
            {"type": "object", "additionalProperties": _ref("Loss")},
            {"type": "array", "items": _ref("Loss"), "minItems": 1},
            {"type": "null"},
        ],
    }
    # A base file used through `extends` may leave `name` to the specs that extend it; a file
    # cannot tell here whether it is one, so `name` is never required (the loader checks it).
    overlay = complete["CompleteSpec"]
    overlay["required"] = [key for key in overlay.get("required", []) if key != "name"]
    name = top["properties"]["name"]
    name["description"] += (
        " Required in the spec you run (`kerascli validate` checks it);"
        " a base file used through `extends` may leave it out."
    )
    defs: dict[str, Any] = {**relaxed, **complete}
    for family in STEMS:
        defs.update(_family_defs(family))
    defs["KnownNames"] = _known_names()
    lenient = {
        "anyOf": [
            {"required": ["extends"]},
            {"required": ["plugins"], "properties": {"plugins": {"minItems": 1}}},
        ]
    }
    document = {
        "$schema": DRAFT,
        "title": "kerascli spec",
        "description": (
            f"{top.get('description', '')} Keras {catalog.keras_version()} names and arguments."
        ).strip(),
        **{k: v for k, v in top.items() if k != "description"},
        "allOf": [
            {"if": {"required": ["extends"]}, "else": _ref("CompleteSpec")},
            {"if": lenient, "else": _ref("KnownNames")},
        ],
        "$defs": defs,
    }
    document = _with_interpolation(document, defs, wrap=False)
    document["$defs"].update(Interpolation=INTERPOLATION, Interpolated=INTERPOLATED)
    return document


def schema_text(schema: dict[str, Any] | None = None) -> str:
    """The schema as the text `kerascli schema` writes (stable, one key per line)."""
    document = spec_schema() if schema is None else schema
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"
