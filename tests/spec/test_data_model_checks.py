"""`data:` against the model: `kerascli validate` rejects, without TensorFlow, what train rejects.

Each spec in `fixtures/data_model/` feeds its model in a way `kerascli train` refuses: a
`data.inputs`/`data.outputs` name that is not a model input/output, an input or output the
mapping leaves out, or a number of CSV columns that does not fill an input's shape. `EXPECTED`
gives the exact lines `kerascli validate` prints for it, without the leading file name. The
specs in `fixtures/data_model/ok/` are the cases train accepts, which validate must pass too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kerascli.data import load_data
from kerascli.spec import SpecError, load_spec
from tests.conftest import SPECS

FIXTURES = Path(__file__).parent / "fixtures" / "data_model"
GOOD = FIXTURES / "ok"

EXPECTED: dict[str, list[str]] = {
    # -- names of data.inputs / data.outputs ---------------------------------------------
    "inputs_unknown_name": [
        "15:5: data.inputs.phenol: 'phenol' is not a model input (did you mean 'phenols'?);"
        " inputs: acids, phenols"
    ],
    "inputs_left_out": ["13:3: data.inputs: no entry for the model input 'phenols'"],
    "inputs_not_mapped": [
        "13:13: data.features: the model has inputs acids, phenols: map each with data.inputs"
    ],
    "inputs_two_for_one": [
        "8:3: data.inputs: the model has one input: give data.inputs one entry, got 2"
        " (sepal, petal)"
    ],
    "subclass_inputs_unknown_name": [
        "12:5: data.inputs.leaf: 'leaf' is not a model input; inputs: sepal, petal",
        "10:3: data.inputs: no entry for the model input 'petal'",
    ],
    "outputs_unknown_name": [
        "15:5: data.outputs.alcohl: 'alcohl' is not a model output (did you mean 'alcohol'?);"
        " outputs: cultivar, alcohol"
    ],
    "outputs_left_out": ["13:3: data.outputs: no entry for the model output 'alcohol'"],
    "outputs_target_for_two": [
        "13:11: data.target: the model has outputs cultivar, alcohol: map each with data.outputs"
    ],
    "outputs_extra_for_one": [
        "12:31: data.outputs.width: 'width' is not a model output; outputs: species"
    ],
    "outputs_two_for_sequential": [  # train used to build y = {a, b}; Keras failed unlocated
        "9:3: data.outputs: the model has one output: give data.outputs one entry, got 2 (a, b)"
    ],
    "features_npz_omitted": ["6:1: data: name the features array with data.features"],
    # -- CSV columns against the input shape ---------------------------------------------
    "features_too_few": ["8:13: data.features: 1 column for input shape [4] (needs 4)"],
    "features_one_column_name": ["8:13: data.features: 1 column for input shape [2] (needs 2)"],
    "features_omitted_count": [
        "9:1: data: 13 columns for input 'features' of shape [12] (needs 12); without"
        " data.features the input gets every column of wine.csv but cultivar"
    ],
    "inputs_column_count": [
        "14:12: data.inputs.acids: 2 columns for input 'acids' of shape [3] (needs 3)"
    ],
    "subclass_shape_count": ["9:13: data.features: 4 columns for input shape [8, 8, 1] (needs 64)"],
}


def _expected_lines(name: str) -> list[str]:
    return [f"{FIXTURES / name}.yaml:{line}" for line in EXPECTED[name]]


def test_every_fixture_has_expected_lines() -> None:
    assert sorted(p.stem for p in FIXTURES.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_validate_reports_it(cli, name: str) -> None:
    spec = FIXTURES / f"{name}.yaml"
    result = cli("validate", spec)
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert result.out == ""
    lines = [line for line in result.err.splitlines() if line.startswith(f"{spec}:")]
    assert lines == _expected_lines(name), result.err
    n = len(lines)
    assert result.err.splitlines()[-1] == f"{n} problem{'s' if n > 1 else ''} in 1 of 1 spec(s)"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_train_refuses_it_too(name: str) -> None:
    """No false alarm: the data reader `train` runs refuses the spec as well; where the
    binding of `data:` to the model is wrong, with the first problem validate reports
    (`facts.binding_problems` says both)."""
    spec = load_spec(FIXTURES / f"{name}.yaml", check=False)
    with pytest.raises(SpecError) as raised:
        load_data(spec)
    if "column" not in EXPECTED[name][0]:  # counts of CSV columns: train's own shape message
        assert str(raised.value) == _expected_lines(name)[0]


@pytest.mark.parametrize("spec", sorted(GOOD.glob("*.yaml")), ids=lambda p: p.stem)
def test_what_train_accepts_validates(cli, spec: Path) -> None:
    result = cli("validate", spec)
    assert result.code == 0, result.err
    assert result.out.strip() == f"ok {spec}"
    assert load_data(load_spec(spec)).splits["train"].rows == 150


def test_shipped_specs_validate(cli) -> None:
    specs = sorted(SPECS.glob("*.yaml"))
    result = cli("validate", *specs)
    assert result.code == 0, result.err
    # (a spec with search spaces says how many after its name)
    assert [line.split()[:2] for line in result.out.splitlines()] == [["ok", str(s)] for s in specs]


def test_checks_need_no_tensorflow() -> None:
    """The new checks run in `validate` without importing TensorFlow."""
    code = (
        "import sys\n"
        "from kerascli.spec import SpecError, load_spec\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        load_spec(name)\n"
        "    except SpecError:\n"
        "        pass\n"
        "    else:\n"
        "        raise SystemExit(f'no problem found in {name}')\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    specs = [str(FIXTURES / f"{name}.yaml") for name in sorted(EXPECTED)]
    done = subprocess.run([sys.executable, "-c", code, *specs], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
