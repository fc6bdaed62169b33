"""Model classes for the subclass examples (`class: plugins/net.py:MLPClassifier`)."""

from __future__ import annotations

from typing import Any

import keras


@keras.saving.register_keras_serializable(package="kerascli_examples")
class MLPClassifier(keras.Model):
    """A multi-layer perceptron classifier: flatten, hidden Dense blocks, a softmax head.

    Each hidden block is `Dense(units, relu)` followed by `Dropout(dropout)`. Inputs of any
    shape are flattened first, so it fits tables and small images alike.

    Args:
        units: Widths of the hidden layers. Defaults to `(64,)`.
        classes: Number of classes (softmax units). Defaults to `10`.
        dropout: Dropout rate after each hidden layer. Defaults to `0.0`.

    Example:

    >>> model = MLPClassifier(units=[32], classes=3)
    >>> model(keras.ops.zeros((2, 4))).shape
    (2, 3)
    """

    def __init__(
        self,
        units: list[int] | tuple[int, ...] = (64,),
        classes: int = 10,
        dropout: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if not units or any(int(u) <= 0 for u in units):
            raise ValueError(
                f"units must be a non-empty list of positive widths. Received: units={units}"
            )
        if classes < 2:
            raise ValueError(f"classes must be at least 2. Received: classes={classes}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1). Received: dropout={dropout}")
        self.units = [int(u) for u in units]
        self.classes = int(classes)
        self.dropout = float(dropout)
        self.flatten = keras.layers.Flatten()
        self.hidden = [
            keras.layers.Dense(u, activation="relu", name=f"hidden_{i}")
            for i, u in enumerate(self.units)
        ]
        self.drops = [keras.layers.Dropout(self.dropout) for _ in self.units]
        self.head = keras.layers.Dense(self.classes, activation="softmax", name="head")

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        x = self.flatten(inputs)
        for dense, drop in zip(self.hidden, self.drops, strict=True):
            x = drop(dense(x), training=training)
        return self.head(x)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(units=self.units, classes=self.classes, dropout=self.dropout)
        return config
