"""Compensation (sagas) in both engines: undoing the completed steps of an instance that
failed, or that was canceled with ``compensate=True``.

Which steps, in which order and by what code is :mod:`workflows_app.core.compensation`.
How it runs:

- **Status.** While its compensations run the instance stays ``running`` (a drive, inline
  or a worker, runs them under its lease like any step: they are committed like steps
  and, like steps, run again only if a drive died before committing); its
  ``metadata["compensation"]["status"]`` is ``"running"``. The last compensation ends it
  ``failed`` (cause: a step failed) or ``canceled`` (cause: a cancel), with
  ``metadata["compensation"]["status"] = "completed"``. No other status is added.
- **Branches.** Compensating drops every branch of the instance (the failed one, and the
  others: their tasks go on hold when it ends failed, or are canceled at once by the
  cancel) and runs one *compensation branch* (a token with ``compensation=True``) per
  step to undo, one after the other.
- **Records.** Each run is a step execution of ``step_type`` ``"compensation"`` (history
  ``kind`` ``"compensation"``), named after the step it undoes, with its attempt.
- **Failure.** A compensation that fails after its retries ends the instance ``failed``
  with both errors (the step's and the compensation's), compensation status
  ``"failed"``; ``retry`` (or :func:`retry`) runs that compensation again and then the
  rest. An instance whose compensation completed cannot be retried.
- A step failure starts compensation when the instance has completed steps to undo;
  failures outside a step's code (a drive that kept dying, routing errors) do not.
"""

from __future__ import annotations

import uuid
from typing import Any

from workflows_app.core import compensation as rules
from workflows_app.core import metadata as metadata_keys
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import WorkflowStateError
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.core.types import StepStatus, WorkflowStatus
from workflows_app.engine import semantics

__all__ = ["advance", "cancel", "is_compensating", "record_of", "retry", "undo_completed"]

KEY = metadata_keys.COMPENSATION
BY_PARENT = "by_parent"
"""In a compensation record: the instance is a child undone because its parent was."""
Status = rules.CompensationStatus


def record_of(instance: WorkflowInstanceData) -> dict[str, Any] | None:
    """Return the instance's compensation record (``metadata["compensation"]``), or None."""
    return instance.context.metadata.get(KEY)


def is_compensating(instance: WorkflowInstanceData) -> bool:
    """Whether the instance's compensations are running."""
    record = record_of(instance)
    return record is not None and record["status"] == Status.RUNNING


def advance(
    instance: WorkflowInstanceData,
    definition: WorkflowDefinition,
    token: Token,
    outcome: semantics.Outcome,
) -> list[semantics.Event]:
    """Record ``outcome`` of ``token`` (a step or a compensation) and move on: like
    :func:`.semantics.advance`, and a step failure that fails the instance starts its
    compensation."""
    if token.compensation:
        return _advance_compensation(instance, definition, token, outcome)
    events = semantics.advance(instance, definition, token, outcome)
    if instance.status == WorkflowStatus.FAILED and outcome.status == StepStatus.FAILED:
        started = _start(instance, definition, "failed", instance.error, token.id)
        if started is not None:
            # The failure is not the end yet: its event waits for the compensation's end.
            events = [e for e in events if e[0] != "workflow.failed"] + started
    return events


def cancel(
    instance: WorkflowInstanceData, definition: WorkflowDefinition, reason: str
) -> list[semantics.Event]:
    """Cancel the instance and undo its completed steps; a plain cancel when there is
    nothing to undo (see :func:`.semantics.cancel`)."""
    semantics.ensure_not_finished(instance)
    if is_compensating(instance):
        raise WorkflowStateError(f"Instance {instance.id} is being compensated already")
    if not rules.plan(instance.context.step_history, definition):
        return semantics.cancel(instance, reason)
    events = semantics.cancel(instance, reason)  # records the waits as canceled
    seed = uuid.uuid5(uuid.NAMESPACE_OID, f"{instance.id}/cancel").hex
    started = _start(instance, definition, "canceled", instance.error, seed)
    assert started is not None
    return [e for e in events if e[0] != "workflow.canceled"] + started


def undo_completed(
    instance: WorkflowInstanceData, definition: WorkflowDefinition, reason: str
) -> list[semantics.Event] | None:
    """Start undoing the completed steps of a *completed* instance (a child whose parent
    is compensated, see :mod:`.child_compensation`): it ends ``canceled`` with
    ``Canceled: <reason>`` once they are undone; its record says ``by_parent``. None
    (and the instance unchanged): it has nothing to undo."""
    if instance.status != WorkflowStatus.COMPLETED:
        raise WorkflowStateError(f"Instance {instance.id} has not completed: nothing to undo")
    seed = uuid.uuid5(uuid.NAMESPACE_OID, f"{instance.id}/undo").hex
    started = _start(instance, definition, "canceled", f"Canceled: {reason}", seed)
    if started is not None:
        record = {**(record_of(instance) or {}), BY_PARENT: True}
        instance.context.metadata = {**instance.context.metadata, KEY: record}
    return started


def retry(
    instance: WorkflowInstanceData, definition: WorkflowDefinition, from_step: str | None = None
) -> list[semantics.Event]:
    """Retry a failed instance: its failed compensation if it has one (then the rest of
    them), else as :func:`.semantics.retry`; refused once its compensation completed."""
    record = record_of(instance)
    if record is None or instance.status != WorkflowStatus.FAILED:
        return semantics.retry(instance, definition, from_step)
    if record["status"] == Status.COMPLETED:
        raise WorkflowStateError(
            f"Instance {instance.id} was compensated (its completed steps were undone): "
            "it cannot be retried; start a new instance"
        )
    if from_step is not None:
        raise WorkflowStateError(
            f"Instance {instance.id} failed while compensating: retry its compensation "
            "(without from_step)"
        )
    record = {**record, "status": Status.RUNNING}
    instance.context.metadata = {**instance.context.metadata, KEY: record}
    events = semantics.retry(instance, definition)
    return [*events, ("workflow.compensation_retried", {"instance_id": instance.id})]


def _start(
    instance: WorkflowInstanceData,
    definition: WorkflowDefinition,
    cause: str,
    error: str | None,
    seed: str,
) -> list[semantics.Event] | None:
    """Start undoing the instance's completed steps (None: there are none)."""
    steps = rules.plan(instance.context.step_history, definition)
    if not steps:
        return None
    record = rules.record(cause, error, steps)
    instance.context.metadata = {**instance.context.metadata, KEY: record}
    instance.tokens = [_token(seed, steps[0], 0)]
    instance.status = WorkflowStatus.RUNNING
    instance.error = None
    instance.completed_at = None
    instance.current_step = steps[0]
    instance.context.current_step = steps[0]
    payload = {"instance_id": instance.id, "cause": cause, "steps": list(steps)}
    return [("workflow.compensating", payload)]


def _token(seed: str, step: str, index: int) -> Token:
    """The compensation branch undoing ``step``, the ``index``-th to undo; its id is
    derived (so that replaying a batch yields the same one)."""
    token_id = uuid.uuid5(uuid.NAMESPACE_OID, f"{seed}/compensate/{index}/{step}").hex
    return Token(step, id=token_id, compensation=True)


def _advance_compensation(
    instance: WorkflowInstanceData,
    definition: WorkflowDefinition,
    token: Token,
    outcome: semantics.Outcome,
) -> list[semantics.Event]:
    record = dict(record_of(instance) or rules.record("failed", instance.error, [token.step]))
    instance.context.step_history.append(semantics.executed(token, outcome, rules.COMPENSATION))
    base = {"instance_id": instance.id, "step_name": token.step}
    if outcome.status == StepStatus.FAILED:
        event = (
            "step.compensation_failed",
            {**base, "error": outcome.error, "attempt": token.attempt},
        )
        policy = rules.retry_policy(definition.steps.get(token.step))
        if policy is not None and policy.should_retry(token.attempt, outcome.exception):
            token.state = semantics.SCHEDULED
            token.due_at = outcome.completed_at + policy.delay(token.attempt)
            token.attempt += 1
            return [event]
        errors = [*record["errors"], {"step": token.step, "error": outcome.error}]
        record.update(status=Status.FAILED, errors=errors)
        instance.context.metadata = {**instance.context.metadata, KEY: record}
        error = f"{record['error']}; compensating '{token.step}' failed: {outcome.error}"
        events = semantics.fail_branch(instance, token, error)
        return [event, *events]
    pending = list(record["pending"])
    if pending and pending[0] == token.step:
        pending.pop(0)
    record.update(pending=pending, done=[*record["done"], token.step])
    instance.tokens.remove(token)
    events: list[semantics.Event] = [("step.compensated", base)]
    if pending:
        instance.context.metadata = {**instance.context.metadata, KEY: record}
        seed = token.id
        instance.tokens.append(_token(seed, pending[0], len(record["done"])))
        instance.current_step = pending[0]
        instance.context.current_step = pending[0]
        return events
    record["status"] = Status.COMPLETED
    instance.context.metadata = {**instance.context.metadata, KEY: record}
    instance.completed_at = semantics.utcnow()
    instance.error = record["error"]
    payload = {"instance_id": instance.id}
    if record["cause"] == "canceled":
        instance.status = WorkflowStatus.CANCELED
        reason = (record["error"] or "").removeprefix("Canceled: ")
        return [*events, ("workflow.canceled", {**payload, "reason": reason})]
    instance.status = WorkflowStatus.FAILED
    return [*events, ("workflow.failed", {**payload, "status": instance.status})]
