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
from workflows_app.core.types import WorkflowStatus
from workflows_app.engine import semantics, task_actions
from workflows_app.engine.effects import Effects
from workflows_app.engine.store import Store, Transition, audit
from workflows_app.models import WorkflowInstanceModel

__all__ = ["withdraw"]

WITHDRAWABLE = semantics.WITHDRAWABLE


def withdraw(store: Store, effects: Effects, instance_id: Any, by: str) -> Transition:
    """Cancel the instance ``instance_id`` for its starter ``by``; return the transition."""

    def apply(row: WorkflowInstanceModel, t: Transition) -> None:
        tasks = task_actions.lock_all(store.using, row.pk)
        semantics.check_withdrawal(
            row.pk,
            WorkflowStatus(row.status),
            row.created_by,
            by,
            completed=any(task_actions.is_completed(task) for task in tasks),
            claimed=any(task_actions.is_claimed(task) for task in tasks),
        )
        t.events = semantics.withdraw(t.state, by)
        task_actions.cancel_pending(store.using, row.pk)
        audit(row, t, metadata_keys.WITHDRAWN, semantics.withdrawal_entry(by))

    return store.transition(instance_id, apply, effects.committing)


def refusal(row: WorkflowInstanceModel, by: Any, tasks: list[Any]) -> str | None:
    """Why ``by`` may not withdraw the instance ``row`` whose tasks are ``tasks``, or None
    (the rule is :func:`semantics.withdraw_refusal`)."""
    return semantics.withdraw_refusal(
        WorkflowStatus(row.status),
        row.created_by,
        by,
        completed=any(task_actions.is_completed(task) for task in tasks),
        claimed=any(task_actions.is_claimed(task) for task in tasks),
    )
