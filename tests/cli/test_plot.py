"""`kerascli plot`: a picture of a spec's or a run's model; the .dot source without graphviz;
a one-line message naming what to install when pydot or graphviz's `dot` is missing."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kerascli.run.model_plot import GRAPHVIZ_MISSING, PYDOT_MISSING, check_plot_tools
from kerascli.spec.problems import KerasCliError
from tests.conftest import SPECS, Result

CANCER = SPECS / "cancer_two_heads.yaml"
NO_DOT = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz's dot is not installed")


@pytest.fixture
def no_graphviz(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PATH on which graphviz's `dot` is not found (an empty folder)."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert shutil.which("dot") is None


@NO_DOT
def test_png_of_a_spec(cli: Callable[..., Result], tmp_path: Path) -> None:
    out = tmp_path / "model.png"
    result = cli("plot", CANCER, "-o", out, "--rankdir", "LR", "--dpi", "60")
    assert result.code == 0, result.err
    assert out.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@NO_DOT
@pytest.mark.slow  # (the shared iris run trains once per session)
def test_svg_of_a_run_names_its_layers(
    cli: Callable[..., Result], iris_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "model.svg"
    result = cli("plot", iris_run, "-o", out, "--show-dtype", "--json")
    assert result.code == 0, result.err
    assert result.json() == {"ok": True, "target": str(iris_run), "output": str(out)}
    svg = out.read_text()
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    from kerascli.run.saved_run import load_run

    layers = [layer.name for layer in load_run(iris_run).model.layers]  # numbered per process
    for name in [*layers, "float32"]:
        assert name in svg, name


def test_dot_source_needs_no_graphviz(
    cli: Callable[..., Result], tmp_path: Path, no_graphviz: None
) -> None:
    import pydot

    out = tmp_path / "model.dot"
    result = cli("plot", CANCER, "-o", out, "--no-show-shapes")
    assert result.code == 0, result.err
    (graph,) = pydot.graph_from_dot_data(out.read_text())
    labels = " ".join(str(node.get_label()) for node in graph.get_nodes())
    for layer in ("mean_norm", "encoder", "merged", "diagnosis", "radius_error"):
        assert layer in labels, layer
    assert "Output shape" not in labels


def test_missing_graphviz_says_what_to_install(
    cli: Callable[..., Result], tmp_path: Path, no_graphviz: None
) -> None:
    out = tmp_path / "model.png"
    result = cli("plot", CANCER, "-o", out)
    assert result.code == 1
    assert "apt install graphviz" in result.err and "brew install graphviz" in result.err
    assert GRAPHVIZ_MISSING.splitlines() == [GRAPHVIZ_MISSING]  # one line
    assert not out.exists()


def test_missing_pydot_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pydot", None)  # `import pydot` fails, as when absent
    with pytest.raises(KerasCliError, match=r"pip install 'kerascli\[plot\]'"):
        check_plot_tools("dot")
    assert str(KerasCliError(PYDOT_MISSING)) == PYDOT_MISSING


def test_bad_extension_and_existing_file(cli: Callable[..., Result], tmp_path: Path) -> None:
    result = cli("plot", CANCER, "-o", tmp_path / "model.gif")
    assert result.code == 2 and "expected a file ending in .png" in result.err
    existing = tmp_path / "model.dot"
    existing.write_text("keep me")
    result = cli("plot", CANCER, "-o", existing)
    assert result.code == 2 and "--force" in result.err
    assert existing.read_text() == "keep me"
    assert cli("plot", CANCER, "-o", existing, "--force").code == 0
    assert existing.read_text().startswith("digraph")


def test_an_output_that_is_a_directory_is_refused(
    cli: Callable[..., Result], tmp_path: Path
) -> None:
    folder = tmp_path / "model.png"
    folder.mkdir()
    result = cli("plot", CANCER, "-o", folder, "--force")
    assert result.code == 2, result.err
    assert "is a directory" in result.err and folder.is_dir()
