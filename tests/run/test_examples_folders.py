"""The folder examples train to the quality their comment headers state, record the folder's
class names, evaluate again from their run, and predict on a plain folder of files.

Thresholds sit below what the seeded CPU runs reach (digits_folder about 0.96 at its 20 epochs,
0.91 at 5; texts_folder 0.96 to 1.0; over seeds 1, 2, 3 and 7) and far above guessing (0.1 for
10 digits, 1/3 for 3 topics). digits_folder's full run is in the slow lane (~20 s), a 5-epoch
run in the fast one.
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import SPECS, invoke

# The examples this module trains (tests/run/test_examples_train.py lists the shipped examples).
TRAINED = ("digits_folder", "texts_folder")
# spec stem -> (its folder, its class names)
FOLDERS = {
    "digits_folder": ("digits_images", [str(d) for d in range(10)]),
    "texts_folder": ("texts", ["cooking", "space", "sports"]),
}


def _unlabeled(folder: Path, out: Path) -> dict[str, str]:
    """The first two files of each class of `folder`, copied into the plain folder `out`
    (named `<class>_<file>`); the class of each copy by its name."""
    out.mkdir()
    labels = {}
    for class_folder in sorted(p for p in folder.iterdir() if p.is_dir()):
        for file in sorted(class_folder.iterdir())[:2]:
            name = f"{class_folder.name}_{file.name}"
            shutil.copy(file, out / name)
            labels[name] = class_folder.name
    return labels


@pytest.mark.parametrize(
    ("stem", "epochs", "wanted"),
    [
        ("texts_folder", None, 0.9),
        ("digits_folder", 5, 0.75),
        pytest.param("digits_folder", None, 0.9, marks=pytest.mark.slow),
    ],
)
def test_folder_example_learns_then_evaluates_and_predicts(
    stem: str, epochs: int | None, wanted: float, tmp_path: Path
) -> None:
    """`epochs`: a short run's (`None`: the spec's own); `wanted`: its test accuracy at least."""
    folder, classes = FOLDERS[stem]
    short = ["--epochs", str(epochs)] if epochs else []
    runs = tmp_path / "runs"
    trained = invoke(
        "train", SPECS / f"{stem}.yaml", "--runs-dir", runs, "--json", "--quiet", *short
    )
    assert trained.code == 0, trained.err
    document = trained.json()
    accuracy = document["metrics"]["test"]["accuracy"]
    assert accuracy >= wanted, accuracy
    run = Path(document["run_dir"])
    assert json.loads((run / "run.json").read_text())["classes"] == {"target": classes}

    evaluated = invoke("evaluate", run, "--json")
    assert evaluated.code == 0, evaluated.err
    assert evaluated.json()["metrics"]["accuracy"] == pytest.approx(accuracy, abs=1e-4)

    labels = _unlabeled(SPECS / "data" / folder, tmp_path / "new")
    output = tmp_path / "predictions.csv"
    predicted = invoke("predict", run, tmp_path / "new", "--keep", "path", "--output", output)
    assert predicted.code == 0, predicted.err
    with open(output, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["path"] for row in rows] == sorted(labels)
    assert list(rows[0])[:2] == ["path", "prediction"]
    correct = sum(row["prediction"] == labels[row["path"]] for row in rows)
    assert correct >= 0.9 * len(rows), rows  # files it trained on, most of them
