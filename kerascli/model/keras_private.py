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


ITERATORS_PER_EPOCH = 2
"""How many iterators over the training data Keras 3's epoch iterator makes an epoch: one as
the epoch begins, and another as it ends when the number of batches is known; each draws the
next shuffle order (`reshuffle_each_iteration`). A resumed run draws those of the epochs done.
(Pinned by `tests/model/test_keras_private.py::test_fit_iterates_the_data_twice_an_epoch`.)"""

SEED_STATE = "seed_generator_state"
"""The name of the variable that holds a random layer's (Dropout's) seed state, which a resumed
run restores. (Pinned by `tests/model/test_keras_private.py::test_dropout_s_seed_state`.)"""

SKIPPED_VARIABLE = "Skipping variable loading"
"""How `model.load_weights` says (a warning, not an error) that a layer's or the optimizer's
saved variables do not fit and were left as they are. (Pinned by
`tests/model/test_keras_private.py::test_a_mismatched_load_only_warns`.)"""

WEIGHTS_MEMBER = "model.weights.h5"
"""The weights file inside a `.keras` archive. Inside it (and in a `.weights.h5` file) each
layer's weights are under `layers/<group>/vars/<i>`, the group named by the layer's class
(`dense_1`), a nested model's layers under its own `layers/`, the optimizer's under
`optimizer/vars`; the layer's own name is the `vars` group's `name` attribute. (Pinned by
`tests/model/test_keras_private.py::test_the_weights_file_layout`.)"""


def seed_states(model: Any) -> list[Any]:
    """The seed-generator state variables of the model's random layers (Dropout...), in order."""
    return [v for v in model.variables if v.name == SEED_STATE]


def skipped_variables(messages: list[str]) -> list[str]:
    """The warnings of a `load_weights` that say variables were left as they are."""
    return [m.strip() for m in messages if SKIPPED_VARIABLE in m]


def sublayers(group: Any) -> list[tuple[str, Any]]:
    """The layer groups (key, group) directly under a weights file's group (see
    `WEIGHTS_MEMBER`)."""
    import h5py

    layers = group.get("layers")
    if not isinstance(layers, h5py.Group):
        return []
    return [(key, child) for key, child in layers.items() if isinstance(child, h5py.Group)]


def recorded_name(group: Any) -> str | None:
    """A layer's name as Keras recorded it in its weights group (`vars`'s `name`; none in the
    files of an older Keras 3)."""
    variables = group.get("vars")
    name = variables.attrs.get("name") if variables is not None else None
    if name is None:
        return None
    return name.decode() if isinstance(name, bytes) else str(name)


def optimizer_variables(root: Any) -> int:
    """How many optimizer variables a weights file holds (0: saved without its optimizer)."""
    variables = root.get("optimizer/vars")
    return len(variables) if variables is not None else 0
