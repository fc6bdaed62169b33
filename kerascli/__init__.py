"""kerascli: declarative, YAML-driven training for tf.keras.

    import kerascli
    spec = kerascli.load_spec("model_specs/iris_mlp.yaml")
    model = kerascli.build_model(spec)
    run = kerascli.train(spec)

TensorFlow is imported only when a function needs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kerascli.api import RunFailed, RunInterrupted
    from kerascli.spec import KerasCliError, Spec, SpecError, load_spec

__version__ = "0.1.0"

_FROM_SPEC = {"KerasCliError", "Spec", "SpecError", "load_spec"}  # Pydantic, not TensorFlow
_LAZY = {
    "build_model",
    "train",
    "evaluate",
    "predict",
    "import_spec",
    "export",
    "report",
    "plot",
    "tune",
    "RunFailed",
    "RunInterrupted",
}


def __getattr__(name: str) -> Any:
    """Names load on first use, so `kerascli --help` imports neither Pydantic nor TensorFlow."""
    if name in _FROM_SPEC:
        from kerascli import spec

        return getattr(spec, name)
    if name in _LAZY:
        from kerascli import api

        return getattr(api, name)
    raise AttributeError(f"module 'kerascli' has no attribute {name!r}")


__all__ = [
    "KerasCliError",
    "RunFailed",
    "RunInterrupted",
    "Spec",
    "SpecError",
    "__version__",
    "build_model",
    "evaluate",
    "export",
    "import_spec",
    "load_spec",
    "plot",
    "predict",
    "report",
    "train",
    "tune",
]
