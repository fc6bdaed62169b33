"""kerascli: declarative, YAML-driven training for tf.keras.

    import kerascli
    spec = kerascli.load_spec("model_specs/iris_mlp.yaml")
    model = kerascli.build_model(spec)
    run = kerascli.train(spec)

TensorFlow is imported only when a function needs it.
"""

from __future__ import annotations

from typing import Any

from kerascli.spec import KerasCliError, Spec, SpecError, load_spec

__version__ = "0.1.0"

_LAZY = {"build_model", "train", "evaluate", "predict"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from kerascli import api

        return getattr(api, name)
    raise AttributeError(f"module 'kerascli' has no attribute {name!r}")


__all__ = ["KerasCliError", "Spec", "SpecError", "__version__", "load_spec", *sorted(_LAZY)]
