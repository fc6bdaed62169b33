"""Layered specs: `extends:` base files deep-merged under a spec, and `--set` overrides."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from kerascli.spec.fields import expects_text
from kerascli.spec.problems import KeyPath, Problem, SpecError, format_path
from kerascli.spec.source import Document, Mark, load_value, read_yaml, yaml_problem


def _drop_marks(doc: Document, prefix: KeyPath) -> None:
    n = len(prefix)
    for marks in (doc.keys, doc.values):
        for path in [p for p in marks if p[:n] == prefix and len(p) > n]:
            del marks[path]


def _switches_class(old: Any, new: Any) -> bool:
    """Whether `new` names another Keras class than `old`, as `{SGD: {..}}` over `{Adam: {..}}`.

    A call (one class name with its arguments) is replaced as a whole by a call of another
    class: merging their arguments would give a mapping of two classes.
    """

    def is_call(value: Any) -> bool:
        return isinstance(value, dict) and len(value) == 1 and str(next(iter(value)))[:1].isupper()

    return is_call(old) and is_call(new) and old.keys() != new.keys()


def merge(base: Document, child: Document) -> Document:
    """Deep-merge `child` over `base`: mappings merge key by key, anything else is replaced.

    A call of another class (`optimizer: {SGD: {..}}` over `{Adam: {..}}`) replaces the base's.
    """
    out = Document(copy.deepcopy(base.data), child.file, dict(base.keys), dict(base.values))

    def walk(target: Any, source: Any, path: KeyPath) -> Any:
        if isinstance(target, dict) and isinstance(source, dict):
            for key, value in source.items():
                child_path = (*path, key)
                if child_path in child.keys:
                    out.keys[child_path] = child.keys[child_path]
                if (
                    key in target
                    and isinstance(target[key], dict)
                    and isinstance(value, dict)
                    and not _switches_class(target[key], value)
                ):
                    walk(target[key], value, child_path)
                    out.values[child_path] = child.values[child_path]
                else:
                    _drop_marks(out, child_path)
                    target[key] = copy.deepcopy(value)
                    for marks, src in ((out.keys, child.keys), (out.values, child.values)):
                        for p, m in src.items():
                            if p[: len(child_path)] == child_path:
                                marks[p] = m
            return target
        return copy.deepcopy(source)

    if isinstance(out.data, dict) and isinstance(child.data, dict):
        walk(out.data, child.data, ())
        out.values[()] = child.values.get((), Mark(child.file, 1, 1))
        return out
    return child


# Files read for one spec, itself and its bases (a base read twice counts twice).
MAX_SPEC_FILES = 64


def read_layered(path: str | Path, env: dict[str, str] | None = None) -> Document:
    """Read a spec and every file it `extends`, merged base-first.

    At most `MAX_SPEC_FILES` files are read, so that bases extending the same files over and
    over (`extends: [b, b, b]` in each) cannot multiply into millions of reads.
    """
    return _read(Path(path), env, [], [0])


def _read(path: Path, env: dict[str, str] | None, chain: list[Path], reads: list[int]) -> Document:
    reads[0] += 1
    doc = read_yaml(path, env)
    resolved = path.resolve()
    if not isinstance(doc.data, dict) or "extends" not in doc.data:
        return doc
    bases = doc.data["extends"]
    bases_list = [bases] if isinstance(bases, str) else bases
    if not isinstance(bases_list, list) or not all(isinstance(b, str) for b in bases_list):
        raise SpecError([doc.problem(("extends",), "expected a file name or a list of file names")])
    merged: Document | None = None
    for i, base in enumerate(bases_list):
        where = ("extends",) if isinstance(bases, str) else ("extends", i)
        base_path = (path.parent / base).resolve()
        if base_path in chain or base_path == resolved:
            cycle = " -> ".join(p.name for p in [*chain, resolved, base_path])
            raise SpecError([doc.problem(where, f"'extends' cycle: {cycle}")])
        if not base_path.is_file():
            raise SpecError([doc.problem(where, f"base spec not found: {base_path}")])
        if reads[0] >= MAX_SPEC_FILES:
            message = (
                f"too many base specs: reading this one would read more than {MAX_SPEC_FILES} "
                "files for one spec, counting each time a base is extended (the limit on "
                "'extends')"
            )
            raise SpecError([doc.problem(where, message)])
        base_doc = _read(base_path, env, [*chain, resolved], reads)
        if not isinstance(base_doc.data, dict):
            got = "an empty file" if base_doc.data is None else type(base_doc.data).__name__
            message = f"base spec {base_path} must be a mapping of sections, got {got}"
            raise SpecError([doc.problem(where, message)])
        merged = base_doc if merged is None else merge(merged, base_doc)
    result = doc if merged is None else merge(merged, doc)
    result.data.pop("extends", None)
    _drop_marks(result, ("extends",))
    return result


_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def parse_key_path(text: str) -> KeyPath:
    """Parse `model.sequential.layers[0].Dense.units` into a key path."""
    parts: list[str | int] = []
    pos = 0
    for match in _TOKEN.finditer(text):
        between = text[pos : match.start()]
        if between not in ("", ".") or (between == "" and pos and match.group(1)):
            raise ValueError(f"malformed key path '{text}'")
        parts.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        pos = match.end()
    if not parts or pos != len(text):
        raise ValueError(f"malformed key path '{text}'")
    return tuple(parts)


def _dead_end(data: Any, path: KeyPath) -> str:
    """Why `path` does not lead into `data`: where it stops, and what is there instead."""
    target = data
    for i, part in enumerate(path):
        here = format_path(path[:i]) or "the spec"
        if isinstance(target, list):
            if not isinstance(part, int):
                hint = f" (write {format_path((*path[:i], 0))})" if part.isdigit() else ""
                return f"{here} is a list: index it with [N]{hint}"
            if part > len(target):
                return f"{here} has {len(target)} items: index {part} is past its end"
            if part == len(target):
                break
        elif isinstance(target, dict):
            if isinstance(part, int):
                return f"{here} is a mapping: name a key, not an index [{part}]"
            if part not in target:
                break
        else:
            return f"{here} is a value ({target!r}), not a mapping or list"
        target = target[part]
    return "this key path does not lead into the spec's mappings and lists"


def apply_overrides(doc: Document, overrides: list[str] | tuple[str, ...]) -> Document:
    """Apply `a.b=value` overrides, typed by the schema.

    The value is read as YAML (`3` is an int, `[1, 2]` a list), except where the schema wants
    text: `--set name=2024` gives the name '2024'.
    """
    problems: list[Problem] = []
    for expr in overrides:
        source = f"--set {expr}"
        key, sep, raw = expr.partition("=")
        if not sep or not key.strip():
            problems.append(Problem("expected KEY.PATH=VALUE, e.g. fit.epochs=5", "", source))
            continue
        try:
            path = parse_key_path(key.strip())
            value = load_value(raw) if raw.strip() else ""
            if isinstance(value, (bool, int, float)) and expects_text(path):
                value = raw.strip()
        except ValueError as exc:
            problems.append(Problem(f"cannot read override: {exc}".splitlines()[0], "", source))
            continue
        except yaml.MarkedYAMLError as exc:
            message = yaml_problem(exc, source).message.removeprefix("invalid YAML: ")
            message = message.replace("the file ends", "the value ends")
            problems.append(Problem(f"cannot read the value as YAML: {message}", "", source))
            continue
        except yaml.YAMLError as exc:
            problems.append(Problem(f"cannot read the value: {exc}".splitlines()[0], "", source))
            continue
        if not isinstance(doc.data, dict):
            doc.data = {}
        target: Any = doc.data
        for i, part in enumerate(path[:-1]):
            nxt = path[i + 1]
            if isinstance(target, dict) and isinstance(part, str):
                if part not in target or target[part] is None:
                    target[part] = [] if isinstance(nxt, int) else {}
                target = target[part]
            elif isinstance(target, list) and isinstance(part, int) and part < len(target):
                target = target[part]
            else:
                target = None
                break
        last = path[-1]
        if isinstance(target, dict) and isinstance(last, str):
            target[last] = value
        elif isinstance(target, list) and isinstance(last, int) and last <= len(target):
            if last == len(target):
                target.append(value)
            else:
                target[last] = value
        else:
            problems.append(Problem(_dead_end(doc.data, path), key, source))
            continue
        _drop_marks(doc, path)
        mark = Mark(source, None, None)
        doc.keys[path] = mark
        doc.values[path] = mark
    if problems:
        raise SpecError(problems)
    return doc
