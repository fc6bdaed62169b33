"""Search spaces in specs: their syntax, validation with each option, and who takes them
(`validate` and `tune` do; `train` refuses them, `--set` fixes one)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kerascli.spec import SpecError, load_spec
from kerascli.spec.search_space import find_spaces
from kerascli.spec.search_spec import load_search_spec
from kerascli.spec.source import parse_yaml
from tests.conftest import SPECS, invoke

TUNE = SPECS / "iris_tune.yaml"
UNITS = "model.sequential.layers[1].Dense.units"
RATE = "compile.optimizer.Adam.learning_rate"

SPEC = """\
name: iris
seed: 7
model:
  sequential:
    input: {{shape: [4]}}
    layers:
      - Dense: {{units: {units}, activation: {activation}}}
      - Dense: {{units: 3, activation: softmax}}
compile:
  optimizer: {{Adam: {{learning_rate: {rate}}}}}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
fit: {{epochs: 2, batch_size: 16}}
callbacks:
  - EarlyStopping: {{monitor: val_loss}}
data:
  path: {data}
  target: species
  split: {{validation: {validation}, test: 0.2}}
"""


def _spec(
    tmp_path: Path,
    units: str = "16",
    activation: str = "relu",
    rate: str = "0.01",
    validation: str = "0.2",
) -> Path:
    data = SPECS / "data" / "iris.csv"
    text = SPEC.format(
        units=units, activation=activation, rate=rate, validation=validation, data=data
    )
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        find_spaces(parse_yaml(text, "s.yaml"))
    return [str(p) for p in info.value.problems]


def test_spaces_are_found_by_key_path_in_order() -> None:
    doc = parse_yaml(
        "a:\n"
        "  - {units: {choice: [32, 64]}}\n"
        "  - {rate: {range: [1.0e-4, 1.0e-2], log: true}}\n"
        "b: {range: [1, 9], step: 2}\n"
        "c: {ops.histogram: {range: [0, 1], bins: 4}, Dense: {range: [0, 1], x: 1}}\n",
        "s.yaml",
    )
    spaces = find_spaces(doc)
    assert [s.name for s in spaces] == ["a[0].units", "a[1].rate", "b"]
    units, rate, b = spaces
    assert (units.kind, units.values, units.default, units.integer) == (
        "choice",
        (32, 64),
        32,
        False,
    )
    assert (rate.kind, rate.log, rate.integer, rate.default) == ("range", True, False, 1e-4)
    assert (b.integer, b.step, b.describe()) == (True, 2, "integer range 1..9, step 2")
    assert units.describe() == "choice of 2 (32, 64)"
    assert [where for _, where in rate.alternatives()] == [
        ("a", 1, "rate", "range", 0),
        ("a", 1, "rate", "range", 1),
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "x: {choice: []}",
            "s.yaml:1:13: x.choice: a choice needs at least one value. Received: []",
        ),
        ("x: {choice: [1, 2, 1.0]}", "s.yaml:1:20: x.choice[2]: 1.0 is already a choice"),
        (
            "x: {choice: [a, [1]]}",
            "s.yaml:1:17: x.choice[1]: a choice's values are numbers, strings, booleans or null. "
            "Received: a list",
        ),
        (
            "x: {range: [1]}",
            "s.yaml:1:12: x.range: a range is two numbers [low, high]. Received: [1]",
        ),
        (
            "x: {range: [2, 1]}",
            "s.yaml:1:12: x.range: a range's low end must be below its high end. Received: [2, 1]",
        ),
        (
            "x: {range: [0, 1], log: true}",
            "s.yaml:1:13: x.range[0]: a log range must be above zero (log: true). Received: low 0",
        ),
        (
            "x: {range: [1, 8], step: 0.5}",
            "s.yaml:1:26: x.step: an integer range takes an integer step. Received: 0.5",
        ),
        (
            "x: {range: [0.1, 1.0], log: true, step: 0.1}",
            "s.yaml:1:35: x.step: step and log: true cannot be combined: give one",
        ),
        (
            "x: {range: [0.1, 1.0], lg: true}",
            "s.yaml:1:24: x.lg: unknown key 'lg' in a search space (did you mean 'log'?)",
        ),
        (
            "x: {choice: [2, 16, 64], extra: 1}",
            "s.yaml:1:26: x.extra: unknown key 'extra' in a search space (expected "
            "choice/range/log/step)",
        ),
        (
            "x: {range: [1.0e-3, 0.3], log: true, foo: 1}",
            "s.yaml:1:38: x.foo: unknown key 'foo' in a search space (expected "
            "choice/range/log/step)",
        ),
        (
            "x: {choice: [1, 2], log: true}",
            "s.yaml:1:21: x.log: unknown key 'log' in a search space; a choice takes no other key (log and step are for a range)",
        ),
        (
            "x: {choice: [1, 2], range: [1, 2]}",
            "s.yaml:1:21: x.range: a search space is a choice or a range, not both",
        ),
    ],
)
def test_malformed_spaces_are_located(text: str, expected: str) -> None:
    assert _problems(text) == [expected]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: {choice: [a, b]}", "s.yaml:1:7: name"),
        ("plugins: [{choice: [a.py, b.py]}]", "s.yaml:1:11: plugins[0]"),
        (
            "distribute: {strategy: {choice: [default, mirrored]}}",
            "s.yaml:1:24: distribute.strategy",
        ),
    ],
)
def test_no_space_where_a_value_cannot_vary_by_trial(text: str, where: str) -> None:
    (problem,) = _problems(text)
    key = where.split(": ")[1].split(".")[0].split("[")[0]
    assert problem.startswith(f"{where}: a search space cannot be in {key}: ")
    assert problem.endswith("; give one value")


def test_validate_refuses_a_space_at_name(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    spec.write_text(spec.read_text().replace("name: iris", "name: {choice: [a, b]}"))
    result = invoke("validate", spec)
    assert result.code == 2
    assert result.err.startswith(
        f"{spec}:1:7: name: a search space cannot be in name: it names the search's directory"
    )


def test_an_option_is_validated_at_its_own_line(tmp_path: Path) -> None:
    spec = _spec(tmp_path, activation="{choice: [relu, sigmoidd]}")
    result = invoke("validate", spec)
    assert result.code == 2
    assert result.err.splitlines()[0] == (
        f"{spec}:7:56: model.sequential.layers[0].Dense.activation: unknown activation "
        "'sigmoidd' (did you mean 'sigmoid' or 'log_sigmoid' or 'hard_sigmoid'?)"
    )


def test_an_option_that_breaks_another_key_is_named(tmp_path: Path) -> None:
    spec = _spec(tmp_path, validation="{choice: [0.2, 0.0]}")
    with pytest.raises(SpecError) as info:
        load_search_spec(spec)
    (problem,) = info.value.problems
    assert problem.path == "callbacks[0].EarlyStopping.monitor"
    assert problem.message.endswith(
        "(with data.split.validation = 0.0, an option of its search space)"
    )


def test_deep_builds_each_option(tmp_path: Path) -> None:
    """`units: -1` only fails when Keras builds the layer: `--deep` builds every option."""
    spec = _spec(tmp_path, units="{choice: [32, -1]}")
    assert invoke("validate", spec).code == 0  # as `units: -1` passes without --deep
    result = invoke("validate", "--deep", spec)
    assert result.code == 2
    assert result.err.splitlines()[0] == (
        f"{spec}:7:38: model.sequential.layers[0].Dense.units: Dense: Received an invalid value "
        "for `units`, expected a positive integer. Received: units=-1"
    )


def test_validate_accepts_and_counts_spaces() -> None:
    result = invoke("validate", TUNE)
    assert (result.code, result.out.strip()) == (0, f"ok {TUNE} (3 search spaces)")
    document = invoke("validate", TUNE, "--json").json()
    assert document["specs"][0]["search_spaces"] == [UNITS, RATE, "fit.batch_size"]


def test_train_refuses_each_space_and_names_tune() -> None:
    result = invoke("train", TUNE)
    assert result.code == 2
    lines = result.err.splitlines()
    assert lines[0] == (
        f"{TUNE}:17:24: {UNITS}: a search space (choice of 3 (2, 16, 64)): `kerascli tune` "
        f"searches it; `train` takes one value: --set {UNITS}=VALUE"
    )
    assert [line.split(": ")[1] for line in lines[:3]] == [UNITS, RATE, "fit.batch_size"]
    with pytest.raises(SpecError):
        load_spec(TUNE)


def test_set_fixes_a_space() -> None:
    fixed = [f"{UNITS}=16", f"{RATE}=0.01"]
    result = invoke("train", TUNE, *[w for s in fixed for w in ("--set", s)])
    assert result.code == 2  # batch_size is still a space
    assert [line.split(": ")[1] for line in result.err.splitlines()[:-1]] == ["fit.batch_size"]
    spec = load_spec(TUNE, [*fixed, "fit.batch_size=8"])
    assert (spec.fit.batch_size, spec.compile.optimizer) == (8, {"Adam": {"learning_rate": 0.01}})
    search = load_search_spec(TUNE, fixed)
    assert [s.name for s in search.spaces] == ["fit.batch_size"]


def test_resolve_gives_a_plain_spec_and_digest_follows_the_spec() -> None:
    search = load_search_spec(TUNE)
    assert search.default.fit.batch_size == 8  # each space at its first choice or low end
    assert search.default.compile.optimizer == {"Adam": {"learning_rate": 0.001}}
    spec = search.resolve({UNITS: 64, "fit.batch_size": 24}, {("fit", "epochs"): 3})
    layer = spec.model.sequential.layers[1]  # type: ignore[union-attr]
    assert (layer, spec.fit.batch_size, spec.fit.epochs) == (
        {"Dense": {"units": 64, "activation": "relu"}},
        24,
        3,
    )
    assert len(search.variants) == 2 + 1 + 1  # the other choices, each range's high end
    assert search.digest() == load_search_spec(TUNE).digest()
    assert search.digest() != load_search_spec(TUNE, ["fit.epochs=5"]).digest()


def test_the_json_schema_takes_a_space_where_a_value_goes() -> None:
    from jsonschema import Draft202012Validator

    from kerascli.spec.schema import spec_schema

    validator = Draft202012Validator(spec_schema())
    spec = yaml.safe_load(TUNE.read_text(encoding="utf-8"))
    assert list(validator.iter_errors(spec)) == []

    def errors(fit: dict[str, object]) -> list[str]:
        return [e.message for e in validator.iter_errors({**spec, "fit": fit})]

    assert errors({"epochs": {"range": [1, 5], "step": 2}, "batch_size": {"choice": [8, 16]}}) == []
    assert errors({"epochs": {"choice": []}}) != []
    assert errors({"epochs": {"range": [1, 5], "lg": True}}) != []


def test_the_shipped_example_states_its_default() -> None:
    """The header of iris_tune.yaml names the default configuration tune is measured against."""
    header = " ".join(line.lstrip("# ") for line in TUNE.read_text(encoding="utf-8").splitlines())
    search = load_search_spec(TUNE)
    stated = ", ".join(f"{s.name.rsplit('.', 1)[-1]} {s.default:g}" for s in search.spaces)
    assert f"({stated})" in header  # (units 2, learning_rate 0.001, batch_size 8)


def test_tune_modules_import_no_private_names() -> None:
    """The search-space schema and `kerascli tune` use other modules' public names only."""
    import ast

    root = Path(__file__).resolve().parents[2] / "kerascli"
    files = [root / "spec" / "schema_search.py", root / "cli" / "commands_tune.py"]
    files += [*(root / "spec").glob("search_*.py"), *(root / "run").glob("tune*.py")]
    private = [
        f"{path.name}: {node.module}.{alias.name}"
        for path in files
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == []
