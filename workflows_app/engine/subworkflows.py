"""Subworkflows in the persistent engine: starting children, resuming their parent.

The rules (the step itself and its mappings are in :mod:`workflows_app.core.subworkflows`):

- **Start.** A branch that reaches a :class:`~workflows_app.SubworkflowStep` parks there
  (status ``waiting``, no lease held) with a waiting step execution, like a webhook step.
  The definition to run (the latest active version when ``version`` is None) and each
  child's initial data are computed first (:func:`prepare`; a workflow that is not
  registered, or an ``input``/``for_each`` that raises, fails the step at once), and the
  child rows are INSERTed **in the transaction that commits the park** (:func:`insert`),
  with ``parent_id``/``parent_step`` and ``metadata["parent"]`` (the parent's waiting
  execution, and the child's index). No crash can leave a parent waiting for a child
  that was never created. A child starts without a lease: a worker runs it, or, in
  inline mode, the parent's drive runs it right after that commit (:func:`run_child`).
- **End.** The commit that ends a child (completed, failed or canceled) resumes its
  parent in the same transaction (:func:`closed`, called from
  :meth:`~workflows_app.engine.effects.Effects.committing`): the child's row is locked
  first (its commit), then the parent's, always in that order. Completed: the step's
  ``output`` mapping of the child's final data goes into the parent's context (with
  ``for_each``: into ``<step>_results[index]``, and the step completes once every child
  completed) and the branch moves on. Failed or canceled: the step's attempt fails with
  the child's error, so its ``retry_policy`` decides (a retry starts new children); the
  other children of that attempt are canceled. A child whose parent no longer waits for
  it (the step failed, was retried, or the parent ended) resumes nothing.
- **Suspension.** A suspended parent keeps waiting; what a child's end would do is kept
  in the parent's ``metadata["buffered_children"]`` and applied, in order, when it is
  resumed (:func:`apply_buffered`).
- **Parent close.** When a parent ends (completes, fails or is canceled) while children
  run, each child's step's ``on_parent_close`` applies right after the parent's commit
  (in a transaction of each child's own, so that rows are still locked child first):
  ``terminate`` cancels the child at once, even while a drive runs one of its steps
  (that drive's results are dropped); ``request_cancel`` cancels it only when no drive
  holds it, and otherwise records the request in the child's
  ``metadata["cancel_requested"]`` and cancels it when the child next ends a drive or
  waits (see :func:`requested_cancel`); ``abandon`` leaves it running, and it resumes
  nothing when it ends. A crash between the parent's commit and the cancels leaves the
  children running (they resume nothing).
"""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import Any
from uuid import UUID

from django.db import transaction

from workflows_app import conf
from workflows_app.core import metadata as metadata_keys
from workflows_app.core import subworkflows as rules
from workflows_app.core.exceptions import WorkflowStateError
from workflows_app.core.models import WorkflowInstanceData
from workflows_app.core.types import StepStatus, StepType, WorkflowStatus
from workflows_app.engine import definitions, leases, semantics, statements, task_actions
from workflows_app.engine.store import TRANSIENT_ERRORS, Transition, set_metadata
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel

__all__ = [
    "BUFFER",
    "CANCEL_REQUESTED",
    "PARENT",
    "apply_buffered",
    "closed",
    "insert",
    "is_subworkflow",
    "prepare",
    "run_child",
]

logger = logging.getLogger("workflows_app.engine.persistent")

PARENT = metadata_keys.PARENT
"""The child's metadata key naming its parent: instance, step, waiting execution, index."""

BUFFER = metadata_keys.BUFFERED_CHILDREN
"""The suspended parent's metadata key of the children's ends to apply on resume."""

CANCEL_REQUESTED = metadata_keys.CANCEL_REQUESTED
"""The child's metadata key recording that its parent asked for it to be canceled."""

_ENDED = (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED)


def is_subworkflow(step: Any) -> bool:
    return getattr(step, "step_type", None) == StepType.SUBWORKFLOW


# -- starting ----------------------------------------------------------------------------


def prepare(engine: Any, step: Any, state: WorkflowInstanceData) -> list[dict[str, Any]]:
    """What the children of ``step`` are: [{"id", "definition", "data"}], one per item
    with ``for_each``. Raise (with a message fit for the step's error) when the workflow
    or version is not registered, or the ``input``/``for_each`` cannot be had."""
    definition = semantics.definition_to_start(engine.registry, step.workflow, step.version)
    depth = conf.get_settings().JSON_MAX_DEPTH
    children = []
    for data in rules.child_inputs(step, state.context):
        semantics.check_start_values(data, None, depth)
        children.append({"id": uuid.uuid4(), "definition": definition, "data": data})
    return children


def insert(engine: Any, parent: WorkflowInstanceData, started: list[dict[str, Any]]) -> None:
    """INSERT the children a batch parked ``started`` ([{"execution_id", "step_name",
    "children"}]), in the transaction committing the park: same tenant and creator as
    ``parent``, no lease (see the module's docstring)."""
    if not started:
        return
    using = engine.using
    created_by = (
        WorkflowInstanceModel.objects.using(using)
        .filter(pk=parent.id)
        .values_list("created_by", flat=True)
        .first()
    )
    for park in started:
        for index, child in enumerate(park["children"]):
            definition = child["definition"]
            link = {
                "instance_id": str(parent.id),
                "step": park["step_name"],
                "execution_id": str(park["execution_id"]),
                "index": index,
            }
            row = WorkflowInstanceModel(
                id=child["id"],
                definition_id=definitions.startable_id(using, definition),
                workflow_name=definition.name,
                workflow_version=definition.version,
                status=WorkflowStatus.RUNNING,
                context_data=dict(child["data"]),
                metadata=semantics.instance_metadata(definition, {PARENT: link}),
                started_at=semantics.utcnow(),
                tenant_id=parent.context.tenant_id,
                created_by=created_by,
                parent_id=parent.id,
                parent_step=park["step_name"],
            )
            state = engine.store.state(row, [])
            events = semantics.begin(state, definition)
            started_child = {"instance_id": parent.id, "step_name": park["step_name"]}
            started_child |= {"child_id": row.pk, "index": index}
            events.append(("subworkflow.started", started_child))
            engine.store.insert_instance(row, state, owner=None)
            engine.effects.committing(state, events, None)


def run_child(engine: Any, child_id: UUID) -> None:
    """Inline mode: run the child ``child_id`` now, unless a drive holds it already or it
    has ended (it was started without a lease, see :func:`insert`)."""
    found: dict[str, Any] = {}

    def apply(row: WorkflowInstanceModel, t: Transition) -> None:
        if row.status in _ENDED or leases.is_live(row, semantics.utcnow()):
            t.changed = False
            return
        definition = found["definition"] = engine.store.definition_of(row)
        t.lease = leases.take(row, t.state, definition, t.events)

    t = engine.store.transition(child_id, apply, engine.effects.committing)
    if t.changed:
        engine.drive.run_on(child_id, found["definition"], t.state, t.lease, t.version)


# -- ending ------------------------------------------------------------------------------


def closed(engine: Any, state: WorkflowInstanceData) -> None:
    """In the transaction that ends the instance ``state``: resume its parent if it is a
    child, and apply ``on_parent_close`` to its own children still running."""
    if state.context.metadata.get(PARENT):
        try:
            _child_ended(engine, state)
        except TRANSIENT_ERRORS:
            raise  # the child's commit is tried again
        except Exception:
            logger.exception("instance %s: resuming its parent failed", state.id)
    running = list(
        WorkflowInstanceModel.objects.using(engine.using)
        .filter(parent_id=state.id)
        .exclude(status__in=_ENDED)
        .values_list("pk", "parent_step")
    )
    if not running:
        return
    definition = engine.registry.get_definition(state.workflow_name, state.workflow_version)
    for child_id, step_name in running:
        step = definition.steps.get(step_name)
        policy = getattr(step, "on_parent_close", "terminate")
        if policy == "abandon":
            continue
        reason = f"parent instance {state.id} ended ({state.status})"
        close = partial(_close_child, engine, child_id, reason, policy == "request_cancel")
        transaction.on_commit(close, using=engine.using)


def requested_cancel(engine: Any, state: WorkflowInstanceData) -> None:
    """After a commit of a child whose parent asked for it to be canceled (while a drive
    held it): cancel it now if no drive holds it any more."""
    if state.context.metadata.get(CANCEL_REQUESTED) and not state.status.is_terminal:
        reason = state.context.metadata[CANCEL_REQUESTED]
        transaction.on_commit(
            partial(_close_child, engine, state.id, reason, True), using=engine.using
        )


def _close_child(engine: Any, child_id: UUID, reason: str, request: bool) -> None:
    """Cancel a child whose parent ended (``request``: only if no drive holds it, else
    record the request)."""
    try:
        if request:
            row = engine.store.row(child_id)
            if leases.is_live(row, semantics.utcnow()):
                _record_request(engine, child_id, reason)
                return
        engine.cancel_workflow_sync(child_id, reason)
    except WorkflowStateError:
        pass  # it ended meanwhile
    except Exception:
        logger.exception("instance %s: canceling it with its parent failed", child_id)


def _record_request(engine: Any, child_id: UUID, reason: str) -> None:
    def apply(row: WorkflowInstanceModel, t: Transition) -> None:
        if row.status in _ENDED:
            t.changed = False
            return
        set_metadata(row, t, {**row.metadata, CANCEL_REQUESTED: reason})

    engine.store.transition(child_id, apply, lambda *args: None)


def _child_ended(engine: Any, child: WorkflowInstanceData) -> None:
    link = child.context.metadata[PARENT]
    entry = {
        "child_id": str(child.id),
        "execution_id": link["execution_id"],
        "index": link.get("index", 0),
        "status": str(child.status),
        "data": child.context.data if child.status == WorkflowStatus.COMPLETED else None,
        "error": child.error,
        "workflow": child.workflow_name,
    }
    found: dict[str, Any] = {}

    def apply(row: WorkflowInstanceModel, t: Transition) -> None:
        waits = (
            StepExecutionModel.objects.using(engine.using)
            .filter(pk=entry["execution_id"], instance_id=row.pk, status=StepStatus.WAITING)
            .exists()
        )
        if not waits or t.state.status.is_terminal:
            t.changed = False  # the parent no longer waits for this child
            return
        if row.status == WorkflowStatus.SUSPENDED:
            set_metadata(row, t, {**row.metadata, BUFFER: [*row.metadata.get(BUFFER, []), entry]})
            return
        definition = found["definition"] = engine.store.definition_of(row)
        t.events = _apply(engine, row, t, definition, entry)
        t.lease = leases.take(row, t.state, definition, t.events)

    t = engine.store.transition(UUID(link["instance_id"]), apply, engine.effects.committing)
    if t.changed and t.lease.runs_here:
        run = partial(
            engine.drive.run_on, t.state.id, found["definition"], t.state, t.lease, t.version
        )
        transaction.on_commit(run, using=engine.using)


def apply_buffered(
    engine: Any, row: WorkflowInstanceModel, t: Transition, definition: Any
) -> list[semantics.Event]:
    """On resume of the locked parent ``row``: apply the children's ends buffered while it
    was suspended, in order, as part of transition ``t``; return the events."""
    buffered = row.metadata.get(BUFFER)
    if not buffered:
        return []
    set_metadata(row, t, {k: v for k, v in row.metadata.items() if k != BUFFER})
    events: list[semantics.Event] = []
    for entry in buffered:
        events += _apply(engine, row, t, definition, entry)
    return events


def _apply(
    engine: Any, row: WorkflowInstanceModel, t: Transition, definition: Any, entry: dict[str, Any]
) -> list[semantics.Event]:
    """Apply a child's end ``entry`` to the parent's waiting execution it names."""
    using = engine.using
    execution = (
        StepExecutionModel.objects.using(using)
        .filter(pk=entry["execution_id"], instance_id=row.pk, status=StepStatus.WAITING)
        .values_list("step_name", "token_id")
        .first()
    )
    if execution is None:
        return []
    step_name, token_id = execution
    state = t.state
    token = next(
        (k for k in state.tokens if k.id == token_id and k.state == semantics.WAITING), None
    )
    step = definition.steps.get(step_name)
    if token is None or step is None:
        return []
    child_id = UUID(str(entry["child_id"]))
    ended = {"instance_id": row.pk, "step_name": step_name, "child_id": child_id}
    execution_id = UUID(entry["execution_id"])
    if entry["status"] != WorkflowStatus.COMPLETED:
        error = rules.child_failure(
            entry["workflow"], entry["child_id"], entry["status"], entry["error"]
        )
        return _fail_step(engine, row.pk, state, definition, token, execution_id, error, ended)
    try:
        output = rules.parent_output(step, entry["data"] or {})
    except Exception as exc:  # the step's output mapping broke
        error = rules.output_failure(step_name, exc)
        return _fail_step(engine, row.pk, state, definition, token, execution_id, error, ended)
    events: list[semantics.Event] = [("subworkflow.ended", {**ended, "status": entry["status"]})]
    output = rules.join(step, step_name, state.context.data, entry["index"], output)
    if output is None:
        return events  # others still run
    events += semantics.resume(state, definition, step_name, None, output)
    task_actions.complete(using, row.pk, execution_id, step_name, None, output, event=False)
    return events


def _fail_step(
    engine: Any,
    instance_id: UUID,
    state: WorkflowInstanceData,
    definition: Any,
    token: Any,
    execution_id: UUID,
    error: str,
    ended: dict[str, Any],
) -> list[semantics.Event]:
    """Fail the parent step's attempt with ``error`` (its retry policy decides), and
    cancel the attempt's other children after the commit."""
    using = engine.using
    now = semantics.utcnow()
    statements.update(
        using,
        StepExecutionModel,
        {"status": str(StepStatus.FAILED), "error": error, "completed_at": now},
        {"id": execution_id},
    )
    outcome = semantics.Outcome(
        StepStatus.FAILED,
        token.started_at or now,
        now,
        error=error,
        exception=rules.SubworkflowError(error),
    )
    siblings = list(
        WorkflowInstanceModel.objects.using(using)
        .filter(parent_id=instance_id, parent_step=token.step)
        .exclude(status__in=_ENDED)
        .exclude(pk=ended["child_id"])
        .values_list("pk", flat=True)
    )
    events = [("subworkflow.ended", {**ended, "status": "failed", "error": error})]
    events += semantics.advance(state, definition, token, outcome)
    reason = f"another child of step '{token.step}' ended: {error}"
    for child_id in siblings:
        close = partial(_close_child, engine, child_id, reason[:500], False)
        transaction.on_commit(close, using=engine.using)
    return events
