"""`kerascli train --workers N`: one spec trained by N local processes (the launcher in
`kerascli.run.workers`), each given the command's options."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from kerascli.cli import render
from kerascli.cli.errors import InvalidArgument


def train_workers(
    overrides: list[str],
    spec: Path,
    shared: dict[str, Any],
    chief: dict[str, Any],
    workers: int,
    max_restarts: int,
) -> None:
    """`train --workers N`: the spec checked here, then trained by N local processes given the
    `shared` options; the chief also the `chief` ones (gates, --json), the others `--quiet`."""
    from kerascli.run.gates import parse_gates
    from kerascli.run.workers import MULTI_WORKER, kerascli_train, launch_workers, refusal
    from kerascli.spec import SpecError, load_spec
    from kerascli.spec.check_distribute import replica_problems

    problem = refusal(load_spec(spec, overrides, check=False), os.environ)
    if problem is not None:
        raise InvalidArgument(problem)
    loaded = load_spec(spec, [*overrides, MULTI_WORKER])  # as the workers will: errors once
    problems = replica_problems(loaded, workers)  # at least one replica a worker
    if problems:
        raise SpecError([loaded.document.problem(path, text) for path, text, _ in problems])
    parse_gates(chief["--require"] or [])  # a malformed gate is refused here, once
    words = _option_words(["train", str(spec)], shared)
    command = kerascli_train(_option_words(words, chief), [*words, "--quiet"])
    hold = render.write_stdout if chief["--json"] else None  # one document on stdout
    code = launch_workers(command, workers, max_restarts, hold_stdout=hold)
    if code != 0:
        raise typer.Exit(code)


def _option_words(words: list[str], options: dict[str, Any]) -> list[str]:
    """`words` and then the options given: a flag when True, repeated for a list."""
    out = list(words)
    for flag, value in options.items():
        if value is True:
            out.append(flag)
        elif isinstance(value, list):
            out += [word for item in value for word in (flag, str(item))]
        elif value is not None and value is not False:
            out += [flag, str(value)]
    return out
