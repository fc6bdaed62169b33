"""Load a spec: YAML with positions -> `extends` and `--set` -> Pydantic -> Keras-name checks."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kerascli.spec.check_weights import application_calls
from kerascli.spec.checks import check_spec
from kerascli.spec.facts import (
    DATA_FILE_KEYS,
    is_file_ref,
    is_remote,
    is_weights_file,
    subclass_source,
    with_subclass_source,
)
from kerascli.spec.fields import field_keys, model_at
from kerascli.spec.layering import apply_overrides, read_layered
from kerascli.spec.models import CLASS_WORDS, Spec
from kerascli.spec.problems import KeyPath, Problem, SpecError, did_you_mean, format_path
from kerascli.spec.search_space import refuse_spaces
from kerascli.spec.source import Document, Mark


def load_spec(
    path: str | Path,
    overrides: Sequence[str] = (),
    env: dict[str, str] | None = None,
    check: bool = True,
    training: bool = True,
) -> Spec:
    """Read, merge, override and validate a spec file.

    Args:
        path: The YAML spec.
        overrides: `key.path=value` strings, applied after `extends`. Defaults to none.
        env: Variables for `${VAR}` interpolation. Defaults to the process environment.
        check: Also check Keras names, the model graph and files. Defaults to `True`.
        training: Whether the spec is for training: when false (a run's spec, loaded to predict or
            evaluate), its data files need not exist and training-only checks are skipped.
            Defaults to `True`.

    Raises:
        SpecError: with every problem found, each located at file:line:column.
    """
    doc = read_layered(path, env)
    if overrides:
        doc = apply_overrides(doc, list(overrides))
    return spec_from_document(doc, check=check, training=training)


def load_spec_dict(data: dict[str, Any], base_dir: str | Path = ".", check: bool = True) -> Spec:
    """Validate a spec given as a dict (paths relative to `base_dir`)."""
    doc = Document(data, str(Path(base_dir) / "<spec>"))
    return spec_from_document(doc, check=check)


def spec_from_document(doc: Document, check: bool = True, training: bool = True) -> Spec:
    """Validate a parsed document into a `Spec`. A document with search spaces is refused
    (`kerascli.spec.search_spec.load_search_spec` reads one)."""
    if not isinstance(doc.data, dict):
        got = "an empty file" if doc.data is None else type(doc.data).__name__
        raise SpecError([doc.problem((), f"a spec must be a mapping of sections, got {got}")])
    refuse_spaces(doc)
    try:
        spec = Spec.model_validate(doc.data)
    except ValidationError as exc:
        raise SpecError(schema_problems(exc, doc)) from None
    spec._document = doc
    _resolve_paths(spec, doc)
    if check:
        problems = check_spec(spec, doc, training)
        if problems:
            raise SpecError(problems)
    return spec


def _base_dir(doc: Document, path: KeyPath) -> Path:
    mark = doc.mark(path)
    if mark.file.startswith("--set"):
        return Path.cwd()
    return Path(mark.file).resolve().parent


def _absolute(doc: Document, path: KeyPath, value: str) -> str:
    if Path(value).is_absolute() or is_remote(value):
        return value
    return str((_base_dir(doc, path) / value).resolve())


def _resolve_paths(spec: Spec, doc: Document) -> None:
    """Make file paths absolute, each relative to the file that wrote it."""
    spec.plugins = [
        _absolute(doc, ("plugins", i), p) if is_file_ref(p) else p
        for i, p in enumerate(spec.plugins)
    ]
    sub = spec.model.subclass
    if sub is not None:
        ref = subclass_source(sub.class_)
        if is_file_ref(ref):
            absolute = _absolute(doc, ("model", "subclass", "class"), ref)
            sub.class_ = with_subclass_source(sub.class_, absolute)
    if spec.model.weights is not None:
        spec.model.weights = _absolute(doc, ("model", "weights"), spec.model.weights)
    for path, name, args in application_calls(spec):
        weights = args.get("weights")
        if isinstance(weights, str) and is_weights_file(weights):
            args["weights"] = _absolute(doc, (*path, name, "weights"), weights)
    if spec.data is not None:
        for key in DATA_FILE_KEYS:
            value = getattr(spec.data, key)
            if value is not None:
                setattr(spec.data, key, _absolute(doc, ("data", key), value))


# --- Pydantic errors -> located problems -------------------------------------------------


def _normalise(loc: tuple[Any, ...], data: Any, kind: str) -> KeyPath:
    """Keep the segments of `loc` that exist in the data (drop Pydantic's union tags)."""
    path: list[str | int] = []
    current = data
    for i, seg in enumerate(loc):
        last = i == len(loc) - 1
        if isinstance(current, dict) and isinstance(seg, str) and seg in current:
            path.append(seg)
            current = current[seg]
        elif isinstance(current, list) and isinstance(seg, int) and 0 <= seg < len(current):
            path.append(seg)
            current = current[seg]
        elif last and kind == "missing" and isinstance(current, dict):
            path.append(seg)
    return tuple(path)


# What a `pattern` of the spec models asks for, in words.
PATTERN_WORDS = {
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*$": (
        "expected a name of letters, digits, '_', '.' and '-', starting with a letter or digit"
    ),
    r"^[^:]+:[A-Za-z_][A-Za-z0-9_]*$": CLASS_WORDS,
}

MODEL_KINDS = ("sequential", "functional", "subclass")


def _message(error: dict[str, Any]) -> str:
    msg = error["msg"]
    kind = error["type"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    elif kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        msg = PATTERN_WORDS.get(pattern, f"expected text matching {pattern}")
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        msg = "expected a mapping of keys to values"
    elif kind == "list_type":
        msg = "expected a list"
    return msg


def _received(value: Any) -> str:
    return "null" if value is None else repr(value)


def _refine(path: KeyPath, message: str, data: Any) -> tuple[KeyPath, bool]:
    """Point a whole-mapping error at the key or value it is about (a misspelt key at the key)."""
    value = _get(data, path)
    if not isinstance(value, dict):
        return path, False
    if path == ("model",) and message.startswith("give exactly one of"):
        kinds = [k for k in MODEL_KINDS if k in value]
        if len(kinds) > 1:
            return (*path, kinds[1]), True
    named = re.match(r"the arguments of (\S+) must be", message)
    if named and named.group(1) in value:
        return (*path, named.group(1)), False
    if message.startswith(("expected one class name", "expected exactly one layer")):
        # `{Dense: {...}, activation: relu}`: point at the key that should not be there.
        names = [k for k in value if k not in ("from", "reuse")]
        if len(names) > 1:
            return (*path, names[1]), True
    if message.startswith("a node with 'reuse' takes no layer"):
        names = [k for k in value if k not in ("from", "reuse")]
        if names:
            return (*path, names[0]), True
    return path, False


def _get(data: Any, path: KeyPath) -> Any:
    for seg in path:
        try:
            data = data[seg]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def schema_problems(exc: ValidationError, doc: Document) -> list[Problem]:
    """Turn Pydantic's errors into located problems, one per key path."""
    grouped: dict[KeyPath, list[Any]] = {}  # pydantic's ErrorDetails
    for error in exc.errors(include_url=False):
        path = _normalise(error["loc"], doc.data, error["type"])
        grouped.setdefault(path, []).append(error)
    problems: list[Problem] = []
    for path, errors in grouped.items():
        kinds = {e["type"] for e in errors}
        if "extra_forbidden" in kinds:
            key = str(path[-1])
            model = model_at(path[:-1])
            allowed = field_keys(model) if model else []
            hint = did_you_mean(key, allowed)
            expected = f"; expected one of: {', '.join(allowed)}" if allowed and not hint else ""
            problems.append(doc.problem(path, f"unknown key '{key}'{hint}{expected}", at_key=True))
            continue
        if "missing" in kinds:
            key = str(path[-1])
            problems.append(doc.problem(path[:-1], f"missing required key '{key}'", at_key=True))
            continue
        messages = list(dict.fromkeys(_message(e) for e in errors))
        received = errors[0].get("input")
        text = " or ".join(messages)
        if not isinstance(received, (dict, list)) and "got" not in text:
            text += f" (got {_received(received)})"
        where, at_key = _refine(path, text, doc.data)
        problems.append(doc.problem(where, text, at_key=at_key))
    return sorted(problems, key=lambda p: (p.file or "", p.line or 0, p.column or 0))


__all__ = ["Mark", "format_path", "load_spec", "load_spec_dict", "spec_from_document"]
