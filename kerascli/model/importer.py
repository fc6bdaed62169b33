"""`kerascli import`: a Keras model (a `.keras`/`.h5` file, or a `keras.applications` model by
name) written back as a spec that rebuilds it.

The spec holds what differs from Keras's defaults, names each node by its Keras layer name, and
(with weights) points at a weights file written beside it. Nested models (the Sequentials inside
ConvNeXt) are inlined: their layers become nodes of the outer graph, keeping their names.
Repeated units (`conv2_block1_*` ... `conv2_block6_*`) are folded into blocks where that
rebuilds the same layer names (`import_blocks`). Layers the spec cannot build are still
written, and reported by node and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerascli.model.import_args import is_auto_name, plain
from kerascli.model.import_blocks import ValueOf, fold_blocks
from kerascli.model.import_graph import Graph, GraphReader, Ref, Unexpressible
from kerascli.model.keras_env import import_keras
from kerascli.spec.problems import KerasCliError

MODEL_FILES = (".keras", ".h5", ".hdf5")
APPLICATION_OPTIONS = ("input_shape", "include_top", "pooling", "classes", "classifier_activation")
"""The constructor arguments `import` passes on to a `keras.applications` model."""


class ImportFailed(KerasCliError):
    """The source cannot be read as a Keras model (a runtime failure, exit code 1)."""


class UnknownSource(ValueError):
    """The source is neither a model file nor a `keras.applications` name."""


@dataclass
class Imported:
    """A model as spec data.

    Args:
        spec: The spec as plain data (`name`, `plugins`, `model`).
        layers: Node name -> the Keras layer whose weights the node's layer gets.
        unexpressible: The nodes the spec cannot build, with what to do.
        model: The Keras model it was read from.
    """

    spec: dict[str, Any]
    layers: dict[str, Any] = field(default_factory=dict)
    unexpressible: list[Unexpressible] = field(default_factory=list)
    model: Any = None

    @property
    def kind(self) -> str:
        return "sequential" if "sequential" in self.spec["model"] else "functional"


def load_source(source: str, options: dict[str, Any] | None = None) -> Any:
    """The Keras model `source` names: a model file, or a `keras.applications` constructor
    (built with `weights=None` and `options`).

    Raises:
        ImportFailed: no such file or application, or Keras cannot load or build it.
    """
    keras = import_keras()
    options = {k: v for k, v in (options or {}).items() if v is not None}
    path = Path(source)
    if path.suffix.lower() in MODEL_FILES:
        if options:
            raise UnknownSource(
                f"{', '.join(options)} apply to a keras.applications name, not a file"
            )
        if not path.is_file():
            raise UnknownSource(f"no model file {source}")
        try:
            return keras.saving.load_model(path, compile=False, safe_mode=True)
        except Exception as exc:
            raise ImportFailed(f"cannot load {source}: {_cause(exc)}") from exc
    names = sorted(n for n in dir(keras.applications) if n[:1].isupper())
    if source not in names:
        from kerascli.spec.problems import did_you_mean

        raise UnknownSource(
            f"'{source}' is neither a model file ({', '.join(MODEL_FILES)}) nor a "
            f"keras.applications model{did_you_mean(source, names)}"
        )
    try:
        return getattr(keras.applications, source)(weights=None, **options)
    except Exception as exc:
        raise ImportFailed(f"cannot build {source}: {_cause(exc)}") from exc


def _cause(exc: BaseException) -> str:
    import re

    from kerascli.spec.problems import short_message

    text = short_message(exc)
    unknown = re.search(r"Could not locate class '([^']+)'", str(exc))
    if unknown:
        return (
            f"it uses the class '{unknown[1]}', which Keras does not know here (code of your "
            "own, not loaded): kerascli import reads models made of Keras's classes"
        )
    if "safe_mode" in text or "Lambda" in text:
        return (
            f"{text} (a Lambda layer holds Python code, which kerascli never loads: rewrite it as "
            "a plugin layer, or as ops nodes, and save the model again)"
        )
    return text


def import_model(model: Any, name: str, blocks: bool = True) -> Imported:
    """`model` as spec data named `name`: Sequential when it is a plain Sequential, else
    Functional (nested models inlined), its repeated units folded into blocks (`blocks`)."""
    keras = import_keras()
    reader = GraphReader(keras)
    spec: dict[str, Any] = {"name": name}
    if isinstance(model, keras.Sequential) and not any(
        isinstance(layer, keras.Model) for layer in model.layers
    ):
        model_spec = {"sequential": _sequential(reader, model)}
    else:
        model_spec = {"functional": _functional(reader, model)}
    if reader.graph.plugins:
        spec["plugins"] = list(reader.graph.plugins)
    if model.name != _model_name(name) and not is_auto_name(model.name, type(model)):
        ((kind, section),) = model_spec.items()
        model_spec = {kind: {"name": model.name, **section}}
    spec["model"] = model_spec
    data = plain(spec)
    if blocks:
        keep = {item.node for item in reader.graph.unexpressible}
        data["model"] = fold_blocks(data["model"], keep, _value_of(reader))
    return Imported(data, reader.graph.layers, reader.graph.unexpressible, model)


def _value_of(reader: GraphReader) -> ValueOf:
    """An argument of a node's layer as the spec writes it (one its node leaves out)."""

    def value_of(node: str, key: str) -> Any:
        return plain(reader.args.value(reader.graph.layers[node].get_config()[key], key))

    return value_of


def _model_name(name: str) -> str:
    """The Keras model name the builder gives a spec named `name`."""
    return name.replace("-", "_").replace(".", "_")


def _functional(reader: GraphReader, model: Any) -> dict[str, Any]:
    keras = reader.keras
    if isinstance(model, keras.Sequential):  # a Sequential holding models: one input, a chain
        tensor = model.inputs[0]
        reader.graph.inputs["input"] = _input(tensor)
        outputs: list[Any] = [reader.sequential(model, Ref("input"))]
    else:
        outputs = reader.functional(model)
    graph: Graph = reader.graph
    return {
        "inputs": graph.inputs,
        "layers": graph.nodes,
        "outputs": outputs[0] if len(outputs) == 1 else list(outputs),
    }


def _sequential(reader: GraphReader, model: Any) -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    for layer in model.layers:
        cls = reader._layer_class(layer)
        args = reader._layer_args(layer)
        if not is_auto_name(layer.name, type(layer)):
            args = {"name": layer.name, **args}
        reader.graph.layers[layer.name] = layer
        layers.append({cls: args})
    return {"input": _input(model.inputs[0]), "layers": layers}


def _input(tensor: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"shape": list(tensor.shape[1:])}
    if str(tensor.dtype) != "float32":
        spec["dtype"] = str(tensor.dtype)
    return spec


def unexpressible_path(imported: Imported, node: str) -> tuple[Any, ...]:
    """Where the node `node` is written in the spec (a Sequential's layers by index)."""
    if imported.kind == "functional":
        return ("model", "functional", "layers", node)
    names = [layer.name for layer in imported.model.layers]
    return ("model", "sequential", "layers", names.index(node))
