"""Blocks built with Keras: a Transformer encoder block written once and repeated builds the
same model as the same block written by hand in Keras, with readable layer names."""

from __future__ import annotations

import keras
import numpy as np

from kerascli import build_model
from kerascli.spec import load_spec_dict

ENCODER = {
    "inputs": ["x"],
    "params": {"heads": 2, "width": 16},
    "layers": {
        "attend": {
            "MultiHeadAttention": {"num_heads": "$heads", "key_dim": 8},
            "from": {"query": "x", "value": "x"},
        },
        "add1": {"Add": {}, "from": ["x", "attend"]},
        "norm1": {"LayerNormalization": {}, "from": "add1"},
        "ffn": {"Dense": {"units": "$width", "activation": "relu"}, "from": "norm1"},
        "ffn_out": {"Dense": [16], "from": "ffn"},
        "add2": {"Add": {}, "from": ["norm1", "ffn_out"]},
        "norm2": {"LayerNormalization": {}, "from": "add2"},
    },
    "outputs": "norm2",
}


def _by_hand(x: keras.KerasTensor, i: int, width: int) -> keras.KerasTensor:
    prefix = f"encoder_block{i}"
    attend = keras.layers.MultiHeadAttention(2, 8, name=f"{prefix}_attend")(x, x)
    x = keras.layers.LayerNormalization(name=f"{prefix}_norm1")(
        keras.layers.Add(name=f"{prefix}_add1")([x, attend])
    )
    ffn = keras.layers.Dense(width, activation="relu", name=f"{prefix}_ffn")(x)
    ffn = keras.layers.Dense(16, name=f"{prefix}_ffn_out")(ffn)
    return keras.layers.LayerNormalization(name=f"{prefix}_norm2")(
        keras.layers.Add(name=f"{prefix}_add2")([x, ffn])
    )


def test_a_repeated_transformer_encoder_block_builds_as_by_hand() -> None:
    spec = load_spec_dict(
        {
            "name": "encoder",
            "model": {
                "blocks": {"transformer": ENCODER},
                "functional": {
                    "inputs": {"tokens": {"shape": [6], "dtype": "int32"}},
                    "layers": {
                        "embed": {"Embedding": [20, 16], "from": "tokens"},
                        "encoder": {
                            "block": "transformer",
                            "from": "embed",
                            "repeat": 2,
                            "repeat_params": [{}, {"width": 32}],
                        },
                        "pool": {"GlobalAveragePooling1D": {}, "from": "encoder"},
                    },
                    "outputs": "pool",
                },
            },
        }
    )
    built = build_model(spec)
    tokens = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(20, 16, name="embed")(tokens)
    x = _by_hand(_by_hand(x, 1, 16), 2, 32)
    reference = keras.Model(tokens, keras.layers.GlobalAveragePooling1D(name="pool")(x))
    assert built.count_params() == reference.count_params()
    names = [layer.name for layer in built.layers]
    assert "encoder_block1_attend" in names and "encoder_block2_ffn" in names
    assert built.get_layer("encoder_block2_ffn").units == 32  # the repetition's own parameter
    for layer in reference.layers:
        if layer.weights:
            layer.set_weights(built.get_layer(layer.name).get_weights())
    data = np.arange(12, dtype="int32").reshape(2, 6) % 20
    np.testing.assert_allclose(
        built.predict(data, verbose=0), reference.predict(data, verbose=0), atol=1e-5
    )
