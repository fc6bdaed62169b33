"""`kerascli train SPEC --weights RUN|FILE`: a new run starts from another model's weights,
layer by layer by name; the layers not matched are reported."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
import yaml

from kerascli.model.builder import Builder
from kerascli.run.rundir import RunDir
from kerascli.run.saved_run import load_run
from kerascli.run.trainer import train
from kerascli.run.warm_start import apply_warm_start, plan_warm_start
from kerascli.spec import load_spec, load_spec_dict
from tests.conftest import ROOT, invoke

IRIS = ROOT / "model_specs" / "iris_mlp.yaml"
DATA = ROOT / "model_specs" / "data" / "iris.csv"


def _functional(layers: dict[str, Any], epochs: int = 3) -> dict[str, Any]:
    """An iris spec of Functional `layers` (each from the one before), the last the output."""
    nodes, previous = {}, "measurements"
    for name, call in layers.items():
        nodes[name] = {**call, "from": previous}
        previous = name
    return {
        "name": "iris-functional",
        "seed": 7,
        "model": {
            "functional": {
                "inputs": {"measurements": {"shape": [4]}},
                "layers": nodes,
                "outputs": previous,
            }
        },
        "compile": {
            "optimizer": {"Adam": {"learning_rate": 0.01}},
            "loss": "sparse_categorical_crossentropy",
            "metrics": ["accuracy"],
        },
        "fit": {"epochs": epochs, "batch_size": 16},
        "data": {"path": str(DATA), "target": "species", "split": {"validation": 0.2}},
    }


DENSE = {"Dense": {"units": 16, "activation": "relu"}}
HEAD = {"Dense": {"units": 3, "activation": "softmax"}}
SOURCE = {"norm": {"Normalization": {}}, "hidden": DENSE, "hidden2": DENSE, "head": HEAD}


def _layer(run: Path, name: str) -> list[Any]:
    return load_run(run).model.get_layer(name).get_weights()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained Functional run: norm, hidden, hidden2, head."""
    runs = tmp_path_factory.mktemp("warm")
    return train(load_spec_dict(_functional(SOURCE, epochs=8)), runs, stream=io.StringIO()).path


@pytest.mark.slow
def test_matched_layers_take_the_source_weights_and_the_rest_are_reported(
    source: Path, tmp_path: Path
) -> None:
    layers = {  # an extra layer, a resized one, a renamed head
        "norm": {"Normalization": {}},
        "hidden": DENSE,
        "extra": DENSE,
        "hidden2": {"Dense": {"units": 8, "activation": "relu"}},
        "out": HEAD,
    }
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(_functional(layers, epochs=1)))
    result = invoke("train", spec, "--weights", source, "--runs-dir", tmp_path, "--json", "-q")
    assert result.code == 0, result.err
    run = Path(result.json()["run_dir"])
    record = json.loads((run / "run.json").read_text())["warm_start"]
    assert record == {
        "from": str((source / "model.keras").resolve()),
        "matched": ["norm", "hidden"],
        "not_matched": {
            "extra": "absent in the source",
            "hidden2": "shape mismatch: source [16, 16] + [16], this model [16, 8] + [8]",
            "out": "absent in the source",
        },
        "unused": ["head"],
    }
    assert "warm start from" in result.err and "2 of 5 layers matched" in result.err
    assert "not matched: hidden2: shape mismatch" in (run / "train.log").read_text()
    # the weights it started from: the spec's model, warm-started the same way, untrained
    model = Builder(load_spec(spec)).build()
    apply_warm_start(plan_warm_start(source, tmp_path, model), model, RunDir(tmp_path, {}))
    for name in ("norm", "hidden"):  # the source's Normalization statistics included
        for got, want in zip(
            model.get_layer(name).get_weights(), _layer(source, name), strict=True
        ):
            np.testing.assert_array_equal(got, want)


@pytest.mark.slow
def test_a_trained_run_starts_lower_than_scratch(tmp_path: Path) -> None:
    spec = load_spec(IRIS, ["callbacks=[]", "fit.epochs=6"])
    trained = train(spec, tmp_path, "trained", stream=io.StringIO()).path
    one = load_spec(IRIS, ["callbacks=[]", "fit.epochs=1"])
    scratch = train(one, tmp_path, "scratch", stream=io.StringIO())
    warm = train(one, tmp_path, "warm", stream=io.StringIO(), weights=trained)
    assert warm.history[0]["loss"] < 0.8 * scratch.history[0]["loss"]
    record = json.loads((warm.path / "run.json").read_text())["warm_start"]
    assert record["matched"] == ["normalization", "dense", "dense_1", "dense_2"]  # Sequential
    assert record["not_matched"] == {} and record["unused"] == []
    # a .weights.h5 file names its layers too
    weights = tmp_path / "trained.weights.h5"
    load_run(trained).model.save_weights(weights)
    model = Builder(one).build()
    assert plan_warm_start(weights, tmp_path, model).matched == record["matched"]


@pytest.mark.slow
def test_a_backbone_takes_an_application_s_weights(tmp_path: Path) -> None:
    import keras

    spec = load_spec(ROOT / "model_specs" / "digits_transfer.yaml")
    model = Builder(spec).build()
    application = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 1),
        alpha=0.75,
        minimalistic=True,
        include_top=False,
        include_preprocessing=False,
        pooling="avg",
        weights=None,
    )
    source = tmp_path / "backbone.keras"
    application.save(source)
    plan = plan_warm_start(source, tmp_path, model)
    inner = [layer.name for layer in application.layers if layer.weights]
    assert sorted(plan.matched) == sorted(inner)
    assert plan.not_matched == {"digit": "absent in the source"} and plan.unused == []
    apply_warm_start(plan, model, RunDir(tmp_path, {}))
    backbone = model.get_layer("backbone")
    for name in inner:
        for got, want in zip(
            backbone.get_layer(name).get_weights(),
            application.get_layer(name).get_weights(),
            strict=True,
        ):
            np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("{tmp}/missing", "no run directory or weights file"),
        ("{tmp}/old.h5", "a legacy HDF5 model (Keras 2)"),
        ("{tmp}/broken.keras", "cannot read its weights"),
        ("{tmp}/empty", "has no model.keras: give a completed run"),
        ("{tmp}/empty.weights.h5", "holds no layer weights (not saved by Keras 3?)"),
        ("{tmp}/bomb.keras", "model.weights.h5 unpacks to 73400320 bytes from"),
    ],
)
def test_a_source_that_cannot_be_read_is_refused(
    tmp_path: Path, weights: str, message: str
) -> None:
    (tmp_path / "old.h5").write_bytes(b"\x89HDF\r\n\x1a\n")
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    (tmp_path / "empty").mkdir()
    h5py.File(tmp_path / "empty.weights.h5", "w").close()
    with zipfile.ZipFile(tmp_path / "bomb.keras", "w", zipfile.ZIP_DEFLATED) as bomb:
        bomb.writestr("model.weights.h5", bytes(70 * 2**20))  # 70 MiB of zeros in ~70 kB
    result = invoke(
        "train", IRIS, "--weights", weights.format(tmp=tmp_path), "--runs-dir", tmp_path, "--json"
    )
    assert result.code == 2
    assert message in result.json()["errors"][0]["message"]
    assert not (tmp_path / "iris-mlp").exists()  # refused before a run directory is made


@pytest.mark.slow
def test_nothing_matched_is_refused(source: Path, tmp_path: Path) -> None:
    result = invoke("train", IRIS, "--weights", source, "--runs-dir", tmp_path, "--json")
    assert result.code == 2
    message = result.json()["errors"][0]["message"]
    assert message.startswith("no layer of the model matches one in")
    assert "normalization: absent in the source" in message
