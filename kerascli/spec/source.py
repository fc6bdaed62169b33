"""YAML loading that keeps the file, line and column of every key and value.

The document is composed into PyYAML nodes (safe tags only) and turned into
plain dicts and lists while a map `key path -> Mark` is filled in, so that any
later problem (schema, unknown name, Keras build error) can point at the line
where the offending value was written.

A spec is untrusted input: files, nodes, aliases and nesting have limits
(`MAX_FILE_BYTES`, `MAX_NODES`, `MAX_ALIASES`, `MAX_EXPANDED`, `MAX_DEPTH`), so
that an alias bomb or a pathologically deep file is a located error, not
gigabytes of memory or a `RecursionError`.
"""

from __future__ import annotations

import os
import re
import sys
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


# Limits on a spec file, generous for real specs (a big one is ~100 KB and a few thousand nodes).
MAX_FILE_BYTES = 1024 * 1024  # refused before parsing
MAX_NODES = 50_000  # values written in the file (scalars, lists, mappings; keys included)
MAX_ALIASES = 10_000  # uses of `*anchor`
MAX_EXPANDED = 100_000  # values with every alias expanded (what a "billion laughs" inflates)
MAX_DEPTH = 100  # levels of nested lists and mappings, aliases expanded

MERGE_TAG = "tag:yaml.org,2002:merge"  # the `<<` key
VALUE_TAG = "tag:yaml.org,2002:value"  # a plain `=`, read as the text '='


class LimitError(yaml.MarkedYAMLError):
    """A YAML text past one of the limits on nodes, aliases or nesting (or an alias inside
    itself). Valid YAML, perhaps, but not a spec kerascli will expand."""

    def __init__(self, message: str, mark: Any):
        super().__init__(problem=message, problem_mark=mark)


class SpecLoader(yaml.SafeLoader):
    """`yaml.SafeLoader` that reads `1e-3` as a float, as YAML 1.2 (and JSON) do, and stops
    composing past the limits on nodes, aliases and depth.

    PyYAML follows YAML 1.1, where a float needs a dot (`1.0e-3`), so the learning
    rate `1e-3` would otherwise be the string '1e-3'. PyYAML keeps an alias as a second
    reference to its anchor's node; what it stands for once expanded (its extent: values
    and height) is counted here as the nodes are composed, so a bomb stops at the alias
    that expands too far, before anything is expanded. An alias inside the node it names
    (`a: &a [*a]`) would be infinite, and is an error too.
    """

    def __init__(self, stream: str):
        super().__init__(stream)
        self.nodes = 0
        self.aliases = 0
        self.open: list[list[int]] = []  # [values, height] of each collection being composed
        self.open_anchors: set[str] = set()  # the anchors of those collections
        self.extent: dict[yaml.Node, tuple[int, int]] = {}  # node -> (values, height)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            return self._compose_alias(event, parent, index)
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise LimitError(
                f"too many values: the file has more than {MAX_NODES:,} YAML nodes "
                "(the limit on nodes)",
                event.start_mark,
            )
        if len(self.open) >= MAX_DEPTH:
            raise LimitError(_too_deep(""), event.start_mark)
        anchor = event.anchor if isinstance(event, yaml.CollectionStartEvent) else None
        self.open.append([1, 1])
        if anchor is not None:
            self.open_anchors.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            values, height = self.open.pop()
            if anchor is not None:
                self.open_anchors.discard(anchor)
        self.extent[node] = (values, height)
        self._count(values, height, event.start_mark)
        return node

    def _compose_alias(self, event: Any, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            raise LimitError(
                f"too many aliases: the file uses '*anchor' more than {MAX_ALIASES:,} times "
                "(the limit on aliases)",
                event.start_mark,
            )
        if event.anchor in self.open_anchors:
            raise LimitError(
                f"recursive alias: '*{event.anchor}' is inside the value anchored "
                f"'&{event.anchor}', so that value would contain itself without end",
                event.start_mark,
            )
        node = super().compose_node(parent, index)  # the anchor's node (or "undefined alias")
        values, height = self.extent[node]
        if len(self.open) + height > MAX_DEPTH:
            raise LimitError(_too_deep(" with its aliases expanded"), event.start_mark)
        self._count(values, height, event.start_mark)
        return node

    def _count(self, values: int, height: int, mark: Any) -> None:
        """Add a finished child (`values` once expanded, `height` levels) to its collection."""
        if self.open:
            parent = self.open[-1]
            parent[0] += values
            parent[1] = max(parent[1], height + 1)
            if parent[0] > MAX_EXPANDED:
                raise LimitError(_too_many_expanded(), mark)


def _construct_int(loader: SpecLoader, node: yaml.ScalarNode) -> int:
    try:
        return int(yaml.SafeLoader.construct_yaml_int(loader, node))
    except ValueError:  # Python's limit on the digits of an int read from text
        limit = f"{sys.get_int_max_str_digits():,}"
        message = f"integer too long: more than {limit} digits (the limit on integer digits)"
        raise LimitError(message, node.start_mark) from None


SpecLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
SpecLoader.yaml_implicit_resolvers = {
    key: list(resolvers) for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SpecLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _too_deep(how: str) -> str:
    return (
        f"nested too deep: more than {MAX_DEPTH} levels of lists and mappings{how} "
        "(the limit on nesting depth)"
    )


def _too_many_expanded() -> str:
    return (
        f"aliases expand too far: with its aliases expanded, the spec holds more than "
        f"{MAX_EXPANDED:,} values by here (the limit on expanded nodes; an alias bomb?)"
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
            out: dict[Any, Any] = {}
            for key, key_node, value_node in self.entries(node, path, loader, report=True):
                child = (*path, key)
                self.doc.keys[child] = self.mark(key_node)
                out[key] = self.build(value_node, child, loader)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), loader) for i, item in enumerate(node.value)]
        value = self.scalar(node, loader)
        if isinstance(value, str) and self.env is not None and "${" in value:
            value, error = _interpolate(value, self.env)
            if error:
                self.problems.append(Problem(error, format_path(path), *self._pos(node)))
        return value

    @staticmethod
    def scalar(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
        if node.tag in (MERGE_TAG, VALUE_TAG):  # `<<` or `=` where no key is merged: text
            return node.value
        return loader.construct_object(node, deep=True)

    def entries(
        self, node: yaml.MappingNode, path: KeyPath, loader: yaml.SafeLoader, report: bool
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """The `(key, key node, value node)` entries of a mapping, in the file's order, with
        YAML's merge keys applied: `<<: *base` (or `<<: [*a, *b]`) adds the keys of those
        mappings that the mapping does not write itself, an earlier mapping's before a later
        one's. A key written twice is a duplicate; a key written over a merged one is not.
        Problems are recorded when `report` (a merged mapping reports its own where it is
        written).
        """
        written: list[tuple[str, yaml.Node, yaml.Node] | None] = []  # None: merged here
        merged: list[tuple[str, yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                sources = (
                    value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                )
                for source in sources:
                    if isinstance(source, yaml.MappingNode):
                        merged += self.entries(source, path, loader, report=False)
                    elif report:
                        self.problems.append(
                            Problem(
                                "'<<' merges a mapping (`<<: *base`) or a list of mappings "
                                "into this one",
                                format_path(path),
                                *self._pos(source),
                            )
                        )
                written.append(None)
                continue
            key = self.scalar(key_node, loader) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, (str, int, float, bool)):
                if report:
                    self.problems.append(
                        Problem(
                            "mapping keys must be plain scalars",
                            format_path(path),
                            *self._pos(key_node),
                        )
                    )
                continue
            written.append((key if isinstance(key, str) else str(key), key_node, value_node))
        explicit = {entry[0] for entry in written if entry is not None}
        out: list[tuple[str, yaml.Node, yaml.Node]] = []
        seen: dict[str, yaml.Node] = {}
        for entry in written:
            if entry is None:  # the merged keys go where `<<` is written
                for key, key_node, value_node in merged:
                    if key not in explicit and key not in seen:
                        seen[key] = key_node
                        out.append((key, key_node, value_node))
                merged = []
                continue
            key, key_node, _ = entry
            if key in seen:
                if report:
                    first = seen[key].start_mark.line + 1
                    self.problems.append(
                        Problem(
                            f"duplicate key '{key}' (first defined on line {first})",
                            format_path((*path, key)),
                            *self._pos(key_node),
                        )
                    )
                continue
            seen[key] = key_node
            out.append(entry)
        return out

    def _pos(self, node: yaml.Node) -> tuple[str, int, int]:
        return self.file, node.start_mark.line + 1, node.start_mark.column + 1


_OPENERS = {"flow sequence": "'['", "flow mapping": "'{'", "quoted scalar": "quote"}


def yaml_problem(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    """A located, plain-words problem for a PyYAML syntax error (or a `LimitError`).

    Unclosed brackets and quotes point at where they open; indentation and tab
    errors say so, at the line that breaks the structure.
    """
    if isinstance(exc, LimitError):
        mark = exc.problem_mark
        return Problem(str(exc.problem), "", file, mark.line + 1, mark.column + 1)
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
    are errors; a key written over one merged in with `<<` is not. `${VAR}` and
    `${VAR:-default}` in strings are replaced from `env` (the process environment
    when `env` is `None`). Text over `MAX_FILE_BYTES` characters, and YAML past the
    limits on nodes, aliases and depth, are located `SpecError`s.
    """
    if len(text) > MAX_FILE_BYTES:
        raise SpecError([_too_large(f"{len(text):,} characters", file)])
    composer = _Composer(file, dict(os.environ) if env is None else env)
    try:
        loader = SpecLoader(text)
    except yaml.reader.ReaderError as exc:
        raise SpecError([_reader_problem(exc, text, file)]) from None
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
        raise SpecError(list(dict.fromkeys(composer.problems)))
    return composer.doc


def _too_large(size: str, file: str) -> Problem:
    limit = f"{MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES // 1024 // 1024} MiB)"
    return Problem(
        f"file too large: {size}, over the limit of {limit} on the size of a spec (not parsed)",
        "",
        file,
    )


def _line_column(text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column of `text[index]`."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def _reader_problem(exc: yaml.reader.ReaderError, text: str, file: str) -> Problem:
    """A located problem for a character YAML does not allow (a control character)."""
    line, column = _line_column(text, exc.position)
    code = int(exc.character)  # a code point: the text is already decoded
    hint = " (a terminal colour code?)" if code == 0x1B else ""
    message = (
        f"invalid YAML: the control character U+{code:04X}{hint} is not allowed in a YAML "
        "file; in a double-quoted string write it as an escape"
    )
    return Problem(message, "", file, line, column)


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
            raise SpecError([_too_large(f"{size:,} bytes", str(path))])
        with path.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)  # a file that grew, or a device
    except FileNotFoundError:
        raise SpecError([Problem(f"file not found: {path}", "", str(path))]) from None
    except OSError as exc:
        raise SpecError([Problem(f"cannot read file: {exc}", "", str(path))]) from None
    if len(raw) > MAX_FILE_BYTES:
        raise SpecError([_too_large(f"more than {MAX_FILE_BYTES:,} bytes", str(path))])
    return parse_yaml(_decode(raw, str(path)), str(path), env)
