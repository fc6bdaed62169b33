"""`ops.NAME` nodes: a `keras.ops` function called on a node's tensors, e.g. `{ops.add: {x2: 3.0},
from: x}` is `keras.ops.add(x, x2=3.0)`.

Keras 3 records such a call on symbolic tensors as an operation of the Functional graph, so the
model saves to `.keras` and loads again with `safe_mode` (no Lambda, no Python code stored).
How `from` becomes the call's arguments:

- one name: the first argument (`ops.relu6`, `ops.mean: {axis: [1, 2]}`);
- a list: the positional arguments in order (`ops.matmul` on `[a, b]`), except for an op whose
  first argument is a sequence of tensors (`concatenate`, `stack`, `hstack`...): the list is
  that argument;
- a mapping: keyword arguments (`{x1: a, x2: b}`).

The op's own mapping gives the other arguments by keyword; those written before a `*args` in
the signature go first by position (`ops.einsum: {subscripts: "ij,jk->ik"}` on `[a, b]`).
`ops.getitem: {key: "[:, -1]"}` slices: `x[:, -1]`, the key parsed without `eval`.
"""

from __future__ import annotations

import inspect
from typing import Any

from kerascli.spec.facts import OPS_PREFIX
from kerascli.spec.slicing import SLICING, parse_key

__all__ = ["call_op", "parse_key"]

SEQUENCE_FIRST = ("stack",)
"""Ops whose first argument is a sequence of tensors, besides those whose first is `xs`."""


def call_op(keras: Any, name: str, tensors: Any, args: dict[str, Any]) -> Any:
    """Call `keras.ops.NAME` (`name` with or without `ops.`) on what `from` resolved to.

    Args:
        keras: The `keras` module.
        name: The op, e.g. `"ops.add"` or `"add"`.
        tensors: One tensor, a list (of tensors or lists of tensors), or a mapping by argument.
        args: The op's other arguments, by keyword.

    Raises:
        ValueError: an unknown op or a key that does not parse; Keras's own errors pass through.
    """
    bare = name.removeprefix(OPS_PREFIX)
    args = dict(args)
    if bare in SLICING:
        return _getitem(tensors, args, name)
    function = getattr(keras.ops, bare, None)
    if function is None or inspect.ismodule(function) or not callable(function):
        raise ValueError(f"unknown op '{name}': not a keras.ops function")
    leading = _leading(function, args)
    if isinstance(tensors, dict):
        return function(*leading, **tensors, **args)
    if isinstance(tensors, list):
        if _takes_sequence(function, bare):
            return function(*leading, tensors, **args)
        return function(*leading, *tensors, **args)
    return function(*leading, tensors, **args)


def _getitem(tensors: Any, args: dict[str, Any], name: str) -> Any:
    if isinstance(tensors, (list, dict)):
        raise ValueError(f"{name} slices one tensor: give `from` one name")
    if set(args) - {"key"} or "key" not in args:
        raise ValueError(f'{name} takes one argument, key, e.g. {{key: "[:, -1]"}}; got {args}')
    return tensors[parse_key(args["key"])]


def _parameters(function: Any) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return []


def _leading(function: Any, args: dict[str, Any]) -> list[Any]:
    """Arguments given by keyword that the signature wants by position before its `*args`
    (einsum's `subscripts`): popped from `args`, in order."""
    parameters = _parameters(function)
    kinds = [p.kind for p in parameters]
    if inspect.Parameter.VAR_POSITIONAL not in kinds:
        return []
    before = parameters[: kinds.index(inspect.Parameter.VAR_POSITIONAL)]
    return [args.pop(p.name) for p in before if p.name in args]


def _takes_sequence(function: Any, bare: str) -> bool:
    parameters = _parameters(function)
    return bare in SEQUENCE_FIRST or bool(parameters and parameters[0].name == "xs")
