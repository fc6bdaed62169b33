"""The spec language: Pydantic models of a kerascli YAML spec.

Field names are Keras's own (`compile.optimizer`, `fit.epochs`, layer
arguments). Layer, optimizer, loss, metric and callback *calls* are written as a
class name, or a mapping of one class name to its arguments:

    - Flatten
    - Dense: {units: 10, activation: softmax}

Long because the spec language is one tree of models that refer to each other, and its field
descriptions are the documentation `kerascli schema` publishes to editors.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    PositiveInt,
    PrivateAttr,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from kerascli.spec.calls import CLASS_WORDS as CLASS_WORDS
from kerascli.spec.calls import FAMILY_KEY as FAMILY_KEY
from kerascli.spec.calls import (
    CallbackCall,
    LayerCall,
    MetricCall,
    OptimizerCall,
    Strict,
    _plugin_ref,
    call_arguments,
)
from kerascli.spec.calls import call_parts as call_parts
from kerascli.spec.calls import is_plugin_ref as is_plugin_ref
from kerascli.spec.data_spec import Columns as Columns
from kerascli.spec.data_spec import DataSpec as DataSpec
from kerascli.spec.distribute_spec import DistributeSpec
from kerascli.spec.facts import OPS_PREFIX, subclass_source, takes_positional
from kerascli.spec.tracking_spec import TrackingSpec


class InputSpec(Strict):
    """A model input, as `keras.Input(shape, dtype, name)`."""

    shape: list[PositiveInt | None] = Field(
        description="Shape without the batch dimension.", examples=[[4], [8, 8, 1]]
    )
    dtype: str = Field("float32", description="Input dtype. Defaults to `float32`.")
    name: str | None = Field(None, description="Input name. Defaults to the key in `inputs`.")

    @field_validator("shape", mode="before")
    @classmethod
    def _none_is_null(cls, value: Any) -> Any:
        if isinstance(value, list) and any(v in ("None", "none") for v in value):
            raise ValueError(
                "'None' is text in YAML: did you mean null? Write a dimension of any size as "
                "null (or ~), e.g. shape: [null, 8]"
            )
        return value


class SequentialSpec(Strict):
    """A `keras.Sequential` model: an input and a list of layers."""

    input: InputSpec = Field(
        description="The model input, as `keras.Input`.", examples=[{"shape": [4]}]
    )
    layers: list[LayerCall] = Field(
        min_length=1,
        description="Layers in order: a class name, or `{Class: {arguments}}`.",
        examples=[[{"Dense": {"units": 16, "activation": "relu"}}, "Flatten"]],
    )
    name: str | None = Field(None, description="Model name. Defaults to the spec's `name`.")


NodeRef = str
"""A node or input name, or one output of a multi-output node: `lstm[1]`."""
Source = NodeRef | list[NodeRef | list[NodeRef]] | dict[str, NodeRef | list[NodeRef]]
PARAM = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)$")
"""A block parameter written as a value: `$filters`."""


def parameter(value: Any) -> str | None:
    """The name of the block parameter `value` stands for (`$filters` -> `filters`), if any."""
    match = PARAM.match(value) if isinstance(value, str) else None
    return match[1] if match else None


def params_in(
    value: Any, path: tuple[str | int, ...]
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Where `$name` parameters are written in `value` (at `path`): (key path, name) each."""
    name = parameter(value)
    if name is not None:
        yield path, name
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from params_in(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from params_in(item, (*path, i))


MAX_REPEAT = 1000
"""The most repetitions of one block use (the layers of all uses are bounded too)."""
NODE_KEYS = ("from", "reuse", "call", "block", "params", "repeat", "repeat_params")
"""The keys of a Functional node that are not its layer."""


class FunctionalNode(BaseModel):
    """A node of a Functional model: one layer call, written `{Class: {args}, from: ...}`.

    `from` names the node(s) or input(s) it is called on: one name, a list
    (passed as a list, for merges such as Concatenate), or a mapping of call
    arguments (e.g. `{query: q, value: v}`); `lstm[1]` picks one output of a
    multi-output node. `call` gives the call's other arguments (`training: false`).
    `reuse: other` calls the layer of node `other` again, sharing its weights,
    instead of creating a layer. `block: name` uses a block of `model.blocks`, with its
    `params`, `repeat` times (`repeat_params`: the parameters of each repetition).
    The layer may also be a `keras.applications` model (`MobileNetV3Small: {...}`) or a
    `keras.ops` function (`ops.add: {x2: 3.0}`).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    from_: Source = Field(
        alias="from",
        description="Input(s) or node(s) this layer is called on: a name, a list, or a mapping "
        "of call arguments; `node[i]` is output i of a multi-output node.",
        examples=["features", ["left", "right"], {"query": "q", "value": "v"}, "lstm[0]"],
    )
    reuse: str | None = Field(
        None,
        description="Call the layer of another node again (shared weights) instead of a layer.",
        examples=["encoder"],
    )
    call: dict[str, Any] | None = Field(
        None,
        description="Other arguments of the layer's call (not tensors), such as `training`.",
        examples=[{"training": False}],
    )
    block: str | None = Field(
        None, description="Use a block of `model.blocks` as this node.", examples=["residual"]
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Parameters of the block (`block:`), over the block's defaults.",
        examples=[{"filters": 32}],
    )
    repeat: int = Field(
        1,
        ge=1,
        le=MAX_REPEAT,
        strict=True,
        description="Use the block this many times in a chain. Defaults to 1.",
    )
    repeat_params: list[dict[str, Any]] | None = Field(
        None,
        description="Parameters of each repetition of the block, one mapping each.",
        examples=[[{"strides": 2}, {}, {}]],
    )

    @field_validator("call")
    @classmethod
    def _training_is_a_bool(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        training = (value or {}).get("training")
        if training is True:
            raise ValueError(
                "training: true is not kept in the saved model (Keras calls the layer with "
                "training=False to evaluate and predict): only training: false is supported"
            )
        if training is not None and training is not False and not parameter(training):
            raise ValueError(f"training must be false or null, got {training!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _layer_arguments(cls, value: Any) -> Any:
        if isinstance(value, dict):  # `Conv2D: [32, 3]`: positional arguments by name
            value = {
                key: call_arguments(key, args)
                if key not in NODE_KEYS and isinstance(args, list) and takes_positional(key)
                else args
                for key, args in value.items()
            }
        return value

    @model_validator(mode="after")
    def _one_layer(self) -> FunctionalNode:
        extra = dict(self.model_extra or {})
        kinds = [k for k in ("reuse", "block") if getattr(self, k) is not None]
        if kinds and extra:
            raise ValueError(
                f"a node with '{kinds[0]}' takes no layer of its own, got {', '.join(extra)}"
            )
        if len(kinds) > 1:
            raise ValueError("give one of 'reuse' or 'block', not both")
        if not kinds and len(extra) != 1:
            got = ", ".join(extra) if extra else "none"
            raise ValueError(
                "expected exactly one layer such as Dense: {units: 8} (or reuse: NODE, or "
                f"block: BLOCK), got {got}"
            )
        for name, args in extra.items():
            if args is not None and not isinstance(args, dict):
                raise ValueError(f"the arguments of {name} must be a mapping, got {args!r}")
        if self.call is not None and any(name.startswith(OPS_PREFIX) for name in extra):
            raise ValueError(
                "an op has no call arguments: give its constants in its own mapping, "
                "e.g. {ops.mean: {axis: 1}}"
            )
        if self.block is None:
            used = [k for k in ("params", "repeat_params") if getattr(self, k)]
            used += ["repeat"] if self.repeat != 1 else []
            if used:
                raise ValueError(f"'{used[0]}' applies to a block: give block: NAME")
        elif self.repeat_params is not None and len(self.repeat_params) != self.repeat:
            if self.repeat == 1 and "repeat" not in self.model_fields_set:
                self.repeat = len(self.repeat_params) or 1
            else:
                raise ValueError(
                    f"repeat_params has {len(self.repeat_params)} entries for repeat: "
                    f"{self.repeat}: give one mapping per repetition"
                )
        return self

    @property
    def layer(self) -> tuple[str, dict[str, Any]] | None:
        """The (class name, arguments) of this node's layer; `None` for `reuse` and `block`."""
        if self.reuse is not None or self.block is not None:
            return None
        ((name, args),) = (self.model_extra or {}).items()
        return name, dict(args or {})

    @property
    def refs(self) -> list[NodeRef]:
        """Every reference in `from`, as written (`lstm[1]` included), in order."""
        if isinstance(self.from_, str):
            return [self.from_]
        values = self.from_.values() if isinstance(self.from_, dict) else self.from_
        return [r for v in values for r in ([v] if isinstance(v, str) else v)]

    @property
    def sources(self) -> list[str]:
        """Every node or input name this node reads from (without an output index)."""
        return [ref_parts(r)[0] for r in self.refs]


_REF = re.compile(r"^(?P<name>.+?)\[(?P<index>-?\d+)\]$")


def ref_parts(ref: NodeRef) -> tuple[str, int | None]:
    """A reference as (node name, output index): `lstm[1]` is `('lstm', 1)`, `x` is `('x', None)`."""
    match = _REF.match(ref)
    if match is None:
        return ref, None
    return match["name"], int(match["index"])


class BlockSpec(Strict):
    """A block: a named, parameterised sub-graph written once and used as a node.

    Its `layers` are Functional nodes reading from the block's `inputs` and from each other;
    a value `$name` is the parameter `name` (its default in `params`, or what a use gives).
    """

    inputs: list[str] = Field(
        min_length=1, description="The block's input names, in order.", examples=[["x"]]
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="The block's parameters and their defaults (`null`: a use must give it); "
        "`$name` in a value stands for the parameter.",
        examples=[{"filters": 64, "strides": 1}],
    )
    layers: dict[str, FunctionalNode] = Field(
        min_length=1,
        description="The block's nodes, as in `functional.layers`.",
        examples=[{"conv": {"Conv2D": {"filters": "$filters", "kernel_size": 3}, "from": "x"}}],
    )
    outputs: str | list[str] = Field(
        description="The node (or nodes) the block gives.", examples=["add"]
    )

    @property
    def output_names(self) -> list[str]:
        return [self.outputs] if isinstance(self.outputs, str) else list(self.outputs)


class FunctionalSpec(Strict):
    """A Functional model: named inputs, named layer nodes wired by name, outputs."""

    inputs: dict[str, InputSpec] = Field(
        min_length=1,
        description="Named inputs, as `keras.Input`s.",
        examples=[{"features": {"shape": [4]}}],
    )
    layers: dict[str, FunctionalNode] = Field(
        min_length=1,
        description="Named layer nodes: `{Class: {arguments}, from: input_or_node}`.",
        examples=[{"hidden": {"Dense": {"units": 16}, "from": "features"}}],
    )
    outputs: str | list[str] = Field(
        description="The node (or list of nodes) that are the model's outputs.",
        examples=["species", ["species", "size"]],
    )
    name: str | None = Field(None, description="Model name. Defaults to the spec's `name`.")

    @property
    def output_names(self) -> list[str]:
        return [self.outputs] if isinstance(self.outputs, str) else list(self.outputs)


class SubclassSpec(Strict):
    """A `keras.Model` subclass from a plugin: `plugins/net.py:MyModel` or `pkg.mod:MyModel`."""

    class_: str = Field(
        alias="class",
        pattern=r"^[^:]+:[A-Za-z_][A-Za-z0-9_]*$",
        description="`path/to/file.py:ClassName` (relative to the spec) or `module:ClassName`.",
        examples=["plugins/net.py:IrisNet"],
    )
    args: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments of the class's constructor.",
        examples=[{"units": 16}],
    )
    input: InputSpec | None = Field(
        None, description="The model's one input (or give `inputs`).", examples=[{"shape": [4]}]
    )
    inputs: dict[str, InputSpec] | None = Field(
        None, description="Named inputs; the model is called on a dict of them."
    )

    @field_validator("class_")
    @classmethod
    def _class_ref(cls, value: str) -> str:
        if not is_plugin_ref(subclass_source(value)):
            raise ValueError(CLASS_WORDS)
        return value

    @model_validator(mode="after")
    def _one_input_kind(self) -> SubclassSpec:
        if (self.input is None) == (self.inputs is None):
            raise ValueError("give exactly one of 'input' (one input) or 'inputs' (named inputs)")
        return self


class ModelSpec(Strict):
    """The model: exactly one of `sequential`, `functional`, `subclass`."""

    sequential: SequentialSpec | None = Field(
        None, description="A `keras.Sequential` model: `input` and a list of `layers`."
    )
    functional: FunctionalSpec | None = Field(
        None, description="A Functional model: named `inputs`, layer nodes and `outputs`."
    )
    subclass: SubclassSpec | None = Field(
        None, description="A `keras.Model` subclass from a plugin file or module."
    )
    blocks: dict[str, BlockSpec] = Field(
        default_factory=dict,
        description="Named blocks (sub-graphs) that Functional nodes use with `block: NAME`.",
    )
    weights: str | None = Field(
        None,
        description="A weights file (`.weights.h5`, relative to the spec) loaded into the "
        "built model.",
        examples=["mobilenet.weights.h5"],
    )

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, value: Any) -> Any:
        if isinstance(value, dict):
            kinds = [k for k in ("sequential", "functional", "subclass") if k in value]
            if len(kinds) > 1:
                raise ValueError(
                    f"give exactly one of sequential, functional, subclass; got {' and '.join(kinds)}"
                )
            others = {"sequential", "functional", "subclass", "blocks", "weights"}
            if not kinds and not (set(value) - others):
                raise ValueError("give exactly one of sequential, functional, subclass")
        return value

    @property
    def kind(self) -> Literal["sequential", "functional", "subclass"]:
        if self.sequential is not None:
            return "sequential"
        if self.functional is not None:
            return "functional"
        return "subclass"


class CompileSpec(Strict):
    """Arguments of `model.compile`."""

    optimizer: OptimizerCall = Field(
        default_factory=lambda: {"rmsprop": dict[str, Any]()},
        description="Optimizer name or {Class: args}; `learning_rate` may be a schedule. "
        "Defaults to `rmsprop`.",
        examples=["adam", {"Adam": {"learning_rate": 0.001}}],
    )
    loss: str | dict[str, Any] | Annotated[list[Any], Field(min_length=1)] | None = Field(
        None,
        description="Loss name, {Class: args}, a mapping of output name to loss, or a list "
        "with one loss per output in `outputs:` order.",
        examples=["sparse_categorical_crossentropy", {"Huber": {"delta": 1.0}}, ["mse", "mae"]],
    )
    metrics: list[MetricCall] | dict[str, MetricCall | list[MetricCall]] = Field(
        default_factory=list,
        description="Metrics to report: a list, or a mapping of output name to metric(s).",
        examples=[["accuracy"], {"species": ["accuracy"]}],
    )
    loss_weights: list[float] | dict[str, float] | None = Field(
        None,
        description="Weights of each output's loss (a list, or by output name).",
        examples=[{"species": 1.0, "size": 0.5}],
    )
    jit_compile: bool | Literal["auto"] = Field(
        "auto", description="Compile with XLA: true, false or `auto`. Defaults to `auto`."
    )

    @field_validator("loss", mode="before")
    @classmethod
    def _loss_form(cls, value: Any) -> Any:
        if value == []:
            raise ValueError("expected one loss per output, got an empty list")
        if value is None or isinstance(value, (str, dict, list)):
            return value
        raise ValueError(
            "expected a loss name, {Class: args}, a mapping of output name to loss, or a list "
            f"with one loss per output, got {type(value).__name__} {value!r}"
        )

    @field_validator("jit_compile", mode="before")
    @classmethod
    def _jit_choice(cls, value: Any) -> Any:
        if value is True or value is False or value == "auto":
            return value
        raise ValueError(f"expected true, false or 'auto', got {value!r}")

    run_eagerly: bool = Field(
        False, description="Run without `tf.function` (for debugging). Defaults to `false`."
    )
    steps_per_execution: PositiveInt = Field(
        1, description="Batches per `tf.function` call. Defaults to 1."
    )


class FitSpec(Strict):
    """Arguments of `model.fit`."""

    epochs: PositiveInt = Field(10, description="Epochs to train. Defaults to 10.", examples=[30])
    batch_size: PositiveInt = Field(
        32, description="Samples per batch. Defaults to 32.", examples=[16]
    )
    class_weight: dict[str | int, float] | Literal["balanced"] | None = Field(
        None,
        description="Loss weight per class (index or class name), or `balanced`.",
        examples=["balanced", {"0": 1.0, "1": 3.0}],
    )
    steps_per_epoch: PositiveInt | None = Field(
        None, description="Batches per epoch. Defaults to one pass over the training data."
    )
    validation_steps: PositiveInt | None = Field(
        None, description="Validation batches per epoch. Defaults to the whole validation data."
    )
    validation_freq: PositiveInt = Field(1, description="Validate every N epochs. Defaults to 1.")
    initial_epoch: int = Field(0, ge=0, description="Epoch to start from. Defaults to 0.")


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"  # one directory name under runs/


def trainable_problem(value: Any) -> str | None:
    """What is wrong with a `trainable` setting, if anything: true, false, `{last: N}` (only the
    last N layers of a model train) or `{from: LAYER}` (its layers from LAYER on train). An
    application's `trainable` and a stage's take the same settings."""
    if isinstance(value, bool):
        return None
    ((key, inner),) = value.items() if isinstance(value, dict) and len(value) == 1 else [(0, 0)]
    if key == "last" and isinstance(inner, int) and not isinstance(inner, bool) and inner >= 0:
        return None
    if key == "from" and isinstance(inner, str) and inner:
        return None
    if key in ("last", "from"):
        want = "a number of layers N >= 0" if key == "last" else "a layer name"
        return f"{{{key}: ...}} takes {want}, got {inner!r}"
    return f"expected true, false, {{last: N}} or {{from: LAYER}}, got {value!r}"


TRAINABLE_SCHEMA: dict[str, Any] = {
    "description": "kerascli's: which layers of the model train, set after Keras builds it: "
    "true, false, {last: N} or {from: LAYER}.",
    "anyOf": [
        {"type": "boolean"},
        {
            "type": "object",
            "properties": {"last": {"type": "integer", "minimum": 0}},
            "required": ["last"],
            "additionalProperties": False,
        },
        {
            "type": "object",
            "properties": {"from": {"type": "string", "minLength": 1}},
            "required": ["from"],
            "additionalProperties": False,
        },
    ],
}
"""The JSON Schema of a `trainable` setting (an application's, a stage's)."""


def written_setting(setting: Any) -> str:
    """A trainable setting as a spec writes it: `true`, `{last: 2}`, `{from: block_5}`."""
    if isinstance(setting, dict):
        return "{" + ", ".join(f"{k}: {v}" for k, v in setting.items()) + "}"
    return str(setting).lower() if isinstance(setting, bool) else repr(setting)


def needs_a_model(setting: Any, name: str, kind: str) -> str:
    """The message for `{last: N}` / `{from: LAYER}` given to a layer that is not a model."""
    return (
        f"trainable {written_setting(setting)} needs a model (an application), but {name} is a "
        f"{kind} layer: use true or false"
    )


class StageSpec(Strict):
    """A fine-tuning stage: after `fit.epochs` (the first stage, `stage1`), set what trains,
    compile anew and continue `model.fit` for `epochs` more epochs (kerascli/run/stages.py)."""

    name: Annotated[str, Field(min_length=1)] | None = Field(
        None,
        description="The stage's name, in history.csv and run.json. Defaults to `stage<n>` "
        "(`stage2` for the first listed; `stage1` is the `fit.epochs` before the stages).",
        examples=["fine_tune"],
    )
    epochs: PositiveInt = Field(description="Epochs this stage trains.", examples=[3])

    @staticmethod
    def _setting(value: Any) -> Any:
        """One `trainable` value: true, false, {last: N} or {from: LAYER}."""
        problem = trainable_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    trainable: dict[
        str,
        Annotated[
            Any,
            PlainValidator(_setting),
            WithJsonSchema(TRAINABLE_SCHEMA),
        ],
    ] = Field(
        default_factory=dict,
        description="Layer or node name -> true, false, {last: N} (only the last N layers of "
        "that model train) or {from: LAYER} (its layers from LAYER on train), applied in order "
        "before the stage; what is not named keeps its setting.",
        examples=[{"backbone": True}, {"backbone": {"from": "block_12_expand"}}],
    )
    optimizer: OptimizerCall | None = Field(
        None,
        description="The stage's optimizer (new state). Defaults to `compile.optimizer`, "
        "built anew.",
        examples=[{"Adam": {"learning_rate": 1.0e-5}}],
    )
    learning_rate: Annotated[float, Field(gt=0)] | None = Field(
        None,
        description="The optimizer's `learning_rate` for this stage (over the optimizer's own).",
        examples=[1.0e-5],
    )


class Spec(Strict):
    """A whole kerascli spec."""

    name: str = Field(
        pattern=NAME_PATTERN,
        description="The spec's name; runs go to `runs/<name>/<n>/`.",
        examples=["iris-mlp"],
    )
    extends: str | list[str] | None = Field(
        None,
        description="Base spec file(s) this one deep-merges over (relative paths).",
        examples=["base.yaml"],
    )
    seed: int | None = Field(
        42, description="Seeds Python, NumPy and Keras. Defaults to 42.", examples=[7]
    )
    plugins: list[Annotated[str, AfterValidator(_plugin_ref)]] = Field(
        default_factory=list,
        description="Python files (relative to the spec) or modules with custom objects.",
        examples=[["plugins/layers.py"]],
    )
    model: ModelSpec = Field(
        description="The model to train: exactly one of `sequential` (a list of layers), "
        "`functional` (named layer nodes) or `subclass` (a keras.Model subclass)."
    )
    compile: CompileSpec = Field(
        default_factory=CompileSpec,
        description="Arguments of `model.compile`: optimizer, loss, metrics.",
    )
    fit: FitSpec = Field(
        default_factory=FitSpec, description="Arguments of `model.fit`: epochs, batch size."
    )
    callbacks: list[CallbackCall] = Field(
        default_factory=list,
        description="Keras callbacks, each a class name or `{Class: {arguments}}`.",
        examples=[[{"EarlyStopping": {"monitor": "val_loss", "patience": 5}}]],
    )
    data: DataSpec | None = Field(
        None, description="Where the data comes from and how it feeds the model."
    )
    stages: list[StageSpec] = Field(
        default_factory=list,
        description="Fine-tuning stages after the first `fit.epochs`: each sets what trains, "
        "compiles anew and trains more epochs, in the same run.",
        examples=[[{"name": "fine_tune", "epochs": 3, "trainable": {"backbone": True}}]],
    )
    distribute: DistributeSpec | None = Field(
        None,
        description="How tf.distribute trains the model: strategy, devices, cluster and "
        "mixed precision. Defaults to one device, float32.",
        examples=[{"strategy": "mirrored"}, {"mixed_precision": "mixed_float16"}],
    )
    tracking: TrackingSpec | None = Field(
        None,
        description="Experiment trackers the run logs to besides its run directory (MLflow). "
        "Defaults to none.",
        examples=[{"mlflow": {"uri": "mlruns", "experiment": "iris"}}],
    )

    _document: Any = PrivateAttr(default=None)

    @property
    def document(self) -> Any:
        """The `Document` the spec was read from (positions for error messages)."""
        return self._document
