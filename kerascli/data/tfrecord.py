"""TFRecord shards of `tf.train.Example`s as a `Stream`: the files of a source (a file, a glob
of shards, sorted; a remote path) read in order, records parsed in batches by
`tf.io.parse_example` with the `tf.io.FixedLenFeature`s `data.tfrecord.features` declares.

`features`, `target`, `inputs`, `outputs` and `sample_weight` name features, as they name the
arrays of an NPZ file: each batch is a `Table` of arrays made model-ready by
`model_arrays.split_of_table` (its casts, shapes and messages). A target holds numbers (class
ids as int64, or float32 values). What TensorFlow refuses (a record without a required
feature, a feature of another size or type, a corrupt file) is found again by reading the
records one by one (`locate_record`), and reported at its shard and record.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from kerascli.data import stream
from kerascli.data.files import part_files
from kerascli.data.model_arrays import STRING, located, split_of_table
from kerascli.data.partition import hashed_part
from kerascli.data.stream import Chunk, Stream
from kerascli.data.table import Table
from kerascli.spec.data_spec import FeatureSpec
from kerascli.spec.facts import input_columns, inputs_by_name
from kerascli.spec.models import DataSpec, Spec
from kerascli.spec.problems import DataError, KeyPath, cause_line

"""Records a chunk holds at most (a test sets fewer to read a small file in several chunks)."""


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
    split `part` (by the hash of their position over the sorted shards, of the `split.key`
    feature, or of the shard's name with `by_file`); each chunk's `kept` the features `keep`."""
    data = spec.data or DataSpec(path=source)
    declared = _declared(spec, data)
    used = _used_features(spec, data, declared, require_target)
    for name in keep:
        if name not in declared:
            raise DataError(f"--keep: no feature '{name}' in data.tfrecord.features", source)
    split = data.split
    key = split.key if split is not None and part is not None else None
    by_rows = part is not None and split is not None and not split.by_file
    parsed = list(dict.fromkeys([*used, *keep, *([key] if key else [])]))
    files = part_files(spec, data, source, part)
    assert data.tfrecord is not None
    compression = data.tfrecord.compression or ""

    def chunks() -> Iterator[Chunk]:
        position = 0  # of a record over every shard, for the hash of rows
        for file, first, arrays in _batches(files, compression, {n: declared[n] for n in parsed}):
            rows = len(next(iter(arrays.values())))
            _refuse_non_finite(arrays, used, file, first)
            table = Table(file, "tfrecord", columns=arrays, positions=range(first, first + rows))
            if by_rows and split is not None and part is not None:
                values = _text(arrays[key]) if key else np.arange(position, position + rows)
                table = table.take(np.flatnonzero(hashed_part(values, split, part, spec.seed or 0)))
            position += rows
            if not table.rows:
                continue
            result = split_of_table(spec, table, classes, require_target, fixed_classes)
            kept = {name: _text(table.columns[name]) for name in keep}
            yield Chunk(result, kept)

    return Stream(chunks, what=source)


def _declared(spec: Spec, data: DataSpec) -> dict[str, FeatureSpec]:
    """The features `data.tfrecord` declares, each default fitting its dtype."""
    if data.tfrecord is None:
        message = "a TFRecord source needs data.tfrecord.features: each feature's dtype and shape"
        raise located(spec, ("data",), message)
    for name, feature in data.tfrecord.features.items():
        default = feature.default
        if default is None:
            continue
        fits = (
            isinstance(default, str)
            if feature.dtype == STRING
            else not isinstance(default, str)
            and (feature.dtype == "float32" or float(default).is_integer())
        )
        if not fits:
            path: KeyPath = ("data", "tfrecord", "features", name, "default")
            raise located(spec, path, f"default {default!r} is no {feature.dtype} value")
    return data.tfrecord.features


def _used_features(
    spec: Spec, data: DataSpec, declared: dict[str, FeatureSpec], require_target: bool
) -> list[str]:
    """The features the model reads, each declared, a string feeding a `string` input only,
    a target or sample weight of numbers."""
    named: list[tuple[str, KeyPath, str | None]] = []  # feature, where, the input's dtype
    inputs = inputs_by_name(spec)
    for bound in input_columns(spec, None):
        listed = [bound.columns] if isinstance(bound.columns, str) else bound.columns
        for i, name in enumerate(listed):
            path = bound.path if isinstance(bound.columns, str) else (*bound.path, i)
            named.append((name, path, inputs[bound.name].dtype))
    if require_target:
        targets: dict[Any, Any] = (
            {("data", "outputs", key): value for key, value in data.outputs.items()}
            if data.outputs is not None
            else {("data", "target"): data.target}
        )
        for at, value in targets.items():
            for name in [value] if isinstance(value, str) else value or []:
                named.append((name, at, None))
        if data.sample_weight is not None:
            named.append((data.sample_weight, ("data", "sample_weight"), None))
    for name, path, dtype in named:
        feature = declared.get(name)
        if feature is None:
            message = (
                f"no feature '{name}' in data.tfrecord.features (declared: {', '.join(declared)})"
            )
            raise located(spec, path, message)
        if (feature.dtype == STRING) != (dtype == STRING):
            what = f"feeds an input of dtype {dtype}" if dtype else "is a target or a weight"
            rule = (
                "a string feature feeds a `dtype: string` input; targets and weights are numbers "
                "(class ids as int64, or float32)"
            )
            where: KeyPath = ("data", "tfrecord", "features", name, "dtype")
            raise located(spec, where, f"feature '{name}' ({feature.dtype}) {what}: {rule}")
    return list(dict.fromkeys(name for name, _, _ in named))


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
    files: list[str], compression: str, features: dict[str, FeatureSpec]
) -> Iterator[tuple[str, int, dict[str, np.ndarray]]]:
    """The parsed records of `files`, in order, in batches of at most `stream.CHUNK_ROWS` (never two
    shards in one): each with its shard and the index of its first record there."""
    import tensorflow as tf

    spec = _feature_spec(features)

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
        num_parallel_calls=tf.data.AUTOTUNE,
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
