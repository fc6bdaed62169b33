"""Checks a schema-valid spec against Keras's names, the model graph and the files it names.

Runs without TensorFlow, from the generated catalog. Every problem is located
in the YAML through the spec's `Document`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kerascli.spec import catalog
from kerascli.spec.datafile import csv_rows, duplicate_column
from kerascli.spec.models import DataSpec, FunctionalSpec, InputSpec, Spec, call_parts
from kerascli.spec.outputs import (
    as_call,
    is_single_call,
    loss_outputs,
    loss_weights_problem,
    output_names,
    per_output_problem,
)
from kerascli.spec.problems import KeyPath, Problem, SpecError, did_you_mean
from kerascli.spec.source import Document

Finding = tuple[KeyPath, str, bool]

# Callback arguments that default to a path inside the run directory.
RUN_DIR_DEFAULTS = {
    "ModelCheckpoint": "filepath",
    "TensorBoard": "log_dir",
    "CSVLogger": "filename",
    "BackupAndRestore": "backup_dir",
}  # path, message, point at the key rather than the value


def check_call(
    family: str, name: str, args: dict[str, Any], path: KeyPath, lenient: bool
) -> Iterator[Finding]:
    """Check one `{Name: {args}}` call; `lenient` skips unknown names (plugins may define them)."""
    singular = catalog.SINGULAR[family]
    known = catalog.classes(family)
    if name not in known:
        if name in catalog.identifiers(family):
            if args:
                cls = next((c for c in known if c.lower() == name.replace("_", "").lower()), None)
                use = f"write {cls} for arguments" if cls else "use its class name for arguments"
                yield (path, f"'{name}' takes no arguments; {use}", True)
            return
        if not lenient:
            hint = did_you_mean(name, catalog.names(family))
            yield ((*path, name), f"unknown {singular} '{name}'{hint}", True)
        return
    signature = known[name]
    misspelt = False
    for arg in args:
        if arg not in signature.params and not signature.open:
            hint = did_you_mean(arg, signature.params)
            misspelt = misspelt or bool(hint)
            if not hint:
                hint = f" ({name} takes: {', '.join(signature.params)})"
            yield ((*path, name, arg), f"unknown argument '{arg}' for {name}{hint}", True)
    for arg in signature.required:
        if arg not in args and not misspelt and RUN_DIR_DEFAULTS.get(name) != arg:
            yield ((*path, name), f"{name} needs the argument '{arg}'", True)
    for arg, value in args.items():
        yield from _check_nested(value, (*path, name, arg), lenient)


# Families named by a string value (`activation: relu`, `kernel_initializer: he_normal`).
NAMED_BY_STRING = ("activations", "initializers", "regularizers", "constraints")


def argument_family(arg: str) -> str | None:
    """The family an argument's value names, by Keras's argument naming (`*_initializer`...)."""
    if arg in ("activation", "recurrent_activation"):
        return "activations"
    if arg in ("layer", "backward_layer"):
        return "layers"
    if arg == "learning_rate":
        return "schedules"
    for family in ("initializers", "regularizers", "constraints"):
        if arg.endswith(family[:-1]):
            return family
    return None


def nested_family(name: str, arg: str) -> str | None:
    """The family of `{name: {...}}` given as the value of argument `arg`, if any."""
    expected = argument_family(arg)
    if expected is not None and name in catalog.classes(expected):
        return expected
    return catalog.nested_family(name)


def _check_nested(value: Any, path: KeyPath, lenient: bool) -> Iterator[Finding]:
    arg = str(path[-1])
    expected = argument_family(arg)
    if isinstance(value, dict) and len(value) == 1:
        ((inner, inner_args),) = value.items()
        if inner_args is not None and not isinstance(inner_args, dict):
            return
        family = nested_family(str(inner), arg)
        if family is not None:
            yield from check_call(family, inner, inner_args or {}, path, lenient)
        elif expected is not None and expected != "activations" and not lenient:
            hint = did_you_mean(str(inner), catalog.names(expected))
            if not hint:
                hint = f"; {expected} are: {', '.join(catalog.classes(expected))}"
            yield ((*path, inner), f"unknown {catalog.SINGULAR[expected]} '{inner}'{hint}", True)
    elif isinstance(value, str) and expected in NAMED_BY_STRING and not lenient:
        if value not in catalog.names(expected):
            hint = did_you_mean(value, catalog.names(expected))
            yield (path, f"unknown {catalog.SINGULAR[expected]} '{value}'{hint}", False)


def _check_output_map(
    value: dict[str, Any], path: KeyPath, outputs: list[str] | None
) -> Iterator[Finding]:
    if outputs is None:
        return
    for key in value:
        if key not in outputs:
            hint = did_you_mean(key, outputs)
            yield (
                (*path, key),
                f"'{key}' is not a model output{hint}; outputs: {', '.join(outputs)}",
                True,
            )


def _check_loss(value: Any, path: KeyPath, lenient: bool) -> Iterator[Finding]:
    call = as_call(value)
    if call is None:
        yield (path, "expected a loss name or {Class: args}", False)
    else:
        yield from check_call("losses", *call, path, lenient)


def check_compile(spec: Spec, lenient: bool, training: bool = True) -> Iterator[Finding]:
    """`compile:` against Keras's names and the model's outputs; without `training` (a run's
    spec, loaded to predict or evaluate) what only training uses is not checked: `loss_weights`
    and `fit.class_weight`."""
    outputs = model_outputs(spec)
    name, args = call_parts(spec.compile.optimizer)
    yield from check_call("optimizers", name, args, ("compile", "optimizer"), lenient)
    loss = spec.compile.loss
    if loss is None and spec.data is not None and spec.model.subclass is None and not lenient:
        # (a subclass or a plugin layer may add its own losses with `add_loss`)
        yield (
            ("compile",),
            "no loss to train with: give compile.loss (e.g. sparse_categorical_crossentropy "
            "for class labels, binary_crossentropy for two classes, mse for numbers)",
            True,
        )
    if isinstance(loss, list):
        problem = per_output_problem(spec, loss, "loss")
        if problem is not None:
            yield (("compile", "loss"), problem, False)
        for i, value in enumerate(loss):
            yield from _check_loss(value, ("compile", "loss", i), lenient)
    elif loss is not None:
        if is_single_call("losses", loss) or (
            isinstance(loss, dict) and len(loss) == 1 and outputs is None
        ):
            yield from _check_loss(loss, ("compile", "loss"), lenient)
        else:
            assert isinstance(loss, dict)
            yield from _check_output_map(loss, ("compile", "loss"), outputs)
            for key, value in loss.items():
                yield from _check_loss(value, ("compile", "loss", key), lenient)
    metrics = spec.compile.metrics
    groups: list[tuple[KeyPath, list[dict[str, dict[str, Any]]]]] = []
    if isinstance(metrics, list):
        groups.append((("compile", "metrics"), metrics))
    else:
        yield from _check_output_map(metrics, ("compile", "metrics"), outputs)
        for key, listed in metrics.items():
            if isinstance(listed, list):
                groups.append((("compile", "metrics", key), listed))
            else:
                path: KeyPath = ("compile", "metrics", key)
                yield from check_call("metrics", *call_parts(listed), path, lenient)
    for base, calls in groups:
        for i, metric in enumerate(calls):
            yield from check_call("metrics", *call_parts(metric), (*base, i), lenient)
    if not training:
        return
    if spec.fit.class_weight is not None and outputs is not None and len(outputs) > 1:
        yield (
            ("fit", "class_weight"),
            f"class_weight applies to one-output models (Keras); this model has outputs "
            f"{', '.join(outputs)}: weigh outputs with compile.loss_weights",
            True,
        )
    yield from check_loss_weights(spec)


def check_loss_weights(spec: Spec) -> Iterator[Finding]:
    """`compile.loss_weights`: finite numbers ≥ 0; a list has one per output (in `outputs:`
    order), a mapping names output names and every output that has a loss (Keras 3 fails in
    `fit` on an output with a loss but no weight)."""
    weights = spec.compile.loss_weights
    if weights is None:
        return
    base: KeyPath = ("compile", "loss_weights")
    keys: list[str | int] = (
        list(weights) if isinstance(weights, dict) else list(range(len(weights)))
    )
    values = list(weights.values()) if isinstance(weights, dict) else weights
    for key, value in zip(keys, values, strict=True):
        if not math.isfinite(value) or value < 0:
            yield ((*base, key), f"expected a finite weight >= 0, got {value}", False)
    if isinstance(weights, list):
        problem = loss_weights_problem(spec)
        if problem is not None:
            yield (base, problem, False)
        return
    outputs = output_names(spec)
    if outputs == [""]:
        if len(weights) != 1:
            yield (
                base,
                f"the model has one output: give loss_weights one weight ([w]), got "
                f"{len(weights)} ({', '.join(weights)})",
                True,
            )
        return
    if outputs is None:
        return
    yield from _check_output_map(weights, base, outputs)
    suggested = "".join(did_you_mean(key, outputs) for key in weights if key not in outputs)
    for name in loss_outputs(spec) or []:
        if name not in weights and f"'{name}'" not in suggested:
            yield (
                base,
                f"no weight for the output '{name}', which has a loss: Keras needs a weight for "
                f"every output with a loss (give {name}: 1.0 to keep its loss as it is)",
                True,
            )


def model_outputs(spec: Spec) -> list[str] | None:
    """Output names of a Functional model (`None` where the spec alone cannot tell)."""
    if spec.model.functional is not None:
        return spec.model.functional.output_names
    return None


def model_inputs(spec: Spec) -> list[str] | None:
    """Input names of a model, where they are named in the spec."""
    if spec.model.functional is not None:
        return list(spec.model.functional.inputs)
    if spec.model.subclass is not None and spec.model.subclass.inputs is not None:
        return list(spec.model.subclass.inputs)
    return None


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


def is_file_ref(ref: str) -> bool:
    """Whether a plugin reference names a file (`plugins/net.py`) rather than a module."""
    return ref.endswith(".py") or "/" in ref or "\\" in ref


def check_files(spec: Spec, training: bool = True) -> Iterator[Finding]:
    """Plugin files, the subclass's file and (for training) data files must exist."""
    for i, plugin in enumerate(spec.plugins):
        if is_file_ref(plugin) and not Path(plugin).is_file():
            yield (("plugins", i), f"plugin file not found: {plugin}", False)
    if spec.model.subclass is not None:
        ref = spec.model.subclass.class_.rsplit(":", 1)[0]
        if is_file_ref(ref) and not Path(ref).is_file():
            yield (("model", "subclass", "class"), f"model file not found: {ref}", False)
    data = spec.data
    if data is None or not training:
        return
    for key in ("path", "train", "validation", "test"):
        value = getattr(data, key)
        if value is not None and not Path(value).is_file():
            what = "not a regular file" if Path(value).exists() else "data file not found"
            yield (("data", key), f"{what}: {value}", False)


Header = tuple[str, list[str]]
"""The name of a CSV/TSV data file and the column names of its header row."""


def data_header(spec: Spec) -> Header | None:
    """The header of the CSV/TSV file `data.path` (or `data.train`) names, read as train reads it.

    `None` when there is no data, the file is missing or it is not CSV/TSV.
    """
    data = spec.data
    if data is None:
        return None
    source = data.path or data.train
    if source is None or not Path(source).is_file():
        return None
    fmt = data.format or _format_of(source)
    if fmt not in ("csv", "tsv"):
        return None
    with csv_rows(source, fmt) as rows:
        header = [name.strip() for name in next(rows, (1, []))[1]]
    duplicate = duplicate_column(header)
    if duplicate is not None:
        raise SpecError([Problem(duplicate, "", source, 1)])
    return Path(source).name, header


def _format_of(source: str) -> str:
    suffix = Path(source).suffix.lstrip(".").lower()
    return "csv" if suffix == "txt" else suffix


def check_columns(spec: Spec, header: Header | None = None) -> Iterator[Finding]:
    """Columns named in `data` must be in the CSV header."""
    data = spec.data
    if data is None:
        return
    header = header or data_header(spec)
    if header is None:
        return
    file, names = header
    for key in ("features", "target", "inputs", "outputs"):
        value = getattr(data, key)
        for path, column in _column_refs(value, ("data", key)):
            if column not in names:
                hint = did_you_mean(column, names)
                yield (path, f"no column '{column}' in {file}{hint}", False)


def _column_refs(value: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*path, i), item
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _column_refs(item, (*path, key))


# --- `data:` against the model's inputs and outputs (the rules of kerascli/data/splits.py) ---

SINGLE = ""
"""The name of the only input of a one-input Sequential model or subclass (`input:`)."""


def _named_inputs(spec: Spec) -> dict[str, InputSpec]:
    """The model's inputs by name; `{SINGLE: input}` where the model has one unnamed input."""
    model = spec.model
    if model.sequential is not None:
        return {SINGLE: model.sequential.input}
    if model.functional is not None:
        return dict(model.functional.inputs)
    assert model.subclass is not None
    if model.subclass.inputs is not None:
        return dict(model.subclass.inputs)
    assert model.subclass.input is not None
    return {SINGLE: model.subclass.input}


def _check_name_map(
    value: dict[str, Any], path: KeyPath, names: list[str], what: str
) -> Iterator[Finding]:
    """Keys of `data.inputs`/`data.outputs` against the model's input/output `names`.

    As train reads them: one entry for a one-input (one-output) model may have any name;
    otherwise the keys must be exactly the names.
    """
    if len(names) == 1 and len(value) == 1:
        return
    if names == [SINGLE]:
        yield (
            path,
            f"the model has one {what}: give data.{path[-1]} one entry, got {len(value)}"
            + (f" ({', '.join(value)})" if value else ""),
            True,
        )
        return
    suggested = ""
    for key in value:
        if key not in names:
            hint = did_you_mean(key, names)
            suggested += hint
            yield (
                (*path, key),
                f"'{key}' is not a model {what}{hint}; {what}s: {', '.join(names)}",
                True,
            )
    for name in names:
        if name not in value and f"'{name}'" not in suggested:
            yield (path, f"no entry for the model {what} '{name}'", True)


def _input_sources(
    spec: Spec, inputs: dict[str, InputSpec], header: Header
) -> Iterator[tuple[InputSpec, str, Any, KeyPath, str]]:
    """Each input fed from CSV columns: (input, name, columns, where they are written, note).

    Without `features` (or `inputs`), a one-input model gets every column but the targets: the
    path is then `("data",)` and the note says so.
    """
    data = spec.data
    assert data is not None
    if data.inputs is not None:
        if len(inputs) == 1 and len(data.inputs) == 1:
            ((name, model_input),) = inputs.items()
            ((key, columns),) = data.inputs.items()
            yield model_input, name, columns, ("data", "inputs", key), ""
            return
        for key, columns in data.inputs.items():
            if key in inputs:
                yield inputs[key], key, columns, ("data", "inputs", key), ""
        return
    if len(inputs) != 1:
        return
    ((name, model_input),) = inputs.items()
    if data.features is not None:
        yield model_input, name, data.features, ("data", "features"), ""
        return
    file, header_names = header
    taken: list[str] = []
    for value in (data.target, *(data.outputs or {}).values()):
        taken += [value] if isinstance(value, str) else value or []
    rest = [c for c in header_names if c not in taken]
    but = f" but {', '.join(taken)}" if taken else ""
    note = f"; without data.features the input gets every column of {file}{but}"
    yield model_input, name, rest, ("data",), note


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _check_column_count(
    model_input: InputSpec, name: str, columns: Any, path: KeyPath, note: str
) -> Iterator[Finding]:
    """Train reshapes a row of N columns into the input shape: N must be the shape's size."""
    shape = model_input.shape
    if None in shape:
        return  # Train does not reshape to a shape with a free dimension.
    count = 1 if isinstance(columns, str) else len(columns)
    need = math.prod(s for s in shape if s is not None)
    if count != need:
        label = f"input '{name}' of shape" if name else "input shape"
        message = f"{_plural(count, 'column')} for {label} {shape} (needs {need}){note}"
        yield (path, message, path == ("data",))


def check_data_model(spec: Spec, header: Header | None = None) -> Iterator[Finding]:
    """`data` must feed the model's inputs and outputs as train feeds them.

    `data.inputs`/`data.outputs` name the model's inputs and outputs, a multi-input
    (multi-output) model needs them, and the columns of a CSV fill each input's shape.
    `header` is the CSV's (`data_header`); without it columns are not counted.
    """
    data = spec.data
    if data is None:
        return
    inputs = _named_inputs(spec)
    names = list(inputs)
    if data.inputs is not None:
        yield from _check_name_map(data.inputs, ("data", "inputs"), names, "input")
    elif len(inputs) > 1:
        where: KeyPath = ("data", "features") if data.features is not None else ("data",)
        message = f"the model has inputs {', '.join(names)}: map each with data.inputs"
        yield (where, message, data.features is None)
    elif data.features is None and _is_array_file(data):
        yield (("data",), "name the features array with data.features", True)
    functional = spec.model.functional
    if functional is not None:
        outputs = functional.output_names
        if data.outputs is not None:
            yield from _check_name_map(data.outputs, ("data", "outputs"), outputs, "output")
        elif data.target is not None and len(outputs) > 1:
            message = f"the model has outputs {', '.join(outputs)}: map each with data.outputs"
            yield (("data", "target"), message, False)
    if header is not None:
        for source in _input_sources(spec, inputs, header):
            yield from _check_column_count(*source)


def _is_array_file(data: DataSpec) -> bool:
    source = data.path or data.train
    return source is not None and (data.format or _format_of(source)) in ("npz", "npy")


def check_spec(spec: Spec, doc: Document, training: bool = True) -> list[Problem]:
    """All problems a schema-valid spec has, located in its document. Without `training` (a run's
    spec, loaded to predict or evaluate) data files need not exist (a run predicts with its
    training data gone), and what only training uses is not checked: callbacks and their
    monitors, `loss_weights`, `fit.class_weight` (a run trained before a check was added still
    predicts)."""
    lenient = bool(spec.plugins)
    findings: list[Finding] = []
    model = spec.model
    if model.sequential is not None:
        for i, call in enumerate(model.sequential.layers):
            name, args = call_parts(call)
            findings += check_call(
                "layers", name, args, ("model", "sequential", "layers", i), lenient
            )
    if model.functional is not None:
        findings += check_graph(model.functional, lenient)
    findings += check_compile(spec, lenient, training)
    if training:  # a run's callbacks (and their monitors) are not used to predict or evaluate
        from kerascli.spec.monitor import check_monitors  # (imports this module)

        for i, call in enumerate(spec.callbacks):
            findings += check_call("callbacks", *call_parts(call), ("callbacks", i), lenient)
        findings += check_monitors(spec)
    findings += check_files(spec, training)
    header = data_header(spec)
    findings += check_columns(spec, header)
    findings += check_data_model(spec, header)
    problems = []
    for path, message, at_key in findings:
        if path and path not in doc.keys and _value_at(doc.data, path[:-1]) == path[-1]:
            # A name written as a bare string (`loss: mse`): point at that value.
            path, at_key = path[:-1], False
        problems.append(doc.problem(path, message, at_key=at_key))
    return problems


def _value_at(data: Any, path: KeyPath) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data
