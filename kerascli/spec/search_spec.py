"""A spec with search spaces, read and validated like the rest: with each alternative of each
space substituted (every choice, a range's two ends), so a bad option is the usual located
error at the option's line.

`load_search_spec` is what `kerascli validate` and `kerascli tune` read a spec with; `resolve`
gives the plain spec of one point of the search (a trial). Pure Python.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerascli.spec.layering import apply_overrides, read_layered
from kerascli.spec.loader import spec_from_document
from kerascli.spec.models import Spec
from kerascli.spec.problems import KeyPath, Problem, SpecError
from kerascli.spec.search_space import Space, find_spaces, substitute
from kerascli.spec.source import Document, Mark


@dataclass(frozen=True)
class SearchSpec:
    """A spec and its search spaces.

    Args:
        document: The spec as written (`extends` and `--set` applied), spaces included.
        spaces: Its search spaces, in the order written; none for a plain spec.
        default: The plain spec with each space at its default (first choice, low end).
        variants: The plain spec at each other alternative of each space (the others at
            their defaults), as validated: `(space, value, spec)`. Defaults to none.
    """

    document: Document
    spaces: tuple[Space, ...]
    default: Spec
    variants: tuple[tuple[Space, Any, Spec], ...] = ()

    def specs(self) -> list[Spec]:
        """Every plain spec validated: the default, then each variant (`validate --deep`
        builds each)."""
        return [self.default, *(spec for _, _, spec in self.variants)]

    def resolve(self, chosen: Mapping[str, Any], fixed: Mapping[KeyPath, Any] = {}) -> Spec:
        """The plain spec with each space at `chosen[space.name]` (its default where not
        given), and each key path of `fixed` at its value (Hyperband's `fit.epochs`).

        Raises:
            SpecError: the spec is invalid at these values.
        """
        values = {s.path: chosen.get(s.name, s.default) for s in self.spaces}
        marks = {s.path: self.document.mark(s.path) for s in self.spaces}
        for space in self.spaces:
            for value, where in space.alternatives():
                if space.kind == "choice" and _equal(value, values[space.path]):
                    marks[space.path] = self.document.mark(where)
        fixed_marks = {path: Mark("tune", None, None) for path in fixed}
        doc = substitute(self.document, {**values, **fixed}, {**marks, **fixed_marks})
        return spec_from_document(doc)

    def digest(self) -> str:
        """A SHA-256 of the spec as written (spaces included): whether a search is still the
        same one."""
        text = json.dumps(_canonical(self.document.data), sort_keys=True, default=str)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _equal(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _canonical(data: Any) -> Any:
    """`data` with every mapping key as text (JSON sorts keys of one type only)."""
    if isinstance(data, dict):
        return {str(k): _canonical(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_canonical(v) for v in data]
    return data


def load_search_spec(
    path: str | Path,
    overrides: Sequence[str] = (),
    env: dict[str, str] | None = None,
    check: bool = True,
) -> SearchSpec:
    """Read a spec that may have search spaces, and validate it with every alternative of
    each space (the other spaces at their defaults). `--set` over a space fixes it.

    Args:
        path: The YAML spec.
        overrides: `key.path=value` strings, applied after `extends`. Defaults to none.
        env: Variables for `${VAR}` interpolation. Defaults to the process environment.
        check: Also check Keras names, the model graph and files. Defaults to `True`.

    Raises:
        SpecError: every problem found, each located at file:line:column (a problem that
            only one option has at the option's line).
    """
    doc = read_layered(path, env)
    if overrides:
        doc = apply_overrides(doc, list(overrides))
    if not isinstance(doc.data, dict):
        return SearchSpec(doc, (), spec_from_document(doc, check=check))
    spaces = find_spaces(doc)
    defaults = {s.path: s.default for s in spaces}
    marks = {s.path: doc.mark(s.alternatives()[0][1]) for s in spaces}
    default, problems = _attempt(substitute(doc, defaults, marks), check)
    seen = {str(p) for p in problems}
    variants: list[tuple[Space, Any, Spec]] = []
    for space in spaces:
        for value, where in space.alternatives()[1:]:
            mark = doc.mark(where)
            doc_at = substitute(doc, {**defaults, space.path: value}, {**marks, space.path: mark})
            spec, found = _attempt(doc_at, check)
            variants += [(space, value, spec)] if spec is not None else []
            for problem in found:
                problem = with_option(problem, space, value)
                if str(problem) not in seen:
                    seen.add(str(problem))
                    problems.append(problem)
    if problems or default is None:
        raise SpecError(problems)
    return SearchSpec(doc, tuple(spaces), default, tuple(variants))


def _attempt(doc: Document, check: bool) -> tuple[Spec | None, list[Problem]]:
    try:
        return spec_from_document(doc, check=check), []
    except SpecError as exc:
        return None, list(exc.problems)


def with_option(problem: Problem, space: Space, value: Any) -> Problem:
    """A problem found with one option of `space` substituted: as it is where it is about the
    option itself (located at the option's line), else saying which option causes it."""
    if problem.path == space.name or problem.path.startswith((f"{space.name}.", f"{space.name}[")):
        return problem
    message = f"{problem.message} (with {space.name} = {value!r}, an option of its search space)"
    return Problem(message, problem.path, problem.file, problem.line, problem.column)
