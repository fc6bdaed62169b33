"""Search spaces in a spec: `{choice: [...]}` or `{range: [low, high]}` written where a value
goes, found in the positioned `Document` by key path and checked here, substituted by a value
to make a plain spec.

```yaml
- Dense: {units: {choice: [32, 64, 128]}, activation: relu}
optimizer: {Adam: {learning_rate: {range: [1.0e-4, 1.0e-2], log: true}}}
```

A mapping is a search space when it has `choice` or `range` with a list; a key a space does
not take (`log`, `step` for a range) is refused, located (`unknown key 'extra' in a search
space`; a near miss such as `lg` with a did-you-mean). A call's arguments (`Dense: {...}`,
`ops.histogram: {range: [0, 1]}`) are never one. A space cannot be where a value cannot vary
from trial to trial (`FIXED`: `name`, `extends`, `plugins`, `distribute`).
`kerascli tune` searches the spaces; everything else that loads a spec refuses them
(`refusals`), since a spec with a space is not one spec but many. Pure Python.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kerascli.spec.problems import KeyPath, Problem, SpecError, did_you_mean, format_path
from kerascli.spec.source import Document, Mark

KINDS = ("choice", "range")
OPTIONS = {"choice": (), "range": ("log", "step")}
"""The keys each kind of space takes besides its own."""

SCALARS = (str, int, float, bool, type(None))
WORDS = (*KINDS, *OPTIONS["range"])
"""Every key of a search space."""
FIXED = {
    "name": "it names the search's directory",
    "extends": "the spec's bases are read before its spaces",
    "plugins": "plugins are imported once, into the process that runs every trial",
    "distribute": "the strategy and its devices are set up once, for the process that runs "
    "every trial",
}
"""The top-level keys that cannot vary from trial to trial, and why."""


@dataclass(frozen=True)
class Space:
    """One search space of a spec.

    Args:
        path: Where the space is written (`model.sequential.layers[1].Dense.units`).
        kind: `choice` or `range`.
        values: The choices, or a range's `(low, high)`.
        log: Whether a range is sampled on a log scale. Defaults to `False`.
        step: A range's step (values `low + k * step`). Defaults to `None` (any value).
    """

    path: KeyPath
    kind: str
    values: tuple[Any, ...]
    log: bool = False
    step: int | float | None = None

    @property
    def name(self) -> str:
        """The key path as text: the hyperparameter's name."""
        return format_path(self.path)

    @property
    def integer(self) -> bool:
        """Whether a range holds integers (both ends, and any step, written as integers)."""
        return self.kind == "range" and all(_is_int(v) for v in (*self.values, self.step or 1))

    @property
    def default(self) -> Any:
        """The value the spec has by default: the first choice, a range's low end."""
        return self.values[0]

    def alternatives(self) -> list[tuple[Any, KeyPath]]:
        """The values the spec is validated with, each with where it is written: every
        choice; a range's two ends."""
        return [(v, (*self.path, self.kind, i)) for i, v in enumerate(self.values)]

    def describe(self) -> str:
        """In words: `choice of 3 (32, 64, 128)`, `range 0.0001..0.01, log`."""
        if self.kind == "choice":
            return f"choice of {len(self.values)} ({', '.join(_text(v) for v in self.values)})"
        low, high = self.values
        extra = ", log" if self.log else f", step {self.step}" if self.step is not None else ""
        return f"{'integer ' if self.integer else ''}range {low}..{high}{extra}"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any) -> str:
    return (
        "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    )


def _is_call(key: Any) -> bool:
    """Whether a key names a Keras class or an op, whose value is its arguments."""
    return isinstance(key, str) and (key[:1].isupper() or key.startswith("ops."))


def _is_space(value: Any) -> bool:
    """Whether a mapping is written as a search space (see the module's docstring)."""
    return isinstance(value, dict) and any(isinstance(value.get(k), list) for k in KINDS)


def _walk(data: Any, path: KeyPath) -> Iterator[KeyPath]:
    """The key paths of the search spaces under `data`."""
    if isinstance(data, dict):
        if _is_space(data) and path and not _is_call(path[-1]):
            yield path
            return
        for key, value in data.items():
            yield from _walk(value, (*path, key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _walk(value, (*path, i))


def find_spaces(doc: Document) -> list[Space]:
    """The search spaces of a document, in the order written.

    Raises:
        SpecError: a space that is malformed, or where a value cannot vary (`FIXED`), each
            located in the YAML.
    """
    spaces: list[Space] = []
    problems: list[Problem] = []
    for path in _walk(doc.data, ()):
        if path[0] in FIXED:
            message = f"a search space cannot be in {path[0]}: {FIXED[path[0]]}; give one value"
            problems.append(doc.problem(path, message))
            continue
        space, found = _read_space(path, _at(doc.data, path))
        problems += [doc.problem(where, message, at_key) for where, message, at_key in found]
        if space is not None:
            spaces.append(space)
    if problems:
        raise SpecError(problems)
    return spaces


def _at(data: Any, path: KeyPath) -> Any:
    for part in path:
        data = data[part]
    return data


Found = list[tuple[KeyPath, str, bool]]


def _read_space(path: KeyPath, written: dict[str, Any]) -> tuple[Space | None, Found]:
    """One space from its mapping, or what is wrong with it."""
    kinds = [k for k in KINDS if k in written]
    if len(kinds) > 1:
        return None, [((*path, kinds[1]), "a search space is a choice or a range, not both", True)]
    kind = kinds[0]
    found: Found = []
    for key in written:
        if key != kind and key not in OPTIONS[kind]:
            if key in WORDS:  # (a range's option in a choice)
                hint = "; a choice takes no other key (log and step are for a range)"
            else:
                hint = did_you_mean(str(key), [kind, *OPTIONS[kind]]) or (
                    f" (expected {'/'.join(WORDS)})"
                )
            found.append(((*path, key), f"unknown key '{key}' in a search space{hint}", True))
    values = written[kind]
    if kind == "choice":
        found += _choice_problems(path, values)
    else:
        found += _range_problems(path, values, written.get("log", False), written.get("step"))
    if found:
        return None, found
    log, step = bool(written.get("log", False)), written.get("step")
    return Space(path, kind, tuple(values), log, step), []


def _choice_problems(path: KeyPath, values: list[Any]) -> Found:
    where = (*path, "choice")
    if not values:
        return [(where, "a choice needs at least one value. Received: []", False)]
    found: Found = []
    seen: list[Any] = []
    for i, value in enumerate(values):
        if not isinstance(value, SCALARS):
            kind = "a mapping" if isinstance(value, dict) else "a list"
            message = f"a choice's values are numbers, strings, booleans or null. Received: {kind}"
            found.append(((*where, i), message, False))
        elif any(_same(value, other) for other in seen):
            found.append(((*where, i), f"{_text(value)} is already a choice", False))
        seen.append(value)
    return found


def _same(a: Any, b: Any) -> bool:
    """Equal values of one kind (`1` and `1.0` are the same choice; `1`, `'1'` and `true` are
    not)."""
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return type(a) is type(b) and a == b
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def _range_problems(path: KeyPath, values: list[Any], log: Any, step: Any) -> Found:
    where = (*path, "range")
    if len(values) != 2 or not all(_is_number(v) for v in values):
        message = f"a range is two numbers [low, high]. Received: {values!r}"
        return [(where, message, False)]
    low, high = values
    found: Found = []
    if not low < high:
        message = f"a range's low end must be below its high end. Received: {values}"
        found.append((where, message, False))
    if not isinstance(log, bool):
        found.append(((*path, "log"), f"log is true or false. Received: {log!r}", False))
    elif log and low <= 0:
        message = f"a log range must be above zero (log: true). Received: low {low}"
        found.append(((*path, "range", 0), message, False))
    if step is not None:
        found += _step_problems(path, values, log, step)
    return found


def _step_problems(path: KeyPath, values: list[Any], log: Any, step: Any) -> Found:
    where = (*path, "step")
    if log is True:
        return [(where, "step and log: true cannot be combined: give one", True)]
    if not _is_number(step) or step <= 0:
        return [(where, f"step is a number above zero. Received: {step!r}", False)]
    low, high = values
    if _is_int(low) and _is_int(high) and not _is_int(step):
        message = f"an integer range takes an integer step. Received: {step!r}"
        return [(where, message, False)]
    if step > high - low:
        message = f"step {step} is wider than the range {low}..{high}"
        return [(where, message, False)]
    return []


def refuse_spaces(doc: Document) -> None:
    """Raise `SpecError` if `doc` has search spaces: a spec with spaces is many specs, which
    only `kerascli tune` takes (the loader's hook: nothing else ever sees a space)."""
    spaces = find_spaces(doc)
    if spaces:
        raise SpecError(refusals(spaces, doc))


def refusals(spaces: list[Space], doc: Document) -> list[Problem]:
    """Why a spec with search spaces cannot be trained (or used as one spec): one problem
    at each space."""
    return [
        doc.problem(
            s.path,
            f"a search space ({s.describe()}): `kerascli tune` searches it; `train` takes one "
            f"value: --set {s.name}=VALUE",
        )
        for s in spaces
    ]


def substitute(
    doc: Document, values: Mapping[KeyPath, Any], marks: Mapping[KeyPath, Mark] | None = None
) -> Document:
    """A copy of `doc` with the value at each key path replaced (a space by one of its
    values), located at `marks[path]` where given (an option's line), else where the value
    was written."""
    out = Document(copy.deepcopy(doc.data), doc.file, dict(doc.keys), dict(doc.values))
    for path, value in values.items():
        target = out.data
        for part in path[:-1]:
            if isinstance(target, dict) and not isinstance(target.get(part), (dict, list)):
                target[part] = {}  # (`fit.epochs` in a spec without `fit:`)
            target = target[part]
        target[path[-1]] = copy.deepcopy(value)
        n = len(path)
        for table in (out.keys, out.values):
            for inner in [p for p in table if len(p) > n and p[:n] == path]:
                del table[inner]
        mark = (marks or {}).get(path) or doc.mark(path)
        out.values[path] = mark
    return out
