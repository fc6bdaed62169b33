"""`predict` and `evaluate --data` take input columns by name, never by position, and `predict -o`
writes the format its extension names."""

from __future__ import annotations

import csv
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import invoke, train_example

from .conftest import SPECS

WINE = SPECS / "data" / "wine.csv"


@pytest.fixture(scope="module")
def wine_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wine example (no `features:`: every column but the target) trained for 15 epochs."""
    return train_example(tmp_path_factory, "wine_residual", 15)


@pytest.fixture(scope="module")
def shuffled_wine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """wine.csv with its columns in another order and an `id` column first."""
    with open(WINE, newline="") as handle:
        rows = list(csv.reader(handle))
    order = list(range(len(rows[0])))
    random.Random(3).shuffle(order)
    path = tmp_path_factory.mktemp("wine-shuffled") / "shuffled.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *(rows[0][i] for i in order)])
        for n, row in enumerate(rows[1:]):
            writer.writerow([f"w{n}", *(row[i] for i in order)])
    return path


def test_the_run_records_the_input_columns_it_trained_on(wine_run: Path) -> None:
    with open(WINE, newline="") as handle:
        header = next(csv.reader(handle))
    saved = (wine_run / "spec.yaml").read_text(encoding="utf-8")
    import yaml

    assert yaml.safe_load(saved)["data"]["features"] == [c for c in header if c != "cultivar"]


def test_columns_in_another_order_give_the_same_predictions(
    wine_run: Path, shuffled_wine: Path
) -> None:
    same = invoke("predict", wine_run, WINE, "--json")
    moved = invoke("predict", wine_run, shuffled_wine, "--json")
    assert same.code == 0 and moved.code == 0, moved.err
    a, b = same.json()["predictions"], moved.json()["predictions"]
    assert a["cultivar"] == b["cultivar"]
    np.testing.assert_allclose(a["p_class_0"], b["p_class_0"], rtol=1e-5)
    with open(WINE, newline="") as handle:
        truth = [row["cultivar"] for row in csv.DictReader(handle)]
    assert np.mean(np.array(b["cultivar"]) == np.array(truth)) >= 0.9


def test_evaluate_data_reads_columns_by_name(wine_run: Path, shuffled_wine: Path) -> None:
    same = invoke("evaluate", wine_run, "--data", WINE, "--json")
    moved = invoke("evaluate", wine_run, "--data", shuffled_wine, "--json")
    assert same.code == 0 and moved.code == 0, moved.err
    assert moved.json()["metrics"]["accuracy"] == pytest.approx(same.json()["metrics"]["accuracy"])
    assert moved.json()["metrics"]["accuracy"] >= 0.9


def test_keep_passes_an_id_through_first(
    wine_run: Path, shuffled_wine: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p.csv"
    result = invoke("predict", wine_run, shuffled_wine, "--keep", "id", "-o", out)
    assert result.code == 0, result.err
    with open(out, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:2] == ["id", "cultivar"]
    assert [r["id"] for r in rows[:3]] == ["w0", "w1", "w2"]


@pytest.mark.parametrize(
    ("keep", "message"),
    [("idd", "no column 'idd'"), ("cultivar", "also a prediction column")],
)
def test_keep_of_a_missing_or_clashing_column_is_refused(
    wine_run: Path, shuffled_wine: Path, keep: str, message: str
) -> None:
    result = invoke("predict", wine_run, shuffled_wine, "--keep", keep)
    assert result.code == 2
    assert message in result.err and "Traceback" not in result.err


def test_a_spec_without_features_and_no_training_file_is_refused(
    wine_run: Path, shuffled_wine: Path, tmp_path: Path
) -> None:
    """A bare model with a spec that leaves `features` out: without the training file, the
    columns cannot be known, so predict refuses rather than take the file's order."""
    spec = tmp_path / "spec.yaml"
    text = (SPECS / "wine_residual.yaml").read_text(encoding="utf-8")
    spec.write_text(text.replace("path: data/wine.csv", "path: gone.csv"), encoding="utf-8")
    result = invoke("predict", wine_run / "model.keras", shuffled_wine, "--spec", spec)
    assert result.code == 2
    assert "list the input columns in data.features" in result.err


def _read(path: Path) -> list[dict[str, str]]:
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    delimiter = "\t" if path.suffix == ".tsv" else ","
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle, delimiter=delimiter))


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_output_format_follows_the_extension(wine_run: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"p{suffix}"
    result = invoke("predict", wine_run, WINE, "-o", out, "--json")
    assert result.code == 0, result.err
    rows = _read(out)
    assert len(rows) == result.json()["rows"] == 178
    assert list(rows[0]) == ["cultivar", "p_class_0", "p_class_1", "p_class_2"]
    total = sum(float(rows[0][f"p_class_{i}"]) for i in range(3))
    assert total == pytest.approx(1.0, abs=1e-4)


def test_npy_output_holds_the_probabilities(wine_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.npy"
    assert invoke("predict", wine_run, WINE, "-o", out).code == 0
    values = np.load(out)
    assert values.shape == (178, 3)
    np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-4)


def test_unknown_extension_and_existing_file_are_refused(wine_run: Path, tmp_path: Path) -> None:
    unknown = invoke("predict", wine_run, WINE, "-o", tmp_path / "p.txt")
    assert unknown.code == 2 and ".jsonl" in unknown.err
    assert not (tmp_path / "p.txt").exists()
    out = tmp_path / "p.csv"
    out.write_text("keep me\n")
    refused = invoke("predict", wine_run, WINE, "-o", out)
    assert refused.code == 2 and "--force" in refused.err
    assert out.read_text() == "keep me\n"
    forced = invoke("predict", wine_run, WINE, "-o", out, "--force")
    assert forced.code == 0, forced.err
    assert out.read_text().startswith("cultivar,")


def test_npy_output_has_no_columns_to_keep(wine_run: Path, tmp_path: Path) -> None:
    result = invoke("predict", wine_run, WINE, "-o", tmp_path / "p.npy", "--keep", "id")
    assert result.code == 2 and "--keep needs" in result.err


def test_a_copied_run_predicts_with_its_data_gone(tmp_path: Path) -> None:
    """A run directory copied elsewhere, its training data deleted, still predicts and evaluates
    on a given file; its spec.yaml names data relative to itself."""
    home = tmp_path / "project"
    (home / "data").mkdir(parents=True)
    shutil.copy(WINE, home / "data" / "wine.csv")
    shutil.copy(SPECS / "wine_residual.yaml", home / "wine.yaml")
    trained = invoke(
        "train", home / "wine.yaml", "--epochs", "3", "--runs-dir", home / "runs", "--json"
    )
    assert trained.code == 0, trained.err
    run = Path(trained.json()["run_dir"])
    saved = (run / "spec.yaml").read_text(encoding="utf-8")
    assert "path: ../../../data/wine.csv" in saved
    elsewhere = tmp_path / "elsewhere" / "run"
    shutil.copytree(run, elsewhere)
    probe = tmp_path / "probe.csv"
    shutil.copy(WINE, probe)
    shutil.rmtree(home)
    before = trained.json()["metrics"]
    predicted = invoke("predict", elsewhere, probe, "--json")
    assert predicted.code == 0, predicted.err
    assert predicted.json()["rows"] == 178
    evaluated = invoke("evaluate", elsewhere, "--data", probe, "--json")
    assert evaluated.code == 0, evaluated.err
    assert set(evaluated.json()["metrics"]) == set(before["test"])
    listed = invoke("runs", tmp_path / "elsewhere", "--json")
    assert listed.code == 0
    split = invoke("evaluate", elsewhere)  # the split needs the training data: located, exit 2
    assert split.code == 2 and "data file not found" in split.err


def test_predict_does_not_read_the_targets(wine_run: Path, tmp_path: Path) -> None:
    """A file to predict on may hold a target column with labels the model never saw, or none."""
    text = WINE.read_text(encoding="utf-8").replace(",class_0\n", ",\n", 1)
    path = tmp_path / "odd_labels.csv"
    path.write_text(text.replace(",class_2\n", ",class_9\n"), encoding="utf-8")
    result = invoke("predict", wine_run, path, "--json")
    assert result.code == 0, result.err
    assert result.json()["rows"] == 178
