"""Image files as model inputs, as Keras's `image_dataset_from_directory` reads them: decoded
(JPEG, PNG, GIF, BMP), given the channels of `color_mode`, resized to `image_size` (squashed,
cropped or padded to its aspect ratio) and returned as float32 pixels in 0..255.

`first_bad_image` checks files by their first bytes before training, `first_undecodable` decodes
them one by one to find the one TensorFlow could not read, and `image_column` reads the image
paths (and labels) a column of a CSV/TSV/Parquet file lists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from kerascli.data import stream
from kerascli.data.model_arrays import encode_targets, located
from kerascli.data.parquet import column_names, parquet_chunks, parquet_file
from kerascli.data.read import read_table, text
from kerascli.data.table import CsvColumns, Table
from kerascli.spec.check_sources import CHANNELS
from kerascli.spec.data_spec import DataSpec, ImagesSpec
from kerascli.spec.facts import SINGLE, is_glob, is_remote
from kerascli.spec.models import Spec
from kerascli.spec.problems import DataError, did_you_mean

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".gif", ".bmp")
"""The files an image folder reads (Keras's `ALLOWLIST_FORMATS`), matched without case."""


_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")
"""How JPEG, PNG, GIF and BMP files start."""

CHUNK_BYTES = 64 << 20
"""Bytes of decoded images a chunk (`Stream.chunks`) holds at most."""


def chunk_rows(images: ImagesSpec, most: int) -> int:
    """Images per chunk: as many as `CHUNK_BYTES` of float32 pixels hold, at most `most`."""
    height, width = images.image_size
    return max(1, min(most, CHUNK_BYTES // (height * width * CHANNELS[images.color_mode] * 4)))


def read_head(path: str, size: int = 8) -> bytes:
    """The first `size` bytes of a file (a remote one through TensorFlow's file systems)."""
    if is_remote(path):
        import tensorflow as tf

        with tf.io.gfile.GFile(path, "rb") as handle:
            return bytes(handle.read(size))
    with open(path, "rb") as handle:
        return handle.read(size)


def first_bad_image(files: Sequence[str]) -> tuple[int, str] | None:
    """The first of `files` that is no JPEG, PNG, GIF or BMP image by its first bytes, and
    what it is instead; `None` when all look like images."""
    for i, path in enumerate(files):
        try:
            head = read_head(path)
        except OSError as exc:
            return i, f"cannot be read ({exc.strerror or exc})"
        if not head:
            return i, "an empty file, not an image"
        if not head.startswith(_MAGIC):
            return i, "not a JPEG, PNG, GIF or BMP image (its first bytes are none of theirs)"
    return None


def image_loader(images: ImagesSpec) -> Callable[[Any], Any]:
    """A function of a file path (a tf.string scalar) giving the image as a float32
    `[height, width, channels]` tensor, for `tf.data.Dataset.map`."""
    import tensorflow as tf

    height, width = images.image_size
    channels = CHANNELS[images.color_mode]
    method = images.interpolation

    def load(path: Any) -> Any:
        image = decode(tf.io.read_file(path), channels)
        if images.crop_to_aspect_ratio:
            image = tf.image.resize(_crop_to_aspect(image, height, width), (height, width), method)
        elif images.pad_to_aspect_ratio:
            image = tf.image.resize_with_pad(image, height, width, method=method)
        else:
            image = tf.image.resize(image, (height, width), method=method)
        image = tf.cast(image, tf.float32)
        image.set_shape((height, width, channels))
        return image

    return load


def decode(contents: Any, channels: int) -> Any:
    """A JPEG, PNG, GIF or BMP file's bytes as a uint8 image of `channels` channels: decoded
    to them as Keras's loader does (`tf.io.decode_image(channels=...)`) where the format
    decodes to that many (any to RGB; JPEG and PNG to grey; PNG and BMP to RGBA), else
    decoded as stored and converted (`_with_channels`)."""
    import tensorflow as tf

    def direct() -> Any:
        return tf.io.decode_image(contents, channels=channels, expand_animations=False)

    if channels == 3:
        return direct()
    png = tf.strings.substr(contents, 0, 4) == b"\x89PNG"
    other = tf.io.is_jpeg(contents) if channels == 1 else tf.strings.substr(contents, 0, 2) == b"BM"

    def converted() -> Any:
        stored = tf.io.decode_image(contents, channels=0, expand_animations=False)
        return _with_channels(stored, channels)

    return tf.cond(png | other, direct, converted)


def _with_channels(image: Any, channels: int) -> Any:
    """A decoded uint8 image (1 to 4 channels as stored) with `channels` channels: a grey
    image repeated into RGB, RGB made grey (`tf.image.rgb_to_grayscale`), alpha dropped or
    added (opaque)."""
    import tensorflow as tf

    def to(have: int) -> Any:
        if have == channels:
            return image
        grey = image[..., :1]
        if have in (3, 4):
            colour = image[..., :3]
            grey = tf.cast(
                tf.round(tf.image.rgb_to_grayscale(tf.cast(colour, tf.float32))), tf.uint8
            )
        else:
            colour = tf.image.grayscale_to_rgb(grey)
        if channels == 1:
            return grey
        if channels == 3:
            return colour
        alpha = (
            image[..., -1:]
            if have in (2, 4)
            else tf.fill(tf.shape(grey), tf.constant(255, tf.uint8))
        )
        return tf.concat([colour, alpha], axis=-1)

    have = tf.shape(image)[-1]
    branches = {count - 1: (lambda count=count: to(count)) for count in (1, 2, 3, 4)}
    return tf.switch_case(have - 1, branches)


def _crop_to_aspect(image: Any, height: int, width: int) -> Any:
    """The largest centred crop of `image` with the aspect ratio `height`:`width`, as Keras's
    `smart_resize` cuts it."""
    import tensorflow as tf

    shape = tf.shape(image)
    have_height, have_width = shape[0], shape[1]
    crop_height = tf.cast(tf.cast(have_width * height, tf.float32) / width, tf.int32)
    crop_height = tf.maximum(tf.minimum(have_height, crop_height), 1)
    crop_width = tf.cast(tf.cast(have_height * width, tf.float32) / height, tf.int32)
    crop_width = tf.maximum(tf.minimum(have_width, crop_width), 1)
    top = tf.cast(tf.cast(have_height - crop_height, tf.float32) / 2, tf.int32)
    left = tf.cast(tf.cast(have_width - crop_width, tf.float32) / 2, tf.int32)
    return image[top : top + crop_height, left : left + crop_width, :]


def first_undecodable(files: Sequence[str], images: ImagesSpec) -> tuple[int, str] | None:
    """The first of `files` that TensorFlow cannot read or decode, and why (run after the
    pipeline failed, to name the file); `None` when every file decodes."""
    import tensorflow as tf

    load = image_loader(images)
    for i, path in enumerate(files):
        try:
            load(tf.constant(path))
        except (tf.errors.OpError, ValueError) as exc:
            return i, _tf_message(exc)
    return None


def _tf_message(exc: BaseException) -> str:
    """TensorFlow's reason in `exc`, without its node and op names ("Invalid PNG data")."""
    lines = (getattr(exc, "message", None) or str(exc)).strip().splitlines()
    reason = re.sub(r"\{\{[^}]*\}\}\s*|\s*\[Op:.*$", "", lines[0] if lines else "")
    return reason.strip() or type(exc).__name__


# --- image paths in a table's column ---------------------------------------------------------


def table_columns(source: str, fmt: str, columns: list[str]) -> Table:
    """The columns of a CSV/TSV file (`read_table`), or of a Parquet file as text cells, so
    the CSV rules (`read.class_names`, `read.labels`) read both; a Parquet row's `line` is its
    number from 1."""
    if fmt != "parquet":
        return read_table(source, fmt)
    if not os.path.isfile(source):
        raise DataError("data file not found", source)
    parquet = parquet_file(source, source)  # the Parquet reader's cells and errors
    names = column_names(parquet, source)
    for name in columns:
        if name not in names:
            raise DataError(f"no column '{name}'{did_you_mean(name, names)}", source)
    cells: dict[str, list[str]] = {name: [] for name in columns}
    for _, chunk in parquet_chunks(parquet, source, stream.CHUNK_ROWS, columns):
        for name in columns:
            cells[name] += chunk.cells(name)
    rows = len(cells[columns[0]]) if columns else 0
    return Table(source, "csv", csv=CsvColumns(columns, rows, range(1, rows + 1), cells))


class ImageRows(NamedTuple):
    """The images a table's column lists, in its row order.

    Args:
        files: Each image's path (relative paths made relative to the table's folder).
        shown: Each path as the column writes it.
        targets: Each row's target (class ids, or numbers); `None` without targets.
        lines: Each row's line in the table (a Parquet file: its row, from 1).
        kept: The columns kept for `predict --keep`, as text.
    """

    files: list[str]
    shown: list[str]
    targets: np.ndarray | None
    lines: list[int | None]
    kept: dict[str, np.ndarray]


def image_column(
    spec: Spec,
    data: DataSpec,
    source: str,
    fmt: str,
    classes: dict[str, list[str]],
    require_target: bool,
    fixed: bool,
    keep: Sequence[str],
) -> ImageRows:
    """The images column `data.images.column` of table `source` (format `fmt`) lists, their
    targets (`data.target`, encoded as a CSV's targets are: class names or numbers) and the
    columns `keep` names; the arguments are `sources.open_source`'s.

    Raises:
        DataError: at the row of an empty path or a missing image file.
    """
    images = data.images
    assert images is not None and images.column is not None
    if is_glob(source):
        raise located(spec, ("data",), "image paths in a column are read from one table file")
    target = data.target if require_target else None
    if require_target and not isinstance(target, str):
        raise located(spec, ("data", "target"), "name the column of labels with data.target", True)
    kept = [name for name in keep if name != "path"]
    wanted = [images.column, *([target] if isinstance(target, str) else []), *kept]
    table = table_columns(source, fmt, list(dict.fromkeys(wanted)))
    shown = [str(path) for path in text(table, images.column)]
    lines = [table.line(row) for row in range(len(shown))]
    base = os.path.dirname(source)
    files = []
    for row, path in enumerate(shown):
        if not path:
            raise DataError(f"empty image path in column '{images.column}'", source, lines[row])
        file = path if os.path.isabs(path) or is_remote(path) else os.path.join(base, path)
        if not is_remote(file) and not os.path.isfile(file):
            raise DataError(f"image '{path}': image file not found", source, lines[row])
        files.append(file)
    targets = None
    if isinstance(target, str):
        if images.class_names is not None and not fixed:
            classes.setdefault(SINGLE, list(images.class_names))
        fixed = fixed or images.class_names is not None
        targets = encode_targets(table, {SINGLE: target}, classes, fixed)[SINGLE]
    return ImageRows(files, shown, targets, lines, {name: text(table, name) for name in kept})
