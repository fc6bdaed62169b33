"""`data.missing`: an empty cell is an error at its row (the default, messages unchanged),
drops its row (inputs, targets, weights and kept columns staying aligned), or is filled; the
same for a file read into memory and for a stream (`read.apply_missing`, one place)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerascli.data.model_arrays import read_split, split_of_table
from kerascli.data.read import apply_missing, read_table
from kerascli.data.sources import open_source
from kerascli.data.stream import Stream
from kerascli.spec import SpecError
from tests.data.test_table_stream import assert_same, concatenated, problem, spec_of

TEXT = "a,b,c,w,y,note\n1,2,3,1,cat,\n,5,6,1,dog,x\n7,8,9,,eel,x\n10,11,12,2,,x\n13,14,15,1,cat,\n"
DATA = {"path": "set.csv", "features": ["a", "b", "c"], "target": "y", "sample_weight": "w"}


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kerascli.data.stream.CHUNK_ROWS", 2)


def _both(tmp_path: Path, missing: Any, require_target: bool = True) -> tuple[Any, Any]:
    """The file read into memory and streamed, with `missing`."""
    (tmp_path / "set.csv").write_text(TEXT)
    path = str(tmp_path / "set.csv")
    data = {**DATA, "missing": missing}
    whole = read_split(spec_of(tmp_path, data), path, {}, require_target=require_target)
    stream = open_source(spec_of(tmp_path, {**data, "stream": True}), path, {}, require_target)
    return whole, stream


def test_an_empty_cell_is_an_error_at_its_row_by_default(tmp_path: Path) -> None:
    (tmp_path / "set.csv").write_text("a,b,c,w,y\n1,2,3,1,cat\n,5,6,1,dog\n")
    path = str(tmp_path / "set.csv")
    for data in (DATA, {**DATA, "stream": True}):
        with pytest.raises(SpecError) as caught:
            source = open_source(spec_of(tmp_path, data), path, {})
            if isinstance(source, Stream):
                list(source.chunks())
        assert problem(caught) == ("empty value in column 'a'", path, 3)


def test_drop_keeps_inputs_targets_and_weights_aligned(tmp_path: Path) -> None:
    whole, stream = _both(tmp_path, "drop")
    assert whole.rows == 2  # rows 2, 3 and 4 have an empty used cell; `note` is not used
    assert whole.x.tolist() == [[1, 2, 3], [13, 14, 15]]
    assert whole.y.tolist() == [0, 0] and whole.w.tolist() == [1, 1]
    assert_same(concatenated(stream), whole)


def test_predict_drops_rows_by_the_inputs_only_and_keeps_columns_aligned(tmp_path: Path) -> None:
    whole, stream = _both(tmp_path, "drop", require_target=False)
    assert whole.rows == 4  # only row 2 lacks an input
    assert_same(concatenated(stream), whole)
    chunks = list(stream.chunks())
    (tmp_path / "set.csv").write_text(TEXT)
    kept = open_source(
        spec_of(tmp_path, {**DATA, "missing": "drop", "stream": True}),
        str(tmp_path / "set.csv"),
        {},
        require_target=False,
        keep=["y"],
    )
    labels = [str(v) for chunk in kept.chunks() for v in chunk.kept["y"]]  # type: ignore[union-attr]
    assert labels == ["cat", "eel", "", "cat"] and len(chunks) == 3


def test_a_number_fills_every_used_column_and_a_mapping_some(tmp_path: Path) -> None:
    whole, stream = _both(tmp_path, {"a": 0, "w": 0.5, "y": "cat"})
    assert whole.x[:2].tolist() == [[1, 2, 3], [0, 5, 6]]
    assert whole.w.tolist() == [1, 1, 0.5, 2, 1] and whole.y.tolist() == [0, 1, 2, 0, 0]
    assert_same(concatenated(stream), whole)
    (tmp_path / "set.csv").write_text(TEXT)
    with pytest.raises(SpecError) as caught:  # `y` is not filled: its empty cell is an error
        read_split(
            spec_of(tmp_path, {**DATA, "missing": {"a": 0, "w": 1}}), str(tmp_path / "set.csv"), {}
        )
    assert problem(caught)[0] == "empty value in class column 'y': a missing label, not a class"
    with pytest.raises(SpecError, match="column 'y' mixes numbers"):  # 0 is no class name
        _both(tmp_path, 0)


def test_dropping_every_row_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "set.csv").write_text("a,b,c,y\n,1,2,cat\n3,,4,dog\n")
    data = {"path": "set.csv", "features": ["a", "b", "c"], "target": "y", "missing": "drop"}
    with pytest.raises(SpecError, match="no row left"):
        read_split(spec_of(tmp_path, data), str(tmp_path / "set.csv"), {})
    with pytest.raises(SpecError, match="no row left"):
        list(
            open_source(
                spec_of(tmp_path, {**data, "stream": True}), str(tmp_path / "set.csv"), {}
            ).chunks()
        )


def test_apply_missing_on_a_whole_table_is_what_split_of_table_reads(tmp_path: Path) -> None:
    (tmp_path / "set.csv").write_text(TEXT)
    table = read_table(tmp_path / "set.csv")
    dropped = apply_missing(table, "drop", ["a", "b", "c", "y", "w"])
    assert list(dropped.lines) == [2, 6]
    split = split_of_table(spec_of(tmp_path, DATA), dropped, {})
    assert split.rows == 2 and np.array_equal(split.w, [1, 1])  # type: ignore[arg-type]
    assert apply_missing(table, "error", ["a"]) is table
