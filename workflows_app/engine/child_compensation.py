"""Compensating a subworkflow step (declared with ``compensate=True``) by compensating its
children, in the persistent engine.

When the parent's compensation reaches such a step, its compensation (a step execution of
type compensation of the parent, run by the parent's drive under its lease, like any
compensation) undoes the children that the step started and that completed, newest
first, one at a time, each in this thread:

- a completed child starts its own compensation (:func:`.compensation.undo_completed`:
  its completed steps are undone in reverse order, each recorded on the child) and is
  driven here to its end, whatever the execution mode: it ends ``canceled`` ("Canceled:
  its parent ... was compensated"); a child with nothing to undo stays ``completed``;
- a child whose compensation failed (status ``failed``) has its compensation retried;
- a child whose compensation is still running (a drive died) is taken over once its
  lease lapsed.

The parent's compensation fails when a child's compensation failed (with the child's
error), so that the parent's compensation retry policy, or an operator's retry of the
parent, tries it again; children already undone are not undone twice. Children of
earlier attempts of the step (failed or canceled) and children that did not complete are
left alone. The in-memory engine does not run subworkflows, so it has nothing to undo.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from workflows_app.core import compensation as rules
from workflows_app.core.context import WorkflowContext
from workflows_app.core.steps import BaseMachineStep
from workflows_app.core.types import WorkflowStatus
from workflows_app.engine import compensation, leases, runner, semantics
from workflows_app.engine.store import Transition
from workflows_app.models import WorkflowInstanceModel

__all__ = ["ChildCompensationError", "UndoChildren", "run", "undo"]


class ChildCompensationError(Exception):
    """A child's compensation failed, or still runs elsewhere: the parent's compensation
    of the subworkflow step fails with it."""


def run(step: Any, context: WorkflowContext, engine: Any) -> semantics.Outcome:
    """Run the compensation of ``step`` against the parent's ``context``: the children's
    (see the module's docstring) for a subworkflow step that undoes them, else the step's
    own (:func:`.runner.run_compensation`)."""
    if rules.undoes_children(step):
        return runner.run_step(UndoChildren(step, engine), context, engine)
    return runner.run_compensation(step, context, engine)


class UndoChildren(BaseMachineStep):
    """The compensation of a subworkflow step: :func:`undo` its children."""

    def __init__(self, step: Any, engine: Any) -> None:
        super().__init__(name=f"{step.name}.compensate")
        self.step_name = step.name
        self.engine = engine

    def execute(self, context: WorkflowContext) -> None:  # type: ignore[override]
        undo(self.engine, context.instance_id, self.step_name)


def undo(engine: Any, parent_id: Any, step_name: str) -> None:
    """Undo the completed children that ``step_name`` of ``parent_id`` started (see the
    module's docstring); raise :class:`ChildCompensationError` if one could not be."""
    children = (
        WorkflowInstanceModel.objects.using(engine.using)
        .filter(parent_id=parent_id, parent_step=step_name)
        .order_by("-started_at", "-id")
        .values_list("pk", flat=True)
    )
    reason = f"its parent {parent_id} was compensated"
    failures = [
        f"child {child_id}: {error}"
        for child_id in list(children)
        if (error := _undo_child(engine, child_id, reason)) is not None
    ]
    if failures:
        raise ChildCompensationError("; ".join(failures))


def _undo_child(engine: Any, child_id: UUID, reason: str) -> str | None:
    """Undo one child; return why it could not be, or None."""
    found: dict[str, Any] = {}

    def apply(row: WorkflowInstanceModel, t: Transition) -> None:
        record = compensation.record_of(t.state)
        ours = record is not None and bool(record.get(compensation.BY_PARENT))
        status = WorkflowStatus(row.status)
        definition = found["definition"] = engine.store.definition_of(row)
        if status == WorkflowStatus.COMPLETED and record is None:
            events = compensation.undo_completed(t.state, definition, reason)
            if events is None:  # nothing to undo
                t.changed = False
                return
            t.events = events
        elif ours and status == WorkflowStatus.FAILED:
            t.events = compensation.retry(t.state, definition)
        elif not (ours and compensation.is_compensating(t.state)):
            t.changed = False  # not ours to undo, or undone already
            return
        t.lease = leases.take(row, t.state, definition, t.events, here=True)

    t = engine.store.transition(child_id, apply, engine.effects.committing)
    if t.changed:
        engine.drive.run_on(child_id, found["definition"], t.state, t.lease, t.version)
    row = WorkflowInstanceModel.objects.using(engine.using).get(pk=child_id)
    record = row.metadata.get(compensation.KEY) if isinstance(row.metadata, dict) else None
    if record is None or not record.get(compensation.BY_PARENT):
        return None  # nothing to undo, or not a completed child
    if record["status"] == rules.CompensationStatus.COMPLETED:
        return None
    if record["status"] == rules.CompensationStatus.FAILED:
        return row.error or "its compensation failed"
    return "its compensation is still running (another drive holds it)"
