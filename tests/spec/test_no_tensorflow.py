"""The spec layer, `kerascli --help` and `kerascli validate` never import TensorFlow or Keras.

Each check runs a fresh Python (as `python -m kerascli ...` does, through `runpy`) and
then lists `sys.modules`. (`-X importtime` would not do: kerascli silences fd 2 while
TensorFlow loads.)
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, SPECS

HEAVY = {"tensorflow", "keras"}
BROKEN = ROOT / "tests" / "spec" / "fixtures" / "broken" / "three_name_errors.yaml"

# argv[1]: where to write the result; argv[2]: "import" or "run"; the rest: a module or CLI args.
DRIVER = """
import json, runpy, sys
out, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
code = 0
if mode == "import":
    __import__(args[0])
else:
    sys.argv = ["kerascli", *args]
    try:
        runpy.run_module("kerascli", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        code = exc.code
with open(out, "w") as handle:
    json.dump({"code": code, "modules": sorted({m.split(".")[0] for m in sys.modules})}, handle)
"""


def _run(tmp_path: Path, mode: str, *args: str) -> tuple[dict[str, Any], str, str]:
    """Run the driver; return its result, stdout and stderr."""
    out = tmp_path / "modules.json"
    process = subprocess.run(
        [sys.executable, "-c", DRIVER, str(out), mode, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0 and out.is_file(), process.stderr[-2000:]
    return json.loads(out.read_text()), process.stdout, process.stderr


@pytest.mark.parametrize("module", ["kerascli.spec", "kerascli", "kerascli.spec.dump"])
def test_importing(tmp_path: Path, module: str) -> None:
    result, _, _ = _run(tmp_path, "import", module)
    assert "kerascli" in result["modules"]
    # the spec layer reads YAML; `import kerascli` loads even that on first use of a name
    assert ("yaml" in result["modules"]) == (module != "kerascli")
    assert not HEAVY & set(result["modules"])


def test_validate_a_spec(tmp_path: Path) -> None:
    result, out, err = _run(tmp_path, "run", "validate", str(SPECS / "iris_mlp.yaml"))
    assert result["code"] == 0, err
    assert out.startswith("ok ")
    assert "pydantic" in result["modules"]
    assert not HEAVY & set(result["modules"])


def test_validate_a_broken_spec(tmp_path: Path) -> None:
    result, _, err = _run(tmp_path, "run", "validate", str(BROKEN))
    assert result["code"] == 2
    assert f"{BROKEN}:7:9:" in err
    assert not HEAVY & set(result["modules"])


def test_help(tmp_path: Path) -> None:
    result, out, _ = _run(tmp_path, "run", "--help")
    assert result["code"] == 0
    assert "validate" in out and "train" in out
    assert not HEAVY & set(result["modules"])


def test_the_check_sees_tensorflow_when_it_is_imported(tmp_path: Path) -> None:
    """Control: `validate --deep` builds the model, so TensorFlow and Keras are imported."""
    result, _, err = _run(tmp_path, "run", "validate", "--deep", str(SPECS / "iris_mlp.yaml"))
    assert result["code"] == 0, err
    assert HEAVY <= set(result["modules"])
