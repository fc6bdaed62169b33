"""Checks of a Functional model's graph: node names, `from` and `reuse` references, cycles,
unused inputs and outputs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kerascli.spec.check_names import check_call
from kerascli.spec.facts import layer_family
from kerascli.spec.models import FunctionalNode, FunctionalSpec, params_in, ref_parts
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
            params = list(params_in(layer[1], (*path, layer[0])))
            for where, name in params:  # a `$name` outside any block: no parameter to be
                message = f"'${name}' is a block parameter: `$` values stand for parameters "
                yield (where, message + "inside blocks", False)
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
    yield from _shared_training(functional, base)
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


def _shared_training(functional: FunctionalSpec, base: KeyPath) -> Iterator[Finding]:
    """A layer called more than once (`reuse:`) runs with one `call.training` (kerascli holds it
    for the layer, `keras_private.keep_training`): its calls must agree."""
    calls: dict[str, list[tuple[str, Any]]] = {}
    for name, node in functional.layers.items():
        owner = node.reuse if node.reuse is not None else name
        calls.setdefault(owner, []).append((name, (node.call or {}).get("training")))
    for owner, listed in calls.items():
        if len({value for _, value in listed}) > 1:
            name = next(name for name, value in listed if value is not None)
            names = ", ".join(f"'{n}'" for n, _ in listed)
            yield (
                (*base, "layers", name, "call", "training"),
                f"the layer of '{owner}' is called by {names}: give every call the same "
                "call.training (it holds for the layer, not for one call)",
                False,
            )


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
