"""The package's shape, read from its source (AST only; nothing here imports TensorFlow).

Imports flow one way, `cli -> run -> model, data -> spec`, with no cycles between modules;
no module is over 300 lines unless its docstring says why (a sentence starting "Long
because"); no function in `run/` or `cli/` is over 50 lines.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kerascli"

# room -> the rooms its modules may import (a room may always import itself)
ALLOWED: dict[str, set[str]] = {
    "main": {"cli"},  # kerascli/__main__.py
    "cli": {"api", "run", "model", "data", "spec", "templates"},
    "api": {"run", "model", "data", "spec"},  # kerascli/__init__.py and kerascli/api.py
    "run": {"model", "data", "spec"},
    "model": {"spec"},
    "data": {"spec"},
    "templates": {"spec"},
    "spec": set(),
}
# third-party packages the spec layer never imports (it answers `validate` without them)
SPEC_NEVER = {"tensorflow", "keras", "numpy", "pandas", "pyarrow", "h5py"}
# ... but for these, inside the one function that needs them: a Parquet file's schema
SPEC_WHEN_ASKED = {"pyarrow": "kerascli.spec.datafile"}
MAX_MODULE_LINES = 300
LONG_MODULE_MARKER = "Long because"
MAX_FUNCTION_LINES = 50
SHORT_FUNCTION_ROOMS = {"run", "cli"}


@dataclass(frozen=True)
class Import:
    """One import statement of a kerascli module: what it imports and where it stands."""

    source: str  # the importing module, e.g. "kerascli.run.trainer"
    target: str  # a kerascli module, or a third-party top-level package
    line: int
    deferred: bool  # inside a function (run when called, not when imported)

    @property
    def where(self) -> str:
        return f"{module_file(self.source)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def module_file(name: str) -> str:
    return str(MODULES[name].relative_to(PACKAGE.parent))


def room(name: str) -> str:
    """The room a module lives in: its subpackage, or api/main for the top-level modules."""
    parts = name.split(".")
    if len(parts) == 1 or parts[1] == "api":
        return "api"
    if parts[1] == "__main__":
        return "main"
    return parts[1]


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _statements(tree: ast.AST) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every runtime import statement, with whether it sits inside a function.

    Imports under `if TYPE_CHECKING:` never run and are left out.
    """

    def walk(node: ast.AST, deferred: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for orelse in child.orelse:
                    yield from walk(orelse, deferred)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child, deferred
            inner = deferred or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            yield from walk(child, inner)

    yield from walk(tree, False)


def _resolve(source: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The kerascli modules (or third-party top-level packages) one statement imports."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
        return [_known(n) if n.split(".")[0] == "kerascli" else n.split(".")[0] for n in names]
    base = node.module or ""
    if node.level:  # relative: from the importing module's package
        package = source.split(".")
        if MODULES[source].name != "__init__.py":
            package = package[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    if base.split(".")[0] != "kerascli":
        return [base.split(".")[0]]
    # `from kerascli import api` imports the module kerascli.api; `from kerascli.spec import
    # load_spec` imports the package kerascli.spec (its __init__)
    return [
        f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else _known(base)
        for alias in node.names
    ]


def _known(name: str) -> str:
    """The nearest module that exists for a dotted kerascli name."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports() -> list[Import]:
    found = []
    for source, path in MODULES.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, deferred in _statements(tree):
            for target in dict.fromkeys(_resolve(source, node)):
                found.append(Import(source, target, node.lineno, deferred))
    return found


IMPORTS = _imports()
INTERNAL = [i for i in IMPORTS if i.target in MODULES and i.target != i.source]


def test_the_package_is_read() -> None:
    assert {"kerascli.cli.app", "kerascli.run.trainer", "kerascli.spec.models"} <= set(MODULES)
    assert any(i.target == "kerascli.spec.problems" for i in INTERNAL)
    assert any(i.deferred for i in INTERNAL)  # imports inside functions are seen too


def test_imports_flow_one_way() -> None:
    """cli -> run -> model, data -> spec; templates -> spec; the public API (kerascli,
    kerascli.api) -> run, model, data, spec. Imports inside functions count too."""
    wrong = [
        f"{i.where}: {i.source} ({room(i.source)}) imports {i.target} ({room(i.target)})"
        for i in INTERNAL
        if room(i.target) != room(i.source) and room(i.target) not in ALLOWED[room(i.source)]
    ]
    assert not wrong, "imports against the package direction:\n" + "\n".join(wrong)


def test_the_spec_layer_imports_no_heavy_package() -> None:
    wrong = [
        f"{i.where}: {i.source} imports {i.target}"
        for i in IMPORTS
        if room(i.source) == "spec"
        and i.target in SPEC_NEVER
        and not (i.deferred and SPEC_WHEN_ASKED.get(i.target) == i.source)
    ]
    assert not wrong, "the spec layer must not import:\n" + "\n".join(wrong)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(edges):
        if node not in index:
            connect(node)
    return [_path_in(group, edges) for group in sorted(groups)]


def _path_in(group: list[str], edges: dict[str, set[str]]) -> list[str]:
    """A shortest cycle from the group's first module back to itself, staying in the group."""
    start, members = group[0], set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(edges.get(node, set()) & members):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle in {group}")


def test_no_import_cycles() -> None:
    """No module imports, directly or through others, a module that imports it back, whether
    the imports run on import or inside functions (a deferred import only hides a cycle)."""
    edges: dict[str, set[str]] = {}
    lines: dict[tuple[str, str], str] = {}
    for i in INTERNAL:
        edges.setdefault(i.source, set()).add(i.target)
        lines.setdefault((i.source, i.target), f"{i.where}{' (in a function)' * i.deferred}")
    found = []
    for cycle in _cycles(edges):
        steps = [f"  {a} -> {b}  [{lines[a, b]}]" for a, b in zip(cycle, cycle[1:], strict=False)]
        found.append(" -> ".join(cycle) + "\n" + "\n".join(steps))
    assert not found, "import cycles:\n" + "\n".join(found)


def test_cycles_are_found() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}}
    assert _cycles(edges) == [["a", "b", "c", "a"], ["e", "f", "e"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_long_modules_say_why() -> None:
    long = []
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if lines > MAX_MODULE_LINES and LONG_MODULE_MARKER not in docstring:
            long.append(f"{module_file(name)}: {lines} lines")
    assert not long, (
        f"modules over {MAX_MODULE_LINES} lines whose docstring gives no reason "
        f"(a sentence starting {LONG_MODULE_MARKER!r}):\n" + "\n".join(long)
    )


def test_functions_in_run_and_cli_are_short() -> None:
    long = []
    for name, path in MODULES.items():
        if room(name) not in SHORT_FUNCTION_ROOMS:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = (node.end_lineno or node.lineno) - node.lineno + 1
                if size > MAX_FUNCTION_LINES:
                    long.append(f"{module_file(name)}:{node.lineno}: {node.name} ({size} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)
