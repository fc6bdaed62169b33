"""The YAML loader a spec is read with: safe tags, `1e-3` a float, and limits on what it composes.

A spec is untrusted input: files, nodes, aliases and nesting have limits
(`MAX_FILE_BYTES`, `MAX_NODES`, `MAX_ALIASES`, `MAX_EXPANDED`, `MAX_DEPTH`), so that an
alias bomb or a pathologically deep file is a located `LimitError`, not gigabytes of memory
or a `RecursionError`.
"""

from __future__ import annotations

import re
import sys
from typing import Any

import yaml

# Limits on a spec file, generous for real specs (a big one is ~100 KB and a few thousand nodes).
MAX_FILE_BYTES = 1024 * 1024  # refused before parsing
MAX_NODES = 50_000  # values written in the file (scalars, lists, mappings; keys included)
MAX_ALIASES = 10_000  # uses of `*anchor`
MAX_EXPANDED = 100_000  # values with every alias expanded (what a "billion laughs" inflates)
MAX_DEPTH = 100  # levels of nested lists and mappings, aliases expanded


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
