"""One record for every problem found in a spec, and the exception that carries them."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

KeyPath = tuple[str | int, ...]

Finding = tuple[KeyPath, str, bool]
"""What a check finds: where (a key path), what is wrong, and whether to point at the key
rather than its value."""


def format_path(path: Sequence[str | int]) -> str:
    """Render a key path as `model.sequential.layers[3].Dense.units`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


# Terminal escape sequences (Keras's and Rich's colours and styles): CSI `ESC [ ... m`,
# OSC `ESC ] ... BEL` (links, titles) and two-character escapes.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain_text(text: str) -> str:
    """`text` without terminal escape sequences; any other control character is shown escaped
    (`\\x07`), so that a message cannot restyle, move or rewrite the terminal's lines."""
    text = _ANSI.sub("", text.replace("\r\n", "\n"))
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ` (did you mean 'x'?)` for the closest choices, or an empty string."""
    choices = list(dict.fromkeys(choices))
    lowered = {c.lower(): c for c in choices}
    if name.lower() in lowered and lowered[name.lower()] != name:
        return f" (did you mean '{lowered[name.lower()]}'?)"
    matches = difflib.get_close_matches(name, choices, n=n, cutoff=0.6)
    if not matches:
        matches = [
            lowered[m] for m in difflib.get_close_matches(name.lower(), lowered, n=n, cutoff=0.6)
        ]
    if not matches:
        return ""
    return " (did you mean " + " or ".join(f"'{m}'" for m in matches) + "?)"


@dataclass(frozen=True)
class Problem:
    """A located problem in a spec: where it is and what is wrong.

    Args:
        message: What was expected and what was received.
        path: The dotted key path, e.g. `model.sequential.layers[3].Dense.unitz`.
        file: The spec file. Defaults to `None` for specs given as dicts.
        line: 1-based line. Defaults to `None` when unknown.
        column: 1-based column. Defaults to `None` when unknown.
    """

    message: str
    path: str = ""
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __post_init__(self) -> None:
        # Keras's and Rich's colour codes never reach a message (nor a key path from the YAML).
        object.__setattr__(self, "message", plain_text(self.message))
        object.__setattr__(self, "path", plain_text(self.path))

    def location(self) -> str:
        parts = [self.file or "<spec>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.location()}: {where}{self.message}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


class KerasCliError(Exception):
    """What kerascli raises: a runtime failure with a one-line cause (exit code 1), or, as
    `SpecError`, an invalid spec, data or argument (exit code 2)."""


class SpecError(KerasCliError):
    """A spec (or data it names) is invalid. Carries every problem found."""

    def __init__(self, problems: Sequence[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class DataError(SpecError):
    """Data that does not fit the spec: missing file, unknown column, bad value, bad shape.

    Located in the data file (`file:row`) where a row is to blame. Exit code 2.
    """

    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        super().__init__([Problem(message, "", file, line)])


def short_message(exc: BaseException) -> str:
    """What Keras said in `exc`, in one line: its first three lines joined, at most 500
    characters (for a located message: `cannot compile: <this>`)."""
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines[:3])[:500]


def cause_line(exc: BaseException) -> str:
    """One line saying why `exc` happened: `Type: message`.

    TensorFlow's op errors start with "Graph execution error:" and a stack of node
    definitions; their cause is the last plain line ("Incompatible shapes: [16] vs. [16,3]").
    """
    lines = [plain_text(line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return type(exc).__name__
    message = lines[0]
    if message.endswith(":") and len(lines) > 1:
        plain = [
            line
            for line in lines[1:]
            if not line.startswith(("[[", "File ", "Detected at node", "Traceback"))
            and not line.endswith("(most recent call last):")
        ]
        if plain:
            message = f"{message} {plain[-1]}"
    if isinstance(exc, KerasCliError):
        return message
    return f"{type(exc).__name__}: {message}"
