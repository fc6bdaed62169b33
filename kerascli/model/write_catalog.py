"""Write `kerascli/spec/keras_catalog.json`: every Keras name the spec may use, with its arguments.

The spec layer never imports TensorFlow, yet `kerascli validate` reports an
unknown layer or a misspelt argument. It does so from this catalog, generated
from the installed Keras (`python -m kerascli.model.write_catalog`); a test checks
that the shipped file matches the installed Keras.
"""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any

from kerascli.model.keras_env import import_keras

CATALOG_PATH = Path(__file__).resolve().parent.parent / "spec" / "keras_catalog.json"

# Keyword arguments that `keras.layers.Layer.__init__` takes through **kwargs.
_LAYER_EXTRA_KWARGS = ("input_dim", "input_shape")


def _json_default(value: Any) -> Any:
    if value is inspect.Parameter.empty:
        return None
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (bool, int, float, str)) or v is None for v in value
    ):
        return list(value)
    return None


def describe(target: Any) -> dict[str, Any]:
    """Constructor arguments of a Keras class or function, following **kwargs up the MRO."""
    params: dict[str, dict[str, Any]] = {}
    open_kwargs = False
    functions = [target] if not inspect.isclass(target) else []
    if inspect.isclass(target):
        for klass in target.__mro__:
            if "__init__" in vars(klass):
                functions.append(vars(klass)["__init__"])
    for function in functions:
        try:
            signature = inspect.signature(function)
        except (TypeError, ValueError):
            open_kwargs = True
            break
        has_var_kw = False
        for name, param in signature.parameters.items():
            if name == "self" or param.kind is inspect.Parameter.VAR_POSITIONAL:
                continue
            if param.kind is inspect.Parameter.VAR_KEYWORD:
                has_var_kw = True
                continue
            if name not in params:
                # A base class's required argument is the subclass's to pass (Conv2D passes
                # `rank`), so only the class's own signature makes an argument required.
                required = param.default is inspect.Parameter.empty and function is functions[0]
                entry: dict[str, Any] = {"required": required}
                if not required:
                    entry["default"] = _json_default(param.default)
                params[name] = entry
        if getattr(function, "__qualname__", "").startswith("Layer.__init__"):
            for name in _LAYER_EXTRA_KWARGS:
                params.setdefault(name, {"required": False, "default": None})
            has_var_kw = False
        if not has_var_kw:
            break
        if function is object.__init__:
            break
    else:
        open_kwargs = bool(functions)
    if inspect.isclass(target) and functions and functions[-1] is object.__init__:
        open_kwargs = False
    doc = inspect.getdoc(target) or ""
    return {
        "params": params,
        "open": open_kwargs,
        "doc": doc.strip().splitlines()[0] if doc else "",
        "positional": _positional(functions[0]) if functions else [],
    }


def _positional(function: Any) -> list[str]:
    """The arguments `function` takes by position, in its signature's order (`self` left out)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds and p.name != "self"]


def _classes(module: Any, base: type) -> dict[str, Any]:
    out = {}
    for name in sorted(dir(module)):
        obj = getattr(module, name)
        if name.startswith("_") or not inspect.isclass(obj) or not issubclass(obj, base):
            continue
        out[name] = obj
    return out


def _functions(module: Any) -> dict[str, Any]:
    """The public functions of a namespace (`keras.applications`, `keras.ops`), not its modules."""
    out = {}
    for name in sorted(dir(module)):
        obj = getattr(module, name)
        if not name.startswith("_") and callable(obj) and not inspect.isclass(obj):
            out[name] = obj
    return out


GETITEM = {
    "params": {"key": {"required": True}},
    "open": False,
    "doc": "Slice a tensor: `x[key]`, the key written as text such as `[:, -1]` (kerascli's).",
    "positional": ["key"],
}
"""`ops.getitem`: Python's `x[key]` on a tensor (Keras's `GetItem` operation), with the key
parsed from text (`kerascli.spec.slicing`); not a `keras.ops` function, so written here."""


def generate() -> dict[str, Any]:
    """Build the catalog from the installed Keras."""
    keras = import_keras()
    from keras.src import activations, constraints, initializers, losses, metrics, regularizers

    def identifiers(module: Any) -> list[str]:
        return sorted(k for k in module.ALL_OBJECTS_DICT if not k[:1].isupper())

    families: dict[str, tuple[dict[str, Any], list[str]]] = {
        "layers": (_classes(keras.layers, keras.layers.Layer), []),
        "optimizers": (
            _classes(keras.optimizers, keras.optimizers.Optimizer),
            sorted(n.lower() for n in _classes(keras.optimizers, keras.optimizers.Optimizer)),
        ),
        "schedules": (
            _classes(keras.optimizers.schedules, keras.optimizers.schedules.LearningRateSchedule),
            [],
        ),
        "losses": (_classes(keras.losses, keras.losses.Loss), identifiers(losses)),
        "metrics": (
            _classes(keras.metrics, keras.metrics.Metric),
            sorted({*identifiers(metrics), "acc", "crossentropy", "ce"}),
        ),
        "callbacks": (_classes(keras.callbacks, keras.callbacks.Callback), []),
        "initializers": (
            _classes(keras.initializers, keras.initializers.Initializer),
            identifiers(initializers),
        ),
        "regularizers": (
            _classes(keras.regularizers, keras.regularizers.Regularizer),
            identifiers(regularizers),
        ),
        "constraints": (
            _classes(keras.constraints, keras.constraints.Constraint),
            identifiers(constraints),
        ),
        "activations": ({}, sorted(activations.ALL_OBJECTS_DICT)),
        "applications": (_functions(keras.applications), []),
        "ops": (_functions(keras.ops), []),
    }
    catalog = {
        "keras_version": keras.__version__,
        "families": {
            family: {
                "classes": {name: describe(obj) for name, obj in classes.items()},
                "identifiers": idents,
            }
            for family, (classes, idents) in families.items()
        },
    }
    catalog["families"]["ops"]["classes"]["getitem"] = GETITEM
    return catalog


def main() -> None:
    catalog = generate()
    text = json.dumps(catalog, indent=1, sort_keys=True) + "\n"
    CATALOG_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {CATALOG_PATH} (Keras {catalog['keras_version']})", file=sys.stderr)


if __name__ == "__main__":
    main()
