"""Withdrawing an instance: the user who started it takes it back.

The user who started an instance (its ``created_by``) may cancel it while it is running or
waiting, no task of it has been completed and no task of it is claimed: nobody has worked
on it yet. It is canceled as :meth:`cancel_workflow_sync` cancels (its open tasks canceled
too) with the reason "withdrawn by <user>", in one locked transition that also locks its
open tasks, so that a completion or a claim racing it either comes first (and the
withdrawal is refused) or finds the task canceled. The instance's metadata keeps the
withdrawal under ``"withdrawn"``; ``workflow.canceled`` and ``workflow.withdrawn`` are sent
once it commits.
"""

from __future__ import annotations

from typing import Any

from workflows_app.core import metadata as metadata_keys
from workflows_app.core.exceptions import WorkflowStateError
from workflows_app.core.types import WorkflowStatus
from workflows_app.engine import semantics, task_actions
from workflows_app.engine.effects import Effects
from workflows_app.engine.store import Store, Transition, audit
from workflows_app.models import WorkflowInstanceModel

__all__ = ["withdraw"]

WITHDRAWABLE = (WorkflowStatus.RUNNING, WorkflowStatus.WAITING)


def withdraw(store: Store, effects: Effects, instance_id: Any, by: str) -> Transition:
    """Cancel the instance ``instance_id`` for its starter ``by``; return the transition."""

    def apply(row: WorkflowInstanceModel, t: Transition) -> None:
        why = refusal(row, by, task_actions.lock_all(store.using, row.pk))
        if why is not None:
            raise WorkflowStateError(f"Instance {row.pk} cannot be withdrawn: {why}")
        reason = f"withdrawn by {by}"
        t.events = semantics.cancel(t.state, reason)
        t.events.append(
            ("workflow.withdrawn", {"instance_id": row.pk, "reason": reason, "withdrawn_by": by})
        )
        task_actions.cancel_pending(store.using, row.pk)
        at = semantics.utcnow().isoformat()
        audit(row, t, metadata_keys.WITHDRAWN, {"by": by, "at": at, "reason": reason})

    return store.transition(instance_id, apply, effects.committing)


def refusal(row: WorkflowInstanceModel, by: Any, tasks: list[Any]) -> str | None:
    """Why ``by`` may not withdraw the instance ``row`` whose tasks are ``tasks``, or None."""
    if not by or row.created_by != by:
        return f"only the user who started it ({row.created_by or 'nobody'}) may withdraw it"
    if row.status not in WITHDRAWABLE:
        return f"it is {row.status} (only a running or waiting instance can be withdrawn)"
    if any(task_actions.is_completed(task) for task in tasks):
        return "a task of it has been completed"
    if any(task_actions.is_claimed(task) for task in tasks):
        return "a task of it is claimed"
    return None
