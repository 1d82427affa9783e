"""Event dataclasses describing workflow lifecycle changes.

:data:`BY_EVENT` names the dataclass of each event the engines send (the names of
:data:`workflows_app.signals.BY_EVENT`). The engines send keyword arguments, not these
objects; the classes added with the events of suspension, send back, withdrawal,
migration, retries, timers, webhooks, messages and task deadlines have exactly those
arguments as fields, so ``cls(timestamp=..., **kwargs)`` builds one from what an event bus
receives (a buffered message has no instance: give ``instance_id=None``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

__all__ = [
    "BY_EVENT",
    "HumanTaskClaimed",
    "HumanTaskCommented",
    "HumanTaskCompleted",
    "HumanTaskCreated",
    "HumanTaskDelegated",
    "HumanTaskOverdue",
    "HumanTaskReassigned",
    "HumanTaskReleased",
    "HumanTaskReminder",
    "HumanTaskResolved",
    "MessageBuffered",
    "MessageDelivered",
    "MessageWaiting",
    "StepCompensated",
    "StepCompensationFailed",
    "StepCompleted",
    "StepEscalated",
    "StepFailed",
    "StepRetryScheduled",
    "StepSkipped",
    "StepStarted",
    "SubworkflowEnded",
    "SubworkflowStarted",
    "SubworkflowWaiting",
    "TimerStarted",
    "WebhookWaiting",
    "WorkflowCanceled",
    "WorkflowCompensating",
    "WorkflowCompensationRetried",
    "WorkflowCompleted",
    "WorkflowEvent",
    "WorkflowFailed",
    "WorkflowMigrated",
    "WorkflowPaused",
    "WorkflowResumed",
    "WorkflowRetried",
    "WorkflowSentBack",
    "WorkflowStarted",
    "WorkflowSuspended",
    "WorkflowWaiting",
    "WorkflowWithdrawn",
]


@dataclass
class WorkflowEvent:
    """The base of every event: which instance, and when."""

    instance_id: UUID
    timestamp: datetime


@dataclass
class WorkflowStarted(WorkflowEvent):
    workflow_name: str
    workflow_version: str
    initial_data: dict[str, Any] | None = None
    user_id: str | None = None
    tenant_id: str | None = None


@dataclass
class WorkflowCompleted(WorkflowEvent):
    status: str
    final_step: str | None = None
    duration_seconds: float | None = None


@dataclass
class WorkflowFailed(WorkflowEvent):
    error: str
    failed_step: str | None = None
    error_type: str | None = None
    stack_trace: str | None = None


@dataclass
class WorkflowCanceled(WorkflowEvent):
    reason: str
    canceled_by: str | None = None
    current_step: str | None = None


@dataclass
class WorkflowPaused(WorkflowEvent):
    reason: str | None = None
    paused_at_step: str | None = None


@dataclass
class WorkflowResumed(WorkflowEvent):
    resumed_by: str | None = None
    resuming_at_step: str | None = None


@dataclass
class StepStarted(WorkflowEvent):
    step_name: str
    step_type: str
    input_data: dict[str, Any] | None = None


@dataclass
class StepCompleted(WorkflowEvent):
    step_name: str
    status: str
    result: Any = None
    output_data: dict[str, Any] | None = None
    duration_seconds: float | None = None


@dataclass
class StepFailed(WorkflowEvent):
    step_name: str
    error: str
    error_type: str | None = None
    retry_count: int = 0


@dataclass
class StepSkipped(WorkflowEvent):
    step_name: str
    reason: str | None = None


@dataclass
class HumanTaskCreated(WorkflowEvent):
    step_name: str
    task_id: UUID
    assignee: str | None = None
    title: str | None = None
    description: str | None = None
    due_at: datetime | None = None


@dataclass
class HumanTaskCompleted(WorkflowEvent):
    step_name: str
    task_id: UUID
    completed_by: str
    form_data: dict[str, Any] | None = None
    comment: str | None = None


@dataclass
class HumanTaskReassigned(WorkflowEvent):
    step_name: str
    task_id: UUID
    from_assignee: str | None = None
    to_assignee: str | None = None
    reassigned_by: str | None = None
    reason: str | None = None


@dataclass
class HumanTaskDelegated(WorkflowEvent):
    """A task was delegated (``task.delegated``): ``delegate`` is its assignee now, and
    ``owner`` alone completes it."""

    step_name: str
    task_id: UUID
    owner: str
    delegate: str
    delegated_by: str | None = None


@dataclass
class HumanTaskResolved(WorkflowEvent):
    """The delegate answered a delegated task with a ``draft`` (``task.resolved``): the
    task is back with its ``owner``."""

    step_name: str
    task_id: UUID
    owner: str
    delegate: str
    draft: dict[str, Any] | None = None


@dataclass
class WorkflowWaiting(WorkflowEvent):
    """A branch reached a human step (``workflow.waiting``)."""

    step_name: str


@dataclass
class WorkflowRetried(WorkflowEvent):
    """A failed instance runs again (``workflow.retried``), from ``step_name``."""

    step_name: str


@dataclass
class WorkflowMigrated(WorkflowEvent):
    """The instance moved to another version of its workflow (``workflow.migrated``)."""

    workflow: str
    from_version: str
    to_version: str
    mapping: dict[str, str] = field(default_factory=dict)
    migrated_by: str | None = None


@dataclass
class WorkflowSuspended(WorkflowEvent):
    """The instance was suspended (``workflow.suspended``); ``workflow.resumed`` is
    :class:`WorkflowResumed`."""

    reason: str
    suspended_by: str | None = None


@dataclass
class WorkflowSentBack(WorkflowEvent):
    """A task was sent back to an earlier step for rework (``workflow.sent_back``)."""

    task_id: UUID
    from_step: str
    to_step: str
    reason: str
    sent_back_by: str | None = None


@dataclass
class WorkflowCompensating(WorkflowEvent):
    """The instance failed (``cause`` ``"failed"``) or was canceled (``"canceled"``) and its
    completed ``steps`` are undone, in this order (``workflow.compensating``)."""

    cause: str
    steps: list[str] = field(default_factory=list)


@dataclass
class WorkflowCompensationRetried(WorkflowEvent):
    """A failed compensation runs again (``workflow.compensation_retried``)."""


@dataclass
class StepCompensated(WorkflowEvent):
    """The compensation of ``step_name`` succeeded (``step.compensated``)."""

    step_name: str


@dataclass
class StepCompensationFailed(WorkflowEvent):
    """The compensation of ``step_name`` failed, its ``attempt``-th time
    (``step.compensation_failed``)."""

    step_name: str
    error: str | None = None
    attempt: int = 1


@dataclass
class WorkflowWithdrawn(WorkflowEvent):
    """The user who started the instance withdrew it (``workflow.withdrawn``, sent with
    ``workflow.canceled``)."""

    reason: str
    withdrawn_by: str


@dataclass
class StepRetryScheduled(WorkflowEvent):
    """A failed step runs again at ``due_at`` (``step.retry_scheduled``); ``attempt`` is
    the next attempt's number."""

    step_name: str
    attempt: int
    due_at: datetime | None = None


@dataclass
class StepEscalated(WorkflowEvent):
    """An overdue task's step followed its escalation edge to ``goto``
    (``step.escalated``)."""

    step_name: str
    goto: str


@dataclass
class TimerStarted(WorkflowEvent):
    """A timer step sleeps until ``due_at`` (``timer.started``)."""

    step_name: str
    due_at: datetime | None = None


@dataclass
class WebhookWaiting(WorkflowEvent):
    """A webhook step waits for its callback (``webhook.waiting``)."""

    step_name: str
    callback_token: str


@dataclass
class MessageWaiting(WorkflowEvent):
    """A message step waits for ``message_name`` with ``correlation_key``
    (``message.waiting``)."""

    step_name: str
    message_name: str
    correlation_key: Any = None


@dataclass
class MessageDelivered(WorkflowEvent):
    """The message ``name`` reached the instance's message step (``message.delivered``)."""

    step_name: str
    name: str
    correlation_key: Any = None
    message_id: str | None = None


@dataclass
class SubworkflowWaiting(WorkflowEvent):
    """The branch waits at its subworkflow step for the ``children`` it started
    (``subworkflow.waiting``)."""

    step_name: str
    children: list[Any] = field(default_factory=list)


@dataclass
class SubworkflowStarted(WorkflowEvent):
    """A child instance of the step started (``subworkflow.started``); ``index`` is its
    item's place for a ``for_each`` step (0 otherwise)."""

    step_name: str
    child_id: UUID
    index: int = 0


@dataclass
class SubworkflowEnded(WorkflowEvent):
    """A child of the step ended (``subworkflow.ended``) with ``status``; ``error`` when
    it did not complete."""

    step_name: str
    child_id: UUID
    status: str
    error: str | None = None


@dataclass
class MessageBuffered(WorkflowEvent):
    """Nobody waited for the message ``name``: it is kept until ``expires_at``
    (``message.buffered``). It concerns no instance: ``instance_id`` is None."""

    instance_id: UUID | None
    name: str
    correlation_key: Any = None
    message_id: str | None = None
    tenant_id: str | None = None
    expires_at: datetime | None = None


@dataclass
class HumanTaskReminder(WorkflowEvent):
    """A task's reminder came (``task.reminder``); ``recipients`` are the e-mails sent."""

    step_name: str
    task_id: UUID
    assignee_id: str | None = None
    assignee_group: str | None = None
    recipients: list[str] = field(default_factory=list)


@dataclass
class HumanTaskOverdue(WorkflowEvent):
    """A task passed its ``due_at`` (``task.overdue``)."""

    step_name: str
    task_id: UUID
    assignee_id: str | None = None
    assignee_group: str | None = None
    due_at: datetime | None = None


@dataclass
class HumanTaskClaimed(WorkflowEvent):
    """Someone took a task (``task.claimed``)."""

    step_name: str
    task_id: UUID
    from_assignee: str | None = None
    to_assignee: str | None = None
    from_group: str | None = None
    to_group: str | None = None
    claimed_by: str | None = None


@dataclass
class HumanTaskReleased(WorkflowEvent):
    """A claimed task went back to its group (``task.released``)."""

    step_name: str
    task_id: UUID
    from_assignee: str | None = None
    to_assignee: str | None = None
    from_group: str | None = None
    to_group: str | None = None
    released_by: str | None = None


@dataclass
class HumanTaskCommented(WorkflowEvent):
    """A comment was posted on a task, or (``edited``) its author changed its text
    (``task.commented``)."""

    task_id: UUID
    comment_id: UUID
    author: str
    edited: bool = False


BY_EVENT: dict[str, type[WorkflowEvent]] = {
    "workflow.started": WorkflowStarted,
    "workflow.waiting": WorkflowWaiting,
    "workflow.completed": WorkflowCompleted,
    "workflow.failed": WorkflowFailed,
    "workflow.canceled": WorkflowCanceled,
    "workflow.retried": WorkflowRetried,
    "workflow.migrated": WorkflowMigrated,
    "workflow.suspended": WorkflowSuspended,
    "workflow.resumed": WorkflowResumed,
    "workflow.sent_back": WorkflowSentBack,
    "workflow.withdrawn": WorkflowWithdrawn,
    "workflow.compensating": WorkflowCompensating,
    "workflow.compensation_retried": WorkflowCompensationRetried,
    "step.compensated": StepCompensated,
    "step.compensation_failed": StepCompensationFailed,
    "step.started": StepStarted,
    "step.completed": StepCompleted,
    "step.failed": StepFailed,
    "step.skipped": StepSkipped,
    "step.retry_scheduled": StepRetryScheduled,
    "timer.started": TimerStarted,
    "webhook.waiting": WebhookWaiting,
    "message.waiting": MessageWaiting,
    "message.delivered": MessageDelivered,
    "message.buffered": MessageBuffered,
    "subworkflow.waiting": SubworkflowWaiting,
    "subworkflow.started": SubworkflowStarted,
    "subworkflow.ended": SubworkflowEnded,
    "task.created": HumanTaskCreated,
    "task.completed": HumanTaskCompleted,
    "task.reminder": HumanTaskReminder,
    "task.overdue": HumanTaskOverdue,
    "task.reassigned": HumanTaskReassigned,
    "task.claimed": HumanTaskClaimed,
    "task.released": HumanTaskReleased,
    "task.commented": HumanTaskCommented,
    "task.delegated": HumanTaskDelegated,
    "task.resolved": HumanTaskResolved,
    "step.escalated": StepEscalated,
}
"""The dataclass of each event name the engines send (the names of the signals'
``BY_EVENT``)."""
