"""From composed YAML nodes to plain data, with the position of every key and value.

`Composer` turns the node tree of `SpecLoader` into plain dicts, lists and scalars while
it fills the maps `key path -> Mark`; it applies YAML's `<<` merge keys, reports duplicate
keys and keys that are not scalars, and replaces `${VAR}` / `${VAR:-default}` in strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import yaml

from kerascli.spec.problems import KeyPath, Problem, format_path
from kerascli.spec.yaml_limits import load_value

MERGE_TAG = "tag:yaml.org,2002:merge"  # the `<<` key
VALUE_TAG = "tag:yaml.org,2002:value"  # a plain `=`, read as the text '='

Entry = tuple[str, yaml.Node, yaml.Node]  # a mapping's (key, key node, value node)


@dataclass(frozen=True)
class Mark:
    """A 1-based position in a file."""

    file: str
    line: int | None
    column: int | None


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> tuple[Any, str | None]:
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


class Composer:
    """Builds the plain data of one file's node tree.

    Args:
        file: The file the nodes come from, for the marks.
        env: The variables `${VAR}` is replaced from; `None` leaves strings as written.
    """

    def __init__(self, file: str, env: dict[str, str] | None):
        self.file = file
        self.env = env
        self.keys: dict[KeyPath, Mark] = {}  # position of each mapping key, by key path
        self.values: dict[KeyPath, Mark] = {}  # position of each value, by key path
        self.problems: list[Problem] = []

    def mark(self, node: yaml.Node) -> Mark:
        return Mark(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: KeyPath, loader: yaml.SafeLoader) -> Any:
        """The plain value of `node`, written at `path`; its marks and problems recorded."""
        self.values[path] = self.mark(node)
        if isinstance(node, yaml.MappingNode):
            out: dict[Any, Any] = {}
            for key, key_node, value_node in self.entries(node, path, loader, report=True):
                child = (*path, key)
                self.keys[child] = self.mark(key_node)
                out[key] = self.build(value_node, child, loader)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), loader) for i, item in enumerate(node.value)]
        value = self.scalar(node, loader)
        if isinstance(value, str) and self.env is not None and "${" in value:
            value, error = interpolate(value, self.env)
            if error:
                self.report(error, path, node)
        return value

    @staticmethod
    def scalar(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
        if node.tag in (MERGE_TAG, VALUE_TAG):  # `<<` or `=` where no key is merged: text
            return node.value
        return loader.construct_object(node, deep=True)

    def entries(
        self, node: yaml.MappingNode, path: KeyPath, loader: yaml.SafeLoader, report: bool
    ) -> list[Entry]:
        """The `(key, key node, value node)` entries of a mapping, in the file's order, with
        YAML's merge keys applied: `<<: *base` (or `<<: [*a, *b]`) adds the keys of those
        mappings that the mapping does not write itself, an earlier mapping's before a later
        one's. A key written twice is a duplicate; a key written over a merged one is not.
        Problems are recorded when `report` (a merged mapping reports its own where it is
        written).
        """
        written: list[Entry | None] = []  # None: where `<<` is written
        merged: list[Entry] = []
        for key_node, value_node in node.value:
            if key_node.tag == MERGE_TAG:
                merged += self._merged(value_node, path, loader, report)
                written.append(None)
                continue
            key = self.scalar(key_node, loader) if isinstance(key_node, yaml.ScalarNode) else None
            if isinstance(key, (str, int, float, bool)):
                written.append((key if isinstance(key, str) else str(key), key_node, value_node))
            elif report:
                self.report("mapping keys must be plain scalars", path, key_node)
        return self._once_each(written, merged, path, report)

    def _merged(
        self, value_node: yaml.Node, path: KeyPath, loader: yaml.SafeLoader, report: bool
    ) -> list[Entry]:
        """The entries that `<<: value_node` merges in, the first mapping's first."""
        sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
        out: list[Entry] = []
        for source in sources:
            if isinstance(source, yaml.MappingNode):
                out += self.entries(source, path, loader, report=False)
            elif report:
                message = "'<<' merges a mapping (`<<: *base`) or a list of mappings into this one"
                self.report(message, path, source)
        return out

    def _once_each(
        self, written: list[Entry | None], merged: list[Entry], path: KeyPath, report: bool
    ) -> list[Entry]:
        """Each key once: the `merged` entries go where the first `<<` is written, less
        the keys the mapping writes itself; a key written twice is reported."""
        explicit = {entry[0] for entry in written if entry is not None}
        out: list[Entry] = []
        seen: dict[str, yaml.Node] = {}
        for entry in written:
            if entry is None:
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
                    message = f"duplicate key '{key}' (first defined on line {first})"
                    self.report(message, (*path, key), key_node)
                continue
            seen[key] = key_node
            out.append(entry)
        return out

    def report(self, message: str, path: KeyPath, node: yaml.Node) -> None:
        """Record a problem at `path`, located where `node` is written."""
        mark = self.mark(node)
        self.problems.append(Problem(message, format_path(path), mark.file, mark.line, mark.column))
