"""Task comments: what a comment's text may be, and when its author may still edit it.

A task has a thread of comments (author, time, text). Anyone who may see the task may
read and add comments; only the author may edit one, and only within
``WORKFLOWS["COMMENT_EDIT_SECONDS"]`` of posting it (5 minutes by default): after that the
thread is a record. Each edit keeps the text it replaced, with its time, on the comment
(``edits``), so the thread is its own audit trail.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from workflows_app.core import jsonvalues
from workflows_app.core.exceptions import WorkflowStateError, WorkflowValidationError

__all__ = ["MAX_TEXT", "check_edit", "check_text", "editable"]

MAX_TEXT = 5000
"""The longest comment, in characters."""


def check_text(text: Any) -> str:
    """Return ``text`` if it can be a comment; else raise WorkflowValidationError (422)."""
    if not isinstance(text, str) or not text.strip():
        raise WorkflowValidationError(["text must be a non-empty string"])
    if len(text) > MAX_TEXT:
        raise WorkflowValidationError([f"text must be at most {MAX_TEXT} characters long"])
    found = jsonvalues.problems(text, limit=1)
    if found:
        raise WorkflowValidationError([f"text {found[0].message}"])
    return text


def editable(created_at: datetime, now: datetime, seconds: float) -> bool:
    """Whether a comment posted at ``created_at`` may still be edited at ``now``."""
    return now - created_at <= timedelta(seconds=seconds)


def check_edit(comment_id: Any, created_at: datetime, now: datetime, seconds: float) -> None:
    """Raise WorkflowStateError (409) if the comment is too old to be edited."""
    if not editable(created_at, now, seconds):
        minutes = f"{seconds / 60:g} minutes" if seconds >= 60 else f"{seconds:g} seconds"
        raise WorkflowStateError(
            f"Comment '{comment_id}' can no longer be edited: comments can be edited for "
            f"{minutes} after they are posted"
        )
