"""Checks of a Functional model's graph: node names, `from` and `reuse` references, cycles,
unused inputs and outputs."""

from __future__ import annotations

from collections.abc import Iterator

from kerascli.spec.check_names import check_call
from kerascli.spec.models import FunctionalSpec
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
            yield from check_call("layers", layer[0], layer[1], path, lenient)
        else:
            target = node.reuse
            if target not in nodes:
                hint = did_you_mean(str(target), nodes)
                yield ((*path, "reuse"), f"reuse names no layer node '{target}'{hint}", False)
            elif nodes[target].reuse is not None:
                yield (
                    (*path, "reuse"),
                    f"'{target}' itself reuses a layer; name '{nodes[target].reuse}' instead",
                    False,
                )
        for i, source in enumerate(node.sources):
            if source not in known:
                where: KeyPath = (*path, "from")
                if isinstance(node.from_, list):
                    where = (*where, i)
                elif isinstance(node.from_, dict):
                    where = (*where, list(node.from_)[i])
                hint = did_you_mean(source, known)
                yield (where, f"unknown node or input '{source}'{hint}", False)
    yield from _cycles(functional, base)
    used = {s for node in nodes.values() for s in node.sources} | set(functional.output_names)
    for name in inputs:
        if name not in used:
            yield ((*base, "inputs", name), f"input '{name}' is not used by any node", True)
    for i, name in enumerate(functional.output_names):
        if name not in known:
            where = (
                (*base, "outputs") if isinstance(functional.outputs, str) else (*base, "outputs", i)
            )
            hint = did_you_mean(name, known) or f"; nodes: {', '.join(nodes)}"
            yield (where, f"unknown output node '{name}'{hint}", False)


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
