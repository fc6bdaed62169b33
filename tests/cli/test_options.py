"""The options every command shares (`--debug`, `--json`, `--verbose`) and the one mapping of
what a command raised to an exit code and a message (`kerascli.cli.errors.report`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from kerascli.cli import errors, render
from kerascli.cli.command import command
from kerascli.cli.options import JsonOpt
from kerascli.run.rundir import RunFailed, RunInterrupted, Terminated
from kerascli.spec import Problem, SpecError
from tests.cli.conftest import IRIS, ROOT, write

BROKEN = ROOT / "tests" / "spec" / "fixtures" / "broken" / "unknown_layer.yaml"
LOCATED = f"{BROKEN}:6:9: model.sequential.layers[0].Dens: unknown layer 'Dens'"


@pytest.mark.parametrize(
    "args",
    [("--debug", "config", BROKEN), ("config", "--debug", BROKEN), ("config", BROKEN, "--debug")],
)
def test_debug_anywhere_shows_the_traceback(cli, args: tuple) -> None:
    result = cli(*args)
    assert result.code == 2
    assert "Traceback (most recent call last)" in result.err and LOCATED in result.err


def test_every_command_takes_debug(cli, tmp_path: Path) -> None:
    assert cli("runs", tmp_path, "--debug").code == 0
    assert cli("schema", "--debug", "--output", tmp_path / "s.json").code == 0
    assert cli("init", tmp_path / "spec.yaml", "--debug").code == 0
    refused = cli("init", tmp_path / "spec.yaml", "--debug")  # exists: exit 2, no traceback
    assert refused.code == 2 and refused.err.startswith("error: ")
    assert "Traceback" not in refused.err


def test_verbose_lasts_as_long_as_the_command(cli, iris_copy: Path, monkeypatch) -> None:
    """`--verbose` keeps TensorFlow's logs (`KERASCLI_VERBOSE`) while the command runs: a
    plugin imported during `train` sees it; after the command it is gone."""
    monkeypatch.delenv("KERASCLI_VERBOSE", raising=False)
    seen = iris_copy / "seen.txt"
    write(
        iris_copy,
        "spy.py",
        f"""
        import os, pathlib
        pathlib.Path({str(seen)!r}).write_text(os.environ.get("KERASCLI_VERBOSE", "unset"))
        """,
    )
    spec = write(iris_copy, "spec.yaml", IRIS.read_text().replace("data/iris.csv", "iris.csv"))
    with spec.open("a") as handle:
        handle.write("plugins: [spy.py]\n")
    runs = iris_copy / "runs"
    result = cli("train", spec, "--epochs", "1", "--runs-dir", runs, "--quiet", "--verbose")
    assert result.code == 0, result.err
    assert seen.read_text() == "1"
    assert "KERASCLI_VERBOSE" not in os.environ


def test_json_mode_keeps_stdout_for_the_document(capsys) -> None:
    before = sys.stdout
    with render.json_mode(True):
        print("a plugin's print")
        render.print_json({"ok": True})
    assert sys.stdout is before
    out, err = capsys.readouterr()
    assert (json.loads(out), err) == ({"ok": True}, "a plugin's print\n")


def report(exc: BaseException, capsys, json_mode: bool = False) -> tuple[int, str, str]:
    code = errors.report(exc, json_mode, debug=False)
    out, err = capsys.readouterr()
    return code, out, err


def failed_run(cause: Exception, run: Path) -> RunFailed:
    try:
        raise RunFailed(run, cause) from cause
    except RunFailed as exc:
        return exc


def test_a_failed_run_is_named(capsys, tmp_path: Path) -> None:
    code, out, err = report(failed_run(RuntimeError("boom"), tmp_path), capsys)
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        "error: RuntimeError: boom",
        f"run {tmp_path} is marked failed and keeps what it wrote",
        "(run with --debug for the traceback)",
    ]
    code, out, _ = report(failed_run(RuntimeError("boom"), tmp_path), capsys, json_mode=True)
    assert (code, json.loads(out)) == (
        1,
        {"ok": False, "errors": [{"message": "RuntimeError: boom"}], "run_dir": str(tmp_path)},
    )


def test_a_run_failed_by_an_invalid_spec_shows_its_problems(capsys, tmp_path: Path) -> None:
    invalid = SpecError([Problem("no metric 'los'", file="--require los<1")])
    code, out, err = report(failed_run(invalid, tmp_path), capsys)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "--require los<1: no metric 'los'",
        "1 problem found",
        f"run {tmp_path} is marked failed and keeps what it wrote",
    ]
    code, out, _ = report(failed_run(invalid, tmp_path), capsys, json_mode=True)
    assert code == 2 and json.loads(out)["run_dir"] == str(tmp_path)


@pytest.mark.parametrize(
    ("exc", "code", "lines"),
    [
        (KeyboardInterrupt(), 130, ["error: interrupted"]),
        (Terminated(), 143, ["error: terminated (SIGTERM)"]),
        (
            RunInterrupted(Path("runs/a/1")),
            130,
            ["error: interrupted", "run runs/a/1 is marked interrupted and keeps what it wrote"],
        ),
        (
            RunInterrupted(Path("runs/a/1"), terminated=True),
            143,
            [
                "error: terminated (SIGTERM)",
                "run runs/a/1 is marked terminated and keeps what it wrote",
            ],
        ),
        (errors.GateFailed(), 3, []),
    ],
)
def test_interrupts_and_gates(capsys, exc: BaseException, code: int, lines: list[str]) -> None:
    assert report(exc, capsys) == (code, "", "".join(f"{line}\n" for line in lines))


def test_a_shared_option_under_another_name_is_refused() -> None:
    def show(as_json: JsonOpt = False) -> None: ...

    with pytest.raises(TypeError, match="name the --json parameter json_"):
        command(show)


def test_debug_without_a_command_shows_the_help_as_no_arguments_do(cli) -> None:
    bare, debug = cli(), cli("--debug")
    assert bare.code == debug.code == 2
    assert "Usage: kerascli" in debug.out and debug.out == bare.out
