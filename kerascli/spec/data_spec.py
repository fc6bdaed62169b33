"""The `data:` section of a spec: where the data comes from (files, globs, image and text folders,
Parquet, TFRecord shards), how it is split, and how the tf.data pipeline feeds the model.

Which source a `data:` section reads, and whether it streams, is `kerascli.spec.facts`
(`source_format`, `streams`); the readers are `kerascli.data`.

Long because each key of `data:` is a field with its description (the JSON Schema's and the
editors'), and the sections of each source format are small models of their own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    PositiveInt,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)

from kerascli.spec.calls import LayerCall, Strict

Columns = str | list[str]

COLUMN_TYPES = ("float32", "float64", "int32", "int64", "string")
"""The types a column of a streamed CSV/TSV or Parquet file is read as (`data.columns`)."""
ColumnType = Literal["float32", "float64", "int32", "int64", "string"]


Format = Literal["csv", "tsv", "npz", "npy", "parquet", "tfrecord", "images", "text"]

Interpolation = Literal[
    "bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5", "gaussian", "mitchellcubic"
]


class SplitSpec(Strict):
    """Seeded split of one data source into train / validation / test by fractions."""

    validation: float = Field(
        0.0, ge=0.0, lt=1.0, description="Fraction for validation. Defaults to 0.", examples=[0.2]
    )
    test: float = Field(
        0.0,
        ge=0.0,
        lt=1.0,
        description="Fraction held out for testing. Defaults to 0.",
        examples=[0.2],
    )
    stratify: bool = Field(
        False,
        description="Keep class proportions in every split (data in memory, image and text "
        "folders). Defaults to `false`.",
    )
    key: str | None = Field(
        None,
        description="A streamed table: the column whose value's hash puts a row in its split "
        "(the same row, the same split, in any file order). Defaults to the row's position.",
        examples=["id"],
    )
    by_file: bool = Field(
        False,
        description="A streamed source of several files: split whole files (by the hash of "
        "their names), not rows. Defaults to `false`.",
    )

    @model_validator(mode="after")
    def _leaves_training_data(self) -> SplitSpec:
        if self.validation + self.test >= 1.0:
            raise ValueError(
                "validation + test must leave data to train on (sum < 1), "
                f"got {self.validation} + {self.test}"
            )
        if self.key is not None and self.by_file:
            raise ValueError("split by 'key' (rows) or by_file (whole files), not both")
        return self


def _unique(names: list[str] | None) -> list[str] | None:
    """`class_names` without a name twice (a class id each)."""
    if names is not None:
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(
                f"class {', '.join(repr(n) for n in twice)} given twice: each class once"
            )
    return names


class ImagesSpec(Strict):
    """How images are read: an image folder (a subfolder per class), or the image paths in a
    column of a CSV/TSV/Parquet file (`column`). Keras's `image_dataset_from_directory` names."""

    image_size: Annotated[list[PositiveInt], Field(min_length=2, max_length=2)] = Field(
        description="Height and width every image is resized to.", examples=[[224, 224]]
    )
    color_mode: Literal["grayscale", "rgb", "rgba"] = Field(
        "rgb", description="1, 3 or 4 channels. Defaults to `rgb`."
    )
    interpolation: Interpolation = Field(
        "bilinear", description="How images are resized. Defaults to `bilinear`."
    )
    crop_to_aspect_ratio: bool = Field(
        False, description="Crop to the target aspect ratio instead of squashing."
    )
    pad_to_aspect_ratio: bool = Field(
        False, description="Pad to the target aspect ratio instead of squashing."
    )
    class_names: list[str] | None = Field(
        None,
        description="The class subfolders, in class-id order. Defaults to every subfolder, sorted.",
        examples=[["cat", "dog"]],
    )
    follow_links: bool = Field(False, description="Follow symbolic links to subfolders.")
    column: str | None = Field(
        None,
        description="Read the image paths (relative to that file) from this column of a "
        "CSV/TSV/Parquet file instead of a folder.",
        examples=["file"],
    )

    _unique_classes = field_validator("class_names")(_unique)

    @model_validator(mode="after")
    def _one_way_to_fit(self) -> ImagesSpec:
        if self.crop_to_aspect_ratio and self.pad_to_aspect_ratio:
            raise ValueError("crop_to_aspect_ratio or pad_to_aspect_ratio, not both")
        return self


class TextSpec(Strict):
    """How a text folder (a subfolder per class of `.txt` files) is read. Keras's
    `text_dataset_from_directory` names."""

    class_names: list[str] | None = Field(
        None,
        description="The class subfolders, in class-id order. Defaults to every subfolder, sorted.",
    )
    max_length: PositiveInt | None = Field(
        None, description="Keep at most this many characters of each text."
    )

    _unique_classes = field_validator("class_names")(_unique)
    follow_links: bool = Field(False, description="Follow symbolic links to subfolders.")


class FeatureSpec(Strict):
    """One feature of a TFRecord `tf.train.Example` (`tf.io.FixedLenFeature`)."""

    dtype: Literal["float32", "int64", "string"] = Field(description="The feature's type.")
    shape: list[PositiveInt] = Field(
        default_factory=list, description="Values per record, e.g. `[4]`. Defaults to one value."
    )
    default: StrictInt | StrictFloat | StrictStr | None = Field(
        None,
        description="The value of a record without the feature. Defaults to none: required.",
    )


class TFRecordSpec(Strict):
    """How TFRecord shards of `tf.train.Example`s are parsed."""

    features: Annotated[dict[str, FeatureSpec], Field(min_length=1)] = Field(
        description="Each feature's type and shape, by name.",
        examples=[{"pixels": {"dtype": "float32", "shape": [64]}, "label": {"dtype": "int64"}}],
    )
    compression: Literal["GZIP", "ZLIB"] | None = Field(
        None, description="The shards' compression. Defaults to none."
    )


Missing = (
    Literal["error", "drop"]
    | StrictInt
    | StrictFloat
    | dict[str, StrictInt | StrictFloat | StrictStr]
)
"""`data.missing`: strict, so a YAML `true` is refused rather than read as 1."""


class DataSpec(Strict):
    """Where the data comes from and how it feeds the model (built on tf.data).

    Either `path` (one source, split by `split`) or `train` (with optional `validation` and
    `test`). A source is a file, a glob of files (`shards/*.parquet`), a remote path TensorFlow
    reads (`gs://`), or a folder of images or texts. For tables, `features`/`target` are column
    names; for NPZ and TFRecord, array keys or feature names. Multi-input/output models map each
    input and output name with `inputs:` and `outputs:`.
    """

    path: str | None = Field(
        None,
        description="One data source (a file, a glob, a folder), split by `split`; relative "
        "to the spec.",
        examples=["data/iris.csv"],
    )
    train: str | None = Field(
        None, description="The training source (instead of `path`).", examples=["data/train.csv"]
    )
    validation: str | None = Field(
        None, description="The validation source (with `train`).", examples=["data/val.csv"]
    )
    test: str | None = Field(
        None, description="The test source (with `train`).", examples=["data/test.csv"]
    )
    format: Format | None = Field(
        None,
        description="The format. Defaults to the extension (`.parquet`, `.tfrecord`...); a "
        "folder is `images` with an `images:` section, `text` with a `text:` section.",
    )
    stream: bool = Field(
        False,
        description="Stream the data through tf.data instead of reading it into memory "
        "(Parquet, TFRecord, folders, globs and remote paths always stream). Defaults to `false`.",
    )
    features: Columns | None = Field(
        None,
        description="Input columns (tables) or array key / feature (NPZ, TFRecord) of a "
        "one-input model.",
        examples=[["sepal_length", "sepal_width"], "images"],
    )
    target: Columns | None = Field(
        None,
        description="Target column(s) or array key; class names are encoded for you.",
        examples=["species"],
    )
    inputs: dict[str, Columns] | None = Field(
        None,
        description="Columns or array key of each named model input.",
        examples=[{"measures": ["sepal_length", "sepal_width"]}],
    )
    outputs: dict[str, Columns] | None = Field(
        None,
        description="Target column(s) or array key of each named model output.",
        examples=[{"species": "species"}],
    )
    sample_weight: str | None = Field(
        None,
        description="A column (or array key) of per-row weights passed to `fit`.",
        examples=["weight"],
    )
    columns: dict[str, ColumnType] | None = Field(
        None,
        description="A streamed table: the type a column is read as. Defaults to the dtype of "
        "the input it feeds; a target is numbers, or class names where it holds text.",
        examples=[{"zip_code": "string"}],
    )
    missing: Missing = Field(
        "error",
        description="A missing (empty) cell: `error` (at its row), `drop` its row, or a value "
        "to fill in (one for every column, or by column). Defaults to `error`.",
        examples=["drop", 0, {"age": 30}],
    )
    images: ImagesSpec | None = Field(
        None, description="Read images: an image folder, or a column of image paths."
    )
    text: TextSpec | None = Field(None, description="Read a text folder.")
    tfrecord: TFRecordSpec | None = Field(None, description="Parse TFRecord shards.")
    split: SplitSpec | None = Field(
        None,
        description="Seeded fractions of `path` held out for validation and test.",
        examples=[{"validation": 0.2, "test": 0.2, "stratify": True}],
    )
    augment: list[LayerCall] | dict[str, list[LayerCall]] | None = Field(
        None,
        description="Keras preprocessing layers applied to training batches only (a list for "
        "the model's input, or lists by input name).",
        examples=[[{"RandomFlip": {"mode": "horizontal"}}, {"RandomRotation": {"factor": 0.1}}]],
    )
    shuffle: bool | PositiveInt = Field(
        True,
        description="Shuffle the training data; an int sets the buffer size (a table stream's "
        "defaults to 262 144 rows).",
    )
    cache: bool | Literal["memory", "disk"] | None = Field(
        None,
        description="Cache the dataset after its first pass: `memory` (`true`), `disk` (a "
        "temporary file kept for the run), or `false`. Defaults to memory for data read into "
        "memory, none for a stream.",
    )
    parallel: Literal["autotune"] | PositiveInt = Field(
        "autotune",
        description="Images or texts decoded, TFRecord batches parsed, and batches augmented, "
        "at once. Defaults to `autotune`.",
    )
    prefetch: Literal["autotune"] | PositiveInt | Literal[False] = Field(
        "autotune",
        description="Batches to prefetch, `autotune` or `false`. Defaults to `autotune`.",
    )
    adapt_rows: PositiveInt | None = Field(
        100_000,
        description="Rows of training data that preprocessing layers adapt on (the first of "
        "a seeded shuffle). `null`: every row. Defaults to 100 000.",
    )

    @field_validator("augment", mode="before")
    @classmethod
    def _augment_lists(cls, value: Any) -> Any:
        if (
            isinstance(value, dict)
            and len(value) == 1
            and not isinstance(next(iter(value.values())), list)
        ):
            return [value]  # one layer call written without a list
        return value

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.path is None) == (self.train is None):
            raise ValueError("give exactly one of 'path' (split by fractions) or 'train'")
        if self.path is not None and (self.validation or self.test):
            raise ValueError("with 'path', use 'split' for validation/test, not file names")
        if self.train is not None and self.split is not None:
            raise ValueError("'split' applies to 'path'; with 'train' give validation/test files")
        if self.features is not None and self.inputs is not None:
            raise ValueError("give 'features' (one input) or 'inputs' (named inputs), not both")
        if self.target is not None and self.outputs is not None:
            raise ValueError("give 'target' (one output) or 'outputs' (named outputs), not both")
        readers = [key for key in ("images", "text", "tfrecord") if getattr(self, key)]
        if len(readers) > 1:
            raise ValueError(f"give one of images, text, tfrecord, not {' and '.join(readers)}")
        return self
