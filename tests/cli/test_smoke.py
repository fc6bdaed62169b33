"""`kerascli` as a real process: the entry points, exit codes and a clean stdout.

Every other CLI test drives the app in-process (`typer.testing.CliRunner`, `tests/conftest.py`);
these few start the installed `kerascli` or `python -m kerascli`, as a shell or a pipeline does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kerascli import __version__
from tests.conftest import ROOT, SPECS

BROKEN = ROOT / "tests" / "spec" / "fixtures" / "broken" / "unknown_layer.yaml"
SCRIPT = Path(sys.executable).parent / "kerascli"
COMMANDS = (
    "validate",
    "summary",
    "config",
    "train",
    "evaluate",
    "predict",
    "runs",
    "schema",
    "init",
)

# Runs `kerascli --help` in this interpreter, then prints the modules it imported.
HELP_IMPORTS = """
import json, sys
from kerascli.cli.app import main
try:
    main(["--help"])
except SystemExit as exc:
    assert not exc.code, exc.code
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def kerascli(*args: object, script: bool = False) -> subprocess.CompletedProcess[str]:
    """`python -m kerascli ARGS`, or (`script`) the `kerascli` script installed beside Python."""
    if script and not SCRIPT.is_file():
        pytest.skip(f"no kerascli script at {SCRIPT} (kerascli not installed in this environment)")
    program = [str(SCRIPT)] if script else [sys.executable, "-m", "kerascli"]
    env = {k: v for k, v in os.environ.items() if k != "KERASCLI_VERBOSE"}
    return subprocess.run(
        [*program, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_help_and_version() -> None:
    shown = kerascli("--help", script=True)
    assert shown.returncode == 0, shown.stderr
    assert all(name in shown.stdout for name in COMMANDS)
    version = kerascli("--version", script=True)
    assert (version.returncode, version.stdout) == (0, f"kerascli {__version__}\n")


def test_help_imports_nothing_heavy() -> None:
    """`kerascli --help` starts fast: no TensorFlow, numpy, Pydantic, YAML, spec or training code
    on its path."""
    proc = subprocess.run(
        [sys.executable, "-c", HELP_IMPORTS], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    modules = json.loads(proc.stderr.splitlines()[-1])
    heavy = [
        m
        for m in modules
        if m.split(".")[0] in ("tensorflow", "keras", "numpy", "pydantic", "yaml")
    ]
    assert not heavy
    assert not [m for m in modules if m.startswith(("kerascli.run", "kerascli.spec"))]


def test_invalid_spec_exits_2_with_located_problems() -> None:
    plain = kerascli("validate", BROKEN)
    assert (plain.returncode, plain.stdout) == (2, "")
    assert f"{BROKEN}:6:9: model.sequential.layers[0].Dens: unknown layer 'Dens'" in plain.stderr
    assert "Traceback" not in plain.stderr
    as_json = kerascli("validate", BROKEN, "--json")
    assert as_json.returncode == 2
    (spec,) = json.loads(as_json.stdout)["specs"]
    assert (spec["ok"], spec["errors"][0]["line"], spec["errors"][0]["column"]) == (False, 6, 9)


def test_usage_errors_exit_2_also_in_json() -> None:
    unknown = kerascli("no-such-command")
    assert unknown.returncode == 2 and "No such command 'no-such-command'" in unknown.stderr
    document = json.loads(kerascli("train", SPECS / "iris_mlp.yaml", "--bogus", "--json").stdout)
    assert document["ok"] is False and "--bogus" in document["errors"][0]["message"]


def test_json_stdout_holds_only_the_document() -> None:
    """TensorFlow and Keras load and build a model in this process; stdout is still one
    JSON document."""
    summary = kerascli("summary", SPECS / "iris_mlp.yaml", "--json")
    assert summary.returncode == 0, summary.stderr
    assert json.loads(summary.stdout)["total_params"] == 412
