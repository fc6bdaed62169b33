"""Blocks: a Functional model's block uses expanded into the plain nodes they stand for.

A node `{block: NAME, from: ..., params: {...}, repeat: N}` is replaced by the block's nodes,
named `{use}_{inner}` (or `{use}_block{i}_{inner}` when repeated), their `$param` values
substituted and their references rewritten to the expanded names; repetition i+1 reads
repetition i's outputs, and a reference to the use (`stage2`, `stage2[1]`) reads the last
repetition's outputs. Pure Python: the builder and the checks share it.

Long because expanding is one recursive walk (scopes, references, repetitions, the labels that
say which use a layer came from) whose parts share its state, and the limit on how far a model
expands sits beside it, so that nothing is expanded past it.

    >>> from kerascli.spec.models import ModelSpec
    >>> model = ModelSpec.model_validate({
    ...     "blocks": {"unit": {"inputs": ["x"], "params": {"units": 8},
    ...                         "layers": {"dense": {"Dense": {"units": "$units"}, "from": "x"}},
    ...                         "outputs": "dense"}},
    ...     "functional": {"inputs": {"a": {"shape": [4]}},
    ...                    "layers": {"stack": {"block": "unit", "from": "a", "repeat": 2,
    ...                                         "repeat_params": [{}, {"units": 2}]}},
    ...                    "outputs": "stack"}})
    >>> graph = expand(model)
    >>> [(n.name, n.node.layer, n.node.from_) for n in graph.nodes.values()]
    [('stack_block1_dense', ('Dense', {'units': 8}), 'a'), ('stack_block2_dense', ('Dense', {'units': 2}), 'stack_block1_dense')]
    >>> graph.outputs
    {'stack': 'stack_block2_dense'}
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from kerascli.spec.models import BlockSpec, FunctionalNode, ModelSpec, NodeRef, parameter, ref_parts
from kerascli.spec.problems import KeyPath

Bound = NodeRef | list[Any]
"""What a name stands for after expansion: one reference, or a list of them (a bare reference
to a block use with several outputs)."""


@dataclass(frozen=True)
class Node:
    """One node of the expanded graph.

    Args:
        name: Its expanded name (`stage2_block3_conv1`), the layer's name.
        node: The node, block-free: parameters substituted, references to expanded names.
        path: Where it is written in the spec (in its block for a block's node).
        use: Which use of which block made it, e.g. "in block 'residual', used by 'stage2'
            (repetition 3)"; `None` for a node written in `functional.layers`.
    """

    name: str
    node: FunctionalNode
    path: KeyPath
    use: str | None = None


@dataclass
class Graph:
    """A Functional model's nodes with every block use expanded (in no particular order), and
    each written output name's reference in them."""

    nodes: dict[str, Node] = field(default_factory=dict)
    outputs: dict[str, NodeRef] = field(default_factory=dict)


MAX_LAYERS = 10_000
"""The most layers a model's block uses may expand to (Keras's largest application has about
1,100): a spec that would expand further is refused before it is expanded."""


def substitute(value: Any, params: Mapping[str, Any]) -> Any:
    """`value` with every string `$name` (in nested lists and mappings too) replaced by
    `params[name]`; other values, and `$name` of no known parameter, are kept."""
    name = parameter(value)
    if name is not None and name in params:
        return params[name]
    if isinstance(value, dict):
        return {key: substitute(item, params) for key, item in value.items()}
    if isinstance(value, list):
        return [substitute(item, params) for item in value]
    return value


_REPEATED_NAME = re.compile(r"^(?P<prefix>.+?)_block(?P<repetition>[1-9]\d*)_(?P<inner>.+)$")


def layer_name(use: str, inner: str, repetition: int, repeat: int) -> str:
    """The name of the node `inner` of a block in repetition `repetition` (from 1) of the use
    `use`: `stage2_conv1` when the use does not repeat, else `stage2_block3_conv1`."""
    return f"{use}_{inner}" if repeat == 1 else f"{use}_block{repetition}_{inner}"


def parse_layer_name(name: str) -> tuple[str, int, str] | None:
    """`(use, repetition, inner)` of a name `layer_name` gives a repeated use
    (`stage2_block3_conv1` -> `('stage2', 3, 'conv1')`, the shortest use); `None` for another."""
    match = _REPEATED_NAME.match(name)
    if match is None:
        return None
    return match["prefix"], int(match["repetition"]), match["inner"]


def used_by(use: str, repetition: int, repeat: int) -> str:
    """`'stage2' (repetition 3)`: which use of a block, and which repetition where it repeats."""
    return f"'{use}'" + (f" (repetition {repetition})" if repeat > 1 else "")


def use_label(block: str, where: str) -> str:
    """`in block 'residual', used by 'stage2' (repetition 3)`: what messages say of a layer
    written in a block (`where` from `used_by`; nested uses are joined innermost first)."""
    return f"in block '{block}', used by {where}"


def use_params(block: BlockSpec, node: FunctionalNode, repetition: int) -> dict[str, Any]:
    """The parameters of repetition `repetition` (from 1) of a use: the block's defaults, the
    use's `params`, then the repetition's `repeat_params`."""
    each = node.repeat_params[repetition - 1] if node.repeat_params else {}
    return {**block.params, **node.params, **each}


class BlockError(ValueError):
    """A use that cannot be expanded (two layers of one name, an unknown block, a block that
    uses itself, an output it does not have...); `path` is where it is written."""

    def __init__(self, message: str, path: KeyPath):
        super().__init__(message)
        self.path = path


def _located(path: KeyPath, make: Any, suffix: str = "") -> Any:
    """`make()`, a `ValueError` it raises as a `BlockError` at `path` (the innermost kept)."""
    try:
        return make()
    except BlockError:
        raise
    except ValueError as exc:
        raise BlockError(f"{exc}{suffix}", path) from exc


def expanded_size(model: ModelSpec) -> Iterator[tuple[KeyPath, int]]:
    """Each block use (in the model, then in each block) with the number of layers it expands
    to (a block that uses itself counts as none: `check_blocks` reports it), without expanding
    anything."""
    sizes: dict[str, int] = {}

    def size(block_name: str, within: frozenset[str]) -> int:
        block = model.blocks.get(block_name)
        if block is None or block_name in within:
            return 0
        if block_name not in sizes:
            inner = within | {block_name}
            sizes[block_name] = sum(
                node.repeat * size(node.block, inner) if node.block else 1
                for node in block.layers.values()
            )
        return sizes[block_name]

    graphs: list[tuple[KeyPath, dict[str, FunctionalNode]]] = (
        [(("model", "functional", "layers"), model.functional.layers)] if model.functional else []
    )
    graphs += [
        (("model", "blocks", b, "layers"), block.layers) for b, block in model.blocks.items()
    ]
    for base, layers in graphs:
        for name, node in layers.items():
            if node.block is not None:
                yield (*base, name), node.repeat * size(node.block, frozenset())


def too_large(model: ModelSpec) -> BlockError | None:
    """The error for a model whose block uses expand past `MAX_LAYERS` layers (all of the
    model's together, or one use in a block), if they do."""
    total = 0
    for path, count in expanded_size(model):
        total += count if path[1] == "functional" else 0
        if total > MAX_LAYERS or count > MAX_LAYERS:
            return BlockError(
                f"the block uses expand to more than {MAX_LAYERS:,} layers (this one to {count:,}):"
                " lower repeat",
                path,
            )
    return None


def expand(model: ModelSpec) -> Graph:
    """The model's Functional graph with every block use replaced by the block's nodes.

    Raises:
        BlockError: a use that cannot be expanded (a layer name given twice, an unknown block,
            a block that uses itself, an output index out of range), located where written.
    """
    graph = Graph()
    functional = model.functional
    if functional is None:
        return graph
    error = too_large(model)
    if error is not None:
        raise error
    scope = _Scope(model.blocks, graph, functional.layers, {n: n for n in functional.inputs})
    scope.taken = {*functional.inputs, *(n for n, v in functional.layers.items() if not v.block)}
    for name, node in functional.layers.items():
        path: KeyPath = ("model", "functional", "layers", name)
        if node.block is not None:
            _located(path, lambda: scope.use_outputs(name))  # noqa: B023 (called at once)
        else:
            graph.nodes[name] = Node(name, _located(path, lambda: scope.plain(node)), path)  # noqa: B023
    for i, name in enumerate(functional.output_names):
        where: KeyPath = (
            "model",
            "functional",
            "outputs",
            *([i] if isinstance(functional.outputs, list) else []),
        )
        resolved = _located(where, lambda: scope.resolve(name))  # noqa: B023
        if not isinstance(resolved, str):
            message = f"output '{name}' has {len(resolved)} outputs: pick one ({name}[0])"
            raise BlockError(message, where)
        graph.outputs[name] = resolved
    return graph


class _Scope:
    """The names one level of nodes sees: the model's `functional.layers`, or the nodes of one
    repetition of a block use (`naming`: the use, the repetition and the use's repeat, which
    name them by `layer_name`; `params` are its parameters)."""

    def __init__(
        self,
        blocks: dict[str, BlockSpec],
        graph: Graph,
        layers: dict[str, FunctionalNode],
        inputs: dict[str, Bound],
        naming: tuple[str, int, int] | None = None,
        params: Mapping[str, Any] | None = None,
        within: tuple[tuple[str, str], ...] = (),
    ):
        self.blocks, self.graph, self.layers, self.inputs = blocks, graph, layers, inputs
        self.naming, self.params, self.within = naming, params or {}, within
        self.expanded: dict[str, list[Bound] | None] = {}  # use name -> outputs (None: under way)
        self.taken: set[str] = set()  # the model's own input and layer names

    def name(self, inner: str) -> str:
        if self.naming is None:
            return inner
        use, repetition, repeat = self.naming
        return layer_name(use, inner, repetition, repeat)

    def resolve(self, ref: NodeRef) -> Bound:
        """What `ref` (`x`, `conv[1]`, `stage2[0]`) stands for in the expanded graph."""
        name, index = ref_parts(ref)
        if name in self.inputs:
            bound = self.inputs[name]
            if index is None:
                return bound
            if isinstance(bound, list):
                return _pick(bound, index, name)
            if ref_parts(bound)[1] is not None:
                raise ValueError(f"'{ref}': input '{name}' is one output, '{bound}'")
            return f"{bound}[{index}]"
        node = self.layers.get(name)
        if node is not None and node.block is not None:
            outputs = self.use_outputs(name)
            if index is None:
                return outputs[0] if len(outputs) == 1 else outputs
            return _pick(outputs, index, name)
        if node is None:
            return ref  # an unknown name: the checks report it
        return self.name(name) if index is None else f"{self.name(name)}[{index}]"

    def source(self, value: Any) -> Any:
        """A `from` value with each reference resolved (lists flattened two levels deep)."""
        if isinstance(value, str):
            return self.resolve(value)
        if isinstance(value, dict):
            return {key: self.source(item) for key, item in value.items()}
        return [_flat(self.source(v)) if isinstance(v, list) else self.source(v) for v in value]

    def plain(self, node: FunctionalNode) -> FunctionalNode:
        """A node that is not a use, with its parameters and references resolved."""
        from_ = self.source(node.from_)
        reuse = node.reuse if node.reuse is None else self.resolve(node.reuse)
        if self.naming is None and from_ == node.from_ and reuse == node.reuse:
            return node  # a top-level node that names no use: as written
        data: dict[str, Any] = {"from": from_}
        layer = node.layer
        if layer is None:
            data["reuse"] = reuse
        else:
            data[layer[0]] = substitute(layer[1], self.params)
        if node.call is not None:
            data["call"] = substitute(node.call, self.params)
        return FunctionalNode.model_validate(data)

    def use_outputs(self, name: str) -> list[Bound]:
        """Expand the use `name` (once) and give its last repetition's outputs."""
        if name in self.expanded:
            outputs = self.expanded[name]
            if outputs is None:
                raise ValueError(f"node '{self.name(name)}' reads from itself")
            return outputs
        self.expanded[name] = None
        node = self.layers[name]
        block_name = str(node.block)
        block = self.blocks.get(block_name)
        if block is None:
            raise ValueError(f"unknown block '{block_name}' (used by '{self.name(name)}')")
        if any(b == block_name for b, _ in self.within):
            chain = " -> ".join([*(b for b, _ in reversed(self.within)), block_name])
            raise ValueError(f"block '{block_name}' uses itself: {chain}")
        bound = self._bind(block, node)
        params = substitute(node.params, self.params)
        each = substitute(node.repeat_params, self.params)
        use = node.model_copy(update={"params": params, "repeat_params": each})
        for repetition in range(1, node.repeat + 1):
            where = used_by(name, repetition, node.repeat)
            inner = _Scope(
                self.blocks,
                self.graph,
                block.layers,
                dict(zip(block.inputs, bound, strict=False)),
                (self.name(name), repetition, node.repeat),
                use_params(block, use, repetition),
                ((block_name, where), *self.within),
            )
            inner.taken = self.taken
            inner.expand_block(block_name)
            bound = [inner.resolve(out) for out in block.output_names]
        self.expanded[name] = bound
        return bound

    def _bind(self, block: BlockSpec, node: FunctionalNode) -> list[Bound]:
        """What the use's `from` gives each block input, in the block's input order."""
        if isinstance(node.from_, dict):
            return [self.source(node.from_.get(name, name)) for name in block.inputs]
        if isinstance(node.from_, str):
            return [self.resolve(node.from_)]
        return list(self.source(node.from_))

    def expand_block(self, block_name: str) -> None:
        """Add this repetition's nodes (and those of the uses in it) to the graph."""
        use = ", ".join(use_label(b, where) for b, where in self.within)
        for inner, node in self.layers.items():
            path: KeyPath = ("model", "blocks", block_name, "layers", inner)
            if node.block is not None:
                _located(path, lambda: self.use_outputs(inner), f" ({use})")  # noqa: B023
                continue
            name = self.name(inner)
            if name in self.graph.nodes or name in self.taken:
                message = (
                    f"the layer name '{name}' is given twice ({use}): rename this node or the use"
                )
                raise BlockError(message, path)
            plain = _located(path, lambda: self.plain(node), f" ({use})")  # noqa: B023
            self.graph.nodes[name] = Node(name, plain, path, use)


def _pick(outputs: list[Bound], index: int, name: str) -> Bound:
    if not -len(outputs) <= index < len(outputs):
        raise ValueError(f"'{name}[{index}]': '{name}' has {len(outputs)} output(s)")
    return outputs[index]


def _flat(values: Any) -> list[Any]:
    return [v for item in values for v in (_flat(item) if isinstance(item, list) else [item])]


def block_uses(model: ModelSpec) -> Iterator[tuple[KeyPath, FunctionalNode]]:
    """Every node that uses a block, with where it is written (in `functional.layers` or in a
    block)."""
    if model.functional is not None:
        for name, node in model.functional.layers.items():
            if node.block is not None:
                yield ("model", "functional", "layers", name), node
    for block_name, block in model.blocks.items():
        for name, node in block.layers.items():
            if node.block is not None:
                yield ("model", "blocks", block_name, "layers", name), node
