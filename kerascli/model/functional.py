"""Build a Functional model from its spec: the graph of nodes (blocks expanded), each node
called on the tensors its `from` names, with its call arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from graphlib import TopologicalSorter
from typing import TYPE_CHECKING, Any

from kerascli.model.applications import build_application
from kerascli.model.keras_private import keep_training
from kerascli.model.ops import call_op
from kerascli.model.precision import output_args
from kerascli.spec import catalog
from kerascli.spec.blocks import BlockError, Node, expand
from kerascli.spec.check_graph import written_refs
from kerascli.spec.facts import fed_one_array, layer_family, target_keys
from kerascli.spec.models import InputSpec, ref_parts
from kerascli.spec.problems import KeyPath, SpecError, short_message

if TYPE_CHECKING:
    from kerascli.model.builder import Builder


def build_functional(builder: Builder) -> Any:
    """The `keras.Model` of the spec's `model.functional`."""
    fn = builder.spec.model.functional
    assert fn is not None
    base: KeyPath = ("model", "functional")
    tensors: dict[str, Any] = {
        name: builder.input(spec, name, (*base, "inputs", name)) for name, spec in fn.inputs.items()
    }
    try:
        graph = expand(builder.spec.model)
    except BlockError as exc:  # (`validate` reports it the same, from `check_blocks`)
        raise builder.error(exc.path, str(exc), at_key=True) from exc
    order = {name: _reads(node, graph.nodes) for name, node in graph.nodes.items()}
    layers: dict[str, Any] = {}
    ends = {ref_parts(ref)[0] for ref in graph.outputs.values()}  # the output nodes
    for name in TopologicalSorter(order).static_order():
        tensors[name] = _call_node(builder, graph.nodes[name], tensors, layers, name in ends)
    outputs = {n: resolve_ref(ref, tensors) for n, ref in graph.outputs.items()}
    try:
        return builder.keras.Model(
            inputs=_model_inputs(fn.inputs, tensors),
            outputs=as_fed(outputs, target_keys(builder.spec)),
            name=builder.model_name(fn.name),
        )
    except Exception as exc:
        raise builder.error(
            (*base, "outputs"), f"cannot build the model: {short_message(exc)}"
        ) from exc


def _call_node(
    builder: Builder, node: Node, tensors: dict[str, Any], layers: dict[str, Any], end: bool
) -> Any:
    """Call one node on the tensors it reads; its layer (or the one it reuses) goes into
    `layers`. A layer that gives a model output (`end`) is float32 under a mixed policy."""
    spec, path = node.node, node.path
    _check_indices(builder, node, tensors)
    source = resolve_from(spec.from_, tensors)
    if spec.layer is None:
        assert spec.reuse is not None
        layer, where = layers[spec.reuse], (*path, "reuse")
    else:
        cls, args = spec.layer
        where = (*path, cls)
        family = layer_family(cls)
        if family == "ops":
            return _located(builder, node, where, lambda: call_op(builder.keras, cls, source, args))
        if family == "applications":
            if "name" in catalog.classes("applications")[cls].params:
                args.setdefault("name", node.name)
            shape = _first_tensor(source).shape[1:]
            make = lambda: build_application(builder, cls, args, shape, path)  # noqa: E731
        else:
            args.setdefault("name", node.name)
            args = output_args(args, builder.policy) if end else args
            make = lambda: builder.instantiate("layers", cls, args, path)  # noqa: E731
        layer = _located(builder, node, where, make)
    layers[node.name] = layer
    call_args = dict(spec.call or {})
    if call_args.get("training") is not None:
        keep_training(layer)
    try:
        if isinstance(spec.from_, dict):
            return layer(**source, **call_args)
        return layer(source, **call_args)
    except Exception as exc:
        raise builder.error(
            where,
            f"cannot call {layer.__class__.__name__} '{node.name}': "
            f"{short_message(exc)}{_use(node)}",
            at_key=spec.layer is not None,
        ) from exc


def _check_indices(builder: Builder, node: Node, tensors: dict[str, Any]) -> None:
    """Refuse `lstm[i]` where node `lstm` has no output i."""
    for where, ref in written_refs(node.node.from_, (*node.path, "from")):
        name, index = ref_parts(ref)
        value = tensors[name]
        if index is None:
            continue
        count = len(value) if isinstance(value, (list, tuple)) else 1
        if isinstance(value, (list, tuple)) and -count <= index < count:
            continue
        if count == 1:
            message = f"'{ref}': '{name}' has one output: write '{name}'"
        else:
            message = f"'{ref}': '{name}' has {count} outputs (0 to {count - 1})"
        raise builder.error(where, message + _use(node))


def _located(builder: Builder, node: Node, where: KeyPath, make: Callable[[], Any]) -> Any:
    """`make()`; a SpecError it raises says which use of a block it was in, any other error
    is located at `where`."""
    try:
        return make()
    except SpecError as exc:
        if node.use is None:
            raise
        problems = [replace(p, message=p.message + _use(node)) for p in exc.problems]
        raise SpecError(problems) from exc
    except Exception as exc:
        message = f"{where[-1]} '{node.name}': {short_message(exc)}{_use(node)}"
        raise builder.error(where, message, at_key=True) from exc


def resolve_ref(ref: str, tensors: dict[str, Any]) -> Any:
    """The tensor(s) a reference names: `lstm[1]` is output 1 of node `lstm`."""
    name, index = ref_parts(ref)
    value = tensors[name]
    return value if index is None else value[index]


def resolve_from(source: Any, tensors: dict[str, Any]) -> Any:
    """What a node's `from` gives its call: a tensor, a list, or keyword arguments."""
    if isinstance(source, str):
        return resolve_ref(source, tensors)
    if isinstance(source, dict):
        return {k: resolve_from(v, tensors) for k, v in source.items()}
    return [resolve_from(v, tensors) for v in source]


def _first_tensor(source: Any) -> Any:
    if isinstance(source, dict):
        return _first_tensor(next(iter(source.values())))
    if isinstance(source, (list, tuple)):
        return _first_tensor(source[0])
    return source


def _reads(node: Node, nodes: dict[str, Node]) -> set[str]:
    """The nodes `node` is built after: those it reads, and the one whose layer it reuses."""
    reads = set(node.node.sources) & set(nodes)
    return reads | {node.node.reuse} if node.node.reuse is not None else reads


def _model_inputs(inputs: dict[str, InputSpec], tensors: dict[str, Any]) -> Any:
    """A Functional model's inputs: the only one, or a list in declared order, so the model
    is called with a list as well as a dict by input name (a dict where an input's `name`
    differs from its key, as the data is keyed by the keys)."""
    if len(inputs) == 1:
        return tensors[next(iter(inputs))]
    if all(spec.name in (None, key) for key, spec in inputs.items()):
        return [tensors[key] for key in inputs]
    return {key: tensors[key] for key in inputs}


def _use(node: Node) -> str:
    return f" ({node.use})" if node.use else ""


def as_fed(values: dict[str, Any], keys: list[str]) -> Any:
    """`values` (by name) as the model is fed them: the only one where `keys`
    (`inputs_by_array_key`, `target_keys`) say one bare array, else the dict."""
    return next(iter(values.values())) if fed_one_array(keys) else values
