"""How a spec's YAML text becomes values: the scalar rules of PyYAML's YAML 1.1 (kept when
ruamel.yaml was weighed, see `kerascli.spec.source`), `1e-3` a float, and keys as text."""

from __future__ import annotations

import datetime

import pytest

from kerascli.spec import source, yaml_compose, yaml_limits, yaml_problems
from kerascli.spec.problems import SpecError
from kerascli.spec.source import load_value, parse_yaml


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1e-3", 0.001),  # YAML 1.2 and JSON; PyYAML alone reads the string '1e-3'
        ("1.5e3", 1500.0),
        ("yes", True),  # YAML 1.1 booleans, which YAML 1.2 (ruamel) reads as text
        ("off", False),
        ("010", 8),  # YAML 1.1 octal
        ("1:30", 90),  # YAML 1.1 sexagesimal
        ("0x1f", 31),
        ("1_000", 1000),
        ("2024-01-02", datetime.date(2024, 1, 2)),
        ("~", None),
    ],
)
def test_scalars_read_as_yaml_1_1_with_exponent_floats(text: str, value: object) -> None:
    assert load_value(text) == value
    assert type(load_value(text)) is type(value)  # plain Python types, not subclasses
    assert parse_yaml(f"a: {text}\n", env={}).data == {"a": value}


def test_equals_and_a_lone_merge_key_are_text() -> None:
    assert parse_yaml("a: =\nb: <<\n", env={}).data == {"a": "=", "b": "<<"}


def test_scalar_keys_are_text_and_other_keys_are_located() -> None:
    doc = parse_yaml("1: a\ntrue: b\n", env={})
    assert doc.data == {"1": "a", "True": "b"}
    with pytest.raises(SpecError) as info:
        parse_yaml("a:\n  [1, 2]: x\n  ~: y\n", "k.yaml", env={})
    assert [str(p) for p in info.value.problems] == [
        "k.yaml:2:3: a: mapping keys must be plain scalars",
        "k.yaml:3:3: a: mapping keys must be plain scalars",
    ]


def test_all_duplicates_are_reported_together() -> None:
    with pytest.raises(SpecError) as info:
        parse_yaml("a: 1\nb: 2\na: 3\nb: 4\n", "d.yaml", env={})
    assert [str(p) for p in info.value.problems] == [
        "d.yaml:3:1: a: duplicate key 'a' (first defined on line 1)",
        "d.yaml:4:1: b: duplicate key 'b' (first defined on line 2)",
    ]


def test_merged_keys_go_where_the_merge_is_written() -> None:
    doc = parse_yaml("b: &b {y: 2, x: 1}\nm:\n  z: 0\n  <<: *b\n  w: 3\n", env={})
    assert list(doc.data["m"]) == ["z", "y", "x", "w"]
    assert (doc.keys[("m", "y")].line, doc.keys[("m", "y")].column) == (1, 8)


def test_the_split_modules_are_what_source_exports() -> None:
    assert source.Mark is yaml_compose.Mark
    assert source.SpecLoader is yaml_limits.SpecLoader
    assert source.MAX_DEPTH == yaml_limits.MAX_DEPTH
    assert source.yaml_problem is yaml_problems.yaml_problem
