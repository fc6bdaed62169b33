"""The spec models' fields, walked by key path: which model holds the mapping at a path, the
keys it allows, and whether a field wants text (the loader's and `--set`'s questions)."""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel

from kerascli.spec.models import Spec
from kerascli.spec.problems import KeyPath


def annotation_options(annotation: Any) -> list[Any]:
    """The types an annotation allows: the members of a union, an `Annotated`'s type."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return [a for arg in typing.get_args(annotation) for a in annotation_options(arg)]
    return [annotation]


def model_at(path: KeyPath) -> type[BaseModel] | None:
    """The spec model class that holds the mapping at `path`."""
    current: list[Any] = [Spec]
    for seg in path:
        nxt: list[Any] = []
        for ann in current:
            for option in annotation_options(ann):
                origin = typing.get_origin(option)
                if isinstance(option, type) and issubclass(option, BaseModel):
                    if isinstance(seg, str):
                        for name, field in option.model_fields.items():
                            if seg in (name, field.alias):
                                nxt.append(field.annotation)
                elif origin is list and isinstance(seg, int):
                    nxt.extend(typing.get_args(option)[:1])
                elif origin is dict and isinstance(seg, str):
                    nxt.extend(typing.get_args(option)[1:2])
        current = nxt
    for ann in current:
        for option in annotation_options(ann):
            if isinstance(option, type) and issubclass(option, BaseModel):
                return option
    return None


def field_keys(model: type[BaseModel]) -> list[str]:
    """The keys a spec model allows, as the YAML writes them (aliases: `from`, `class`)."""
    return [field.alias or name for name, field in model.model_fields.items()]


def expects_text(path: KeyPath) -> bool:
    """Whether the schema wants text and no number at `path` (`name`, `data.target`, ...)."""
    model = model_at(path[:-1]) if path and isinstance(path[-1], str) else None
    if model is None:
        return False
    for name, field in model.model_fields.items():
        if path[-1] in (name, field.alias):
            options = set(annotation_options(field.annotation))
            return str in options and not options & {bool, int, float, Any}
    return False
