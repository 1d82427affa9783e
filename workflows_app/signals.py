"""Django signals for every change of a persistent workflow instance.

Each is sent after the transaction that made the change commits (never for a
change that rolled back), with ``send_robust``: a receiver that raises is logged
and does not disturb the others. ``sender`` is the engine class; every signal
carries ``event`` (its event-bus name) and ``instance_id``, plus the keyword
arguments listed with it.
"""

from __future__ import annotations

from django.dispatch import Signal

# instance_id
workflow_started = Signal()
# instance_id, step_name (the human step reached)
workflow_waiting = Signal()
# instance_id, status
workflow_completed = Signal()
# instance_id, status
workflow_failed = Signal()
# instance_id, reason
workflow_canceled = Signal()
# instance_id, step_name (where it runs again)
workflow_retried = Signal()
# instance_id, workflow, from_version, to_version, mapping, migrated_by
workflow_migrated = Signal()
# instance_id, reason, suspended_by
workflow_suspended = Signal()
# instance_id, resumed_by
workflow_resumed = Signal()
# instance_id, task_id, from_step, to_step, reason, sent_back_by
workflow_sent_back = Signal()
# instance_id, reason, withdrawn_by
workflow_withdrawn = Signal()

# instance_id, cause ("failed" or "canceled"), steps (to undo, in order)
workflow_compensating = Signal()
# instance_id (a failed compensation runs again)
workflow_compensation_retried = Signal()
# instance_id, step_name (its compensation succeeded)
step_compensated = Signal()
# instance_id, step_name, error, attempt (its compensation failed)
step_compensation_failed = Signal()

# instance_id, step_name, step_type
step_started = Signal()
# instance_id, step_name, result
step_completed = Signal()
# instance_id, step_name, error, attempt
step_failed = Signal()
# instance_id, step_name
step_skipped = Signal()
# instance_id, step_name, attempt (the next one), due_at
step_retry_scheduled = Signal()
# instance_id, step_name, due_at
timer_started = Signal()

# instance_id, step_name, callback_token (to hand to the outside system)
webhook_waiting = Signal()
# instance_id, step_name, message_name, correlation_key (a branch waits at a message step)
message_waiting = Signal()
# instance_id, step_name, name, correlation_key, message_id (a message was delivered)
message_delivered = Signal()
# name, correlation_key, message_id, tenant_id, expires_at (nobody waited: kept for its ttl)
message_buffered = Signal()
# instance_id, step_name, children (the ids of the child instances it waits for)
subworkflow_waiting = Signal()
# instance_id, step_name, child_id, index (a child instance of the step started)
subworkflow_started = Signal()
# instance_id, step_name, child_id, status, error (a child ended; the parent moves on or fails)
subworkflow_ended = Signal()

# instance_id, task_id, step_name, assignee_id, assignee_group, due_at
task_created = Signal()
# instance_id, task_id, step_name, completed_by, data
task_completed = Signal()
# instance_id, task_id, step_name, assignee_id, assignee_group, recipients (e-mail addresses)
task_reminder = Signal()
# instance_id, task_id, step_name, due_at
task_overdue = Signal()
# instance_id, task_id, step_name, from_assignee, to_assignee, from_group, to_group,
# reassigned_by, reason
task_reassigned = Signal()
# instance_id, task_id, step_name, from_assignee, to_assignee, from_group, to_group, claimed_by
task_claimed = Signal()
# instance_id, task_id, step_name, from_assignee, to_assignee, from_group, to_group, released_by
task_released = Signal()
# instance_id, task_id, step_name, owner, delegate, delegated_by (the delegate is the assignee)
task_delegated = Signal()
# instance_id, task_id, step_name, owner, delegate, draft (the task is back with its owner)
task_resolved = Signal()
# instance_id, step_name, goto (an overdue task's step given up for an escalation edge)
step_escalated = Signal()
# instance_id, task_id, comment_id, author, edited (False: posted; True: its text changed)
task_commented = Signal()

BY_EVENT: dict[str, Signal] = {
    "workflow.started": workflow_started,
    "workflow.waiting": workflow_waiting,
    "workflow.completed": workflow_completed,
    "workflow.failed": workflow_failed,
    "workflow.canceled": workflow_canceled,
    "workflow.retried": workflow_retried,
    "workflow.migrated": workflow_migrated,
    "workflow.suspended": workflow_suspended,
    "workflow.resumed": workflow_resumed,
    "workflow.sent_back": workflow_sent_back,
    "workflow.withdrawn": workflow_withdrawn,
    "workflow.compensating": workflow_compensating,
    "workflow.compensation_retried": workflow_compensation_retried,
    "step.compensated": step_compensated,
    "step.compensation_failed": step_compensation_failed,
    "step.started": step_started,
    "step.completed": step_completed,
    "step.failed": step_failed,
    "step.skipped": step_skipped,
    "step.retry_scheduled": step_retry_scheduled,
    "timer.started": timer_started,
    "webhook.waiting": webhook_waiting,
    "message.waiting": message_waiting,
    "message.delivered": message_delivered,
    "message.buffered": message_buffered,
    "subworkflow.waiting": subworkflow_waiting,
    "subworkflow.started": subworkflow_started,
    "subworkflow.ended": subworkflow_ended,
    "task.created": task_created,
    "task.completed": task_completed,
    "task.commented": task_commented,
    "task.reminder": task_reminder,
    "task.overdue": task_overdue,
    "task.reassigned": task_reassigned,
    "task.claimed": task_claimed,
    "task.released": task_released,
    "task.delegated": task_delegated,
    "task.resolved": task_resolved,
    "step.escalated": step_escalated,
}
"""The signal sent for each event name of the event bus."""
