"""Plugins: a spec's `plugins:` file makes custom layers, losses, metrics and callbacks resolve by name."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import yaml

from kerascli import build_model
from kerascli.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def _spec(tmp_path: Path) -> Path:
    shutil.copy(FIXTURES / "custom.py", tmp_path / "custom.py")
    shutil.copy(ROOT / "model_specs" / "data" / "iris.csv", tmp_path / "iris.csv")
    spec = {
        "name": "plugin-test",
        "seed": 1,
        "plugins": ["custom.py"],
        "model": {
            "sequential": {
                "input": {"shape": [4]},
                "layers": [
                    {"Scale": {"init": 0.5}},
                    {"Dense": {"units": 3, "activation": "softmax"}},
                ],
            }
        },
        "compile": {
            "optimizer": {"Adam": {"learning_rate": 0.05}},
            "loss": "SmoothedCrossentropy",
            "metrics": ["accuracy", "top_class_rate"],
        },
        "fit": {"epochs": 3, "batch_size": 32},
        "callbacks": [{"CountEpochs": {"path": str(tmp_path / "count.txt")}}],
        "data": {"path": "iris.csv", "target": "species", "split": {"test": 0.2}},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_plugin_layer_builds_with_its_arguments(tmp_path: Path) -> None:
    model = build_model(load_spec(_spec(tmp_path)))
    layer = model.layers[0]
    assert type(layer).__name__ == "Scale" and layer.init == 0.5
    assert model.count_params() == 4 + (4 * 3 + 3)


def test_plugin_objects_train_and_the_run_reloads(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    trained = cli("train", spec, "--runs-dir", tmp_path / "runs", "--json")
    assert trained.code == 0, trained.err
    document = trained.json()
    assert "top_class_rate" in document["metrics"]["train"]
    assert (tmp_path / "count.txt").read_text() == "3"
    run = Path(document["run_dir"])
    assert json.loads((run / "run.json").read_text())["status"] == "completed"

    evaluated = cli("evaluate", run, "--json")
    assert evaluated.code == 0, evaluated.err
    assert set(evaluated.json()["metrics"]) >= {"loss", "accuracy", "top_class_rate"}


def test_plugin_code_runs_only_when_named(tmp_path: Path) -> None:
    marker = tmp_path / "imported.txt"
    (tmp_path / "side_effect.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    spec = ROOT / "model_specs" / "iris_mlp.yaml"
    build_model(load_spec(spec))
    assert not marker.exists()
    assert not any("side_effect" in name for name in sys.modules)
