"""Checks of `model.blocks` and of the nodes that use them: names, references, parameters,
`from` and `repeat` against the block, recursion, and each block layer's call with the
parameters of every use.

Long because each kind of block mistake has its own located message.

Findings are located where they are written: in the block for what is wrong inside it (once,
however many uses and repetitions share the mistake), at the use for what is wrong with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from kerascli.spec.blocks import (
    MAX_LAYERS,
    BlockError,
    block_uses,
    expand,
    substitute,
    too_large,
    use_label,
    use_params,
    used_by,
)
from kerascli.spec.check_graph import written_refs
from kerascli.spec.check_names import check_call
from kerascli.spec.models import PARAM, BlockSpec, FunctionalNode, ModelSpec, params_in, ref_parts
from kerascli.spec.problems import Finding, KeyPath, did_you_mean


def check_blocks(model: ModelSpec, lenient: bool) -> Iterator[Finding]:
    """Every problem of the model's blocks and block uses (each reported once)."""
    if model.blocks and model.functional is None:
        yield (
            ("model", "blocks"),
            "blocks are for Functional models: nodes of model.functional use them",
            True,
        )
        return
    oversized = too_large(model)
    if oversized is not None:  # (nothing is expanded past the limit)
        yield (oversized.path, str(oversized), True)
        return
    functional = model.functional
    outside = set(functional.inputs) | set(functional.layers) if functional is not None else set()
    findings = [
        *(f for name, block in model.blocks.items() for f in _check_block(name, block, outside)),
        *_recursion(model),
        *(f for path, node in block_uses(model) for f in _check_use(model, path, node)),
        *_use_refs(model),
        *_check_calls(model, lenient),
    ]
    if not findings and model.blocks:
        try:
            expand(model)
        except BlockError as error:
            findings.append((error.path, str(error), True))
    yield from dict.fromkeys(findings)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _check_block(name: str, block: BlockSpec, outside: set[str]) -> Iterator[Finding]:
    base: KeyPath = ("model", "blocks", name)
    known = [*block.inputs, *block.layers]
    for i, input_name in enumerate(block.inputs):
        if input_name in block.inputs[:i]:
            yield ((*base, "inputs", i), f"block input '{input_name}' is given twice", False)
    for inner, node in block.layers.items():
        path: KeyPath = (*base, "layers", inner)
        if inner in block.inputs:
            yield (path, f"node '{inner}' has the same name as a block input", True)
        for where, ref in written_refs(node.from_, (*path, "from")):
            yield from _inner_ref(name, block, known, outside, ref, where)
        if node.reuse is not None:
            target = block.layers.get(node.reuse)
            if target is None:
                hint = did_you_mean(node.reuse, block.layers)
                yield (
                    (*path, "reuse"),
                    f"reuse names no layer node of block '{name}': '{node.reuse}'{hint}",
                    False,
                )
            elif target.layer is None:
                yield ((*path, "reuse"), f"'{node.reuse}' is not a layer node", False)
        layer = node.layer
        if layer is not None and "name" in layer[1]:
            yield (
                (*path, layer[0], "name"),
                f"a layer in a block is named by each use ('{{use}}_{inner}'): remove name",
                True,
            )
        yield from _undeclared(name, block, node, path)
    outputs = block.output_names
    for i, ref in enumerate(outputs):
        where = (*base, "outputs") if isinstance(block.outputs, str) else (*base, "outputs", i)
        yield from _inner_ref(name, block, known, outside, ref, where)


def _inner_ref(
    name: str, block: BlockSpec, known: list[str], outside: set[str], ref: str, where: KeyPath
) -> Iterator[Finding]:
    source = ref_parts(ref)[0]
    if source in known:
        return
    if source in outside:
        yield (
            where,
            f"'{source}' is outside block '{name}': its nodes read from its inputs "
            f"({', '.join(block.inputs)}) and from each other",
            False,
        )
    else:
        hint = did_you_mean(source, known)
        yield (where, f"unknown node or block input '{source}' in block '{name}'{hint}", False)


def _undeclared(
    name: str, block: BlockSpec, node: FunctionalNode, path: KeyPath
) -> Iterator[Finding]:
    """`$param` values in the node that the block does not declare."""
    layer = node.layer
    values: list[tuple[KeyPath, Any]] = [
        ((*path, "call"), node.call),
        ((*path, "params"), node.params),
    ]
    values += [((*path, "repeat_params"), node.repeat_params)]
    if layer is not None:
        values.append(((*path, layer[0]), layer[1]))
    for where, value in values:
        for at, param in params_in(value, where):
            if param not in block.params:
                hint = did_you_mean(param, block.params) or (
                    f"; block '{name}' declares "
                    + (", ".join(block.params) if block.params else "no params")
                )
                yield (at, f"unknown parameter '${param}' of block '{name}'{hint}", False)


def _recursion(model: ModelSpec) -> Iterator[Finding]:
    """A block that uses itself, directly or through other blocks."""
    reported: set[frozenset[str]] = set()

    def visit(name: str, stack: list[str]) -> Iterator[Finding]:
        for inner, node in model.blocks[name].layers.items():
            used = node.block
            if used is None or used not in model.blocks:
                continue
            if used in stack:
                cycle = [*stack[stack.index(used) :], used]
                if frozenset(cycle) not in reported:
                    reported.add(frozenset(cycle))
                    yield (
                        ("model", "blocks", name, "layers", inner, "block"),
                        f"block '{used}' uses itself: {' -> '.join(cycle)}",
                        False,
                    )
            else:
                yield from visit(used, [*stack, used])

    for name in model.blocks:
        yield from visit(name, [name])


def _check_use(model: ModelSpec, path: KeyPath, node: FunctionalNode) -> Iterator[Finding]:
    name = str(node.block)
    block = model.blocks.get(name)
    if block is None:
        hint = did_you_mean(name, model.blocks) or (
            f"; blocks: {', '.join(model.blocks)}"
            if model.blocks
            else "; model.blocks defines none"
        )
        yield ((*path, "block"), f"unknown block '{name}'{hint}", False)
        return
    if node.call is not None:
        yield ((*path, "call"), "'call' applies to a layer, not to a block use", True)
    given = [((*path, "params"), node.params)]
    given += [((*path, "repeat_params", i), p) for i, p in enumerate(node.repeat_params or [])]
    for where, params in given:
        for key in params:
            if key not in block.params:
                hint = did_you_mean(key, block.params) or (
                    f"; it has {', '.join(block.params)}" if block.params else "; it has none"
                )
                yield ((*where, key), f"block '{name}' has no parameter '{key}'{hint}", True)
    each = node.repeat_params or [{}] * node.repeat
    for param, default in block.params.items():
        missing = [
            i
            for i in range(1, node.repeat + 1)
            if default is None and param not in node.params and param not in each[i - 1]
        ]
        if missing:
            some = "" if len(missing) == node.repeat else f" in repetition {missing[0]}"
            yield (
                path,
                f"block '{name}' needs a value for its parameter '{param}'{some} (its default "
                f"is null): give params: {{{param}: ...}}",
                True,
            )
    yield from _check_from(name, block, node, path)
    inputs, outputs = block.inputs, block.output_names
    if node.repeat > 1 and len(outputs) != len(inputs):
        yield (
            (*path, "repeat"),
            f"repeat: {node.repeat} feeds each repetition's outputs to the next, so block "
            f"'{name}' needs as many outputs as inputs: it has {_plural(len(inputs), 'input')} "
            f"({', '.join(inputs)}) and {_plural(len(outputs), 'output')} ({', '.join(outputs)})",
            False,
        )


def _check_from(
    name: str, block: BlockSpec, node: FunctionalNode, path: KeyPath
) -> Iterator[Finding]:
    inputs = block.inputs
    if isinstance(node.from_, dict):
        for key in node.from_:
            if key not in inputs:
                hint = did_you_mean(key, inputs) or f"; its inputs: {', '.join(inputs)}"
                yield ((*path, "from", key), f"block '{name}' has no input '{key}'{hint}", True)
        for key in inputs:
            if key not in node.from_:
                yield ((*path, "from"), f"from gives nothing for the block input '{key}'", False)
        return
    count = 1 if isinstance(node.from_, str) else len(node.from_)
    if count != len(inputs):
        yield (
            (*path, "from"),
            f"block '{name}' takes {_plural(len(inputs), 'input')} ({', '.join(inputs)}), "
            f"got {count}",
            False,
        )


def _use_refs(model: ModelSpec) -> Iterator[Finding]:
    """References to a block use (`stage2[1]`) within the range of the block's outputs; an
    output of the model names one output of a use."""
    functional = model.functional
    scopes: list[tuple[dict[str, FunctionalNode], KeyPath, Any]] = []
    if functional is not None:
        scopes.append((functional.layers, ("model", "functional"), functional.outputs))
    scopes += [(b.layers, ("model", "blocks", n), b.outputs) for n, b in model.blocks.items()]
    for layers, base, outputs in scopes:
        refs = [
            where_ref
            for inner, node in layers.items()
            for where_ref in written_refs(node.from_, (*base, "layers", inner, "from"))
        ]
        yield from _out_of_range(model, layers, refs, picked=False)
        yield from _out_of_range(model, layers, written_refs(outputs, (*base, "outputs")), True)


def _out_of_range(
    model: ModelSpec,
    layers: dict[str, FunctionalNode],
    refs: Iterable[tuple[KeyPath, str]],
    picked: bool,
) -> Iterator[Finding]:
    for where, ref in refs:
        source, index = ref_parts(ref)
        node = layers.get(source)
        name = None if node is None else node.block
        block = model.blocks.get(name) if name is not None else None
        if block is None:
            continue
        count = len(block.output_names)
        outputs = f"block '{name}' has {_plural(count, 'output')}"
        if index is not None and not -count <= index < count:
            yield (
                where,
                f"'{ref}' is out of range: {outputs} ({source}[0] to {source}[{count - 1}])",
                False,
            )
        elif index is None and picked and count > 1:
            yield (
                where,
                f"'{source}' gives {count} outputs (block '{name}'): name one, {source}[0] to "
                f"{source}[{count - 1}]",
                False,
            )


def _check_calls(model: ModelSpec, lenient: bool) -> Iterator[Finding]:
    """Each block layer's call with the parameters of each use and repetition (a block no
    model node uses: with its defaults). What a use's parameters make wrong says which use."""
    seen: set[tuple[str, str]] = set()

    def walk(
        name: str, params: dict[str, Any], stack: tuple[str, ...], label: str
    ) -> Iterator[Finding]:
        if (name, repr(params)) in seen or len(seen) > MAX_LAYERS:  # (bounded time)
            return
        seen.add((name, repr(params)))
        for inner, node in model.blocks[name].layers.items():
            path: KeyPath = ("model", "blocks", name, "layers", inner)
            layer = node.layer
            if layer is not None:
                written = set(check_call("layers", layer[0], _unset(layer[1]), path, lenient))
                args = _unset(substitute(layer[1], params))
                for where, message, at_key in check_call("layers", layer[0], args, path, lenient):
                    if (where, message, at_key) not in written:
                        message = f"{message} ({label})" if label else message
                    yield (where, message, at_key)
            elif node.block in model.blocks and node.block not in stack:
                yield from uses(inner, node, params, stack, label)

    def uses(
        name: str,
        node: FunctionalNode,
        params: dict[str, Any],
        stack: tuple[str, ...],
        label: str,
    ) -> Iterator[Finding]:
        block_name = str(node.block)
        block = model.blocks[block_name]
        given = substitute(node.params, params)
        each = substitute(node.repeat_params, params)
        use = node.model_copy(update={"params": given, "repeat_params": each})
        for i in range(1, node.repeat + 1):
            inner = use_label(block_name, used_by(name, i, node.repeat))
            chain = f"{inner}, {label}" if label else inner
            yield from walk(block_name, use_params(block, use, i), (*stack, block_name), chain)

    if model.functional is not None:
        for name, node in model.functional.layers.items():
            if node.block in model.blocks:
                yield from uses(name, node, {}, (), "")
    for name, block in model.blocks.items():
        if not any(seen_name == name for seen_name, _ in seen):
            yield from walk(name, dict(block.params), (name,), "")


def _unset(value: Any) -> Any:
    """`value` with each parameter left without a value (`$name`, or null) as null."""
    if isinstance(value, str):
        return None if PARAM.match(value) else value
    if isinstance(value, dict):
        return {key: _unset(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unset(item) for item in value]
    return value
