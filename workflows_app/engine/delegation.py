"""Delegation in the engine: a task's rows when it is delegated and resolved.

:mod:`workflows_app.core.delegation` holds the rules (who owns a task, when it may be
delegated or resolved); this module applies them to a locked, pending task row, records
each change in the task's ``activity`` and returns the event to send once the transaction
commits (``task.delegated``, ``task.resolved``). The completion check (only the owner
completes) is :func:`workflows_app.core.delegation.refuse_completion`, called where a task
is completed (:func:`workflows_app.engine.task_actions.complete` and the multi-instance
answers).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from workflows_app import conf
from workflows_app.core import delegation as rules
from workflows_app.core.exceptions import WorkflowValidationError
from workflows_app.engine import four_eyes, semantics, statements, task_actions
from workflows_app.models import HumanTaskModel, StepExecutionModel

__all__ = ["delegate", "resolve"]


def delegate(using: str, task_id: Any, to_user: Any, by: Any) -> tuple[HumanTaskModel, list]:
    """Delegate the pending task ``task_id`` to ``to_user`` as ``by``; return the task
    and its ``task.delegated`` event. A four-eyes rule that excludes ``to_user`` refuses."""
    if not isinstance(by, str) or not by:
        raise WorkflowValidationError(["a delegation needs the user id of who delegates"])
    with transaction.atomic(using=using):
        task = task_actions.locked_pending(using, task_id)
        owner = rules.owner_of(task.owner_id, task.assignee_id, by)
        now = semantics.utcnow().isoformat()
        state = rules.delegated(task.pk, task.delegation, owner, to_user, by, now)
        four_eyes.refuse(task.pk, task.excluded_users, to_user, "be delegated")
        entry = {
            "action": "delegated",
            "at": now,
            "by": by,
            "owner": owner,
            "from_assignee": task.assignee_id,
            "to_assignee": to_user,
        }
        payload = {
            "instance_id": task.instance_id,
            "task_id": task.pk,
            "step_name": task.step_name,
            "owner": owner,
            "delegate": to_user,
            "delegated_by": by,
        }
        _write(using, task, to_user, owner, state, entry)
    return task, [("task.delegated", payload)]


def resolve(using: str, task_id: Any, by: Any, data: Any) -> tuple[HumanTaskModel, list]:
    """The delegate ``by`` answers the delegated task ``task_id`` with the draft ``data``:
    the task goes back to its owner; return the task and its ``task.resolved`` event."""
    with transaction.atomic(using=using):
        task = task_actions.locked_pending(using, task_id)
        now = semantics.utcnow().isoformat()
        limit = conf.get_settings().JSON_MAX_DEPTH
        state = rules.resolved(task.pk, task.delegation, by, data, now, limit=limit)
        owner = state["owner"]
        entry = {
            "action": "resolved",
            "at": now,
            "by": by,
            "owner": owner,
            "from_assignee": task.assignee_id,
            "to_assignee": owner,
        }
        payload = {
            "instance_id": task.instance_id,
            "task_id": task.pk,
            "step_name": task.step_name,
            "owner": owner,
            "delegate": by,
            "draft": data,
        }
        _write(using, task, owner, owner, state, entry)
    return task, [("task.resolved", payload)]


def _write(
    using: str,
    task: HumanTaskModel,
    assignee: str,
    owner: str,
    state: dict[str, Any],
    entry: dict[str, Any],
) -> None:
    task.assignee_id, task.owner_id, task.delegation = assignee, owner, state
    task.activity = [*task.activity, entry]
    changes = {
        "assignee_id": assignee,
        "owner_id": owner,
        "delegation": state,
        "activity": task.activity,
    }
    statements.update(using, HumanTaskModel, changes, {"id": task.pk})
    statements.update(
        using, StepExecutionModel, {"assigned_to": assignee}, {"id": task.step_execution_id}
    )
