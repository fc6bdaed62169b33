"""`ops.NAME` nodes: keras.ops functions on a node's tensors, checked at validate, saved in a
`.keras` file that loads again with `safe_mode`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from kerascli.model.builder import Builder
from kerascli.model.keras_env import import_keras
from kerascli.model.ops import call_op, parse_key
from kerascli.spec import SpecError, load_spec
from kerascli.spec.schema import spec_schema

SPEC = """\
name: ops-test
model:
  functional:
    inputs: {x: {shape: [4, 3]}}
    layers:
      plus3: {ops.add: {x2: 3.0}, from: x}
      six: {ops.relu6: {}, from: plus3}
      last: {ops.getitem: {key: "[:, -1]"}, from: six}
      both: {ops.concatenate: {axis: -1}, from: [last, last]}
      outer: {ops.einsum: {subscripts: "bi,bj->bij"}, from: [last, both]}
      mean: {ops.mean: {axis: [1, 2]}, from: outer}
      new_axis: {ops.getitem: {key: "..., None, 1:"}, from: x}
      head: {Dense: [2], from: both}
    outputs: [head, mean, new_axis]
compile: {loss: mse}
"""


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[:, -1]", (slice(None), -1)),
        (":, -1", (slice(None), -1)),
        ("[..., None, 1:3]", (Ellipsis, None, slice(1, 3))),
        ("[::2, -3:-1, newaxis]", (slice(None, None, 2), slice(-3, -1), None)),
        (0, (0,)),
    ],
)
def test_parse_key(text: str | int, key: tuple[object, ...]) -> None:
    assert parse_key(text) == key


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[:, x]", "'x' in '[:, x]' is not an integer, a slice (1:3, ::2), None or '...'"),
        ("[__import__('os')]", "is not an integer"),
        ("[..., ...]", "at most one '...'"),
        ("[::0]", "a slice step cannot be 0"),
        ("[]", "an empty key"),
    ],
)
def test_parse_key_refuses_anything_else(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_key(text)


def test_from_becomes_the_arguments() -> None:
    keras = import_keras()
    a = np.arange(6, dtype="float32").reshape(2, 3)
    b = np.ones((2, 3), dtype="float32")
    np.testing.assert_array_equal(call_op(keras, "ops.add", a, {"x2": 3.0}), a + 3)
    np.testing.assert_array_equal(call_op(keras, "ops.subtract", [a, b], {}), a - b)
    np.testing.assert_array_equal(call_op(keras, "subtract", {"x1": b, "x2": a}, {}), b - a)
    joined = call_op(keras, "ops.concatenate", [a, b], {"axis": 0})
    assert tuple(joined.shape) == (4, 3)
    assert tuple(call_op(keras, "ops.stack", [a, b], {}).shape) == (2, 2, 3)
    product = call_op(keras, "ops.einsum", [a, b], {"subscripts": "ij,ij->i"})
    np.testing.assert_array_equal(product, (a * b).sum(axis=1))
    np.testing.assert_array_equal(call_op(keras, "ops.getitem", a, {"key": "[:, -1]"}), a[:, -1])


def test_ops_model_saves_and_loads_with_safe_mode(tmp_path: Path) -> None:
    keras = import_keras()
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC, encoding="utf-8")
    model = Builder(load_spec(path)).build()
    assert [tuple(o.shape) for o in model.outputs] == [(None, 2), (None,), (None, 4, 1, 2)]
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    x = np.random.default_rng(0).normal(size=(5, 4, 3)).astype("float32")
    expected = model.predict(x, verbose=0)
    got = loaded.predict(x, verbose=0)
    assert set(got) == set(expected) == {"head", "mean", "new_axis"}
    for name, values in expected.items():
        np.testing.assert_array_equal(got[name], values)
    np.testing.assert_array_equal(expected["new_axis"], x[..., None, 1:])
    last = np.clip(x + 3, 0, 6)[:, -1]
    both = np.concatenate([last, last], axis=-1)
    outer_mean = (last[:, :, None] * both[:, None, :]).mean(axis=(1, 2))
    np.testing.assert_allclose(expected["mean"], outer_mean, rtol=1e-5)


def _at(path: Path, line: int, text: str) -> str:
    """`file:LINE:COL` of `text` on line `line` of the spec."""
    column = path.read_text(encoding="utf-8").splitlines()[line - 1].index(text) + 1
    return f"{path}:{line}:{column}"


def _problems(tmp_path: Path, old: str, new: str) -> tuple[Path, list[str]]:
    path = tmp_path / "spec.yaml"
    path.write_text(SPEC.replace(old, new), encoding="utf-8")
    with pytest.raises(SpecError) as caught:
        load_spec(path)
    return path, [str(p) for p in caught.value.problems]


def test_unknown_op_is_located_with_did_you_mean(tmp_path: Path) -> None:
    path, problems = _problems(tmp_path, "ops.relu6", "ops.relu_6")
    assert problems == [
        f"{_at(path, 7, 'ops.relu_6')}: model.functional.layers.six.ops.relu_6: unknown op "
        "'ops.relu_6' (not a keras.ops function) (did you mean 'ops.relu6' or 'ops.relu' or "
        "'ops.elu'?)"
    ]


def test_unknown_op_argument_is_located(tmp_path: Path) -> None:
    path, problems = _problems(tmp_path, "{axis: [1, 2]}", "{axes: [1, 2]}")
    assert problems == [
        f"{_at(path, 11, 'axes')}: model.functional.layers.mean.ops.mean.axes: unknown argument 'axes' for "
        "ops.mean (did you mean 'axis'?)"
    ]


QUOTED_KEY = '"[:, last]"'


def test_bad_slice_key_is_located(tmp_path: Path) -> None:
    path, problems = _problems(tmp_path, '"[:, -1]"', QUOTED_KEY)
    assert problems == [
        f"{_at(path, 8, QUOTED_KEY)}: model.functional.layers.last.ops.getitem.key: 'last' in '[:, last]' is "
        "not an integer, a slice (1:3, ::2), None or '...'; expected a key such as \"[:, -1]\", "
        '"[..., 0]" or "[:, None, 1:3]"'
    ]


def _flatten(errors: list[ValidationError]) -> Iterator[ValidationError]:
    for error in errors:
        yield error
        yield from _flatten(error.context or [])


def test_schema_knows_ops_and_applications() -> None:
    validator = Draft202012Validator(spec_schema())
    spec = yaml.safe_load(SPEC)
    assert list(validator.iter_errors(spec)) == []
    layers = spec["model"]["functional"]["layers"]
    layers["backbone"] = {
        "MobileNetV3Small": {"include_top": False, "weights": None, "trainable": {"last": 3}},
        "from": "x",
        "call": {"training": False},
    }
    assert list(validator.iter_errors(spec)) == []
    layers["backbone"]["MobileNetV3Small"]["weights"] = "imagenet"
    layers["plus3"] = {"ops.add": {"x3": 1}, "from": "x"}
    found = {tuple(e.absolute_path) for e in _flatten(list(validator.iter_errors(spec)))}
    assert ("model", "functional", "layers", "plus3", "ops.add") in found
    assert ("model", "functional", "layers", "backbone", "MobileNetV3Small", "weights") in found
