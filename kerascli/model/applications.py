"""A `keras.applications` model as a layer of a spec: `MobileNetV3Small: {include_top: false,
weights: null, pooling: avg, trainable: false}`.

The constructor is Keras's own, called with the spec's arguments; kerascli adds three rules:
the input shape is the upstream tensor's unless `input_shape` is given, `weights` is `null` or
a local file (relative to the spec; nothing is ever downloaded) and `trainable` (`true`,
`false`, `{last: N}`, `{from: LAYER}`) is applied after Keras builds the model. The model keeps
its Keras name unless `name` is given.

Example:

    backbone = build_application(builder, "MobileNetV3Small",
                                 {"include_top": False, "weights": None, "trainable": False},
                                 (32, 32, 3), ("model", "functional", "layers", "backbone"))
"""

from __future__ import annotations

from typing import Any

from kerascli.model.trainable import set_trainable
from kerascli.spec.check_names import check_application
from kerascli.spec.check_weights import weights_file_problem, weights_path
from kerascli.spec.problems import KeyPath, short_message


def build_application(
    builder: Any, name: str, args: dict[str, Any], upstream_shape: Any, path: KeyPath
) -> Any:
    """Build application `name` with the spec's `args` on inputs of `upstream_shape`.

    Args:
        builder: The `Builder` of the spec (its registry, its document for errors).
        name: The `keras.applications` constructor, e.g. `"ResNet50V2"`.
        args: Its arguments as written, kerascli's `trainable` included.
        upstream_shape: The shape of the tensor it is called on, without the batch axis.
        path: Where the layer is written (its node or list item).

    Raises:
        SpecError: located at the argument to blame (or the application's name).
    """
    constructor = builder.resolve("applications", name, (*path, name))
    args = dict(args)
    trainable = args.get("trainable")
    for where, message, at_key in check_application(name, args, path):  # (block parameters
        raise builder.error(where, message, at_key=at_key)  # are known only now)
    args.pop("trainable", None)
    if isinstance(args["weights"], str):
        where = (*path, name, "weights")
        problem = weights_file_problem(builder.spec, where, args["weights"])
        if problem is not None:
            raise builder.error(where, problem)
        args["weights"] = str(weights_path(builder.spec, where, args["weights"]))
    given_shape = "input_shape" in args
    if not given_shape:
        args["input_shape"] = tuple(upstream_shape)
    try:
        model = constructor(**args)
    except (ValueError, TypeError, NotImplementedError, OSError) as exc:
        raise _build_error(builder, name, args, path, exc, given_shape) from exc
    if trainable is not None:
        try:
            set_trainable(model, trainable, f"{name} '{model.name}'")
        except ValueError as exc:
            raise builder.error((*path, name, "trainable"), str(exc)) from exc
    return model


def _build_error(
    builder: Any,
    name: str,
    args: dict[str, Any],
    path: KeyPath,
    exc: BaseException,
    given_shape: bool,
) -> Exception:
    """Keras's refusal of the arguments, located at the argument it names."""
    text = short_message(exc)
    if "input_shape" in text or "Input size" in text:
        shape = args["input_shape"]
        if given_shape:
            return builder.error((*path, name, "input_shape"), f"{name}: {text}")
        return builder.error(
            (*path, name),
            f"{name} cannot take its input of shape {list(shape)} (from the layer before it): "
            f"{text}",
            at_key=True,
        )
    if "weights" in text or isinstance(exc, OSError):
        return builder.error(
            (*path, name, "weights"),
            f"{name} cannot load weights {args['weights']}: {text} (the file must be saved from "
            f"{name} built with the same arguments)",
        )
    bad = [k for k in args if f"{k}=" in text or f"`{k}`" in text]
    where = (*path, name, bad[0]) if bad else (*path, name)
    return builder.error(where, text if name in text else f"{name}: {text}", at_key=not bad)
