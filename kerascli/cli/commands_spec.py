"""The commands that read specs: `validate`, `summary` and `config` (no training)."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from kerascli.cli import render
from kerascli.cli.command import command
from kerascli.cli.errors import EXIT_INVALID, EXIT_OK
from kerascli.cli.options import DebugOpt, JsonOpt, SetOpt, SpecArg, SpecsArg

DeepOpt = Annotated[bool, typer.Option("--deep", help="Also build each model with Keras.")]


@command
def validate(
    specs: SpecsArg,
    deep: DeepOpt = False,
    set_: SetOpt = None,
    json_: JsonOpt = False,
    debug: DebugOpt = False,
) -> None:
    """Check specs: YAML, schema, Keras names and arguments, graph, files. No TensorFlow unless --deep."""
    results: list[dict[str, Any]] = []
    for path in specs:
        problems, spaces = _problems(path, deep, set_ or [], debug)
        results.append(
            {"file": str(path), "ok": not problems, "errors": [p.to_dict() for p in problems]}
        )
        if spaces:  # a spec for `kerascli tune`
            results[-1]["search_spaces"] = spaces
        if json_:
            continue
        if problems:
            render.stderr.print(render.problems_text(problems), end="")
        else:
            n = len(spaces)
            note = f" ({n} search space{'s' if n != 1 else ''})" if n else ""
            render.stdout.print(f"[green]ok[/green] {path}{note}")
    failed = [r for r in results if not r["ok"]]
    if json_:
        render.print_json({"ok": not failed, "specs": results})
    elif failed:
        n = sum(len(r["errors"]) for r in failed)
        render.stderr.print(
            f"[red]{n} problem{'s' if n != 1 else ''} in {len(failed)} of {len(results)} spec(s)[/red]"
        )
    raise typer.Exit(EXIT_INVALID if failed else EXIT_OK)


def _problems(
    path: Path, deep: bool, overrides: list[str], debug: bool
) -> tuple[list[Any], list[str]]:
    """What is wrong with one spec (the traceback shown with --debug), empty when it is valid;
    and the names of its search spaces (each option validated, and built with --deep)."""
    from kerascli.spec import SpecError
    from kerascli.spec.search_spec import load_search_spec

    try:
        search = load_search_spec(path, overrides)
        if deep:  # build the model, and check the stages against it as `train` does
            _build_each(search)
    except SpecError as exc:
        if debug:
            traceback.print_exception(exc)
        return exc.problems, []
    return [], [space.name for space in search.spaces]


def _build_each(search: Any) -> None:
    """`--deep`: build the model of the spec, or of each option of its search spaces."""
    from kerascli.model.builder import Builder
    from kerascli.run.stages import check_stage_settings
    from kerascli.spec import SpecError
    from kerascli.spec.search_spec import with_option

    problems: list[Any] = []
    for i, spec in enumerate(search.specs()):
        try:
            builder = Builder(spec)
            check_stage_settings(builder, builder.build())
        except SpecError as exc:
            variant = search.variants[i - 1] if i else None
            for problem in exc.problems:
                shown = problem if variant is None else with_option(problem, *variant[:2])
                if str(shown) not in [str(p) for p in problems]:
                    problems.append(shown)
    if problems:
        raise SpecError(problems)


@command
def summary(spec: SpecArg, set_: SetOpt = None, json_: JsonOpt = False) -> None:
    """Build the model and print its layers, output shapes and parameter counts."""
    from kerascli.api import build_model, load_spec
    from kerascli.model.summary import model_summary

    data = model_summary(build_model(load_spec(spec, set_ or ())))
    if json_:
        render.print_json(data)
    else:
        render.stdout.print(render.summary_table(data))


@command
def config(spec: SpecArg, set_: SetOpt = None, json_: JsonOpt = False) -> None:
    """Print the fully resolved spec (extends, --set and ${ENV} applied), as `train` would use it."""
    from kerascli.spec import load_spec
    from kerascli.spec.dump import resolved_spec, to_yaml

    data = resolved_spec(load_spec(spec, set_ or ()))
    if json_:
        render.print_json(data)
    else:
        sys.stdout.write(to_yaml(data))
