"""Every shipped example builds the model it describes: the same as written by hand in Keras."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from kerascli import build_model
from kerascli.model.plugins import import_plugin
from kerascli.spec import load_spec
from tests.conftest import SPECS

# (iris_tune.yaml has search spaces: a spec for `kerascli tune`, tests/run/test_tune.py)
EXAMPLES = sorted(p for p in SPECS.glob("*.yaml") if p.stem != "iris_tune")
PLUGIN = SPECS / "plugins" / "net.py"


def iris_mlp() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Normalization(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def digits_cnn() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def cancer_two_heads() -> keras.Model:
    mean, worst = keras.Input((10,), name="mean"), keras.Input((10,), name="worst")
    encoder = keras.layers.Dense(16, activation="relu")
    merged = keras.layers.Concatenate()(
        [encoder(keras.layers.Normalization()(mean)), encoder(keras.layers.Normalization()(worst))]
    )
    hidden = keras.layers.Dense(16, activation="relu")(merged)
    return keras.Model(
        {"mean": mean, "worst": worst},
        {
            "diagnosis": keras.layers.Dense(1, activation="sigmoid", name="diagnosis")(hidden),
            "radius_error": keras.layers.Dense(1, name="radius_error")(hidden),
        },
    )


def wine_residual() -> keras.Model:
    features = keras.Input((13,))
    stem = keras.layers.Dense(32, activation="relu")(keras.layers.Normalization()(features))
    block = keras.layers.Dense(32, activation="relu")(stem)
    block = keras.layers.Dense(32)(keras.layers.Dropout(0.2)(block))
    skip = keras.layers.Activation("relu")(keras.layers.Add()([stem, block]))
    return keras.Model(features, keras.layers.Dense(3, activation="softmax")(skip))


def digits_subclass() -> keras.Model:
    model = import_plugin(str(PLUGIN)).MLPClassifier(units=[128, 64], classes=10, dropout=0.2)
    model(np.zeros((1, 8, 8, 1), np.float32))
    return model


def sine_lstm() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((16, 1)),
            keras.layers.LSTM(32),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(1),
        ]
    )


def tokens_embedding() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((20,), dtype="int32"),
            keras.layers.Embedding(64, 16, mask_zero=True),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def _residual(x: Any, filters: int, strides: int = 1, project: bool = False) -> Any:
    """digits_resnet_blocks' `identity` block, or with `project` its `projection` block."""
    conv = keras.layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
    y = keras.layers.ReLU()(keras.layers.BatchNormalization(momentum=0.9)(conv))
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    y = keras.layers.BatchNormalization(momentum=0.9)(y)
    if project:
        x = keras.layers.Conv2D(filters, 1, strides=strides, use_bias=False)(x)
        x = keras.layers.BatchNormalization(momentum=0.9)(x)
    return keras.layers.ReLU()(keras.layers.Add()([x, y]))


def digits_resnet_blocks() -> keras.Model:
    image = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(image)
    x = _residual(_residual(x, 16), 16)
    x = _residual(_residual(x, 32, strides=2, project=True), 32, project=True)
    pooled = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, keras.layers.Dense(10, activation="softmax")(pooled))


def digits_transfer() -> keras.Model:
    image = keras.Input((8, 8, 1))
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 1),
        alpha=0.75,
        minimalistic=True,
        include_top=False,
        include_preprocessing=False,
        pooling="avg",
        weights=None,
    )
    backbone.trainable = False
    features = backbone(keras.layers.Resizing(32, 32)(image), training=False)
    head = keras.layers.Dense(10, activation="softmax")(keras.layers.Dropout(0.2)(features))
    return keras.Model(image, head)


def reverse_seq2seq() -> keras.Model:
    source = keras.Input((6,), dtype="int32", name="source")
    source_embedded = keras.layers.Embedding(11, 16)(source)
    decoder_input = keras.Input((6,), dtype="int32", name="decoder_input")
    _, h, c = keras.layers.LSTM(64, return_state=True)(source_embedded)
    decoded = keras.layers.LSTM(64, return_sequences=True)(
        sequences=keras.layers.Embedding(11, 16)(decoder_input), initial_state=[h, c]
    )
    target = keras.layers.Dense(10, activation="softmax", name="target")(decoded)
    return keras.Model([source, decoder_input], target)


def wine_parquet() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((13,)),
            keras.layers.Normalization(),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


def digits_folder() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )


def texts_folder() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((), dtype="string"),
            keras.layers.TextVectorization(max_tokens=200, output_sequence_length=16),
            keras.layers.Embedding(200, 16),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )


BY_HAND: dict[str, Callable[[], keras.Model]] = {
    f.__name__: f
    for f in (
        iris_mlp,
        digits_cnn,
        cancer_two_heads,
        wine_residual,
        digits_subclass,
        sine_lstm,
        tokens_embedding,
        digits_resnet_blocks,
        digits_transfer,
        reverse_seq2seq,
        digits_folder,
        texts_folder,
        wine_parquet,
    )
}


def _counts(model: keras.Model) -> tuple[int, int]:
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return model.count_params(), trainable


def test_every_example_has_a_hand_written_twin() -> None:
    assert sorted(p.stem for p in EXAMPLES) == sorted(BY_HAND)


@pytest.mark.parametrize("name", sorted(BY_HAND))
def test_example_matches_keras_by_hand(name: str) -> None:
    built = build_model(load_spec(SPECS / f"{name}.yaml"))
    by_hand = BY_HAND[name]()
    assert _counts(built) == _counts(by_hand)
    assert _counts(built)[1] > 0
    assert [type(layer).__name__ for layer in built.layers] == [
        type(layer).__name__ for layer in by_hand.layers
    ]


def test_shared_encoder_is_one_layer_with_one_set_of_weights() -> None:
    model = build_model(load_spec(SPECS / "cancer_two_heads.yaml"))
    encoder = model.get_layer("encoder")
    assert [layer.name for layer in model.layers].count("encoder") == 1
    assert "worst_encoded" not in [layer.name for layer in model.layers]
    assert len(encoder.weights) == 2
    ids = [id(w) for w in model.weights]
    assert len(ids) == len(set(ids))
    # The same features through both inputs give the same encoding: one kernel, used twice.
    merged = keras.Model(model.inputs, model.get_layer("merged").output)
    x = np.random.default_rng(0).normal(size=(4, 10)).astype("float32")
    out = np.asarray(merged({"mean": x, "worst": x}))
    assert out.shape == (4, 32)
    np.testing.assert_allclose(out[:, :16], out[:, 16:], rtol=1e-6)
    kernel = encoder.kernel
    kernel.assign(kernel.numpy() + 1.0)
    again = np.asarray(merged({"mean": x, "worst": x}))
    assert not np.allclose(again, out)
    np.testing.assert_allclose(again[:, :16], again[:, 16:], rtol=1e-6)


def test_residual_skip_adds_the_stem_to_the_block() -> None:
    model = build_model(load_spec(SPECS / "wine_residual.yaml"))
    sources = [t.name for t in model.get_layer("skip").input]
    stem, block_out = model.get_layer("stem").output, model.get_layer("block_out").output
    assert sources == [stem.name, block_out.name]


def test_subclass_config_round_trips(tmp_path: Path) -> None:
    model = digits_subclass()
    config = model.get_config()
    assert {k: config[k] for k in ("units", "classes", "dropout")} == {
        "units": [128, 64],
        "classes": 10,
        "dropout": 0.2,
    }
    twin = type(model).from_config(config)
    assert twin.get_config() == config
    x = np.random.default_rng(1).uniform(size=(3, 8, 8, 1)).astype("float32")
    model.save(tmp_path / "model.keras")
    # the class by its registered name: a run's copy of net.py, imported by another test, may
    # have registered its own class under that name since
    name = keras.saving.get_registered_name(type(model))
    with keras.saving.custom_object_scope({name: type(model)}):
        loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert type(loaded) is type(model)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize("bad", [{"units": []}, {"classes": 1}, {"dropout": 1.0}])
def test_subclass_rejects_bad_arguments(bad: dict[str, Any]) -> None:
    cls = import_plugin(str(PLUGIN)).MLPClassifier
    with pytest.raises(ValueError, match=f"Received: {next(iter(bad))}="):
        cls(**bad)


def test_every_example_validates_deep(cli) -> None:
    result = cli("validate", "--deep", *EXAMPLES, "--json")
    assert result.code == 0, result.out + result.err
    document = result.json()
    assert document["ok"] is True
    assert [Path(s["file"]).name for s in document["specs"]] == [p.name for p in EXAMPLES]
    assert all(s["ok"] and not s["errors"] for s in document["specs"])
