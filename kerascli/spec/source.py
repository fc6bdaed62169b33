"""YAML loading that keeps the file, line and column of every key and value.

The document is composed into PyYAML nodes (safe tags only) and turned into
plain dicts and lists while a map `key path -> Mark` is filled in, so that any
later problem (schema, unknown name, Keras build error) can point at the line
where the offending value was written.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kerascli.spec.problems import KeyPath, Problem, SpecError, format_path


@dataclass(frozen=True)
class Mark:
    """A 1-based position in a file."""

    file: str
    line: int | None
    column: int | None


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


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: str, env: dict[str, str]) -> tuple[Any, str | None]:
    """Replace `${VAR}` / `${VAR:-default}`; return the value and an error, if any."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        missing.append(name)
        return ""

    whole = _ENV.fullmatch(value) is not None
    result = _ENV.sub(replace, value)
    if missing:
        return value, (
            f"environment variable {missing[0]} is not set "
            f"(write ${{{missing[0]}:-default}} to give a default)"
        )
    if whole:
        # `epochs: ${EPOCHS:-10}` gives the int 10, as if 10 had been written.
        try:
            parsed = yaml.safe_load(result)
        except yaml.YAMLError:
            return result, None
        if parsed is None or isinstance(parsed, (bool, int, float, str)):
            return parsed, None
    return result, None


class _Composer:
    def __init__(self, file: str, env: dict[str, str] | None):
        self.file = file
        self.env = env
        self.doc = Document(None, file)
        self.problems: list[Problem] = []

    def mark(self, node: yaml.Node) -> Mark:
        return Mark(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: KeyPath, loader: yaml.SafeLoader) -> Any:
        self.doc.values[path] = self.mark(node)
        if isinstance(node, yaml.MappingNode):
            loader.flatten_mapping(node)
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = loader.construct_object(key_node, deep=True)
                if not isinstance(key, (str, int, float, bool)) or key is None:
                    self.problems.append(
                        Problem(
                            "mapping keys must be plain scalars",
                            format_path(path),
                            *self._pos(key_node),
                        )
                    )
                    continue
                key = str(key) if not isinstance(key, str) else key
                child = (*path, key)
                if key in out:
                    first = self.doc.keys[child]
                    self.problems.append(
                        Problem(
                            f"duplicate key '{key}' (first defined on line {first.line})",
                            format_path(child),
                            *self._pos(key_node),
                        )
                    )
                    continue
                self.doc.keys[child] = self.mark(key_node)
                out[key] = self.build(value_node, child, loader)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), loader) for i, item in enumerate(node.value)]
        value = loader.construct_object(node, deep=True)
        if isinstance(value, str) and self.env is not None and "${" in value:
            value, error = _interpolate(value, self.env)
            if error:
                self.problems.append(Problem(error, format_path(path), *self._pos(node)))
        return value

    def _pos(self, node: yaml.Node) -> tuple[str, int, int]:
        return self.file, node.start_mark.line + 1, node.start_mark.column + 1


def parse_yaml(text: str, file: str = "<spec>", env: dict[str, str] | None = None) -> Document:
    """Parse YAML text into a `Document`, raising `SpecError` on any YAML problem.

    Only YAML's safe tags are accepted (as with `yaml.safe_load`). Duplicate keys
    are errors. `${VAR}` and `${VAR:-default}` in strings are replaced from `env`
    (the process environment when `env` is `None`).
    """
    composer = _Composer(file, dict(os.environ) if env is None else env)
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            composer.doc.data = None
        else:
            composer.doc.data = composer.build(node, (), loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        column = mark.column + 1 if mark else None
        message = " ".join(str(x) for x in (exc.context, exc.problem) if x)
        raise SpecError([Problem(f"invalid YAML: {message}", "", file, line, column)]) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(f"invalid YAML: {exc}", "", file)]) from None
    finally:
        loader.dispose()
    if composer.problems:
        raise SpecError(composer.problems)
    return composer.doc


def read_yaml(path: str | Path, env: dict[str, str] | None = None) -> Document:
    """Read and parse a YAML file; a missing or unreadable file is a `SpecError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError([Problem(f"file not found: {path}", "", str(path))]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError([Problem(f"cannot read file: {exc}", "", str(path))]) from None
    return parse_yaml(text, str(path), env)
