"""Layered specs: `extends`, `--set` overrides and `${ENV}` values, through the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from .conftest import IRIS, IRIS_CSV, write

# A whole spec that trains on `iris.csv` beside it. Line 8 holds the first Dense layer, line 16
# the batch size.
BASE = """
name: base
seed: 7
model:
  sequential:
    input: {shape: [4]}
    layers:
      - Normalization: {}
      - Dense: {units: 8, activation: relu}
      - Dense: {units: 3, activation: softmax}
compile:
  optimizer: {Adam: {learning_rate: 0.01}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit:
  epochs: 5
  batch_size: 16
data:
  path: iris.csv
  features: [sepal_length, sepal_width, petal_length, petal_width]
  target: species
  split: {validation: 0.2, test: 0.2, stratify: true}
"""


def merged(cli, spec: Path, *args: str) -> dict:
    """The resolved spec that `kerascli config --json` prints."""
    result = cli("config", spec, *args, "--json")
    assert result.code == 0, result.out + result.err
    return result.json()


def only_error(result) -> str:
    """The one problem line of a failed command (exit 2)."""
    assert result.code == 2, result.out + result.err
    lines = [line for line in result.err.splitlines() if "problem" not in line]
    assert len(lines) == 1, result.err
    return lines[0]


# --- extends ------------------------------------------------------------------------------


def test_child_deep_merges_over_base(cli, iris_copy: Path) -> None:
    write(iris_copy, "base.yaml", BASE)
    child = write(
        iris_copy,
        "child.yaml",
        """
        extends: base.yaml
        name: child
        model:
          sequential:
            layers:
              - Dense: {units: 3, activation: softmax}
        compile:
          optimizer: {Adam: {beta_1: 0.8}}
        fit: {epochs: 2}
        """,
    )
    spec = merged(cli, child)
    assert spec["name"] == "child"  # scalars replace
    assert spec["seed"] == 7
    sequential = spec["model"]["sequential"]
    assert sequential["input"]["shape"] == [4]  # mappings merge key by key
    assert sequential["layers"] == [
        {"Dense": {"units": 3, "activation": "softmax"}}
    ]  # lists replace
    assert spec["compile"]["optimizer"] == {"Adam": {"learning_rate": 0.01, "beta_1": 0.8}}
    assert spec["compile"]["loss"] == "sparse_categorical_crossentropy"
    assert (spec["fit"]["epochs"], spec["fit"]["batch_size"]) == (2, 16)
    assert "extends" not in spec
    assert spec["data"]["path"] == str((iris_copy / "iris.csv").resolve())


def test_config_prints_the_merged_spec_as_yaml(cli, iris_copy: Path) -> None:
    write(iris_copy, "base.yaml", BASE)
    child = write(iris_copy, "child.yaml", "extends: base.yaml\nfit: {epochs: 2}\n")
    text = cli("config", child)
    assert text.code == 0, text.err
    assert yaml.safe_load(text.out) == merged(cli, child)
    assert "extends" not in text.out
    assert yaml.safe_load(cli("config", child, "--set", "fit.epochs=9").out)["fit"]["epochs"] == 9


def test_another_class_replaces_the_base_call(cli, iris_copy: Path) -> None:
    write(iris_copy, "base.yaml", BASE)
    child = write(
        iris_copy,
        "child.yaml",
        """
        extends: base.yaml
        compile:
          optimizer: {SGD: {momentum: 0.9}}
        """,
    )
    assert merged(cli, child)["compile"]["optimizer"] == {"SGD": {"momentum": 0.9}}
    assert cli("validate", child).code == 0


def test_chain_resolves_each_base_from_its_own_folder(cli, tmp_path: Path) -> None:
    root = write(tmp_path, "sub/deeper/root.yaml", BASE)
    shutil.copy(IRIS_CSV, root.parent / "iris.csv")  # only beside root.yaml
    write(tmp_path, "sub/mid.yaml", "extends: deeper/root.yaml\nname: mid\nfit: {epochs: 3}\n")
    child = write(tmp_path, "child.yaml", "extends: sub/mid.yaml\nname: child\n")
    spec = merged(cli, child)
    assert (spec["name"], spec["fit"]["epochs"], spec["fit"]["batch_size"]) == ("child", 3, 16)
    assert spec["data"]["path"] == str((root.parent / "iris.csv").resolve())
    result = cli("validate", child)
    assert result.code == 0, result.err  # the data file is found relative to root.yaml


def test_several_bases_merge_in_order(cli, iris_copy: Path) -> None:
    write(iris_copy, "a.yaml", BASE)
    write(iris_copy, "b.yaml", "name: b\nfit: {epochs: 4}\n")
    first = write(iris_copy, "ab.yaml", "extends: [a.yaml, b.yaml]\nseed: 3\n")
    spec = merged(cli, first)
    assert (spec["name"], spec["seed"], spec["fit"]["epochs"], spec["fit"]["batch_size"]) == (
        "b",
        3,
        4,
        16,
    )
    second = write(iris_copy, "ba.yaml", "extends: [b.yaml, a.yaml]\n")
    spec = merged(cli, second)
    assert (spec["name"], spec["fit"]["epochs"]) == ("base", 5)


def test_cycle_is_named_where_it_closes(cli, tmp_path: Path) -> None:
    a = write(tmp_path, "a.yaml", "extends: b.yaml\nname: a\n")
    b = write(tmp_path, "b.yaml", "name: b\nextends: a.yaml\n")
    line = only_error(cli("validate", a))
    assert line == f"{b.resolve()}:2:10: extends: 'extends' cycle: a.yaml -> b.yaml -> a.yaml"
    itself = write(tmp_path, "self.yaml", "extends: self.yaml\n")
    line = only_error(cli("config", itself))
    assert line == f"{itself}:1:10: extends: 'extends' cycle: self.yaml -> self.yaml"


def test_missing_base_is_located(cli, iris_copy: Path) -> None:
    write(iris_copy, "base.yaml", BASE)
    child = write(iris_copy, "child.yaml", "name: x\nextends: [base.yaml, nope.yaml]\n")
    line = only_error(cli("validate", child))
    assert line == f"{child}:2:22: extends[1]: base spec not found: {iris_copy.resolve()}/nope.yaml"


@pytest.mark.parametrize(
    ("extends", "base", "message"),
    [
        ("3", None, "1:10: extends: expected a file name or a list of file names"),
        (
            "base.yaml",
            "",
            "1:10: extends: base spec {base} must be a mapping of sections, got an empty file",
        ),
        (
            "[base.yaml]",
            "- a\n- b\n",
            "1:11: extends[0]: base spec {base} must be a mapping of sections, got list",
        ),
    ],
)
def test_bad_extends(cli, tmp_path: Path, extends: str, base: str | None, message: str) -> None:
    if base is not None:
        (tmp_path / "base.yaml").write_text(base)
    child = write(tmp_path, "child.yaml", f"extends: {extends}\nname: x\n")
    line = only_error(cli("validate", child))
    assert line == f"{child}:" + message.format(base=(tmp_path / "base.yaml").resolve())


def test_empty_extends_list_is_no_base(cli, tmp_path: Path) -> None:
    text = IRIS.read_text().replace("path: data/iris.csv", f"path: {IRIS_CSV}")
    spec = write(tmp_path, "spec.yaml", "extends: []\n" + text)
    result = cli("validate", spec)
    assert result.code == 0, result.err


def test_error_written_in_the_base_points_into_the_base(cli, iris_copy: Path) -> None:
    base = write(iris_copy, "base.yaml", BASE.replace("units: 8", "unitz: 8"))
    child = write(iris_copy, "child.yaml", "extends: base.yaml\nname: child\n")
    line = only_error(cli("validate", child))
    assert line.startswith(
        f"{base}:8:17: model.sequential.layers[1].Dense.unitz: unknown argument 'unitz' for Dense"
    )
    assert "did you mean 'units'" in line
    error = cli("validate", child, "--json").json()["specs"][0]["errors"][0]
    assert (error["file"], error["line"], error["column"]) == (str(base), 8, 17)
    # once the child replaces the base's layers, the base's mistake is gone
    fixed = write(
        iris_copy,
        "fixed.yaml",
        """
        extends: base.yaml
        model:
          sequential:
            layers: [Normalization, {Dense: {units: 3, activation: softmax}}]
        """,
    )
    assert cli("validate", fixed).code == 0


def test_error_written_in_the_child_points_into_the_child(cli, iris_copy: Path) -> None:
    write(iris_copy, "base.yaml", BASE)
    child = write(
        iris_copy,
        "child.yaml",
        """
        extends: base.yaml
        model:
          sequential:
            layers:
              - Dense: {units: 3, activaton: softmax}
        """,
    )
    line = only_error(cli("validate", child))
    assert line.startswith(f"{child}:5:27: model.sequential.layers[0].Dense.activaton: ")
    assert "did you mean 'activation'" in line
    schema = write(iris_copy, "schema.yaml", "extends: base.yaml\nfit: {epocs: 3}\n")
    line = only_error(cli("validate", schema))
    assert line == f"{schema}:2:7: fit.epocs: unknown key 'epocs' (did you mean 'epochs'?)"


# --- --set --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["validate", "summary", "config", "train"])
@pytest.mark.parametrize(
    ("override", "expected"),
    [
        (
            "fit.epochs=abc",
            "--set fit.epochs=abc: fit.epochs: Input should be a valid integer, "
            "unable to parse string as an integer (got 'abc')",
        ),
        (
            "fit.epocs=3",
            "--set fit.epocs=3: fit.epocs: unknown key 'epocs' (did you mean 'epochs'?)",
        ),
        ("fit.epochs", "--set fit.epochs: expected KEY.PATH=VALUE, e.g. fit.epochs=5"),
    ],
)
def test_bad_override_on_every_command(
    cli, tmp_path: Path, command: str, override: str, expected: str
) -> None:
    extra = ["--runs-dir", str(tmp_path / "runs")] if command == "train" else []
    assert only_error(cli(command, IRIS, "--set", override, *extra)) == expected
    assert not (tmp_path / "runs").exists()


def test_override_by_list_index(cli) -> None:
    units = "model.sequential.layers[1].Dense.units=8"
    assert cli("validate", IRIS, "--set", units).code == 0
    spec = merged(cli, IRIS, "--set", units)
    assert spec["model"]["sequential"]["layers"][1] == {"Dense": {"units": 8, "activation": "relu"}}
    summary = cli("summary", IRIS, "--set", units, "--json")
    assert summary.code == 0, summary.err
    # 9 (Normalization) + 4*8+8 + 8*16+16 + 16*3+3, against 412 with 16 units
    assert summary.json()["total_params"] == 244
    appended = merged(cli, IRIS, "--set", "callbacks[1]=TerminateOnNaN")
    assert [next(iter(c)) for c in appended["callbacks"]] == ["EarlyStopping", "TerminateOnNaN"]


def test_override_values_are_typed_by_the_schema(cli) -> None:
    spec = merged(
        cli,
        IRIS,
        "--set",
        "name=2024",
        "--set",
        "seed=3",
        "--set",
        "compile.optimizer.Adam.learning_rate=0.5",
        "--set",
        "data.split={validation: 0.1, test: 0.1}",
    )
    assert spec["name"] == "2024"
    assert spec["seed"] == 3
    assert spec["compile"]["optimizer"]["Adam"]["learning_rate"] == 0.5
    assert (spec["data"]["split"]["validation"], spec["data"]["split"]["stratify"]) == (0.1, False)


def test_override_over_extends(cli, iris_copy: Path) -> None:
    write(iris_copy, "base.yaml", BASE)
    child = write(iris_copy, "child.yaml", "extends: base.yaml\nfit: {epochs: 2}\n")
    spec = merged(
        cli, child, "--set", "fit.batch_size=4", "--set", "model.sequential.layers[1].Dense.units=5"
    )
    assert (spec["fit"]["epochs"], spec["fit"]["batch_size"]) == (2, 4)
    assert spec["model"]["sequential"]["layers"][1]["Dense"]["units"] == 5


def test_train_saves_the_overridden_spec(cli, tmp_path: Path) -> None:
    result = cli(
        "train",
        IRIS,
        "--set",
        "fit.epochs=1",
        "--set",
        "name=set-run",
        "--set",
        "model.sequential.layers[1].Dense.units=8",
        "--runs-dir",
        tmp_path,
        "--quiet",
        "--json",
    )
    assert result.code == 0, result.err
    document = result.json()
    assert (Path(document["run_dir"]), document["epochs"]) == (tmp_path / "set-run" / "1", 1)
    saved = yaml.safe_load((tmp_path / "set-run" / "1" / "spec.yaml").read_text())
    assert saved["model"]["sequential"]["layers"][1]["Dense"]["units"] == 8
    assert saved["fit"]["epochs"] == 1
    record = json.loads((tmp_path / "set-run" / "1" / "run.json").read_text())
    assert record["status"] == "completed"


# --- ${ENV} -------------------------------------------------------------------------------

ENV_SPEC = """
extends: base.yaml
name: iris-${SUFFIX:-dev}
fit:
  epochs: ${EPOCHS:-3}
"""


def test_env_values_with_defaults(cli, iris_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(iris_copy, "base.yaml", BASE)
    spec = write(iris_copy, "spec.yaml", ENV_SPEC)
    monkeypatch.delenv("SUFFIX", raising=False)
    monkeypatch.delenv("EPOCHS", raising=False)
    data = merged(cli, spec)
    assert (data["name"], data["fit"]["epochs"]) == ("iris-dev", 3)  # a whole value is typed
    monkeypatch.setenv("SUFFIX", "ci")
    monkeypatch.setenv("EPOCHS", "5")
    data = merged(cli, spec)
    assert (data["name"], data["fit"]["epochs"]) == ("iris-ci", 5)
    monkeypatch.setenv("SUFFIX", "")  # set but empty: the default, as `${VAR:-x}` in a shell
    monkeypatch.setenv("EPOCHS", "")
    data = merged(cli, spec)
    assert (data["name"], data["fit"]["epochs"]) == ("iris-dev", 3)
    monkeypatch.setenv("EPOCHS", "many")
    line = only_error(cli("validate", spec))
    assert line.startswith(f"{spec}:4:11: fit.epochs: Input should be a valid integer")


def test_unset_env_without_default_is_located(
    cli, iris_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KERASCLI_TEST_BATCH", raising=False)
    base = write(
        iris_copy, "base.yaml", BASE.replace("batch_size: 16", "batch_size: ${KERASCLI_TEST_BATCH}")
    )
    child = write(iris_copy, "child.yaml", "extends: base.yaml\n")
    message = (
        "fit.batch_size: environment variable KERASCLI_TEST_BATCH is not set "
        "(write ${KERASCLI_TEST_BATCH:-default} to give a default)"
    )
    assert only_error(cli("validate", child)) == f"{base}:16:15: {message}"
    assert only_error(cli("config", base)) == f"{base}:16:15: {message}"
    monkeypatch.setenv("KERASCLI_TEST_BATCH", "32")
    assert merged(cli, child)["fit"]["batch_size"] == 32


def test_env_in_a_base_data_path_resolves_from_the_base(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KERASCLI_TEST_DATA", raising=False)
    base = write(
        tmp_path,
        "shared/base.yaml",
        BASE.replace("path: iris.csv", "path: ${KERASCLI_TEST_DATA:-.}/iris.csv"),
    )
    shutil.copy(IRIS_CSV, base.parent / "iris.csv")
    child = write(tmp_path, "child.yaml", "extends: shared/base.yaml\n")
    assert merged(cli, child)["data"]["path"] == str((base.parent / "iris.csv").resolve())
    assert cli("validate", child).code == 0
