"""Names -> Keras objects, one family at a time, seeded from Keras's namespaces plus plugins."""

from __future__ import annotations

import inspect
from typing import Any

from kerascli.model.keras_env import import_keras
from kerascli.spec import catalog
from kerascli.spec.problems import did_you_mean

# Families of functions, not classes: `keras.applications` constructors and `keras.ops`.
FUNCTION_FAMILIES = ("applications", "ops")


class UnknownName(LookupError):
    """A name that no Keras namespace nor plugin defines."""


class Registry:
    """Resolves a family's name (`layers`, `losses`, ...) to a Keras or plugin object.

    Args:
        plugins: Plugin objects by name. Defaults to none.
    """

    def __init__(self, plugins: dict[str, Any] | None = None):
        keras = import_keras()
        self.keras = keras
        self.plugins = dict(plugins or {})
        self.namespaces = {
            "layers": keras.layers,
            "optimizers": keras.optimizers,
            "schedules": keras.optimizers.schedules,
            "losses": keras.losses,
            "metrics": keras.metrics,
            "callbacks": keras.callbacks,
            "initializers": keras.initializers,
            "regularizers": keras.regularizers,
            "constraints": keras.constraints,
            "activations": keras.activations,
            "applications": keras.applications,
            "ops": keras.ops,
        }
        self.bases = {
            "layers": keras.layers.Layer,
            "optimizers": keras.optimizers.Optimizer,
            "schedules": keras.optimizers.schedules.LearningRateSchedule,
            "losses": keras.losses.Loss,
            "metrics": keras.metrics.Metric,
            "callbacks": keras.callbacks.Callback,
            "initializers": keras.initializers.Initializer,
            "regularizers": keras.regularizers.Regularizer,
            "constraints": keras.constraints.Constraint,
        }

    def plugin(self, family: str, name: str) -> Any | None:
        """The plugin object `name` if it belongs to `family`."""
        obj = self.plugins.get(name)
        if obj is None:
            return None
        if inspect.isclass(obj):
            base = self.bases.get(family)
            return obj if base is not None and issubclass(obj, base) else None
        return obj if family in ("losses", "metrics", "activations") else None

    def get(self, family: str, name: str) -> Any:
        """The class (or string identifier) `name` of `family`.

        Raises:
            UnknownName: with a did-you-mean over Keras's and the plugins' names.
        """
        found = self.plugin(family, name)
        if found is not None:
            return found
        if name in catalog.identifiers(family):
            return name
        obj = getattr(self.namespaces[family], name, None)
        if family in FUNCTION_FAMILIES and callable(obj) and name in catalog.classes(family):
            return obj  # a constructor function (`MobileNetV3Small`) or an op (`add`)
        base = self.bases.get(family)
        if inspect.isclass(obj) and (base is None or issubclass(obj, base)):
            return obj
        choices = [*catalog.names(family), *(n for n in self.plugins if self.plugin(family, n))]
        hint = did_you_mean(name, choices)
        raise UnknownName(f"unknown {catalog.SINGULAR[family]} '{name}'{hint}")

    def custom_objects(self) -> dict[str, Any]:
        """Plugin objects, as `custom_objects` for loading a saved model."""
        return dict(self.plugins)
