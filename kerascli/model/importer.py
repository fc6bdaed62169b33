"""`kerascli import`: a Keras model (a `.keras`/`.h5` file, or a `keras.applications` model by
name) written back as a spec that rebuilds it.

The spec holds what differs from Keras's defaults, names each node by its Keras layer name, and
(with weights) points at a weights file written beside it. Nested models (the Sequentials inside
ConvNeXt, a transfer-learning model's backbone) are inlined: their layers become nodes of the
outer graph, keeping their names (a Sequential holding a model is written as Functional).
Repeated units (`conv2_block1_*` ... `conv2_block6_*`) are folded into blocks where that
rebuilds the same layer names (`import_blocks`). Layers the spec cannot build are still
written, and reported by node and line; any other spec is built from the written file and
checked against the model (`import_write.rebuild`). `import_spec` is the whole command as one
function (the CLI and `kerascli.import_spec` call it).

Long because the command's one entry (`import_spec`) sits beside the reading of its source,
and a model file is checked before Keras loads it (its Lambda layers and classes Keras cannot
find, read from its config), so that the refusal names them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kerascli.model.import_args import is_auto_name, plain
from kerascli.model.import_blocks import ValueOf, fold_blocks
from kerascli.model.import_graph import Graph, GraphReader, Ref
from kerascli.model.import_types import Imported, ImportFailed, ImportRefused, UnknownSource
from kerascli.model.keras_env import import_keras

if TYPE_CHECKING:
    from kerascli.model.import_write import ImportResult

MODEL_FILES = (".keras", ".h5", ".hdf5")
POOLING = ("avg", "max")
APPLICATION_OPTIONS = ("input_shape", "include_top", "pooling", "classes", "classifier_activation")
"""The constructor arguments `import` passes on to a `keras.applications` model."""
REWRITE = "rewrite it as `ops.*` nodes or a plugin layer, then save and import again"


def import_spec(
    source: str | Path,
    output: str | Path,
    weights: bool = False,
    input_shape: tuple[int, ...] | None = None,
    include_top: bool | None = None,
    pooling: str | None = None,
    name: str | None = None,
    blocks: bool = True,
    force: bool = False,
) -> ImportResult:
    """Write the spec that rebuilds `source` to `output` (`kerascli import`).

    Args:
        source: A `.keras`/`.h5` model file, or a `keras.applications` name (`ResNet50V2`).
        output: The spec file to write (`.yaml`/`.yml`, in a directory that exists).
        weights: Also write the weights beside it (`SPEC.weights.h5`); the spec names them.
        input_shape: An application's `input_shape`.
        include_top: An application's `include_top` (`None`: Keras's default).
        pooling: An application's `pooling`: `avg` or `max`.
        name: The spec's name (default: the output file's stem).
        blocks: Fold repeated units into blocks.
        force: Overwrite the files it writes (never the source).

    Raises:
        ImportRefused: an argument it cannot use (a bad name or output, a file that exists
            without `force`, an unknown source); nothing is written.
        ImportFailed: the source cannot be loaded or built, or its weights not placed.
    """
    from kerascli.model.import_write import ImportResult, check_targets, weights_path, write_import

    output = Path(output)
    weights_file = weights_path(output) if weights else None
    spec_name = _spec_name(name or output.name.split(".")[0])
    check_targets(Path(source), [output, *([weights_file] if weights_file else [])], force)
    if pooling is not None and pooling not in POOLING:
        raise ImportRefused(f"expected one of {', '.join(POOLING)}, got {pooling!r}", "'--pooling'")
    options = {"input_shape": input_shape, "include_top": include_top, "pooling": pooling}
    imported = import_model(load_source(str(source), options), spec_name, blocks=blocks)
    found = write_import(imported, output, weights_file)
    return ImportResult(output, weights_file, imported, found)


def _spec_name(name: str) -> str:
    import re

    from kerascli.spec.models import NAME_PATTERN

    if not re.match(NAME_PATTERN, name):
        raise ImportRefused(f"'{name}' is not a spec name (letters, digits, _ . -)", "'--name'")
    return name


def load_source(source: str, options: dict[str, Any] | None = None) -> Any:
    """The Keras model `source` names: a model file, or a `keras.applications` constructor
    (built with `weights=None` and `options`). Keras's session is cleared first, so the names
    Keras gives the layers it makes (an application's `add`, `add_1`) are the same each time.

    Raises:
        UnknownSource: no such file or application, or options given with a file.
        ImportFailed: a file holding a Lambda or a class Keras cannot find (read from the
            file's config, nothing loaded), or Keras cannot load or build it.
    """
    keras = import_keras()
    keras.utils.clear_session()
    options = {k: v for k, v in (options or {}).items() if v is not None}
    path = Path(source)
    if path.suffix.lower() in MODEL_FILES:
        if options:
            verb = "applies" if len(options) == 1 else "apply"
            raise UnknownSource(
                f"{', '.join(options)} {verb} to a keras.applications name, not a file"
            )
        if not path.is_file():
            raise UnknownSource(f"no model file {source}")
        refused = _refused_layers(keras, file_config(path))
        if refused:
            raise ImportFailed(f"cannot load {source}: {refused}")
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


def file_config(path: Path) -> Any:
    """The model config a model file holds (`config.json` of a `.keras` zip, `model_config` of
    an `.h5` file) as data, nothing in it deserialised; `None` where it cannot be read."""
    try:
        if path.suffix.lower() == ".keras":
            import zipfile

            with zipfile.ZipFile(path) as archive:
                return json.loads(archive.read("config.json"))
        import h5py

        with h5py.File(path, "r") as h5:
            text = h5.attrs.get("model_config")
        return json.loads(text.decode() if isinstance(text, bytes) else text)
    except Exception:
        return None  # loading it says what is wrong


_LAYER_KEYS = ("layers", "layer", "forward_layer", "backward_layer")
"""Where a model or wrapper config holds layer configs."""


def layer_configs(config: Any) -> Iterator[dict[str, Any]]:
    """`config` (a serialised layer or model) and every layer config in it, nested models'
    and wrappers' (`Bidirectional`, `TimeDistributed`) included."""
    if not isinstance(config, dict) or "class_name" not in config:
        return
    yield config
    inner = config.get("config")
    held = [inner.get(key) for key in _LAYER_KEYS] if isinstance(inner, dict) else []
    for value in held:
        for item in value if isinstance(value, list) else [value]:
            yield from layer_configs(item)


def _refused_layers(keras: Any, config: Any) -> str | None:
    """What in a model file's config Keras would refuse to load, and what to do: its Lambda
    layers (Python code, never loaded) and classes Keras cannot find; `None` when none."""
    lambdas, unknown = [], []
    for layer in layer_configs(config):
        inner = layer.get("config")
        name = inner.get("name") if isinstance(inner, dict) else layer.get("name")
        if layer["class_name"] == "Lambda":
            lambdas.append(f"'{name}'")
        elif not _resolvable(keras, layer):
            unknown.append(f"'{name}' ({layer['class_name']})")
    found = []
    if lambdas:
        found.append(
            f"it holds the Lambda layer{'s' * (len(lambdas) > 1)} {', '.join(lambdas)} (a Lambda "
            "layer holds Python code, which kerascli never loads)"
        )
    if unknown:
        found.append(
            f"it holds {', '.join(unknown)}, of a class Keras cannot find here (code of your own, "
            "which kerascli import never loads)"
        )
    return f"{'; '.join(found)}: {REWRITE}" if found else None


def _resolvable(keras: Any, layer: dict[str, Any]) -> bool:
    """Whether Keras finds the class of a serialised layer: registered, or Keras's own."""
    import importlib

    name, module = str(layer["class_name"]), layer.get("module")
    if module is None:  # an older file's config: loading it says what Keras cannot find
        return True
    if keras.saving.get_registered_object(layer.get("registered_name") or name) is not None:
        return True
    if module != "keras" and not module.startswith("keras."):
        return False
    try:
        return isinstance(getattr(importlib.import_module(module), name, None), type)
    except ImportError:
        return False


def _cause(exc: BaseException) -> str:
    import re

    from kerascli.spec.problems import short_message

    unknown = re.search(r"Could not locate class '([^']+)'", str(exc))
    if unknown:
        return (
            f"it uses the class '{unknown[1]}', which Keras does not know here (code of your "
            "own, not loaded): kerascli import reads models made of Keras's classes"
        )
    return short_message(exc)


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
        reader.layer_names.update(layer.name for layer in model.layers)
        name = reader._unique("input")
        reader.graph.inputs[name] = _input(model.inputs[0])
        outputs: list[Any] = [reader.sequential(model, Ref(name))]
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
