"""Mixed precision at build time (`distribute.mixed_precision`): the policy the layers take,
float32 output layers, the policy restored after a build, loss scaling, and a saved round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest

from kerascli import build_model
from kerascli.model.builder import Builder
from kerascli.model.precision import dtype_policy, output_problems
from kerascli.run.compile import compile_model
from kerascli.spec import load_spec_dict


def _spec(model: dict[str, Any], precision: str | None, **sections: Any) -> Any:
    data: dict[str, Any] = {"name": "precision", "model": model, **sections}
    if precision is not None:
        data["distribute"] = {"mixed_precision": precision}
    return load_spec_dict(data)


def _sequential(last: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "sequential": {
            "input": {"shape": [4]},
            "layers": [
                {"Dense": {"units": 8, "activation": "relu"}},
                {"Dense": last or {"units": 3}},
            ],
        }
    }


TWO_HEADS = {
    "blocks": {
        "head": {
            "inputs": ["x"],
            "layers": {
                "hidden": {"Dense": {"units": 4}, "from": "x"},
                "out": {"Dense": {"units": 1}, "from": "hidden"},
            },
            "outputs": "out",
        }
    },
    "functional": {
        "inputs": {"x": {"shape": [4]}},
        "layers": {
            "trunk": {"Dense": {"units": 8}, "from": "x"},
            "kind": {"Dense": {"units": 3, "activation": "softmax"}, "from": "trunk"},
            "size": {"block": "head", "from": "trunk"},
        },
        "outputs": ["kind", "size"],
    },
}


def _policies(model: keras.Model) -> dict[str, str]:
    return {layer.name: layer.dtype_policy.name for layer in model.layers}


def _policy_list(model: keras.Model) -> list[str]:
    return [layer.dtype_policy.name for layer in model.layers]


def test_sequential_mixed_bfloat16_keeps_its_output_float32() -> None:
    model = build_model(_spec(_sequential(), "mixed_bfloat16"))
    hidden, last = model.layers
    assert hidden.compute_dtype == "bfloat16"
    assert {v.dtype for v in model.weights} == {"float32"}
    assert last.dtype_policy.name == "float32"
    assert model.outputs[0].dtype == "float32"
    assert model(np.ones((2, 4))).dtype == "float32"
    assert keras.config.dtype_policy().name == "float32"  # not left to the next build


def test_functional_outputs_float32_through_a_block() -> None:
    builder = Builder(_spec(TWO_HEADS, "mixed_bfloat16"))
    model = builder.build()
    policies = _policies(model)
    assert policies["kind"] == policies["size_out"] == "float32"
    assert policies["trunk"] == policies["size_hidden"] == "mixed_bfloat16"
    assert [t.dtype for t in model.outputs] == ["float32", "float32"]
    assert builder.precision_problems == []


def test_an_output_index_names_its_node() -> None:
    functional = {
        "inputs": {"x": {"shape": [5, 3]}},
        "layers": {"enc": {"LSTM": {"units": 4, "return_state": True}, "from": "x"}},
        "outputs": "enc[1]",
    }
    model = build_model(_spec({"functional": functional}, "mixed_bfloat16"))
    assert model.get_layer("enc").dtype_policy.name == "float32"
    assert model.outputs[0].dtype == "float32"


def test_a_written_dtype_is_kept_and_reported() -> None:
    spec = _spec(_sequential({"units": 3, "dtype": "mixed_bfloat16"}), "mixed_bfloat16")
    builder = Builder(spec)
    model = builder.build()
    assert model.layers[-1].dtype_policy.name == "mixed_bfloat16"
    assert model.outputs[0].dtype == "bfloat16"
    (problem,) = builder.precision_problems
    assert "is bfloat16 under mixed_bfloat16" in problem


@pytest.mark.parametrize("precision", [None, "float32"])
def test_float32_after_a_mixed_build_changes_nothing(precision: str | None) -> None:
    build_model(_spec(TWO_HEADS, "mixed_float16"))
    model = build_model(_spec(TWO_HEADS, precision))
    assert set(_policies(model).values()) == {"float32"}
    assert model.dtype_policy.name == "float32"
    config = model.get_layer("kind").get_config()
    assert config == keras.layers.Dense(3, activation="softmax", name="kind").get_config()


def test_policy_restored_after_an_error() -> None:
    with pytest.raises(RuntimeError), dtype_policy("mixed_float16"):
        assert keras.config.dtype_policy().name == "mixed_float16"
        raise RuntimeError
    assert keras.config.dtype_policy().name == "float32"


def test_mixed_float16_compiles_with_loss_scaling() -> None:
    compile_ = {"optimizer": {"Adam": {"learning_rate": 0.01}}, "loss": "mse"}
    builder = Builder(_spec(_sequential(), "mixed_float16", compile=compile_))
    model = builder.build()
    compile_model(builder, model)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.optimizer.inner_optimizer, keras.optimizers.Adam)


def test_mixed_bfloat16_trains_saves_and_reloads(tmp_path: Path) -> None:
    compile_ = {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"}
    builder = Builder(_spec(_sequential(), "mixed_bfloat16", compile=compile_))
    model = builder.build()
    compile_model(builder, model)
    x = np.random.default_rng(0).normal(size=(32, 4)).astype("float32")
    model.fit(x, np.arange(32) % 3, batch_size=8, epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    assert _policy_list(reloaded) == _policy_list(model) == ["mixed_bfloat16", "float32"]
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert output_problems(reloaded) == []
