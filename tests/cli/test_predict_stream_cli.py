"""`kerascli predict` and `evaluate --data` on a file read in chunks: the predictions written as
they come (a file, or CSV on stdout), progress on stderr only, a reader's located error as
exit 2 with no output file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kerascli.run import predict_progress
from tests.conftest import invoke
from tests.run.test_predict_stream import iris_rows

ROWS = 2_503


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of 1 000 rows, and a plain progress line after each (`PLAIN_EVERY` 0)."""
    monkeypatch.setattr("kerascli.data.stream.CHUNK_ROWS", 1_000)
    monkeypatch.setattr(predict_progress, "PLAIN_EVERY", 0.0)


@pytest.fixture(scope="module")
def flowers(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return iris_rows(tmp_path_factory.mktemp("flowers") / "flowers.csv", ROWS)


def test_predict_writes_the_file_and_shows_progress_on_stderr(
    iris_run: Path, flowers: Path, tmp_path: Path
) -> None:
    out = tmp_path / "p.parquet"
    args = ("-o", out, "--keep", "id", "--batch-size", "16")  # batches smaller than a chunk
    result = invoke("predict", iris_run, flowers, *args)
    assert result.code == 0, result.err
    assert result.out.strip().startswith(f"wrote {ROWS} rows (id, species, p_setosa")
    assert "rows/s" not in result.out
    progress = [line for line in result.err.splitlines() if line.startswith("predict: ")]
    assert len(progress) >= 3 and progress[-1].startswith(f"predict: {ROWS:,} rows in ")
    import pyarrow.parquet as pq

    table = pq.read_table(out)
    assert table.num_rows == ROWS and table.column_names[:2] == ["id", "species"]
    assert table.column("id").to_pylist()[-1] == f"r{ROWS - 1}"


def test_predict_prints_csv_as_it_goes_and_json_alone(
    iris_run: Path, flowers: Path, tmp_path: Path
) -> None:
    """Without `-o`, CSV on stdout (the text `-o FILE.csv` writes); with `--json`, one JSON
    document; the progress on stderr either way."""
    out = tmp_path / "p.csv"
    assert invoke("predict", iris_run, flowers, "-o", out).code == 0
    printed = invoke("predict", iris_run, flowers, "--quiet")
    assert printed.code == 0, printed.err
    assert printed.out == out.read_text()
    assert "predict: " in printed.err
    document = invoke("predict", iris_run, flowers, "--json")
    assert document.code == 0, document.err
    predictions = json.loads(document.out)["predictions"]
    assert len(predictions["species"]) == ROWS
    assert "predict: " in document.err


def test_a_bad_cell_in_a_later_chunk_is_exit_2_and_no_file(iris_run: Path, tmp_path: Path) -> None:
    bad = iris_rows(tmp_path / "bad.csv", ROWS, bad_row=2_200)
    for suffix in (".csv", ".npy", ".jsonl"):
        out = tmp_path / "out" / f"p{suffix}"
        result = invoke("predict", iris_run, bad, "-o", out)
        assert result.code == 2
        assert f"{bad}:2202: non-numeric value 'abc' in column 'sepal_width'" in result.err
        assert "Traceback" not in result.err
    assert list((tmp_path / "out").iterdir()) == []
    evaluated = invoke("evaluate", iris_run, "--data", bad)  # read inside tf.data
    assert evaluated.code == 2
    assert f"{bad}:2202: non-numeric value 'abc'" in evaluated.err
    assert "Traceback" not in evaluated.err


def test_evaluate_data_streams_the_file(iris_run: Path, flowers: Path) -> None:
    result = invoke("evaluate", iris_run, "--data", flowers, "--json")
    assert result.code == 0, result.err
    metrics = result.json()["metrics"]
    assert set(metrics) >= {"loss", "accuracy"} and 0 <= metrics["accuracy"] <= 1
    assert "evaluate: " in result.err and "evaluate: " not in result.out
    assert "ran out of data" not in result.err
