"""Image and text folders (a subfolder per class), a plain folder or a glob of files (predict),
and image paths in a column of a CSV/TSV/Parquet file, as a `Stream`.

A folder is listed the way Keras's `image_dataset_from_directory` and
`text_dataset_from_directory` list it (`index_directory`): the class names are the subfolders,
sorted (or `class_names`), each class's files are found recursively, sorted; so are the files of
a folder read without labels. The listing is split by `splits.split_indices`, as data in memory
is. Files are decoded in a parallel `tf.data` map (`images.image_loader`, `_text_loader`).

Long because it is one reader: listing, labels and the stream, each a few short functions.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerascli.data.images import (
    IMAGE_EXTENSIONS,
    chunk_rows,
    first_bad_image,
    first_undecodable,
    image_column,
    image_loader,
    table_columns,
)
from kerascli.data.model_arrays import Split, located
from kerascli.data.partition import split_indices
from kerascli.data.read import class_names
from kerascli.data.stream import CHUNK_ROWS, Chunk, Stream
from kerascli.spec.check_sources import folder_problems
from kerascli.spec.data_spec import DataSpec, ImagesSpec, TextSpec
from kerascli.spec.datafile import glob_files
from kerascli.spec.facts import (
    SINGLE,
    data_format,
    inputs_by_name,
    is_glob,
    is_remote,
    training_file,
)
from kerascli.spec.models import Spec
from kerascli.spec.problems import DataError, KerasCliError, did_you_mean

TEXT_EXTENSIONS = (".txt",)
"""The files a text folder reads."""
TEXT_CHUNK_ROWS = 4096
"""Texts a chunk holds at most."""


@dataclass
class Listing:
    """The files a folder source reads, in order, and their targets.

    Args:
        files: Each file's path (absolute, or a remote URL).
        shown: Each file as a message and `predict --keep path` name it: relative to the
            folder, or as the table's column writes it.
        targets: One target per file (class ids, or a table's numbers); `None` without labels.
        table: The CSV/TSV/Parquet file whose column lists the images; `None` for a folder.
        lines: The line (a Parquet file: the row, from 1) of each file in `table`.
        kept: The table's columns `predict --keep` names, by name (a value per file).
    """

    files: list[str]
    shown: list[str]
    targets: np.ndarray | None = None
    table: str | None = None
    lines: list[int | None] = field(default_factory=list)
    kept: dict[str, np.ndarray] = field(default_factory=dict)

    def take(self, index: np.ndarray) -> Listing:
        pick = [int(i) for i in index]
        return Listing(
            [self.files[i] for i in pick],
            [self.shown[i] for i in pick],
            self.targets[index] if self.targets is not None else None,
            self.table,
            [self.lines[i] for i in pick] if self.lines else [],
            {name: values[index] for name, values in self.kept.items()},
        )

    def problem(self, i: int, message: str) -> DataError:
        """A data error about file `i`: at its row of the table, or naming the file."""
        if self.table is None:
            return DataError(message, self.files[i])
        return DataError(f"image '{self.shown[i]}': {message}", self.table, self.lines[i])


# --- listing a folder -------------------------------------------------------------------------


def _join(folder: str, name: str) -> str:
    return f"{folder.rstrip('/')}/{name}" if is_remote(folder) else os.path.join(folder, name)


def _is_dir(path: str) -> bool:
    if is_remote(path):
        import tensorflow as tf

        return bool(tf.io.gfile.isdir(path))
    return os.path.isdir(path)


def _subfolders(folder: str) -> list[str]:
    """The subfolders of `folder` that are not hidden, sorted."""
    if is_remote(folder):
        import tensorflow as tf

        names = [name.rstrip("/") for name in tf.io.gfile.listdir(folder)]
    else:
        names = os.listdir(folder)
    return sorted(n for n in names if not n.startswith(".") and _is_dir(_join(folder, n)))


def _walk(folder: str, extensions: tuple[str, ...], follow_links: bool) -> list[str]:
    """The files under `folder` (recursively) named with one of `extensions`, relative to it,
    in Keras's order (by folder, then name); hidden files and folders are left out."""
    if is_remote(folder):
        import tensorflow as tf

        walk: Iterator[tuple[str, list[str], list[str]]] = tf.io.gfile.walk(folder)
    else:
        walk = os.walk(folder, followlinks=follow_links)
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for root, folders, files in walk:
        if follow_links:  # a link back up the tree is walked once
            real = os.path.realpath(root)
            if real in seen:
                folders[:] = []
                continue
            seen.add(real)
        folders[:] = [name for name in folders if not name.startswith(".")]
        relative = "" if root.rstrip("/") == folder.rstrip("/") else os.path.relpath(root, folder)
        for name in files:
            if name.lower().endswith(extensions) and not name.startswith("."):
                if not is_remote(folder):
                    _check_regular(os.path.join(root, name))
                found.append((relative, name))
    return [Path(root, name).as_posix() if root else name for root, name in sorted(found)]


def _check_regular(path: str) -> None:
    """A listed file must be a regular file: a pipe or a device would block the reader, a
    dangling link cannot be read."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise DataError(f"cannot be read ({exc.strerror})", path) from None
    if not stat.S_ISREG(mode):
        raise DataError("not a regular file (a pipe, device or socket): move it out", path)


def _check_folder(folder: str) -> None:
    if is_remote(folder):
        if not _is_dir(folder):
            raise DataError("folder not found", folder)
        return
    if not os.path.exists(folder):
        raise DataError("folder not found", folder)
    if not os.path.isdir(folder):
        raise DataError("not a folder: an image or text folder holds a subfolder per class", folder)


def _labeled(
    folder: str, kind: str, names: list[str] | None, known: list[str] | None, follow: bool
) -> tuple[Listing, list[str]]:
    """The files of a folder with a subfolder per class and their class ids, and the class
    names found (`names`, else the subfolders).

    Args:
        known: The classes to encode with (the model's), which every class read must be among.
    """
    _check_folder(folder)
    found = _subfolders(folder)
    what = "image" if kind == "images" else "text"
    for name in names or []:
        if name not in found:
            hint = did_you_mean(name, found)
            raise DataError(
                f"class '{name}' of data.{kind}.class_names has no subfolder{hint} "
                f"(subfolders: {', '.join(found) or 'none'})",
                folder,
            )
    read = list(names) if names else found
    if not read:
        raise DataError(
            f"no class subfolders: {'an' if kind == 'images' else 'a'} {what} folder holds a "
            f"subfolder of {what} files per class (a folder of unlabeled files is for predict)",
            folder,
        )
    index = {name: i for i, name in enumerate(known if known is not None else read)}
    files: list[str] = []
    ids: list[int] = []
    extensions = IMAGE_EXTENSIONS if kind == "images" else TEXT_EXTENSIONS
    for name in read:
        if name not in index:
            raise DataError(
                f"subfolder '{name}' is not a class the model was trained with "
                f"(classes: {', '.join(index)})",
                _join(folder, name),
            )
        inside = _walk(_join(folder, name), extensions, follow)
        if not inside:
            raise DataError(
                f"class '{name}' is empty: no {what} files ({', '.join(extensions)})",
                _join(folder, name),
            )
        files += [f"{name}/{file}" for file in inside]
        ids += [index[name]] * len(inside)
    listing = Listing([_join(folder, f) for f in files], files, np.asarray(ids, np.int64))
    return listing, read


def _unlabeled(source: str, kind: str, follow: bool) -> Listing:
    """The files of a folder, recursively (class subfolders or none), those a glob matches,
    or one file: inputs to predict on, without labels."""
    extensions = IMAGE_EXTENSIONS if kind == "images" else TEXT_EXTENSIONS
    what = f"{'image' if kind == 'images' else 'text'} files ({', '.join(extensions)})"
    if is_glob(source):
        if is_remote(source):
            import tensorflow as tf

            matches = sorted(tf.io.gfile.glob(source))
        else:
            matches = glob_files(source)
        files = [p for p in matches if p.lower().endswith(extensions)]
        if not files:
            raise DataError(f"no {what} match this glob", source)
        wild = min(source.index(char) for char in "*?[" if char in source)
        base = source[: source.rfind("/", 0, wild) + 1]  # the folder before the first wildcard
        return Listing(files, [p[len(base) :] if p.startswith(base) else p for p in files])
    if os.path.isfile(source) and source.lower().endswith(extensions):  # one file
        return Listing([source], [os.path.basename(source)])
    _check_folder(source)
    relative = _walk(source, extensions, follow)
    if not relative:
        raise DataError(f"no {what} in this folder or its subfolders", source)
    return Listing([_join(source, f) for f in relative], relative)


# --- the model's input ------------------------------------------------------------------------


def _check_model(spec: Spec, data: DataSpec, fmt: str, require_target: bool) -> None:
    """Raise the first thing wrong with how the folder (or a column of image paths) feeds the
    model (`check_data.folder_problems`: one input of the images' shape or a text scalar, one
    output), located as `kerascli validate` reports it."""
    for path, message, at_key in folder_problems(spec, data, fmt, require_target):
        raise located(spec, path, message, at_key)


# --- the stream -------------------------------------------------------------------------------


def _text_loader(text_spec: TextSpec, shape: list[Any]) -> Callable[[Any], Any]:
    """A function of a file path giving its text (UTF-8, invalid bytes replaced, at most
    `max_length` characters), shaped as the model input (`[]` or `[1]`)."""
    import tensorflow as tf

    def load(path: Any) -> Any:
        content = tf.strings.unicode_transcode(tf.io.read_file(path), "UTF-8", "UTF-8")
        if text_spec.max_length is not None:
            content = tf.strings.substr(content, 0, text_spec.max_length, unit="UTF8_CHAR")
        return tf.reshape(content, shape)

    return load


def _stream(
    spec: Spec, data: DataSpec, kind: str, listing: Listing, keep: Sequence[str], what: str
) -> Stream:
    """The stream of a listing's files, decoded (and their targets)."""
    if kind == "images":
        assert data.images is not None
        images = data.images
        load = image_loader(images)
        rows_per_chunk = chunk_rows(images, CHUNK_ROWS)
    else:
        load = _text_loader(
            data.text or TextSpec(), list(next(iter(inputs_by_name(spec).values())).shape)
        )
        rows_per_chunk = TEXT_CHUNK_ROWS
    targets = listing.targets

    def elements(training: bool, seed: int | None) -> Any:
        import tensorflow as tf

        paths = tf.constant(listing.files, tf.string)
        dataset = tf.data.Dataset.from_tensor_slices(paths if targets is None else (paths, targets))
        if training and data.shuffle:
            size = len(listing.files) if data.shuffle is True else int(data.shuffle)
            dataset = dataset.shuffle(size, seed=seed, reshuffle_each_iteration=True)
        parallel = tf.data.AUTOTUNE if data.parallel == "autotune" else int(data.parallel)
        decode = load if targets is None else (lambda path, y: (load(path), y))
        return dataset.map(decode, num_parallel_calls=parallel, deterministic=True)

    def locate(error: BaseException) -> KerasCliError | None:
        for i, path in enumerate(listing.files):
            if not is_remote(path) and not os.path.isfile(path):
                return listing.problem(i, "file not found (removed since the folder was listed?)")
        if kind != "images" or "decode" not in str(error).lower():
            return None
        assert data.images is not None
        found = first_undecodable(listing.files, data.images)
        return listing.problem(found[0], f"cannot decode the image: {found[1]}") if found else None

    def chunks() -> Iterator[Chunk]:
        import tensorflow as tf

        start = 0
        try:
            for batch in elements(False, None).batch(rows_per_chunk).as_numpy_iterator():
                x, y = batch if targets is not None else (batch, None)
                if kind == "text":  # bytes -> str, as a text column is read
                    x = np.array([v.decode("utf-8") for v in x.reshape(-1)], object).reshape(
                        x.shape
                    )
                rows = len(x)
                kept = {name: values[start : start + rows] for name, values in listing.kept.items()}
                if "path" in keep:
                    kept["path"] = np.array(listing.shown[start : start + rows], dtype=str)
                yield Chunk(Split(x, y, rows), kept)
                start += rows
        except tf.errors.OpError as exc:
            failure = locate(exc)
            if failure is not None:
                raise failure from None
            raise

    counts = None
    if targets is not None and targets.dtype.kind in "iu" and len(targets) and targets.min() >= 0:
        counts = {SINGLE: np.bincount(targets)}
    return Stream(chunks, elements, len(listing.files), counts, True, what, locate)


def folder_stream(
    spec: Spec,
    source: str,
    fmt: str,
    classes: dict[str, list[str]],
    require_target: bool = True,
    fixed_classes: bool = False,
    part: str | None = None,
    keep: Sequence[str] = (),
) -> Stream:
    """An image or text folder `source` (`fmt` `images`/`text`), or a CSV/TSV/Parquet file
    whose `data.images.column` lists images (`fmt` its format), as a stream; the arguments
    are `sources.open_source`'s.

    With targets, a folder holds a subfolder per class; without (`predict`), it may be a plain
    folder of files, or a glob of them. Training sets `classes[""]` to the class names;
    `fixed_classes` encodes with those.
    """
    data = spec.data or DataSpec(path=source)
    column = data.images is not None and data.images.column is not None
    kind = "images" if column else fmt
    _check_model(spec, data, fmt, require_target)
    unknown = [name for name in keep if name != "path" and not column]
    if unknown:
        raise DataError(f"a folder has no column '{unknown[0]}' to keep (it keeps: path)", source)
    if column:
        rows = image_column(spec, data, source, fmt, classes, require_target, fixed_classes, keep)
        listing = Listing(rows.files, rows.shown, rows.targets, source, rows.lines, rows.kept)
    elif not require_target:
        listing = _unlabeled(source, kind, _reader(data, kind).follow_links)
    elif is_glob(source):
        raise DataError(
            "a glob of files has no labels: train and evaluate on a folder with a subfolder "
            "per class",
            source,
        )
    else:
        listing = _folder_labels(data, source, kind, classes, fixed_classes)
    if part is not None and data.split is not None:
        listing = _part(spec, data, listing, part, source)
    if kind == "images":
        bad = first_bad_image(listing.files)
        if bad is not None:
            raise listing.problem(*bad)
    return _stream(spec, data, kind, listing, keep, source)


def _reader(data: DataSpec, kind: str) -> ImagesSpec | TextSpec:
    if kind == "images":
        assert data.images is not None
        return data.images
    return data.text or TextSpec()


def _folder_labels(
    data: DataSpec, source: str, kind: str, classes: dict[str, list[str]], fixed: bool
) -> Listing:
    """A labeled folder's listing; training records its class names in `classes`."""
    reader = _reader(data, kind)
    if fixed and SINGLE not in classes:
        raise DataError(
            "the model was trained without class names; a folder's labels are class names "
            "(its subfolders)",
            source,
        )
    listing, found = _labeled(  # evaluating: every subfolder, each a class the model knows
        source,
        kind,
        None if fixed else reader.class_names,
        classes.get(SINGLE) if fixed else None,
        reader.follow_links,
    )
    if not fixed:
        classes.setdefault(SINGLE, found)
    return listing


def _part(spec: Spec, data: DataSpec, listing: Listing, part: str, source: str) -> Listing:
    """The files of split `part` of a listing: `splits.split_indices`, as data in memory."""
    split = data.split
    assert split is not None
    strata = None
    if split.stratify:
        if listing.targets is None or listing.targets.dtype.kind not in "iu":
            raise located(
                spec, ("data", "split", "stratify"), "stratify needs class labels to stratify by"
            )
        strata = listing.targets
    rows = len(listing.files)
    index = split_indices(rows, split.validation, split.test, spec.seed or 0, strata)
    if part not in index:
        raise DataError(f"no files left for the {part} split ({rows} files)", source)
    return listing.take(index[part])


def folder_classes(spec: Spec) -> dict[str, list[str]]:
    """The class names a model trained on a folder (or a column of image paths) was trained
    with, when no run records them: those its spec's training source gives, by the rule
    training uses. `{}` where the targets are numbers.

    Raises:
        DataError: the training source is not there to say.
    """
    data = spec.data
    source = training_file(data) if data is not None else None
    if data is None or source is None:
        return {}
    if data.images is not None and data.images.column is not None:
        if not isinstance(data.target, str) or not os.path.isfile(source):
            return {} if not isinstance(data.target, str) else _unknown(source)
        table = table_columns(source, data_format(data, source), [data.target])
        found = class_names(table, data.target)
        if found is None:
            return {}
        return {SINGLE: list(data.images.class_names or found)}
    kind = "text" if data.images is None else "images"
    names = _reader(data, kind).class_names
    if names is not None:
        return {SINGLE: list(names)}
    if not is_remote(source) and not os.path.isdir(source):
        _unknown(source)
    return {SINGLE: _subfolders(source)}


def _unknown(source: str) -> dict[str, list[str]]:
    raise DataError(
        "the model's class names are unknown: no run.json records them, and the spec's "
        "training data is not there to say; evaluate the run directory (with its run.json)",
        source,
    )
