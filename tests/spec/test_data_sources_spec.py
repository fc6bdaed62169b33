"""`kerascli validate` on the `data:` sources of issue 10 (folders, TFRecord, Parquet, streams,
splits, augmentation), without TensorFlow: every mistake located at `line:column` with its key
path, what was expected and a did-you-mean, before any data is read.

Each test writes a spec (and the few files it names) into `tmp_path`; `_problems` gives the
lines `load_spec` raises, without the spec file's name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kerascli.spec import SpecError, load_spec
from tests.conftest import SPECS

IRIS = SPECS / "data" / "iris.csv"

# A one-input Sequential model (input shape [4]); `data:` starts on line 8.
MLP = """\
name: t
model:
  sequential:
    input: {shape: [4]}
    layers: [{Dense: {units: 3, activation: softmax}}]
compile: {loss: sparse_categorical_crossentropy}
data:
"""
# An image classifier (input [28, 28, 1]); `data:` starts on line 8.
CNN = MLP.replace("[4]", "[28, 28, 1]").replace("[{Dense", "[Flatten, {Dense")
# A Functional model of two inputs and two outputs; `data:` starts on line 15.
TWO = """\
name: t
model:
  functional:
    inputs:
      image: {shape: [28, 28, 1]}
      extra: {shape: [4]}
    layers:
      flat: {Flatten: {}, from: image}
      joined: {Concatenate: {}, from: [flat, extra]}
      digit: {Dense: {units: 10, activation: softmax}, from: joined}
      size: {Dense: {units: 1}, from: joined}
    outputs: [digit, size]
compile: {loss: {digit: sparse_categorical_crossentropy, size: mse}}
data:
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(tmp_path: Path, text: str) -> list[str]:
    """What `load_spec` reports for spec `text`: `line:col: key.path: message` each."""
    path = _write(tmp_path, text)
    with pytest.raises(SpecError) as raised:
        load_spec(path)
    return [str(p).removeprefix(f"{path}:") for p in raised.value.problems]


def _valid(tmp_path: Path, text: str) -> None:
    load_spec(_write(tmp_path, text))  # no false alarm


@pytest.fixture
def iris(tmp_path: Path) -> Path:
    return Path(shutil.copy(IRIS, tmp_path / "iris.csv"))


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    """An image folder: a subfolder per class (the files are not read by validate)."""
    for label in ("0", "1"):
        (tmp_path / "digits" / label).mkdir(parents=True)
        (tmp_path / "digits" / label / "a.png").write_bytes(b"")
    return tmp_path / "digits"


@pytest.fixture
def shards(tmp_path: Path) -> Path:
    """Two TFRecord shards (empty: validate reads no record)."""
    (tmp_path / "shards").mkdir()
    for i in range(2):
        (tmp_path / "shards" / f"part-{i}.tfrecord").write_bytes(b"")
    return tmp_path / "shards"


# --- 1. a section that does not fit the source's format ---------------------------------------


def test_tfrecord_section_on_a_csv_file(tmp_path: Path, iris: Path) -> None:
    text = (
        MLP
        + "  path: iris.csv\n  target: species\n  tfrecord:\n    features: {x: {dtype: float32}}\n"
    )
    assert _problems(tmp_path, text)[0] == (
        "10:3: data.tfrecord: data.tfrecord parses TFRecord shards, but data.path is a CSV file"
        " (by its extension): set data.format: tfrecord, or remove it"
    )


def test_text_section_with_another_format(tmp_path: Path, iris: Path) -> None:
    text = MLP + "  path: iris.csv\n  target: species\n  format: csv\n  text: {max_length: 100}\n"
    assert _problems(tmp_path, text) == [
        "11:3: data.text: data.text reads a text folder, but data.path is a CSV file (by"
        " data.format): set data.format: text, or remove it"
    ]


def test_images_section_on_a_csv_file_without_column(tmp_path: Path, iris: Path) -> None:
    text = CNN + "  path: iris.csv\n  images: {image_size: [28, 28], color_mode: grayscale}\n"
    assert _problems(tmp_path, text) == [
        f"8:9: data.path: not a folder: {iris}",
        "9:3: data.images: data.images reads an image folder, but data.path is a CSV file (by"
        " its extension): give data.images.column (the column of image paths), or set"
        " data.format: images",
    ]


def test_image_column_needs_a_table(tmp_path: Path) -> None:
    (tmp_path / "x.npz").write_bytes(b"")
    text = CNN + "  path: x.npz\n  features: x\n  images: {image_size: [28, 28], column: file}\n"
    assert _problems(tmp_path, text)[:2] == [
        "10:34: data.images.column: data.images.column reads image paths from a column of a"
        " CSV/TSV/Parquet file, but data.path is an NPZ file (by its extension)",
        "9:3: data.features: image paths in a column give the model's input: remove data.features",
    ]


def test_columns_and_missing_by_column_need_a_table(tmp_path: Path) -> None:
    (tmp_path / "x.npz").write_bytes(b"")
    text = MLP + "  path: x.npz\n  features: x\n  columns: {x: float32}\n  missing: {x: 0}\n"
    assert _problems(tmp_path, text) == [
        "10:3: data.columns: data.columns types the columns of a CSV/TSV/Parquet table;"
        " data.path is an NPZ file (by its extension)",
        "11:12: data.missing: missing values by column apply to a CSV/TSV/Parquet table;"
        " data.path is an NPZ file (by its extension)",
    ]


def test_npz_does_not_stream(tmp_path: Path) -> None:
    (tmp_path / "x.npz").write_bytes(b"")
    text = MLP + "  path: x.npz\n  features: x\n  target: y\n  stream: true\n"
    assert _problems(tmp_path, text) == [
        "11:11: data.stream: cannot stream an NPZ file (a zip of whole arrays, read into"
        " memory): remove data.stream, or save the data as NPY, Parquet or TFRecord to stream it"
    ]
    text = MLP + "  path: '*.npz'\n  features: x\n  target: y\n"
    assert _problems(tmp_path, text) == [
        "8:9: data.path: cannot stream NPZ files (zips of whole arrays, read into memory): give"
        " one local NPZ file, or save the data as NPY, Parquet or TFRecord to stream it"
    ]


def test_tfrecord_needs_its_feature_spec(tmp_path: Path, shards: Path) -> None:
    text = MLP + "  path: shards/*.tfrecord\n  features: x\n  target: y\n"
    assert _problems(tmp_path, text) == [
        "7:1: data: TFRecord shards need data.tfrecord.features: each feature's dtype and"
        " shape, e.g. {pixels: {dtype: float32, shape: [64]}, label: {dtype: int64}}"
    ]


def test_image_format_needs_its_section(tmp_path: Path, digits: Path) -> None:
    assert _problems(tmp_path, CNN + "  path: digits\n  format: images\n") == [
        "7:1: data: an image folder needs data.images: {image_size: [h, w]}"
    ]


# --- 2. image and text folders -----------------------------------------------------------------


FOLDER = "  path: digits\n  images: {image_size: [28, 28], color_mode: grayscale}\n"


def test_an_image_folder_validates(tmp_path: Path, digits: Path) -> None:
    _valid(tmp_path, CNN + FOLDER)
    free = CNN.replace("[28, 28, 1]", "[null, null, 1]")  # a free dimension takes any size
    _valid(tmp_path, free + FOLDER + "  split: {validation: 0.2, stratify: true}\n")


def test_a_folder_gives_input_and_target(tmp_path: Path, digits: Path) -> None:
    text = CNN + FOLDER + "  features: pixels\n  target: label\n  sample_weight: w\n"
    assert _problems(tmp_path, text) == [
        "10:3: data.features: a folder gives the model's input and labels: remove data.features",
        "12:3: data.sample_weight: a folder gives the model's input and labels: remove"
        " data.sample_weight",
        "11:3: data.target: a folder gives the model's input and labels: remove data.target",
    ]


def test_a_folder_feeds_one_input_and_one_output(tmp_path: Path, digits: Path) -> None:
    assert _problems(tmp_path, TWO + FOLDER) == [
        "14:1: data: a folder feeds one model input; the model has inputs image, extra",
        "14:1: data: a folder gives one target; the model has outputs digit, size",
    ]


def test_image_size_and_color_mode_against_the_input_shape(tmp_path: Path, digits: Path) -> None:
    text = CNN + "  path: digits\n  images: {image_size: [32, 32], color_mode: grayscale}\n"
    assert _problems(tmp_path, text) == [
        "9:24: data.images.image_size: data.images.image_size [32, 32] makes images of shape"
        " [32, 32, 1]; the model input has shape [28, 28, 1]: give image_size [28, 28]"
    ]
    text = CNN + "  path: digits\n  images: {image_size: [28, 28]}\n"  # rgb by default
    assert _problems(tmp_path, text) == [
        "9:11: data.images.color_mode: color_mode rgb makes images of 3 channels; the model"
        " input has shape [28, 28, 1]: give color_mode grayscale"
    ]
    text = CNN.replace("[28, 28, 1]", "[784]") + FOLDER
    assert _problems(tmp_path, text) == [
        "9:24: data.images.image_size: images are [28, 28, 1] (height, width, channels:"
        " data.images.image_size and color_mode); the model input has shape [784]"
    ]
    text = CNN.replace("[28, 28, 1]", "[28, 28, 1], dtype: string") + FOLDER
    assert _problems(tmp_path, text) == [
        "4:12: model.sequential.input: the model input has dtype string; images feed a number input"
    ]


def test_a_text_folder_feeds_a_string_input(tmp_path: Path, digits: Path) -> None:
    text = MLP.replace("[4]", "[1]") + "  path: digits\n  text: {max_length: 200}\n"
    assert _problems(tmp_path, text) == [
        "4:12: model.sequential.input: a text folder feeds each file's text to a string input:"
        " give the model input shape [] or [1] and dtype string (it has shape [1], dtype"
        " float32)"
    ]
    _valid(tmp_path, text.replace("{shape: [1]}", "{shape: [1], dtype: string}"))


# --- 3. TFRecord features ----------------------------------------------------------------------


TFRECORD = """\
  path: shards/*.tfrecord
  tfrecord:
    features:
      pixels: {dtype: float32, shape: [4]}
      label: {dtype: int64}
      name: {dtype: string}
      weight: {dtype: float32, default: 1.0}
"""


def test_tfrecord_features_validate(tmp_path: Path, shards: Path) -> None:
    _valid(
        tmp_path, MLP + TFRECORD + "  features: pixels\n  target: label\n  sample_weight: weight\n"
    )


def test_tfrecord_names_declared_features(tmp_path: Path, shards: Path) -> None:
    text = MLP + TFRECORD + "  features: pixel\n  target: labels\n  sample_weight: wieght\n"
    assert _problems(tmp_path, text) == [
        "15:13: data.features: no feature 'pixel' in data.tfrecord.features (did you mean"
        " 'pixels'?)",
        "16:11: data.target: no feature 'labels' in data.tfrecord.features (did you mean 'label'?)",
        "17:18: data.sample_weight: no feature 'wieght' in data.tfrecord.features (did you"
        " mean 'weight'?)",
    ]


def test_tfrecord_feature_shape_fills_the_input(tmp_path: Path, shards: Path) -> None:
    text = MLP.replace("[4]", "[8]") + TFRECORD + "  features: pixels\n  target: label\n"
    assert _problems(tmp_path, text) == [
        "15:13: data.features: feature 'pixels' of shape [4] holds 4 values; the input of"
        " shape [8] needs 8"
    ]


def test_tfrecord_string_feature_and_target(tmp_path: Path, shards: Path) -> None:
    text = MLP + TFRECORD + "  features: name\n  target: name\n"
    assert _problems(tmp_path, text) == [
        "15:13: data.features: feature 'name' holds strings, but the input has dtype float32"
        " (strings feed an input of dtype: string)",
        "16:11: data.target: feature 'name' holds strings: a target is numbers (class ids as"
        " int64, values as float32)",
    ]


def test_tfrecord_default_fits_its_type(tmp_path: Path, shards: Path) -> None:
    text = (
        MLP
        + TFRECORD.replace("default: 1.0", "default: heavy")
        + ("  features: pixels\n  target: label\n")
    )
    assert _problems(tmp_path, text) == [
        "14:41: data.tfrecord.features.weight.default: the default of a float32 feature must be"
        " a number, got 'heavy'"
    ]


# --- 4. column names against the header ---------------------------------------------------------


def test_every_column_name_is_in_the_header(tmp_path: Path, iris: Path) -> None:
    text = MLP + (
        "  path: iris.csv\n"
        "  target: species\n"
        "  stream: true\n"
        "  sample_weight: sepal_lenght\n"
        "  columns: {specie: string}\n"
        "  missing: {petal_widht: 0}\n"
        "  split: {validation: 0.2, key: Species}\n"
    )
    assert _problems(tmp_path, text) == [
        "11:18: data.sample_weight: no column 'sepal_lenght' in iris.csv (did you mean"
        " 'sepal_length' or 'petal_length' or 'sepal_width'?)",
        "14:33: data.split.key: no column 'Species' in iris.csv (did you mean 'species'?)",
        "12:13: data.columns.specie: no column 'specie' in iris.csv (did you mean 'species'?)",
        "13:13: data.missing.petal_widht: no column 'petal_widht' in iris.csv (did you mean"
        " 'petal_width' or 'sepal_width' or 'petal_length'?)",
    ]


def test_image_column_is_in_the_header(tmp_path: Path) -> None:
    (tmp_path / "files.csv").write_text("file,label\na.png,0\n", encoding="utf-8")
    text = CNN + (
        "  path: files.csv\n"
        "  target: label\n"
        "  images: {image_size: [28, 28], color_mode: grayscale, column: files}\n"
    )
    assert _problems(tmp_path, text) == [
        "10:65: data.images.column: no column 'files' in files.csv (did you mean 'file'?)"
    ]
    _valid(tmp_path, text.replace("column: files", "column: file"))
    stratified = (
        text.replace("column: files", "column: file") + "  split: {test: 0.5, stratify: true}\n"
    )
    _valid(tmp_path, stratified)  # the paths are listed, and split as a folder's files


# --- 5. split ----------------------------------------------------------------------------------


def test_a_table_stream_cannot_stratify(tmp_path: Path, iris: Path) -> None:
    text = MLP + "  path: iris.csv\n  target: species\n  stream: true\n"
    text += "  split: {validation: 0.2, stratify: true}\n"
    assert _problems(tmp_path, text) == [
        "11:38: data.split.stratify: a stream splits by hash; stratify needs data in memory or"
        " a folder: remove stratify (a hash split keeps class proportions in expectation)"
    ]


def test_key_and_by_file_apply_to_streams(tmp_path: Path, iris: Path) -> None:
    text = MLP + "  path: iris.csv\n  target: species\n  split: {validation: 0.2, key: species}\n"
    assert _problems(tmp_path, text) == [
        "10:28: data.split.key: split.key applies to a stream (split by hash); data in memory"
        " is split by seeded rows: remove split.key, or set data.stream: true"
    ]
    text = text.replace("key: species", "by_file: true").replace(
        "  target", "  stream: true\n  target"
    )
    assert _problems(tmp_path, text) == [
        "11:28: data.split.by_file: split.by_file splits the files of a glob; data.path is one file"
    ]


def test_a_folder_splits_its_listing(tmp_path: Path, digits: Path) -> None:
    text = CNN + FOLDER + "  split: {validation: 0.2, by_file: true}\n"
    assert _problems(tmp_path, text) == [
        "10:28: data.split.by_file: a folder (or image paths) is split by its seeded listing:"
        " remove split.by_file"
    ]


def test_split_by_file_of_shards(tmp_path: Path, shards: Path) -> None:
    text = MLP + TFRECORD + "  features: pixels\n  target: label\n"
    _valid(tmp_path, text + "  split: {validation: 0.5, by_file: true}\n")
    assert _problems(tmp_path, text + "  split: {validation: 0.5, key: nmae}\n") == [
        "17:33: data.split.key: no feature 'nmae' in data.tfrecord.features (did you mean 'name'?)"
    ]


# --- 6. augment ---------------------------------------------------------------------------------


def test_augment_layers_are_checked_like_model_layers(tmp_path: Path, digits: Path) -> None:
    text = (
        CNN
        + FOLDER
        + (
            "  augment:\n"
            "    - RandomFlp: {mode: horizontal}\n"
            "    - RandomRotation: {factr: 0.1}\n"
            "    - ops.add\n"
        )
    )
    assert _problems(tmp_path, text) == [
        "11:7: data.augment[0].RandomFlp: unknown layer 'RandomFlp' (did you mean"
        " 'RandomFlip' or 'RandomCrop' or 'RandomHue'?)",
        "12:24: data.augment[1].RandomRotation.factr: unknown argument 'factr' for"
        " RandomRotation (did you mean 'factor'?)",
        "13:7: data.augment[2]: ops.add is a keras.ops function: it needs a Functional"
        " node with `from`",
    ]
    _valid(tmp_path, CNN + FOLDER + "  augment: {RandomFlip: {mode: horizontal}}\n")


def test_augment_by_input_name(tmp_path: Path, iris: Path) -> None:
    data = "  path: iris.csv\n  inputs: {image: [sepal_length], extra: [petal_width]}\n"
    data += "  outputs: {digit: species, size: sepal_width}\n"
    text = TWO + data + "  augment: {imag: [RandomFlip]}\n"
    assert _problems(tmp_path, text)[0] == (
        "18:13: data.augment.imag: 'imag' is not a model input (did you mean 'image'?); inputs:"
        " image, extra"
    )
    text = TWO + data + "  augment: [RandomFlip]\n"
    assert _problems(tmp_path, text)[0] == (
        "18:3: data.augment: the model has inputs image, extra: give the layers of each by"
        " input name"
    )


def test_augment_of_a_one_input_model_is_a_list(tmp_path: Path, digits: Path) -> None:
    text = CNN + FOLDER + "  augment: {image: [RandomFlip]}\n"
    assert _problems(tmp_path, text) == [
        "10:13: data.augment.image: the model has one input: give data.augment a list of layers"
    ]


# --- 7. sources that are not there -------------------------------------------------------------


def test_glob_that_matches_nothing(tmp_path: Path) -> None:
    text = MLP + "  path: shards/*.csv\n  target: species\n"
    assert _problems(tmp_path, text) == [f"8:9: data.path: no file matches {tmp_path}/shards/*.csv"]


def test_folder_not_found(tmp_path: Path) -> None:
    text = CNN + FOLDER.replace("digits", "digitz")
    assert _problems(tmp_path, text) == [f"8:9: data.path: folder not found: {tmp_path}/digitz"]


def test_a_folder_without_images_or_text(tmp_path: Path, digits: Path) -> None:
    text = CNN + "  path: digits\n  target: label\n"
    assert _problems(tmp_path, text) == [
        f"8:9: data.path: a folder, not a data file: {digits} (an image or text folder needs"
        " data.images or data.text)"
    ]


def test_a_format_nothing_tells(tmp_path: Path) -> None:
    (tmp_path / "data.bin").write_bytes(b"")
    text = MLP + "  path: data.bin\n  target: species\n"
    assert _problems(tmp_path, text) == [
        "8:9: data.path: cannot tell the format from the extension; set data.format"
    ]


def test_validate_exits_2_with_located_lines(cli, tmp_path: Path, digits: Path) -> None:
    spec = _write(tmp_path, CNN + FOLDER + "  augment: [RandomFlp]\n")
    result = cli("validate", spec)
    assert result.code == 2
    assert result.out == ""
    assert result.err.splitlines() == [
        f"{spec}:10:13: data.augment[0]: unknown layer 'RandomFlp' (did you mean 'RandomFlip'"
        " or 'RandomCrop' or 'RandomHue'?)",
        "1 problem in 1 of 1 spec(s)",
    ]


def test_streams_and_remote_sources_validate(tmp_path: Path, iris: Path) -> None:
    """No false alarm: a stream split by a key, shards split by file, a remote path (never
    looked for on the local disk)."""
    _valid(
        tmp_path,
        MLP + "  path: iris.csv\n  target: species\n  stream: true\n"
        "  split: {validation: 0.2, key: species}\n",
    )
    (tmp_path / "shards").mkdir()
    for i in range(2):
        shutil.copy(IRIS, tmp_path / "shards" / f"part-{i}.csv")
    _valid(
        tmp_path,
        MLP + "  path: shards/*.csv\n  target: species\n"
        "  split: {validation: 0.5, by_file: true}\n",
    )
    _valid(
        tmp_path,
        MLP
        + TFRECORD.replace("shards/*", "gs://bucket/shards/*")
        + "  features: pixels\n  target: label\n",
    )


def test_parquet_column_names(tmp_path: Path) -> None:
    """A Parquet file's columns are checked as a CSV's (`datafile.data_header` reads its
    schema)."""
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    table = pyarrow.table({"a": [1.0], "b": [2.0], "c": [3.0], "d": [4.0], "label": [0]})
    pq.write_table(table, tmp_path / "t.parquet")
    text = MLP + "  path: t.parquet\n  features: [a, b, c, d]\n  target: lable\n"
    assert _problems(tmp_path, text) == [
        "10:11: data.target: no column 'lable' in t.parquet (did you mean 'label'?)"
    ]


def test_columns_types_only_a_streamed_table(tmp_path: Path, iris: Path) -> None:
    """In memory a CSV's numbers and class names are found as they are: `columns` would be
    ignored there, so it is refused rather than silently dropped."""
    text = MLP + "  path: iris.csv\n  target: species\n  columns: {sepal_length: int32}\n"
    assert _problems(tmp_path, text) == [
        "10:3: data.columns: data.columns types the columns of a streamed table; this file is "
        "read into memory (its numbers and class names found as they are): set data.stream: "
        "true, or remove data.columns"
    ]
    _valid(tmp_path, text + "  stream: true\n")


def test_a_column_typed_against_its_input_is_located(tmp_path: Path, iris: Path) -> None:
    text = MLP + (
        "  path: iris.csv\n  target: species\n  stream: true\n  columns: {petal_width: string}\n"
    )
    (problem,) = _problems(tmp_path, text)
    assert problem.startswith("11:26: data.columns.petal_width: column 'petal_width' is typed")
    assert "feeds the input of dtype float32" in problem


def test_a_split_key_feature_holds_one_value_per_record(tmp_path: Path, shards: Path) -> None:
    """A key of several values a record would hash a 2-D array: refused before any read."""
    text = MLP + TFRECORD + "  features: pixels\n  target: label\n"
    assert _problems(tmp_path, text + "  split: {validation: 0.5, key: pixels}\n") == [
        "17:33: data.split.key: feature 'pixels' of shape [4] holds 4 values a record; a key"
        " holds one value per record (shape [] or [1])"
    ]
    _valid(tmp_path, text + "  split: {validation: 0.5, key: name}\n")
    one = text.replace("label: {dtype: int64}", "label: {dtype: int64, shape: [1]}")
    _valid(tmp_path, one + "  split: {validation: 0.5, key: label}\n")


def test_a_remote_table_of_image_paths_is_refused(tmp_path: Path) -> None:
    text = CNN + "  path: gs://bucket/list.csv\n  target: label\n"
    text += "  images: {image_size: [28, 28], color_mode: grayscale, column: file}\n"
    assert _problems(tmp_path, text) == [
        "8:9: data.path: a table of image paths (data.images.column) is read from the local "
        "disk: copy it here (the images it lists may stay remote only as a folder or glob source)"
    ]


def test_a_class_named_twice_is_refused(tmp_path: Path, digits: Path) -> None:
    text = CNN + "  path: digits\n  images: {image_size: [28, 28], color_mode: grayscale,"
    text += " class_names: ['0', '1', '0']}\n"
    (problem,) = _problems(tmp_path, text)
    assert "data.images.class_names: class '0' given twice: each class once" in problem
