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


class SpecLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that reads `1e-3` as a float, as YAML 1.2 (and JSON) do.

    PyYAML follows YAML 1.1, where a float needs a dot (`1.0e-3`), so the learning
    rate `1e-3` would otherwise be the string '1e-3'.
    """


SpecLoader.yaml_implicit_resolvers = {
    key: list(resolvers) for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_value(text: str) -> Any:
    """One YAML value, read as a spec file would read it (`1e-3` is a float)."""
    return yaml.load(text, Loader=SpecLoader)  # noqa: S506 - SpecLoader is a SafeLoader


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def _interpolate(value: str, env: dict[str, str]) -> tuple[Any, str | None]:
    """Replace `${VAR}` / `${VAR:-default}`; return the value and an error, if any."""
    missing: list[str] = []

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if default is not None and not env.get(name):  # as in a shell: unset or empty
            return default
        if name in env:
            return env[name]
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
            parsed = load_value(result)
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


_OPENERS = {"flow sequence": "'['", "flow mapping": "'{'", "quoted scalar": "quote"}


def yaml_problem(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    """A located, plain-words problem for a PyYAML syntax error.

    Unclosed brackets and quotes point at where they open; indentation and tab
    errors say so, at the line that breaks the structure.
    """
    problem, context = str(exc.problem or ""), str(exc.context or "")
    mark, start = exc.problem_mark or exc.context_mark, exc.context_mark
    message = " ".join(x for x in (context, problem) if x)
    opener = next((v for k, v in _OPENERS.items() if context.endswith(k)), None)
    if start is not None and opener and ("<stream end>" in problem or "end of stream" in problem):
        mark = start
        message = f"unclosed {opener}: the file ends before it is closed"
    elif start is not None and opener in ("'['", "'{'") and problem.startswith("expected"):
        message = (
            f"{problem} (to close the {opener} at line {start.line + 1}, column {start.column + 1})"
        )
    elif "expected <block end>" in problem:
        what = "list" if "collection" in context else "mapping"
        message = "bad indentation: this line does not line up with the keys above it"
        if start is not None:
            message += f" (in the {what} that starts on line {start.line + 1})"
    elif "'\\t'" in problem:
        message = "a tab character; YAML indents with spaces only"
    elif problem == "mapping values are not allowed here":
        message += " (quote a value that contains ': ', or check the indentation)"
    buffer = getattr(mark, "buffer", None)
    if buffer and problem.endswith("'{'") and buffer[max(mark.pointer - 1, 0)] == "$":
        message += "; inside [...] or {...}, quote ${VAR} as '${VAR}'"
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    return Problem(f"invalid YAML: {message}", "", file, line, column)


def parse_yaml(text: str, file: str = "<spec>", env: dict[str, str] | None = None) -> Document:
    """Parse YAML text into a `Document`, raising `SpecError` on any YAML problem.

    Only YAML's safe tags are accepted (as with `yaml.safe_load`). Duplicate keys
    are errors. `${VAR}` and `${VAR:-default}` in strings are replaced from `env`
    (the process environment when `env` is `None`).
    """
    composer = _Composer(file, dict(os.environ) if env is None else env)
    loader = SpecLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            composer.doc.data = None
            composer.doc.values[()] = Mark(file, 1, 1)
        else:
            composer.doc.data = composer.build(node, (), loader)
    except yaml.MarkedYAMLError as exc:
        raise SpecError([yaml_problem(exc, file)]) from None
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
