"""A Keras Functional graph as spec nodes (`kerascli import`).

The graph is read from the model's own serialised config (`model.get_config()`), which names
each call's input tensors by `keras_history` (layer, call, output); the live layers tell how
many outputs each call gives. Calls are read in graph order (each call after the calls whose
tensors it reads, else in the config's order): a layer's first call becomes a node named by the
layer, later calls `reuse:` nodes (`LAYER_call2`); raw `keras.ops` calls `ops.NAME` nodes, named
by the function (`add`, `add_2`) apart from every layer name, not by Keras's global counters;
nested models (Keras's applications use nested Sequentials, a transfer-learning model its
backbone) are inlined, their layers keeping their names (a name two layers have is refused, never
overwritten). An explicit `training=False` a layer is called with is written as its node's
`call: {training: false}`; one a nested model is called with, on each of its nodes whose layer
takes `training` (as Keras passes it on to them); `training=True` is reported (a spec refuses
it).

Long because reading a call (its layer or op, its wiring, its call arguments) and ordering the
calls share the reader's state, the names it has given.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any

from kerascli.model.import_args import Arguments, key_text, snake_case
from kerascli.model.import_types import ImportFailed, Unexpressible
from kerascli.spec.facts import OPS_PREFIX

Scope = dict[tuple[str, int, int], str]
"""A model's tensors by `keras_history` (layer name, call, output) -> spec reference."""
Call = tuple[str, int]
"""One call of a model's config: (layer name, call index)."""


class Ref(str):
    """A spec reference to a tensor (a node or input name, or `node[i]`), not a constant."""


@dataclass
class Graph:
    """What the reader found: spec inputs and nodes, and the layers holding weights."""

    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    layers: dict[str, Any] = field(default_factory=dict)  # node name -> Keras layer
    plugins: list[str] = field(default_factory=list)
    unexpressible: list[Unexpressible] = field(default_factory=list)


PLUGIN_ADVICE = (
    "the spec cannot build {cls}: write it as a plugin layer (a class in a .py file, named in "
    "`plugins: [file.py]`) and use it by its class name"
)
TRAINING_TRUE = (
    "called with training=True, which a spec cannot hold (only `call: {training: false}`; "
    "Keras calls a layer with training=False to evaluate and predict): call it without "
    "training, then save and import again"
)
_KERAS_INTERNAL = "keras.src.applications."  # Keras's own application layers (LayerScale...)


class GraphReader:
    """Reads Functional and Sequential configs into one flat `Graph`.

    Args:
        keras: The `keras` module.
    """

    def __init__(self, keras: Any):
        self.keras = keras
        self.args = Arguments(keras)
        self.graph = Graph()
        self.layer_names: set[str] = set()  # every layer's name: no ops node takes one
        self.owners: dict[str, str] = {}  # node name -> the model whose layer it is
        self.models: list[str] = []  # the models being read, outermost first
        self.training: bool | None = None  # the `training` a nested model is called with

    # -- models ----------------------------------------------------------------------------
    def functional(self, model: Any, outer: list[Any] | None = None) -> list[Any]:
        """Add `model`'s nodes; return its outputs' references. `outer`: the references the
        inputs of a nested model are called on (`None` for the top-level model)."""
        config = model.get_config()
        ops = {op.name: op for op in model.operations}
        self.models.append(model.name)
        self.layer_names.update(_layer_names(self.keras, model))
        nodes = {id(n) for ns in model._nodes_by_depth.values() for n in ns}
        scope: Scope = {}
        input_names = [ref[0] for ref in _histories(config["input_layers"])]
        entries = {entry["name"]: entry for entry in config["layers"]}
        for name, entry in entries.items():
            if entry["class_name"] == "InputLayer":
                if outer is None:
                    self.graph.inputs[name] = _input_spec(entry["config"])
                    scope[(name, 0, 0)] = Ref(name)
                else:
                    scope[(name, 0, 0)] = outer[input_names.index(name)]
        for name, k in graph_order(config["layers"]):
            entry, op = entries[name], ops[name]
            live = [n for n in op._inbound_nodes if id(n) in nodes]
            args = _decode(entry["inbound_nodes"][k].get("args", []), scope)
            kwargs = _decode(entry["inbound_nodes"][k].get("kwargs", {}), scope)
            outputs = len(live[k].outputs) if k < len(live) else 1
            refs = self.call(op, entry, k, args, kwargs)
            for i in range(max(outputs, len(refs))):  # a layer's several as `node[i]`
                ref = refs[i] if len(refs) > 1 else refs[0]
                scope[(name, k, i)] = Ref(f"{ref}[{i}]") if len(refs) < outputs else ref
        self.models.pop()
        return [scope[tuple(h)] for h in _histories(config["output_layers"])]  # type: ignore[index]

    def sequential(self, model: Any, outer: Any) -> Any:
        """Add a (nested) Sequential's layers called in a chain on `outer`; return the last."""
        self.layer_names.update(_layer_names(self.keras, model))
        self.models.append(model.name)
        ref = outer
        for layer in model.layers:
            if isinstance(layer, self.keras.Model):
                ref = self.nested(layer, 0, [ref], {})[0]
            else:
                ref = self._layer_node(layer, layer.name, 0, [ref], {})[0]
        self.models.pop()
        return ref

    def nested(self, model: Any, k: int, args: list[Any], kwargs: dict[str, Any]) -> list[Any]:
        """Inline call `k` of a nested model: its layers become nodes, called on `args`; an
        explicit `training` it is called with goes to its nodes (an outer one wins, as in
        Keras). Return the references of its outputs."""
        kind = type(model).__name__
        if k > 0:
            raise ImportFailed(
                f"the nested model '{model.name}' ({kind}) is called more than once: "
                "kerascli import inlines a nested model's layers once; call it once, or call "
                "its layers again, then save and import again"
            )
        others = [key for key, value in kwargs.items() if key != "training" and value is not None]
        if others:
            self._unexpressible(
                model.name,
                kind,
                f"a nested model called with {', '.join(others)}: call its layers with it instead",
            )
        outer_training = self.training
        if self.training is None:
            self.training = kwargs.get("training")
        try:
            if isinstance(model, self.keras.Sequential):
                return [self.sequential(model, args[0])]
            return self.functional(model, _flat_tensors(args))
        finally:
            self.training = outer_training

    # -- one call ----------------------------------------------------------------------------
    def call(
        self, op: Any, entry: dict[str, Any], k: int, args: list[Any], kwargs: Any
    ) -> list[Any]:
        """Add the node of call `k` of `op`; return the references of its outputs."""
        if isinstance(op, self.keras.Model):
            return self.nested(op, k, args, kwargs)
        if not isinstance(op, self.keras.layers.Layer):
            return [self._op_node(op, entry, args, kwargs)]
        name = op.name if k == 0 else self._unique(f"{op.name}_call{k + 1}")
        return self._layer_node(op, name, k, args, kwargs)

    def _layer_node(self, layer: Any, name: str, k: int, args: list[Any], kwargs: Any) -> list[Any]:
        params = _call_signature(layer.call)
        source, call = self._wiring(params, args, kwargs)
        if self.training is not None and "training" in params:
            call["training"] = self.training
        if call.get("training") is True:  # not kept in a saved model: a spec refuses it
            del call["training"]
            self._unexpressible(name, type(layer).__name__, TRAINING_TRUE)
        self._claim(name, layer)
        if k == 0:
            node: dict[str, Any] = {self._layer_class(layer): self._layer_args(layer)}
            self.graph.layers[name] = layer
        else:
            node = {"reuse": layer.name}
        node["from"] = source
        if call:
            node["call"] = call
        self.graph.nodes[name] = node
        return [Ref(name)]

    def _layer_class(self, layer: Any) -> str:
        cls = type(layer)
        name = cls.__name__
        if getattr(self.keras.layers, name, None) is cls and name != "Lambda":
            return name
        if cls.__module__.startswith(_KERAS_INTERNAL):
            if cls.__module__ not in self.graph.plugins:
                self.graph.plugins.append(cls.__module__)
            return name
        self._unexpressible(layer.name, name, PLUGIN_ADVICE.format(cls=name))
        return name

    def _layer_args(self, layer: Any) -> dict[str, Any]:
        if type(layer).__name__ == "Lambda":  # its function is code, which a spec never holds
            return {}
        return self.args.of(type(layer), layer.get_config())

    def _op_node(self, op: Any, entry: dict[str, Any], args: list[Any], kwargs: Any) -> Ref:
        cls = type(op).__name__
        function_name = "getitem" if cls == "GetItem" else snake_case(cls)
        name = self._unique(function_name)
        function = getattr(self.keras.ops, snake_case(cls), None)
        if function is None:
            self._unexpressible(name, cls, f"keras.ops has no function '{snake_case(cls)}'")
            self.graph.nodes[name] = {f"{OPS_PREFIX}{function_name}": {}, "from": args[0]}
            return Ref(name)
        if cls == "GetItem":
            self.graph.nodes[name] = {
                f"{OPS_PREFIX}getitem": {"key": key_text(args[1])},
                "from": args[0],
            }
            return Ref(name)
        params = inspect.signature(function).parameters
        constructed = {k: v for k, v in entry["config"].items() if k != "name"}
        values = {**constructed, **dict(zip(params, args, strict=False)), **kwargs}
        values = {
            k: v
            for k, v in values.items()
            if not (k in params and not _is_tensors(v) and _is_default(params[k], v))
        }
        tensors = {k: v for k, v in values.items() if _is_tensors(v)}
        constants = {k: self.args.value(v) for k, v in values.items() if k not in tensors}
        leading = list(params)[: len(tensors)]
        if list(tensors) == leading and len(tensors) == 1:
            source: Any = tensors[leading[0]]
        elif list(tensors) == leading:
            source = [tensors[k] for k in leading]
        else:
            source = tensors
        self.graph.nodes[name] = {f"{OPS_PREFIX}{function_name}": constants, "from": source}
        return Ref(name)

    def _wiring(
        self, params: dict[str, Any], args: list[Any], kwargs: dict[str, Any]
    ) -> tuple[Any, dict[str, Any]]:
        """A layer call's `from` (its tensors) and `call` (its other arguments, defaults left
        out)."""
        tensor_kwargs = {k: v for k, v in kwargs.items() if _is_tensors(v)}
        call = {
            k: self.args.value(v)
            for k, v in kwargs.items()
            if k not in tensor_kwargs
            and v is not None
            and (k == "training" or not (k in params and _is_default(params[k], v)))
        }
        if len(args) == 1 and _is_tensors(args[0]) and not tensor_kwargs:
            return args[0], call
        names = list(params)
        mapping: dict[str, Any] = {}
        for i, value in enumerate(args):
            target = mapping if _is_tensors(value) else call
            target[names[i] if i < len(names) else f"arg{i}"] = value
        return {**mapping, **tensor_kwargs}, call

    # -- bookkeeping -------------------------------------------------------------------------
    def _unique(self, name: str) -> str:
        """`name`, or `name_2`, `name_3`...: the first that no node, input or layer has."""
        base, n = name, 1
        taken = (self.graph.nodes, self.graph.inputs, self.layer_names)
        while any(name in names for names in taken):
            n += 1
            name = f"{base}_{n}"
        return name

    def _claim(self, name: str, layer: Any) -> None:
        """Take `name` for the node of `layer`; refuse a name another node or input has."""
        model = self.models[-1] if self.models else "the model"
        if name in self.graph.inputs:
            other = f"an input of '{self.models[0]}'"
        elif name in self.graph.nodes:
            other = f"a layer of '{self.owners.get(name, model)}'"
        else:
            self.owners[name] = model
            return
        raise ImportFailed(
            f"the layer '{layer.name}' of '{model}' has the name of {other}: a spec names each "
            "node by its layer, so the names must differ; rename one (its `name`), then save "
            "and import again"
        )

    def _unexpressible(self, node: str, cls: str, advice: str) -> None:
        self.graph.unexpressible.append(Unexpressible(node, cls, advice))


def graph_order(entries: list[dict[str, Any]]) -> list[Call]:
    """The calls of a Functional config's layers (`entries`), each after the calls whose
    tensors it reads and after its layer's earlier calls, else in the config's order. (Keras
    lists layers by their first call: a shared layer's later call may read a layer listed
    after it.)"""
    needs: dict[Call, list[Call]] = {}
    for entry in entries:
        for k, inbound in enumerate(entry["inbound_nodes"]):
            reads = [(h[0], h[1]) for h in _tensor_histories(inbound)]
            needs[(entry["name"], k)] = [*reads, *([(entry["name"], k - 1)] if k else [])]
    order: list[Call] = []
    placed: set[Call] = set()
    for call in needs:  # depth first, without recursion (a chain may be 1,000 calls long)
        stack, visiting = [(call, iter(needs[call]))], {call}
        while stack and call not in placed:
            current, pending = stack[-1]
            after = next((c for c in pending if c in needs and c not in placed), None)
            if after is None or after in visiting:  # ready (a cycle: left to fail later)
                stack.pop()
                if current not in placed:
                    placed.add(current)
                    order.append(current)
            else:
                visiting.add(after)
                stack.append((after, iter(needs[after])))
    return order


def _tensor_histories(value: Any) -> list[list[Any]]:
    """The `keras_history` of every tensor in serialised call arguments."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return [value["config"]["keras_history"]]
    if isinstance(value, dict):
        return [h for item in value.values() for h in _tensor_histories(item)]
    if isinstance(value, (list, tuple)):
        return [h for item in value for h in _tensor_histories(item)]
    return []


def _layer_names(keras: Any, model: Any) -> set[str]:
    """The names of a model's layers (not its raw ops), nested models' layers included."""
    names: set[str] = set()
    for op in getattr(model, "operations", None) or model.layers:
        if isinstance(op, keras.layers.Layer):
            names.add(op.name)
        if isinstance(op, keras.Model):
            names |= _layer_names(keras, op)
    return names


def _histories(value: Any) -> list[list[Any]]:
    """`input_layers` / `output_layers` of a config as a list of `[name, call, output]`."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    if isinstance(value, dict):
        return [h for v in value.values() for h in _histories(v)]
    return [h for v in value for h in _histories(v)]


def _decode(value: Any, scope: Scope) -> Any:
    """Serialised call arguments with each tensor replaced by its `Ref`."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        return scope[tuple(value["config"]["keras_history"])]  # type: ignore[index]
    if isinstance(value, dict) and value.get("class_name") in ("__slice__", "__ellipsis__"):
        return value
    if isinstance(value, dict):
        return {k: _decode(v, scope) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decode(v, scope) for v in value]
    return value


def _is_tensors(value: Any) -> bool:
    """Whether `value` is a tensor reference, or a non-empty list of them."""
    if isinstance(value, Ref):
        return True
    return isinstance(value, list) and bool(value) and all(isinstance(v, Ref) for v in value)


def _flat_tensors(args: list[Any]) -> list[Any]:
    return [r for a in args for r in (a if isinstance(a, list) else [a]) if isinstance(r, Ref)]


def _call_signature(function: Any) -> dict[str, inspect.Parameter]:
    params = inspect.signature(function).parameters
    return {k: p for k, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def _is_default(param: inspect.Parameter, value: Any) -> bool:
    default = param.default
    return (
        default is not inspect.Parameter.empty and type(default) is type(value) and default == value
    )


def _input_spec(config: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {"shape": list(config["batch_shape"][1:])}
    if config.get("dtype", "float32") != "float32":
        spec["dtype"] = config["dtype"]
    return spec
