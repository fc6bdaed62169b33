"""The architecture examples train to the quality their comment headers state: a ResNet written
with blocks, an encoder-decoder LSTM passing states, and a transfer-learning spec whose backbone
weights are pre-trained here (on digits 0-4 only) and fine-tuned in a second stage.

Thresholds sit below what the seeded CPU runs reach and far above guessing (0.1 for 10 digits).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pytest
import yaml

from tests.conftest import SPECS, invoke

# The examples this module trains (tests/run/test_examples_train.py trains the others).
TRAINED = ("digits_resnet_blocks", "digits_transfer", "reverse_seq2seq")
DIGITS = SPECS / "data" / "digits.npz"
START_TOKEN = 10  # reverse.npz's decoder start token (model_specs/data/make_data.py)


def _train(stem: str, runs: Path, *extra: str) -> dict[str, Any]:
    result = invoke(
        "train", SPECS / f"{stem}.yaml", "--runs-dir", runs, "--json", "--quiet", *extra
    )
    assert result.code == 0, result.out + result.err
    document = result.json()
    assert document["status"] == "completed"
    return document


def _evaluates(run: Path, accuracy: float) -> None:
    """`kerascli evaluate` of the run's saved model gives its test accuracy again."""
    evaluated = invoke("evaluate", run, "--json")
    assert evaluated.code == 0, evaluated.err
    assert evaluated.json()["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-4)


def test_resnet_blocks_learns_digits_with_expanded_layer_names(tmp_path: Path) -> None:
    document = _train("digits_resnet_blocks", tmp_path)
    accuracy = document["metrics"]["test"]["accuracy"]
    assert accuracy >= 0.93, accuracy
    run = Path(document["run_dir"])
    model = keras.saving.load_model(run / "model.keras")
    names = [layer.name for layer in model.layers]
    for name in (
        "stem",
        "stage1_block1_conv1",
        "stage1_block2_add",
        "stage2_block1_shortcut",
        "stage2_block2_out",
        "pool",
    ):
        assert name in names, name
    assert not [n for n in names if n.startswith(("identity", "projection"))]
    # repeat_params: stage2's first repetition halves the image, the second keeps its size
    assert model.get_layer("stage2_block1_conv1").strides == (2, 2)
    assert model.get_layer("stage2_block2_conv1").strides == (1, 1)
    assert model.get_layer("stage2_block2_out").output.shape[1:] == (4, 4, 32)
    # repetition 2 reads repetition 1's output
    stage1_out = model.get_layer("stage1_block1_out").output
    assert model.get_layer("stage1_block2_conv1").input is stage1_out
    _evaluates(run, accuracy)


def _reverse_greedily(model: keras.Model, source: np.ndarray) -> np.ndarray:
    """Decode without teacher forcing: each step is fed the model's own previous tokens (the
    decoder LSTM is causal, so step t of the full model sees only inputs 0..t)."""
    steps = source.shape[1]
    decoder_input = np.full_like(source, START_TOKEN)
    for t in range(steps):
        probabilities = model.predict(
            {"source": source, "decoder_input": decoder_input}, verbose=0, batch_size=256
        )
        token = probabilities[:, t].argmax(axis=-1)
        if t + 1 < steps:
            decoder_input[:, t + 1] = token
        else:
            decoded = np.concatenate([decoder_input[:, 1:], token[:, None]], axis=1)
    return decoded


def test_reverse_seq2seq_reverses_unseen_sequences(tmp_path: Path) -> None:
    document = _train("reverse_seq2seq", tmp_path)
    accuracy = document["metrics"]["test"]["accuracy"]  # per token, teacher forcing
    assert accuracy >= 0.97, accuracy
    run = Path(document["run_dir"])
    model = keras.saving.load_model(run / "model.keras")
    decoder = model.get_layer("decoder")
    encoder = model.get_layer("encoder")
    # the decoder's initial_state is the encoder's h and c (outputs 1 and 2)
    state_inputs = decoder._inbound_nodes[0].arguments.kwargs["initial_state"]
    assert [id(t) for t in state_inputs] == [id(t) for t in encoder.output[1:]]
    # fresh sequences, none of them in the data file's seed
    source = np.random.default_rng(99).integers(0, 10, size=(500, 6)).astype(np.int32)
    decoded = _reverse_greedily(model, source)
    whole = float(np.mean(np.all(decoded == source[:, ::-1], axis=1)))
    assert whole >= 0.95, whole
    _evaluates(run, accuracy)


def _backbone_arguments() -> dict[str, Any]:
    """The spec's MobileNetV3Small arguments that fix its weights' shapes."""
    spec = yaml.safe_load((SPECS / "digits_transfer.yaml").read_text())
    args = dict(spec["model"]["functional"]["layers"]["backbone"]["MobileNetV3Small"])
    for kerascli_only in ("trainable", "weights"):
        args.pop(kerascli_only)
    return args


def _pretrained_backbone(path: Path) -> Path:
    """A MobileNetV3Small as the spec builds it, trained 4 epochs on digits 0-4 only (so
    digits 5-9 are new to it), its weights saved to `path`."""
    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 1), weights=None, **_backbone_arguments()
    )
    for layer in backbone.layers:  # moving statistics that keep up with 100 steps
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    image = keras.Input((8, 8, 1))
    features = backbone(keras.layers.Resizing(32, 32)(image))
    model = keras.Model(image, keras.layers.Dense(5, activation="softmax")(features))
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss="sparse_categorical_crossentropy")
    with np.load(DIGITS) as data:
        first_five = data["digit"] < 5
        model.fit(data["images"][first_five], data["digit"][first_five], epochs=4, verbose=0)
    backbone.save_weights(path)
    return path


def _history(run: Path) -> list[dict[str, str]]:
    with open(run / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_transfer_fine_tunes_a_pretrained_backbone_in_two_stages(tmp_path: Path) -> None:
    weights = _pretrained_backbone(tmp_path / "backbone.weights.h5")
    document = _train(
        "digits_transfer",
        tmp_path / "runs",
        "--set",
        f"model.functional.layers.backbone.MobileNetV3Small.weights={weights}",
    )
    accuracy = document["metrics"]["test"]["accuracy"]
    assert accuracy >= 0.85, accuracy
    run = Path(document["run_dir"])
    record = json.loads((run / "run.json").read_text())
    assert record["stages"] == [
        {"name": "stage1", "epochs": [1, 10]},
        {"name": "fine_tune", "epochs": [11, 20]},
    ]
    assert record["epochs_done"] == 20
    history = _history(run)
    assert [row["stage"] for row in history] == ["stage1"] * 10 + ["fine_tune"] * 10
    val = [float(row["val_accuracy"]) for row in history]
    # the loaded weights: the frozen features are good from the first epoch (random: 0.1)
    assert val[0] >= 0.4, val
    # fine-tuning improves on the frozen backbone, at the stage's own learning rate
    assert val[-1] >= val[9] + 0.05, val
    assert float(history[-1]["learning_rate"]) == pytest.approx(1.0e-4)
    # the run's spec names the weights file relative to the run, as it names data files
    saved = yaml.safe_load((run / "spec.yaml").read_text())
    written = saved["model"]["functional"]["layers"]["backbone"]["MobileNetV3Small"]["weights"]
    assert not Path(written).is_absolute() and (run / written).resolve() == weights.resolve()
