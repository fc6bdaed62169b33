"""Paths for the run tests (the `cli` fixture lives in `tests/conftest.py`)."""

from tests.conftest import ROOT, SPECS

__all__ = ["ROOT", "SPECS"]
