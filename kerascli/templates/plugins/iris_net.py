"""The model class of the `subclass` starter spec (`class: plugins/iris_net.py:IrisNet`)."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="kerascli_starter")
class IrisNet(keras.Model):
    """A small classifier: hidden `Dense(units, relu)` layers and a softmax head.

    Registered as Keras-serializable, with `get_config`, so the saved `model.keras` reloads
    for `kerascli evaluate` and `kerascli predict`.

    Args:
        units: Width of each hidden layer. Defaults to `16`.
        depth: Number of hidden layers. Defaults to `2`.
        classes: Number of classes (softmax units). Defaults to `3`.

    Example:

    >>> model = IrisNet(units=8, classes=3)
    >>> model(keras.ops.zeros((2, 4))).shape
    (2, 3)
    """

    def __init__(self, units: int = 16, depth: int = 2, classes: int = 3, **kwargs: Any):
        super().__init__(**kwargs)
        if units < 1 or depth < 1 or classes < 2:
            raise ValueError(
                "units and depth must be positive and classes at least 2. "
                f"Received: units={units}, depth={depth}, classes={classes}"
            )
        self.units, self.depth, self.classes = int(units), int(depth), int(classes)
        self.hidden = [
            keras.layers.Dense(self.units, activation="relu", name=f"hidden_{i}")
            for i in range(self.depth)
        ]
        self.head = keras.layers.Dense(self.classes, activation="softmax", name="head")

    def call(self, inputs: Any) -> Any:
        x = inputs
        for layer in self.hidden:
            x = layer(x)
        return self.head(x)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, depth=self.depth, classes=self.classes)
        return config
