"""Every call Keras allows, from a spec: outputs of multi-output layers (`enc[1]`), call
arguments (`initial_state`, `mask`, `training`, attention's `query/value/key`), positional
constructor arguments, list inputs, and models called with a list as well as a dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from kerascli import build_model
from kerascli.spec import SpecError, load_spec, load_spec_dict


def _spec(functional: dict[str, Any]) -> Any:
    return load_spec_dict({"name": "calls", "model": {"functional": functional}})


def _same_weights(built: keras.Model, reference: keras.Model) -> None:
    """Give `reference` the weights of `built`, layer by layer by name."""
    assert built.count_params() == reference.count_params()
    for layer in (layer for layer in reference.layers if layer.weights):
        layer.set_weights(built.get_layer(layer.name).get_weights())


ENCODER_DECODER = {
    "inputs": {
        "source": {"shape": [None], "dtype": "int32"},
        "target_in": {"shape": [None], "dtype": "int32"},
    },
    "layers": {
        "embed_source": {"Embedding": [20, 8], "from": "source"},
        "embed_target": {"Embedding": {"input_dim": 20, "output_dim": 8}, "from": "target_in"},
        "encoder": {"LSTM": {"units": 16, "return_state": True}, "from": "embed_source"},
        "decoder": {
            "LSTM": {"units": 16, "return_sequences": True},
            "from": {"sequences": "embed_target", "initial_state": ["encoder[1]", "encoder[2]"]},
        },
        "drop": {"Dropout": {"rate": 0.5}, "from": "decoder", "call": {"training": False}},
        "next_token": {"Dense": {"units": 20, "activation": "softmax"}, "from": "drop"},
    },
    "outputs": "next_token",
}


def _encoder_decoder_by_hand() -> keras.Model:
    source = keras.Input((None,), dtype="int32", name="source")
    target_in = keras.Input((None,), dtype="int32", name="target_in")
    x = keras.layers.Embedding(20, 8, name="embed_source")(source)
    _, h, c = keras.layers.LSTM(16, return_state=True, name="encoder")(x)
    x = keras.layers.Embedding(20, 8, name="embed_target")(target_in)
    x = keras.layers.LSTM(16, return_sequences=True, name="decoder")(x, initial_state=[h, c])
    x = keras.layers.Dropout(0.5, name="drop")(x, training=False)
    out = keras.layers.Dense(20, activation="softmax", name="next_token")(x)
    return keras.Model([source, target_in], out)


def test_encoder_decoder_with_states_builds_as_by_hand() -> None:
    built = build_model(_spec(ENCODER_DECODER))
    reference = _encoder_decoder_by_hand()
    _same_weights(built, reference)
    rng = np.random.default_rng(0)
    source = rng.integers(0, 20, (3, 7)).astype("int32")
    target = rng.integers(0, 20, (3, 5)).astype("int32")
    want = reference.predict([source, target], verbose=0)
    by_dict = built.predict({"source": source, "target_in": target}, verbose=0)
    by_list = built([source, target])  # a multi-input model is called with a list too
    np.testing.assert_allclose(by_dict, want, atol=1e-6)
    np.testing.assert_allclose(np.asarray(by_list), want, atol=1e-6)
    names = {layer.name for layer in built.layers}
    assert {"encoder", "decoder", "drop", "next_token"} <= names  # node names are layer names


def test_attention_query_value_key() -> None:
    spec = _spec(
        {
            "inputs": {"tokens": {"shape": [6], "dtype": "int32"}},
            "layers": {
                "embed": {"Embedding": {"input_dim": 10, "output_dim": 8}, "from": "tokens"},
                "attend": {
                    "MultiHeadAttention": {"num_heads": 2, "key_dim": 4},
                    "from": {"query": "embed", "value": "embed", "key": "embed"},
                },
                "pool": {"GlobalAveragePooling1D": {}, "from": "attend"},
                "out": {"Dense": [1], "from": "pool"},
            },
            "outputs": "out",
        }
    )
    built = build_model(spec)
    tokens = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(10, 8, name="embed")(tokens)
    x = keras.layers.MultiHeadAttention(num_heads=2, key_dim=4, name="attend")(
        query=x, value=x, key=x
    )
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    reference = keras.Model(tokens, keras.layers.Dense(1, name="out")(x))
    _same_weights(built, reference)
    data = np.arange(12, dtype="int32").reshape(2, 6) % 10
    np.testing.assert_allclose(built.predict(data, verbose=0), reference.predict(data, verbose=0))


def test_positional_constructor_arguments_are_keras_names() -> None:
    spec = load_spec_dict(
        {
            "name": "positional",
            "model": {
                "sequential": {
                    "input": {"shape": [8, 8, 1]},
                    "layers": [{"Conv2D": [4, 3]}, "Flatten", {"Dense": [2]}],
                }
            },
        }
    )
    assert spec.model.sequential is not None
    assert spec.model.sequential.layers[0] == {"Conv2D": {"filters": 4, "kernel_size": 3}}
    model = build_model(spec)
    assert model.layers[0].filters == 4 and model.layers[0].kernel_size == (3, 3)


def _problems(tmp_path: Path, text: str, deep: bool = False) -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        build_model(load_spec(path)) if deep else load_spec(path)
    return [str(p).removeprefix(f"{path}:") for p in info.value.problems]


GRAPH = """\
name: t
model:
  functional:
    inputs:
      tokens: {{shape: [5], dtype: int32}}
    layers:
      embed: {{Embedding: {{input_dim: 10, output_dim: 4}}, from: tokens}}
      encoder: {{LSTM: {{units: 8, return_state: true}}, from: embed}}
      out: {{Dense: {{units: 1}}, from: {ref}}}
    outputs: out
"""


def test_an_output_index_past_the_layer_outputs_is_located(tmp_path: Path) -> None:
    got = _problems(tmp_path, GRAPH.format(ref="'encoder[3]'"), deep=True)
    assert got == [
        "9:38: model.functional.layers.out.from: 'encoder[3]': 'encoder' has 3 outputs (0 to 2)"
    ]


def test_an_index_on_a_one_output_layer_is_located(tmp_path: Path) -> None:
    got = _problems(tmp_path, GRAPH.format(ref="'embed[0]'"), deep=True)
    assert got == [
        "9:38: model.functional.layers.out.from: 'embed[0]': 'embed' has one output: write 'embed'"
    ]


def test_an_index_on_an_input_is_located(tmp_path: Path) -> None:
    got = _problems(tmp_path, GRAPH.format(ref="'tokens[1]'"))
    assert got == [
        "9:38: model.functional.layers.out.from: 'tokens' is an input, a single tensor: write 'tokens'"
    ]


def test_an_unknown_node_with_an_index_has_a_did_you_mean(tmp_path: Path) -> None:
    got = _problems(tmp_path, GRAPH.format(ref="[embed, 'encodr[1]']"))
    assert got == [
        "9:46: model.functional.layers.out.from[1]: unknown node or input 'encodr' (did you mean 'encoder'?)"
    ]


def test_shape_none_answers_with_null(tmp_path: Path) -> None:
    text = "name: t\nmodel:\n  sequential:\n    input: {shape: [None, 4]}\n    layers: [Dense]\n"
    (got,) = _problems(tmp_path, text)
    assert got.startswith(
        "4:20: model.sequential.input.shape: 'None' is text in YAML: did you mean null?"
    )


def test_call_arguments_must_be_a_mapping(tmp_path: Path) -> None:
    text = GRAPH.format(ref="encoder").replace("from: encoder}", "from: encoder, call: [true]}")
    (got,) = _problems(tmp_path, text)
    assert got.startswith("9:") and "model.functional.layers.out.call" in got


def test_an_unquoted_output_index_in_a_flow_list_says_to_quote_it(tmp_path: Path) -> None:
    (got,) = _problems(tmp_path, GRAPH.format(ref="[encoder[1], encoder[2]]"))
    assert got.startswith("9:46: invalid YAML: expected ',' or ']', but got '['")
    assert got.endswith("; inside [...] or {...}, quote an output of a node as 'node[1]'")


def test_a_mask_computed_by_an_op_is_passed_to_the_lstm() -> None:
    spec = _spec(
        {
            "inputs": {"tokens": {"shape": [5], "dtype": "int32"}},
            "layers": {
                "embed": {"Embedding": {"input_dim": 10, "output_dim": 4}, "from": "tokens"},
                "not_padding": {"ops.not_equal": {"x2": 0}, "from": "tokens"},
                "encode": {"LSTM": [3], "from": {"sequences": "embed", "mask": "not_padding"}},
            },
            "outputs": "encode",
        }
    )
    built = build_model(spec)
    padded = np.array([[3, 4, 0, 0, 0], [3, 4, 7, 7, 7]], dtype="int32")
    trimmed = np.array([[3, 4]], dtype="int32")
    # masked steps leave the state as it was: the padded row ends where the trimmed one does
    unmasked = built.get_layer("encode")(built.get_layer("embed")(trimmed))
    np.testing.assert_allclose(built(padded)[0], unmasked[0], atol=1e-6)


def test_training_false_in_call_holds_during_fit() -> None:
    """`call: {training: false}` keeps a BatchNormalization in inference mode while the model
    trains (Keras alone passes fit's `training=True` over it: keras-team/keras#20285)."""
    spec = _spec(
        {
            "inputs": {"x": {"shape": [4]}},
            "layers": {
                "frozen_bn": {
                    "BatchNormalization": {},
                    "from": "x",
                    "call": {"training": False},
                },
                "live_bn": {"BatchNormalization": {}, "from": "x"},
                "merged": {"Concatenate": {}, "from": ["frozen_bn", "live_bn"]},
                "out": {"Dense": [1], "from": "merged"},
            },
            "outputs": "out",
        }
    )
    model = build_model(spec)
    model.compile("sgd", "mse")
    x = np.random.default_rng(0).normal(5.0, 2.0, (64, 4)).astype("float32")
    model.fit(x, x[:, :1], epochs=1, batch_size=16, verbose=0)
    frozen = model.get_layer("frozen_bn").moving_mean.numpy()
    live = model.get_layer("live_bn").moving_mean.numpy()
    np.testing.assert_array_equal(frozen, np.zeros(4))  # inference mode: stats never updated
    assert np.all(live > 0.1)  # training mode: stats moved towards the data mean of 5


def test_an_output_of_a_multi_output_layer_is_a_model_output() -> None:
    spec = _spec(
        {
            "inputs": {"x": {"shape": [5, 3]}},
            "layers": {
                "enc": {"LSTM": {"units": 4, "return_state": True}, "from": "x"},
                "out": {"Dense": [2], "from": "enc[0]"},
            },
            "outputs": ["out", "enc[1]"],
        }
    )
    model = build_model(spec)
    predicted = model.predict(np.ones((2, 5, 3), dtype="float32"), verbose=0)
    assert {key: value.shape for key, value in predicted.items()} == {
        "out": (2, 2),
        "enc[1]": (2, 4),  # the LSTM's state h
    }


OPS_GRAPH = """\
name: t
model:
  functional:
    inputs:
      x: {{shape: [3]}}
    layers:
      plus3: {{ops.add: {{x2: 3.0}}, from: x{extra}}}
      again: {{reuse: {target}, from: plus3}}
    outputs: again
"""


def test_call_arguments_on_an_op_are_refused(tmp_path: Path) -> None:
    text = OPS_GRAPH.format(extra=", call: {training: false}", target="plus3")
    got = _problems(tmp_path, text)
    assert got[0] == (
        "7:14: model.functional.layers.plus3: an op has no call arguments: give its constants "
        "in its own mapping, e.g. {ops.mean: {axis: 1}}"
    )


def test_reusing_an_op_is_refused(tmp_path: Path) -> None:
    got = _problems(tmp_path, OPS_GRAPH.format(extra="", target="plus3"))
    assert got == [
        "8:22: model.functional.layers.again.reuse: 'plus3' is an op, which has no layer to "
        "reuse: write the op again"
    ]


def test_resolved_spec_writes_nodes_as_they_were_written() -> None:
    """No block keys on a node that uses no block, no empty `blocks`: the resolved spec (and
    the backup names hashed from it) are what they were before blocks existed."""
    from kerascli.spec.dump import resolved_spec

    data = resolved_spec(_spec(ENCODER_DECODER))
    assert "blocks" not in data["model"]
    node = data["model"]["functional"]["layers"]["drop"]
    assert list(node) == ["Dropout", "from", "call"]


def test_call_training_must_be_a_bool(tmp_path: Path) -> None:
    """`training: "false"` (text) would be true to Keras: refused, not run with dropout on."""
    text = GRAPH.format(ref="encoder").replace(
        "from: encoder}", "from: encoder, call: {training: 'false'}}"
    )
    (got,) = _problems(tmp_path, text)
    assert got.endswith(
        "model.functional.layers.out.call: training must be false or null, got 'false'"
    )


def test_call_training_true_is_refused(tmp_path: Path) -> None:
    """`training: true` would hold in the run's own test metrics but not once the model is
    loaded again (Keras evaluates with training=False): refused rather than two answers."""
    text = GRAPH.format(ref="encoder").replace(
        "from: encoder}", "from: encoder, call: {training: true}}"
    )
    (got,) = _problems(tmp_path, text)
    assert "model.functional.layers.out.call: training: true is not kept in the saved model" in got


def test_calls_of_one_shared_layer_must_agree_on_training(tmp_path: Path) -> None:
    text = """\
name: t
model:
  functional:
    inputs:
      a: {shape: [3]}
      b: {shape: [3]}
    layers:
      bn: {BatchNormalization: {}, from: a, call: {training: false}}
      bn_b: {reuse: bn, from: b}
      out: {Concatenate: {}, from: [bn, bn_b]}
    outputs: out
"""
    assert _problems(tmp_path, text) == [
        "8:62: model.functional.layers.bn.call.training: the layer of 'bn' is called by 'bn', "
        "'bn_b': give every call the same call.training (it holds for the layer, not for one call)"
    ]


def test_a_tensor_named_in_call_is_sent_to_from(tmp_path: Path) -> None:
    text = GRAPH.format(ref="encoder").replace(
        "from: encoder}", "from: encoder, call: {mask: embed}}"
    )
    (got,) = _problems(tmp_path, text)
    assert "model.functional.layers.out.call.mask: 'embed' names a node or input: a tensor" in got


def test_a_block_parameter_outside_a_block_is_located(tmp_path: Path) -> None:
    text = GRAPH.format(ref="encoder").replace("Dense: {units: 1}", "Dense: {units: $units}")
    (got,) = _problems(tmp_path, text)
    assert got == (
        "9:28: model.functional.layers.out.Dense.units: '$units' is a block parameter: `$` values "
        "stand for parameters inside blocks"
    )
