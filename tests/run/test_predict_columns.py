"""Prediction columns: a label and one probability per class, also for integer-label classifiers."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .conftest import SPECS


def test_integer_label_classifier_predicts_a_label_column(cli, tmp_path: Path) -> None:
    spec = SPECS / "tokens_embedding.yaml"
    trained = cli("train", spec, "--epochs", "3", "--runs-dir", tmp_path, "--json")
    assert trained.code == 0, trained.err
    run = trained.json()["run_dir"]
    output = tmp_path / "topics.csv"
    predicted = cli("predict", run, SPECS / "data" / "tokens.npz", "--output", output)
    assert predicted.code == 0, predicted.err
    with open(output, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["topic", "p_0", "p_1", "p_2"]
    with np.load(SPECS / "data" / "tokens.npz") as arrays:
        topics = arrays["topic"]
    assert len(rows) == len(topics)
    labels = np.array([int(r["topic"]) for r in rows])
    probabilities = np.array([[float(r[f"p_{i}"]) for i in range(3)] for r in rows])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-4)
    np.testing.assert_array_equal(labels, probabilities.argmax(axis=1))
    assert (labels == topics).mean() >= 0.95  # three epochs learn the keyword topics


def test_regression_predicts_one_named_column(cli, tmp_path: Path) -> None:
    spec = SPECS / "sine_lstm.yaml"
    trained = cli("train", spec, "--epochs", "1", "--runs-dir", tmp_path, "--json")
    assert trained.code == 0, trained.err
    predicted = cli("predict", trained.json()["run_dir"], SPECS / "data" / "sine.npz", "--json")
    assert predicted.code == 0, predicted.err
    document = predicted.json()
    assert document["columns"] == ["next"]
    assert len(document["predictions"]["next"]) == document["rows"] == 800


def test_csv_trained_model_predicts_from_npy_and_npz(cli, iris_run: Path, tmp_path: Path) -> None:
    iris_run_dir = iris_run
    columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    with open(SPECS / "data" / "iris.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    x = np.array([[float(r[c]) for c in columns] for r in rows], dtype=np.float32)
    np.save(tmp_path / "x.npy", x)
    np.savez(tmp_path / "x.npz", **{c: x[:, i] for i, c in enumerate(columns)})
    from_csv = cli("predict", iris_run_dir, SPECS / "data" / "iris.csv", "--json").json()
    for name in ("x.npy", "x.npz"):
        result = cli("predict", iris_run_dir, tmp_path / name, "--json")
        assert result.code == 0, result.err
        assert result.json()["predictions"] == from_csv["predictions"]
    evaluated = cli("evaluate", iris_run_dir, "--data", tmp_path / "x.npy")
    assert evaluated.code == 2  # an NPY holds the inputs only: no targets to score against
    assert "an NPY file holds one array, the model's input" in evaluated.err
    np.savez(tmp_path / "bad.npz", features=x)
    bad = cli("predict", iris_run_dir, tmp_path / "bad.npz")
    assert bad.code == 2
    assert "no array 'sepal_length'" in bad.err and "arrays here: features" in bad.err


def test_logits_are_predicted_as_probabilities(cli, tmp_path: Path) -> None:
    logits = [
        "--set",
        "model.sequential.layers[3]={Dense: {units: 3}}",
        "--set",
        "compile.loss={SparseCategoricalCrossentropy: {from_logits: true}}",
    ]
    iris = SPECS / "iris_mlp.yaml"
    trained = cli("train", iris, *logits, "--epochs", "5", "--runs-dir", tmp_path, "--json")
    assert trained.code == 0, trained.err
    result = cli("predict", trained.json()["run_dir"], SPECS / "data" / "iris.csv", "--json")
    predictions = result.json()["predictions"]
    p = np.array([predictions[f"p_{c}"] for c in ("setosa", "versicolor", "virginica")]).T
    assert (p >= 0).all() and (p <= 1).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    labels = np.array(["setosa", "versicolor", "virginica"])[p.argmax(axis=1)]
    assert list(labels) == predictions["species"]


def test_multi_label_logits_get_a_sigmoid_per_unit(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2))
    rows = ["a,b,y1,y2"] + [f"{a},{b},{int(a > 0)},{int(b > 0)}" for a, b in x]
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    spec = tmp_path / "multilabel.yaml"
    spec.write_text(
        """
name: multilabel
model:
  functional:
    inputs: {x: {shape: [2]}}
    layers: {out: {Dense: {units: 2}, from: x}}
    outputs: out
compile:
  loss: {out: {BinaryCrossentropy: {from_logits: true}}}
fit: {epochs: 1}
data: {path: labels.csv, features: [a, b], target: [y1, y2]}
"""
    )
    trained = cli("train", spec, "--runs-dir", tmp_path / "runs", "--json")
    assert trained.code == 0, trained.err
    run = trained.json()["run_dir"]
    predictions = cli("predict", run, tmp_path / "labels.csv", "--json").json()["predictions"]
    p = np.array([predictions["prediction_0"], predictions["prediction_1"]]).T
    assert (p > 0).all() and (p < 1).all()
    assert not np.allclose(p.sum(axis=1), 1.0)  # two independent labels, not a softmax
    import keras

    logits = keras.saving.load_model(Path(run) / "model.keras").predict(x, verbose=0)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-logits)), rtol=1e-4)


def test_a_loss_list_with_logits_predicts_probabilities(cli, tmp_path: Path) -> None:
    """`loss: [..., {BinaryCrossentropy: {from_logits: true}}]` follows `outputs:` in predict
    too: the logits of that head come out as probabilities, never as raw values."""
    text = (SPECS / "cancer_two_heads.yaml").read_text(encoding="utf-8")
    text = text.replace("activation: sigmoid}, from: hidden", "}, from: hidden")
    text = text.replace(
        "loss: {diagnosis: binary_crossentropy, radius_error: mae}",
        "loss: [{BinaryCrossentropy: {from_logits: true}}, mae]",
    )
    text = text.replace(
        "path: data/breast_cancer.csv", f"path: {SPECS / 'data' / 'breast_cancer.csv'}"
    )
    spec = tmp_path / "logits.yaml"
    spec.write_text(text, encoding="utf-8")
    trained = cli("train", spec, "--epochs", "2", "--runs-dir", tmp_path, "--json")
    assert trained.code == 0, trained.err
    predicted = cli(
        "predict", trained.json()["run_dir"], SPECS / "data" / "breast_cancer.csv", "--json"
    )
    assert predicted.code == 0, predicted.err
    p = np.array(predicted.json()["predictions"]["diagnosis_p_malignant"])
    assert p.min() >= 0.0 and p.max() <= 1.0 and p.std() > 0


def _train_tiny(cli, tmp_path: Path, model: str, compile_: str, data: str) -> str:
    """Train a spec on 40 rows of `a, b, kind, price` for one epoch; its run directory."""
    rng = np.random.default_rng(0)
    rows = ["a,b,kind,price"] + [
        f"{a:.3f},{b:.3f},{'big' if a > 0 else 'small'},{a + b:.3f}"
        for a, b in rng.normal(size=(40, 2))
    ]
    (tmp_path / "rows.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    spec = tmp_path / "tiny.yaml"
    text = f"name: tiny\nmodel: {model}\ncompile: {compile_}\nfit: {{epochs: 1}}\ndata: {data}\n"
    spec.write_text(text, encoding="utf-8")
    trained = cli("train", spec, "--runs-dir", tmp_path / "runs", "--json")
    assert trained.code == 0, trained.err
    return str(trained.json()["run_dir"])


def test_one_output_predicts_a_column_named_after_its_data_outputs_entry(
    cli, tmp_path: Path
) -> None:
    run = _train_tiny(
        cli,
        tmp_path,
        "{sequential: {input: {shape: [2]}, layers: [{Dense: {units: 1}}]}}",
        "{loss: mse}",
        "{path: rows.csv, features: [a, b], outputs: {y: price}}",
    )
    predicted = cli("predict", run, tmp_path / "rows.csv", "--json")
    assert predicted.code == 0, predicted.err
    assert predicted.json()["columns"] == ["price"]


def test_an_output_named_target_keeps_its_class_names(cli, tmp_path: Path) -> None:
    """`run.json` records a model's only output as `target`: an output of that name in a
    model with several is still read back by its name, with its classes."""
    run = _train_tiny(
        cli,
        tmp_path,
        "{functional: {inputs: {x: {shape: [2]}}, outputs: [target, size], layers: {"
        "target: {Dense: {units: 2, activation: softmax}, from: x},"
        "size: {Dense: {units: 1}, from: x}}}}",
        "{loss: {target: sparse_categorical_crossentropy, size: mse}}",
        "{path: rows.csv, features: [a, b], outputs: {target: kind, size: price}}",
    )
    predicted = cli("predict", run, tmp_path / "rows.csv", "--json")
    assert predicted.code == 0, predicted.err
    document = predicted.json()
    assert document["columns"] == ["target", "target_p_big", "target_p_small", "size"]
    assert set(document["predictions"]["target"]) <= {"big", "small"}
    evaluated = cli("evaluate", run, "--data", tmp_path / "rows.csv", "--json")
    assert evaluated.code == 0, evaluated.err


def test_a_sequence_output_predicts_one_class_per_step(cli, tmp_path: Path) -> None:
    """A per-step classifier (rows, steps, classes) gives a label column per step: `target_0`
    ... `target_5`, each the class of its step, not one argmax over every step's values."""
    spec = SPECS / "reverse_seq2seq.yaml"
    trained = cli("train", spec, "--epochs", "4", "--runs-dir", tmp_path, "--json")
    assert trained.code == 0, trained.err
    output = tmp_path / "reversed.csv"
    data = SPECS / "data" / "reverse.npz"
    predicted = cli("predict", trained.json()["run_dir"], data, "--output", output)
    assert predicted.code == 0, predicted.err
    with open(output, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == [f"target_{i}" for i in range(6)]
    labels = np.array([[int(row[f"target_{i}"]) for i in range(6)] for row in rows])
    with np.load(data) as arrays:
        target = arrays["target"]
    assert labels.shape == target.shape and labels.min() >= 0 and labels.max() <= 9
    assert (labels == target).mean() >= 0.5  # four epochs learn most of the reversal
