"""Suspension: an operator holds a running or waiting instance, and resumes it later.

While an instance is ``suspended`` nothing of it runs (its ``wake_at`` is cleared, so
workers skip it), its tasks are on hold, and completing, claiming or releasing one is
refused. A webhook callback that arrives meanwhile is **buffered**: its payload is kept,
in arrival order, in the instance's ``metadata["buffered_callbacks"]`` (its token counts
as used, so a repeat is refused), and applied when the instance is resumed, in the
resume's transaction, before the resume's drive runs on. Cancelling a suspended instance
discards the buffer.

The buffer lives in the instance row (rather than a table of its own) because it is read
and written only under that row's lock, by the calls that suspend, resume, buffer and
cancel, and it is small: one entry per webhook step waiting when the instance was
suspended.

Each suspension and resumption is appended to ``metadata["suspensions"]`` (who, when,
and why).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from workflows_app.core.exceptions import WorkflowStateError
from workflows_app.core.models import WorkflowInstanceData
from workflows_app.core.types import StepStatus
from workflows_app.engine import leases, semantics, subworkflows, task_actions
from workflows_app.engine.drive import Drive
from workflows_app.engine.effects import Effects
from workflows_app.engine.store import Store, Transition, audit, set_metadata
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

__all__ = [
    "AUDIT",
    "BUFFER",
    "MAX_REASON",
    "SUSPENDABLE",
    "check_reason",
    "discard_buffer",
    "keep_callback",
    "resume",
    "suspend",
]

AUDIT = semantics.SUSPENSION_AUDIT
"""The metadata key of the suspensions' and resumptions' record."""

BUFFER = semantics.CALLBACK_BUFFER
"""The metadata key of the webhook callbacks received while suspended, oldest first."""

SUSPENDABLE = semantics.SUSPENDABLE
"""The statuses an instance can be suspended in."""

MAX_REASON = semantics.MAX_SUSPENSION_REASON
"""The longest reason a suspension may give, in characters."""

check_reason = semantics.check_suspension_reason


def suspend(
    store: Store, effects: Effects, instance_id: UUID, reason: str, by: str | None
) -> WorkflowInstanceData:
    """Hold a running or waiting instance; raise WorkflowStateError when it is neither, or
    when a drive runs a step of it right now (a live lease); WorkflowValidationError for a
    ``reason`` that :func:`check_reason` refuses."""
    reason = check_reason(reason)

    def apply(row: WorkflowInstanceModel, t: Transition) -> None:
        if leases.is_live(row, semantics.utcnow()):
            raise semantics.step_in_flight(row.pk)
        t.events = semantics.suspend(t.state, reason, by)
        task_actions.hold(store.using, row.pk)
        _audit(row, t, "suspended", by, reason)

    return store.transition(instance_id, apply, effects.committing).state


def resume(
    store: Store, effects: Effects, drive: Drive, instance_id: UUID, by: str | None
) -> WorkflowInstanceData:
    """Resume a suspended instance: its tasks are pending again, the webhook callbacks
    buffered meanwhile are applied in the order they arrived, and what fell due runs."""
    definition = store.definition_of(store.row(instance_id))

    def apply(row: WorkflowInstanceModel, t: Transition) -> None:
        t.events = semantics.lift_suspension(t.state, definition, by)
        task_actions.unhold(store.using, row.pk)
        buffered = row.metadata.get(BUFFER, [])
        _audit(row, t, "resumed", by, None, applied=len(buffered))
        for entry in buffered:
            t.events += _apply_callback(store.using, row, t, definition, entry)
        t.events += subworkflows.apply_buffered(effects.engine, row, t, definition)
        t.lease = leases.take(row, t.state, definition, t.events)

    t = store.transition(instance_id, apply, effects.committing)
    return drive.run_on(instance_id, definition, t.state, t.lease, t.version)


def keep_callback(
    using: str,
    row: WorkflowInstanceModel,
    t: Transition,
    execution_id: UUID,
    step_name: str,
    payload: Any,
) -> None:
    """Keep the callback ``payload`` of the webhook execution ``execution_id`` of the
    locked, suspended instance ``row`` to apply on resume: part of transition ``t``.

    The caller completing a webhook does this, in its locked transition, whenever it
    finds the instance suspended there (also when the suspension came after the caller
    first read the instance as waiting). A second callback for the same execution, or
    one for an execution that no longer waits, raises WorkflowStateError, as a callback
    for a step that no longer waits does."""
    waits = (
        StepExecutionModel.objects.using(using)
        .filter(pk=execution_id, instance_id=row.pk, status=StepStatus.WAITING)
        .exists()
    )
    if not waits:
        raise WorkflowStateError(f"The webhook step '{step_name}' is no longer waiting")
    buffered = semantics.buffer_callback(
        row.metadata.get(BUFFER, []), str(execution_id), step_name, payload
    )
    set_metadata(row, t, {**row.metadata, BUFFER: buffered})


def discard_buffer(row: WorkflowInstanceModel, t: Transition) -> None:
    """Drop the callbacks buffered for ``row`` (it is canceled): part of transition ``t``."""
    if BUFFER in row.metadata:
        set_metadata(row, t, {k: v for k, v in row.metadata.items() if k != BUFFER})


def _apply_callback(
    using: str,
    row: WorkflowInstanceModel,
    t: Transition,
    definition: Any,
    entry: dict[str, Any],
) -> list[semantics.Event]:
    """Complete the webhook execution an ``entry`` of the buffer names with its payload.

    The execution is found by id (a migration may have renamed its step); one that no
    longer waits (it cannot, but an instance moved to a version without the step loses
    it) is skipped and recorded in the audit entry of the resume."""
    execution = (
        StepExecutionModel.objects.using(using)
        .filter(pk=entry["execution_id"], instance_id=row.pk, status=StepStatus.WAITING)
        .values_list("step_name", "token_id")
        .first()
    )
    step = None if execution is None else definition.steps.get(execution[0])
    if step is None or semantics.waiting_token(t.state, execution[0]).id != execution[1]:
        audit = row.metadata[AUDIT]
        audit[-1] = {**audit[-1], "skipped": [*audit[-1].get("skipped", []), entry["step_name"]]}
        return []
    step_name = execution[0]
    data = {step.callback_key: entry["payload"]}
    events = semantics.resume(t.state, definition, step_name, None, data)
    execution_id = UUID(entry["execution_id"])
    task_actions.complete(using, row.pk, execution_id, step_name, None, data, event=False)
    return events


def _audit(
    row: WorkflowInstanceModel,
    t: Transition,
    action: str,
    by: str | None,
    reason: str | None,
    applied: int = 0,
) -> None:
    """Append who suspended or resumed the instance, when and why to its metadata (and,
    for a resume, how many buffered callbacks it applied); a resume empties the buffer."""
    entry = semantics.suspension_entry(action, by, reason, applied)
    if action == "resumed" and BUFFER in row.metadata:
        set_metadata(row, t, {k: v for k, v in row.metadata.items() if k != BUFFER})
    audit(row, t, AUDIT, entry)
