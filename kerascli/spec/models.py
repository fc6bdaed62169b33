"""The spec language: Pydantic models of a kerascli YAML spec.

Field names are Keras's own (`compile.optimizer`, `fit.epochs`, layer
arguments). Layer, optimizer, loss, metric and callback *calls* are written as a
class name, or a mapping of one class name to its arguments:

    - Flatten
    - Dense: {units: 10, activation: softmax}
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
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

CALL_EXAMPLE = "a class name such as 'Flatten', or one class name with its arguments such as {Dense: {units: 10}}"


def _to_call(value: Any) -> dict[str, dict[str, Any]]:
    if isinstance(value, str) and value:
        return {value: {}}
    if isinstance(value, dict) and len(value) == 1:
        ((name, args),) = value.items()
        if args is None:
            args = {}
        if not isinstance(name, str):
            raise ValueError(f"expected {CALL_EXAMPLE}")
        if not isinstance(args, dict):
            raise ValueError(
                f"the arguments of {name} must be a mapping such as {{units: 10}}, "
                f"got {type(args).__name__} {args!r}"
            )
        return {name: args}
    if isinstance(value, dict):
        raise ValueError(f"expected one class name, got {len(value)} keys: {', '.join(value)}")
    raise ValueError(f"expected {CALL_EXAMPLE}, got {type(value).__name__} {value!r}")


Call = Annotated[
    dict[str, dict[str, Any]],
    PlainValidator(_to_call),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string"},
                {
                    "type": "object",
                    "minProperties": 1,
                    "maxProperties": 1,
                    "additionalProperties": {"type": ["object", "null"]},
                },
            ]
        }
    ),
]
"""A call: `{ClassName: {arg: value}}` (a bare `ClassName` is read as `{ClassName: {}}`)."""


def call_parts(call: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """Split a normalised call into its class name and its arguments."""
    ((name, args),) = call.items()
    return name, args


class Strict(BaseModel):
    """Base of every spec section: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InputSpec(Strict):
    """A model input, as `keras.Input(shape, dtype, name)`."""

    shape: list[PositiveInt | None] = Field(
        description="Shape without the batch dimension.", examples=[[4], [8, 8, 1]]
    )
    dtype: str = Field("float32", description="Input dtype. Defaults to `float32`.")
    name: str | None = Field(None, description="Input name. Defaults to the key in `inputs`.")


class SequentialSpec(Strict):
    """A `keras.Sequential` model: an input and a list of layers."""

    input: InputSpec
    layers: list[Call] = Field(min_length=1)
    name: str | None = None


Source = str | list[str] | dict[str, str]


class FunctionalNode(BaseModel):
    """A node of a Functional model: one layer call, written `{Class: {args}, from: ...}`.

    `from` names the node(s) or input(s) it is called on: one name, a list
    (passed as a list, for merges such as Concatenate), or a mapping of call
    arguments (e.g. `{query: q, value: v}`). `reuse: other` calls the layer of
    node `other` again, sharing its weights, instead of creating a layer.
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    from_: Source = Field(alias="from")
    reuse: str | None = None

    @model_validator(mode="after")
    def _one_layer(self) -> FunctionalNode:
        extra = dict(self.model_extra or {})
        if self.reuse is not None and extra:
            raise ValueError(
                f"a node with 'reuse' takes no layer of its own, got {', '.join(extra)}"
            )
        if self.reuse is None and len(extra) != 1:
            got = ", ".join(extra) if extra else "none"
            raise ValueError(
                "expected exactly one layer such as Dense: {units: 8} (or reuse: NODE), "
                f"got {got}"
            )
        for name, args in extra.items():
            if args is not None and not isinstance(args, dict):
                raise ValueError(f"the arguments of {name} must be a mapping, got {args!r}")
        return self

    @property
    def layer(self) -> tuple[str, dict[str, Any]] | None:
        """The (class name, arguments) of this node's layer, or `None` for `reuse`."""
        if self.reuse is not None:
            return None
        ((name, args),) = (self.model_extra or {}).items()
        return name, dict(args or {})

    @property
    def sources(self) -> list[str]:
        """Every node or input name this node reads from."""
        if isinstance(self.from_, str):
            return [self.from_]
        if isinstance(self.from_, dict):
            return list(self.from_.values())
        return list(self.from_)


class FunctionalSpec(Strict):
    """A Functional model: named inputs, named layer nodes wired by name, outputs."""

    inputs: dict[str, InputSpec] = Field(min_length=1)
    layers: dict[str, FunctionalNode] = Field(min_length=1)
    outputs: str | list[str]
    name: str | None = None

    @property
    def output_names(self) -> list[str]:
        return [self.outputs] if isinstance(self.outputs, str) else list(self.outputs)


class SubclassSpec(Strict):
    """A `keras.Model` subclass from a plugin: `plugins/net.py:MyModel` or `pkg.mod:MyModel`."""

    class_: str = Field(
        alias="class",
        pattern=r"^[^:]+:[A-Za-z_][A-Za-z0-9_]*$",
        description="`path/to/file.py:ClassName` (relative to the spec) or `module:ClassName`.",
    )
    args: dict[str, Any] = Field(default_factory=dict)
    input: InputSpec | None = None
    inputs: dict[str, InputSpec] | None = None

    @model_validator(mode="after")
    def _one_input_kind(self) -> SubclassSpec:
        if (self.input is None) == (self.inputs is None):
            raise ValueError("give exactly one of 'input' (one input) or 'inputs' (named inputs)")
        return self


class ModelSpec(Strict):
    """The model: exactly one of `sequential`, `functional`, `subclass`."""

    sequential: SequentialSpec | None = None
    functional: FunctionalSpec | None = None
    subclass: SubclassSpec | None = None

    @model_validator(mode="before")
    @classmethod
    def _exactly_one(cls, value: Any) -> Any:
        if isinstance(value, dict):
            kinds = [k for k in ("sequential", "functional", "subclass") if k in value]
            if len(kinds) > 1:
                raise ValueError(
                    f"give exactly one of sequential, functional, subclass; got {' and '.join(kinds)}"
                )
            if not kinds and not (set(value) - {"sequential", "functional", "subclass"}):
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

    optimizer: Call = Field(
        default_factory=lambda: {"rmsprop": {}},
        description="Optimizer name or {Class: args}; `learning_rate` may be a schedule.",
    )
    loss: str | dict[str, Any] | None = Field(
        None,
        description="Loss name, {Class: args}, or a mapping of output name to loss.",
    )
    metrics: list[Call] | dict[str, Call | list[Call]] = Field(default_factory=list)
    loss_weights: list[float] | dict[str, float] | None = None
    jit_compile: bool | Literal["auto"] = "auto"
    run_eagerly: bool = False
    steps_per_execution: PositiveInt = 1


class FitSpec(Strict):
    """Arguments of `model.fit`."""

    epochs: PositiveInt = 10
    batch_size: PositiveInt = 32
    class_weight: dict[str | int, float] | Literal["balanced"] | None = None
    steps_per_epoch: PositiveInt | None = None
    validation_steps: PositiveInt | None = None
    validation_freq: PositiveInt = 1
    initial_epoch: int = Field(0, ge=0)


class SplitSpec(Strict):
    """Seeded split of one data file into train / validation / test by fractions."""

    validation: float = Field(0.0, ge=0.0, lt=1.0)
    test: float = Field(0.0, ge=0.0, lt=1.0)
    stratify: bool = False

    @model_validator(mode="after")
    def _leaves_training_data(self) -> SplitSpec:
        if self.validation + self.test >= 1.0:
            raise ValueError(
                "validation + test must leave data to train on (sum < 1), "
                f"got {self.validation} + {self.test}"
            )
        return self


Columns = str | list[str]


class DataSpec(Strict):
    """Where the data comes from and how it feeds the model (built on tf.data).

    Either `path` (one file, split by `split`) or `train` (with optional
    `validation` and `test` files). For CSV, `features`/`target` are column
    names; for NPZ, they are array keys. Multi-input/output models map each
    input and output name with `inputs:` and `outputs:`.
    """

    path: str | None = None
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    format: Literal["csv", "tsv", "npz", "npy"] | None = None
    features: Columns | None = None
    target: Columns | None = None
    inputs: dict[str, Columns] | None = None
    outputs: dict[str, Columns] | None = None
    split: SplitSpec | None = None
    shuffle: bool | PositiveInt = Field(
        True, description="Shuffle the training data; an int sets the buffer size."
    )
    cache: bool = True
    prefetch: Literal["autotune"] | PositiveInt | Literal[False] = "autotune"

    @model_validator(mode="after")
    def _one_source(self) -> DataSpec:
        if (self.path is None) == (self.train is None):
            raise ValueError("give exactly one of 'path' (split by fractions) or 'train'")
        if self.path is not None and (self.validation or self.test):
            raise ValueError("with 'path', use 'split' for validation/test, not file names")
        if self.train is not None and self.split is not None:
            raise ValueError("'split' applies to 'path'; with 'train' give validation/test files")
        if self.features is not None and self.inputs is not None:
            raise ValueError("give 'features' (one input) or 'inputs' (named inputs), not both")
        if self.target is not None and self.outputs is not None:
            raise ValueError("give 'target' (one output) or 'outputs' (named outputs), not both")
        return self


class Spec(Strict):
    """A whole kerascli spec."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", examples=["iris-mlp"])
    extends: str | list[str] | None = Field(
        None, description="Base spec file(s) this one deep-merges over (relative paths)."
    )
    seed: int | None = Field(42, description="Seeds Python, NumPy and Keras. Defaults to 42.")
    plugins: list[str] = Field(
        default_factory=list,
        description="Python files (relative to the spec) or modules with custom objects.",
    )
    model: ModelSpec
    compile: CompileSpec = Field(default_factory=CompileSpec)
    fit: FitSpec = Field(default_factory=FitSpec)
    callbacks: list[Call] = Field(default_factory=list)
    data: DataSpec | None = None

    _document: Any = PrivateAttr(default=None)

    @field_validator("plugins")
    @classmethod
    def _no_empty(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.strip():
                raise ValueError("plugin entries must not be empty")
        return value

    @property
    def document(self) -> Any:
        """The `Document` the spec was read from (positions for error messages)."""
        return self._document
