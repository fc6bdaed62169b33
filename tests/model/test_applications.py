"""`keras.applications` models as spec layers: checked at validate (no TensorFlow), built with the
upstream shape, local weights files only (made here, never downloaded), `trainable` applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerascli import build_model
from kerascli.model.applications import build_application
from kerascli.model.builder import Builder
from kerascli.model.keras_env import import_keras
from kerascli.spec import SpecError, load_spec, load_spec_dict
from kerascli.spec.check_weights import check_weights

NODE = ("model", "functional", "layers", "backbone")
SPEC = """\
name: backbone-test
model:
  functional:
    inputs: {{image: {{shape: [32, 32, 3]}}}}
    layers:
      backbone:
        MobileNetV3Small: {args}
        from: image
      head: {{Dense: {{units: 2}}, from: backbone}}
    outputs: head
compile: {{loss: mse}}
"""
TINY = "{include_top: false, weights: null, pooling: avg}"


def _write(tmp_path: Path, args: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.format(args=args), encoding="utf-8")
    return path


def _at(path: Path, text: str) -> str:
    """`file:7:COL` of `text` on line 7, the application's line."""
    line = path.read_text(encoding="utf-8").splitlines()[6]
    return f"{path}:7:{line.index(text) + 1}"


def _problems(path: Path) -> list[str]:
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return [str(p) for p in caught.value.problems]


def test_unknown_argument_is_located_with_did_you_mean(tmp_path: Path) -> None:
    path = _write(tmp_path, "{include_top: false, weights: null, poolin: avg}")
    assert _problems(path) == [
        f"{_at(path, 'poolin')}: {'.'.join(NODE)}.MobileNetV3Small.poolin: unknown argument 'poolin' for "
        "MobileNetV3Small (did you mean 'pooling'?)"
    ]


def test_imagenet_weights_are_refused_with_how_to_fetch_them(tmp_path: Path) -> None:
    path = _write(tmp_path, "{include_top: false, weights: imagenet}")
    (problem,) = _problems(path)
    assert problem.startswith(
        f"{_at(path, 'imagenet')}: {'.'.join(NODE)}.MobileNetV3Small.weights: weights 'imagenet' would be "
        "downloaded: expected null or a local weights file"
    )
    assert "kerascli never downloads" in problem
    assert (
        "keras.applications.MobileNetV3Small(include_top=False, weights='imagenet')"
        ".save_weights('mobilenetv3small.weights.h5')" in problem
    )


def test_a_file_that_is_not_a_weights_file_is_not_called_a_download(tmp_path: Path) -> None:
    path = _write(tmp_path, "{include_top: false, weights: notes.txt}")
    assert _problems(path) == [
        f"{_at(path, 'notes.txt')}: {'.'.join(NODE)}.MobileNetV3Small.weights: expected null or a "
        "local weights file (.h5, .keras), got 'notes.txt'"
    ]


def test_weights_left_out_would_download_and_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "{include_top: false}")
    (problem,) = _problems(path)
    assert problem.startswith(f"{_at(path, 'MobileNetV3Small')}: ")
    assert "loads Keras's 'imagenet' weights unless told" in problem


def test_input_tensor_and_bad_trainable_are_refused(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "{include_top: false, weights: null, input_tensor: x, trainable: {last: -1}}"
    )
    assert _problems(path) == [
        f"{_at(path, 'input_tensor')}: {'.'.join(NODE)}.MobileNetV3Small.input_tensor: MobileNetV3Small takes "
        "its input from the node's `from` (or the layer before it), not input_tensor: remove "
        "input_tensor",
        f"{_at(path, '{last')}: {'.'.join(NODE)}.MobileNetV3Small.trainable: trainable: {{last: ...}} "
        "takes a number of layers N >= 0, got -1",
    ]


def test_missing_weights_file_is_located(tmp_path: Path) -> None:
    path = _write(tmp_path, "{include_top: false, weights: nets/backbone.weights.h5}")
    assert _problems(path) == [
        f"{_at(path, 'nets/')}: {'.'.join(NODE)}.MobileNetV3Small.weights: weights file not "
        f"found: {tmp_path / 'nets' / 'backbone.weights.h5'}"
    ]
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "backbone.weights.h5").write_bytes(b"")
    assert list(check_weights(load_spec(path))) == []


def _build(tmp_path: Path, args: dict[str, Any], shape: tuple[int, ...] = (32, 32, 3)) -> Any:
    builder = Builder(load_spec(_write(tmp_path, TINY)))
    return build_application(builder, "MobileNetV3Small", args, shape, NODE)


def test_builds_on_the_upstream_shape_and_keeps_its_keras_name(tmp_path: Path) -> None:
    model = _build(tmp_path, {"include_top": False, "weights": None, "pooling": "avg"})
    assert model.input_shape == (None, 32, 32, 3)
    assert model.output_shape == (None, 576)
    assert model.name == "MobileNetV3Small"
    assert model.trainable_weights


def test_weights_file_relative_to_the_spec_gives_the_same_outputs(tmp_path: Path) -> None:
    keras = import_keras()
    args = {"include_top": False, "pooling": "avg", "alpha": 0.75}
    keras.utils.set_random_seed(3)
    original = keras.applications.MobileNetV3Small(input_shape=(32, 32, 3), weights=None, **args)
    original.save_weights(tmp_path / "backbone.weights.h5")
    model = _build(tmp_path, {**args, "weights": "backbone.weights.h5", "name": "backbone"})
    assert model.name == "backbone"
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    expected = original.predict(images, verbose=0)
    np.testing.assert_allclose(model.predict(images, verbose=0), expected, atol=1e-6)


def test_trainable_false_and_last_n(tmp_path: Path) -> None:
    frozen = _build(tmp_path, {"include_top": False, "weights": None, "trainable": False})
    assert frozen.trainable_weights == []
    last = _build(tmp_path, {"include_top": False, "weights": None, "trainable": {"last": 3}})
    trains = [layer.name for layer in last.layers if layer.trainable and layer.weights]
    assert trains == [layer.name for layer in last.layers[-3:] if layer.weights]


def test_input_too_small_says_the_minimum(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        _build(tmp_path, {"include_top": False, "weights": None}, shape=(16, 16, 3))
    (problem,) = caught.value.problems
    assert str(problem) == (
        f"{_at(tmp_path / 'spec.yaml', 'MobileNetV3Small')}: {'.'.join(NODE)}.MobileNetV3Small: MobileNetV3Small "
        "cannot take its input of shape [16, 16, 3] (from the layer before it): Input size must "
        "be at least 32x32; Received `input_shape=(16, 16, 3)`"
    )


def test_unknown_trainable_layer_is_located(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as caught:
        _build(tmp_path, {"include_top": False, "weights": None, "trainable": {"from": "conv_1x1"}})
    (problem,) = caught.value.problems
    assert f"{'.'.join(NODE)}.MobileNetV3Small.trainable: " in str(problem)
    assert "has no layer 'conv_1x1'" in str(problem)


def test_functional_spec_builds_with_a_frozen_backbone(tmp_path: Path) -> None:
    frozen = "{include_top: false, weights: null, pooling: avg, trainable: false}"
    model = Builder(load_spec(_write(tmp_path, frozen))).build()
    assert model.output_shape == (None, 2)
    assert [w.path for w in model.trainable_weights] == ["head/kernel", "head/bias"]


def test_an_application_as_the_first_layer_of_a_sequential_model() -> None:
    spec = load_spec_dict(
        {
            "name": "seq-app",
            "model": {
                "sequential": {
                    "input": {"shape": [32, 32, 3]},
                    "layers": [
                        {
                            "MobileNetV3Small": {
                                "include_top": False,
                                "weights": None,
                                "pooling": "avg",
                                "minimalistic": True,
                            }
                        },
                        {"Dense": [2]},
                    ],
                }
            },
        }
    )
    model = build_model(spec)
    reference = import_keras().applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None, pooling="avg", minimalistic=True
    )
    assert model.count_params() == reference.count_params() + 2 * (reference.output_shape[-1] + 1)


def test_trainable_from_a_layer_on(tmp_path: Path) -> None:
    """`{from: LAYER}`: the layers before LAYER are frozen, LAYER and those after it train."""
    model = _build(
        tmp_path,
        {"include_top": False, "weights": None, "trainable": {"from": "expanded_conv_project"}},
    )
    names = [layer.name for layer in model.layers]
    first = names.index("expanded_conv_project")
    assert model.trainable
    assert all(not layer.trainable for layer in model.layers[:first])
    assert all(layer.trainable for layer in model.layers[first:])
    trained = {v.path.split("/")[0] for v in model.trainable_weights}
    assert "expanded_conv_project" in trained and "conv" not in trained
