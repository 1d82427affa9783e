"""Task actions: what happens to the rows of human tasks, one transition each.

A task is ``pending`` from the moment its human step is reached; then:

- **claim**: an unassigned task becomes a user's; **release**: a claimed task goes back
  to its group; **reassign**: another user and/or group (each recorded in the task's
  ``activity``, and sent as ``task.claimed``, ``task.released``, ``task.reassigned``);
- **complete**: ``completed``, with its answer on the step execution (the instance
  moves on in the same transaction: see the engine);
- **hold** when its instance fails or is suspended (``on_hold``: out of inboxes,
  reminders and escalations), **unhold** when the instance is retried or resumed
  (``pending`` again);
- **cancel** when its instance is canceled or its step escalated elsewhere;
- **send back**: canceled, with the reason, when a person sends it back to an earlier
  step for rework;
- **move** when its instance moves to another version of its workflow.

These functions read and write task rows only, inside the caller's transaction; those
that make an event (claim, release, reassign, complete) return it, to be sent once the
transaction commits.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from workflows_app.core import delegation
from workflows_app.core.exceptions import (
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    WorkflowStateError,
)
from workflows_app.core.types import StepStatus, TaskStatus, WorkflowStatus
from workflows_app.engine import four_eyes, semantics, statements
from workflows_app.models import HumanTaskModel, StepExecutionModel

__all__ = [
    "assign",
    "cancel_pending",
    "check_pending",
    "complete",
    "hold",
    "is_claimed",
    "is_completed",
    "last_completed",
    "last_completer",
    "lock_all",
    "locked_pending",
    "move_task",
    "not_waiting",
    "open_task",
    "reassign",
    "send_back",
    "task_pk",
    "unhold",
]

# What a task's activity records of an assignment change, beside action, at and by.
_ACTIVITY_KEYS = ("from_assignee", "to_assignee", "from_group", "to_group")


def task_pk(task_id: Any) -> UUID:
    """Return ``task_id`` as a UUID, or raise TaskNotFoundError for what cannot be one."""
    if isinstance(task_id, UUID):
        return task_id
    try:
        return UUID(str(task_id))
    except ValueError:
        raise TaskNotFoundError(task_id) from None


def check_pending(task_id: Any, status: str, using: str | None = None) -> None:
    """Raise unless a task in ``status`` can still be acted on (``using``: the database
    to ask why a task on hold is held)."""
    if status == TaskStatus.COMPLETED:
        raise TaskAlreadyCompletedError(task_id)
    if status == TaskStatus.ON_HOLD:
        raise WorkflowStateError(_on_hold(task_id, using))
    if status != TaskStatus.PENDING:
        raise WorkflowStateError(f"Task '{task_id}' is {status}")


def locked_pending(using: str, task_id: Any) -> HumanTaskModel:
    """Return the task row, locked for this transaction; raise unless it is pending."""
    task = (
        HumanTaskModel.objects.using(using).select_for_update().filter(pk=task_pk(task_id)).first()
    )
    if task is None:
        raise TaskNotFoundError(task_id)
    check_pending(task.pk, task.status, using)
    return task


def open_task(using: str, task_id: Any) -> HumanTaskModel:
    """Return the task (not locked); raise unless it is pending."""
    task = HumanTaskModel.objects.using(using).filter(pk=task_pk(task_id)).first()
    if task is None:
        raise TaskNotFoundError(task_id)
    check_pending(task.pk, task.status, using)
    return task


def lock_all(using: str, instance_id: UUID) -> list[HumanTaskModel]:
    """Every task of the instance, locked for this transaction."""
    rows = HumanTaskModel.objects.using(using).select_for_update().filter(instance_id=instance_id)
    return list(rows.order_by("created_at"))


def is_completed(task: HumanTaskModel) -> bool:
    return task.status == TaskStatus.COMPLETED


def is_claimed(task: HumanTaskModel) -> bool:
    """Whether an open task is claimed: someone took it (and has not released it, nor has it
    been reassigned since). A task that its step assigned to a user is not claimed."""
    if task.status not in (TaskStatus.PENDING, TaskStatus.ON_HOLD):
        return False
    changes = [e for e in task.activity if e.get("action") in ("claimed", "released", "reassigned")]
    return bool(changes) and changes[-1]["action"] == "claimed"


def _on_hold(task_id: Any, using: str | None) -> str:
    """Why the task ``task_id`` is on hold: its instance failed, or is suspended."""
    instance_status = None
    if using is not None:
        instance_status = (
            HumanTaskModel.objects.using(using)
            .filter(pk=task_pk(task_id))
            .values_list("instance__status", flat=True)
            .first()
        )
    if instance_status == WorkflowStatus.SUSPENDED:
        return (
            f"Task '{task_id}' is on hold: its workflow is suspended, and the task can be "
            "acted on again once the workflow is resumed"
        )
    return (
        f"Task '{task_id}' is on hold: its workflow failed, and the task can be acted on "
        "again once the workflow is retried"
    )


def last_completed(using: str, instance_id: UUID, step_name: str) -> UUID | None:
    """The id of the newest task of ``step_name`` if it is completed (else None): why a
    completion of a step that no longer waits is refused."""
    task = (
        HumanTaskModel.objects.using(using)
        .filter(instance_id=instance_id, step_name=step_name)
        .order_by("-created_at")
        .values_list("pk", "status")
        .first()
    )
    return task[0] if task is not None and task[1] == TaskStatus.COMPLETED else None


def last_completer(using: str, instance_id: UUID, step_name: str) -> str | None:
    """Who completed the last completed task of ``step_name`` in the instance, or None."""
    return (
        HumanTaskModel.objects.using(using)
        .filter(instance_id=instance_id, step_name=step_name, status=TaskStatus.COMPLETED)
        .order_by("-completed_at")
        .values_list("completed_by", flat=True)
        .first()
    )


def not_waiting(using: str, step_name: str, execution_id: UUID | None) -> Exception:
    """The error for a completion of ``execution_id`` that no longer waits: its task was
    completed (by a concurrent call, most likely), or the step moved on otherwise."""
    if execution_id is not None:
        task = (
            HumanTaskModel.objects.using(using)
            .filter(step_execution_id=execution_id)
            .values_list("pk", "status")
            .first()
        )
        if task is not None and task[1] == TaskStatus.COMPLETED:
            return TaskAlreadyCompletedError(task[0])
    return WorkflowStateError(f"The step '{step_name}' is no longer waiting")


def complete(
    using: str,
    instance_id: UUID,
    execution_id: UUID,
    step_name: str,
    user_id: str | None,
    data: dict[str, Any],
    comment: str | None = None,
    *,
    event: bool = True,
    on_behalf_of: str | None = None,
) -> list[semantics.Event]:
    """Mark the waiting execution of a human or webhook step succeeded, and its task (if
    any) completed; record ``comment`` in the task's activity. A four-eyes rule of the
    task that excludes ``user_id`` raises :class:`~workflows_app.ExcludedUserError`
    (see :mod:`.four_eyes`) before anything is written, and so does a delegated task
    completed by anyone but its owner (:func:`~workflows_app.core.delegation.refuse_completion`).
    ``on_behalf_of``: the user ``user_id`` stands in for (a substitution), recorded in the
    task's activity.

    Return the ``task.completed`` event if ``event`` (its task id is read only then).
    """
    now = semantics.utcnow()
    found = None
    if event or user_id is not None:
        columns = ("id", "excluded_users", "owner_id")
        found = statements.select_one(
            using, HumanTaskModel, columns, {"step_execution_id": execution_id}
        )
    if found is not None and user_id is not None:
        four_eyes.refuse(found[0], found[1], user_id, "complete")
        delegation.refuse_completion(found[0], found[2], user_id, on_behalf_of)
    completion: dict[str, Any] = {
        "status": str(TaskStatus.COMPLETED),
        "completed_by": user_id,
        "completed_at": now,
    }
    if on_behalf_of is not None:
        completion["completed_on_behalf_of"] = on_behalf_of
    if comment is not None or on_behalf_of is not None:
        task = (
            HumanTaskModel.objects.using(using)
            .select_for_update()
            .filter(step_execution_id=execution_id)
            .only("activity")
            .first()
        )
        if task is not None:
            entry: dict[str, Any] = {"action": "completed", "at": now.isoformat(), "by": user_id}
            if on_behalf_of is not None:
                entry["on_behalf_of"] = on_behalf_of
            if comment is not None:
                entry["comment"] = comment
            completion["activity"] = [*task.activity, entry]
    statements.update(
        using,
        HumanTaskModel,
        completion,
        {"step_execution_id": execution_id, "status": str(TaskStatus.PENDING)},
    )
    statements.update(
        using,
        StepExecutionModel,
        {
            "status": str(StepStatus.SUCCEEDED),
            "output_data": data,
            "completed_by": user_id,
            "completed_at": now,
        },
        {"id": execution_id},
    )
    if not event:
        return []
    if found is None:
        return []  # a webhook step: no task
    payload = {
        "instance_id": instance_id,
        "task_id": found[0],
        "step_name": step_name,
        "completed_by": user_id,
        "data": data,
    }
    return [("task.completed", payload)]


def assign(
    using: str,
    task: HumanTaskModel,
    action: str,
    assignee_id: str | None,
    assignee_group: str | None,
    by: str | None,
    reason: str | None = None,
) -> list[semantics.Event]:
    """Give a locked, pending task to ``assignee_id`` and ``assignee_group``; record who
    did it (``action`` in the task's activity) and return the ``task.<action>`` event."""
    change = {
        "instance_id": task.instance_id,
        "task_id": task.pk,
        "step_name": task.step_name,
        "from_assignee": task.assignee_id,
        "to_assignee": assignee_id,
        "from_group": task.assignee_group,
        "to_group": assignee_group,
    }
    entry = {"action": action, "at": semantics.utcnow().isoformat(), "by": by}
    entry.update({key: change[key] for key in _ACTIVITY_KEYS})
    if reason is not None:
        entry["reason"] = reason
    task.assignee_id, task.assignee_group = assignee_id, assignee_group
    task.activity = [*task.activity, entry]
    changes = {
        "assignee_id": assignee_id,
        "assignee_group": assignee_group,
        "activity": task.activity,
    }
    statements.update(using, HumanTaskModel, changes, {"id": task.pk})
    statements.update(
        using, StepExecutionModel, {"assigned_to": assignee_id}, {"id": task.step_execution_id}
    )
    if action == "reassigned":
        return [(f"task.{action}", {**change, "reassigned_by": by, "reason": reason})]
    return [(f"task.{action}", {**change, f"{action}_by": by})]


def reassign(
    using: str,
    task: HumanTaskModel,
    assignee_id: str | None,
    assignee_group: str | None,
    reason: str | None,
    reassigned_by: str | None,
) -> list[semantics.Event]:
    """Write a pending task's new assignment; return the ``task.reassigned`` event.

    ``None`` leaves the assignee (or the group) as it is.
    """
    return assign(
        using,
        task,
        "reassigned",
        task.assignee_id if assignee_id is None else assignee_id,
        task.assignee_group if assignee_group is None else assignee_group,
        reassigned_by,
        reason,
    )


def hold(using: str, instance_id: UUID) -> None:
    """The pending tasks of a failed instance go on hold (nobody can complete them until
    the instance is retried)."""
    _move(using, instance_id, TaskStatus.PENDING, TaskStatus.ON_HOLD)


def unhold(using: str, instance_id: UUID) -> None:
    """The tasks on hold of a retried instance are pending again."""
    _move(using, instance_id, TaskStatus.ON_HOLD, TaskStatus.PENDING)


def cancel_pending(using: str, instance_id: UUID) -> None:
    """Cancel the open tasks (pending or on hold) and waiting executions of a canceled
    instance."""
    now = semantics.utcnow()
    _move(using, instance_id, TaskStatus.PENDING, TaskStatus.CANCELED)
    _move(using, instance_id, TaskStatus.ON_HOLD, TaskStatus.CANCELED)
    StepExecutionModel.objects.using(using).filter(
        instance_id=instance_id, status=StepStatus.WAITING
    ).update(status=StepStatus.CANCELED, completed_at=now, updated_at=now)


def send_back(using: str, task: HumanTaskModel, to_step: str, reason: str, by: str | None) -> None:
    """Cancel the locked, pending ``task`` sent back to ``to_step`` with ``reason`` (in its
    activity), and its waiting execution."""
    now = semantics.utcnow()
    entry = {"action": "canceled", "at": now.isoformat(), "by": by}
    entry.update({"to_step": to_step, "reason": f"sent back to '{to_step}': {reason}"})
    task.status, task.activity = TaskStatus.CANCELED, [*task.activity, entry]
    changes = {"status": str(TaskStatus.CANCELED), "activity": task.activity}
    statements.update(using, HumanTaskModel, changes, {"id": task.pk})
    StepExecutionModel.objects.using(using).filter(
        pk=task.step_execution_id, status=StepStatus.WAITING
    ).update(
        status=StepStatus.CANCELED,
        error=entry["reason"],
        completed_at=now,
        updated_at=now,
    )


# Fields of a task that come from its step, re-read when it moves to another version's step.
_FROM_STEP = ("title", "description", "form_schema", "priority")
_ASSIGNMENT = ("assignee_id", "assignee_group")


def move_task(using: str, task: HumanTaskModel, to_step: str, fields: dict[str, Any]) -> None:
    """An open task (pending or on hold) goes to ``to_step`` of another version, with that
    step's texts, form and assignment (``fields``, as the step gives them for the
    instance). A task that a person claimed or reassigned keeps its assignment and texts;
    due dates are kept. Its waiting execution is the caller's to rename."""
    changes: dict[str, Any] = {"step_name": to_step}
    if fields and not task.activity:  # nobody claimed, released or reassigned it
        changes.update({key: fields[key] for key in (*_FROM_STEP, *_ASSIGNMENT)})
        changes["title"] = str(changes["title"])[:500]
    statements.update(using, HumanTaskModel, changes, {"id": task.pk})
    if changes.get("assignee_id", task.assignee_id) != task.assignee_id:
        statements.update(
            using,
            StepExecutionModel,
            {"assigned_to": changes["assignee_id"]},
            {"id": task.step_execution_id},
        )


def _move(using: str, instance_id: UUID, before: TaskStatus, after: TaskStatus) -> None:
    HumanTaskModel.objects.using(using).filter(instance_id=instance_id, status=before).update(
        status=after, updated_at=semantics.utcnow()
    )
