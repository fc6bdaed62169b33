"""Import Keras (TensorFlow backend) quietly, once."""

from __future__ import annotations

import os
import sys
from types import ModuleType

# The start of the warnings Keras's EarlyStopping, ReduceLROnPlateau and ModelCheckpoint give
# when the metric they monitor is not in an epoch's logs (and they skip that epoch).
CALLBACK_IDLE = (
    r"Early stopping conditioned on metric|Learning rate reduction is conditioned on metric"
    r"|Can save best model only"
)


def import_keras(verbose: bool | None = None) -> ModuleType:
    """Import and return `keras`, silencing TensorFlow's logs unless `verbose`.

    Args:
        verbose: Keep TensorFlow's logs. Defaults to the `KERASCLI_VERBOSE` variable.
    """
    if verbose is None:
        verbose = os.environ.get("KERASCLI_VERBOSE", "") not in ("", "0")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if not verbose:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    if verbose or "keras" in sys.modules:
        import keras
    else:
        # TensorFlow's C++ runtime writes to fd 2 before any log level applies.
        sys.stderr.flush()
        saved = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            import keras
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)

    if not verbose:
        import logging
        import warnings

        warnings.filterwarnings("ignore", module=r"keras(\.|$)")
        warnings.filterwarnings("ignore", module=r"tensorflow(\.|$)")
        # ...but not a callback saying it does nothing this epoch (its monitor is not logged).
        warnings.filterwarnings("default", message=CALLBACK_IDLE, category=UserWarning)

        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    return keras
