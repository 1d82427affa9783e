"""Substitution: while a user is away, a substitute also gets their tasks.

A substitution names a user (who is away), a substitute, a time range (``starts_at``
inclusive, ``ends_at`` exclusive) and optionally the workflows it covers (none: all of
them). While it is active, the substitute's inbox also offers the tasks assigned to the
user (marked "for <user>"), and the substitute may complete them: the task records both
people (``completed_by`` the substitute, ``completed_on_behalf_of`` the user, and an
activity entry with ``by`` and ``on_behalf_of``). A user has at most one substitution at
any moment: two substitutions of the same user may not overlap. Four-eyes rules still
apply, to the substitute (they are the one acting).

The workflows are kept as text in the form of :mod:`workflows_app.core.four_eyes`
(``"\\nname\\n..."``, empty for all), so that the inbox's condition is one ``LIKE``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from workflows_app.core.exceptions import WorkflowValidationError
from workflows_app.core.four_eyes import SEPARATOR

__all__ = ["SEPARATOR", "check", "covers", "encode", "names", "overlaps"]


def encode(workflows: Iterable[str] | None) -> str:
    """The text kept for a substitution's workflows (empty: all workflows)."""
    listed = sorted({name.strip() for name in workflows or () if name and name.strip()})
    return f"{SEPARATOR}{SEPARATOR.join(listed)}{SEPARATOR}" if listed else ""


def names(text: str | None) -> list[str]:
    """The workflow names of a substitution's text (empty: all workflows)."""
    return [name for name in (text or "").split(SEPARATOR) if name]


def covers(text: str | None, workflow_name: str | None) -> bool:
    """Whether a substitution with the workflows ``text`` covers a task of ``workflow_name``."""
    return not text or f"{SEPARATOR}{workflow_name}{SEPARATOR}" in text


def overlaps(start: datetime, end: datetime, other_start: datetime, other_end: datetime) -> bool:
    """Whether the ranges [start, end) and [other_start, other_end) share a moment."""
    return start < other_end and other_start < end


def check(user: Any, substitute: Any, starts_at: Any, ends_at: Any, workflows: Any) -> None:
    """Raise :class:`WorkflowValidationError` (one message per problem) for a substitution
    that cannot be."""
    errors = []
    for field, value in (("user", user), ("substitute", substitute)):
        if not isinstance(value, str) or not value.strip():
            errors.append(f"{field} must name a user")
        elif len(value) > 255:
            errors.append(f"{field} must be at most 255 characters long")
    if isinstance(user, str) and user and user == substitute:
        errors.append("substitute: a user cannot substitute for themselves")
    for field, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if not isinstance(value, datetime) or value.tzinfo is None:
            errors.append(f"{field} must be an aware datetime")
    if not errors and ends_at <= starts_at:
        errors.append("ends_at must be after starts_at")
    if workflows is not None and (
        isinstance(workflows, str) or not all(isinstance(name, str) for name in workflows)
    ):
        errors.append("workflows must be a list of workflow names")
    elif workflows is not None and any(SEPARATOR in name for name in workflows):
        errors.append("workflows: a workflow name has no line breaks")
    if errors:
        raise WorkflowValidationError(errors)
