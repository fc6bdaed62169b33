"""TFRecord shards of `tf.train.Example`s as a `Stream`: the files of a source (a file, a glob
of shards, sorted; a remote path) read in order, records parsed in batches by
`tf.io.parse_example` with the `tf.io.FixedLenFeature`s `data.tfrecord.features` declares.

`features`, `target`, `inputs`, `outputs` and `sample_weight` name features, as they name the
arrays of an NPZ file: each batch is a `Table` of arrays made model-ready by
`model_arrays.split_of_table` (its casts, shapes and messages). How the features feed the
model is checked by `check_sources.tfrecord_problems`, as `kerascli validate` checks it. A
target holds numbers (class ids as int64, or float32 values); before the first chunk, a pass
over the target features alone (`_target_counts`) counts the records of each class id and
refuses a negative one. What TensorFlow refuses (a record without a required feature, a
feature of another size or type, a corrupt file) is found again by reading the records one by
one (`locate_record`), and reported at its shard and record.

Long because the target pass, the split of the records and the search for a bad record
belong with the one reader they serve.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kerascli.data import stream
from kerascli.data.files import part_files
from kerascli.data.model_arrays import STRING, located, split_of_table, used_columns
from kerascli.data.partition import hashed_part
from kerascli.data.stream import Chunk, Stream, with_target_dtypes
from kerascli.data.table import Table
from kerascli.spec.check_sources import tfrecord_problems
from kerascli.spec.data_spec import FeatureSpec, SplitSpec
from kerascli.spec.facts import target_columns
from kerascli.spec.models import Columns, DataSpec, Spec
from kerascli.spec.outputs import loss_kind
from kerascli.spec.problems import DataError, cause_line

Batch = tuple[str, int, dict[str, np.ndarray], np.ndarray | None]
"""A batch of parsed records: its shard, the index of its first record there, the arrays by
feature, and which of its records fall in the split part (`None`: all of them)."""


def tfrecord_stream(
    spec: Spec,
    source: str,
    classes: dict[str, list[str]],
    require_target: bool = True,
    fixed_classes: bool = False,
    part: str | None = None,
    keep: Sequence[str] = (),
) -> Stream:
    """TFRecord shards (`sources.open_source`'s arguments) as a `Stream` of the records of
    split `part` (by the hash of their position over the sorted shards, of the text of the
    `split.key` feature, or of the shard's name with `by_file`); each chunk's `kept` the
    features `keep`. With `require_target`, the target features of the part are read first
    (`_target_counts`): its `label_counts`."""
    data = spec.data or DataSpec(path=source)
    for path, message, at_key in tfrecord_problems(spec, data, require_target):
        raise located(spec, path, message, at_key)  # as `validate` says it
    assert data.tfrecord is not None
    features = data.tfrecord.features
    for name in keep:
        if name not in features:
            raise DataError(f"--keep: no feature '{name}' in data.tfrecord.features", source)
    used = used_columns(spec, require_target)
    shards = Shards(spec, data, source, part, features)
    targets = target_columns(spec) if require_target else {}
    counts = _target_counts(spec, shards, targets) if targets else None
    dtypes = {  # a float32 target stays float32 in every chunk, whole values or not
        key: np.dtype(np.int64 if features[name].dtype == "int64" else np.float32)
        for key, name in targets.items()
        if isinstance(name, str)
    }

    def chunks() -> Iterator[Chunk]:
        for file, first, arrays, in_part in shards.batches([*used, *keep]):
            _refuse_non_finite(arrays, used, file, first)
            rows = len(next(iter(arrays.values())))
            table = Table(file, "tfrecord", columns=arrays, positions=range(first, first + rows))
            if in_part is not None:
                table = table.take(np.flatnonzero(in_part))
            if not table.rows:
                continue
            result = split_of_table(spec, table, classes, require_target, fixed_classes)
            kept = {name: _text(table.columns[name]) for name in keep}
            yield Chunk(with_target_dtypes(result, dtypes), kept)

    return Stream(chunks, label_counts=counts, what=source)


@dataclass
class Shards:
    """The shards of a source as `_batches` reads them, and which records fall in `part`."""

    spec: Spec
    data: DataSpec
    source: str
    part: str | None
    features: dict[str, FeatureSpec]

    def __post_init__(self) -> None:
        self.files = part_files(self.spec, self.data, self.source, self.part)
        split = self.data.split
        by_rows = self.part is not None and split is not None and not split.by_file
        self.split: SplitSpec | None = split if by_rows else None
        self.key = self.split.key if self.split is not None else None
        assert self.data.tfrecord is not None
        self.compression = self.data.tfrecord.compression or ""

    def batches(self, names: Sequence[str]) -> Iterator[Batch]:
        """The records' features `names`, batch after batch in shard order, with which fall
        in the part: by the hash of a record's position over every shard, or of the text of
        its key (`partition.hashed_part`, the rule of a table stream's rows)."""
        wanted = list(dict.fromkeys([*names, *([self.key] if self.key else [])]))
        parsed = {name: self.features[name] for name in wanted}
        position = 0  # of a record over every shard, for the hash of rows
        for file, first, arrays in _batches(self.files, self.compression, parsed, self.data):
            rows = len(next(iter(arrays.values())))
            in_part = None
            if self.split is not None and self.part is not None:
                if self.key is not None:
                    values = _key_text(arrays[self.key])
                else:
                    values = np.arange(position, position + rows, dtype=np.int64)
                in_part = hashed_part(values, self.split, self.part, self.spec.seed or 0)
            position += rows
            yield file, first, arrays, in_part


def _key_text(values: np.ndarray) -> np.ndarray:
    """A `split.key` feature's values as text, one a record (validate allows shape [] or [1]
    only): an int64 123 hashes as "123", as the cell 123 of a CSV key column does."""
    values = values.reshape(len(values))
    return _text(values) if values.dtype.kind in "OS" else values.astype(np.str_)


# --- the target pass ---------------------------------------------------------------------------

_COUNTED = 1 << 20
"""Class ids are counted per id (`label_counts`) below this (as a table stream's); beyond, not
counted."""


def _target_counts(
    spec: Spec, shards: Shards, targets: dict[str, Columns]
) -> dict[str, np.ndarray] | None:
    """The records of the part per class id (`np.bincount`) of each integer target (an int64
    feature of one value a record), reading the target features alone; a negative id of an
    output trained with a crossentropy is refused at its shard and record. Float targets are
    values: not counted."""
    counted = {
        key: name
        for key, name in targets.items()
        if isinstance(name, str)
        and shards.features[name].dtype == "int64"
        and math.prod(shards.features[name].shape) == 1
    }
    if not counted:
        return None
    totals: dict[str, np.ndarray | None] = {k: np.zeros(0, np.int64) for k in counted}
    for file, first, arrays, in_part in shards.batches(list(dict.fromkeys(counted.values()))):
        for key, name in counted.items():
            ids = arrays[name].reshape(-1)
            rows = np.flatnonzero(in_part) if in_part is not None else np.arange(len(ids))
            ids = ids[rows]
            negative = np.flatnonzero(ids < 0)
            if len(negative) and loss_kind(spec, key):
                at = int(negative[0])
                raise DataError(
                    f"record {first + int(rows[at])} (counting from 0): class id {ids[at]} in "
                    f"feature '{name}' is negative: class ids count from 0",
                    file,
                )
            totals[key] = _counted(totals[key], ids)
    found = {key: counts for key, counts in totals.items() if counts is not None and len(counts)}
    return found or None


def _counted(total: np.ndarray | None, ids: np.ndarray) -> np.ndarray | None:
    """`total` (rows per id so far) with `ids` counted; `None` where ids are not countable
    (negative: values, not classes; or beyond `_COUNTED`)."""
    if total is None or not len(ids):
        return total
    if ids.min() < 0 or ids.max() >= _COUNTED:
        return None
    counts = np.bincount(ids, minlength=len(total))
    counts[: len(total)] += total
    return counts


# --- reading the records -----------------------------------------------------------------------


def _feature_spec(features: dict[str, FeatureSpec]) -> dict[str, Any]:
    import tensorflow as tf

    out = {}
    for name, feature in features.items():
        dtype = {"float32": tf.float32, "int64": tf.int64, STRING: tf.string}[feature.dtype]
        default = None
        if feature.default is not None:
            default = np.full(feature.shape, feature.default, dtype=dtype.as_numpy_dtype)
            default = default if feature.dtype != STRING else default.astype(object)
        out[name] = tf.io.FixedLenFeature(feature.shape, dtype, default_value=default)
    return out


def _batches(
    files: list[str], compression: str, features: dict[str, FeatureSpec], data: DataSpec
) -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
    """The parsed records of `files`, in order, in batches of at most `stream.CHUNK_ROWS` (never
    two shards in one): each with its shard and the index of its first record there. Batches
    are parsed `data.parallel` at once, in order; shards are read one after another, so the
    records keep their order (a prediction's row is its record's)."""
    import tensorflow as tf

    spec = _feature_spec(features)
    parallel = tf.data.AUTOTUNE if data.parallel == "autotune" else int(data.parallel)

    def shard(index: Any, file: Any) -> Any:
        records = tf.data.TFRecordDataset(file, compression_type=compression)
        return (
            records.enumerate()
            .batch(stream.CHUNK_ROWS)
            .map(lambda at, batch: (index, at[0], batch))
        )

    indices = tf.data.Dataset.from_tensor_slices(np.arange(len(files), dtype=np.int64))
    shards = tf.data.Dataset.zip(indices, tf.data.Dataset.from_tensor_slices(files))
    batches = shards.flat_map(shard).map(
        lambda index, first, records: (index, first, tf.io.parse_example(records, spec)),
        num_parallel_calls=parallel,
        deterministic=True,
    )
    done = (0, 0)  # the shard and record where the next batch starts
    try:
        for index, first, arrays in batches.prefetch(2).as_numpy_iterator():
            yield files[index], int(first), arrays
            done = (int(index), int(first) + len(next(iter(arrays.values()))))
    except tf.errors.OpError as exc:
        found = locate_record(files, compression, features, *done)
        reason = cause_line(exc).split(": ", 1)[-1]
        raise found or DataError(f"cannot read TFRecord: {reason}", files[done[0]]) from None


def locate_record(
    files: list[str], compression: str, features: dict[str, FeatureSpec], shard: int, record: int
) -> DataError | None:
    """The first record, from record `record` of shard `shard` on, that `tf.io.parse_example`
    refuses: not a `tf.train.Example`, without a required feature, a feature of another type
    or size; or where the file cannot be read. `None` where none is found."""
    import tensorflow as tf

    kinds = {"float32": "float_list", "int64": "int64_list", STRING: "bytes_list"}
    for file in files[shard:]:
        records = tf.data.TFRecordDataset(file, compression_type=compression).skip(record)
        try:
            for i, raw in enumerate(records.as_numpy_iterator(), start=record):
                problem = _record_problem(raw, features, kinds)
                if problem is not None:
                    return DataError(f"record {i} (counting from 0): {problem}", file)
        except tf.errors.OpError as exc:
            reason = cause_line(exc).split(": ", 1)[-1]
            return DataError(
                f"cannot read TFRecord ({reason}): a corrupt or truncated file, or "
                "compressed otherwise than data.tfrecord.compression says",
                file,
            )
        record = 0
    return None


def _record_problem(
    raw: bytes, features: dict[str, FeatureSpec], kinds: dict[str, str]
) -> str | None:
    """What `tf.io.parse_example` refuses in one serialized record, or `None`."""
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    try:
        example = tf.train.Example.FromString(raw)
    except DecodeError:
        return "not a tf.train.Example"
    for name, feature in features.items():
        value = example.features.feature.get(name)
        kind = value.WhichOneof("kind") if value is not None else None
        if kind is None:
            if feature.default is None:
                return (
                    f"no feature '{name}' (required: give it a default in "
                    "data.tfrecord.features to fill it)"
                )
            continue
        if kind != kinds[feature.dtype]:
            return f"feature '{name}' holds a {kind}; data.tfrecord.features says {feature.dtype}"
        size = len(getattr(value, kind).value)
        need = math.prod(feature.shape)
        if size != need:
            return (
                f"feature '{name}' holds {size} value{'s' if size != 1 else ''}; its shape "
                f"{feature.shape} needs {need}"
            )
    return None


def _refuse_non_finite(
    arrays: dict[str, np.ndarray], used: list[str], file: str, first: int
) -> None:
    """A NaN or an infinity in a float feature the model reads is an error at its record."""
    for name in used:
        values = arrays[name]
        if values.dtype.kind != "f":
            continue
        bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
        if bad.any():
            record = first + int(np.flatnonzero(bad)[0])
            raise DataError(
                f"record {record} (counting from 0): non-finite value (NaN or infinity) in "
                f"feature '{name}'",
                file,
            )


def _text(values: np.ndarray) -> np.ndarray:
    """A feature's values with bytes (a string feature's) decoded as UTF-8 text."""
    if values.dtype.kind not in "OS":
        return values
    return np.array(
        [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in values.reshape(-1)],
        dtype=np.str_,
    ).reshape(values.shape)
