"""Hostile specs: alias bombs, deep nesting, huge or non-UTF-8 files, merge keys, escape codes and
odd plugin paths each give one located message and exit code 2, never a traceback, in bounded
time and memory.

The alias bomb runs in a child Python with its address space capped at 2 GB and a timeout, so
that a regression fails the test instead of eating the machine's memory.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kerascli.spec.models import is_plugin_ref
from kerascli.spec.problems import Problem, SpecError, cause_line, plain_text
from kerascli.spec.source import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_EXPANDED,
    MAX_FILE_BYTES,
    MAX_NODES,
    parse_yaml,
    read_yaml,
)
from tests.conftest import ROOT, Result, invoke

MODEL = """\
model:
  sequential:
    input: {shape: [4]}
    layers: [Dense: {units: 1}]
"""


def billion_laughs(levels: int = 9) -> str:
    """The classic bomb: ~400 bytes of YAML that expand to 10**levels strings (8+ GB at 9)."""
    lines = ["name: lol", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghijklmnop"
    for previous, name in zip(names, names[1:levels], strict=False):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 10) + "]")
    return "\n".join(lines) + "\n"


# Runs in a child Python: cap the address space, then run `code`.
CAPPED = """
import resource, sys
limit = 2 * 1024**3
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
"""


def capped(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run `code` in a child Python whose memory is capped at 2 GB, within `timeout` seconds."""
    try:
        return subprocess.run(
            [sys.executable, "-c", CAPPED + textwrap.dedent(code), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=ROOT,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout}s: the limits do not bound the time")


def write(tmp_path: Path, text: str | bytes, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def validate(path: Path, *args: str) -> Result:
    result = invoke("validate", path, *args)
    assert "Traceback" not in result.out + result.err
    return result


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(SpecError) as info:
        parse_yaml(text, "spec.yaml", env={})
    return info.value.problems


def only_problem(text: str) -> Problem:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


# --- alias bombs --------------------------------------------------------------------------


def test_billion_laughs_is_refused_by_validate_in_bounded_time_and_memory(tmp_path: Path) -> None:
    bomb = write(tmp_path, billion_laughs())
    assert bomb.stat().st_size < 500
    done = capped(
        """
        import runpy, sys
        sys.argv = ["kerascli", "validate", sys.argv[1]]
        runpy.run_module("kerascli", run_name="__main__", alter_sys=True)
        """,
        str(bomb),
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"{bomb}:6:35: aliases expand too far" in done.stderr
    assert f"more than {MAX_EXPANDED:,} values" in done.stderr
    assert "the limit on expanded nodes" in done.stderr


def test_billion_laughs_parse_yaml_stops_at_the_alias_that_expands_too_far() -> None:
    done = capped(
        """
        import json, sys
        from kerascli.spec.problems import SpecError
        from kerascli.spec.source import parse_yaml
        try:
            parse_yaml(sys.argv[1], "bomb.yaml")
        except SpecError as exc:
            print(json.dumps([p.to_dict() for p in exc.problems]))
        """,
        billion_laughs(),
    )
    assert done.returncode == 0, done.stderr
    [problem] = json.loads(done.stdout)
    assert (problem["file"], problem["line"], problem["column"]) == ("bomb.yaml", 6, 35)
    assert problem["message"].startswith("aliases expand too far")


def test_aliases_that_expand_within_the_limit_are_expanded() -> None:
    values = ",".join(["1"] * 99)
    doc = parse_yaml(f"a: &a [{values}]\nb: [*a, *a, *a]\n", env={})
    assert doc.data["b"] == [doc.data["a"]] * 3
    assert doc.values[("b", 2, 98)].line == 1  # a repeated value points where it is written


def test_an_alias_inside_the_value_it_names_is_a_located_error(tmp_path: Path) -> None:
    result = validate(write(tmp_path, "name: x\na: &a [1, *a]\n"))
    assert result.code == 2
    assert "spec.yaml:2:11: recursive alias: '*a' is inside the value anchored '&a'" in result.err

    problem = only_problem("m: &m {k: 1, self: *m}\n")
    assert (problem.line, problem.column) == (1, 20)
    assert problem.message.startswith("recursive alias: '*m'")


def test_too_many_aliases(tmp_path: Path) -> None:
    aliases = ",".join(["*v"] * (MAX_ALIASES + 1))
    result = validate(write(tmp_path, f"name: x\nv: &v 1\nall: [{aliases}]\n"))
    assert result.code == 2
    assert f"spec.yaml:3:{7 + 3 * MAX_ALIASES}: too many aliases" in result.err
    assert "the limit on aliases" in result.err


def test_too_many_nodes(tmp_path: Path) -> None:
    result = validate(write(tmp_path, "name: x\nall: [" + ",".join(["1"] * MAX_NODES) + "]\n"))
    assert result.code == 2
    assert f"more than {MAX_NODES:,} YAML nodes (the limit on nodes)" in result.err
    assert result.err.count("problem") == 1


def test_an_integer_of_too_many_digits_is_located(tmp_path: Path) -> None:
    result = validate(write(tmp_path, "name: x\nfit: {epochs: " + "1" * 5000 + "}\n" + MODEL))
    assert result.code == 2
    assert "spec.yaml:2:15: integer too long: more than 4,300 digits" in result.err


# --- nesting depth ------------------------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_DEPTH + 1, 600, 5000])
def test_deep_flow_nesting_is_a_located_error_not_a_recursion_error(
    tmp_path: Path, levels: int
) -> None:
    result = validate(write(tmp_path, "name: x\nn: " + "[" * levels + "]" * levels + "\n"))
    assert result.code == 2
    assert f"spec.yaml:2:{4 + MAX_DEPTH - 1}: nested too deep: more than {MAX_DEPTH}" in result.err
    assert "(the limit on nesting depth)" in result.err
    assert "RecursionError" not in result.err


def test_deep_block_nesting_is_a_located_error(tmp_path: Path) -> None:
    text = "name: x\n" + "".join("  " * i + f"k{i}:\n" for i in range(600))
    result = validate(write(tmp_path, text))
    assert result.code == 2
    assert f"spec.yaml:{MAX_DEPTH + 1}:" in result.err  # the line of the mapping one too deep
    assert "nested too deep" in result.err


def test_nesting_within_the_limit_is_read() -> None:
    depth = MAX_DEPTH - 1  # the top-level mapping is the first level
    data = parse_yaml("n: " + "[" * depth + "]" * depth + "\n", env={}).data
    for _ in range(depth - 1):
        data = data["n"] if isinstance(data, dict) else data[0]
    assert data == {"n": []} or data == [[]] or data == []


def test_aliases_count_for_the_depth_they_expand_to() -> None:
    nested = "[" * 60 + "]" * 60
    problem = only_problem(f"d: &d {nested}\ne: {'[' * 60}*d{']' * 60}\n")
    assert (problem.line, problem.column) == (2, 64)
    assert "with its aliases expanded (the limit on nesting depth)" in problem.message


def test_deep_nesting_in_a_set_override(tmp_path: Path) -> None:
    spec = write(tmp_path, "name: x\n" + MODEL)
    result = validate(spec, "--set", "fit.epochs=" + "[" * 1000 + "]" * 1000)
    assert result.code == 2
    assert "cannot read the value as YAML: nested too deep" in result.err
    result = validate(spec, "--set", "fit.epochs=&a [*a]")
    assert result.code == 2
    assert "cannot read the value as YAML: recursive alias" in result.err


# --- file size and extends ----------------------------------------------------------------


def test_a_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    line = "# " + "x" * 98 + "\n"
    big = write(tmp_path, "name: x\n" + line * (MAX_FILE_BYTES // len(line) + 1) + MODEL)
    result = validate(big)
    assert result.code == 2
    size = big.stat().st_size
    assert f"spec.yaml: file too large: {size:,} bytes, over the limit of " in result.err
    assert f"{MAX_FILE_BYTES:,} bytes (1 MiB) on the size of a spec" in result.err

    problem = only_problem("a: '" + "x" * MAX_FILE_BYTES + "'\n")
    assert problem.message.startswith("file too large")


def test_bases_extended_over_and_over_stop_at_the_limit_on_files(tmp_path: Path) -> None:
    for i in range(5):  # each level extends the next three times: 3**5 reads
        write(tmp_path, f"extends: [l{i + 1}.yaml, l{i + 1}.yaml, l{i + 1}.yaml]\n", f"l{i}.yaml")
    write(tmp_path, "name: x\n" + MODEL, "l5.yaml")
    result = validate(tmp_path / "l0.yaml")
    assert result.code == 2
    assert "too many base specs" in result.err
    assert "(the limit on 'extends')" in result.err
    assert result.err.count(".yaml:") == 1


# --- encoding -----------------------------------------------------------------------------


def test_a_byte_that_is_not_utf8_is_located_at_its_line_and_column(tmp_path: Path) -> None:
    # the column counts characters: 'é' (two bytes) is column 18, the bad byte 0xff column 19
    spec = write(tmp_path, b"name: x\n# caf\xc3\xa9\nfit: {epochs: 'ab\xc3\xa9\xff'}\n")
    result = validate(spec)
    assert result.code == 2
    assert "spec.yaml:3:19: not UTF-8: byte 0xff cannot be decoded" in result.err
    assert "codec" not in result.err

    latin1 = write(tmp_path, "name: café\n".encode("latin-1"), "latin1.yaml")
    with pytest.raises(SpecError) as info:
        read_yaml(latin1, env={})
    [problem] = info.value.problems
    assert (problem.line, problem.column) == (1, 10)
    assert problem.message.startswith("not UTF-8: byte 0xe9")


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    spec = write(tmp_path, b"\xef\xbb\xbfname: bom\n" + MODEL.encode())
    result = validate(spec)
    assert result.code == 0, result.err
    doc = read_yaml(spec, env={})
    assert "name" in doc.data
    assert (doc.keys[("name",)].line, doc.keys[("name",)].column) == (1, 1)


def test_a_control_character_is_located(tmp_path: Path) -> None:
    result = validate(write(tmp_path, "name: x\nfit: {epochs: '\x1b[1m3'}\n" + MODEL))
    assert result.code == 2
    assert "spec.yaml:2:16: invalid YAML: the control character U+001B" in result.err
    assert "\x1b" not in result.err


# --- merge keys ---------------------------------------------------------------------------

MERGED = """\
name: merged
model:
  sequential:
    input: {shape: [4]}
    layers:
      - Dense: &dense {units: 8, activation: relu}
      - Dense:
          <<: *dense
          units: 1
fit:
  <<: [{epochs: 5, batch_size: 4}, {batch_size: 8, epochs: 9}]
  epochs: 3
"""


def test_a_key_written_over_a_merged_key_is_not_a_duplicate(tmp_path: Path) -> None:
    result = validate(write(tmp_path, MERGED))
    assert result.code == 0, result.err
    doc = parse_yaml(MERGED, "m.yaml", env={})
    dense = ("model", "sequential", "layers", 1, "Dense")
    assert doc.data["model"]["sequential"]["layers"][1] == {
        "Dense": {"activation": "relu", "units": 1}
    }
    assert doc.data["fit"] == {"epochs": 3, "batch_size": 4}  # the first merged mapping wins
    assert (doc.keys[(*dense, "units")].line, doc.keys[(*dense, "units")].column) == (9, 11)
    assert (doc.values[(*dense, "units")].line, doc.values[(*dense, "units")].column) == (9, 18)
    assert doc.keys[(*dense, "activation")].line == 6  # merged: where it is written
    assert doc.keys[("fit", "epochs")].line == 12


def test_a_key_written_twice_beside_a_merge_is_still_a_duplicate() -> None:
    problem = only_problem("a: &a {x: 1}\nb:\n  <<: *a\n  x: 2\n  x: 3\n")
    assert str(problem) == "spec.yaml:5:3: b.x: duplicate key 'x' (first defined on line 4)"


def test_a_merge_of_something_else_than_a_mapping() -> None:
    problem = only_problem("a:\n  <<: 3\n  x: 1\n")
    assert (problem.line, problem.column) == (2, 7)
    assert problem.message.startswith("'<<' merges a mapping")


def test_an_error_in_an_overriding_value_points_at_it(tmp_path: Path) -> None:
    result = validate(write(tmp_path, MERGED.replace("  epochs: 3", "  epochs: three")))
    assert result.code == 2
    assert "spec.yaml:12:11: fit.epochs: Input should be a valid integer" in result.err


# --- terminal escape codes ----------------------------------------------------------------


def test_escape_codes_never_reach_a_problem_message() -> None:
    problem = Problem("\x1b[1m\x1b[31mInvalid\x1b[0m shape \x1b]8;;https://x\x07link\x1b]8;;\x07")
    assert problem.message == "Invalid shape link"
    assert "\x1b" not in str(SpecError([problem]))
    assert plain_text("bell\x07 and \rreturn") == "bell\\x07 and \\rreturn"
    assert plain_text("two\nlines\ttab") == "two\nlines\ttab"


def test_escape_codes_never_reach_a_one_line_cause() -> None:
    error = ValueError("\x1b[1mException encountered when calling Dense.call().\x1b[0m")
    assert cause_line(error) == "ValueError: Exception encountered when calling Dense.call()."
    error = ValueError("Graph execution error:\n\x1b[31mIncompatible shapes\x1b[0m\n")
    assert cause_line(error) == "ValueError: Graph execution error: Incompatible shapes"


# --- plugin references --------------------------------------------------------------------


@pytest.mark.parametrize(
    "ref, ok",
    [
        ("plugins/layers.py", True),
        ("my plugins/layers.py", True),
        ("layers.py", True),
        ("pkg.module", True),
        ("pkg", True),
        ("my plugin.txt", False),
        ("net.txt", False),
        ("plugins/net", False),
        ("pkg.module:Thing", False),
        ("pkg..module", False),
        ("", False),
    ],
)
def test_plugin_reference_forms(ref: str, ok: bool) -> None:
    assert is_plugin_ref(ref) is ok


def test_a_plugin_that_is_neither_a_py_file_nor_a_module_is_located(tmp_path: Path) -> None:
    result = validate(write(tmp_path, "name: x\nplugins: [my plugin.txt]\n" + MODEL))
    assert result.code == 2
    assert (
        "spec.yaml:2:11: plugins[0]: expected a Python file 'path/to/file.py' or a module name"
        " 'package.module' (got 'my plugin.txt')"
    ) in result.err


def test_a_subclass_class_that_is_not_a_py_file_or_module_is_located(tmp_path: Path) -> None:
    text = "name: x\nmodel:\n  subclass:\n    class: net.txt:Net\n    input: {shape: [4]}\n"
    result = validate(write(tmp_path, text))
    assert result.code == 2
    assert (
        "spec.yaml:4:12: model.subclass.class: expected 'path/to/file.py:ClassName' or"
        " 'package.module:ClassName' (got 'net.txt:Net')"
    ) in result.err
