"""Image and text folders, unlabeled folders and globs (predict), and image paths in a table's
column, read as streams: rows, labels, class names, splits, decoding, shapes and located errors."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf
import yaml

from kerascli.data import load_data
from kerascli.data.folders import folder_classes, folder_stream
from kerascli.data.partition import split_indices
from kerascli.data.stream import Stream, located_failures
from kerascli.spec import SpecError, load_spec
from kerascli.spec.facts import data_format
from kerascli.spec.problems import DataError

SHAPE = (6, 4, 3)  # the images written: 6 high, 4 wide, RGB


def _pixels(seed: int, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def _png(path: Path, pixels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(pixels).numpy())
    return path


def _image_folder(root: Path, counts: dict[str, int]) -> dict[str, np.ndarray]:
    """`root/<class>/<n>.png` of seeded pixels; the pixels by path relative to `root`."""
    written = {}
    for c, (name, count) in enumerate(counts.items()):
        for n in range(count):
            pixels = _pixels(100 * c + n)
            written[f"{name}/{n}.png"] = pixels
            _png(root / name / f"{n}.png", pixels)
    return written


def _spec(
    tmp_path: Path,
    data: dict[str, Any],
    shape: list[Any] | None = None,
    dtype: str = "float32",
    inputs: int = 1,
) -> Any:
    """A spec of a small classifier on `data`, loaded without the spec checks (so the
    reader's own errors show)."""
    layers = ["Flatten", {"Dense": {"units": 2, "activation": "softmax"}}]
    one = {"shape": list(SHAPE) if shape is None else shape, "dtype": dtype}
    if inputs == 1:
        model = {"sequential": {"input": one, "layers": layers}}
    else:
        model = {
            "functional": {
                "inputs": {f"in{i}": one for i in range(inputs)},
                "layers": {
                    "joined": {"Concatenate": {}, "from": [f"in{i}" for i in range(inputs)]}
                },
                "outputs": ["joined"],
            }
        }
    document = {
        "name": "folders",
        "seed": 3,
        "model": model,
        "compile": {"loss": "sparse_categorical_crossentropy"},
        "data": data,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return load_spec(path, check=False)


def _images(image_size: list[int] | None = None, **more: Any) -> dict[str, Any]:
    return {"image_size": image_size or list(SHAPE[:2]), **more}


def _all(stream: Stream) -> tuple[np.ndarray, np.ndarray | None, dict[str, np.ndarray]]:
    """Every row of a stream's chunks: x, y and the kept columns."""
    chunks = list(stream.chunks())
    x = np.concatenate([c.split.x for c in chunks])
    y = None if chunks[0].split.y is None else np.concatenate([c.split.y for c in chunks])
    kept = {k: np.concatenate([c.kept[k] for c in chunks]) for k in chunks[0].kept}
    return x, y, kept


def _open(spec: Any, source: Path, classes: dict | None = None, **options: Any) -> Stream:
    fmt = data_format(spec.data, str(source))
    return folder_stream(spec, str(source), fmt, classes or {}, **options)


# --- rows, labels, class names ----------------------------------------------------------------


def test_image_folder_rows_labels_and_class_names(tmp_path: Path) -> None:
    written = _image_folder(tmp_path / "pets", {"dog": 2, "cat": 3})
    spec = _spec(tmp_path, {"path": "pets", "images": _images()})
    data = load_data(spec)
    assert data.classes == {"": ["cat", "dog"]}  # subfolders sorted
    train = data.splits["train"]
    assert isinstance(train, Stream) and train.rows == 5 and train.shuffles_itself
    assert train.label_counts is not None
    assert train.label_counts[""].tolist() == [3, 2]
    x, y, _ = _all(train)
    assert x.dtype == np.float32 and x.shape == (5, *SHAPE)
    assert y is not None and y.tolist() == [0, 0, 0, 1, 1]  # file order: by class, then name
    order = ["cat/0.png", "cat/1.png", "cat/2.png", "dog/0.png", "dog/1.png"]
    np.testing.assert_array_equal(x, np.stack([written[p] for p in order]).astype(np.float32))


def test_class_names_set_the_order_and_the_classes_read(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 1, "dog": 2, "owl": 1})
    spec = _spec(tmp_path, {"path": "pets", "images": _images(class_names=["dog", "cat"])})
    data = load_data(spec)
    assert data.classes == {"": ["dog", "cat"]}
    _, y, _ = _all(data.splits["train"])
    assert y is not None and y.tolist() == [0, 0, 1]  # owl is not read


def test_files_are_found_recursively_and_hidden_ones_left_out(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 1, "dog": 1})
    _png(tmp_path / "pets" / "cat" / "more" / "deep.PNG", _pixels(9))
    _png(tmp_path / "pets" / "cat" / ".hidden" / "x.png", _pixels(9))
    (tmp_path / "pets" / "cat" / ".DS_Store").write_bytes(b"junk")
    (tmp_path / "pets" / "cat" / "notes.md").write_text("not an image")
    spec = _spec(tmp_path, {"path": "pets", "images": _images()})
    stream = _open(spec, tmp_path / "pets", keep=["path"])
    _, _, kept = _all(stream)
    assert kept["path"].tolist() == ["cat/0.png", "cat/more/deep.PNG", "dog/0.png"]


def test_elements_shuffle_seeded_when_training(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 6, "dog": 6})
    spec = _spec(tmp_path, {"path": "pets", "images": _images()})
    stream = _open(spec, tmp_path / "pets")

    def labels(training: bool, seed: int | None) -> list[int]:
        return [int(y) for _, y in stream.dataset(training, seed).as_numpy_iterator()]

    assert labels(False, None) == [0] * 6 + [1] * 6
    shuffled = labels(True, 5)
    assert sorted(shuffled) == [0] * 6 + [1] * 6 and shuffled != labels(False, None)
    assert labels(True, 5) == shuffled  # the same seed, the same order


# --- splits -----------------------------------------------------------------------------------


def test_split_is_split_indices_of_the_listing_seeded_and_stratified(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 10, "dog": 20})
    split = {"validation": 0.2, "test": 0.2, "stratify": True}
    spec = _spec(tmp_path, {"path": "pets", "images": _images(), "split": split})
    data = load_data(spec)
    sizes = {name: s.rows for name, s in data.splits.items()}
    assert sizes == {"train": 18, "validation": 6, "test": 6}
    labels = np.array([0] * 10 + [1] * 20)
    index = split_indices(30, 0.2, 0.2, 3, labels)
    paths = sorted([f"cat/{n}.png" for n in range(10)] + [f"dog/{n}.png" for n in range(20)])
    for name, part in data.splits.items():
        assert isinstance(part, Stream)
        _, y, _ = _all(part)
        assert y is not None and np.bincount(y).tolist() == [part.rows // 3, 2 * part.rows // 3]
        stream = _open(spec, tmp_path / "pets", {"": ["cat", "dog"]}, part=name, keep=["path"])
        assert _all(stream)[2]["path"].tolist() == [paths[i] for i in index[name]]
    again = load_data(spec)
    for name in sizes:
        np.testing.assert_array_equal(_all(again.splits[name])[0], _all(data.splits[name])[0])


def test_validation_folder_is_encoded_with_the_training_classes(tmp_path: Path) -> None:
    _image_folder(tmp_path / "train", {"cat": 2, "dog": 2})
    _image_folder(tmp_path / "val", {"dog": 2})
    spec = _spec(tmp_path, {"train": "train", "validation": "val", "images": _images()})
    data = load_data(spec)
    _, y, _ = _all(data.splits["validation"])
    assert y is not None and y.tolist() == [1, 1]


# --- located errors ---------------------------------------------------------------------------


def _raises(call: Any) -> str:
    with pytest.raises(SpecError) as info:
        call()
    return str(info.value)


def test_missing_folder_is_named(tmp_path: Path) -> None:
    spec = _spec(tmp_path, {"path": "nowhere", "images": _images()})
    assert _raises(lambda: load_data(spec)) == f"{tmp_path / 'nowhere'}: folder not found"


def test_folder_without_class_subfolders_is_refused(tmp_path: Path) -> None:
    _png(tmp_path / "flat" / "a.png", _pixels(0))
    spec = _spec(tmp_path, {"path": "flat", "images": _images()})
    message = _raises(lambda: load_data(spec))
    assert message.startswith(f"{tmp_path / 'flat'}: no class subfolders")


def test_empty_class_is_named(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 2})
    (tmp_path / "pets" / "dog").mkdir()
    (tmp_path / "pets" / "dog" / "readme.txt").write_text("no images here")
    spec = _spec(tmp_path, {"path": "pets", "images": _images()})
    message = _raises(lambda: load_data(spec))
    assert message == (
        f"{tmp_path / 'pets' / 'dog'}: class 'dog' is empty: no image files "
        "(.jpg, .jpeg, .png, .gif, .bmp)"
    )


def test_class_name_without_its_folder_is_refused(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 1, "dog": 1})
    spec = _spec(tmp_path, {"path": "pets", "images": _images(class_names=["cat", "dgo"])})
    message = _raises(lambda: load_data(spec))
    assert (
        "class 'dgo' of data.images.class_names has no subfolder (did you mean 'dog'?)" in message
    )


def test_a_subfolder_that_is_no_trained_class_is_refused(tmp_path: Path) -> None:
    _image_folder(tmp_path / "train", {"cat": 2, "dog": 2})
    _image_folder(tmp_path / "val", {"cat": 1, "owl": 1})
    spec = _spec(tmp_path, {"train": "train", "validation": "val", "images": _images()})
    message = _raises(lambda: load_data(spec))
    assert message == (
        f"{tmp_path / 'val' / 'owl'}: subfolder 'owl' is not a class the model was trained "
        "with (classes: cat, dog)"
    )


def test_garbage_png_is_named_before_training(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 2, "dog": 2})
    (tmp_path / "pets" / "dog" / "1.png").write_bytes(b"this is no image at all")
    (tmp_path / "pets" / "dog" / "2.png").write_bytes(b"")
    spec = _spec(tmp_path, {"path": "pets", "images": _images()})
    message = _raises(lambda: load_data(spec))
    assert message == (
        f"{tmp_path / 'pets' / 'dog' / '1.png'}: not a JPEG, PNG, GIF or BMP image "
        "(its first bytes are none of theirs)"
    )
    (tmp_path / "pets" / "dog" / "1.png").unlink()
    message = _raises(lambda: load_data(spec))
    assert message == f"{tmp_path / 'pets' / 'dog' / '2.png'}: an empty file, not an image"


def test_truncated_png_is_found_when_it_fails_to_decode(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 3, "dog": 3})
    broken = tmp_path / "pets" / "dog" / "1.png"
    broken.write_bytes(broken.read_bytes()[:30])  # the PNG header: passes the first check
    spec = _spec(tmp_path, {"path": "pets", "images": _images()})
    stream = load_data(spec).splits["train"]
    assert isinstance(stream, Stream)
    expected = f"{broken}: cannot decode the image: "
    assert _raises(lambda: list(stream.chunks())).startswith(expected)
    dataset = stream.dataset(True, 1).batch(2)

    def iterate() -> None:
        with located_failures([stream]):
            for _ in dataset:
                pass

    assert _raises(iterate).startswith(expected)


# --- predict: unlabeled folders and globs -----------------------------------------------------


def test_predict_on_a_folder_of_unlabeled_images(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 1, "dog": 1})
    for n in range(3):
        _png(tmp_path / "new" / f"img{n}.png", _pixels(50 + n))
    spec = _spec(tmp_path, {"path": "pets", "images": _images()})
    classes = {"": ["cat", "dog"]}
    stream = _open(
        spec, tmp_path / "new", classes, require_target=False, fixed_classes=True, keep=["path"]
    )
    x, y, kept = _all(stream)
    assert x.shape == (3, *SHAPE) and y is None
    assert kept["path"].tolist() == ["img0.png", "img1.png", "img2.png"]
    assert stream.dataset(False, None).element_spec.shape == SHAPE  # x alone
    # a folder with class subfolders predicts on every image in them
    stream = _open(spec, tmp_path / "pets", classes, require_target=False, keep=["path"])
    assert _all(stream)[2]["path"].tolist() == ["cat/0.png", "dog/0.png"]


def test_predict_on_a_glob_of_images_or_one_image(tmp_path: Path) -> None:
    for n in range(3):
        _png(tmp_path / "new" / f"img{n}.png", _pixels(n))
    (tmp_path / "new" / "list.txt").write_text("x")
    spec = _spec(tmp_path, {"path": "new", "images": _images()})
    stream = _open(spec, tmp_path / "new" / "img*", require_target=False, keep=["path"])
    assert _all(stream)[2]["path"].tolist() == ["img0.png", "img1.png", "img2.png"]
    message = _raises(lambda: _open(spec, tmp_path / "new" / "img*"))
    assert "a glob of files has no labels" in message
    one = _open(spec, tmp_path / "new" / "img1.png", require_target=False, keep=["path"])
    assert _all(one)[2]["path"].tolist() == ["img1.png"]


# --- image paths in a table's column ----------------------------------------------------------


def _write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_image_paths_in_a_csv_column(tmp_path: Path) -> None:
    written = _image_folder(tmp_path / "img", {"a": 2, "b": 1})
    rows = [["file", "label", "id"], ["img/b/0.png", "owl", "7"], ["img/a/1.png", "cat", "8"]]
    rows.append(["img/a/0.png", "cat", "9"])
    _write_csv(tmp_path / "list.csv", rows)
    data = {"path": "list.csv", "target": "label", "images": _images(column="file")}
    spec = _spec(tmp_path, data)
    classes: dict[str, list[str]] = {}
    stream = folder_stream(spec, str(tmp_path / "list.csv"), "csv", classes, keep=["path", "id"])
    x, y, kept = _all(stream)
    assert classes == {"": ["cat", "owl"]}
    assert y is not None and y.tolist() == [1, 0, 0]
    assert kept["path"].tolist() == ["img/b/0.png", "img/a/1.png", "img/a/0.png"]
    assert kept["id"].tolist() == ["7", "8", "9"]
    np.testing.assert_array_equal(x[1], written["a/1.png"].astype(np.float32))
    assert load_data(spec).splits["train"].rows == 3  # `data.images` streams the table


def test_image_column_in_parquet(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    _image_folder(tmp_path / "img", {"a": 1, "b": 1})
    table = pa.table({"file": ["img/a/0.png", "img/b/0.png"], "label": [1, 0]})
    pq.write_table(table, tmp_path / "list.parquet")
    data = {"path": "list.parquet", "target": "label", "images": _images(column="file")}
    spec = _spec(tmp_path, data)
    stream = folder_stream(spec, str(tmp_path / "list.parquet"), "parquet", {})
    assert _all(stream)[1].tolist() == [1, 0]  # numbers: class ids as they are
    (tmp_path / "list.parquet").write_text("file,label\n")  # not Parquet: named, not a crash
    message = _raises(lambda: folder_stream(spec, str(tmp_path / "list.parquet"), "parquet", {}))
    assert message.startswith(f"{tmp_path / 'list.parquet'}: cannot read Parquet: ")


def test_missing_image_of_a_column_is_located_at_its_row(tmp_path: Path) -> None:
    _image_folder(tmp_path / "img", {"a": 1})
    _write_csv(
        tmp_path / "list.csv", [["file", "label"], ["img/a/0.png", "x"], ["img/a/9.png", "y"]]
    )
    spec = _spec(
        tmp_path, {"path": "list.csv", "target": "label", "images": _images(column="file")}
    )
    message = _raises(lambda: load_data(spec))
    assert message == f"{tmp_path / 'list.csv'}:3: image 'img/a/9.png': image file not found"
    (tmp_path / "img" / "a" / "9.png").write_bytes(b"GIF")
    message = _raises(lambda: load_data(spec))
    assert message.startswith(f"{tmp_path / 'list.csv'}:3: image 'img/a/9.png': not a JPEG")


# --- decoding: channels, resizing -------------------------------------------------------------


@pytest.mark.parametrize(("mode", "channels"), [("grayscale", 1), ("rgb", 3), ("rgba", 4)])
def test_color_mode_gives_its_channels(tmp_path: Path, mode: str, channels: int) -> None:
    rgb = _pixels(1)
    _png(tmp_path / "pets" / "cat" / "rgb.png", rgb)
    _png(tmp_path / "pets" / "cat" / "grey.png", rgb[..., :1])
    spec = _spec(
        tmp_path,
        {"path": "pets", "images": _images(color_mode=mode)},
        shape=[*SHAPE[:2], channels],
    )
    x, _, _ = _all(_open(spec, tmp_path / "pets"))
    assert x.shape == (2, *SHAPE[:2], channels)
    grey, colour = x  # files sorted: grey.png, rgb.png
    if mode == "rgb":
        np.testing.assert_array_equal(colour, rgb)
        np.testing.assert_array_equal(grey, np.repeat(rgb[..., :1], 3, axis=-1))
    if mode == "rgba":
        np.testing.assert_array_equal(colour[..., 3], 255)  # opaque
    if mode == "grayscale":
        np.testing.assert_array_equal(grey[..., 0], rgb[..., 0])
        expected = np.round(rgb.astype(np.float64) @ [0.2989, 0.587, 0.114])
        np.testing.assert_allclose(colour[..., 0], expected, atol=1)


@pytest.mark.parametrize(
    ("options", "check"),
    [
        ({}, "squashed"),
        ({"crop_to_aspect_ratio": True}, "cropped"),
        ({"pad_to_aspect_ratio": True}, "padded"),
    ],
)
def test_resize_squashes_crops_or_pads(tmp_path: Path, options: dict, check: str) -> None:
    wide = np.zeros((4, 8, 3), np.uint8)
    wide[:, :2] = 200  # a bright band at the left edge
    _png(tmp_path / "pets" / "cat" / "wide.png", wide)
    spec = _spec(tmp_path, {"path": "pets", "images": _images([4, 4], **options)}, shape=[4, 4, 3])
    (image,), _, _ = _all(_open(spec, tmp_path / "pets"))
    assert image.shape == (4, 4, 3)
    if check == "squashed":  # the band is half as wide
        assert image[:, 0].min() == 200 and image[:, 2:].max() == 0
    if check == "cropped":  # the centre 4x4: no band
        assert image.max() == 0
    if check == "padded":  # 2 rows of padding above and below the squeezed image
        assert image[0].max() == 0 and image[-1].max() == 0 and image[1:3, 0].min() == 200


@pytest.mark.parametrize(
    "options",
    [
        {"color_mode": "grayscale"},
        {"interpolation": "bicubic", "crop_to_aspect_ratio": True},
        {"interpolation": "nearest", "pad_to_aspect_ratio": True},
    ],
)
def test_pixels_are_those_of_keras_image_dataset_from_directory(
    tmp_path: Path, options: dict[str, Any]
) -> None:
    import keras

    for n in range(3):  # JPEG and PNG, colour, of another size than the target
        pixels = _pixels(n, (9, 14, 3))
        _png(tmp_path / "pets" / "cat" / f"{n}.png", pixels)
        (tmp_path / "pets" / "dog").mkdir(parents=True, exist_ok=True)
        (tmp_path / "pets" / "dog" / f"{n}.jpg").write_bytes(tf.io.encode_jpeg(pixels).numpy())
    channels = 1 if options.get("color_mode") == "grayscale" else 3
    data = {"path": "pets", "images": _images([6, 5], **options)}
    x, y, _ = _all(_open(_spec(tmp_path, data, shape=[6, 5, channels]), tmp_path / "pets"))
    by_keras = keras.utils.image_dataset_from_directory(
        tmp_path / "pets", image_size=(6, 5), shuffle=False, batch_size=8, verbose=False, **options
    )
    images, labels = next(iter(by_keras))
    np.testing.assert_array_equal(x, images.numpy())
    assert y is not None and y.tolist() == labels.numpy().tolist()


def test_jpeg_gif_and_bmp_decode_in_any_color_mode(tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    rgb = _pixels(4)
    folder = tmp_path / "pets" / "cat"
    folder.mkdir(parents=True)
    (folder / "a.jpg").write_bytes(tf.io.encode_jpeg(rgb, quality=100).numpy())
    image.fromarray(rgb).save(folder / "b.gif")
    image.fromarray(rgb).save(folder / "c.bmp")
    for mode, channels in (("grayscale", 1), ("rgba", 4)):  # GIF and BMP store RGB only
        data = {"path": "pets", "images": _images(color_mode=mode)}
        spec = _spec(tmp_path, data, shape=[*SHAPE[:2], channels])
        x, _, _ = _all(_open(spec, tmp_path / "pets"))
        assert x.shape == (3, *SHAPE[:2], channels)
    np.testing.assert_array_equal(x[2, ..., :3], rgb)  # BMP is lossless


def test_follow_links_walks_linked_folders_once(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 1})
    _png(tmp_path / "elsewhere" / "x.png", _pixels(3))
    (tmp_path / "pets" / "cat" / "linked").symlink_to(tmp_path / "elsewhere")
    (tmp_path / "elsewhere" / "loop").symlink_to(tmp_path / "pets")
    for follow, paths in ((False, ["cat/0.png"]), (True, ["cat/0.png", "cat/linked/x.png"])):
        data = {"path": "pets", "images": _images(follow_links=follow)}
        stream = _open(_spec(tmp_path, data), tmp_path / "pets", keep=["path"])
        assert _all(stream)[2]["path"].tolist() == paths


# --- text folders -----------------------------------------------------------------------------


def _text_folder(root: Path) -> None:
    for name, texts in {"ham": ["hello there", "héllo wörld"], "spam": ["buy now!!"]}.items():
        for n, body in enumerate(texts):
            (root / name).mkdir(parents=True, exist_ok=True)
            (root / name / f"{n}.txt").write_text(body, encoding="utf-8")


@pytest.mark.parametrize("shape", [[], [1]])
def test_text_folder_rows_labels_and_max_length(tmp_path: Path, shape: list[int]) -> None:
    _text_folder(tmp_path / "texts")
    (tmp_path / "texts" / "ham" / "skip.md").write_text("not a .txt")
    data = {"path": "texts", "text": {"max_length": 4}}
    spec = _spec(tmp_path, data, shape=shape, dtype="string")
    loaded = load_data(spec)
    assert loaded.classes == {"": ["ham", "spam"]}
    x, y, _ = _all(loaded.splits["train"])
    assert x.shape == (3, *shape)
    assert x.reshape(-1).tolist() == ["hell", "héll", "buy "]  # characters, not bytes
    assert y is not None and y.tolist() == [0, 0, 1]
    element = next(iter(loaded.splits["train"].dataset(False, None)))
    assert element[0].dtype == tf.string and element[0].shape == shape


def test_text_that_is_not_utf8_is_read_with_replacement_characters(tmp_path: Path) -> None:
    (tmp_path / "texts" / "latin1").mkdir(parents=True)
    (tmp_path / "texts" / "latin1" / "0.txt").write_bytes(b"caf\xe9 ok")
    spec = _spec(tmp_path, {"path": "texts", "text": {}}, shape=[], dtype="string")
    x, _, _ = _all(_open(spec, tmp_path / "texts"))
    assert x.tolist() == ["caf\ufffd ok"]


def test_text_folder_needs_a_string_input(tmp_path: Path) -> None:
    _text_folder(tmp_path / "texts")
    spec = _spec(tmp_path, {"path": "texts", "format": "text"}, shape=[4])
    message = _raises(lambda: load_data(spec))
    assert "spec.yaml:" in message
    assert "give the model input shape [] or [1] and dtype string" in message


# --- the model's input ------------------------------------------------------------------------


def test_image_size_must_match_the_model_input(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 1})
    spec = _spec(tmp_path, {"path": "pets", "images": _images([8, 8])})
    message = _raises(lambda: load_data(spec))
    assert f"{tmp_path / 'spec.yaml'}:" in message
    assert "data.images.image_size: data.images.image_size [8, 8] makes images of shape " in message
    assert "the model input has shape [6, 4, 3]: give image_size [6, 4]" in message
    spec = _spec(tmp_path, {"path": "pets", "images": _images(color_mode="grayscale")})
    message = _raises(lambda: load_data(spec))
    assert "color_mode grayscale makes images of 1 channel" in message
    assert "give color_mode rgb" in message


def test_a_model_with_several_inputs_is_refused(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 1})
    spec = _spec(tmp_path, {"path": "pets", "images": _images()}, inputs=2)
    message = _raises(lambda: load_data(spec))
    assert "a folder feeds one model input; the model has inputs in0, in1" in message


def test_a_folder_gives_the_input_and_the_labels(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"cat": 1})
    for key, value in (("target", "label"), ("features", "pixels")):
        spec = _spec(tmp_path, {"path": "pets", "images": _images(), key: value})
        message = _raises(lambda spec=spec: load_data(spec))
        assert f"a folder gives the model's input and labels: remove data.{key}" in message


# --- the classes of a trained model -----------------------------------------------------------


def test_folder_classes_are_the_training_folders(tmp_path: Path) -> None:
    _image_folder(tmp_path / "pets", {"dog": 1, "cat": 1})
    spec = _spec(tmp_path, {"path": "pets", "images": _images()})
    assert folder_classes(spec) == {"": ["cat", "dog"]}
    spec = _spec(tmp_path, {"path": "gone", "images": _images()})
    with pytest.raises(DataError, match="the model's class names are unknown"):
        folder_classes(spec)


def test_remote_folder_and_glob_through_tensorflow_file_systems(tmp_path: Path) -> None:
    """A URL is listed and read by TensorFlow (`ram://` here; `gs://` and `s3://` alike)."""
    root = f"ram://{tmp_path.name}/pets"
    for name in ("cat", "dog"):
        tf.io.gfile.makedirs(f"{root}/{name}/sub")
        for file in ("0.png", "sub/1.png"):
            with tf.io.gfile.GFile(f"{root}/{name}/{file}", "wb") as handle:
                handle.write(tf.io.encode_png(_pixels(0)).numpy())
    spec = _spec(tmp_path, {"path": root, "images": _images()})
    classes: dict[str, list[str]] = {}
    _, y, kept = _all(folder_stream(spec, root, "images", classes, keep=["path"]))
    assert classes == {"": ["cat", "dog"]} and y is not None and y.tolist() == [0, 0, 1, 1]
    assert kept["path"].tolist() == ["cat/0.png", "cat/sub/1.png", "dog/0.png", "dog/sub/1.png"]
    glob = f"{root}/cat/*.png"
    stream = folder_stream(spec, glob, "images", {}, require_target=False, keep=["path"])
    assert _all(stream)[2]["path"].tolist() == ["0.png"]


@pytest.mark.parametrize("cache", ["memory", "disk"])
def test_a_cached_folder_is_shuffled_anew_each_epoch(tmp_path: Path, cache: str) -> None:
    """A cache keeps the decoded images, not the first epoch's order."""
    from kerascli.data.pipeline import make_dataset

    _image_folder(tmp_path / "pets", {"cat": 12, "dog": 12})
    spec = _spec(tmp_path, {"path": "pets", "images": _images(), "cache": cache})
    dataset = make_dataset(_open(spec, tmp_path / "pets"), spec.data, 24, 5, training=True)
    epochs = [[int(v) for v in y] for _, y in dataset.as_numpy_iterator() for _ in [0]]
    epochs += [[int(v) for v in y] for _, y in dataset.as_numpy_iterator()]
    first, second = epochs
    assert sorted(first) == sorted(second) == [0] * 12 + [1] * 12
    assert first != second and first != [0] * 12 + [1] * 12


def test_a_pipe_among_the_images_is_named_not_waited_on(tmp_path: Path) -> None:
    import os

    _image_folder(tmp_path / "pets", {"cat": 2, "dog": 2})
    os.mkfifo(tmp_path / "pets" / "dog" / "p.png")
    spec = _spec(tmp_path, {"path": "pets", "images": _images()})
    message = _raises(lambda: _open(spec, tmp_path / "pets"))
    assert message.startswith(f"{tmp_path / 'pets' / 'dog' / 'p.png'}: not a regular file")


def test_evaluating_reads_every_subfolder_whatever_the_specs_class_names(tmp_path: Path) -> None:
    """With `class_names` in the spec, a folder to evaluate on is still read whole: a subfolder
    the model never saw is refused, a class missing is fine."""
    _image_folder(tmp_path / "extra", {"a": 1, "b": 1, "zz": 1})
    data = {"path": "extra", "images": _images(class_names=["a", "b"])}
    spec = _spec(tmp_path, data)
    known = {"": ["a", "b"]}
    message = _raises(lambda: _open(spec, tmp_path / "extra", known, fixed_classes=True))
    assert "subfolder 'zz' is not a class the model was trained with" in message
    _image_folder(tmp_path / "some", {"b": 2})
    x, y, _ = _all(_open(spec, tmp_path / "some", known, fixed_classes=True))
    assert y is not None and y.tolist() == [1, 1]


def test_a_run_trained_on_an_image_column_predicts(tmp_path: Path) -> None:
    """The run's spec must not gain implied `features` (the images are the input)."""
    from tests.conftest import invoke

    _image_folder(tmp_path / "img", {"a": 2, "b": 2})
    rows = [["file", "label", "id"]]
    rows += [[f"img/{c}/{n}.png", c, f"r{c}{n}"] for c in "ab" for n in range(2)]
    _write_csv(tmp_path / "list.csv", rows)
    document = {
        "name": "column",
        "seed": 1,
        "model": {
            "sequential": {
                "input": {"shape": list(SHAPE)},
                "layers": ["Flatten", {"Dense": {"units": 2, "activation": "softmax"}}],
            }
        },
        "compile": {"loss": "sparse_categorical_crossentropy"},
        "fit": {"epochs": 1},
        "data": {"path": "list.csv", "target": "label", "images": _images(column="file")},
    }
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    trained = invoke("train", tmp_path / "spec.yaml", "--runs-dir", tmp_path / "runs", "--json")
    assert trained.code == 0, trained.err
    run = trained.json()["run_dir"]
    predicted = invoke("predict", run, tmp_path / "list.csv", "--keep", "id", "--json")
    assert predicted.code == 0, predicted.err
    assert predicted.json()["predictions"]["id"] == ["ra0", "ra1", "rb0", "rb1"]
