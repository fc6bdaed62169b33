"""Streamed CSV/TSV and NPY tables (`kerascli.data.table_stream`): chunk by chunk they give
exactly what the in-memory reader gives for the whole file (rows, values, labels, class names,
sample weights), errors at the true file line in any chunk, globs of shards, and splits by the
hash of a row's position, of a key column, or of a shard's name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerascli.data.model_arrays import Split, read_split
from kerascli.data.sources import open_source
from kerascli.data.splits import load_data
from kerascli.data.stream import Stream
from kerascli.spec import SpecError, load_spec_dict
from kerascli.spec.datafile import data_header
from kerascli.spec.models import Spec
from tests.conftest import invoke

CLASSES = ["cat", "dog", "eel"]


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 64 rows: the files here span several."""
    monkeypatch.setattr("kerascli.data.stream.CHUNK_ROWS", 64)


def spec_of(folder: Path, data: dict[str, Any], features: int = 3, units: int = 3) -> Spec:
    """A one-input classifier reading `data` (paths relative to `folder`)."""
    model = {
        "sequential": {
            "input": {"shape": [features]},
            "layers": [{"Dense": {"units": units, "activation": "softmax"}}],
        }
    }
    spec = {
        "name": "stream-test",
        "seed": 5,
        "model": model,
        "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
        "data": data,
    }
    return load_spec_dict(spec, base_dir=folder, check=False)


def write_table(path: Path, rows: int, seed: int = 0, sep: str = ",", **cells: str) -> Path:
    """A table of `rows` rows: `a`, `b`, `c` numbers, `w` weights, `y` a class name, `id` a
    key; `cells` overrides cells as `"<row>_<column>": value` (rows from 0)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3)).round(4)
    y = rng.choice(CLASSES, size=rows)
    lines = [sep.join(["a", "b", "c", "w", "y", "id"])]
    for i in range(rows):
        row = [*(str(v) for v in x[i]), str(1 + i % 3), str(y[i]), f"k{i % 97}"]
        for j, column in enumerate(["a", "b", "c", "w", "y", "id"]):
            row[j] = cells.get(f"{i}_{column}", row[j])
        lines.append(sep.join(row))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def concatenated(stream: Stream) -> Split:
    """Every chunk of a stream as one split (x, y and w stacked)."""
    chunks = [chunk.split for chunk in stream.chunks()]
    assert chunks, "no chunk"

    def stack(parts: list[Any]) -> Any:
        if parts[0] is None:
            return None
        if isinstance(parts[0], dict):
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return np.concatenate(parts)

    x = stack([c.x for c in chunks])
    return Split(
        x, stack([c.y for c in chunks]), sum(c.rows for c in chunks), stack([c.w for c in chunks])
    )


def assert_same(a: Split, b: Split) -> None:
    assert a.rows == b.rows
    for got, want in ((a.x, b.x), (a.y, b.y), (a.w, b.w)):
        if want is None:
            assert got is None
            continue
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


def problem(caught: pytest.ExceptionInfo[SpecError]) -> tuple[str, str | None, int | None]:
    (found,) = caught.value.problems
    return found.message, found.file, found.line


@pytest.mark.parametrize("sep", [",", "\t"])
def test_a_stream_gives_what_the_whole_file_gives(tmp_path: Path, sep: str) -> None:
    name = "set.csv" if sep == "," else "set.tsv"
    path = write_table(tmp_path / name, 500, sep=sep)
    data = {"path": name, "features": ["a", "b", "c"], "target": "y", "sample_weight": "w"}
    spec = spec_of(tmp_path, {**data, "stream": True})
    classes: dict[str, list[str]] = {}
    stream = open_source(spec, str(path), classes)
    assert isinstance(stream, Stream)
    assert classes == {"": CLASSES}
    chunks = list(stream.chunks())
    assert len(chunks) == 8 and max(c.split.rows for c in chunks) == 64
    memory_classes: dict[str, list[str]] = {}
    whole = read_split(spec_of(tmp_path, data), str(path), memory_classes)
    assert memory_classes == classes
    assert_same(concatenated(stream), whole)
    assert whole.y is not None and stream.label_counts is not None
    np.testing.assert_array_equal(stream.label_counts[""], np.bincount(whole.y))
    assert_same(concatenated(stream), whole)  # each call starts over


def test_implied_features_and_integer_targets_match_the_whole_file(tmp_path: Path) -> None:
    text = "a,b,y\n" + "".join(f"{i * 0.5},{i % 7},{i % 3}\n" for i in range(300))
    (tmp_path / "set.csv").write_text(text)
    data = {"path": "set.csv", "target": "y"}
    stream = open_source(
        spec_of(tmp_path, {**data, "stream": True}, features=2), str(tmp_path / "set.csv"), {}
    )
    whole = read_split(spec_of(tmp_path, data, features=2), str(tmp_path / "set.csv"), {})
    streamed = concatenated(stream)
    assert streamed.y is not None and streamed.y.dtype == np.int64  # whole numbers: class ids
    assert_same(streamed, whole)
    assert stream.label_counts is not None
    assert stream.label_counts[""].tolist() == [100, 100, 100]


def test_a_fraction_in_a_later_chunk_makes_every_target_a_float(tmp_path: Path) -> None:
    text = "a,b,c,y\n" + "".join(f"1,2,3,{i}\n" for i in range(200)) + "1,2,3,0.5\n"
    (tmp_path / "set.csv").write_text(text)
    stream = open_source(
        spec_of(tmp_path, {"path": "set.csv", "target": "y", "stream": True}),
        str(tmp_path / "set.csv"),
        {},
    )
    dtypes = {chunk.split.y.dtype for chunk in stream.chunks() if chunk.split.y is not None}
    assert dtypes == {np.dtype(np.float32)}
    assert stream.label_counts is None


def test_quoted_cells_switch_to_the_careful_reader_with_true_lines(tmp_path: Path) -> None:
    path = write_table(tmp_path / "set.csv", 300)
    lines = path.read_text().splitlines()
    lines[150] = (
        lines[150]
        .replace(",cat,", ',"cat",')
        .replace(",dog,", ',"dog",')
        .replace(",eel,", ',"eel",')
    )
    lines.insert(200, "")  # a blank line: no row
    path.write_text("\n".join(lines) + "\n")
    data = {"path": "set.csv", "features": ["a", "b", "c"], "target": "y"}
    stream = open_source(spec_of(tmp_path, {**data, "stream": True}), str(path), {})
    assert_same(concatenated(stream), read_split(spec_of(tmp_path, data), str(path), {}))
    lines[250] = lines[250].replace(",k", ',"k').rstrip() + '"'
    lines[260] = (
        lines[260]
        .replace(",dog,", ",parrot,")
        .replace(",cat,", ",parrot,")
        .replace(",eel,", ",parrot,")
    )
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(SpecError) as caught:
        list(
            open_source(
                spec_of(tmp_path, {**data, "stream": True}),
                str(path),
                {"": CLASSES},
                fixed_classes=True,
            ).chunks()
        )
    assert problem(caught) == (
        "unknown class 'parrot' in column 'y' (classes: cat, dog, eel)",
        str(path),
        261,
    )


@pytest.mark.parametrize(
    ("cells", "message", "line"),
    [
        ({"200_b": "x1"}, "non-numeric value 'x1' in column 'b'", 202),
        ({"150_a": ""}, "empty value in column 'a'", 152),
        ({"300_c": "nan"}, "non-finite value 'nan' in column 'c'", 302),
        ({"230_w": "-1"}, "negative sample weight -1.0 in 'w' (weights are >= 0)", 232),
        ({"199_y": ""}, "empty value in class column 'y': a missing label, not a class", 201),
        ({"250_y": "2"}, "column 'y' mixes numbers ('2') with text ('", None),
    ],
)
def test_an_error_in_a_later_chunk_is_at_its_file_line(
    tmp_path: Path, cells: dict[str, str], message: str, line: int | None
) -> None:
    path = write_table(tmp_path / "set.csv", 400, **cells)
    data = {
        "path": "set.csv",
        "features": ["a", "b", "c"],
        "target": "y",
        "sample_weight": "w",
        "stream": True,
    }
    with pytest.raises(SpecError) as caught:
        list(open_source(spec_of(tmp_path, data), str(path), {}).chunks())
    got, file, at = problem(caught)
    assert got.startswith(message) and file == str(path)
    if line is not None:
        assert at == line
    with pytest.raises(SpecError) as whole:  # what the in-memory reader says
        read_split(
            spec_of(tmp_path, {k: v for k, v in data.items() if k != "stream"}), str(path), {}
        )
    assert problem(whole) == (got, file, at)


def test_mixed_numbers_and_text_across_chunks_are_refused(tmp_path: Path) -> None:
    text = "a,b,c,y\n" + "".join(f"1,2,3,{i % 2}\n" for i in range(100)) + "1,2,3,dog\n"
    (tmp_path / "set.csv").write_text(text)
    spec = spec_of(tmp_path, {"path": "set.csv", "target": "y", "stream": True})
    with pytest.raises(SpecError) as caught:
        open_source(spec, str(tmp_path / "set.csv"), {})
    assert problem(caught) == (
        "column 'y' mixes numbers ('0') with text ('dog'): a number column with a missing or "
        "non-numeric value? (class names must all be text)",
        str(tmp_path / "set.csv"),
        102,
    )


def test_a_target_typed_string_holds_class_names(tmp_path: Path) -> None:
    text = "a,b,c,y\n" + "".join(f"1,2,3,{10 + i % 3}\n" for i in range(100))
    (tmp_path / "set.csv").write_text(text)
    data = {"path": "set.csv", "target": "y", "stream": True, "columns": {"y": "string"}}
    classes: dict[str, list[str]] = {}
    stream = open_source(spec_of(tmp_path, data), str(tmp_path / "set.csv"), classes)
    assert classes == {"": ["10", "11", "12"]}
    assert concatenated(stream).y.tolist() == [i % 3 for i in range(100)]  # type: ignore[union-attr]


def test_a_column_typed_against_its_input_is_located(tmp_path: Path) -> None:
    path = write_table(tmp_path / "set.csv", 10)
    data = {"path": "set.csv", "features": ["a", "b", "c"], "target": "y", "stream": True}
    with pytest.raises(SpecError, match="column 'a' is typed string and feeds the input"):
        open_source(spec_of(tmp_path, {**data, "columns": {"a": "string"}}), str(path), {})
    (tmp_path / "set.csv").write_text("a,b,c,y\n1,2,3,cat\n1.5,2,3,dog\n")
    stream = open_source(spec_of(tmp_path, {**data, "columns": {"a": "int64"}}), str(path), {})
    with pytest.raises(SpecError) as caught:
        list(stream.chunks())
    assert problem(caught) == (
        "value '1.5' in column 'a' is not a whole number (int64)",
        str(path),
        3,
    )


def test_a_glob_reads_its_shards_in_order_and_refuses_another_header(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(3):
        write_table(shards / f"part-{i}.csv", 100, seed=i)
    data = {"path": "shards/*.csv", "features": ["a", "b", "c"], "target": "y"}
    stream = open_source(spec_of(tmp_path, data), str(shards / "*.csv"), {})
    streamed = concatenated(stream)
    implied = spec_of(tmp_path, {"path": "shards/*.csv", "target": "y"})
    assert data_header(implied) == ("part-0.csv", ["a", "b", "c", "w", "y", "id"])
    parts = [
        read_split(spec_of(tmp_path, data), str(shards / f"part-{i}.csv"), {}) for i in range(3)
    ]
    np.testing.assert_array_equal(streamed.x, np.concatenate([p.x for p in parts]))
    (shards / "part-1.csv").write_text("a,b,c,w,y\n1,2,3,1,cat\n")
    with pytest.raises(SpecError) as caught:
        list(open_source(spec_of(tmp_path, data), str(shards / "*.csv"), {}).chunks())
    assert problem(caught) == (
        f"columns differ from part-0.csv's (lacks id): every file of {shards / '*.csv'} needs "
        "the same columns, in the same order",
        str(shards / "part-1.csv"),
        1,
    )
    with pytest.raises(SpecError, match="no file matches this glob"):
        open_source(spec_of(tmp_path, data), str(tmp_path / "none" / "*.csv"), {})


def _parts(tmp_path: Path, split: dict[str, Any], source: str = "set.csv") -> dict[str, Split]:
    data = {"path": source, "features": ["a", "b", "c"], "target": "y", "split": split}
    loaded = load_data(spec_of(tmp_path, data))
    assert set(loaded.splits) == {"train", "validation", "test"}
    return {name: concatenated(s) for name, s in loaded.splits.items() if isinstance(s, Stream)}


def test_a_hash_split_is_deterministic_and_near_its_fractions(tmp_path: Path) -> None:
    write_table(tmp_path / "set.csv", 2000)
    (tmp_path / "glob").mkdir()
    write_table(tmp_path / "glob" / "set.csv", 2000)
    split = {"validation": 0.2, "test": 0.1}
    parts = _parts(tmp_path, split, "glob/*.csv")
    rows = {name: part.rows for name, part in parts.items()}
    assert sum(rows.values()) == 2000
    assert abs(rows["validation"] - 400) < 60 and abs(rows["test"] - 200) < 45
    again = _parts(tmp_path, split, "glob/*.csv")
    for name in parts:
        assert_same(again[name], parts[name])
    rows_x = {tuple(r) for p in parts.values() for r in p.x.tolist()}  # type: ignore[union-attr]
    assert len(rows_x) == 2000  # every row in exactly one part


def test_a_key_split_keeps_a_keys_rows_together(tmp_path: Path) -> None:
    write_table(tmp_path / "set.csv", 600)
    (tmp_path / "k").mkdir()
    split = {"validation": 0.3, "key": "id"}
    data = {"path": "k/*.csv", "features": ["a", "b", "c"], "target": "y", "split": split}
    write_table(tmp_path / "k" / "set.csv", 600)
    loaded = load_data(spec_of(tmp_path, data))
    keep = ("id",)
    ids = {}
    for name in ("train", "validation"):
        stream = open_source(
            spec_of(tmp_path, data),
            str(tmp_path / "k" / "*.csv"),
            dict(loaded.classes),
            require_target=False,
            part=name,
            keep=keep,
        )
        assert isinstance(stream, Stream)
        ids[name] = {str(v) for chunk in stream.chunks() for v in chunk.kept["id"]}
    assert ids["train"] and ids["validation"] and not ids["train"] & ids["validation"]
    assert len(ids["train"] | ids["validation"]) == 97


def test_by_file_splits_whole_shards(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(12):
        (shards / f"part-{i:02d}.csv").write_text(f"a,b,c,y\n{i},0,0,cat\n{i},1,1,dog\n")
    data = {"path": "shards/*.csv", "features": ["a", "b", "c"], "target": "y"}
    split = {"validation": 0.25, "test": 0.25, "by_file": True}
    loaded = load_data(spec_of(tmp_path, {**data, "split": split}))
    shards_of = {
        name: sorted({int(v) for v in concatenated(s).x[:, 0]})  # type: ignore[index, union-attr]
        for name, s in loaded.splits.items()
    }
    assert sorted(sum(shards_of.values(), [])) == list(range(12))
    assert all(shards_of.values())
    one = {"path": "shards/part-00.csv", "features": ["a", "b", "c"], "target": "y", "stream": True}
    with pytest.raises(SpecError, match="is one file"):
        load_data(spec_of(tmp_path, {**one, "split": split}))


def test_predict_streams_keep_columns_and_needs_no_target(tmp_path: Path) -> None:
    path = write_table(tmp_path / "set.csv", 130, **{"70_y": ""})  # a target predict ignores
    data = {"path": "set.csv", "features": ["a", "b", "c"], "target": "y", "stream": True}
    stream = open_source(
        spec_of(tmp_path, data), str(path), {}, require_target=False, keep=("id", "a")
    )
    chunks = list(stream.chunks())
    assert all(c.split.y is None and c.split.w is None for c in chunks)
    kept = np.concatenate([c.kept["id"] for c in chunks])
    assert kept[:3].tolist() == ["k0", "k1", "k2"] and len(kept) == 130
    assert (
        np.concatenate([c.kept["a"] for c in chunks])[0]
        == path.read_text().split("\n")[1].split(",")[0]
    )


def test_npy_streams_its_rows(tmp_path: Path) -> None:
    values = np.random.default_rng(1).normal(size=(300, 3)).astype(np.float64)
    np.save(tmp_path / "x.npy", values)
    spec = spec_of(tmp_path, {"path": "x.npy", "features": "x"})
    stream = open_source(spec, str(tmp_path / "x.npy"), {}, require_target=False, stream=True)
    assert isinstance(stream, Stream) and stream.rows == 300
    assert len(list(stream.chunks())) == 5
    np.testing.assert_array_equal(concatenated(stream).x, values.astype(np.float32))
    values[200, 1] = np.nan
    np.save(tmp_path / "x.npy", values)
    with pytest.raises(SpecError) as caught:
        list(
            open_source(
                spec, str(tmp_path / "x.npy"), {}, require_target=False, stream=True
            ).chunks()
        )
    assert (
        problem(caught)[0]
        == "non-finite value (NaN or infinity) in the array at row index 200 (counting from 0)"
    )


def test_header_only_and_missing_sources_are_clean_errors(tmp_path: Path) -> None:
    (tmp_path / "set.csv").write_text("a,b,c,y\n")
    data = {"path": "set.csv", "features": ["a", "b", "c"], "target": "y", "stream": True}
    with pytest.raises(SpecError) as caught:
        open_source(spec_of(tmp_path, data), str(tmp_path / "set.csv"), {})
    assert problem(caught) == (
        "no data rows: the file has a header row only",
        str(tmp_path / "set.csv"),
        None,
    )
    with pytest.raises(SpecError, match="data file not found"):
        open_source(spec_of(tmp_path, data), str(tmp_path / "gone.csv"), {})


def test_a_remote_path_that_cannot_be_read_is_a_clean_error(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: remote\nmodel:\n  sequential:\n    input: {shape: [3]}\n    layers: [{Dense: {units: 3}}]\n"
        "compile: {optimizer: adam, loss: sparse_categorical_crossentropy}\n"
        "data: {path: 'gs://kerascli-no-such-bucket/set.csv', features: [a, b, c], target: y}\n"
    )
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs", "--epochs", "1")
    assert result.code == 2, result.err
    assert "Traceback" not in result.err
    assert "gs://kerascli-no-such-bucket/set.csv: " in result.err
    with pytest.raises(SpecError, match="s3:// needs tensorflow-io"):
        open_source(
            spec_of(tmp_path, {"path": "s3://b/set.csv", "features": ["a"], "target": "y"}),
            "s3://b/set.csv",
            {},
        )


def _hostile(text: str, variant: str) -> bytes:
    lines = text.splitlines()
    if variant == "bom":
        return b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n"
    if variant == "crlf":
        return "\r\n".join(lines).encode() + b"\r\n"
    if variant == "lone_cr":
        lines[49] = lines[49] + "\r" + lines[49]
    if variant == "short_row":
        lines[269] = ",".join(lines[269].split(",")[:-1])
    data = ("\n".join(lines) + "\n").encode()
    if variant == "not_utf8":
        data = data.replace(lines[249].encode(), lines[249].encode() + b"\xff", 1)
    if variant == "nul":
        data = data.replace(lines[259].encode(), lines[259].encode() + b"\0", 1)
    return data


@pytest.mark.parametrize("block", [1 << 23, 97, 7])
@pytest.mark.parametrize("variant", ["bom", "crlf", "lone_cr", "short_row", "not_utf8", "nul"])
def test_a_hostile_file_gives_the_whole_files_error_in_any_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variant: str, block: int
) -> None:
    from kerascli.data import csv_table

    monkeypatch.setattr(csv_table, "BLOCK_BYTES", block)
    text = write_table(tmp_path / "set.csv", 400, **{"320_b": "x1"}).read_text()
    path = tmp_path / "set.csv"
    path.write_bytes(_hostile(text, variant))
    data = {"path": "set.csv", "features": ["a", "b", "c"], "target": "y"}
    with pytest.raises(SpecError) as whole:
        read_split(spec_of(tmp_path, data), str(path), {})
    with pytest.raises(SpecError) as streamed:
        list(open_source(spec_of(tmp_path, {**data, "stream": True}), str(path), {}).chunks())
    assert problem(streamed) == problem(whole)


@pytest.mark.parametrize("block", [97, 7])
def test_small_blocks_read_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    from kerascli.data import csv_table

    monkeypatch.setattr(csv_table, "BLOCK_BYTES", block)
    path = write_table(tmp_path / "set.csv", 300)
    data = {"path": "set.csv", "features": ["a", "b", "c"], "target": "y", "sample_weight": "w"}
    stream = open_source(spec_of(tmp_path, {**data, "stream": True}), str(path), {})
    assert_same(concatenated(stream), read_split(spec_of(tmp_path, data), str(path), {}))


def test_a_path_with_a_scheme_is_read_through_tensorflows_file_systems(tmp_path: Path) -> None:
    """`file://` stands for `gs://`: the same reader, through `tf.io.gfile`."""
    path = write_table(tmp_path / "set.csv", 300)
    lines = path.read_text().splitlines()
    lines[200] = lines[200].replace(",k", ',"k').rstrip() + '"'  # quotes: records from there on
    path.write_text("\n".join(lines) + "\n")
    data = {"features": ["a", "b", "c"], "target": "y", "sample_weight": "w"}
    local = read_split(spec_of(tmp_path, {"path": "set.csv", **data}), str(path), {})
    remote = f"file://{tmp_path}/*.csv"
    stream = open_source(spec_of(tmp_path, {"path": remote, **data}), remote, {})
    assert_same(concatenated(stream), local)
    values = np.arange(600, dtype=np.float32).reshape(200, 3)
    np.save(tmp_path / "x.npy", values)
    spec = spec_of(tmp_path, {"path": f"file://{tmp_path}/x.npy", "features": "x"})
    npy = open_source(spec, f"file://{tmp_path}/x.npy", {}, require_target=False, stream=True)
    assert isinstance(npy, Stream) and npy.rows == 200
    np.testing.assert_array_equal(concatenated(npy).x, values)


def test_a_quoted_header_streams_as_it_reads_in_memory(tmp_path: Path) -> None:
    """R's `write.csv` quotes the header: the stream reads it as the file in memory is read."""
    path = write_table(tmp_path / "set.csv", 300)
    lines = path.read_text().splitlines()
    header = ",".join(f'"{name}"' for name in lines[0].split(","))
    path.write_text("\n".join([header, *lines[1:]]) + "\n")
    data = {"path": "set.csv", "features": ["a", "b", "c"], "target": "y"}
    whole = read_split(spec_of(tmp_path, data), str(path), {})
    streamed = open_source(spec_of(tmp_path, {**data, "stream": True}), str(path), {})
    assert isinstance(streamed, Stream)
    assert_same(concatenated(streamed), whole)


def test_by_file_finds_the_classes_of_every_file(tmp_path: Path) -> None:
    """Split by file, a class held only by files outside the training part is still a class
    (its rows are validated, not refused as unknown), and the counts are the part's."""
    shards = tmp_path / "shards"
    shards.mkdir()
    for i in range(12):
        label = "owl" if i == 11 else "cat"
        (shards / f"part-{i:02d}.csv").write_text(f"a,b,c,y\n{i},0,0,{label}\n{i},1,1,dog\n")
    data = {"path": "shards/*.csv", "features": ["a", "b", "c"], "target": "y"}
    split = {"validation": 0.25, "test": 0.25, "by_file": True}
    loaded = load_data(spec_of(tmp_path, {**data, "split": split}))
    assert loaded.classes[""] == ["cat", "dog", "owl"]
    rows = {name: concatenated(s).rows for name, s in loaded.splits.items()}  # type: ignore[arg-type]
    assert sum(rows.values()) == 24
    train = loaded.splits["train"]
    assert isinstance(train, Stream) and train.label_counts is not None
    assert int(train.label_counts[""].sum()) == rows["train"]


def test_lone_cr_line_ends_stream_as_they_read_in_memory(tmp_path: Path) -> None:
    path = write_table(tmp_path / "set.csv", 200)
    path.write_bytes(path.read_bytes().replace(b"\n", b"\r"))
    data = {"path": "set.csv", "features": ["a", "b", "c"], "target": "y"}
    whole = read_split(spec_of(tmp_path, data), str(path), {})
    streamed = open_source(spec_of(tmp_path, {**data, "stream": True}), str(path), {})
    assert isinstance(streamed, Stream)
    assert_same(concatenated(streamed), whole)
