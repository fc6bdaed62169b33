"""The private Keras state kerascli reaches into, in one place: each use says the upstream
behaviour it works around, and a test pins that behaviour on the installed Keras, so an upgrade
that changes it fails a test rather than a run."""

from __future__ import annotations

from typing import Any


def keep_training(layer: Any) -> None:
    """Make a `training` written in a node's `call` hold during `fit` too.

    A Functional model passes its own `training` to every layer it calls, over the value the
    node was called with (keras-team/keras#20285): `call: {training: false}` on a backbone
    would leave its BatchNormalization in training mode while it fine-tunes, which the Keras
    transfer-learning guide avoids with exactly that call. The layer stops taking `training`
    from its caller, so the value written in the graph is the one it runs with. (Pinned by
    `tests/model/test_calls.py::test_training_false_in_call_holds_during_fit`.)
    """
    layer._call_context_args = set(layer._call_context_args) - {"training"}


def forget_restored_epoch(model: Any) -> None:
    """Let the next `fit` start at the epoch it is given.

    Keras keeps the epoch a `BackupAndRestore` restored (`model._initial_epoch`) for every
    later `fit` of the model, so a run resumed in one stage would start each later stage at
    the restored epoch. (Pinned by `tests/run/test_stages.py`'s resume tests.)
    """
    model._initial_epoch = None


def all_layers(model: Any) -> list[Any]:
    """Every layer inside `model`, those of nested models (an application) included:
    `model.layers` lists the top level only, Keras's `_flatten_layers` walks them all. (Pinned
    by `tests/run/test_distribute.py::test_all_layers_reach_into_nested_models`.)"""
    return list(model._flatten_layers(include_self=False, recursive=True))
