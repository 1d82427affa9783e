"""Multi-instance human steps: one task per item of a list, and when the step is done.

A human step that declares ``for_each`` creates one task per item of a list (the value
of a context key, or what a callable returns for the context): all at once, or one after
another with ``sequential=True``. Each answer is recorded in the context under
``<step>_results``, a list in the items' order whose entries are ``None`` until the task of
that item is answered, then ``{"item": ..., "user": ..., "data": ...}``.

After each answer the step's ``completion_condition`` is checked against the
:class:`Progress` so far; when it holds (or when every task is answered) the step
completes and its other tasks are canceled. A string condition is a safe expression
(see :mod:`.conditions`) over these names only:

- ``total``: the number of items (tasks);
- ``completed``: how many tasks are answered;
- ``pending``: ``total - completed``;
- ``approved`` / ``rejected``: how many answers have a field ``approved`` that is
  ``true`` / ``false`` (answers without the field count in neither);
- ``answers``: the data of the answers so far, in the items' order.

A callable condition receives the :class:`Progress` and returns a truth value.

This module is pure: no Django, no I/O. The engine applies it (see
``workflows_app.engine.multi_instance``).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from workflows_app.core import conditions

__all__ = [
    "CONDITION_NAMES",
    "Progress",
    "answer",
    "condition_problem",
    "holds",
    "is_multi",
    "items_from",
    "progress",
    "results_key",
]

CONDITION_NAMES = frozenset({"total", "completed", "pending", "approved", "rejected", "answers"})
"""The names a string ``completion_condition`` may use."""


@dataclass(frozen=True)
class Progress:
    """Where a multi-instance step stands: what its completion condition is checked on."""

    total: int
    completed: int
    approved: int
    rejected: int
    answers: list[Any] = field(default_factory=list)

    @property
    def pending(self) -> int:
        """How many tasks are not answered yet."""
        return self.total - self.completed

    def names(self) -> dict[str, Any]:
        """Return the names a string condition sees."""
        return {
            "total": self.total,
            "completed": self.completed,
            "pending": self.pending,
            "approved": self.approved,
            "rejected": self.rejected,
            "answers": list(self.answers),
        }


def is_multi(step: Any) -> bool:
    """Whether ``step`` is a multi-instance human step (it declares ``for_each``)."""
    return getattr(step, "for_each", None) is not None


def results_key(step_name: str) -> str:
    """Return the context key holding the answers of the step ``step_name``."""
    return f"{step_name}_results"


def items_from(value: Any, source: str) -> list[Any]:
    """Return ``value`` (what ``for_each`` gave, described by ``source``) as the list of
    items; raise ValueError unless it is a list or a tuple."""
    if isinstance(value, list | tuple):
        return list(value)
    if value is None:
        raise ValueError(f"{source} gave no list (None)")
    raise ValueError(f"{source} must be a list, not {type(value).__name__}")


def progress(results: Sequence[dict[str, Any] | None]) -> Progress:
    """Return the progress of a step whose ``<step>_results`` are ``results``."""
    answers = [entry["data"] for entry in results if entry is not None]
    flags = [data.get("approved") if isinstance(data, dict) else None for data in answers]
    return Progress(
        total=len(results),
        completed=len(answers),
        approved=sum(1 for flag in flags if flag is True),
        rejected=sum(1 for flag in flags if flag is False),
        answers=answers,
    )


def holds(condition: str | Callable[[Progress], Any] | None, state: Progress) -> bool:
    """Whether the step is done: every task is answered, or ``condition`` holds."""
    if state.completed >= state.total:
        return True
    if condition is None:
        return False
    if callable(condition):
        return bool(condition(state))
    return conditions.evaluate_names(condition, state.names())


def answer(
    results: Sequence[dict[str, Any] | None],
    index: int,
    item: Any,
    user_id: str | None,
    data: dict[str, Any],
) -> list[dict[str, Any] | None]:
    """Return ``results`` with the answer to the task of item ``index`` recorded."""
    recorded = list(results)
    recorded[index] = {"item": item, "user": user_id, "data": data}
    return recorded


def condition_problem(condition: Any) -> str | None:
    """Return why ``condition`` cannot be a completion condition, or None."""
    if condition is None or callable(condition):
        return None
    if not isinstance(condition, str):
        return f"must be a string or a callable, not {type(condition).__name__}"
    try:
        conditions.check_condition(condition)
    except conditions.ConditionError as exc:
        return str(exc)
    tree = ast.parse(condition.strip(), mode="eval")
    unknown = sorted(
        {
            node.id
            for node in ast.walk(tree)
            if isinstance(node, ast.Name)
            and node.id not in CONDITION_NAMES
            and node.id not in conditions.FUNCTIONS
        }
    )
    if unknown:
        allowed = ", ".join(sorted(CONDITION_NAMES))
        return f"unknown name {', '.join(map(repr, unknown))} (use {allowed})"
    return None
