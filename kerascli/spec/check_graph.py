"""Checks of a Functional model's graph: node names, `from` and `reuse` references, cycles,
unused inputs and outputs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kerascli.spec.check_names import check_call
from kerascli.spec.facts import layer_family
from kerascli.spec.models import FunctionalNode, FunctionalSpec, parameter, ref_parts
from kerascli.spec.problems import Finding, KeyPath, did_you_mean


def check_graph(functional: FunctionalSpec, lenient: bool) -> Iterator[Finding]:
    """Unknown names, duplicate names, cycles, unused inputs and bad outputs of a Functional model."""
    base: KeyPath = ("model", "functional")
    inputs, nodes = functional.inputs, functional.layers
    known = [*inputs, *nodes]
    for name in nodes:
        if name in inputs:
            yield ((*base, "layers", name), f"node '{name}' has the same name as an input", True)
    for name, node in nodes.items():
        path: KeyPath = (*base, "layers", name)
        layer = node.layer
        if layer is not None:
            params = list(_parameters(layer[1], (*path, layer[0])))
            yield from params
            if not params:
                yield from check_call("layers", layer[0], layer[1], path, lenient)
        elif node.reuse is not None:  # (a block use is `check_blocks`'s)
            target = node.reuse
            if target not in nodes:
                hint = did_you_mean(str(target), nodes)
                yield ((*path, "reuse"), f"reuse names no layer node '{target}'{hint}", False)
            elif _is_op(nodes[target]):
                yield (
                    (*path, "reuse"),
                    f"'{target}' is an op, which has no layer to reuse: write the op again",
                    False,
                )
            elif nodes[target].layer is None:
                yield (
                    (*path, "reuse"),
                    f"'{target}' itself reuses a layer; name '{nodes[target].reuse}' instead"
                    if nodes[target].reuse is not None
                    else f"'{target}' is a block use, not a layer: a block's layers are reused "
                    "by repeating the block",
                    False,
                )
        for key, value in (node.call or {}).items():
            if isinstance(value, str) and ref_parts(value)[0] in known:
                yield (
                    (*path, "call", key),
                    f"'{value}' names a node or input: a tensor argument goes in `from` "
                    f"(from: {{..., {key}: {value}}}); `call` takes the other arguments",
                    False,
                )
        for where, ref in written_refs(node.from_, (*path, "from")):
            source, index = ref_parts(ref)
            if source not in known:
                hint = did_you_mean(source, known)
                yield (where, f"unknown node or input '{source}'{hint}", False)
            elif index is not None and source in inputs:
                yield (where, f"'{source}' is an input, a single tensor: write '{source}'", False)
    yield from _cycles(functional, base)
    outputs = [ref_parts(name)[0] for name in functional.output_names]
    used = {s for node in nodes.values() for s in node.sources} | set(outputs)
    for name in inputs:
        if name not in used:
            yield ((*base, "inputs", name), f"input '{name}' is not used by any node", True)
    for i, name in enumerate(outputs):
        if name not in known:
            where = (
                (*base, "outputs") if isinstance(functional.outputs, str) else (*base, "outputs", i)
            )
            hint = did_you_mean(name, known) or f"; nodes: {', '.join(nodes)}"
            yield (where, f"unknown output node '{name}'{hint}", False)


def _parameters(value: Any, path: KeyPath) -> Iterator[Finding]:
    """A `$name` outside any block: there is no parameter it could stand for."""
    name = parameter(value)
    if name is not None:
        message = f"'{value}' is a block parameter: `$` values stand for parameters inside blocks"
        yield (path, message, False)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _parameters(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _parameters(item, (*path, i))


def _is_op(node: FunctionalNode) -> bool:
    return node.layer is not None and layer_family(node.layer[0]) == "ops"


def written_refs(source: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    """Every reference in a node's `from`, with the key path where it is written."""
    if isinstance(source, str):
        yield path, source
    elif isinstance(source, dict):
        for key, value in source.items():
            yield from written_refs(value, (*path, key))
    else:
        for i, value in enumerate(source):
            yield from written_refs(value, (*path, i))


def _cycles(functional: FunctionalSpec, base: KeyPath) -> Iterator[Finding]:
    nodes = functional.layers
    state: dict[str, int] = {}
    reported: set[frozenset[str]] = set()

    def visit(name: str, stack: list[str]) -> Iterator[Finding]:
        state[name] = 1
        for source in nodes[name].sources:
            if source not in nodes or source in functional.inputs:
                continue
            if state.get(source) == 1:
                cycle = [*stack[stack.index(source) :], source] if source in stack else [source]
                key = frozenset(cycle)
                if key not in reported:
                    reported.add(key)
                    yield (
                        (*base, "layers", source),
                        f"cycle in the layer graph: {' -> '.join(reversed(cycle))}",
                        True,
                    )
            elif source not in state:
                yield from visit(source, [*stack, source])
        state[name] = 2

    for name in nodes:
        if name not in state:
            yield from visit(name, [name])
