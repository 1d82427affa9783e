"""Which values the app stores as JSON: the one rule every entry point applies.

Context data, metadata, task answers and webhook payloads are stored in JSON columns, and
each database refuses something different: PostgreSQL takes no NUL characters, no lone
surrogates and no ``NaN``; deep nesting breaks copying and rendering long before any
database complains. So a value is storable when, at any depth:

- every number is finite (no ``NaN``, ``Infinity``, ``-Infinity``, nor ``1e999``, which a
  JSON parser reads as infinity);
- every string, and every key, is Unicode text without NUL characters (no lone surrogate
  such as ``"\\ud800"``, no ``"\\u0000"``);
- it is nested at most ``max_depth`` levels deep (the value itself is level 1), so that
  nothing that reads it recurses without bound.

:func:`problems` lists what breaks the rule, each with where it is; the walk is
iterative, so a value nested thousands of levels deep is refused, not a ``RecursionError``.
Whether each object is of a JSON type at all is left to the encoder (``json.dumps``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["MAX_DEPTH", "Problem", "describe", "problems"]

MAX_DEPTH = 31
"""The default nesting limit (``WORKFLOWS["JSON_MAX_DEPTH"]``): the deepest that MariaDB
stores (its ``JSON_VALID`` check refuses 32 nested arrays or objects), so that what one
database takes, every supported database takes."""

_SURROGATE = re.compile("[\ud800-\udfff]")

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """Why the value at ``path`` (keys and list indexes from the top) cannot be stored."""

    path: Path
    message: str
    code: str
    """``nul_character``, ``lone_surrogate``, ``not_finite`` or ``too_deep``."""


def _text_problem(text: str) -> tuple[str, str] | None:
    if "\x00" in text:
        return "must not contain NUL characters (\\u0000)", "nul_character"
    if not text.isascii() and _SURROGATE.search(text):
        return (
            "must be Unicode text, without lone surrogates (\\ud800-\\udfff)",
            "lone_surrogate",
        )
    return None


def problems(
    value: Any, max_depth: int = MAX_DEPTH, limit: int = 10, level: int = 1
) -> list[Problem]:
    """What keeps ``value`` from being stored (at most ``limit`` problems); empty when it
    can be. ``level`` is the nesting level of ``value`` itself (0 for an object whose
    fields are each a stored value)."""
    found: list[Problem] = []
    # Containers still to look into: (container, its depth, its place), a place being
    # (parent's place, key), so that a path is built only for a value with a problem.
    stack: list[tuple[Any, int, Any]] = []
    _visit(value, level, None, stack, found, max_depth)
    while stack and len(found) < limit:
        container, depth, place = stack.pop()
        if isinstance(container, dict):
            for key, child in container.items():
                if isinstance(key, str) and (text := _text_problem(key)) is not None:
                    found.append(Problem(_path((place, key)), f"key {text[0]}", text[1]))
                _visit(child, depth + 1, (place, key), stack, found, max_depth)
        else:
            for index, child in enumerate(container):
                _visit(child, depth + 1, (place, index), stack, found, max_depth)
    return found[:limit]


def _visit(
    item: Any, depth: int, place: Any, stack: list[Any], found: list[Problem], max_depth: int
) -> None:
    """Check a scalar at once; queue a container (or refuse it when too deep)."""
    kind = type(item)
    problem: tuple[str, str] | None
    if kind is int or kind is bool or item is None:
        return
    if isinstance(item, str):
        problem = _text_problem(item)
    elif isinstance(item, float):
        problem = (
            None if math.isfinite(item) else (f"must be a finite number, not {item}", "not_finite")
        )
    elif isinstance(item, dict | list | tuple):
        if depth <= max_depth:
            stack.append((item, depth, place))
            return
        problem = f"is nested deeper than {max_depth} levels", "too_deep"
    else:
        return
    if problem is not None:
        found.append(Problem(_path(place), *problem))


def _path(place: Any) -> Path:
    keys: list[str | int] = []
    while place is not None:
        place, key = place
        keys.append(key if isinstance(key, int) else _printable(str(key)))
    return tuple(reversed(keys))


def _printable(key: str) -> str:
    """``key`` with NUL characters and lone surrogates escaped, so that the path itself
    can be shown and sent back as JSON."""
    if _text_problem(key) is None:
        return key
    escaped = key.replace("\x00", "\\u0000")
    return escaped.encode("utf-8", "backslashreplace").decode("utf-8")


def describe(path: Sequence[str | int], root: str = "") -> str:
    """``path`` as a reader writes it: ``root.items[2].name`` (``root`` alone when empty)."""
    text = root
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text or "the value"
