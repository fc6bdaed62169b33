"""The rules a run asks once: a model's output keys, `run.json`'s names for classes, which
outputs are classifiers (crossentropy kind) and which give logits. No training."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from kerascli.run.output_keys import outputs_by_key
from kerascli.run.runs import classes_from_record, classes_to_record
from kerascli.run.targets import _has_class_kind
from kerascli.spec.facts import SINGLE
from kerascli.spec.loader import load_spec_dict
from kerascli.spec.models import Spec
from kerascli.spec.outputs import from_logits, index_classes, index_names


def test_a_model_s_only_output_is_single_whatever_keras_returns() -> None:
    one = np.zeros((2, 3))
    assert outputs_by_key(one) == {SINGLE: one}
    assert outputs_by_key({"species": one}) == {SINGLE: one}
    both = {"a": one, "b": one}
    assert outputs_by_key(both) == both


def test_run_json_names_the_only_output_target() -> None:
    recorded = classes_to_record({SINGLE: ["a", "b"]})
    assert recorded == {"target": ["a", "b"]}
    for one in (_spec("mse"), _spec("mse", ["target"])):  # one output, whatever its name
        assert classes_from_record({"classes": recorded}, one) == {SINGLE: ["a", "b"]}
        assert classes_from_record({}, one) == {} == classes_from_record({"classes": [1]}, one)


def test_an_output_named_target_of_a_model_with_several_keeps_its_name() -> None:
    two = _spec({"target": "sparse_categorical_crossentropy", "head": "mse"}, ["target", "head"])
    classes = {"target": ["a", "b"], "head": ["x"]}
    assert classes_to_record(classes) == classes
    assert classes_from_record({"classes": classes}, two) == classes
    only = {"target": ["a", "b"]}  # the other output trained on numbers
    assert classes_from_record({"classes": only}, two) == only


def _spec(loss: Any, outputs: list[str] | None = None) -> Spec:
    if outputs is None:
        model: dict[str, Any] = {
            "sequential": {"input": {"shape": [4]}, "layers": [{"Dense": {"units": 3}}]}
        }
    else:
        layers = {name: {"Dense": {"units": 3}, "from": "x"} for name in outputs}
        model = {
            "functional": {"inputs": {"x": {"shape": [4]}}, "layers": layers, "outputs": outputs}
        }
    return load_spec_dict({"name": "t", "model": model, "compile": {"loss": loss}}, check=False)


@pytest.mark.parametrize(
    ("loss", "outputs", "expected"),
    [
        ("sparse_categorical_crossentropy", None, True),
        ("CategoricalCrossentropy", None, True),
        ("binary_crossentropy", None, False),
        ("mse", None, False),
        ({"a": "mse", "b": "sparse_categorical_crossentropy"}, ["a", "b"], True),
        (["mse", "categorical_crossentropy"], ["a", "b"], True),
        (["mse", "mae"], ["a", "b"], False),
        ({"Huber": {"delta": 2.0}}, None, False),
    ],
)
def test_class_targets_are_checked_for_a_categorical_crossentropy(
    loss: Any, outputs: list[str] | None, expected: bool
) -> None:
    assert _has_class_kind(_spec(loss, outputs)) is expected


def test_from_logits_and_index_classes() -> None:
    logits = _spec({"SparseCategoricalCrossentropy": {"from_logits": True}})
    assert from_logits(logits, SINGLE)
    assert not from_logits(_spec("sparse_categorical_crossentropy"), SINGLE)
    assert not from_logits(_spec({"Huber": {"from_logits": True}}), SINGLE)  # no crossentropy
    assert index_classes(logits, SINGLE, 3) == index_names(3) == ["0", "1", "2"]
    assert index_classes(_spec("binary_crossentropy"), SINGLE, 1) == ["0", "1"]
    assert index_classes(_spec("mse"), SINGLE, 3) is None
