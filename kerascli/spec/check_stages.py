"""Checks of the fine-tuning `stages:` (kerascli/run/stages.py trains them), without TensorFlow.

A stage's optimizer is checked as `compile.optimizer` is; its `trainable` names as far as the spec
alone tells the model's layer names: a Functional node or input is a layer of that name, a
Sequential layer is when it gives its `name`. Names inside an application or a block, or in a
model with plugins, are only known once the model is built: there the run reports them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kerascli.spec.check_names import check_call
from kerascli.spec.facts import layer_family
from kerascli.spec.models import Spec, StageSpec, call_parts, needs_a_model
from kerascli.spec.problems import Finding, KeyPath, did_you_mean

FIRST_STAGE = "stage1"
"""The name of the first stage: the `fit.epochs` trained before the listed stages."""


REUSE = "reuse:"  # a `_layer_kinds` value: the node reuses the layer of the node named after it


def stage_name(index: int, stage: StageSpec) -> str:
    """The name of `spec.stages[index]`: its `name`, or `stage<index + 2>`."""
    return stage.name or f"stage{index + 2}"


def check_stages(spec: Spec) -> Iterator[Finding]:
    """What is wrong in `spec.stages`: a name used twice, an unknown optimizer or argument, a
    `trainable` name that is no layer of the model, `{last: N}` / `{from: LAYER}` on a layer that
    is not a model."""
    lenient = bool(spec.plugins)
    layers = None if lenient else _layer_kinds(spec)
    seen = {FIRST_STAGE}
    for i, stage in enumerate(spec.stages):
        path: KeyPath = ("stages", i)
        name = stage_name(i, stage)
        if name in seen:
            where = "the first stage's (fit.epochs)" if name == FIRST_STAGE else "another stage's"
            yield ((*path, "name"), f"stage name '{name}' is {where}: give each a new name", False)
        seen.add(name)
        if layers is not None:
            for layer, setting in stage.trainable.items():
                yield from _check_trainable(layers, layer, setting, (*path, "trainable", layer))
        if stage.optimizer is not None:
            yield from check_call(
                "optimizers", *call_parts(stage.optimizer), (*path, "optimizer"), lenient
            )


def _check_trainable(
    layers: dict[str, str | None], name: str, setting: Any, path: KeyPath
) -> Iterator[Finding]:
    if name not in layers:
        yield (path, f"the model has no layer '{name}'{did_you_mean(name, layers)}", True)
        return
    kind = layers[name]
    if kind is not None and kind.startswith(REUSE):
        reused = kind.removeprefix(REUSE)
        yield (path, f"node '{name}' reuses the layer of '{reused}': name '{reused}'", True)
    elif kind is not None and isinstance(setting, dict):
        yield (path, needs_a_model(setting, f"'{name}'", kind), False)


def _layer_kinds(spec: Spec) -> dict[str, str | None] | None:
    """The model's layer names, each with its `keras.layers` class (`None`: an input;
    `reuse:NODE` for a node that reuses NODE's layer; ops nodes are no layers), or `None` when
    the spec does not tell them all (a subclass, unnamed Sequential layers, blocks,
    applications)."""
    model = spec.model
    if model.sequential is not None:
        kinds: dict[str, str | None] = {}
        for call in model.sequential.layers:
            cls, args = call_parts(call)
            if not isinstance(args.get("name"), str) or layer_family(cls) != "layers":
                return None
            kinds[args["name"]] = cls
        return kinds
    functional = model.functional
    if functional is None:
        return None
    kinds = {}
    for name, spec_input in functional.inputs.items():
        kinds[spec_input.name or name] = None
    for name, node in functional.layers.items():
        if node.block is not None:
            return None
        if node.reuse is not None:
            kinds[name] = f"{REUSE}{node.reuse}"
            continue
        cls, args = node.layer or ("", {})
        family = layer_family(cls)
        if family == "applications":
            return None
        if family == "ops":  # an op is no layer: named, it is reported as unknown
            continue
        layer_name = args.get("name")
        kinds[layer_name if isinstance(layer_name, str) else name] = cls
    return kinds
