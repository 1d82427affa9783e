"""Multi-instance human steps in the persistent engine: one task per item, N of M answers.

The rules (what counts as done, how answers are recorded) are pure and live in
:mod:`workflows_app.core.multi_instance` and :func:`.semantics.answer_item`; this module
applies them to the rows.

- **Reaching the step** (:func:`first_tasks`, called by the drive loop): the items are read
  (``for_each``) and the fields of the tasks computed, outside any transaction (they may
  call the step's code); the drive parks the branch with one task per item (or the first
  one, for a sequential step). All the tasks share the step's waiting execution, and each
  knows its place (``multi_index`` of ``multi_total``). An empty list skips the step
  (:func:`skip`).
- **Answering a task** (:func:`complete`): the answer is recorded in ``<step>_results``
  and, if the step is now done, the branch moves on, the step's other open tasks are
  canceled (with the reason in their activity) and its execution succeeds with the
  results; otherwise, for a sequential step, the next item's task is created. All of it is
  saved in one transaction, and only if the instance is still at the version read
  (``lock_version``): two answers to sibling tasks at the same time are applied one after
  the other, so the step completes exactly once. After a few conflicts in a row the answer
  is applied under the instance's row lock instead.
- **Canceling the instance** cancels every open task (:func:`.task_actions.cancel_pending`).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from django.db import transaction

from workflows_app import conf
from workflows_app.core import delegation
from workflows_app.core import multi_instance as rules
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import TaskAlreadyCompletedError, WorkflowStateError
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.core.types import StepStatus, TaskStatus
from workflows_app.engine import (
    batches,
    four_eyes,
    leases,
    runner,
    semantics,
    statements,
    task_actions,
)
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

if TYPE_CHECKING:
    from workflows_app.engine.effects import Effects
    from workflows_app.engine.store import Store, Transition

__all__ = ["cancel_siblings", "check_by_step", "complete", "first_tasks", "is_multi", "skip"]

is_multi = rules.is_multi

# Optimistic attempts before an answer is applied under the instance's row lock.
_ATTEMPTS = 4


def items_of(step: Any, context: Any) -> list[Any]:
    """Return the items of the multi-instance ``step`` for ``context`` (its ``for_each``)."""
    source = step.for_each
    if callable(source):
        value, what = runner.call(source, context), f"for_each of step '{step.name}'"
    else:
        value, what = context.get(source), f"the context key '{source}' (for_each)"
    items = rules.items_from(value, what)
    problem = semantics.json_problem(items, "items", conf.get_settings().JSON_MAX_DEPTH - 2)
    if problem is not None:
        raise ValueError(f"{what}: {problem}")
    return items


def first_tasks(step: Any, context: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """Return the items of ``step`` and the fields of the tasks to create when a branch
    reaches it: one per item, or only the first item's for a sequential step."""
    items = items_of(step, context)
    now = items[:1] if getattr(step, "sequential", False) else items
    return items, [runner.task_fields(step, context, item) for item in now]


def skip(
    state: WorkflowInstanceData,
    definition: WorkflowDefinition,
    batch: batches.Batch,
    token: Token,
    step: Any,
) -> None:
    """Skip ``token``'s multi-instance step, which has no items: recorded as skipped, with
    an empty ``<step>_results``."""
    batch.events.extend(semantics.enter(state, token, step))
    now = semantics.utcnow()
    before = copy.deepcopy(state.context.data)
    changes: tuple[dict[str, Any], list[str]] = ({rules.results_key(token.step): []}, [])
    semantics.apply_changes(state.context.data, changes)
    outcome = semantics.Outcome(StepStatus.SKIPPED, now, now, input_data=before)
    batch.add(token, outcome, changes, step)
    batch.events.extend(semantics.advance(state, definition, token, outcome))


def check_by_step(step: Any) -> None:
    """Refuse to complete a multi-instance step by its name: each of its tasks is
    answered on its own."""
    if step is not None and is_multi(step):
        raise WorkflowStateError(
            f"The step '{step.name}' has one task per item: complete one of its tasks "
            "(complete_task with the task's id) rather than the step"
        )


def complete(
    store: Store,
    effects: Effects,
    drive: Any,
    task: HumanTaskModel,
    user_id: str | None,
    data: dict[str, Any],
    comment: str | None = None,
) -> WorkflowInstanceData:
    """Answer ``task`` (a task of a multi-instance step, as read) with ``data`` as
    ``user_id``; complete the step if it is now done; run the instance on (``drive``)."""
    semantics.check_task_data(data, conf.get_settings().JSON_MAX_DEPTH)
    four_eyes.refuse(task.pk, task.excluded_users, user_id, "complete")
    instance_id = task.instance_id
    checked: list[bool] = []
    for _attempt in range(_ATTEMPTS):
        found = store.read(instance_id)
        row, state = found.row, store.state(found.row, found.history)
        definition, events, plan = _answer(store, row, state, task, user_id, data, checked)
        if found.waiting.get(plan.token.id) != task.step_execution_id:
            raise _not_waiting(store.using, task)
        lease = leases.take(row, state, definition, events)
        with transaction.atomic(using=store.using):
            saved = store.save_if_unchanged(
                instance_id, state, row.lock_version, lease.owner, lease.failed_drives
            )
            if saved:
                events[:0] = _write(store.using, task, user_id, data, comment, plan)
                effects.committing(state, events, lease.owner)
        if saved:  # steps run after the commit, never inside the transaction
            return drive.run_on(instance_id, definition, state, lease, row.lock_version + 1)

    def apply(row: WorkflowInstanceModel, t: Transition) -> None:
        nonlocal definition
        waiting = StepExecutionModel.objects.using(store.using).filter(
            pk=task.step_execution_id, status=StepStatus.WAITING
        )
        if not waiting.exists():
            raise _not_waiting(store.using, task)
        definition, t.events, plan = _answer(store, row, t.state, task, user_id, data, checked)
        t.events[:0] = _write(store.using, task, user_id, data, comment, plan)
        t.lease = leases.take(row, t.state, definition, t.events)

    t = store.transition(instance_id, apply, effects.committing)
    return drive.run_on(instance_id, definition, t.state, t.lease, t.version)


class _Plan:
    """What an answer does besides the state: finish the step, or create the next task."""

    def __init__(
        self, token: Token, done: bool, results: Any, next_fields: Any, condition: Any
    ) -> None:
        self.token, self.done, self.results, self.next_fields = token, done, results, next_fields
        self.condition = condition


def _answer(
    store: Store,
    row: WorkflowInstanceModel,
    state: WorkflowInstanceData,
    task: HumanTaskModel,
    user_id: str | None,
    data: dict[str, Any],
    checked: list[bool],
) -> tuple[WorkflowDefinition, list[semantics.Event], _Plan]:
    """Apply the answer to ``state``; return the definition, the events and the plan."""
    step_name, index = task.step_name, task.multi_index
    assert index is not None
    try:
        token = semantics.waiting_token(state, step_name)
    except WorkflowStateError:
        raise _not_waiting(store.using, task) from None
    definition = store.definition_of(row)
    step = definition.steps.get(step_name)
    if not checked:
        runner.check_submission(step, data)
        checked.append(True)
    try:
        events, done = semantics.answer_item(state, definition, step_name, index, user_id, data)
    except WorkflowStateError:
        raise TaskAlreadyCompletedError(task.pk) from None
    results = state.context.data[rules.results_key(step_name)]
    next_fields = None
    if not done and getattr(step, "sequential", False) and index + 1 < len(token.items or ()):
        assert token.items is not None
        fields = runner.task_fields(step, state.context, token.items[index + 1])
        next_fields = {
            **fields,
            "multi_index": index + 1,
            "multi_total": len(token.items),
            "excluded_users": four_eyes.excluded_users(store.using, state.id, step),
        }
    condition = getattr(step, "completion_condition", None)
    return definition, events, _Plan(token, done, results, next_fields, condition)


def _write(
    using: str,
    task: HumanTaskModel,
    user_id: str | None,
    data: dict[str, Any],
    comment: str | None,
    plan: _Plan,
) -> list[semantics.Event]:
    """Write the rows of an answer, inside the caller's transaction; return its events."""
    now = semantics.utcnow()
    row = HumanTaskModel.objects.using(using).select_for_update().filter(pk=task.pk).first()
    if row is None:
        raise TaskAlreadyCompletedError(task.pk)
    task_actions.check_pending(row.pk, row.status, using)
    four_eyes.refuse(row.pk, row.excluded_users, user_id, "complete")
    delegation.refuse_completion(row.pk, row.owner_id, user_id)
    row.status, row.completed_by, row.completed_at = TaskStatus.COMPLETED, user_id, now
    if comment is not None:
        entry = {"action": "completed", "at": now.isoformat(), "by": user_id, "comment": comment}
        row.activity = [*row.activity, entry]
    row.save(
        using=using,
        update_fields=["status", "completed_by", "completed_at", "activity", "updated_at"],
    )
    payload = {
        "instance_id": row.instance_id,
        "task_id": row.pk,
        "step_name": row.step_name,
        "completed_by": user_id,
        "data": data,
    }
    events: list[semantics.Event] = [("task.completed", payload)]
    if plan.done:
        _finish(using, row, user_id, plan, now)
    elif plan.next_fields is not None:
        task_row, created = batches.task_row(
            row.instance_id, row.tenant_id, row.step_execution_id, row.step_name, plan.next_fields
        )
        statements.insert(using, HumanTaskModel, [task_row])
        events.append(created)
    return events


def _finish(using: str, task: HumanTaskModel, user_id: str | None, plan: _Plan, now: Any) -> None:
    """Cancel the step's other open tasks (saying why) and mark its execution succeeded."""
    condition = plan.condition if isinstance(plan.condition, str) else None
    reason = (
        f"the step '{task.step_name}' is complete: its completion condition "
        f"{f'{condition!r} ' if condition else ''}holds"
    )
    cancel_siblings(using, task, reason)
    statements.update(
        using,
        StepExecutionModel,
        {
            "status": str(StepStatus.SUCCEEDED),
            "output_data": {rules.results_key(task.step_name): plan.results},
            "completed_by": user_id,
            "completed_at": now,
        },
        {"id": task.step_execution_id},
    )


def cancel_siblings(using: str, task: HumanTaskModel, reason: str, by: str | None = None) -> None:
    """Cancel the other open tasks of ``task``'s multi-instance step (none for a plain
    human step), with ``reason`` in their activity: its step completed, or its branch left
    the step (sent back, escalated elsewhere)."""
    if task.multi_index is None:
        return
    now = semantics.utcnow()
    open_tasks = (
        HumanTaskModel.objects.using(using)
        .select_for_update()
        .filter(
            step_execution_id=task.step_execution_id,
            status__in=[TaskStatus.PENDING, TaskStatus.ON_HOLD],
        )
        .exclude(pk=task.pk)
    )
    for other in open_tasks:
        entry = {"action": "canceled", "at": now.isoformat(), "by": by, "reason": reason}
        other.status, other.activity = TaskStatus.CANCELED, [*other.activity, entry]
        other.save(using=using, update_fields=["status", "activity", "updated_at"])


def _not_waiting(using: str, task: HumanTaskModel) -> Exception:
    """The error for an answer to ``task`` whose step no longer waits for it."""
    status = (
        HumanTaskModel.objects.using(using).filter(pk=task.pk).values_list("status", flat=True)
    ).first()
    try:
        task_actions.check_pending(task.pk, status or TaskStatus.CANCELED, using)
    except (TaskAlreadyCompletedError, WorkflowStateError) as exc:
        return exc
    return WorkflowStateError(f"The step '{task.step_name}' is no longer waiting")


def task_position(task: HumanTaskModel) -> tuple[int, int] | None:
    """Return ``(number, total)`` of a multi-instance task (``number`` from 1), or None."""
    if task.multi_index is None or task.multi_total is None:
        return None
    return task.multi_index + 1, task.multi_total
