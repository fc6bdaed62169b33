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

Long because the schema's parts (the models' structure, each family's names and arguments,
the known-names overlay) refer to each other's `$defs` and are assembled in one pass; the
`${VAR}` overlay, which only walks the result, is in `schema_interpolation`.

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
from kerascli.spec.facts import OPS_PREFIX, RUN_DIR_DEFAULTS, argument_family
from kerascli.spec.models import FAMILY_KEY, NODE_KEYS, TRAINABLE_SCHEMA, Spec
from kerascli.spec.schema_interpolation import with_interpolation
from kerascli.spec.schema_search import with_search_spaces

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

# Structural rules of the models' validators, in JSON Schema. `ALWAYS` holds in every spec;
# `COMPLETE` only in a spec that extends nothing (a child spec may leave them to its base).
ALWAYS: dict[str, dict[str, Any]] = {
    # One model kind, beside `blocks` and `weights`.
    "ModelSpec": {
        "if": {"required": ["blocks", "weights"]},
        "then": {"maxProperties": 3},
        "else": {
            "if": {"anyOf": [{"required": ["blocks"]}, {"required": ["weights"]}]},
            "then": {"maxProperties": 2},
            "else": {"maxProperties": 1},
        },
    },
    "SubclassSpec": {"not": {"required": ["input", "inputs"]}},
    "DataSpec": {
        "allOf": [
            {"not": {"required": ["path", "train"]}},
            {"not": {"required": ["features", "inputs"]}},
            {"not": {"required": ["target", "outputs"]}},
            {"if": {"required": ["path"]}, "then": {"not": {"required": ["validation"]}}},
            {"if": {"required": ["path"]}, "then": {"not": {"required": ["test"]}}},
            {"if": {"required": ["train"]}, "then": {"not": {"required": ["split"]}}},
            # One reader section: images, text or tfrecord.
            {"not": {"required": ["images", "text"]}},
            {"not": {"required": ["images", "tfrecord"]}},
            {"not": {"required": ["text", "tfrecord"]}},
        ]
    },
    # A stream splits by a key's values or by whole files, not both.
    "SplitSpec": {
        "not": {
            "required": ["key", "by_file"],
            "properties": {"key": {"type": "string"}, "by_file": {"const": True}},
        }
    },
    "ImagesSpec": {
        "not": {
            "required": ["crop_to_aspect_ratio", "pad_to_aspect_ratio"],
            "properties": {
                "crop_to_aspect_ratio": {"const": True},
                "pad_to_aspect_ratio": {"const": True},
            },
        }
    },
    # One layer: a `reuse` or `block` node has none of its own; any other node has one
    # besides `from` (and `call`).
    "FunctionalNode": {
        "if": {"anyOf": [{"required": ["reuse"]}, {"required": ["block"]}]},
        "then": {"propertyNames": {"enum": list(NODE_KEYS)}},
        "else": {
            "if": {"required": ["call"]},
            "then": {"maxProperties": 3},
            "else": {"maxProperties": 2},
        },
    },
}
COMPLETE: dict[str, dict[str, Any]] = {
    "ModelSpec": {
        "minProperties": 1,
        "anyOf": [{"required": [kind]} for kind in ("sequential", "functional", "subclass")],
    },
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


def _arguments(family: str, signature: catalog.Signature) -> dict[str, Any]:
    """`{Class: {...}}`'s value: the constructor's arguments as properties (a list: the
    arguments by position, where the signature has them)."""
    properties: dict[str, Any] = {}
    for argument, info in signature.params.items():
        nested = argument_family(argument)
        schema: dict[str, Any] = _ref(STEMS[nested]) if nested else {}
        if "default" in info:
            schema["default"] = info["default"]
        properties[argument] = schema
    required = [a for a in signature.required if RUN_DIR_DEFAULTS.get(signature.name) != a]
    if family == "ops":  # the tensors come from the node's `from`
        required = []
    if family == "applications":
        properties.pop("input_tensor", None)  # the node's `from` gives the input
        properties["trainable"] = TRAINABLE_SCHEMA
        properties["weights"] = {
            "description": "null or a local weights file (kerascli never downloads).",
            "anyOf": [{"type": "null"}, {"type": "string", "pattern": r"(\.h5|\.keras)$"}],
        }
        required = ["weights"]
    types = ["object"] if required else ["object", "null"]
    positional = family in ("layers", "applications") and signature.positional
    schema = {
        "type": [*types, "array"] if positional else types[0] if len(types) == 1 else types,
        "description": signature.doc,
        "properties": properties,
        "additionalProperties": signature.open,
    }
    if positional:
        schema["maxItems"] = len(signature.positional)
    if required:
        schema["required"] = required
    return schema


def _layer_call_classes() -> dict[str, Any]:
    """Where a layer goes: the arguments of each `keras.applications` model and `ops.NAME`."""
    apps = catalog.classes("applications")
    ops = catalog.classes("ops")
    return {
        **{name: _arguments("applications", sig) for name, sig in apps.items()},
        **{f"{OPS_PREFIX}{name}": _arguments("ops", sig) for name, sig in ops.items()},
    }


def _family_defs(family: str) -> dict[str, Any]:
    """`$defs` of one family: its names, its classes' arguments, and a call of it."""
    stem = STEMS[family]
    names = catalog.names(family)
    properties = {name: _arguments(family, sig) for name, sig in catalog.classes(family).items()}
    if family == "layers":
        properties.update(_layer_call_classes())
        names = [*names, *_layer_call_classes()]
    defs: dict[str, Any] = {f"{stem}Name": {"type": "string", "enum": names}}
    if properties:
        defs[f"{stem}Classes"] = {"type": "object", "properties": properties}
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
        if properties:
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
            model["additionalProperties"] = {"type": ["object", "array", "null"]}
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


def _known_names() -> dict[str, Any]:
    """Overlay: every call site names a Keras class or identifier (specs without plugins)."""
    node = {
        "propertyNames": {"anyOf": [{"enum": list(NODE_KEYS)}, _ref("LayerName")]},
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
            "data": {"properties": {"augment": _known_augment()}},
        },
    }


def _known_augment() -> dict[str, Any]:
    """`data.augment`'s layers name Keras layers: a list, lists by input name, or one call."""
    layers = {"items": _ref("KnownLayer")}
    return {
        "if": {"type": "array"},
        "then": layers,
        "else": {
            "if": {"type": "object", "additionalProperties": {"type": "array"}},
            "then": {"additionalProperties": layers},
            "else": _ref("KnownLayer"),
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
    # `data.augment` may be one layer call written without a list (`DataSpec._augment_lists`).
    augment = relaxed["DataSpec"]["properties"]["augment"]
    augment["anyOf"].insert(2, {"type": "object", "maxProperties": 1, "allOf": [_ref("Layer")]})
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
    return with_search_spaces(with_interpolation(document, defs))


def schema_text(schema: dict[str, Any] | None = None) -> str:
    """The schema as the text `kerascli schema` writes (stable, one key per line)."""
    document = spec_schema() if schema is None else schema
    return json.dumps(document, indent=1, ensure_ascii=False) + "\n"
