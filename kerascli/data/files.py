"""The files of a data source: a file or the sorted matches of a glob, local or remote through
TensorFlow's file systems (`gs://`), opened as binary files; the files of a split by file."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import numpy as np

from kerascli.data.model_arrays import located
from kerascli.data.partition import hashed_part
from kerascli.spec.datafile import glob_files
from kerascli.spec.facts import is_glob, is_remote
from kerascli.spec.models import DataSpec, Spec
from kerascli.spec.problems import DataError, KerasCliError, cause_line


def source_files(source: str) -> list[str]:
    """The files of a source: a file, or the matches of a glob (sorted); local, or remote
    through TensorFlow's file systems.

    Raises:
        DataError: no file matches, the file is missing or not a file, or the file system
            cannot be read (`s3://` without tensorflow-io).
    """
    with file_errors(source):
        if is_glob(source):
            found = sorted(_gfile().glob(source)) if is_remote(source) else glob_files(source)
            if not found:
                raise DataError("no file matches this glob", source)
            return found
        if is_remote(source):
            if not _gfile().exists(source):
                raise DataError("data file not found", source)
            return [source]
    if not os.path.exists(source):
        raise DataError("data file not found", source)
    if not os.path.isfile(source):
        raise DataError(
            "not a regular file (a directory, device or pipe): a data file must be a file", source
        )
    return [source]


def part_files(spec: Spec, data: DataSpec, source: str, part: str | None) -> list[str]:
    """The files of `source` in split `part`: all of them, or, with `data.split.by_file`, those
    whose name (relative to the glob's folder) hashes into the part."""
    files = source_files(source)
    split = data.split
    if part is None or split is None or not split.by_file:
        return files
    where = ("data", "split", "by_file")
    if len(files) < 2:
        message = f"split.by_file splits whole files; {source} is one file: split its rows"
        raise located(spec, where, message + " (remove by_file)")
    base = "/".join(p for p in _until_glob(source.split("/")))
    names = np.array([f[len(base) + 1 :] if f.startswith(base + "/") else f for f in files])
    inside = hashed_part(names, split, part, spec.seed or 0).tolist()
    chosen = [file for file, taken in zip(files, inside, strict=True) if taken]
    if not chosen:
        message = (
            f"no file of the {len(files)} of {source} falls in the {part} split (by the hash of "
            "its name): give more files, or split rows (remove by_file)"
        )
        raise located(spec, where, message)
    return chosen


def _until_glob(parts: list[str]) -> Iterator[str]:
    for part in parts:
        if is_glob(part):
            return
        yield part


def _gfile() -> Any:
    import tensorflow as tf

    return tf.io.gfile


def open_binary(path: str) -> IO[bytes]:
    """`path` open for reading bytes: a local file, or a remote one through TensorFlow's file
    systems (`tf.io.gfile.GFile`)."""
    if not is_remote(path):
        return open(path, "rb")
    return io.BufferedReader(_RemoteFile(_gfile().GFile(path, "rb")))


class _RemoteFile(io.RawIOBase):
    """A `tf.io.gfile.GFile` as a raw binary file (for `io.BufferedReader`, csv and pyarrow)."""

    def __init__(self, gfile: Any):
        self._gfile = gfile

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._gfile.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_END:
            offset, whence = self._gfile.size() + offset, io.SEEK_SET
        self._gfile.seek(offset, whence)
        return int(self._gfile.tell())

    def tell(self) -> int:
        return int(self._gfile.tell())

    def close(self) -> None:
        self._gfile.close()
        super().close()


@contextmanager
def file_errors(file: str) -> Iterator[None]:
    """A file system's failure while `file` is read (a remote path TensorFlow cannot reach, a
    scheme it lacks) is a `DataError` naming the file."""
    try:
        yield
    except KerasCliError:
        raise
    except OSError as exc:
        raise DataError(f"cannot read: {exc.strerror or exc}", file) from None
    except Exception as exc:
        if not type(exc).__module__.startswith("tensorflow"):
            raise
        reason = cause_line(exc).split(": ", 1)[-1]
        if "scheme 's3' not implemented" in reason:
            reason += " (s3:// needs tensorflow-io: pip install tensorflow-io)"
        raise DataError(f"cannot read: {reason}", file) from None
