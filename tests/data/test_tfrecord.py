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
from tests.conftest import invoke
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
        (
            {"features": "image"},
            "data.features",
            "no feature 'image' in data.tfrecord.features; features: pixels, label, weight, id",
        ),
        (
            {"target": "id"},
            "data.target",
            "feature 'id' holds strings: a target is numbers (class ids as int64, values as "
            "float32)",
        ),
        (
            {"features": "id"},
            "data.features",
            "feature 'id' holds strings, but the input has dtype float32 (strings feed an input "
            "of dtype: string)",
        ),
        (
            {"tfrecord": {"features": {**FEATURES, "label": {"dtype": "int64", "default": 0.5}}}},
            "data.tfrecord.features.label.default",
            "the default of an int64 feature must be an integer, got 0.5",
        ),
        (
            {"split": {"validation": 0.5, "key": "pixels"}},
            "data.split.key",
            "feature 'pixels' of shape [4] holds 4 values a record; a key holds one value per "
            "record (shape [] or [1])",
        ),
        (
            {"tfrecord": None, "format": "tfrecord"},
            "data.format",
            "TFRecord shards need data.tfrecord.features: each feature's dtype and shape",
        ),
    ],
)
def test_a_bad_feature_spec_is_located_in_the_spec(
    tmp_path: Path, data: dict[str, Any], path: str, message: str
) -> None:
    write_shards(tmp_path, 1, 2)
    with pytest.raises(SpecError) as caught:
        open_source(spec_of(tmp_path, data), str(tmp_path / "part-*.tfrecord"), {})
    (found,) = caught.value.problems  # what `kerascli validate` says
    assert found.path == path and found.message.startswith(message), found.message


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
    with pytest.raises(SpecError) as caught:  # the target pass reads every record's label
        list(open_source(spec_of(tmp_path, {}), str(tmp_path / "part-*.tfrecord"), {}).chunks())
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


# --- the target pass: class ids checked and counted before training ---------------------------


def write_labels(folder: Path, labels: list[int], shards: int = 2) -> None:
    """`labels` over `shards` shards, in order, each record's pixels its index."""
    per = -(-len(labels) // shards)
    for s in range(shards):
        with tf.io.TFRecordWriter(str(folder / f"part-{s}.tfrecord")) as writer:
            for row in range(s * per, min(len(labels), (s + 1) * per)):
                writer.write(example([float(row)] * 4, labels[row], id=f"r{row}".encode()))


def test_the_target_pass_counts_the_class_ids_of_each_part(tmp_path: Path) -> None:
    labels = [i % 3 for i in range(90)]
    write_labels(tmp_path, labels)
    data = load_data(spec_of(tmp_path, {"split": {"validation": 0.3}}))
    total = np.zeros(3, dtype=np.int64)
    for stream in data.splits.values():
        assert isinstance(stream, Stream) and stream.label_counts is not None
        (counts,) = stream.label_counts.values()
        split = concatenated(stream)
        assert split.y is not None
        np.testing.assert_array_equal(counts, np.bincount(split.y, minlength=len(counts)))
        total[: len(counts)] += counts
    assert total.tolist() == [30, 30, 30]


def test_balanced_class_weights_of_tfrecord(tmp_path: Path) -> None:
    from kerascli.run.targets import class_weight

    write_labels(tmp_path, [0] * 60 + [1] * 20 + [2] * 10)
    spec = spec_of(tmp_path, {})
    spec.fit.class_weight = "balanced"
    weights = class_weight(spec, load_data(spec))
    assert weights == pytest.approx({0: 90 / 180, 1: 90 / 60, 2: 90 / 30})


def test_a_negative_class_id_is_refused_at_its_record(tmp_path: Path) -> None:
    labels = [i % 3 for i in range(40)]
    labels[27] = -1
    write_labels(tmp_path, labels)
    with pytest.raises(SpecError) as caught:
        open_source(spec_of(tmp_path, {}), str(tmp_path / "part-*.tfrecord"), {})
    got, file, _ = problem(caught)
    assert got == (
        "record 7 (counting from 0): class id -1 in feature 'label' is negative: class ids "
        "count from 0"
    )
    assert file == str(tmp_path / "part-1.tfrecord")


def test_too_large_a_class_id_is_refused_before_training(tmp_path: Path) -> None:
    """Label 3 for a 3-unit softmax: the class-id check names the output layer, before a run
    directory is made (not TensorFlow's `indices[0] = 3 is not in [0, 3)` mid-fit)."""
    write_labels(tmp_path, [i % 4 for i in range(40)])
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: t\n"
        "model:\n"
        "  sequential:\n"
        "    input: {shape: [4]}\n"
        "    layers: [{Dense: {units: 3, activation: softmax}}]\n"
        "compile: {loss: sparse_categorical_crossentropy}\n"
        "fit: {epochs: 1}\n"
        "data:\n"
        "  path: part-*.tfrecord\n"
        "  features: pixels\n"
        "  target: label\n"
        "  split: {validation: 0.5}\n"
        "  tfrecord:\n"
        "    features: {pixels: {dtype: float32, shape: [4]}, label: {dtype: int64}}\n",
        encoding="utf-8",
    )
    result = invoke("train", spec, "--runs-dir", tmp_path / "runs")
    assert result.code == 2, result.err
    assert (
        "model.sequential.layers[0]: the target has 4 classes (ids 0 to 3) but the output layer "
        "gives 3 units; give it 4 units"
    ) in result.err
    assert not (tmp_path / "runs").exists()


def test_a_float_target_keeps_its_dtype_and_is_not_counted(tmp_path: Path) -> None:
    """A float32 target of whole values in one chunk and fractions in the next is float32 in
    both (the generator's signature is the first chunk's)."""
    with tf.io.TFRecordWriter(str(tmp_path / "part-0.tfrecord")) as writer:
        for i in range(40):
            writer.write(example([0.0] * 4, None, value=float(i) if i < 16 else i + 0.5))
    features = {"pixels": FEATURES["pixels"], "value": {"dtype": "float32"}}
    spec = spec_of(tmp_path, {"target": "value", "tfrecord": {"features": features}})
    stream = open_source(spec, str(tmp_path / "part-*.tfrecord"), {})
    assert isinstance(stream, Stream) and stream.label_counts is None
    dtypes = {chunk.split.y.dtype for chunk in stream.chunks()}  # type: ignore[union-attr]
    assert dtypes == {np.dtype(np.float32)}


# --- split.key: the same rule as a table stream's ---------------------------------------------


def test_a_key_splits_as_the_same_key_in_a_csv_stream(tmp_path: Path) -> None:
    """Record ids as an int64 feature and as a CSV column: the same records in each part."""
    ids = np.random.default_rng(3).choice(100_000, size=150, replace=False)
    lines = ["a,b,c,d,y,key"] + [f"{k},0,0,0,{k % 3},{k}" for k in ids]
    (tmp_path / "t.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    with tf.io.TFRecordWriter(str(tmp_path / "part-0.tfrecord")) as writer:
        for k in ids:
            record = tf.train.Example.FromString(example([float(k), 0, 0, 0], int(k % 3)))
            record.features.feature["key"].int64_list.value.append(int(k))
            writer.write(record.SerializeToString())
    split = {"validation": 0.3, "test": 0.2, "key": "key"}
    features = {**FEATURES, "key": {"dtype": "int64"}}
    shards = spec_of(tmp_path, {"split": split, "tfrecord": {"features": features}})
    table = spec_of(
        tmp_path,
        {"path": "t.csv", "features": list("abcd"), "target": "y", "stream": True}
        | {"tfrecord": None, "split": split},
    )
    parts = []
    for spec in (shards, table):
        splits = load_data(spec).splits
        parts.append({name: sorted(concatenated(s).x[:, 0]) for name, s in splits.items()})  # type: ignore[arg-type, index]
    assert parts[0] == parts[1]
    assert sum(len(rows) for rows in parts[0].values()) == 150 and len(parts[0]) == 3


def test_data_parallel_reads_the_same_records_in_the_same_order(tmp_path: Path) -> None:
    pixels = write_shards(tmp_path, 3, 40)
    for parallel in (1, 3, "autotune"):
        split = concatenated(
            load_data(spec_of(tmp_path, {"parallel": parallel})).splits["train"]  # type: ignore[arg-type]
        )
        np.testing.assert_array_equal(split.x, pixels)
