"""`kerascli import` round trips: model -> spec (+ weights) -> `load_spec` -> build gives the
same parameter count, the same layer sequence and the same outputs (max abs diff <= 1e-5).

A representative subset runs in the fast lane; every `keras.applications` model at its
smallest input in the slow lane.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerascli.cli.app import main

keras = pytest.importorskip("keras")

TOLERANCE = 1e-5


def layer_sequence(model: Any) -> list[str]:
    """The class names of `model`'s operations in order, nested models inlined (as `import`
    writes them), input layers left out (a Sequential holding a model imports as Functional)."""
    names: list[str] = []
    for op in getattr(model, "operations", None) or model.layers:  # Sequential: layers
        if isinstance(op, keras.Model):
            names += layer_sequence(op)
        elif not isinstance(op, keras.layers.InputLayer):
            names.append(type(op).__name__)
    return names


def outputs_of(model: Any, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    result = model(inputs if len(inputs) > 1 else next(iter(inputs.values())), training=False)
    if isinstance(result, dict):
        result = list(result.values())
    if not isinstance(result, (list, tuple)):
        result = [result]
    return [np.asarray(r) for r in result]


def sample_inputs(model: Any, seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs by input name."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for tensor in model.inputs:
        shape = [2, *[d or 5 for d in tensor.shape[1:]]]
        if "int" in str(tensor.dtype):
            arrays[tensor.name] = rng.integers(0, 5, size=shape).astype(str(tensor.dtype))
        else:
            arrays[tensor.name] = rng.uniform(-1, 1, size=shape).astype("float32")
    return arrays


def randomise(model: Any, seed: int = 1) -> None:
    """Give every weight random values (BatchNormalization's variances positive), so a
    weights file that loads into the wrong layers shows."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        values = rng.uniform(0.5, 1.5, size=weight.shape) if "variance" in weight.path else None
        if values is None:
            values = rng.normal(0, 0.1, size=weight.shape)
        weight.assign(values.astype(weight.dtype))


def round_trip(
    model: Any, tmp_path: Path, name: str = "imported", via_file: bool = True
) -> dict[str, Any]:
    """Import `model` — through the CLI from a `.keras` file, or (`via_file=False`, for the
    largest models) through the library — rebuild it from the spec and compare."""
    from kerascli.model.builder import build_model
    from kerascli.model.import_write import write_import
    from kerascli.model.importer import import_model
    from kerascli.spec.loader import load_spec

    spec_file = tmp_path / f"{name}.yaml"
    if via_file:
        source = tmp_path / f"{name}.keras"
        model.save(source)
        with pytest.raises(SystemExit) as exit_info:
            main(["import", str(source), "-o", str(spec_file), "--weights"])
        assert exit_info.value.code == 0
    else:
        imported = import_model(model, name)
        assert write_import(imported, spec_file, tmp_path / f"{name}.weights.h5") == []
    rebuilt = build_model(load_spec(spec_file))
    assert rebuilt.count_params() == model.count_params()
    assert layer_sequence(rebuilt) == layer_sequence(model)
    inputs = sample_inputs(model)
    expected, got = outputs_of(model, inputs), outputs_of(rebuilt, inputs)
    assert len(got) == len(expected)
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(expected, got, strict=True))
    assert diff <= TOLERANCE, diff
    return {"spec": spec_file, "diff": diff}


def mixed_model() -> Any:
    """A small Functional model with a shared layer, LSTM states, attention, ops and slicing."""
    layers, ops = keras.layers, keras.ops
    tokens = keras.Input((6, 4), name="tokens")
    extra = keras.Input((3,), name="extra", dtype="int32")
    x = layers.Dense(8, activation="relu", name="embed")(tokens)
    enc, h, c = layers.LSTM(5, return_state=True, name="enc")(x)
    dec = layers.LSTM(5, return_sequences=True, name="dec")(x, initial_state=[h, c])
    shared = layers.Dense(5, name="shared")
    a, b = shared(dec), shared(layers.Dense(5, name="side")(x))
    att = layers.MultiHeadAttention(2, 3, name="mha")(query=a, value=b, key=b)
    hard = ops.relu6(att + 3.0) / 6.0
    last = hard[:, -1]
    counts = layers.Embedding(5, 5, name="emb")(extra)
    pooled = ops.mean(counts, axis=1)
    merged = layers.Concatenate(name="merge")([last, pooled, enc])
    out = layers.Dense(3, activation="softmax", name="out")(merged)
    state = layers.Dense(2, name="state")(h)
    return keras.Model({"tokens": tokens, "extra": extra}, [out, state], name="mixed")


def test_mixed_functional_round_trip(tmp_path: Path) -> None:
    model = mixed_model()
    randomise(model)
    result = round_trip(model, tmp_path)
    text = result["spec"].read_text()
    assert "shared_call2: {reuse: shared, from: side}" in text
    assert "initial_state: ['enc[1]', 'enc[2]']" in text
    assert "ops.getitem: {key: '[:, -1]'}" in text
    assert "weights: imported.weights.h5" in text


def test_sequential_round_trip(tmp_path: Path) -> None:
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(3, name="head"),
        ]
    )
    randomise(model)
    text = round_trip(model, tmp_path, "seq")["spec"].read_text()
    assert "sequential:" in text
    assert "- Flatten\n    - Dense: {name: head, units: 3}\n" in text


def test_sequential_with_automatic_names_gets_its_weights(tmp_path: Path) -> None:
    """The spec leaves Keras's automatic names out: the rebuilt layers are named anew, and the
    weights still go to the layers they belong to (in order)."""
    for _ in range(3):
        keras.layers.Dense(1)  # the saved model's layers are `dense_3`, `dense_4`...
    layers = keras.layers
    model = keras.Sequential(
        [keras.Input((8,)), layers.Dense(4, activation="relu"), layers.Dense(1)]
    )
    assert [layer.name for layer in model.layers] != ["dense", "dense_1"]
    randomise(model)
    text = round_trip(model, tmp_path, "auto")["spec"].read_text()
    assert "- Dense: {units: 4, activation: relu}\n    - Dense: {units: 1}\n" in text


def test_shared_layer_called_on_a_later_layer(tmp_path: Path) -> None:
    """A shared layer's second call reads a layer Keras lists after it: calls are read in graph
    order, the second a `reuse:` node."""
    layers = keras.layers
    inputs = keras.Input((4,), name="features")
    shared = layers.Dense(4, name="shared")
    later = layers.Dense(4, name="later")(shared(inputs))
    model = keras.Model(inputs, layers.Dense(2, name="head")(shared(later)))
    assert [entry["name"] for entry in model.get_config()["layers"]][1:3] == ["shared", "later"]
    randomise(model)
    text = round_trip(model, tmp_path, "shared")["spec"].read_text()
    assert (
        "      shared: {Dense: {units: 4}, from: features}\n"
        "      later: {Dense: {units: 4}, from: shared}\n"
        "      shared_call2: {reuse: shared, from: later}\n"
        "      head: {Dense: {units: 2}, from: shared_call2}\n"
    ) in text


def ops_model() -> Any:
    """Raw ops (Keras names them from its global counters) beside a layer named `add`."""
    keras.ops.add(keras.Input((2,)), 1.0)  # Keras's own `add` is taken: the model's is `add_N`
    inputs = keras.Input((4,), name="x")
    hidden = keras.layers.Dense(4, name="add")(inputs)
    return keras.Model(inputs, keras.ops.add(hidden, 1.0) * 2.0)


def test_ops_nodes_are_named_apart_from_keras_counters() -> None:
    from kerascli.model.import_write import spec_text
    from kerascli.model.importer import import_model

    first = spec_text(import_model(ops_model(), "ops").spec)
    for _ in range(3):
        keras.ops.add(keras.Input((2,)), 1.0)  # Keras's `add` counter moves on
    assert spec_text(import_model(ops_model(), "ops").spec) == first
    assert "      add_2: {ops.add: {x2: 1.0}, from: add}\n" in first  # `add`: the layer's
    assert "      multiply: {ops.multiply: {x2: 2.0}, from: add_2}\n" in first


def test_application_import_is_the_same_each_time(tmp_path: Path) -> None:
    """`load_source` clears Keras's session: an application's automatic names (`add`,
    `add_1`...) do not depend on what the process made before."""
    from kerascli.model.import_write import spec_text
    from kerascli.model.importer import import_model, load_source

    options = {"input_shape": (32, 32, 3), "include_top": False}
    first = spec_text(import_model(load_source("MobileNetV3Small", options), "net").spec)
    keras.layers.Add()
    keras.ops.add(keras.Input((2,)), 1.0)
    again = spec_text(import_model(load_source("MobileNetV3Small", options), "net").spec)
    assert again == first


def test_block_layer_names_have_one_rule() -> None:
    from kerascli.spec.blocks import layer_name, parse_layer_name

    assert layer_name("stage2", "conv1", 1, 1) == "stage2_conv1"
    assert layer_name("stage2", "conv1", 3, 4) == "stage2_block3_conv1"
    assert parse_layer_name("conv2_block3_1_conv") == ("conv2", 3, "1_conv")
    assert parse_layer_name(layer_name("a_b", "c_block1_d", 2, 2)) == ("a_b", 2, "c_block1_d")
    assert parse_layer_name("stage2_conv1") is None
    assert parse_layer_name("stage_block0_conv") is None


def residual_model() -> Any:
    """Two residual stages made by a Python loop (`stage1_block{i}_conv`, `_bn`, `_add`): one
    structure, a kernel size that differs in one unit, a dilation rate that differs by stage."""
    layers = keras.layers
    inputs = keras.Input((8, 8, 3), name="image")
    x = layers.Conv2D(4, 3, padding="same", name="stem")(inputs)
    for stage, units, dilation in (("stage1", 3, 1), ("stage2", 2, 2)):
        for i in range(1, units + 1):
            kernel = 5 if (stage, i) == ("stage1", 2) else 3
            y = layers.Conv2D(
                4, kernel, padding="same", dilation_rate=dilation, name=f"{stage}_block{i}_conv"
            )(x)
            y = layers.BatchNormalization(name=f"{stage}_block{i}_bn")(y)
            x = layers.Add(name=f"{stage}_block{i}_add")([x, y])
    pooled = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, layers.Dense(3, name="head")(pooled), name="residual")


def test_repeated_units_fold_into_a_block(tmp_path: Path) -> None:
    from kerascli.model.builder import build_model
    from kerascli.spec.loader import load_spec

    model = residual_model()
    randomise(model)
    spec_file = round_trip(model, tmp_path, "residual")["spec"]
    text = spec_file.read_text()
    assert "  blocks:\n    stage_block:\n      inputs: [x]\n" in text
    assert "      params: {kernel_size: [3, 3], dilation_rate: [1, 1]}\n" in text
    assert "            kernel_size: $kernel_size\n" in text
    assert "            dilation_rate: $dilation_rate\n" in text
    assert "        add: {Add: {}, from: [x, bn]}\n      outputs: add\n" in text
    assert (
        "      stage1:\n        block: stage_block\n        from: stem\n        repeat: 3\n"
        "        repeat_params: [{}, {kernel_size: [5, 5]}, {}]\n" in text
    )
    assert (
        "      stage2: {block: stage_block, from: stage1, params: {dilation_rate: [2, 2]}, "
        "repeat: 2}\n" in text
    )
    assert "pool: {GlobalAveragePooling2D: {}, from: stage2}" in text
    rebuilt = build_model(load_spec(spec_file))
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]


def test_units_that_differ_stay_flat(tmp_path: Path) -> None:
    """A run that does not start at unit 1, or whose units differ, is written out."""
    layers = keras.layers
    inputs = keras.Input((4,), name="features")
    x = inputs
    for i in (2, 3):  # starts at 2: a use would name them stage_block1_*, stage_block2_*
        x = layers.Dense(4, name=f"late_block{i}_dense")(x)
    for i in (1, 2):
        x = layers.Dense(4, name=f"mixed_block{i}_dense")(x)
        if i == 2:
            x = layers.Dropout(0.1, name="mixed_block2_drop")(x)
    model = keras.Model(inputs, x)
    text = round_trip(model, tmp_path, "flat")["spec"].read_text()
    assert "blocks:" not in text
    assert "late_block2_dense: {Dense: {units: 4}, from: features}" in text


def test_no_blocks_writes_flat(tmp_path: Path) -> None:
    source = tmp_path / "residual.keras"
    residual_model().save(source)
    with pytest.raises(SystemExit) as exit_info:
        main(["import", str(source), "-o", str(tmp_path / "flat.yaml"), "--no-blocks"])
    assert exit_info.value.code == 0
    text = (tmp_path / "flat.yaml").read_text()
    assert "blocks:" not in text
    assert (
        "stage1_block2_conv:\n        Conv2D: {filters: 4, kernel_size: [5, 5], padding: same}\n"
        in text
    )


def test_densenet_stages_share_one_block(tmp_path: Path) -> None:
    started = time.monotonic()
    model = keras.applications.DenseNet121(weights=None, include_top=False, input_shape=(32, 32, 3))
    randomise(model)
    text = round_trip(model, tmp_path, "densenet", via_file=False)["spec"].read_text()
    assert text.count("{block: conv_block, ") == 4
    assert "      conv2: {block: conv_block, from: pool1, repeat: 6}\n" in text
    assert "      conv5: {block: conv_block, from: pool4_pool, repeat: 16}\n" in text
    assert "concat: {Concatenate: {axis: 3}, from: [x, 2_conv]}" in text
    assert len(text.splitlines()) < 60  # 426 nodes written flat
    assert time.monotonic() - started < 60


FAST_APPLICATIONS = {"MobileNetV3Small": (32, 32, 3), "ResNet50V2": (32, 32, 3)}


@pytest.mark.parametrize("name", sorted(FAST_APPLICATIONS))
def test_application_round_trip(name: str, tmp_path: Path) -> None:
    model = getattr(keras.applications, name)(
        weights=None, include_top=False, input_shape=FAST_APPLICATIONS[name]
    )
    randomise(model)
    text = round_trip(model, tmp_path, name.lower())["spec"].read_text()
    assert "blocks:" not in text  # each stage's first unit differs (a shortcut convolution)


MINIMUM_SIZE = {"InceptionV3": 75, "InceptionResNetV2": 75, "Xception": 71, "NASNetLarge": 32}
ALL_APPLICATIONS = sorted(n for n in dir(keras.applications) if n[:1].isupper())


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_APPLICATIONS)
def test_every_application_round_trips(name: str, tmp_path: Path) -> None:
    size = MINIMUM_SIZE.get(name, 32)
    started = time.monotonic()
    model = getattr(keras.applications, name)(
        weights=None, include_top=False, input_shape=(size, size, 3)
    )
    randomise(model)
    round_trip(model, tmp_path, name.lower(), via_file=False)
    assert time.monotonic() - started < 600


def frozen_backbone_model() -> Any:
    """The Keras transfer-learning guide's model: a base called with `training=False` (its
    BatchNormalization in inference mode), a Dropout called with `training=False`."""
    layers = keras.layers
    image = keras.Input((6, 6, 2), name="base_image")
    x = layers.Conv2D(3, 3, name="base_conv")(image)
    x = layers.BatchNormalization(name="base_bn")(x)
    base = keras.Model(image, layers.GlobalAveragePooling2D(name="base_pool")(x), name="base")
    inputs = keras.Input((6, 6, 2), name="image")
    features = base(inputs, training=False)
    features = layers.Dropout(0.5, name="drop")(features, training=False)  # Dropout's default
    return keras.Model(inputs, layers.Dense(2, name="head")(features), name="frozen")


def test_training_false_is_written_and_holds_during_fit(tmp_path: Path) -> None:
    from kerascli.model.builder import build_model
    from kerascli.spec.loader import load_spec

    model = frozen_backbone_model()
    randomise(model)
    text = round_trip(model, tmp_path, "frozen")["spec"].read_text()
    assert "base_bn: {BatchNormalization: {}, from: base_conv, call: {training: false}}" in text
    assert "base_conv: {Conv2D: {filters: 3, kernel_size: [3, 3]}, from: image}" in text
    assert "drop: {Dropout: {rate: 0.5}, from: base_pool, call: {training: false}}" in text
    rebuilt = build_model(load_spec(tmp_path / "frozen.yaml"))
    bn = rebuilt.get_layer("base_bn")
    before = np.array(bn.moving_mean)
    rebuilt.compile(optimizer="sgd", loss="mse")
    x = np.random.default_rng(0).uniform(4, 6, size=(4, 6, 6, 2)).astype("float32")
    rebuilt.fit(x, np.zeros((4, 2), "float32"), epochs=1, batch_size=4, verbose=0)
    assert np.array_equal(np.array(bn.moving_mean), before)  # inference mode while training


def test_sequential_holding_an_application_round_trips(tmp_path: Path) -> None:
    """The most common transfer-learning save: a Sequential whose first layer is a model.
    Its layers are inlined into a Functional spec."""
    backbone = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), include_top=False, weights=None
    )
    layers = keras.layers
    model = keras.Sequential([backbone, layers.GlobalAveragePooling2D(), layers.Dense(2)])
    randomise(model)
    text = round_trip(model, tmp_path, "transfer")["spec"].read_text()
    assert "  functional:\n    inputs:\n      input: {shape: [32, 32, 3]}\n" in text
    assert "      Conv1:\n" in text
