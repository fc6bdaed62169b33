"""The shipped Keras catalog matches the installed Keras, and covers every Keras class."""

from __future__ import annotations

import inspect
import json
from typing import Any

import pytest

from kerascli.model.keras_env import import_keras
from kerascli.model.write_catalog import generate
from kerascli.spec import catalog

REGENERATE = "python -m kerascli.model.write_catalog"


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    """What `python -m kerascli.model.write_catalog` would write, as plain JSON data."""
    return json.loads(json.dumps(generate(), sort_keys=True))


@pytest.fixture(scope="module")
def shipped() -> dict[str, Any]:
    return json.loads(catalog.CATALOG_FILE.read_text(encoding="utf-8"))


def _differences(shipped: dict[str, Any], generated: dict[str, Any]) -> list[str]:
    out = []
    for family in sorted(set(shipped["families"]) | set(generated["families"])):
        old = shipped["families"].get(family, {})
        new = generated["families"].get(family, {})
        old_classes, new_classes = old.get("classes", {}), new.get("classes", {})
        for name in sorted(set(old_classes) | set(new_classes)):
            if name not in new_classes:
                out.append(f"{family}.{name}: gone from Keras")
            elif name not in old_classes:
                out.append(f"{family}.{name}: new in Keras")
            elif old_classes[name] != new_classes[name]:
                out.append(f"{family}.{name}: arguments changed")
        if old.get("identifiers") != new.get("identifiers"):
            out.append(f"{family}: identifiers changed")
    return out


def test_shipped_catalog_matches_installed_keras(
    shipped: dict[str, Any], generated: dict[str, Any]
) -> None:
    if shipped != generated:
        changes = _differences(shipped, generated)
        pytest.fail(
            f"{catalog.CATALOG_FILE.name} (Keras {shipped.get('keras_version')}) is out of date "
            f"with the installed Keras {generated['keras_version']}: run `{REGENERATE}`.\n"
            + "\n".join(changes[:20])
            + (f"\n... and {len(changes) - 20} more" if len(changes) > 20 else "")
        )


def _own_params(cls: type) -> list[str]:
    """Named constructor arguments of the class itself (not what **kwargs passes on)."""
    signature = inspect.signature(cls.__init__)
    return [
        name
        for name, p in signature.parameters.items()
        if name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


FAMILIES = {
    "layers": lambda k: (k.layers, k.layers.Layer),
    "optimizers": lambda k: (k.optimizers, k.optimizers.Optimizer),
    "schedules": lambda k: (k.optimizers.schedules, k.optimizers.schedules.LearningRateSchedule),
    "losses": lambda k: (k.losses, k.losses.Loss),
    "metrics": lambda k: (k.metrics, k.metrics.Metric),
    "callbacks": lambda k: (k.callbacks, k.callbacks.Callback),
    "initializers": lambda k: (k.initializers, k.initializers.Initializer),
    "regularizers": lambda k: (k.regularizers, k.regularizers.Regularizer),
    "constraints": lambda k: (k.constraints, k.constraints.Constraint),
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_every_keras_class_is_in_the_catalog(family: str) -> None:
    """Every public class of the Keras namespace, with each argument its constructor names."""
    namespace, base = FAMILIES[family](import_keras())
    known = catalog.classes(family)
    seen = 0
    for name in dir(namespace):
        cls = getattr(namespace, name)
        if name.startswith("_") or not inspect.isclass(cls) or not issubclass(cls, base):
            continue
        seen += 1
        assert name in known, f"keras.{family} class {name} is not in the catalog"
        missing = [p for p in _own_params(cls) if p not in known[name].params]
        assert not missing, f"{name}: arguments {missing} are not in the catalog"
    assert seen == len(known)


def test_required_arguments_are_the_class_own() -> None:
    """A base class's required argument is the subclass's to pass (Conv2D passes `rank`)."""
    keras = import_keras()
    for name, signature in catalog.classes("layers").items():
        own = inspect.signature(getattr(keras.layers, name).__init__).parameters
        for arg in signature.required:
            assert arg in own and own[arg].default is inspect.Parameter.empty, (name, arg)
    assert catalog.classes("layers")["Conv2D"].required == ["filters", "kernel_size"]
    assert catalog.classes("layers")["Dense"].required == ["units"]


def test_layer_keyword_arguments_and_open_signatures() -> None:
    dense = catalog.classes("layers")["Dense"]
    # Layer.__init__ takes name/dtype/trainable and, through **kwargs, input_shape.
    assert {"units", "activation", "name", "dtype", "trainable", "input_shape"} <= set(dense.params)
    assert dense.open is False
    assert dense.params["activation"] == {"required": False, "default": None}
    assert catalog.keras_version() == import_keras().__version__


def test_applications_and_ops_are_in_the_catalog() -> None:
    """Every `keras.applications` constructor and `keras.ops` function, by its Keras name."""
    keras = import_keras()
    applications = catalog.classes("applications")
    constructors = [n for n in dir(keras.applications) if not n.startswith("_") and n[0].isupper()]
    assert sorted(applications) == sorted(constructors)
    assert {"include_top", "weights", "pooling", "input_shape"} <= set(
        applications["MobileNetV3Small"].params
    )
    ops = catalog.classes("ops")
    functions = [n for n in dir(keras.ops) if not inspect.ismodule(getattr(keras.ops, n))]
    assert {n for n in functions if not n.startswith("_")} | {"getitem"} == set(ops)
    assert ops["add"].params == {"x1": {"required": True}, "x2": {"required": True}}
    assert catalog.SINGULAR["applications"] == "application"
    assert catalog.SINGULAR["ops"] == "op"


def test_positional_arguments_in_signature_order() -> None:
    layers = catalog.classes("layers")
    assert layers["Conv2D"].positional[:4] == ("filters", "kernel_size", "strides", "padding")
    assert layers["Dense"].positional[:2] == ("units", "activation")
    assert "name" not in layers["Dense"].positional  # Layer's own, through **kwargs
    assert catalog.classes("applications")["ResNet50"].positional[:2] == (
        "include_top",
        "weights",
    )
    assert catalog.classes("ops")["concatenate"].positional == ("xs", "axis")
    assert catalog.classes("ops")["einsum"].positional == ("subscripts",)
