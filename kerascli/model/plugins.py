"""Plugins: user Python files or modules whose layers, losses, metrics, callbacks... resolve by name.

Plugin code runs only when a spec names it (in `plugins:` or `model.subclass.class`).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from kerascli.spec.facts import is_file_ref
from kerascli.spec.problems import Problem, SpecError


def import_plugin(ref: str) -> ModuleType:
    """Import a plugin given as a `.py` file path or a dotted module name."""
    if is_file_ref(ref):
        path = Path(ref).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"plugin file not found: {ref}")
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
        name = f"kerascli_plugin_{path.stem}_{digest}"
        if name in sys.modules:
            return sys.modules[name]
        module_spec = importlib.util.spec_from_file_location(name, path)
        assert module_spec is not None and module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        sys.path.insert(0, str(path.parent))
        try:  # from the source itself, never a cached .pyc: the code run is the code hashed
            exec(compile(path.read_bytes(), str(path), "exec"), module.__dict__)
        except BaseException:
            del sys.modules[name]
            raise
        finally:
            sys.path.remove(str(path.parent))
        return module
    return importlib.import_module(ref)


def load_object(ref: str, where: Problem | None = None) -> Any:
    """Load `path/to/file.py:Name` or `pkg.mod:Name`; failures are located `SpecError`s."""
    module_ref, _, name = ref.rpartition(":")
    module = _import_located(module_ref, where)
    if not hasattr(module, name):
        found = [
            n
            for n, o in vars(module).items()
            if inspect.isclass(o) and not n.startswith("_") and o.__module__ == module.__name__
        ]  # classes the file defines, not those it imports
        message = f"no class '{name}' in {module_ref}"
        if found:
            message += f" (it defines: {', '.join(sorted(found))})"
        raise SpecError([_relocate(where, message)])
    return getattr(module, name)


def _relocate(where: Problem | None, message: str) -> Problem:
    if where is None:
        return Problem(message)
    return Problem(message, where.path, where.file, where.line, where.column)


def _import_located(ref: str, where: Problem | None) -> ModuleType:
    try:
        return import_plugin(ref)
    except FileNotFoundError as exc:
        raise SpecError([_relocate(where, str(exc))]) from None
    except ModuleNotFoundError as exc:
        raise SpecError([_relocate(where, f"cannot import plugin '{ref}': {exc}")]) from None
    except Exception as exc:  # the plugin's own code failed
        raise SpecError(
            [_relocate(where, f"plugin '{ref}' failed to import: {type(exc).__name__}: {exc}")]
        ) from exc


def load_plugins(refs: list[str], where: list[Problem | None]) -> dict[str, Any]:
    """Import every plugin and return its public classes and functions by name."""
    objects: dict[str, Any] = {}
    for ref, at in zip(refs, where, strict=True):
        module = _import_located(ref, at)
        for name, obj in vars(module).items():
            if name.startswith("_") or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if getattr(obj, "__module__", None) != module.__name__:
                continue
            objects[name] = obj
    return objects
