"""The key of `ops.getitem: {key: "[:, -1]"}`, parsed from text without `eval`.

A key is what goes between the brackets of `x[...]`: items separated by commas, each an
integer (`-1`), a slice (`1:`, `::2`, `:-1`), `None` / `null` / `newaxis` (a new axis of size 1)
or `...` (every axis not named). The outer brackets are optional; a YAML integer is a key too.

Example:

    assert parse_key("[:, -1]") == (slice(None, None, None), -1)
    assert parse_key("..., None, 1:3") == (Ellipsis, None, slice(1, 3, None))
"""

from __future__ import annotations

import re
from typing import Any

SLICING = ("getitem", "get_item")
"""The ops that take a `key` written as text (`ops.getitem: {key: "[:, -1]"}`)."""
_INT = re.compile(r"^[+-]?\d+$")
NEW_AXIS = ("None", "null", "newaxis")
KEY_EXAMPLE = 'a key such as "[:, -1]", "[..., 0]" or "[:, None, 1:3]"'


def parse_key(text: Any) -> tuple[Any, ...]:
    """`text` (such as `"[:, -1]"`) as the tuple `x[...]` takes.

    Raises:
        ValueError: `text` is not a key of integers, slices, `None` and `...`.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return (text,)
    if not isinstance(text, str):
        raise ValueError(f"expected {KEY_EXAMPLE}, got {type(text).__name__} {text!r}")
    inner = text.strip()
    if inner.startswith("[") and inner.endswith("]"):
        inner = inner[1:-1]
    if not inner.strip():
        raise ValueError(f"expected {KEY_EXAMPLE}, got an empty key {text!r}")
    items = tuple(_item(part.strip(), text) for part in inner.split(","))
    if sum(item is Ellipsis for item in items) > 1:
        raise ValueError(f"a key holds at most one '...', got {text!r}")
    return items


def _item(part: str, text: str) -> Any:
    if part == "...":
        return Ellipsis
    if part in NEW_AXIS:
        return None
    if _INT.match(part):
        return int(part)
    bounds = part.split(":")
    if 2 <= len(bounds) <= 3 and all(not b.strip() or _INT.match(b.strip()) for b in bounds):
        start, stop, step = [int(b) if b.strip() else None for b in bounds] + [None] * (
            3 - len(bounds)
        )
        if step == 0:
            raise ValueError(f"a slice step cannot be 0, got '{part}' in {text!r}")
        return slice(start, stop, step)
    raise ValueError(
        f"'{part}' in {text!r} is not an integer, a slice (1:3, ::2), None or '...'; "
        f"expected {KEY_EXAMPLE}"
    )
