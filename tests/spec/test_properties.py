"""Properties that hold for any input: key paths, typed `--set` values, env defaults."""

from __future__ import annotations

import string
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from kerascli.spec import load_spec
from kerascli.spec.layering import parse_key_path
from kerascli.spec.problems import format_path
from tests.conftest import SPECS

IRIS = SPECS / "iris_mlp.yaml"
names = st.text(string.ascii_letters + "_", min_size=1, max_size=8)
key_paths = st.tuples(names).flatmap(
    lambda head: st.lists(st.one_of(names, st.integers(0, 99)), max_size=6).map(
        lambda rest: (*head, *rest)
    )
)


@given(key_paths)
def test_key_paths_round_trip(path: tuple[str | int, ...]) -> None:
    assert parse_key_path(format_path(path)) == path


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    epochs=st.integers(1, 10**6),
    rate=st.floats(1e-12, 10.0, allow_nan=False),
    shuffle=st.booleans(),
)
def test_set_values_are_typed_as_written(
    seed: int, epochs: int, rate: float, shuffle: bool
) -> None:
    spec = load_spec(
        IRIS,
        [
            f"seed={seed}",
            f"fit.epochs={epochs}",
            f"compile.optimizer.Adam.learning_rate={rate!r}",  # 1e-05 style too (YAML 1.2)
            f"data.shuffle={str(shuffle).lower()}",
        ],
        check=False,
    )
    assert (spec.seed, spec.fit.epochs) == (seed, epochs)
    assert spec.compile.optimizer == {"Adam": {"learning_rate": rate}}
    assert spec.data is not None and spec.data.shuffle is shuffle


@settings(max_examples=40, deadline=None)
@given(default=st.integers(1, 10**6), empty=st.booleans())
def test_env_defaults_apply_when_unset_or_empty(default: int, empty: bool) -> None:
    text = IRIS.read_text().replace("fit: {epochs: 60", f'fit: {{epochs: "${{E:-{default}}}"', 1)
    assert "${E:-" in text
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.yaml"
        path.write_text(text)
        spec = load_spec(path, env={"E": ""} if empty else {}, check=False)
    assert spec.fit.epochs == default
