"""Turn a validated spec into a `keras.Model` (Sequential, Functional or Subclass)."""

from __future__ import annotations

import inspect
from typing import Any

from kerascli.model.applications import build_application
from kerascli.model.functional import as_fed, build_functional
from kerascli.model.keras_env import import_keras
from kerascli.model.plugins import load_object, load_plugins
from kerascli.model.precision import dtype_policy, output_args, output_problems, policy_name
from kerascli.model.registry import Registry, UnknownName
from kerascli.spec.facts import (
    inputs_by_array_key,
    layer_family,
    nested_family,
)
from kerascli.spec.models import InputSpec, Spec, call_parts
from kerascli.spec.problems import KeyPath, Problem, SpecError, did_you_mean, short_message
from kerascli.spec.source import Document


def _unknown_argument(target: Any, args: dict[str, Any]) -> tuple[str, list[str]] | None:
    """The first argument `target`'s constructor does not name, and the names it does."""
    try:
        params = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return None
    known = [n for n, p in params.items() if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    for base in getattr(target, "__mro__", ())[1:]:  # what **kwargs passes up (name, dtype...)
        if base.__module__.startswith("keras"):
            try:
                base_params = inspect.signature(base.__init__).parameters
                known += [n for n in base_params if n not in known]
            except (TypeError, ValueError):
                pass
            break
    known = [n for n in known if n not in ("self", "kwargs", "args")]
    bad = [k for k in args if k not in known]
    return (bad[0], known) if bad else None


class Builder:
    """Builds Keras objects from a spec, locating every failure in the spec's YAML.

    Args:
        spec: A validated spec (from `load_spec`).
    """

    def __init__(self, spec: Spec):
        self.spec = spec
        self.doc: Document = spec.document or Document(None, "<spec>")
        where: list[Problem | None] = [
            self.doc.problem(("plugins", i), "") for i in range(len(spec.plugins))
        ]
        import_keras()  # silence TensorFlow's logs before a plugin imports keras
        self.registry = Registry(load_plugins(spec.plugins, where))
        self.keras = self.registry.keras
        self.policy = policy_name(spec)
        self.precision_problems: list[str] = []  # set by `build` (`output_problems`)
        self._sample_outputs: Any = None  # what a subclass model returned on its sample

    # -- errors ------------------------------------------------------------------------------
    def error(self, path: KeyPath, message: str, at_key: bool = False) -> SpecError:
        return SpecError([self.doc.problem(path, message, at_key=at_key)])

    # -- calls -------------------------------------------------------------------------------
    def resolve(self, family: str, name: str, path: KeyPath) -> Any:
        try:
            return self.registry.get(family, name)
        except UnknownName as exc:
            return self._raise(path, str(exc))

    def _raise(self, path: KeyPath, message: str) -> Any:
        raise self.error(path, message)

    def value(self, value: Any, path: KeyPath) -> Any:
        """An argument value; `{Class: {args}}` of a nested family becomes an instance."""
        if isinstance(value, dict) and len(value) == 1:
            ((name, args),) = value.items()
            family = nested_family(str(name), str(path[-1]) if path else "")
            if family is None and self.registry.plugin("layers", str(name)) is not None:
                family = "layers"
            if family is not None and (args is None or isinstance(args, dict)):
                return self.instantiate(family, name, args or {}, path)
        return value

    def instantiate(self, family: str, name: str, args: dict[str, Any], path: KeyPath) -> Any:
        """Resolve `name` in `family` and call it with `args` (nested calls resolved)."""
        target = self.resolve(family, name, path)
        if isinstance(target, str):
            return target
        kwargs = {k: self.value(v, (*path, name, k)) for k, v in args.items()}
        if inspect.isfunction(target):
            return target
        try:
            return target(**kwargs)
        except (TypeError, ValueError, NotImplementedError, AttributeError, KeyError) as exc:
            text = short_message(exc)
            unknown = _unknown_argument(target, args) if "keyword" in text else None
            if unknown is not None:  # a plugin class (Keras's own are checked before building)
                arg, known = unknown
                quoted = [k for k in args if f"'{k}'" in text]  # the one Keras names, if any
                arg = quoted[0] if quoted else arg
                raise self.error(
                    (*path, name, arg),
                    f"unknown argument '{arg}' for {name}{did_you_mean(arg, known)}",
                    at_key=True,
                ) from exc
            # "Received: units=0" names the argument: point at its value.
            bad = [k for k in args if f"{k}=" in text or f"`{k}`" in text]
            where = (*path, name, bad[0]) if bad else (*path, name)
            message = text if name in text else f"{name}: {text}"  # the class named once
            raise self.error(where, message, at_key=not bad) from exc

    def call(self, family: str, call: dict[str, dict[str, Any]], path: KeyPath) -> Any:
        name, args = call_parts(call)
        return self.instantiate(family, name, args, path)

    # -- models ------------------------------------------------------------------------------
    def input(self, spec: InputSpec, name: str | None, path: KeyPath) -> Any:
        try:
            return self.keras.Input(
                shape=tuple(spec.shape), dtype=spec.dtype, name=spec.name or name
            )
        except (TypeError, ValueError) as exc:
            raise self.error(path, f"bad input: {short_message(exc)}") from exc

    def build(self) -> Any:
        """The spec's model, built under its dtype policy (`distribute.mixed_precision`);
        `precision_problems` then names its outputs that a mixed policy leaves below float32."""
        kind = self.spec.model.kind
        with dtype_policy(self.policy):
            model = getattr(self, f"_build_{kind}")()
            self.load_weights(model)
        self.precision_problems = output_problems(model, self._sample_outputs)
        return model

    def model_name(self, name: str | None) -> str:
        return (name or self.spec.name).replace("-", "_").replace(".", "_")

    def _build_sequential(self) -> Any:
        seq = self.spec.model.sequential
        assert seq is not None
        base: KeyPath = ("model", "sequential")
        model = self.keras.Sequential(name=self.model_name(seq.name))
        model.add(self.input(seq.input, None, (*base, "input")))
        for i, call in enumerate(seq.layers):
            path = (*base, "layers", i)
            name, args = call_parts(call)
            if layer_family(name) == "applications":
                shape = tuple(seq.input.shape) if i == 0 else model.output_shape[1:]
                layer = build_application(self, name, args, shape, path)
            else:
                last = i == len(seq.layers) - 1
                layer = self.instantiate(
                    "layers", name, output_args(args, self.policy) if last else args, path
                )
            previous = f"{call_parts(seq.layers[i - 1])[0]} (layers[{i - 1}])" if i else "the input"
            try:
                model.add(layer)
            except Exception as exc:
                raise self.error(
                    (*path, name),
                    f"cannot add {name} after {previous}: {short_message(exc)}",
                    at_key=True,
                ) from exc
        return model

    def _build_functional(self) -> Any:
        return build_functional(self)

    def load_weights(self, model: Any) -> None:
        """Load `model.weights` (a weights file) into the built model."""
        file = self.spec.model.weights
        if file is None:
            return
        try:
            model.load_weights(file)
        except Exception as exc:
            raise self.error(
                ("model", "weights"), f"cannot load the weights {file}: {short_message(exc)}"
            ) from exc

    def _build_subclass(self) -> Any:
        sub = self.spec.model.subclass
        assert sub is not None
        import numpy as np

        base: KeyPath = ("model", "subclass")
        cls = load_object(sub.class_, self.doc.problem((*base, "class"), ""))
        if not (inspect.isclass(cls) and issubclass(cls, self.keras.Model)):
            raise self.error((*base, "class"), f"{sub.class_} is not a keras.Model subclass")
        args = {k: self.value(v, (*base, "args", k)) for k, v in sub.args.items()}
        try:
            model: Any = cls(**args)
        except Exception as exc:
            raise self.error((*base, "args"), f"{cls.__name__}(...): {short_message(exc)}") from exc

        def zeros(spec: InputSpec) -> Any:
            shape = (1, *[d or 1 for d in spec.shape])
            if spec.dtype == "string":  # numpy has no "string" dtype: empty texts
                return np.full(shape, "", dtype=object)
            return np.zeros(shape, dtype=spec.dtype)

        by_key = inputs_by_array_key(self.spec)
        sample = as_fed({key: zeros(spec) for key, spec in by_key.items()}, list(by_key))
        try:
            self._sample_outputs = model(sample)
        except Exception as exc:
            raise self.error(
                (*base, "input" if sub.input is not None else "inputs"),
                f"cannot call {cls.__name__} on its input: {short_message(exc)}",
            ) from exc
        return model


def build_model(spec: Spec) -> Any:
    """Build the `keras.Model` a spec describes.

    Raises:
        SpecError: located at the layer, argument or plugin that failed.
    """
    return Builder(spec).build()
