"""Pins the private Keras behaviour `kerascli.model.keras_private` relies on (for resume and warm
start): each test fails naming the behaviour if an upgrade of Keras changes it."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import h5py
import numpy as np

from kerascli.model.keras_private import (
    ITERATORS_PER_EPOCH,
    SEED_STATE,
    WEIGHTS_MEMBER,
    optimizer_variables,
    recorded_name,
    seed_states,
    skipped_variables,
    sublayers,
)


def _model(optimizer: str = "adam", dropout: bool = False):  # noqa: ANN202
    import keras

    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(3, name="hidden")(inputs)
    if dropout:
        hidden = keras.layers.Dropout(0.5, seed=1, name="drop")(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(hidden))
    model.compile(optimizer=optimizer, loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def _orders(dataset, skip: int) -> list[int]:  # noqa: ANN001
    for _ in range(skip):
        iter(dataset)
    return [int(batch[0][0, 0]) for batch in dataset]


def test_fit_iterates_the_data_twice_an_epoch() -> None:
    import tensorflow as tf

    def data():  # noqa: ANN202
        x = np.arange(40, dtype="float32").reshape(10, 4)
        pairs = tf.data.Dataset.from_tensor_slices((x, np.zeros((10, 2), "float32")))
        return pairs.shuffle(10, seed=3, reshuffle_each_iteration=True).batch(5)

    trained = data()
    _model().fit(trained, epochs=1, shuffle=False, verbose=0)
    assert _orders(data(), 1) != _orders(data(), 2) != _orders(data(), 3)  # (each draws anew)
    # the order after one epoch of fit is that of a fresh dataset iterated that many times
    assert _orders(trained, 0) == _orders(data(), ITERATORS_PER_EPOCH), (
        f"Keras's epoch iterator no longer makes {ITERATORS_PER_EPOCH} iterators over the "
        "training data an epoch: a resumed run would see other shuffle orders "
        "(train_state.advance_shuffle)"
    )


def test_dropout_s_seed_state() -> None:
    model = _model(dropout=True)
    names = [v.name for v in model.variables if "seed" in v.name]
    assert len(seed_states(model)) == 1, (
        f"Dropout's seed state is no longer a variable named {SEED_STATE!r} ({names}): a "
        "resumed run would not restore its dropout masks"
    )


def test_a_mismatched_load_only_warns(tmp_path: Path) -> None:
    path = tmp_path / "adam.keras"
    _model("adam").save(path)
    target = _model("sgd")  # another optimizer: other variables
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        target.load_weights(path)
    assert skipped_variables([str(w.message) for w in caught]), (
        "model.load_weights no longer warns 'Skipping variable loading' for an optimizer "
        "state that does not fit: restore_state would not see it "
        f"({[str(w.message) for w in caught]})"
    )


def test_the_weights_file_layout(tmp_path: Path) -> None:
    path = tmp_path / "model.keras"
    _model().save(path)
    with zipfile.ZipFile(path) as archive:
        assert WEIGHTS_MEMBER in archive.namelist(), archive.namelist()
        with archive.open(WEIGHTS_MEMBER) as member, h5py.File(member, "r") as root:
            names = {key: recorded_name(group) for key, group in sublayers(root)}
            assert "head" in names.values() and "hidden" in names.values(), (
                "a .keras weights file no longer keeps layers under layers/<group>/vars with "
                f"the layer's name as the vars group's `name` (found {names}): warm start "
                "would match no layer"
            )
            assert optimizer_variables(root) > 0, "no optimizer/vars in a .keras weights file"
