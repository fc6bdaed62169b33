"""`@command`: what every kerascli command goes through (RenderCV's error-handler decorator).

It gives the command `--debug` (unless the command declares `debug` itself, to be given the
value), keeps stdout for the JSON document when the command's `json_` is set, shows
TensorFlow's logs when its `verbose` is set, and turns whatever the command raised into an
exit code and a message through `errors.report`.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import typing
from collections.abc import Callable, Iterator
from typing import Any

import typer

from kerascli.cli import errors, render
from kerascli.cli.options import DebugOpt

DEBUG = "kerascli.debug"  # `ctx.meta` key: `kerascli --debug COMMAND` (the app's own option)
_CONTEXT = "kerascli_context"  # the parameter through which Typer passes the Click context


def command(function: Callable[..., None]) -> Callable[..., None]:
    """Wrap a command function: the common options, and errors mapped to exit codes."""
    signature = inspect.signature(function, eval_str=True)
    _check_names(function, signature)
    wants_debug = "debug" in signature.parameters
    added = [inspect.Parameter(_CONTEXT, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
    if not wants_debug:
        added.append(
            inspect.Parameter(
                "debug", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=DebugOpt
            )
        )

    @functools.wraps(function)
    def run(**kwargs: Any) -> None:
        context: typer.Context = kwargs.pop(_CONTEXT)
        debug = bool(kwargs.pop("debug") or context.meta.get(DEBUG, False))
        if wants_debug:
            kwargs["debug"] = debug
        json_mode = bool(kwargs.get("json_", False))
        with render.json_mode(json_mode), _verbose(bool(kwargs.get("verbose", False))):
            try:
                function(**kwargs)
            except (typer.Exit, typer.Abort):
                raise
            except BaseException as exc:
                if isinstance(exc, SystemExit) or errors.is_usage_error(exc):
                    raise  # a usage error shows itself with the command's usage line
                raise typer.Exit(errors.report(exc, json_mode, debug)) from None

    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*signature.parameters.values(), *added]
    )
    return run


SHARED_NAMES = {"--json": "json_", "--verbose": "verbose", "--debug": "debug"}
"""The parameter each shared option must have: `command` finds it by that name."""


def _check_names(function: Callable[..., None], signature: inspect.Signature) -> None:
    """A shared option under another parameter name would silently lose what `command` does
    with it (clean JSON stdout, TensorFlow's logs): refuse it when the command is defined."""
    for name, parameter in signature.parameters.items():
        for info in typing.get_args(parameter.annotation)[1:]:
            # (in `Annotated[..., typer.Option("--json")]` the first name is the `default`)
            default = getattr(info, "default", None)
            names = [default] if isinstance(default, str) else []
            for flag in [*names, *(getattr(info, "param_decls", None) or ())]:
                expected = SHARED_NAMES.get(flag)
                if expected is not None and expected != name:
                    raise TypeError(f"{function.__name__}: name the {flag} parameter {expected}")


@contextlib.contextmanager
def _verbose(enabled: bool) -> Iterator[None]:
    """While the block runs (if `enabled`), TensorFlow keeps its logs (`KERASCLI_VERBOSE`)."""
    if not enabled:
        yield
        return
    saved = os.environ.get("KERASCLI_VERBOSE")
    os.environ["KERASCLI_VERBOSE"] = "1"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("KERASCLI_VERBOSE", None)
        else:
            os.environ["KERASCLI_VERBOSE"] = saved
