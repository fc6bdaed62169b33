"""Checks of the names a spec calls: layers (and, where a layer goes, `keras.applications` models
and `ops.NAME` functions), optimizers, losses, metrics and callbacks against Keras's catalog, with
their arguments, `compile:` against the model's outputs, and `data.augment`'s layers against the
catalog and the model's inputs.

Long because each family's check is a few lines around `check_call`, which they all share.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from kerascli.spec import catalog
from kerascli.spec.check_weights import weights_problem
from kerascli.spec.facts import (
    OPS_PREFIX,
    RUN_DIR_DEFAULTS,
    SINGLE,
    argument_family,
    inputs_by_name,
    layer_family,
    named_outputs,
    nested_family,
    output_names,
)
from kerascli.spec.models import Spec, call_parts, parameter, trainable_problem
from kerascli.spec.outputs import (
    as_call,
    loss_outputs,
    loss_weights_problem,
    one_loss,
    per_output_problem,
)
from kerascli.spec.problems import Finding, KeyPath, did_you_mean
from kerascli.spec.slicing import SLICING, parse_key

# Families named by a string value (`activation: relu`, `kernel_initializer: he_normal`).
NAMED_BY_STRING = ("activations", "initializers", "regularizers", "constraints")


def check_call(
    family: str, name: str, args: dict[str, Any], path: KeyPath, lenient: bool
) -> Iterator[Finding]:
    """Check one `{Name: {args}}` call; `lenient` skips unknown names (plugins may define them).

    Where a layer goes (`family` "layers"), an application or an `ops.NAME` is checked as one.
    """
    if family == "layers" and layer_family(name) == "applications":
        yield from check_application(name, args, path)
        return
    if family == "layers" and layer_family(name) == "ops":
        yield from check_op(name, args, path)
        return
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


def check_layers(calls: list[dict[str, Any]], path: KeyPath, lenient: bool) -> Iterator[Finding]:
    """A list of layer calls applied one after the other (a Sequential model's `layers`,
    `data.augment`): each a Keras layer or application (`check_call`), never an `ops.NAME`
    (a function of several tensors needs a Functional node)."""
    for i, call in enumerate(calls):
        name, args = call_parts(call)
        if layer_family(name) == "ops":
            message = f"{name} is a keras.ops function: it needs a Functional node with `from`"
            yield ((*path, i, name), message, True)
        else:
            yield from check_call("layers", name, args, (*path, i), lenient)


def check_augment(spec: Spec, lenient: bool) -> Iterator[Finding]:
    """`data.augment`: layer calls (`check_layers`) for the model's one input, or lists of
    them by model input name."""
    augment = spec.data.augment if spec.data is not None else None
    if augment is None:
        return
    base: KeyPath = ("data", "augment")
    names = list(inputs_by_name(spec))
    if isinstance(augment, list):
        if len(names) > 1:
            message = (
                f"the model has inputs {', '.join(names)}: give the layers of each by input name"
            )
            yield (base, message, True)
        yield from check_layers(augment, base, lenient)
        return
    for key, calls in augment.items():
        if names == [SINGLE]:
            message = "the model has one input: give data.augment a list of layers"
            yield ((*base, key), message, True)
        elif key not in names:
            hint = did_you_mean(key, names)
            message = f"'{key}' is not a model input{hint}; inputs: {', '.join(names)}"
            yield ((*base, key), message, True)
        yield from check_layers(calls, (*base, key), lenient)


# --- applications and ops where a layer goes ----------------------------------------------

APPLICATION_ARGUMENTS = ("trainable",)  # kerascli's, applied after Keras builds the model


def check_application(name: str, args: dict[str, Any], path: KeyPath) -> Iterator[Finding]:
    """A `keras.applications` model: its arguments, local `weights` and kerascli's `trainable`."""
    signature = catalog.classes("applications")[name]
    known = [*signature.params, *APPLICATION_ARGUMENTS]
    misspelt = False
    for arg in args:
        if arg == "input_tensor":
            yield (
                (*path, name, arg),
                f"{name} takes its input from the node's `from` (or the layer before it), "
                "not input_tensor: remove input_tensor",
                True,
            )
        elif arg not in known:
            hint = did_you_mean(arg, known)
            misspelt = misspelt or "'weights'" in hint
            hint = hint or f" ({name} takes: {', '.join(known)})"
            yield ((*path, name, arg), f"unknown argument '{arg}' for {name}{hint}", True)
    problem = weights_problem(name, {k: v for k, v in args.items() if k in known})
    if problem is not None and not misspelt:
        where, message, at_key = problem
        yield ((*path, *where), message, at_key)
    wrong = trainable_problem(args["trainable"]) if "trainable" in args else None
    if wrong is not None:
        yield ((*path, name, "trainable"), f"trainable: {wrong}", False)


def check_op(name: str, args: dict[str, Any], path: KeyPath) -> Iterator[Finding]:
    """`ops.NAME`: a `keras.ops` function, called with its keyword arguments."""
    ops = catalog.classes("ops")
    bare = name.removeprefix(OPS_PREFIX)
    if bare not in ops:
        hint = did_you_mean(name, [f"{OPS_PREFIX}{op}" for op in ops])
        yield ((*path, name), f"unknown op '{name}' (not a keras.ops function){hint}", True)
        return
    signature = ops[bare]
    for arg in args:
        if arg not in signature.params and not signature.open:
            hint = did_you_mean(arg, signature.params)
            if not hint:
                hint = f" ({name} takes: {', '.join(signature.params)})"
            yield ((*path, name, arg), f"unknown argument '{arg}' for {name}{hint}", True)
    if bare in SLICING and "key" in args and parameter(args["key"]) is None:
        try:
            parse_key(args["key"])
        except ValueError as exc:
            yield ((*path, name, "key"), str(exc), False)
    elif bare in SLICING and "key" not in args:
        yield ((*path, name), f"{name} needs the argument 'key', e.g. key: \"[:, -1]\"", True)


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


def check_loss(spec: Spec, lenient: bool) -> Iterator[Finding]:
    """`compile.loss`: one loss, a list with one per output, or a mapping by output name."""
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
        if one_loss(loss, named_outputs(spec)):
            yield from _check_loss(loss, ("compile", "loss"), lenient)
        else:
            assert isinstance(loss, dict)
            yield from _check_output_map(loss, ("compile", "loss"), named_outputs(spec))
            for key, value in loss.items():
                yield from _check_loss(value, ("compile", "loss", key), lenient)


def check_metrics(spec: Spec, lenient: bool) -> Iterator[Finding]:
    """`compile.metrics`: a list, or a metric or list of metrics by output name."""
    metrics = spec.compile.metrics
    groups: list[tuple[KeyPath, list[dict[str, dict[str, Any]]]]] = []
    if isinstance(metrics, list):
        groups.append((("compile", "metrics"), metrics))
    else:
        yield from _check_output_map(metrics, ("compile", "metrics"), named_outputs(spec))
        for key, listed in metrics.items():
            if isinstance(listed, list):
                groups.append((("compile", "metrics", key), listed))
            else:
                path: KeyPath = ("compile", "metrics", key)
                yield from check_call("metrics", *call_parts(listed), path, lenient)
    for base, calls in groups:
        for i, metric in enumerate(calls):
            yield from check_call("metrics", *call_parts(metric), (*base, i), lenient)


def check_compile(spec: Spec, lenient: bool, training: bool = True) -> Iterator[Finding]:
    """`compile:` against Keras's names and the model's outputs; without `training` (a run's
    spec, loaded to predict or evaluate) what only training uses is not checked: `loss_weights`
    and `fit.class_weight`."""
    name, args = call_parts(spec.compile.optimizer)
    yield from check_call("optimizers", name, args, ("compile", "optimizer"), lenient)
    yield from check_loss(spec, lenient)
    yield from check_metrics(spec, lenient)
    if not training:
        return
    outputs = named_outputs(spec)
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
    outputs = named_outputs(spec)
    if outputs is None:
        if output_names(spec) is not None and len(weights) != 1:  # a Sequential model's
            yield (
                base,
                f"the model has one output: give loss_weights one weight ([w]), got "
                f"{len(weights)} ({', '.join(weights)})",
                True,
            )
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
