"""Loading specs: the resolved spec round-trips, dict specs load, positions are right."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from kerascli.spec import SpecError, load_spec, load_spec_dict
from kerascli.spec.dump import resolved_spec, to_yaml
from kerascli.spec.source import Mark, parse_yaml
from tests.conftest import SPECS

# (iris_tune.yaml has search spaces: a spec for `kerascli tune`, tests/run/test_tune.py)
SHIPPED = sorted(p for p in SPECS.glob("*.yaml") if p.stem != "iris_tune")


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_resolved_spec_round_trips(tmp_path: Path, path: Path) -> None:
    """load -> dump the resolved spec -> reload gives the same spec (what a run saves)."""
    spec = load_spec(path)
    text = to_yaml(resolved_spec(spec))
    saved = tmp_path / "spec.yaml"
    saved.write_text(text, encoding="utf-8")
    again = load_spec(saved)
    assert again.model == spec.model
    assert resolved_spec(again) == resolved_spec(spec)
    assert to_yaml(resolved_spec(again)) == text


def test_resolved_spec_fills_defaults_and_absolute_paths() -> None:
    spec = load_spec(SPECS / "iris_mlp.yaml")
    data = resolved_spec(spec)
    assert list(data)[:4] == ["name", "seed", "plugins", "model"]
    assert data["fit"] == {
        "epochs": 60,
        "batch_size": 16,
        "validation_freq": 1,
        "initial_epoch": 0,
    }
    assert data["model"]["sequential"]["input"] == {"shape": [4], "dtype": "float32"}
    assert data["model"]["sequential"]["layers"][0] == {"Normalization": {}}
    assert data["data"]["path"] == str(SPECS / "data" / "iris.csv")
    assert "extends" not in data


def test_round_trip_builds_the_same_keras_model(tmp_path: Path) -> None:
    from kerascli.model.builder import build_model

    spec = load_spec(SPECS / "cancer_two_heads.yaml")
    saved = tmp_path / "spec.yaml"
    saved.write_text(to_yaml(resolved_spec(spec)), encoding="utf-8")
    first, second = build_model(spec), build_model(load_spec(saved))
    assert [layer.name for layer in first.layers] == [layer.name for layer in second.layers]
    assert first.count_params() == second.count_params()
    assert [w.shape for w in first.weights] == [w.shape for w in second.weights]


IRIS_DICT = {
    "name": "iris-dict",
    "model": {
        "sequential": {
            "input": {"shape": [4]},
            "layers": ["Flatten", {"Dense": {"units": 3, "activation": "softmax"}}],
        }
    },
    "compile": {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
    "data": {"path": "data/iris.csv", "target": "species", "split": {"test": 0.2}},
}


def test_load_spec_dict() -> None:
    data = copy.deepcopy(IRIS_DICT)
    spec = load_spec_dict(data, base_dir=SPECS)
    assert data == IRIS_DICT  # the caller's dict is left alone
    assert spec.name == "iris-dict"
    assert spec.model.kind == "sequential"
    assert spec.model.sequential is not None
    assert spec.model.sequential.layers == [
        {"Flatten": {}},
        {"Dense": {"units": 3, "activation": "softmax"}},
    ]
    assert spec.data is not None and spec.data.path == str(SPECS / "data" / "iris.csv")
    assert spec.fit.epochs == 10  # Keras's default number of epochs is kept as ours


def test_load_spec_dict_problems_have_paths_but_no_lines(tmp_path: Path) -> None:
    data = copy.deepcopy(IRIS_DICT)
    data["model"]["sequential"]["layers"][1] = {"Dense": {"unitz": 3}}
    data["fit"] = {"epochs": 0}
    with pytest.raises(SpecError) as info:
        load_spec_dict(data, base_dir=tmp_path)
    (problem,) = info.value.problems
    assert problem.path == "fit.epochs" and problem.line is None
    assert "greater than 0" in problem.message
    data["fit"] = {"epochs": 2}
    with pytest.raises(SpecError) as info:
        load_spec_dict(data, base_dir=tmp_path)
    messages = [(p.path, p.message) for p in info.value.problems]
    assert messages == [
        (
            "model.sequential.layers[1].Dense.unitz",
            "unknown argument 'unitz' for Dense (did you mean 'units'?)",
        ),
        ("data.path", f"data file not found: {tmp_path / 'data' / 'iris.csv'}"),
    ]
    assert str(info.value.problems[0]).startswith(f"{tmp_path / '<spec>'}: model.sequential")


POSITIONS = """\
name: t
model:
  sequential:
    input: {shape: [4]}
    layers:
      - Flatten
      - Dense:
          units: 3
      - {Dropout: {rate: 0.1}}
fit:
  epochs: ${EPOCHS:-5}
  batch_size: ${BATCH}
"""


def test_positions_of_keys_and_values() -> None:
    doc = parse_yaml(POSITIONS, "p.yaml", env={"BATCH": "8"})
    layers = ("model", "sequential", "layers")

    def at(line: int, column: int) -> Mark:
        return Mark("p.yaml", line, column)

    assert doc.keys[("name",)] == at(1, 1)
    assert doc.values[("name",)] == at(1, 7)
    assert doc.keys[("model", "sequential", "input")] == at(4, 5)
    assert doc.values[("model", "sequential", "input", "shape", 0)] == at(4, 21)
    assert doc.values[(*layers, 0)] == at(6, 9)
    assert doc.values[(*layers, 1)] == at(7, 9)
    assert doc.keys[(*layers, 1, "Dense")] == at(7, 9)
    assert doc.keys[(*layers, 1, "Dense", "units")] == at(8, 11)
    assert doc.values[(*layers, 1, "Dense", "units")] == at(8, 18)
    assert doc.values[(*layers, 2)] == at(9, 9)
    assert doc.keys[(*layers, 2, "Dropout")] == at(9, 10)
    assert doc.keys[(*layers, 2, "Dropout", "rate")] == at(9, 20)
    # ${VAR} is replaced and typed as if written: an int, with its own position kept.
    assert doc.data["fit"] == {"epochs": 5, "batch_size": 8}
    assert doc.values[("fit", "batch_size")] == at(12, 15)


def test_mark_falls_back_to_the_nearest_parent() -> None:
    doc = parse_yaml(POSITIONS, "p.yaml", env={"BATCH": "8"})
    layers = ("model", "sequential", "layers")
    # A key that is not in the file (a missing argument) points at its parent mapping.
    assert doc.mark((*layers, 1, "Dense", "activation")) == Mark("p.yaml", 8, 11)
    assert doc.mark((*layers, 7)) == Mark("p.yaml", 6, 7)
    # at_key: the key itself where there is one, else the value.
    assert doc.mark((*layers, 1, "Dense"), at_key=True) == Mark("p.yaml", 7, 9)
    assert doc.mark((*layers, 1, "Dense")) == Mark("p.yaml", 8, 11)
    problem = doc.problem((*layers, 1, "Dense", "units"), "bad")
    assert str(problem) == "p.yaml:8:18: model.sequential.layers[1].Dense.units: bad"


def test_positions_point_into_the_file_for_later_problems(tmp_path: Path) -> None:
    """A problem found after loading (a Keras name) is located through the kept document."""
    path = tmp_path / "spec.yaml"
    path.write_text(POSITIONS.replace("Dropout", "Dropuot"), encoding="utf-8")
    with pytest.raises(SpecError) as info:
        load_spec(path, env={"BATCH": "8"})
    (problem,) = info.value.problems
    assert (problem.line, problem.column) == (9, 10)
    assert problem.path == "model.sequential.layers[2].Dropuot"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [1, 2}\n", "1:9: invalid YAML: expected ',' or ']', but got '}' (to close the '['"),
        ("a: {b: 1\n", "1:4: invalid YAML: unclosed '{': the file ends before it is closed"),
        ('a: "x\\q"\n', "1:7: invalid YAML: while scanning a double-quoted scalar found unknown"),
        ("a:\n  - b\n  c: 2\n", "3:3: invalid YAML: bad indentation: this line does not line up"),
        ("a: *x\n", "1:4: invalid YAML: found undefined alias 'x'"),
        (
            "a: !!python/object:os.system x\n",
            "1:4: invalid YAML: could not determine a constructor",
        ),
    ],
)
def test_yaml_syntax_errors(text: str, expected: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "f.yaml")
    (problem,) = info.value.problems
    assert str(problem).startswith(f"f.yaml:{expected}"), str(problem)


def test_no_loss_is_an_error_unless_plugins_may_add_one(tmp_path: Path) -> None:
    plugin = Path(__file__).parent / "fixtures" / "broken" / "plugins" / "net.py"
    spec = {
        "name": "t",
        "model": {"sequential": {"input": {"shape": [4]}, "layers": [{"Dense": {"units": 3}}]}},
        "data": {"path": str(SPECS / "data" / "iris.csv"), "target": "species"},
    }
    with pytest.raises(SpecError) as caught:
        load_spec_dict(spec)
    assert "no loss to train with" in caught.value.problems[0].message
    # a plugin layer may add its own loss (`add_loss`), as may a subclass model
    assert load_spec_dict({**spec, "plugins": [str(plugin)]}).compile.loss is None
