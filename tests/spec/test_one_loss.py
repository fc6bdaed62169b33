"""`compile.loss` of one key is one loss for every output unless it names an output: the checks
decide it as compile does (`outputs.one_loss`)."""

from __future__ import annotations

from typing import Any

import pytest

from kerascli.spec import SpecError, load_spec_dict
from kerascli.spec.outputs import keras_losses, losses_by_output, output_loss

TWO_OUTPUTS: dict[str, Any] = {
    "name": "two",
    "model": {
        "functional": {
            "inputs": {"x": {"shape": [4]}},
            "layers": {
                "species": {"Dense": {"units": 3}, "from": "x"},
                "size": {"Dense": {"units": 1}, "from": "x"},
            },
            "outputs": ["species", "size"],
        }
    },
}


def _problems(loss: Any, **extra: Any) -> list[str]:
    try:
        load_spec_dict({**TWO_OUTPUTS, **extra, "compile": {"loss": loss}})
    except SpecError as exc:
        return [f"{p.path}: {p.message}" for p in exc.problems]
    return []


def test_a_loss_class_with_arguments_is_one_loss_for_every_output() -> None:
    loss = {"Huber": {"delta": 1}}
    assert _problems(loss) == []
    spec = load_spec_dict({**TWO_OUTPUTS, "compile": {"loss": loss}})
    assert losses_by_output(spec) is None
    assert output_loss(spec, "size") == loss
    placed = (("compile", "loss"), loss)
    assert keras_losses(spec) == {"species": placed, "size": placed}


def test_an_identifier_with_arguments_is_one_loss_not_an_output() -> None:
    assert _problems({"huber": {"delta": 1}}) == [
        "compile.loss: 'huber' takes no arguments; write Huber for arguments"
    ]


@pytest.mark.parametrize("loss", [{"MyLoss": {"scale": 2}}, {"MyLoss": None}])
def test_a_plugin_loss_with_arguments_is_one_loss(loss: dict[str, Any]) -> None:
    assert _problems(loss, plugins=["mypackage.losses"]) == []


def test_a_mapping_by_output_name_is_still_checked() -> None:
    assert _problems({"sise": "mse"}) == [
        "compile.loss.sise: 'sise' is not a model output (did you mean 'size'?); "
        "outputs: species, size"
    ]
