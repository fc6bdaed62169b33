"""Streaming predict and evaluate: the input a chunk at a time, the predictions written as they
come, the same answers as the whole input in memory, no file left by a failure, bounded memory.

The multi-chunk tests read the file with the real reader (`open_source`, chunks of
`stream.CHUNK_ROWS` rows, set small here) and also through `chunked`: the file's rows as a
`Stream` of chunks whose size is no multiple of the batch size.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kerascli.data import read_split
from kerascli.data.model_arrays import Split
from kerascli.data.sources import open_source
from kerascli.data.stream import Chunk, Stream
from kerascli.run import inference, predict_progress
from kerascli.run.inference import evaluate, predict
from kerascli.run.predict_batches import predict_batch_size
from kerascli.run.predict_progress import PLAIN_EVERY, RowsProgress
from kerascli.run.prediction_files import json_lines, prediction_file, table_rows, table_text
from kerascli.run.saved_run import LoadedRun, load_run
from kerascli.spec.problems import DataError, KerasCliError
from tests.conftest import ROOT

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SPECIES = ["setosa", "versicolor", "virginica"]
ROWS = 2_503


def iris_rows(path: Path, rows: int, seed: int = 0, bad_row: int | None = None) -> Path:
    """A CSV of `rows` generated flowers: an `id`, the four measurements and a species; the
    measurement of row `bad_row` (0-based) is `abc`."""
    rng = np.random.default_rng(seed)
    x = rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(rows, 4))
    species = np.array(SPECIES)[rng.integers(0, 3, rows)]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", *FEATURES, "species"])
        for i in range(rows):
            cells = [f"{v:.1f}" for v in x[i]]
            if i == bad_row:
                cells[1] = "abc"
            writer.writerow([f"r{i}", *cells, species[i]])
    return path


@pytest.fixture(scope="module")
def run(iris_run: Path) -> LoadedRun:
    return load_run(iris_run)


@pytest.fixture(scope="module")
def flowers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return iris_rows(tmp_path_factory.mktemp("flowers") / "flowers.csv", ROWS)


@pytest.fixture(scope="module")
def expected(run: LoadedRun, flowers: Path) -> np.ndarray:
    """The model's outputs on the whole file in memory, as Keras predicts them in batches of
    the size `predict` takes when none is given."""
    split = read_split(run.spec, str(flowers), {}, require_target=False)
    size = predict_batch_size(run.spec.fit.batch_size, split.x)
    return run.model.predict(split.x, batch_size=size, verbose=0)


def chunked(split: Split, rows: int, kept: dict[str, np.ndarray], fail_at: int = -1) -> Stream:
    """`split` as a stream of `rows`-row chunks; the chunk holding row `fail_at` raises the
    located error a reader raises for a bad cell there."""

    def chunks() -> Iterator[Chunk]:
        for start in range(0, split.rows, rows):
            if start <= fail_at < start + rows:
                raise DataError("non-numeric value 'abc'", "flowers.csv", fail_at + 2)
            part = slice(start, min(start + rows, split.rows))
            y = None if split.y is None else split.y[part]  # type: ignore[index]
            x = split.x[part]  # type: ignore[index]
            yield Chunk(Split(x, y, len(x)), {k: v[part] for k, v in kept.items()})

    return Stream(chunks, what="flowers.csv")


def _ids(path: Path) -> np.ndarray:
    with open(path, newline="") as handle:
        return np.array([row["id"] for row in csv.DictReader(handle)])


@pytest.fixture(params=["reader", "chunked"])
def streamed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The input read in chunks: by the real reader with 1 000-row chunks, or `chunked`'s
    777-row chunks (no multiple of the batch size: `predict` regroups them)."""
    monkeypatch.setattr("kerascli.data.stream.CHUNK_ROWS", 1_000)
    if request.param == "chunked":

        def open_chunked(spec: Any, path: str, classes: Any, **how: Any) -> Stream:
            require = how.get("require_target", True)
            split = read_split(spec, path, classes, require, how.get("fixed_classes", False))
            kept = {name: _ids(Path(path)) for name in how.get("keep", ())}
            return chunked(split, 777, kept, how.pop("fail_at", -1))

        monkeypatch.setattr(inference, "open_source", open_chunked)
    return str(request.param)


def test_streamed_predictions_equal_the_whole_file_in_memory(
    run: LoadedRun, flowers: Path, expected: np.ndarray, streamed: str
) -> None:
    if streamed == "reader":  # the file's reader gives it in chunks
        source = open_source(run.spec, str(flowers), {}, require_target=False, stream=True)
        assert isinstance(source, Stream) and len(list(source.chunks())) == 3
    result = predict(run, flowers)
    assert result["rows"] == ROWS
    assert result["columns"] == ["species", *(f"p_{c}" for c in SPECIES)]
    p = np.stack([result["predictions"][f"p_{c}"] for c in SPECIES], axis=1)
    np.testing.assert_array_equal(p, expected)
    labels = np.array(SPECIES)[expected.argmax(axis=1)]
    np.testing.assert_array_equal(result["predictions"]["species"], labels)


def test_a_parquet_input_is_predicted_in_chunks(
    run: LoadedRun,
    flowers: Path,
    expected: np.ndarray,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    monkeypatch.setattr("kerascli.data.stream.CHUNK_ROWS", 1_000)
    source = tmp_path / "flowers.parquet"
    pq.write_table(pacsv.read_csv(flowers), source, row_group_size=1_000)
    opened = open_source(run.spec, str(source), {}, require_target=False, stream=True)
    assert isinstance(opened, Stream) and opened.rows == ROWS  # (the bar's total)
    assert len(list(opened.chunks())) == 3
    out = tmp_path / "p.jsonl"
    result = predict(run, source, out, keep=["id"])
    assert result["rows"] == ROWS
    table = _read(out)
    assert table["id"] == _ids(flowers).tolist()
    np.testing.assert_array_equal(np.array(table["p_virginica"], np.float32), expected[:, 2])


def _read(path: Path) -> dict[str, list[Any]]:
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pydict()
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    else:
        delimiter = "\t" if path.suffix == ".tsv" else ","
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter=delimiter))
    return {name: [row[name] for row in rows] for name in rows[0]}


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_every_format_holds_every_chunk_with_the_kept_columns_first(
    run: LoadedRun, flowers: Path, expected: np.ndarray, streamed: str, suffix: str, tmp_path: Path
) -> None:
    out = tmp_path / f"p{suffix}"
    result = predict(run, flowers, out, keep=["id"])
    assert result["output"] == str(out) and result["rows"] == ROWS
    columns = {"id": _ids(flowers), "species": np.array(SPECIES)[expected.argmax(axis=1)]}
    columns.update({f"p_{c}": expected[:, i] for i, c in enumerate(SPECIES)})
    if suffix in (".csv", ".tsv"):  # the text of the whole file formatted at once
        assert out.read_text() == table_text(columns, ROWS, "\t" if suffix == ".tsv" else ",")
        return
    table = _read(out)
    assert list(table) == list(columns)
    assert table["id"] == columns["id"].tolist()
    assert table["species"] == columns["species"].tolist()
    for name in columns:  # float32 exactly (Parquet), or its repr read back as float64 (JSONL)
        if name.startswith("p_"):
            np.testing.assert_array_equal(np.array(table[name], np.float32), columns[name])
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary file left


def test_npy_holds_the_outputs_of_every_chunk(
    run: LoadedRun, flowers: Path, expected: np.ndarray, streamed: str, tmp_path: Path
) -> None:
    out = tmp_path / "p.npy"
    predict(run, flowers, out)
    values = np.load(out)
    assert values.shape == (ROWS, 3) and values.dtype == expected.dtype
    np.testing.assert_array_equal(values, expected)
    assert np.load(out, mmap_mode="r").shape == (ROWS, 3)


def test_a_written_prediction_returns_a_preview(
    run: LoadedRun, flowers: Path, streamed: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With an output file, `predictions` holds the first `PREVIEW_ROWS` rows, not all of them;
    echoed on a stream, too; with neither, every row."""
    monkeypatch.setattr(inference, "PREVIEW_ROWS", 1_500)
    written = predict(run, flowers, tmp_path / "p.csv")
    assert written["rows"] == ROWS and len(written["predictions"]["species"]) == 1_500
    echo = io.StringIO()
    echoed = predict(run, flowers, echo=echo)
    assert len(echoed["predictions"]["p_setosa"]) == 1_500
    assert echo.getvalue() == (tmp_path / "p.csv").read_text()
    assert len(predict(run, flowers)["predictions"]["species"]) == ROWS


def test_a_located_error_in_a_later_chunk_leaves_no_file(
    run: LoadedRun, tmp_path: Path, streamed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bad cell in row 2 200 (the third chunk): the reader's located error, and no output
    file, half written or temporary; an existing file is left as it was (`force`)."""
    bad = iris_rows(tmp_path / "bad.csv", ROWS, bad_row=2_200)
    if streamed == "chunked":  # the good rows, and the error where the bad cell is
        bad = iris_rows(tmp_path / "bad.csv", ROWS)
        opened = inference.open_source
        monkeypatch.setattr(
            inference, "open_source", lambda *a, **how: opened(*a, **how, fail_at=2_200)
        )
    out = tmp_path / "out" / "p.parquet"
    for format_ in (".parquet", ".csv", ".npy"):
        with pytest.raises(DataError) as error:
            predict(run, bad, out.with_suffix(format_))
        assert "non-numeric value 'abc'" in str(error.value)
        assert error.value.problems[0].line == 2_202  # the header, then rows from line 2
    assert list((tmp_path / "out").iterdir()) == []
    out.write_text("keep me")
    with pytest.raises(DataError):
        predict(run, bad, out, force=True)
    assert out.read_text() == "keep me" and len(list(out.parent.iterdir())) == 1


def test_evaluate_on_a_stream_equals_evaluate_in_memory(
    run: LoadedRun, flowers: Path, streamed: str
) -> None:
    split = read_split(run.spec, str(flowers), dict(run.classes or {}), fixed_classes=True)
    dataset = (split.x, split.y)
    batch = run.spec.fit.batch_size
    whole = run.model.evaluate(*dataset, batch_size=batch, verbose=0, return_dict=True)
    metrics = evaluate(run, data_file=flowers)
    assert metrics == pytest.approx({k: float(v) for k, v in whole.items()}, rel=1e-5)


def test_evaluate_raises_the_located_error_of_a_stream(
    run: LoadedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An error a stream's reader raises inside tf.data is the reader's located error."""
    split = read_split(run.spec, str(iris_rows(tmp_path / "f.csv", 300)), {"": SPECIES})
    stream = chunked(split, 64, {}, fail_at=128)
    monkeypatch.setattr(inference, "open_source", lambda *a, **how: stream)
    with pytest.raises(DataError, match="non-numeric value 'abc'") as error:
        evaluate(run, data_file=tmp_path / "f.csv")
    assert error.value.problems[0].line == 130
    empty = Stream(lambda: iter(()), what="empty.csv")
    monkeypatch.setattr(inference, "open_source", lambda *a, **how: empty)
    with pytest.raises(KerasCliError, match="no rows"):
        evaluate(run, data_file=tmp_path / "f.csv")


def test_an_empty_stream_has_no_rows_to_predict(
    run: LoadedRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = Stream(lambda: iter(()), what="empty.csv")
    monkeypatch.setattr(inference, "open_source", lambda *a, **how: empty)
    with pytest.raises(DataError, match="no rows to predict on"):
        predict(run, tmp_path, tmp_path / "p.npy")
    assert list(tmp_path.iterdir()) == []


def test_progress_goes_to_the_stream_given(
    run: LoadedRun, flowers: Path, streamed: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain progress (not a terminal), a line per chunk here (`PLAIN_EVERY` 0): rows and
    rows/s on the stream given, the last line the whole count."""
    monkeypatch.setattr(predict_progress, "PLAIN_EVERY", 0.0)
    log = io.StringIO()
    predict(run, flowers, progress=log)
    lines = log.getvalue().splitlines()
    assert len(lines) >= 2 and all(line.startswith("predict: ") for line in lines)
    assert lines[-1].startswith(f"predict: {ROWS:,} rows in ") and lines[-1].endswith(" rows/s")


def test_plain_progress_is_a_line_every_few_seconds() -> None:
    ticks = iter([0.0, 1.0, 11.0, 11.0, 11.0, 25.0])
    log = io.StringIO()
    with RowsProgress("predict", 300_000, log, plain=True, clock=lambda: next(ticks)) as shown:
        shown.advance(65_536)  # 1 s: nothing yet
        shown.advance(65_536)  # 11 s: a line
    assert PLAIN_EVERY == 10
    assert log.getvalue().splitlines() == [
        "predict: 131,072 of 300,000 rows (44%) - 11,916 rows/s",
        "predict: 131,072 rows in 25.0s - 5,243 rows/s",
    ]
    short = io.StringIO()
    ticks = iter([0.0, 2.0, 9.0])
    with RowsProgress("evaluate", None, short, plain=True, clock=lambda: next(ticks)) as shown:
        shown.advance(10)
    assert short.getvalue() == ""  # a run shorter than PLAIN_EVERY prints nothing


def test_the_bar_shows_rows_and_rows_per_second() -> None:
    """On a terminal: a Rich bar with the rows done (of the total, where known) and rows/s."""
    from kerascli.run.predict_progress import _RateColumn, _RowsColumn

    with RowsProgress("predict", 300_000, io.StringIO(), plain=False) as shown:
        shown.advance(131_072)
        assert shown.bar is not None
        task = shown.bar.tasks[0]
        assert _RowsColumn().render(task).plain == "131,072/300,000 rows"
        assert _RateColumn().render(task).plain.endswith(" rows/s")
    with RowsProgress("predict", None, io.StringIO(), plain=False) as shown:
        shown.advance(5)
        assert shown.bar is not None
        assert _RowsColumn().render(shown.bar.tasks[0]).plain == "5 rows"


def test_cells_are_those_csv_and_json_write() -> None:
    """One `%` call per chunk writes what `csv.writer` and `json.dumps` write cell by cell."""
    texts = np.array(["plain", "a,b", 'say "hi"', "", " lead", "two\nlines", "tab\tx", "ünï"])
    columns = {
        "text": texts,
        "float32": np.linspace(-1e-7, 3e7, 8, dtype=np.float32),
        "float64": np.array([0.1, -0.0, np.nan, np.inf, 1e300, 123456789, 2.5, 1 / 3]),
        "int": np.array([0, -1, 2**40, 7, 8, 9, 10, 11]),
        "bool": np.arange(8) % 2 == 0,
        "object": np.array([None, 1.5, "x,y", 3, b"b", 0.25, "", "z"], dtype=object),
    }
    for delimiter in (",", "\t"):
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
        for row in zip(*columns.values(), strict=True):
            writer.writerow([f"{v:.6g}" if isinstance(v, (float, np.floating)) else v for v in row])
        assert table_rows(columns, delimiter) == buffer.getvalue()
    alone = io.StringIO()
    csv.writer(alone, lineterminator="\n").writerows([t] for t in texts)
    assert table_rows({"text": texts}) == alone.getvalue()
    named = {k: v for k, v in columns.items() if k != "object"} | {"50%": texts}
    lists = [v.tolist() for v in named.values()]
    rows = [
        json.dumps(dict(zip(named, row, strict=True))) + "\n" for row in zip(*lists, strict=True)
    ]
    assert json_lines(named) == "".join(rows)


def test_an_npy_of_unknown_length_loads(tmp_path: Path) -> None:
    out = tmp_path / "p.npy"
    parts = [np.arange(12, dtype=np.float64).reshape(4, 3) + i for i in range(3)]
    with prediction_file(out) as writer:
        for part in parts:
            writer.write({}, [part[:, :2], part[:, 2:]])
    np.testing.assert_array_equal(np.load(out), np.concatenate(parts))
    assert out.stat().st_size % 64 == (12 * 3 * 8) % 64  # the header aligned as np.save does


MEMORY_SCRIPT = """
import resource, sys, time

from kerascli.run.inference import predict
from kerascli.run.saved_run import load_run

def megabytes(key):  # from /proc/self/status, in MB
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) >> 10 for line in status if line.startswith(key))

run, warm, big, out, budget = sys.argv[1:6]
loaded = load_run(run)
predict(loaded, warm, out + ".warm.csv", batch_size=4096, keep=["id"])  # TensorFlow started
data, rss = megabytes("VmData:"), megabytes("VmRSS:")
limit = (data + int(budget)) << 20  # the heap, anonymous maps and thread stacks may grow so far
resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
start = time.perf_counter()
result = predict(loaded, big, out, batch_size=4096, keep=["id"])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
print(result["rows"], data, megabytes("VmHWM:") - rss, round(seconds, 1))
"""


@pytest.mark.slow
@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc/self/status")
def test_predict_on_a_file_four_times_the_memory_it_may_take(
    iris_run: Path, tmp_path: Path
) -> None:
    """predict on a generated ~800 MB CSV completes in a process whose memory (`RLIMIT_DATA`:
    heap, anonymous maps, thread stacks) may grow by a quarter of the file after the run is
    loaded and TensorFlow started: the input is read, and the output written, a chunk at a
    time. (Reading the file whole takes several times the file.)"""
    rows = 8_600_000  # ~800 MB at ~94 bytes a row
    big = _write_big_csv(tmp_path / "big.csv", rows)
    budget_mb = big.stat().st_size // 2**20 // 4
    warm = iris_rows(tmp_path / "warm.csv", 10_000)
    out = tmp_path / "p.csv"
    script = [sys.executable, "-c", textwrap.dedent(MEMORY_SCRIPT)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(
        [*script, str(iris_run), str(warm), str(big), str(out), str(budget_mb)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    predicted, data, grown, seconds = done.stdout.split()[-4:]
    assert int(predicted) == rows, done.stdout
    print(f"{rows} rows in {seconds}s; RSS grew {grown} MB; limit {data} + {budget_mb} MB")
    with open(out) as handle:
        assert next(handle).startswith("id,species,p_setosa")
        assert sum(1 for _ in handle) == rows


def _write_big_csv(path: Path, rows: int) -> Path:
    """`rows` rows of an id, four measurements and a note, written a block at a time."""
    rng = np.random.default_rng(1)
    line = "r%d,%.3f,%.3f,%.3f,%.3f," + "a note no model reads " * 3 + "\n"
    with open(path, "w") as handle:
        handle.write("id," + ",".join(FEATURES) + ",note\n")
        block = 320_000
        for start in range(0, rows, block):
            n = min(block, rows - start)
            x = rng.uniform([4.3, 2.0, 1.0, 0.1], [7.9, 4.4, 6.9, 2.5], size=(n, 4))
            values = np.column_stack([np.arange(start, start + n), x]).ravel().tolist()
            handle.write((line * n) % tuple(values))
    return path
