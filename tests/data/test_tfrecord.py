"""TFRecord shards (`kerascli.data.tfrecord`): the records' features as the model reads them,
in shard order, split by hash or by shard; a feature spec or record that does not fit is an
error at its place in the spec, or at its shard and record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from kerascli.data.sources import open_source
from kerascli.data.splits import load_data
from kerascli.data.stream import Stream
from kerascli.spec import SpecError, load_spec_dict
from kerascli.spec.models import Spec
from tests.data.test_table_stream import concatenated, problem

FEATURES = {
    "pixels": {"dtype": "float32", "shape": [4]},
    "label": {"dtype": "int64"},
    "weight": {"dtype": "float32", "default": 1.0},
    "id": {"dtype": "string"},
}


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kerascli.data.stream.CHUNK_ROWS", 16)


def example(pixels: list[float] | None, label: int | None, **extra: Any) -> bytes:
    feature: dict[str, tf.train.Feature] = {}
    if pixels is not None:
        feature["pixels"] = tf.train.Feature(float_list=tf.train.FloatList(value=pixels))
    if label is not None:
        feature["label"] = tf.train.Feature(int64_list=tf.train.Int64List(value=[label]))
    for name, value in extra.items():
        if isinstance(value, bytes):
            feature[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
        else:
            feature[name] = tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def write_shards(folder: Path, shards: int = 3, records: int = 40, **options: Any) -> np.ndarray:
    """Shards `part-<i>.tfrecord` of `records` records each; the pixels of every record."""
    rng = np.random.default_rng(7)
    pixels = rng.normal(size=(shards * records, 4)).astype(np.float32)
    for s in range(shards):
        with tf.io.TFRecordWriter(str(folder / f"part-{s}.tfrecord"), **options) as writer:
            for i in range(records):
                row = s * records + i
                extra = {"weight": 0.5} if row % 2 else {}
                writer.write(example(pixels[row].tolist(), row % 3, id=f"r{row}".encode(), **extra))
    return pixels


def spec_of(folder: Path, data: dict[str, Any]) -> Spec:
    model = {"sequential": {"input": {"shape": [4]}, "layers": [{"Dense": {"units": 3}}]}}
    base = {"path": "part-*.tfrecord", "features": "pixels", "target": "label"}
    spec = {
        "name": "tfrecord-test",
        "seed": 2,
        "model": model,
        "compile": {"optimizer": "adam", "loss": "sparse_categorical_crossentropy"},
        "data": {**base, "tfrecord": {"features": FEATURES}, **data},
    }
    return load_spec_dict(spec, base_dir=folder, check=False)


def test_records_are_read_in_shard_order_with_their_features(tmp_path: Path) -> None:
    pixels = write_shards(tmp_path)
    spec = spec_of(tmp_path, {"sample_weight": "weight"})
    stream = open_source(spec, str(tmp_path / "part-*.tfrecord"), {})
    assert isinstance(stream, Stream)
    chunks = list(stream.chunks())
    assert len(chunks) == 9  # 40 records a shard, 16 a chunk, never two shards in one
    split = concatenated(stream)
    np.testing.assert_array_equal(split.x, pixels)
    assert split.y is not None and split.y.dtype == np.int64
    assert split.y.tolist() == [i % 3 for i in range(120)]
    assert split.w is not None and split.w.tolist() == [1.0, 0.5] * 60  # the default fills
    kept = open_source(
        spec, str(tmp_path / "part-*.tfrecord"), {}, require_target=False, keep=["id"]
    )
    ids = np.concatenate([c.kept["id"] for c in kept.chunks()])  # type: ignore[union-attr]
    assert ids[:2].tolist() == ["r0", "r1"] and len(ids) == 120


def test_compressed_shards_and_the_training_pipeline(tmp_path: Path) -> None:
    pixels = write_shards(tmp_path, 2, 10, options="GZIP")
    spec = spec_of(tmp_path, {"tfrecord": {"features": FEATURES, "compression": "GZIP"}})
    stream = open_source(spec, str(tmp_path / "part-*.tfrecord"), {})
    assert isinstance(stream, Stream)
    elements = list(stream.dataset(True, 0).as_numpy_iterator())
    np.testing.assert_array_equal(np.stack([x for x, _ in elements]), pixels)


def test_splits_by_hash_and_by_shard(tmp_path: Path) -> None:
    write_shards(tmp_path, 6, 30)
    data = load_data(spec_of(tmp_path, {"split": {"validation": 0.25}}))
    rows = {name: concatenated(s).rows for name, s in data.splits.items() if isinstance(s, Stream)}
    assert sum(rows.values()) == 180 and 25 < rows["validation"] < 65
    by_file = load_data(spec_of(tmp_path, {"split": {"validation": 0.4, "by_file": True}}))
    rows = {
        name: concatenated(s).rows for name, s in by_file.splits.items() if isinstance(s, Stream)
    }
    assert sum(rows.values()) == 180 and rows["validation"] % 30 == 0 and rows["validation"]


@pytest.mark.parametrize(
    ("data", "path", "message"),
    [
        ({"features": "image"}, "data.features", "no feature 'image' in data.tfrecord.features"),
        ({"target": "id"}, "data.tfrecord.features.id.dtype", "feature 'id' (string) is a target"),
        (
            {"features": "id"},
            "data.tfrecord.features.id.dtype",
            "feature 'id' (string) feeds an input",
        ),
        (
            {"tfrecord": {"features": {**FEATURES, "label": {"dtype": "int64", "default": 0.5}}}},
            "data.tfrecord.features.label.default",
            "default 0.5 is no int64 value",
        ),
    ],
)
def test_a_bad_feature_spec_is_located_in_the_spec(
    tmp_path: Path, data: dict[str, Any], path: str, message: str
) -> None:
    write_shards(tmp_path, 1, 2)
    with pytest.raises(SpecError) as caught:
        open_source(spec_of(tmp_path, data), str(tmp_path / "part-*.tfrecord"), {})
    (found,) = caught.value.problems
    assert found.path == path and found.message.startswith(message)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (example([1.0, 2.0, 3.0, 4.0], None), "record 33 (counting from 0): no feature 'label'"),
        (
            example([1.0, 2.0, 3.0], 1),
            "record 33 (counting from 0): feature 'pixels' holds 3 values",
        ),
        (b"not an example", "record 33 (counting from 0): not a tf.train.Example"),
        (
            example([1.0, float("nan"), 3.0, 4.0], 1),
            "record 33 (counting from 0): non-finite value",
        ),
    ],
)
def test_a_bad_record_is_found_at_its_shard_and_record(
    tmp_path: Path, bad: bytes, message: str
) -> None:
    write_shards(tmp_path, 2, 40)
    with tf.io.TFRecordWriter(str(tmp_path / "part-1.tfrecord")) as writer:
        for i in range(40):
            writer.write(bad if i == 33 else example([0.0] * 4, 1))
    stream = open_source(spec_of(tmp_path, {}), str(tmp_path / "part-*.tfrecord"), {})
    with pytest.raises(SpecError) as caught:
        list(stream.chunks())
    got, file, _ = problem(caught)
    assert got.startswith(message) and file == str(tmp_path / "part-1.tfrecord")


def test_a_corrupt_shard_is_named(tmp_path: Path) -> None:
    write_shards(tmp_path, 2, 5)
    data = (tmp_path / "part-1.tfrecord").read_bytes()
    (tmp_path / "part-1.tfrecord").write_bytes(data[: len(data) // 2])
    with pytest.raises(SpecError) as caught:
        list(open_source(spec_of(tmp_path, {}), str(tmp_path / "part-*.tfrecord"), {}).chunks())
    got, file, _ = problem(caught)
    assert got.startswith("cannot read TFRecord") and file == str(tmp_path / "part-1.tfrecord")
