"""Every shipped example trains (a few epochs), then evaluates and predicts from its run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from kerascli.spec import load_spec

from .conftest import SPECS

EXAMPLES = sorted(SPECS.glob("*.yaml"))


def _rows(path: Path) -> int:
    if path.suffix in (".csv", ".tsv"):
        with open(path) as handle:
            return sum(1 for _ in handle) - 1
    with np.load(path) as arrays:
        return len(arrays[arrays.files[0]])


@pytest.mark.parametrize("spec_path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_trains_evaluates_predicts(cli, spec_path: Path, tmp_path: Path) -> None:
    spec = load_spec(spec_path)
    trained = cli("train", spec_path, "--epochs", "2", "--runs-dir", tmp_path, "--json", "--quiet")
    assert trained.code == 0, trained.err
    run = Path(trained.json()["run_dir"])
    assert run == tmp_path / spec.name / "1"
    for name in ("model.keras", "metrics.json", "history.csv", "run.json", "spec.yaml"):
        assert (run / name).is_file(), name
    assert json.loads((run / "run.json").read_text())["epochs_done"] == 2

    evaluated = cli("evaluate", run, "--json")
    assert evaluated.code == 0, evaluated.err
    assert "loss" in evaluated.json()["metrics"]

    data_file = Path(spec.data.path or spec.data.train)
    output = tmp_path / "predictions.csv"
    predicted = cli("predict", run, data_file, "--output", output)
    assert predicted.code == 0, predicted.err
    with open(output) as handle:
        rows = list(csv.reader(handle))
    assert len(rows) - 1 == _rows(data_file)
    assert all(len(row) == len(rows[0]) for row in rows)
