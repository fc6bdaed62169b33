"""PyYAML's errors, and a file too large to parse, as located plain-words `Problem`s."""

from __future__ import annotations

import yaml

from kerascli.spec.problems import Problem
from kerascli.spec.yaml_limits import MAX_FILE_BYTES, LimitError

_OPENERS = {"flow sequence": "'['", "flow mapping": "'{'", "quoted scalar": "quote"}


def yaml_problem(exc: yaml.MarkedYAMLError, file: str) -> Problem:
    """A located, plain-words problem for a PyYAML syntax error (or a `LimitError`).

    Unclosed brackets and quotes point at where they open; indentation and tab
    errors say so, at the line that breaks the structure.
    """
    if isinstance(exc, LimitError):
        mark = exc.problem_mark
        return Problem(str(exc.problem), "", file, mark.line + 1, mark.column + 1)
    problem, context = str(exc.problem or ""), str(exc.context or "")
    mark, start = exc.problem_mark or exc.context_mark, exc.context_mark
    message = " ".join(x for x in (context, problem) if x)
    opener = next((v for k, v in _OPENERS.items() if context.endswith(k)), None)
    if start is not None and opener and ("<stream end>" in problem or "end of stream" in problem):
        mark = start
        message = f"unclosed {opener}: the file ends before it is closed"
    elif start is not None and opener in ("'['", "'{'") and problem.startswith("expected"):
        message = (
            f"{problem} (to close the {opener} at line {start.line + 1}, column {start.column + 1})"
        )
    elif "expected <block end>" in problem:
        what = "list" if "collection" in context else "mapping"
        message = "bad indentation: this line does not line up with the keys above it"
        if start is not None:
            message += f" (in the {what} that starts on line {start.line + 1})"
    elif "'\\t'" in problem:
        message = "a tab character; YAML indents with spaces only"
    elif problem == "mapping values are not allowed here":
        message += " (quote a value that contains ': ', or check the indentation)"
    buffer = getattr(mark, "buffer", None)
    if buffer and problem.endswith("'{'") and buffer[max(mark.pointer - 1, 0)] == "$":
        message += "; inside [...] or {...}, quote ${VAR} as '${VAR}'"
    elif buffer and problem.endswith("'['") and buffer[max(mark.pointer - 1, 0)].isalnum():
        message += "; inside [...] or {...}, quote an output of a node as 'node[1]'"
    line = mark.line + 1 if mark else None
    column = mark.column + 1 if mark else None
    return Problem(f"invalid YAML: {message}", "", file, line, column)


def reader_problem(exc: yaml.reader.ReaderError, text: str, file: str) -> Problem:
    """A located problem for a character YAML does not allow (a control character)."""
    line, column = _line_column(text, exc.position)
    code = int(exc.character)  # a code point: the text is already decoded
    hint = " (a terminal colour code?)" if code == 0x1B else ""
    message = (
        f"invalid YAML: the control character U+{code:04X}{hint} is not allowed in a YAML "
        "file; in a double-quoted string write it as an escape"
    )
    return Problem(message, "", file, line, column)


def _line_column(text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column of `text[index]`."""
    line_start = text.rfind("\n", 0, index) + 1
    return text.count("\n", 0, index) + 1, index - line_start + 1


def too_large(size: str, file: str) -> Problem:
    """The problem of a file of `size` over `MAX_FILE_BYTES`, refused before it is parsed."""
    limit = f"{MAX_FILE_BYTES:,} bytes ({MAX_FILE_BYTES // 1024 // 1024} MiB)"
    return Problem(
        f"file too large: {size}, over the limit of {limit} on the size of a spec (not parsed)",
        "",
        file,
    )
