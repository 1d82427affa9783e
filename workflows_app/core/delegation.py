"""Delegation: ask a colleague for an answer, but keep the decision.

The person a task is assigned to (its **owner**) delegates it to a **delegate**: the task
becomes the delegate's (its assignee), who may answer a **draft** (``resolve``), which
hands the task back to the owner with the draft shown. Only the owner completes the task,
delegated or resolved (the owner may complete it at any time, without waiting for the
draft); a delegate who tries is refused (:class:`DelegateCannotCompleteError`, 403).

Who the owner is: the task's assignee when it is delegated; for an unassigned task (of a
group, or of nobody), the person who delegates it. A task delegated again (after a
resolve) keeps its first owner. The task keeps the owner in a column of its own
(``owner_id``, so the completion check needs no JSON) and the delegation's state in
``delegation``: ``{"owner", "delegate", "state", "draft", "delegated_by",
"delegated_at", "resolved_at"}``.

The rules here are pure; :mod:`workflows_app.engine.delegation` reads and writes the rows.
"""

from __future__ import annotations

from typing import Any

from workflows_app.core import jsonvalues
from workflows_app.core.exceptions import (
    DelegateCannotCompleteError,
    NotDelegateError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.types import DelegationState

__all__ = ["delegated", "owner_of", "refuse_completion", "resolved"]


def owner_of(owner_id: str | None, assignee_id: str | None, by: str) -> str:
    """Who owns a task being delegated by ``by``: its owner if it has one (it was delegated
    before), else its assignee, else ``by``."""
    return owner_id or assignee_id or by


def delegated(
    task_id: Any,
    current: dict[str, Any] | None,
    owner: str,
    to_user: Any,
    by: str,
    at: str,
) -> dict[str, Any]:
    """The ``delegation`` of a task that ``by`` delegates to ``to_user`` at ``at`` (its
    ``current`` delegation, if any, must be resolved: a task is delegated once at a time)."""
    if not isinstance(to_user, str) or not to_user.strip():
        raise WorkflowValidationError(["to_user must name a user"])
    if len(to_user) > 255:
        raise WorkflowValidationError(["to_user must be at most 255 characters long"])
    if current and current.get("state") == DelegationState.DELEGATED:
        raise WorkflowStateError(
            f"Task '{task_id}' is already delegated to '{current.get('delegate')}': it must "
            "be resolved first"
        )
    if to_user == owner:
        raise WorkflowValidationError([f"to_user: '{to_user}' owns the task already"])
    return {
        "owner": owner,
        "delegate": to_user,
        "state": str(DelegationState.DELEGATED),
        "draft": None,
        "delegated_by": by,
        "delegated_at": at,
        "resolved_at": None,
    }


def resolved(
    task_id: Any, current: dict[str, Any] | None, by: Any, draft: Any, at: str, *, limit: int
) -> dict[str, Any]:
    """The ``delegation`` of a task its delegate ``by`` resolves with ``draft`` at ``at``
    (``limit``: the deepest nesting allowed in the draft)."""
    if not current or current.get("state") != DelegationState.DELEGATED:
        raise WorkflowStateError(f"Task '{task_id}' is not delegated: there is nothing to resolve")
    if by != current.get("delegate"):
        raise NotDelegateError(task_id, by, current.get("delegate"))
    if not isinstance(draft, dict):
        raise WorkflowValidationError(["data: the draft answer must be a JSON object"])
    found = jsonvalues.problems(draft, limit=1, max_depth=limit)
    if found:
        raise WorkflowValidationError([f"data {found[0].message}"])
    return {**current, "state": str(DelegationState.RESOLVED), "draft": draft, "resolved_at": at}


def refuse_completion(
    task_id: Any, owner_id: str | None, user_id: Any, on_behalf_of: Any = None
) -> None:
    """Raise :class:`DelegateCannotCompleteError` unless ``user_id`` (or the user they act
    for, ``on_behalf_of``) owns the task; a task never delegated (no ``owner_id``) and a
    completion by no user (the engine's own) are not refused."""
    if not owner_id or user_id is None:
        return
    if owner_id in (str(user_id), on_behalf_of):
        return
    raise DelegateCannotCompleteError(task_id, user_id, owner_id)
