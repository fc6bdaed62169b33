"""`kerascli evaluate --report`: the numbers of report.json against hand-computed ones.

The known cases are hand-made models whose output is their input (an `Activation` layer, no
weights), so the predictions are the numbers written in a CSV here: the confusion matrix,
precision, recall, ROC AUC, average precision and MAE are worked out by hand below. A trained
iris run and a two-output cancer run check that the report agrees with `evaluate`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerascli.run import report_metrics as rm
from kerascli.run.export_parity import _Tally
from kerascli.run.output_keys import predicted_classes, prediction_columns, target_classes
from kerascli.run.report_outputs import describe, output_kind
from kerascli.spec import load_spec
from kerascli.spec.facts import SINGLE
from kerascli.spec.problems import SpecError
from tests.conftest import invoke, train_example

PNG = b"\x89PNG\r\n\x1a\n"

# --- the numbers alone (fast) -----------------------------------------------------------------


def test_classification_numbers_by_hand() -> None:
    # true: cat cat cat dog dog eel eel; predicted: cat cat dog dog cat dog cat (eel never)
    true, predicted = np.array([0, 0, 0, 1, 1, 2, 2]), np.array([0, 0, 1, 1, 0, 1, 0])
    matrix = rm.confusion_matrix(true, predicted, 3)
    assert matrix.tolist() == [[2, 1, 0], [1, 1, 0], [1, 1, 0]]
    got = rm.classification(matrix, ["cat", "dog", "eel"])
    cat, dog, eel = (got["per_class"][c] for c in ("cat", "dog", "eel"))
    assert (cat["precision"], cat["recall"]) == pytest.approx((2 / 4, 2 / 3))
    assert (dog["precision"], dog["recall"]) == pytest.approx((1 / 3, 1 / 2))
    assert cat["f1"] == pytest.approx(2 * (1 / 2) * (2 / 3) / (1 / 2 + 2 / 3))
    # eel is never predicted: precision 0 (zero division), recall 0, F1 0
    assert (eel["precision"], eel["recall"], eel["f1"], eel["support"]) == (0.0, 0.0, 0.0, 2)
    assert got["accuracy"] == pytest.approx(3 / 7)
    assert got["macro_avg"]["precision"] == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)
    assert got["weighted_avg"]["recall"] == pytest.approx((3 * 2 / 3 + 2 * 1 / 2 + 0) / 7)


SCORES = [0.9, 0.8, 0.7, 0.6, 0.55, 0.4, 0.4, 0.2, 0.1]
LABELS = [1, 1, 0, 1, 0, 1, 0, 0, 0]


def _pairwise_auc(scores: list[float], labels: list[int]) -> float:
    """P(score of a positive > score of a negative), ties counting half."""
    pos = [s for s, y in zip(scores, labels, strict=True) if y]
    neg = [s for s, y in zip(scores, labels, strict=True) if not y]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def _rank_ap(scores: list[float], labels: list[int]) -> float:
    """Mean over positives of the precision among rows scored at least as high."""
    precisions = []
    for s, y in zip(scores, labels, strict=True):
        if y:
            above = [t for t, _ in zip(scores, labels, strict=True) if t >= s]
            hits = [z for t, z in zip(scores, labels, strict=True) if t >= s and z]
            precisions.append(len(hits) / len(above))
    return sum(precisions) / len(precisions)


def test_binary_curves_by_hand() -> None:
    curves = rm.binary_curves(np.array(LABELS), np.array(SCORES))
    assert _pairwise_auc(SCORES, LABELS) == pytest.approx(16.5 / 20)  # worked out: 5+5+4+2.5
    assert curves["roc_auc"] == pytest.approx(16.5 / 20)
    assert curves["average_precision"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 7) / 4)
    assert curves["average_precision"] == pytest.approx(_rank_ap(SCORES, LABELS))
    one_class = rm.binary_curves(np.zeros(3), np.array([0.1, 0.5, 0.9]))
    assert (one_class["roc_auc"], one_class["average_precision"]) == (None, None)


def test_regression_numbers_by_hand() -> None:
    got = rm.regression(np.array([1.5, 1.0, 3.0, 6.0]), np.array([1.0, 2.0, 3.0, 4.0]))
    assert got["mae"] == pytest.approx((0.5 + 1 + 0 + 2) / 4)
    assert got["rmse"] == pytest.approx(np.sqrt((0.25 + 1 + 0 + 4) / 4))
    assert got["r2"] == pytest.approx(1 - 5.25 / 15.1875)
    assert got["residuals"]["max"] == 2.0 and got["residuals"]["min"] == -1.0
    assert rm.regression(np.ones(3), np.zeros(3))["r2"] is None  # constant targets


KIND_SPEC = """
name: kinds
model:
  functional:
    inputs: {x: {shape: [3]}}
    layers:
      many: {Dense: {units: 3, activation: softmax}, from: x}
      one: {Dense: {units: 1, activation: sigmoid}, from: x}
      two: {Dense: {units: 2, activation: softmax}, from: x}
      tags: {Dense: {units: 3, activation: sigmoid}, from: x}
      value: {Dense: {units: 1}, from: x}
      free: {Dense: {units: 1}, from: x}
    outputs: [many, one, two, tags, value, free]
compile:
  optimizer: adam
  loss: {many: sparse_categorical_crossentropy, one: binary_crossentropy,
         two: categorical_crossentropy, tags: binary_crossentropy, value: huber}
"""


def test_what_an_output_is_comes_from_its_loss(tmp_path: Path) -> None:
    path = tmp_path / "kinds.yaml"
    path.write_text(KIND_SPEC)
    spec = load_spec(path, training=False)
    kinds = {name: output_kind(spec, name, units, name) for name, units in
             [("many", 3), ("one", 1), ("two", 2), ("value", 1)]}  # fmt: skip
    assert kinds == {"many": "multiclass", "one": "binary", "two": "binary", "value": "regression"}
    with pytest.raises(SpecError, match="output 'tags'.*multi-label"):
        output_kind(spec, "tags", 3, "tags")
    with pytest.raises(SpecError, match="output 'free'.*no loss"):
        output_kind(spec, "free", 1, "free")


def test_one_rule_for_the_predicted_class(tmp_path: Path) -> None:
    """`predict`'s labels, the report and the export's parity check predict the same classes
    (`output_keys.predicted_classes`): a sigmoid unit at exactly 0.5 is class 1, else argmax."""
    path = tmp_path / "kinds.yaml"
    path.write_text(KIND_SPEC)
    spec = load_spec(path, training=False)
    one, truth = np.array([[0.5], [0.49], [0.9]]), np.array([1, 0, 0])
    assert prediction_columns(spec, {"one": one}, {})["one"].tolist() == [1, 0, 1]
    entry, _ = describe(spec, "one", "one", one, truth, {}, tmp_path, "one")
    assert entry["confusion_matrix"] == [[1, 1], [0, 1]]  # true 0: 0, 1; true 1: 1
    tally = _Tally("binary")
    tally.add(one, one, truth)
    assert tally.metrics()["keras_accuracy"] == pytest.approx(2 / 3)
    many = np.array([[0.2, 0.5, 0.3], [0.6, 0.3, 0.1]])
    assert prediction_columns(spec, {"many": many}, {})["many"].tolist() == [1, 0]
    assert predicted_classes("sparse", many).tolist() == [1, 0]
    assert predicted_classes("binary", np.array([[0.5, 0.2]])).tolist() == [[1, 0]]  # multi-label


def test_one_rule_for_the_target_class() -> None:
    """Targets decode into class ids by the loss's kind; soft labels are refused."""
    assert target_classes("sparse", np.array([[2], [0]]), (2,), 3).tolist() == [2, 0]
    onehot = np.array([[0, 0, 1], [1, 0, 0]])
    assert target_classes("categorical", onehot, (2,), 3).tolist() == [2, 0]
    assert target_classes("binary", np.array([1.0, 0.0]), (2,), 1).tolist() == [1, 0]
    with pytest.raises(ValueError, match="not one-hot rows"):
        target_classes("categorical", np.array([[0.2, 0.8, 0.0]]), (1,), 3)
    with pytest.raises(ValueError, match=r"not class ids 0\.\.1"):
        target_classes("binary", np.array([0.3]), (1,), 1)
    with pytest.raises(ValueError, match="3 target values for 2 predicted rows"):
        target_classes("sparse", np.array([0, 1, 2]), (2,), 3)


# --- hand-made models: predictions known exactly (slow: they run Keras) -----------------------

SPEC = """
name: {name}
model:
  sequential:
    input: {{shape: [{width}]}}
    layers:
      - Activation: {{activation: {activation}}}
compile:
  optimizer: adam
  loss: {loss}
  metrics: [{metric}]
data:
  path: data.csv
  features: [{features}]
  target: label
"""


def _case(tmp: Path, csv: str, **spec: Any) -> tuple[Path, Path, Path]:
    """A model file (its output is its input), its spec and its data: (model, spec, data)."""
    from kerascli.model.builder import Builder

    folder = tmp / spec["name"]
    folder.mkdir()
    (folder / "data.csv").write_text(csv)
    (folder / "spec.yaml").write_text(SPEC.format(**spec))
    model = Builder(load_spec(folder / "spec.yaml", training=False)).build()
    model.save(folder / "model.keras")
    return folder / "model.keras", folder / "spec.yaml", folder / "data.csv"


def _report(model: Path, spec: Path, data: Path, out: Path, *more: str) -> Any:
    result = invoke(
        "evaluate", model, "--spec", spec, "--data", data, "--report-dir", out, "--json", *more
    )
    assert result.code == 0, result.err or result.out
    document = result.json()
    assert json.loads((out / "report.json").read_text()) == json.loads(
        json.dumps(document["report"])
    )
    for picture in document["report"]["outputs"][_only(document)]["pictures"]:
        assert (out / picture).read_bytes().startswith(PNG), picture
    return document


def _only(document: Any) -> str:
    (name,) = document["report"]["outputs"]
    return name


MULTICLASS_CSV = """p_cat,p_dog,p_eel,label
0.8,0.1,0.1,cat
0.6,0.3,0.1,cat
0.2,0.7,0.1,cat
0.1,0.8,0.1,dog
0.5,0.4,0.1,dog
0.3,0.6,0.1,eel
0.6,0.1,0.3,eel
"""


@pytest.mark.slow
def test_multiclass_report_has_the_hand_computed_numbers(tmp_path: Path) -> None:
    files = _case(
        tmp_path, MULTICLASS_CSV, name="three", width=3, activation="softmax",
        loss="sparse_categorical_crossentropy", metric="accuracy",
        features="p_cat, p_dog, p_eel",
    )  # fmt: skip
    document = _report(*files, tmp_path / "out")
    entry = document["report"]["outputs"]["label"]
    assert entry["kind"] == "multiclass" and entry["classes"] == ["cat", "dog", "eel"]
    # worked out by hand, as in test_classification_numbers_by_hand
    assert entry["confusion_matrix"] == [[2, 1, 0], [1, 1, 0], [1, 1, 0]]
    assert entry["per_class"]["cat"]["precision"] == pytest.approx(0.5)
    assert entry["per_class"]["dog"]["recall"] == pytest.approx(0.5)
    assert entry["per_class"]["eel"]["precision"] == 0.0  # never predicted
    assert entry["accuracy"] == pytest.approx(3 / 7)
    assert entry["accuracy"] == pytest.approx(document["metrics"]["accuracy"])
    assert document["report"]["definitions"]["zero_division"].startswith("0")


BINARY_CSV = "score,label\n" + "".join(f"{s},{y}\n" for s, y in zip(SCORES, LABELS, strict=True))


@pytest.mark.slow
def test_binary_report_auc_by_hand_and_by_keras(tmp_path: Path) -> None:
    import keras

    files = _case(
        tmp_path, BINARY_CSV, name="binary", width=1, activation="linear",
        loss="binary_crossentropy", metric="accuracy", features="score",
    )  # fmt: skip
    document = _report(*files, tmp_path / "out")
    entry = document["report"]["outputs"]["label"]
    assert entry["kind"] == "binary" and entry["positive_class"] == "1"
    assert entry["confusion_matrix"] == [[3, 2], [1, 3]]  # threshold 0.5: tn fp / fn tp
    assert entry["roc_auc"] == pytest.approx(16.5 / 20)
    assert entry["average_precision"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 7) / 4)
    auc = keras.metrics.AUC(num_thresholds=2001)
    auc.update_state(np.array(LABELS, "float32"), np.array(SCORES, "float32"))
    assert entry["roc_auc"] == pytest.approx(float(auc.result()), abs=1e-3)
    assert entry["accuracy"] == pytest.approx(document["metrics"]["accuracy"])
    assert sorted(entry["pictures"]) == [
        "label_confusion_matrix.png",
        "label_pr.png",
        "label_roc.png",
    ]


@pytest.mark.slow
def test_regression_report_mae_is_evaluates(tmp_path: Path) -> None:
    csv = "x,label\n1.0,1.5\n2.0,1.0\n3.0,3.0\n4.0,6.0\n"
    files = _case(
        tmp_path, csv, name="line", width=1, activation="linear", loss="mse",
        metric="mae", features="x",
    )  # fmt: skip
    document = _report(*files, tmp_path / "out")
    entry = document["report"]["outputs"]["label"]
    assert entry["kind"] == "regression"
    assert entry["mae"] == pytest.approx(0.875)
    assert entry["mae"] == pytest.approx(document["metrics"]["mae"], rel=1e-6)
    assert entry["mse"] == pytest.approx(document["metrics"]["loss"], rel=1e-6)
    assert entry["r2"] == pytest.approx(1 - 5.25 / 15.1875)


@pytest.mark.slow
def test_soft_labels_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    csv = "score,label\n0.9,1\n0.2,0.3\n"
    model, spec, data = _case(
        tmp_path, csv, name="soft", width=1, activation="linear",
        loss="binary_crossentropy", metric="accuracy", features="score",
    )  # fmt: skip
    out = tmp_path / "out"
    result = invoke(
        "evaluate", model, "--spec", spec, "--data", data, "--report-dir", out, "--json"
    )
    assert result.code == 2
    assert "cannot report on output 'label'" in result.out and "soft labels" in result.out
    assert not out.exists()


# --- trained shipped examples ------------------------------------------------------------------


@pytest.mark.slow
def test_iris_report_agrees_with_evaluate(iris_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = invoke("evaluate", iris_run, "--report-dir", out)  # the table, as a person sees it
    assert result.code == 0, result.err
    assert "species (multiclass)" in result.out and "weighted avg" in result.out
    document = json.loads((out / "report.json").read_text())
    entry = document["outputs"]["species"]
    assert entry["classes"] == ["setosa", "versicolor", "virginica"]
    assert np.sum(entry["confusion_matrix"]) == document["rows"] == 30  # the test split
    assert entry["accuracy"] == pytest.approx(document["evaluate"]["accuracy"], abs=1e-6)
    assert (out / "species_confusion_matrix.png").read_bytes().startswith(PNG)


@pytest.fixture(scope="module")
def cancer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_example(tmp_path_factory, "cancer_two_heads", 1)


@pytest.mark.slow
def test_two_outputs_binary_and_regression(cancer_run: Path) -> None:
    result = invoke("evaluate", cancer_run, "--report", "--json")
    assert result.code == 0, result.err
    metrics, document = result.json()["metrics"], result.json()["report"]
    assert Path(document["dir"]) == cancer_run / "report" / "test"
    diagnosis, radius = document["outputs"]["diagnosis"], document["outputs"]["radius_error"]
    assert diagnosis["kind"] == "binary" and diagnosis["classes"] == ["benign", "malignant"]
    assert diagnosis["accuracy"] == pytest.approx(metrics["diagnosis_accuracy"], abs=1e-6)
    assert 0.5 < diagnosis["roc_auc"] <= 1
    assert radius["kind"] == "regression"
    assert radius["mae"] == pytest.approx(metrics["radius_error_mae"], rel=1e-5)
    files = {p.name for p in (cancer_run / "report" / "test").iterdir()}
    assert files == {"report.json", *diagnosis["pictures"], *radius["pictures"]}
    assert SINGLE not in document["outputs"]
