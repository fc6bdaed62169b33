"""Before any trial of `kerascli tune`: the data of the spec, and of each option of a space in
`data:`, read as a trial reads it (`kerascli.data.load_data`, the reader's own rules), so what
only the data's values tell — a stratified split of a target that is not classes (`target:
{choice: [species, sepal_length]}` with `stratify: true`), text where numbers go — is refused
before any trial, located at the option, instead of failing each trial that picks it.
`kerascli validate` reads a data file's header (its column names), not its values.
"""

from __future__ import annotations

from kerascli.data import load_data
from kerascli.spec.models import Spec
from kerascli.spec.problems import Problem, SpecError
from kerascli.spec.search_spec import SearchSpec, with_option


def check_data(search: SearchSpec) -> None:
    """Read the data of the spec at its defaults, and at each option of a space in `data:`
    (each read dropped before the next).

    Raises:
        SpecError: every problem the reader finds, an option's saying which option it is.
    """
    problems = _read(search.default)
    seen = {str(p) for p in problems}
    for space, value, spec in search.variants:
        if space.path[0] != "data":
            continue  # (the same data as the default's)
        for problem in _read(spec):
            if str(problem) not in seen:
                seen.add(str(problem))
                problems.append(with_option(problem, space, value))
    if problems:
        raise SpecError(problems)


def _read(spec: Spec) -> list[Problem]:
    try:
        load_data(spec)
    except SpecError as exc:
        return list(exc.problems)
    return []
