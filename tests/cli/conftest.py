"""Helpers for the CLI tests: specs written into a folder, and runs trained once per module.

The `cli` fixture and `invoke` come from `tests/conftest.py`.
"""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT, SPECS, Result, invoke

IRIS = SPECS / "iris_mlp.yaml"
IRIS_CSV = SPECS / "data" / "iris.csv"
BOOM = ROOT / "tests" / "run" / "fixtures" / "boom.py"

__all__ = ["BOOM", "IRIS", "IRIS_CSV", "ROOT", "SPECS", "Result", "invoke", "write"]


def write(folder: Path, name: str, text: str) -> Path:
    """Write dedented `text` to `folder/name` (making subfolders) and return the path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.fixture
def iris_copy(tmp_path: Path) -> Path:
    """A folder holding a copy of the iris data, for specs that name `iris.csv` beside them."""
    shutil.copy(IRIS_CSV, tmp_path / "iris.csv")
    return tmp_path
