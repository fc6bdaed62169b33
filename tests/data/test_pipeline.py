"""The tf.data pipeline shared by data in memory and streams: sample weights, augmentation on
training batches only, bounded adapt samples, disk cache, and a stream's located errors."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerascli.data import load_data
from kerascli.data.model_arrays import Split
from kerascli.data.pipeline import make_dataset, sample_rows
from kerascli.data.stream import Chunk, Stream, located_failures
from kerascli.model.builder import Builder
from kerascli.run.augment import augmentation
from kerascli.spec import SpecError, load_spec
from kerascli.spec.models import DataSpec
from kerascli.spec.problems import DataError
from tests.conftest import invoke

ROOT = Path(__file__).resolve().parents[2]
IRIS_CSV = ROOT / "model_specs" / "data" / "iris.csv"
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]


def _weighted_iris(tmp_path: Path, weight: float, bad_row: int | None = None) -> Path:
    """iris.csv with a `weight` column of `weight` (a negative one at data row `bad_row`)."""
    rows = list(csv.reader(IRIS_CSV.open()))
    out = tmp_path / "iris_w.csv"
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*rows[0], "weight"])
        for i, row in enumerate(rows[1:]):
            writer.writerow([*row, -1.0 if i == bad_row else weight])
    return out


def _spec(
    tmp_path: Path, data: dict, layers: list | None = None, shape: list | None = None
) -> Path:
    spec = {
        "name": "pipeline-test",
        "seed": 5,
        "model": {
            "sequential": {
                "input": {"shape": shape or [4]},
                "layers": layers or [{"Dense": {"units": 3, "activation": "softmax"}}],
            }
        },
        "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
        "fit": {"epochs": 1, "batch_size": 16},
        "data": data,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_sample_weights_are_read_with_their_rows_and_split_with_them(tmp_path: Path) -> None:
    data = {
        "path": str(_weighted_iris(tmp_path, 2.5)),
        "features": FEATURES,
        "target": "species",
        "sample_weight": "weight",
        "split": {"validation": 0.2},
    }
    splits = load_data(load_spec(_spec(tmp_path, data))).splits
    train = splits["train"]
    assert isinstance(train, Split) and train.w is not None
    assert train.w.shape == (train.rows,) and set(train.w.tolist()) == {2.5}
    batch = next(iter(make_dataset(train, None, 8, 1, training=True)))
    assert len(batch) == 3 and batch[2].shape == (8,)


def test_a_negative_sample_weight_is_located_at_its_line(tmp_path: Path) -> None:
    data = {
        "path": str(_weighted_iris(tmp_path, 1.0, bad_row=6)),
        "features": FEATURES,
        "target": "species",
        "sample_weight": "weight",
    }
    with pytest.raises(SpecError) as caught:
        load_data(load_spec(_spec(tmp_path, data)))
    assert "iris_w.csv:8" in str(caught.value) and "negative sample weight" in str(caught.value)


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_sample_weights_reach_fit(tmp_path: Path, weight: float) -> None:
    """Weights of zero make the training loss zero: the weights are what `fit` weighs by."""
    data = {
        "path": str(_weighted_iris(tmp_path, weight)),
        "features": FEATURES,
        "target": "species",
        "sample_weight": "weight",
    }
    result = invoke("train", _spec(tmp_path, data), "--runs-dir", tmp_path / "runs", "--json")
    assert result.code == 0, result.err
    loss = result.json()["metrics"]["train"]["loss"]
    assert (loss == 0.0) == (weight == 0.0), loss


def test_augment_changes_training_batches_only(tmp_path: Path) -> None:
    """`data.augment` layers run on training batches, never on evaluation ones, and are not
    part of the model."""
    data = {
        "path": str(IRIS_CSV),
        "features": FEATURES,
        "target": "species",
        "augment": [{"GaussianNoise": {"stddev": 1.0, "seed": 1}}],
        "shuffle": False,  # training batches in file order, to compare row by row
    }
    spec = load_spec(_spec(tmp_path, data))
    builder = Builder(spec)
    model = builder.build()
    augment = augmentation(builder)
    assert augment is not None
    train = load_data(spec).splits["train"]
    assert isinstance(train, Split)
    plain = next(iter(make_dataset(train, spec.data, 150, None, training=False)))[0].numpy()
    noisy = next(iter(make_dataset(train, spec.data, 150, None, training=True, augment=augment)))
    assert np.allclose(plain, train.x[:150])
    difference = np.abs(noisy[0].numpy() - train.x[:150]).mean()
    assert 0.5 < difference < 1.2, difference  # noise of stddev 1: mean |noise| is 0.8
    assert [layer.__class__.__name__ for layer in model.layers] == ["Dense"]


def test_augment_unknown_layer_is_located(tmp_path: Path) -> None:
    data = {
        "path": str(IRIS_CSV),
        "features": FEATURES,
        "target": "species",
        "augment": [{"RandomFlipp": {}}],
    }
    path = _spec(tmp_path, data)
    result = invoke("train", path, "--runs-dir", tmp_path / "runs")
    assert result.code == 2
    assert "data.augment[0]" in result.err and "RandomFlip" in result.err


def test_adapt_sees_a_bounded_seeded_sample(tmp_path: Path) -> None:
    split = Split(np.arange(1000, dtype=np.float32).reshape(-1, 1), None, 1000)
    first = sample_rows(split, 10, seed=3)
    assert first.shape == (10, 1)
    assert np.array_equal(first, sample_rows(split, 10, seed=3))
    assert not np.array_equal(first, sample_rows(split, 10, seed=4))
    assert sample_rows(split, None, seed=3) is split.x


def test_adapt_rows_bounds_what_normalization_adapts_on(tmp_path: Path) -> None:
    data = {
        "path": str(IRIS_CSV),
        "features": FEATURES,
        "target": "species",
        "adapt_rows": 5,
    }
    layers = [{"Normalization": {}}, {"Dense": {"units": 3, "activation": "softmax"}}]
    path = _spec(tmp_path, data, layers)
    result = invoke("train", path, "--runs-dir", tmp_path / "runs", "--json")
    assert result.code == 0, result.err
    run = Path(result.json()["run_dir"])
    assert json.loads((run / "run.json").read_text())["adapted"] == ["layers[0]"]
    import keras

    model = keras.models.load_model(run / "model.keras")
    rows = np.loadtxt(IRIS_CSV, delimiter=",", skiprows=1, usecols=range(4))
    sample = sample_rows(Split(rows, None, len(rows)), 5, 5)
    assert np.allclose(np.asarray(model.layers[0].mean).reshape(-1), sample.mean(axis=0), atol=1e-5)


def test_disk_cache_writes_its_file(tmp_path: Path) -> None:
    split = Split(np.ones((20, 2), np.float32), np.zeros(20, np.int64), 20)
    data = DataSpec(path="x.csv", cache="disk")
    dataset = make_dataset(split, data, 4, 1, training=False, cache_dir=tmp_path / "cache")
    assert sum(1 for _ in dataset) == 5
    assert any((tmp_path / "cache").iterdir())


def _failing_stream(at_chunk: int) -> Stream:
    def chunks() -> Iterator[Chunk]:
        for i in range(3):
            if i == at_chunk:
                raise DataError("non-numeric value 'x' in column 'a'", "big.csv", 70_001)
            x = np.full((4, 2), i, np.float32)
            yield Chunk(Split(x, np.zeros(4, np.int64), 4))

    return Stream(chunks, what="big.csv")


def test_a_streams_located_error_is_raised_for_tensorflows(tmp_path: Path) -> None:
    import keras

    stream = _failing_stream(at_chunk=2)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    model.compile(loss="sparse_categorical_crossentropy")
    dataset = make_dataset(stream, None, 2, 1, training=True)
    with pytest.raises(DataError) as caught, located_failures([stream]):
        model.fit(dataset, epochs=1, verbose=0)
    assert "big.csv:70001" in str(caught.value)


def test_a_stream_is_batched_and_shuffled_deterministically() -> None:
    def chunks() -> Iterator[Chunk]:
        for i in range(3):
            x = np.arange(i * 10, i * 10 + 10, dtype=np.float32).reshape(-1, 1)
            yield Chunk(Split(x, np.zeros(10, np.int64), 10))

    def epoch(seed: int) -> list[float]:
        dataset = make_dataset(Stream(chunks), None, 7, seed, training=True)
        return [float(v) for x, _ in dataset for v in x.numpy().reshape(-1)]

    first = epoch(1)
    assert sorted(first) == list(range(30)) and first != list(range(30))
    assert first == epoch(1)
    ordered = make_dataset(Stream(chunks), None, 7, 1, training=False)
    assert [float(v) for x, _ in ordered for v in x.numpy().reshape(-1)] == list(range(30))


def test_a_streams_adapt_sample_spans_the_whole_stream() -> None:
    """A sorted stream (class by class, say) is sampled over all its chunks, not its head."""

    def chunks() -> Iterator[Chunk]:
        for i in range(5):
            x = np.arange(i * 100, i * 100 + 100, dtype=np.float32).reshape(-1, 1)
            yield Chunk(Split(x, None, 100))

    sample = sample_rows(Stream(chunks), 50, seed=2)
    assert sample.shape == (50, 1) and len(np.unique(sample)) == 50
    assert sample.min() < 100 and sample.max() >= 400  # from the first and the last chunk
    assert np.array_equal(sample, sample_rows(Stream(chunks), 50, seed=2))


def test_stream_batches_are_full_but_the_last_and_new_each_epoch() -> None:
    """A table stream is batched from its chunks: every row once an epoch, full batches across
    chunk boundaries, a seeded permutation that changes from epoch to epoch."""

    def chunks() -> Iterator[Chunk]:
        for start, size in ((0, 10), (10, 3), (13, 12)):
            x = np.arange(start, start + size, dtype=np.float32).reshape(-1, 1)
            yield Chunk(Split(x, np.zeros(size, np.int64), size, np.ones(size, np.float32)))

    dataset = make_dataset(Stream(chunks), None, 4, 9, training=True)
    first = [batch for batch in dataset]
    second = [batch for batch in dataset]
    assert [len(x) for x, _, _ in first] == [4, 4, 4, 4, 4, 4, 1]
    rows = [float(v) for x, _, _ in first for v in x.numpy().reshape(-1)]
    assert sorted(rows) == list(range(25)) and rows != list(range(25))
    assert rows != [float(v) for x, _, _ in second for v in x.numpy().reshape(-1)]
    again = [batch for batch in make_dataset(Stream(chunks), None, 4, 9, training=True)]
    assert [b[0].numpy().tolist() for b in again] == [b[0].numpy().tolist() for b in first]


def test_a_sorted_stream_is_shuffled_across_its_chunks() -> None:
    """Rows sorted by class, chunk by chunk: the shuffle pool mixes rows of several chunks into
    a batch, so a sorted file does not train in blocks of one class."""

    def chunks() -> Iterator[Chunk]:
        for label in range(5):
            x = np.full((100, 1), label, np.float32)
            yield Chunk(Split(x, np.full(100, label, np.int64), 100))

    data = DataSpec(path="x.csv", shuffle=200)
    batches = [y.numpy() for _, y in make_dataset(Stream(chunks), data, 50, 3, training=True)]
    assert sorted(np.concatenate(batches).tolist()) == sorted(list(range(5)) * 100)
    assert len(set(batches[0].tolist())) >= 2  # the first batch mixes two chunks' classes


@pytest.mark.parametrize(
    "layer, words",
    [
        ({"Dense": {"units": 4}}, "Dense is not a preprocessing layer"),
        ({"BatchNormalization": {}}, "BatchNormalization is not a preprocessing layer"),
        ({"Normalization": {}}, "Normalization needs adapting to the data"),
    ],
)
def test_augment_takes_preprocessing_layers_only(tmp_path: Path, layer: dict, words: str) -> None:
    """A layer that learns or normalises would change training batches only, silently."""
    data = {"path": str(IRIS_CSV), "features": FEATURES, "target": "species", "augment": [layer]}
    result = invoke("train", _spec(tmp_path, data), "--runs-dir", tmp_path / "runs")
    assert result.code == 2, result.err
    assert "data.augment[0]" in result.err and words in result.err
    assert not (tmp_path / "runs").exists()  # refused before a run is made


@pytest.mark.parametrize("value, words", [("0.5", "whole numbers"), ("-1", "count from 0")])
def test_class_ids_are_whole_numbers_from_zero(tmp_path: Path, value: str, words: str) -> None:
    """Keras's sparse crossentropy would cut 0.5 to 0 (and fail mid-fit on -1)."""
    rows = list(csv.reader(IRIS_CSV.open()))
    ids = {"setosa": "0", "versicolor": "1", "virginica": "2"}
    out = tmp_path / "ids.csv"
    with out.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(rows[0])
        for i, row in enumerate(rows[1:]):
            writer.writerow([*row[:4], value if i == 7 else ids[row[4]]])
    data = {"path": str(out), "features": FEATURES, "target": "species"}
    result = invoke("train", _spec(tmp_path, data), "--runs-dir", tmp_path / "runs")
    assert result.code == 2 and "compile.loss" in result.err and words in result.err
