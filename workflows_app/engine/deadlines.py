"""Human task deadlines: reminders, overdue tasks and escalation, run by the workers.

Each is done once per task: a task is claimed with ``SELECT ... FOR UPDATE SKIP
LOCKED`` and marked (``reminded_at``, ``overdue_at``) in the same transaction
that records the event, so two workers never remind or escalate it twice.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from workflows_app import conf
from workflows_app.core.exceptions import WorkflowNotFoundError, WorkflowStateError
from workflows_app.core.types import StepStatus, TaskStatus
from workflows_app.engine import multi_instance, semantics, statements, task_actions, task_mail
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

__all__ = ["mark_overdue", "send_reminders"]

logger = logging.getLogger(__name__)


def send_reminders(engine: Any, now: Any, limit: int = 100) -> int:
    """Remind the people of every pending task whose ``reminder_at`` has come."""
    with transaction.atomic(using=engine.using):
        tasks = list(
            HumanTaskModel.objects.using(engine.using)
            .filter(status=TaskStatus.PENDING, reminder_at__lte=now, reminded_at__isnull=True)
            .select_for_update(skip_locked=True)
            .order_by("reminder_at")[:limit]
        )
        if not tasks:
            return 0
        HumanTaskModel.objects.using(engine.using).filter(pk__in=[t.pk for t in tasks]).update(
            reminded_at=now
        )
        events = []
        for task in tasks:
            people = task_mail.recipients(task) if conf.get_settings().REMINDER_EMAILS else []
            if people:
                transaction.on_commit(
                    lambda task=task, people=people: task_mail.send_reminder(task, people),
                    using=engine.using,
                    robust=True,
                )
            recipients = sorted({email for _, email in people})
            events.append(("task.reminder", {**_about(task), "recipients": recipients}))
        engine.effects.send_after_commit(events)
    return len(tasks)


def mark_overdue(engine: Any, now: Any, limit: int = 100) -> int:
    """Mark every pending task past its ``due_at`` overdue, and apply its step's escalation.

    A task whose escalation follows an edge is marked in the same transition that moves
    its instance (taken with the instance locked first, the order every transition uses),
    so that a failure leaves it due for the next pass; the others are marked together.
    """
    escalations = []
    with transaction.atomic(using=engine.using):
        tasks = list(
            HumanTaskModel.objects.using(engine.using)
            .filter(status=TaskStatus.PENDING, due_at__lte=now, overdue_at__isnull=True)
            .select_for_update(skip_locked=True)
            .order_by("due_at")[:limit]
        )
        if not tasks:
            return 0
        # Their instances are read, not locked (a join would lock them too).
        instances = WorkflowInstanceModel.objects.using(engine.using).in_bulk(
            {task.instance_id for task in tasks}
        )
        marked = []
        events: list[semantics.Event] = []
        for task in tasks:
            task.instance = instances[task.instance_id]
            escalation = _escalation(engine, task)
            if escalation is not None and escalation.goto is not None:
                escalations.append((task, escalation.goto))
                continue
            marked.append(task.pk)
            events.append(("task.overdue", {**_about(task), "due_at": task.due_at}))
            if escalation is not None:
                events.extend(
                    task_actions.reassign(
                        engine.using,
                        task,
                        escalation.assignee_id,
                        escalation.assignee_group,
                        reason="overdue",
                        reassigned_by=None,
                    )
                )
        HumanTaskModel.objects.using(engine.using).filter(pk__in=marked).update(overdue_at=now)
        engine.effects.send_after_commit(events)
    for task, goto in escalations:
        try:
            _escalate(engine, task, goto, now)
        except Exception:
            logger.exception("escalation of task %s failed; the next pass tries again", task.pk)
    return len(tasks)


def _escalate(engine: Any, task: HumanTaskModel, goto: str, now: Any) -> None:
    definition = engine.store.definition_of(task.instance)

    def apply(row: Any, t: Any) -> None:
        fresh = HumanTaskModel.objects.using(engine.using).filter(
            pk=task.pk, status=TaskStatus.PENDING, overdue_at__isnull=True
        )
        if not fresh.select_for_update().exists():
            t.changed = False  # completed, canceled or escalated meanwhile
            return
        t.events = [("task.overdue", {**_about(task), "due_at": task.due_at})]
        t.events += semantics.escalate(t.state, definition, task.step_name, goto)
        fresh.update(status=TaskStatus.CANCELED, overdue_at=now)
        why = f"another task of the step was overdue and escalated to '{goto}'"
        multi_instance.cancel_siblings(engine.using, task, why)
        statements.update(
            engine.using,
            StepExecutionModel,
            {"status": str(StepStatus.CANCELED), "completed_at": semantics.utcnow()},
            {"id": task.step_execution_id},
        )

    try:
        # The commit hands the instance off (to a worker) as it does after every change.
        engine.store.transition(task.instance_id, apply, engine.effects.committing)
    except WorkflowStateError as exc:  # the step no longer waits (or the instance finished)
        logger.info("escalation of task %s skipped: %s", task.pk, exc)
        HumanTaskModel.objects.using(engine.using).filter(
            pk=task.pk, overdue_at__isnull=True
        ).update(overdue_at=now)
        return


def _escalation(engine: Any, task: HumanTaskModel) -> Any:
    try:
        definition = engine.store.definition_of(task.instance)
    except WorkflowNotFoundError:
        return None
    return getattr(definition.steps.get(task.step_name), "escalation", None)


def _about(task: HumanTaskModel) -> dict[str, Any]:
    return {
        "instance_id": task.instance_id,
        "task_id": task.pk,
        "step_name": task.step_name,
        "assignee_id": task.assignee_id,
        "assignee_group": task.assignee_group,
    }
