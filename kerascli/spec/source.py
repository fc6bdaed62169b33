"""YAML loading that keeps the file, line and column of every key and value.

The document is composed into PyYAML nodes (safe tags only) by `SpecLoader`, within the
limits on untrusted input (`yaml_limits`), and turned into plain dicts and lists by
`Composer` (`yaml_compose`) while a map `key path -> Mark` is filled in, so that any later
problem (schema, unknown name, Keras build error) can point at the line where the
offending value was written. `yaml_problems` says PyYAML's errors in plain words.

Why PyYAML and not ruamel.yaml's round-trip positions (`CommentedMap.lc`), weighed with
ruamel.yaml 0.19.1: its composer is PyYAML's design (an alias is a second reference to
its anchor's node; nesting is composed by recursion, a `RecursionError` at 600 levels),
so the limits would be the same hooks, written against its internals. Its round-trip
data lacks what the messages need: a duplicate key is one `DuplicateKeyError` with
another message ('found duplicate key "x" with value "3"'), and allowing duplicates
loses the first key's line; a merged key has no position (`lc.key` raises `KeyError`).
It reads YAML 1.2 (`yes` is text, `010` is ten, `=` a `TaggedScalar`), takes
`!!python/...` tags as tagged values, and gives `ScalarFloat`, `HexInt`, `CommentedMap`,
so a walk to plain data would stay. Its syntax errors are PyYAML's word for word: nothing
to gain there. And it is slower: loading the seven model_specs takes it 36 ms, against
17 ms for this whole `parse_yaml`; its import (8 ms) would come on top of PyYAML's, which
`dump`, `layering` and `run.runs` still use; importing it and loading the spec with it
took `kerascli validate model_specs/iris_mlp.yaml` from 0.214 s to 0.248 s (best of 12).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kerascli.spec.problems import KeyPath, Problem, SpecError, format_path
from kerascli.spec.yaml_compose import MERGE_TAG, VALUE_TAG, Composer, Mark
from kerascli.spec.yaml_limits import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_EXPANDED,
    MAX_FILE_BYTES,
    MAX_NODES,
    LimitError,
    SpecLoader,
    load_value,
)
from kerascli.spec.yaml_problems import reader_problem, too_large, yaml_problem

__all__ = [
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_EXPANDED",
    "MAX_FILE_BYTES",
    "MAX_NODES",
    "MERGE_TAG",
    "VALUE_TAG",
    "Document",
    "LimitError",
    "Mark",
    "SpecLoader",
    "load_value",
    "parse_yaml",
    "read_yaml",
    "yaml_problem",
]


@dataclass
class Document:
    """Plain YAML data and the positions of its keys and values.

    Args:
        data: The parsed data (dicts, lists, scalars).
        file: The file it came from.
        keys: Position of each mapping key, by key path.
        values: Position of each value, by key path.
    """

    data: Any
    file: str
    keys: dict[KeyPath, Mark] = field(default_factory=dict)
    values: dict[KeyPath, Mark] = field(default_factory=dict)

    def mark(self, path: KeyPath, at_key: bool = False) -> Mark:
        """The position of `path`, or of its nearest known parent."""
        path = tuple(path)
        while True:
            table = (self.keys, self.values) if at_key else (self.values, self.keys)
            for marks in table:
                if path in marks:
                    return marks[path]
            if not path:
                return Mark(self.file, None, None)
            path = path[:-1]
            at_key = False

    def problem(self, path: KeyPath, message: str, at_key: bool = False) -> Problem:
        """A `Problem` located at `path`."""
        mark = self.mark(path, at_key=at_key)
        return Problem(message, format_path(path), mark.file, mark.line, mark.column)


def parse_yaml(text: str, file: str = "<spec>", env: dict[str, str] | None = None) -> Document:
    """Parse YAML text into a `Document`, raising `SpecError` on any YAML problem.

    Only YAML's safe tags are accepted (as with `yaml.safe_load`). Duplicate keys
    are errors; a key written over one merged in with `<<` is not. `${VAR}` and
    `${VAR:-default}` in strings are replaced from `env` (the process environment
    when `env` is `None`). Text over `MAX_FILE_BYTES` characters, and YAML past the
    limits on nodes, aliases and depth, are located `SpecError`s.
    """
    if len(text) > MAX_FILE_BYTES:
        raise SpecError([too_large(f"{len(text):,} characters", file)])
    composer = Composer(file, dict(os.environ) if env is None else env)
    try:
        loader = SpecLoader(text)
    except yaml.reader.ReaderError as exc:
        raise SpecError([reader_problem(exc, text, file)]) from None
    try:
        node = loader.get_single_node()
        if node is None:
            data = None
            composer.values[()] = Mark(file, 1, 1)
        else:
            data = composer.build(node, (), loader)
    except yaml.MarkedYAMLError as exc:
        raise SpecError([yaml_problem(exc, file)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(f"invalid YAML: {exc}", "", file)]) from None
    finally:
        loader.dispose()
    if composer.problems:
        raise SpecError(list(dict.fromkeys(composer.problems)))
    return Document(data, file, composer.keys, composer.values)


def _decode(raw: bytes, file: str) -> str:
    """UTF-8 text (a byte-order mark at the start is dropped); bad bytes are located."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        before = raw[line_start : exc.start].decode("utf-8-sig", errors="replace")
        byte = raw[exc.start]
        message = (
            f"not UTF-8: byte 0x{byte:02x} cannot be decoded ({exc.reason}); save the spec as UTF-8"
        )
        raise SpecError([Problem(message, "", file, line, len(before) + 1)]) from None


def read_yaml(path: str | Path, env: dict[str, str] | None = None) -> Document:
    """Read and parse a YAML file; a missing, unreadable, non-UTF-8 or too large file is a
    `SpecError` (a file over `MAX_FILE_BYTES` is refused before it is read)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise SpecError([too_large(f"{size:,} bytes", str(path))])
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)  # a file that grew, or a device
    except FileNotFoundError:
        raise SpecError([Problem(f"file not found: {path}", "", str(path))]) from None
    except OSError as exc:
        raise SpecError([Problem(f"cannot read file: {exc}", "", str(path))]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError([too_large(f"more than {MAX_FILE_BYTES:,} bytes", str(path))])
    return parse_yaml(_decode(raw, str(path)), str(path), env)
