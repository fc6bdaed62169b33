"""numpy's fast CSV reader gives what the careful per-cell reader gives: the same arrays, the
same class names, the same cells, and the same located error (the careful reader's own) for
every file it does not take."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerascli.data.csv_table import read_csv
from kerascli.data.read import cast, class_names, is_numeric, labels, numeric, read_table, text
from kerascli.data.table import Table
from kerascli.spec import SpecError
from tests.conftest import SPECS

SHIPPED = sorted((SPECS / "data").glob("*.csv"))


def _careful(path: Path, kind: str = "csv") -> Table:
    return Table(str(path), kind, csv=read_csv(path, kind, fast=False))


def _names(table: Table) -> list[str]:
    assert table.csv is not None
    return table.csv.names


def _all_cells(table: Table) -> dict[str, list[str]]:
    """Every column's cells as written, read in one pass (parsed columns read again)."""
    assert table.csv is not None
    table.csv.read_cells(table.csv.names)
    return {name: table.csv.cells(name) for name in table.csv.names}


def _outcome(read: Callable[[], Any]) -> tuple[Any, ...]:
    """What `read` gives: an array (dtype, shape, bytes), a value, or the located problems."""
    try:
        value = read()
    except SpecError as exc:
        return ("error", [(p.message, p.file, p.line) for p in exc.problems])
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    return ("value", value)


def _same_reading(path: Path, kind: str = "csv") -> Table:
    """Assert that every reader gives the same from the fast and the careful reader, column by
    column and for the number columns together; the fast table."""
    fast, careful = read_table(path, kind), _careful(path, kind)
    assert _names(fast) == _names(careful)
    assert list(fast.lines) == list(careful.lines)
    for name in _names(fast):
        for reader in (is_numeric, class_names, numeric, text):
            got = _outcome(partial(reader, fast, name))
            assert got == _outcome(partial(reader, careful, name)), (reader, name)
        found = class_names(careful, name)
        for fixed in (False, True):
            classes = found or ["0", "1"]
            got = _outcome(partial(labels, fast, name, classes, fixed))
            assert got == _outcome(partial(labels, careful, name, classes, fixed)), name
        assert fast.csv is not None and careful.csv is not None
        assert fast.csv.cells(name) == careful.csv.cells(name)
    numbers = [name for name in _names(fast) if is_numeric(careful, name)]
    for names in (_names(fast), numbers, numbers[::-1], numbers[1:]):
        if names:
            got = _outcome(partial(numeric, fast, names))
            assert got == _outcome(partial(numeric, careful, names)), names
            got = _outcome(partial(text, fast, names))
            assert got == _outcome(partial(text, careful, names)), names
    return fast


@pytest.mark.parametrize("path", SHIPPED, ids=[path.name for path in SHIPPED])
def test_shipped_csv_files_read_the_same_and_fast(path: Path) -> None:
    table = _same_reading(path)
    assert table.csv is not None and table.csv.numbers is not None  # numpy read it
    assert _all_cells(table) == _all_cells(_careful(path))


def test_every_plain_number_form_parses_as_float_does(tmp_path: Path) -> None:
    forms = ["1", "+.5", "-5.", "1E+05", "1.e5", "0001", "1e-400", "-0", " 7 ", "2.5e-3 "]
    forms += ["179769313486231570000000000000000000000000000000000000000000000000000000000000000"]
    forms += ["0.1000000000000000055511151231257827", "4.9406564584124654e-324"]
    body = "".join(f"{form},{j}\n" for j, form in enumerate(forms))
    path = tmp_path / "forms.csv"
    path.write_text("a,b\n" + body, encoding="utf-8")
    table = _same_reading(path)
    assert table.csv is not None and table.csv.parsed("a")
    assert numeric(table, "a").tolist() == [float(form) for form in forms]


@pytest.mark.parametrize(
    "layout",
    ["crlf", "bom", "blank lines", "quoted", "tsv", "non-ascii label", "spaces", "one column"],
)
def test_file_layouts_read_the_same(tmp_path: Path, layout: str) -> None:
    rows = ["a,b,label", "1,2.5,x", "3,-4e2,y", "5,6,x"]
    kind = "tsv" if layout == "tsv" else "csv"
    if layout == "tsv":
        rows = [row.replace(",", "\t") for row in rows]
    if layout == "quoted":
        rows[2] = '3,-4e2,"y, quoted"'
    if layout == "non-ascii label":
        rows[2] = "3,-4e2,sétosa"
    if layout == "spaces":
        rows = [" " + row.replace(",", " , ") + " " for row in rows]
    if layout == "one column":
        rows = [row.split(",")[1] for row in rows]
    ending = "\r\n" if layout == "crlf" else "\n"
    body = ending.join(rows) + ending
    if layout == "blank lines":
        body = body.replace("1,2.5,x\n", "1,2.5,x\n\n\n") + "\n\n"
    if layout == "bom":
        body = "\ufeff" + body
    path = tmp_path / f"set.{kind}"
    path.write_text(body, encoding="utf-8", newline="")
    _same_reading(path, kind)


ROWS = 150_000


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A 150k-row numeric CSV with a label column, as lines (header first, no line end)."""
    rng = np.random.default_rng(3)
    values = rng.normal(size=(ROWS, 3))
    kinds = np.array(["cat", "dog"])[rng.integers(0, 2, ROWS)]
    lines = ["a,b,c,label"]
    lines += [f"{x:.6g},{y:.6g},{z:.6g},{k}" for (x, y, z), k in zip(values, kinds, strict=True)]
    return tmp_path_factory.mktemp("big") / "big.csv", lines


@pytest.mark.parametrize(
    ("cell", "message"),
    [
        ("1_065", "non-numeric value '1_065' in column 'b'"),
        ("nan", "non-finite value 'nan' in column 'b'"),
        ("1e999", "non-finite value '1e999' in column 'b' (beyond float range)"),
        ("١٢", "non-numeric value '١٢' in column 'b'"),
    ],
)
def test_a_bad_cell_deep_in_a_big_file_is_located(
    big_csv: tuple[Path, list[str]], cell: str, message: str
) -> None:
    path, lines = big_csv
    row = 140_000  # a data row, from 1: on line row + 1, + 2 blank lines before it
    cells = lines[row].split(",")
    cells[1] = cell
    changed = [*lines[:5], "", "", *lines[5:row], ",".join(cells), *lines[row + 1 :]]
    path.write_text("\n".join(changed) + "\n", encoding="utf-8")
    table = read_table(path)
    with pytest.raises(SpecError) as caught:
        numeric(table, ["a", "b", "c"])
    ((problem),) = caught.value.problems
    assert (problem.message, problem.file, problem.line) == (message, str(path), row + 3)


def test_a_value_beyond_float32_deep_in_a_big_file_is_located(
    big_csv: tuple[Path, list[str]],
) -> None:
    path, lines = big_csv
    row = 149_000
    cells = lines[row].split(",")
    cells[2] = "-3.5E+39"  # a float64, no float32: as written in the error
    changed = [*lines[:2], "", *lines[2:row], ",".join(cells), *lines[row + 1 :]]
    path.write_text("\n".join(changed), encoding="utf-8")  # no line end at the end
    table = read_table(path)
    assert table.csv is not None and table.csv.numbers is not None  # numpy read it
    values = numeric(table, ["a", "b", "c"])
    with pytest.raises(SpecError) as caught:
        cast(table, ["a", "b", "c"], values, np.float32)
    ((problem),) = caught.value.problems
    message = "value '-3.5E+39' in column 'c' is out of range for float32"
    assert (problem.message, problem.line) == (message, row + 2)
    classes = class_names(table, "label")
    assert classes == ["cat", "dog"]
    expected = [classes.index(line.rsplit(",", 1)[1]) for line in lines[1:]]
    assert labels(table, "label", classes).tolist() == expected


# A property: for any small table of cells drawn from numbers, near-numbers, missing values
# and text, in any layout, both readers agree on every reader's outcome.
CELLS = [
    *["0", "1", "-2", "3.25", "+.5", "-5.", "1e3", "2E-2", " 4 ", "007", "1e39", "-1e-50"],
    *["", " ", "nan", "-inf", "Infinity", "1e999", "1_0", "0x1", "1.2.3", "1e", "e5", ".", "+"],
    *["NA", "?", "setosa", "a b", "#1", "x#", "١", "é", "\ufeffz"],
]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    columns=st.integers(1, 4),
    cells=st.lists(st.sampled_from(CELLS), min_size=1, max_size=24),
    header=st.sampled_from([["a", "b", "c", "d"], ["a", "b", "a", "d"], [" a", "b ", "é", "#"]]),
    ending=st.sampled_from(["\n", "\r\n"]),
    blank_after=st.sets(st.integers(0, 6), max_size=2),
    kind=st.sampled_from(["csv", "tsv"]),
)
def test_any_small_table_reads_the_same(
    tmp_path: Path,
    columns: int,
    cells: list[str],
    header: list[str],
    ending: str,
    blank_after: set[int],
    kind: str,
) -> None:
    delimiter = "\t" if kind == "tsv" else ","
    rows = [cells[i : i + columns] for i in range(0, len(cells), columns)]
    lines = [delimiter.join(header[:columns])]
    for i, row in enumerate(rows):
        lines.append(delimiter.join(row + [""] * (columns - len(row))))
        if i in blank_after:
            lines.append("")
    path = tmp_path / f"any.{kind}"
    path.write_text(ending.join(lines) + ending, encoding="utf-8", newline="")
    fast = _outcome(lambda: _names(read_table(path, kind)))
    assert fast == _outcome(lambda: _names(_careful(path, kind)))
    if fast[0] == "value":
        _same_reading(path, kind)
