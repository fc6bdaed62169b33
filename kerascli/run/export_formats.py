"""The export formats: a run's model written as an artifact with Keras's own export, and the
runtime that runs the artifact back (TensorFlow, onnxruntime, the LiteRT interpreter).

SavedModel and LiteRT are Keras's `model.export(format="tf_saved_model" | "litert")`. ONNX is
the concrete function Keras's own ONNX export converts, frozen before tf2onnx sees it
(`_write_onnx`): Keras 3 hands tf2onnx the unfrozen function, and tf2onnx makes each captured
constant (an adapted `Normalization`'s mean and variance) an extra graph input that
onnxruntime cannot be fed. Every format is given the same named input signature
(`input_signature`): the model's input names, by the spec's one rule for its inputs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerascli.spec.facts import SINGLE, fed_one_array, inputs_by_array_key, inputs_by_name
from kerascli.spec.models import Spec
from kerascli.spec.problems import KerasCliError, Problem, SpecError, cause_line

Runner = Callable[[dict[str, Any]], dict[str, np.ndarray]]
"""An artifact loaded in its runtime: input arrays by input name -> output arrays by name."""


class ExportFailed(KerasCliError):
    """The model could not be exported, or its artifact does not run (exit code 1)."""


@dataclass(frozen=True)
class Format:
    """One export format.

    Args:
        name: As `--format` names it.
        file: The artifact's file in the export directory; `None` for a directory (SavedModel,
            written as `<dir>/<version>/`).
        runtime: What runs the artifact back for the parity check.
        packages: The modules it needs beyond TensorFlow (`kerascli[export]`).
        strings: Whether it carries string inputs (and the lookup tables behind them).
    """

    name: str
    file: str | None
    runtime: str
    packages: tuple[str, ...]
    strings: bool


FORMATS = {
    "saved_model": Format("saved_model", None, "TensorFlow", (), True),
    "onnx": Format("onnx", "model.onnx", "onnxruntime", ("tf2onnx", "onnxruntime"), False),
    "litert": Format(
        "litert", "model.tflite", "the LiteRT interpreter", ("ai_edge_litert",), False
    ),
}


def get_format(name: str) -> Format:
    """The format `name`; an unknown one is an argument error (exit code 2)."""
    if name not in FORMATS:
        message = f"no export format '{name}'; formats: {', '.join(FORMATS)}"
        raise SpecError([Problem(message, "", "--format")])
    return FORMATS[name]


def check_installed(fmt: Format) -> None:
    """Refuse, in one line naming the extra, a format whose packages are not installed."""
    missing = [p for p in fmt.packages if importlib.util.find_spec(p) is None]
    if missing:
        names = " and ".join(p.replace("_", "-") for p in missing)
        raise KerasCliError(
            f"exporting to {fmt.name} needs {names}: pip install 'kerascli[export]'"
        )


def check_inputs(fmt: Format, spec: Spec) -> None:
    """Refuse a model with string inputs for a format that cannot carry them (exit code 2)."""
    if fmt.strings:
        return
    for key, spec_input in inputs_by_array_key(spec).items():
        if spec_input.dtype in ("string", "str"):
            name = spec_input.name or key
            which = f"input '{name}'" if name else "the model's input"
            message = (
                f"{which} has dtype string: {fmt.name} cannot carry string inputs (nor the "
                "lookup tables that read them); export it with --format saved_model"
            )
            raise SpecError([Problem(message, "", "--format")])


@dataclass(frozen=True)
class Signature:
    """The exported model's named inputs.

    Args:
        specs: The input signature Keras's export takes: `[TensorSpec]` for a model fed one
            array, else `[{key: TensorSpec}]` (by the keys its data gives the arrays).
        names: Each input's name in the artifact, by its array key (`inputs_by_array_key`).
    """

    specs: list[Any]
    names: dict[str, str]

    def feeds(self, x: Any) -> dict[str, Any]:
        """A batch of model inputs (one array, or a dict by key) by input name."""
        if not isinstance(x, dict):
            return {self.names[SINGLE]: x}
        return {self.names[key]: value for key, value in x.items()}


def input_signature(spec: Spec) -> Signature:
    """The signature every format is exported with: the spec's inputs, shape and dtype, each
    named by the spec (an input's `name`, else its key in `inputs:`); an unnamed input of a
    Sequential or subclass model is `input_layer`, Keras's name for it (which Keras numbers
    `input_layer_1`, ... in a process that loaded another model: not a name to export)."""
    import tensorflow as tf

    named = inputs_by_name(spec)
    inputs = inputs_by_array_key(spec)
    one = fed_one_array(list(inputs))
    names = {
        key: input_spec.name or (next(iter(named)) if one else key) or UNNAMED_INPUT
        for key, input_spec in inputs.items()
    }
    specs = {
        key: tf.TensorSpec((None, *s.shape), tf.as_dtype(s.dtype), name=names[key])
        for key, s in inputs.items()
    }
    return Signature([next(iter(specs.values())) if one else specs], names)


UNNAMED_INPUT = "input_layer"


def write(fmt: Format, model: Any, signature: Signature, where: Path, quantize: bool) -> Path:
    """Write the artifact into the folder `where` (a SavedModel as its folder `saved_model`);
    its path. `quantize`: LiteRT's dynamic-range quantization (int8 weights)."""
    path = where / (fmt.file or "saved_model")
    try:
        if fmt.name == "onnx":
            _write_onnx(model, signature, path)
        elif fmt.name == "litert":
            import tensorflow as tf

            how = {"optimizations": [tf.lite.Optimize.DEFAULT]} if quantize else {}
            model.export(
                str(path), format="litert", verbose=False, input_signature=signature.specs, **how
            )
        else:
            model.export(
                str(path),
                format="tf_saved_model",
                verbose=False,
                input_signature=signature.specs,
            )
    except KerasCliError:
        raise
    except Exception as exc:
        raise ExportFailed(f"cannot export the model to {fmt.name}: {cause_line(exc)}") from exc
    return path


def _write_onnx(model: Any, signature: Signature, path: Path) -> None:
    """The model as ONNX: Keras's concrete function (`ExportArchive`, as `model.export` makes
    it), frozen so that captured constants become graph constants, converted by tf2onnx with
    the signature's input names and the SavedModel's output names."""
    import keras
    import tensorflow as tf
    import tf2onnx

    archive = keras.export.ExportArchive()
    function = archive.track_and_add_endpoint("serve", model, signature.specs)
    concrete = function.get_concrete_function()
    specs = tf.nest.flatten(signature.specs)
    inputs = [t.name for t in concrete.inputs[: len(specs)]]  # then come the captures
    outputs = [t.name for t in concrete.outputs]
    rename = dict(zip(inputs, [s.name for s in specs], strict=True))
    rename.update(zip(outputs, output_names(concrete.structured_outputs), strict=True))
    with tf.device("/cpu:0"):
        frozen = tf2onnx.tf_loader.from_function(concrete, inputs, outputs)
        tf2onnx.convert.from_graph_def(
            frozen,
            input_names=inputs,
            output_names=outputs,
            tensors_to_rename=rename,
            output_path=str(path),
        )


def output_names(structured: Any) -> list[str]:
    """The names a SavedModel signature gives a function's outputs: a dict's keys (in
    `tf.nest` order), else `output_0`, `output_1`, ..."""
    import tensorflow as tf

    if isinstance(structured, dict):
        return sorted(structured)
    return [f"output_{i}" for i in range(len(tf.nest.flatten(structured)))]


def runner(fmt: Format, path: Path) -> Runner:
    """The artifact at `path` loaded in its own runtime; one that does not load or run is an
    `ExportFailed` naming the runtime."""
    loaders = {"onnx": _onnx_runner, "litert": _litert_runner}
    try:
        run = loaders.get(fmt.name, _saved_model_runner)(path)
    except Exception as exc:
        raise ExportFailed(
            f"the exported {fmt.name} model does not load in {fmt.runtime}: {cause_line(exc)}"
        ) from exc

    def guarded(feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        try:
            return run(feeds)
        except Exception as exc:
            raise ExportFailed(
                f"the exported {fmt.name} model does not run in {fmt.runtime}: {cause_line(exc)}"
            ) from exc

    return guarded


def _saved_model_runner(path: Path) -> Runner:
    import tensorflow as tf

    serve = tf.saved_model.load(str(path)).signatures["serving_default"]

    def run(feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        out = serve(**{k: tf.convert_to_tensor(v) for k, v in feeds.items()})
        return {k: np.asarray(v) for k, v in out.items()}

    return run


def _onnx_runner(path: Path) -> Runner:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    types = {i.name: _numpy_type(i.type) for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]

    def run(feeds: dict[str, Any]) -> dict[str, np.ndarray]:
        arrays = {k: np.asarray(v, dtype=types.get(k)) for k, v in feeds.items()}
        return dict(zip(names, session.run(names, arrays), strict=True))

    return run


def _numpy_type(onnx_type: str) -> Any:
    """`tensor(float)` -> `np.float32` (onnxruntime takes inputs only of the exact type)."""
    kinds = {"float": np.float32, "double": np.float64, "int64": np.int64, "int32": np.int32}
    return kinds.get(onnx_type.removeprefix("tensor(").removesuffix(")"))


def _litert_runner(path: Path) -> Runner:
    from ai_edge_litert.interpreter import Interpreter

    serve = Interpreter(model_path=str(path)).get_signature_runner("serving_default")
    types = {k: v["dtype"] for k, v in serve.get_input_details().items()}
    first = [True]

    def run(feeds: dict[str, Any]) -> dict[str, np.ndarray]:  # (it resizes to each batch)
        arrays = {k: np.asarray(v, dtype=types.get(k)) for k, v in feeds.items()}
        with _native_logs_muted(first[0]):  # its first run names its CPU delegate on fd 2
            first[0] = False
            out = serve(**arrays)
        return {k: np.asarray(v) for k, v in out.items()}

    return run


@contextlib.contextmanager
def _native_logs_muted(mute: bool) -> Iterator[None]:
    """While the block runs (if `mute`, and `KERASCLI_VERBOSE` is not set), what native code
    writes to the process's stderr (file descriptor 2) is dropped."""
    if not mute or os.environ.get("KERASCLI_VERBOSE", "") not in ("", "0"):
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
