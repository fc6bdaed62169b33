"""Runs that travel safely: plugin code kept in the run and imported only with consent, corrupt
models named as such, uncompiled models compiled from the spec."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.conftest import invoke, train_example

from .conftest import SPECS


@pytest.fixture(scope="module")
def subclass_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-epoch run of the digits subclass example, whose model class is a plugin file."""
    return train_example(tmp_path_factory, "digits_subclass", 1)


@pytest.fixture(scope="module")
def digits_sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("digits") / "sample.npz"
    with np.load(SPECS / "data" / "digits.npz") as arrays:
        np.savez(path, images=arrays["images"][:20])
    return path


def test_plugin_code_is_copied_and_hashed(subclass_run: Path) -> None:
    copy = subclass_run / "plugins" / "net.py"
    assert copy.read_bytes() == (SPECS / "plugins" / "net.py").read_bytes()
    assert "class: plugins/net.py:MLPClassifier" in (subclass_run / "spec.yaml").read_text()
    record = json.loads((subclass_run / "run.json").read_text())
    import hashlib

    assert record["plugin_sha256"] == {
        "plugins/net.py": hashlib.sha256(copy.read_bytes()).hexdigest()
    }


def test_the_run_in_place_predicts_without_trust(subclass_run: Path, digits_sample: Path) -> None:
    result = invoke("predict", subclass_run, digits_sample, "--json")
    assert result.code == 0, result.err
    assert result.json()["rows"] == 20


def test_a_run_from_elsewhere_needs_trust(
    subclass_run: Path, digits_sample: Path, tmp_path: Path
) -> None:
    copied = tmp_path / "copied"
    shutil.copytree(subclass_run, copied)
    marker = tmp_path / "ran.txt"
    with open(copied / "plugins" / "net.py", "a", encoding="utf-8") as handle:
        handle.write(f"\nopen({str(marker)!r}, 'w').write('ran')\n")  # what hostile code does
    for command in (("predict", copied, digits_sample), ("evaluate", copied)):
        refused = invoke(*command)
        assert refused.code == 2, refused.err
        assert "--trust" in refused.err and "Traceback" not in refused.err
        assert not marker.exists()  # no plugin code ran
    trusted = invoke("predict", copied, digits_sample, "--trust", "--json")
    assert trusted.code == 0, trusted.err
    assert marker.exists()


def _copy_as_made_here(run: Path, copy: Path) -> Path:
    """A copy of `run` whose record says it was made where the copy is."""
    shutil.copytree(run, copy)
    record = json.loads((copy / "run.json").read_text())
    record["made_in"]["path"] = str(copy.resolve())
    (copy / "run.json").write_text(json.dumps(record))
    return copy


def test_changed_plugin_code_in_place_needs_trust(
    subclass_run: Path, digits_sample: Path, tmp_path: Path
) -> None:
    run = _copy_as_made_here(subclass_run, tmp_path / "run")
    assert invoke("predict", run, digits_sample).code == 0
    with open(run / "plugins" / "net.py", "a", encoding="utf-8") as handle:
        handle.write("\n# changed\n")
    refused = invoke("predict", run, digits_sample)
    assert refused.code == 2 and "not plugin code it recorded" in refused.err


def test_an_unchanged_run_from_elsewhere_needs_trust(
    subclass_run: Path, digits_sample: Path, tmp_path: Path
) -> None:
    copied = tmp_path / "copied"
    shutil.copytree(subclass_run, copied)
    refused = invoke("predict", copied, digits_sample)
    assert refused.code == 2 and "it was made elsewhere" in refused.err
    via_spec = invoke(
        "predict", copied / "model.keras", digits_sample, "--spec", copied / "spec.yaml"
    )
    assert via_spec.code == 2 and "--trust" in via_spec.err  # naming its spec is no consent


def _evil(folder: Path) -> tuple[Path, Path]:
    """A plugin file that leaves a marker file when imported."""
    marker = folder / "ran.txt"
    evil = folder / "evil.py"
    evil.write_text(f"open({str(marker)!r}, 'w').write('ran')\n", encoding="utf-8")
    return evil, marker


@pytest.mark.parametrize("where", ["here", "elsewhere"])
def test_a_spec_edited_to_name_other_code_needs_trust(
    iris_run: Path, tmp_path: Path, where: str
) -> None:
    """A run without plugins whose spec.yaml was edited to import a file or a module: refused,
    whether or not the run moved."""
    if where == "here":
        run = _copy_as_made_here(iris_run, tmp_path / "run")
    else:
        run = Path(shutil.copytree(iris_run, tmp_path / "moved"))
    evil, marker = _evil(tmp_path)
    spec = run / "spec.yaml"
    saved = yaml.safe_load(spec.read_text(encoding="utf-8"))
    spec.write_text(yaml.safe_dump({**saved, "plugins": [str(evil)]}), encoding="utf-8")
    result = invoke("predict", run, SPECS / "data" / "iris.csv")
    assert result.code == 2 and "--trust" in result.err, result.err
    assert not marker.exists()
    spec.write_text(yaml.safe_dump({**saved, "plugins": ["this"]}), encoding="utf-8")  # a module
    result = invoke("predict", run, SPECS / "data" / "iris.csv")
    assert (result.code == 2) == (where == "elsewhere"), result.err


@pytest.mark.parametrize("size", [0, 7, 3000])
def test_a_corrupt_or_truncated_model_says_so(
    subclass_run: Path, digits_sample: Path, tmp_path: Path, size: int
) -> None:
    run = tmp_path / "run"
    shutil.copytree(subclass_run, run)
    model = run / "model.keras"
    model.write_bytes(model.read_bytes()[:size])
    result = invoke("predict", run, digits_sample, "--trust")
    assert result.code == 2
    assert "corrupt or truncated" in result.err and "not found" not in result.err


def test_evaluate_compiles_an_uncompiled_model_from_the_spec(tmp_path: Path) -> None:
    import kerascli

    spec = kerascli.load_spec(SPECS / "iris_mlp.yaml")
    model = kerascli.build_model(spec)
    model.save(tmp_path / "bare.keras")  # never compiled
    result = invoke(
        "evaluate",
        tmp_path / "bare.keras",
        "--spec",
        SPECS / "iris_mlp.yaml",
        "--data",
        SPECS / "data" / "iris.csv",
        "--json",
    )
    assert result.code == 0, result.err
    assert set(result.json()["metrics"]) == {"loss", "accuracy"}


def _archive(path: Path, config: bytes) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", '{"keras_version": "3.15.1"}')
        archive.writestr("config.json", config)
        archive.writestr("model.weights.h5", b"")
    return path


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (b" " * (65 * 2**20), "config.json unpacks to"),  # a zip bomb: 65 MiB in ~65 kB
        (b"[" * 100_000 + b"]" * 100_000, "cannot load the model"),  # nested past recursion
    ],
)
def test_hostile_model_archives_are_refused(tmp_path: Path, config: bytes, message: str) -> None:
    model = _archive(tmp_path / "model.keras", config)
    assert model.stat().st_size < 2**20
    result = invoke(
        "predict", model, SPECS / "data" / "iris.csv", "--spec", SPECS / "iris_mlp.yaml"
    )
    assert result.code == 2, result.err
    assert message in result.err and "Traceback" not in result.err


def test_a_run_without_its_record_trusts_nothing(
    subclass_run: Path, digits_sample: Path, tmp_path: Path
) -> None:
    copied = tmp_path / "copied"
    shutil.copytree(subclass_run, copied)
    (copied / "run.json").unlink()
    evil, marker = _evil(tmp_path)
    with open(copied / "plugins" / "net.py", "a", encoding="utf-8") as handle:
        handle.write(f"\nexec(open({str(evil)!r}).read())\n")
    for args in ((copied,), (copied / "model.keras", "--spec", copied / "spec.yaml")):
        result = invoke("predict", *args[:1], digits_sample, *args[1:])
        assert result.code == 2 and "--trust" in result.err, result.err
    assert not marker.exists()


@pytest.fixture(scope="module")
def regression_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-epoch regression run (numeric target, no classes) whose training file is gone."""
    home = tmp_path_factory.mktemp("regression")
    shutil.copy(SPECS / "data" / "iris.csv", home / "iris.csv")
    spec = home / "petal.yaml"
    spec.write_text(
        "name: petal\nseed: 1\nmodel:\n  sequential:\n    input: {shape: [3]}\n"
        "    layers: [Dense: {units: 1}]\ncompile: {optimizer: adam, loss: mse}\n"
        "fit: {epochs: 1}\ndata: {path: iris.csv, target: petal_width,\n"
        "  features: [sepal_length, sepal_width, petal_length]}\n",
        encoding="utf-8",
    )
    trained = invoke("train", spec, "--runs-dir", home / "runs", "--json")
    assert trained.code == 0, trained.err
    (home / "iris.csv").unlink()
    return Path(trained.json()["run_dir"])


def test_a_model_file_in_its_run_evaluates_with_the_training_data_gone(
    regression_run: Path,
) -> None:
    for target in (regression_run, regression_run / "model.keras"):
        result = invoke("evaluate", target, "--data", SPECS / "data" / "iris.csv", "--json")
        assert result.code == 0, result.err
        assert set(result.json()["metrics"]) == {"loss"}


def test_a_target_column_with_no_values_is_located(regression_run: Path, tmp_path: Path) -> None:
    lines = (SPECS / "data" / "iris.csv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    at = header.index("petal_width")
    rows = [row.split(",") for row in lines[1:]]
    for row in rows:
        row[at] = "nan"
    empty = tmp_path / "empty.csv"
    empty.write_text("\n".join(",".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    result = invoke("evaluate", regression_run, "--data", empty)
    assert result.code == 2, result.err
    assert "empty.csv:2" in result.err and "Traceback" not in result.err


@pytest.mark.parametrize("extra", ["helper.py", "__pycache__"])
def test_files_beside_the_plugin_copies_need_trust(
    subclass_run: Path, digits_sample: Path, tmp_path: Path, extra: str
) -> None:
    """A module (or a cached .pyc) put beside a recorded copy could be imported in its place."""
    run = _copy_as_made_here(subclass_run, tmp_path / "run")
    assert invoke("predict", run, digits_sample).code == 0
    assert not (run / "plugins" / "__pycache__").exists()  # plugins run from their source
    target = run / "plugins" / extra
    target.mkdir() if extra == "__pycache__" else target.write_text("x = 1\n")
    refused = invoke("predict", run, digits_sample)
    assert refused.code == 2 and f"plugins/{extra}" in refused.err
