"""PersistentExecutionEngine: every state change committed to the Django database.

The engine drives the shared step semantics (:mod:`workflows_app.engine.semantics`)
and writes what they decide:

- User code (steps, hooks, assignment methods) never runs inside a transaction.
- Every commit is a short transaction with an optimistic check: the instance
  row's ``lock_version`` must be the one the change was computed from. When it
  is not, the row is locked (``SELECT ... FOR UPDATE``; SQLite serialises
  writers), reloaded, and the change applied again to what is there now.
- Consecutive machine steps run in a batch whose results are committed together:
  when a human step is reached, when nothing is left to run, and at least every
  ``CHECKPOINT_INTERVAL`` seconds. A process that dies loses the results since
  its last commit, never part of one, and leaves its branch claimed under its
  lease; once the lease lapses a worker takes the instance over and runs those
  steps again (at-least-once steps, exactly-once transitions).
- One drive at a time runs an instance, under a lease (``lease_owner``,
  ``lease_expires_at``): an inline call, a worker, or a Celery task.
"""

from __future__ import annotations

import copy
import logging
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, transaction

from workflows_app import conf, signals
from workflows_app.core.context import StepExecution, WorkflowContext
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import (
    CallbackNotFoundError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    TaskValidationError,
    WorkflowInstanceNotFoundError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.core.registry import WorkflowRegistry, default_registry
from workflows_app.core.types import StepStatus, WorkflowStatus
from workflows_app.engine import commits, runner, semantics, statements
from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

__all__ = ["PersistentExecutionEngine"]

logger = logging.getLogger(__name__)

HOLD = "on_hold"
"""The status of a pending task whose instance failed (pending again when it is retried)."""


class _Transition:
    """What one transaction did: the fresh state, the events, and who runs on."""

    def __init__(self, state: WorkflowInstanceData) -> None:
        self.state = state
        self.events: list[semantics.Event] = []
        self.lease = commits.Lease(commits.KEEP, None)
        self.changed = True
        self.version = 0


class PersistentExecutionEngine:
    """Run workflows with their state in the project's database.

    ``registry`` defaults to the registry that installed apps' ``workflows``
    modules are registered in. ``session`` is accepted for compatibility with
    litestar-workflows and ignored: Django manages connections. ``using``
    names the database alias.
    """

    def __init__(
        self,
        registry: WorkflowRegistry | None = None,
        session: Any = None,
        event_bus: Any | None = None,
        *,
        using: str | None = None,
    ) -> None:
        self.registry = registry if registry is not None else default_registry
        self.event_bus = event_bus
        self.using = using or DEFAULT_DB_ALIAS

    # -- sync API (the one implementation) ------------------------------------

    def start_workflow_sync(
        self,
        workflow: type[Any] | str,
        initial_data: dict[str, Any] | None = None,
        *,
        tenant_id: str | None = None,
        created_by: str | None = None,
        version: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WorkflowInstanceData:
        """Start an instance of ``workflow`` and run it until it waits, completes or fails."""
        semantics.check_start_arguments(
            initial_data, metadata, tenant_id=tenant_id, created_by=created_by
        )
        definition = semantics.definition_to_start(self.registry, workflow, version)
        data = dict(initial_data or {})
        problem = semantics.json_problem([data, metadata], "initial_data and metadata")
        if problem is not None:
            raise WorkflowValidationError([problem])
        self._remember(definition)
        now = semantics.utcnow()
        # No explicit transaction: the instance is one INSERT, committed before any step runs.
        row = WorkflowInstanceModel(
            id=uuid.uuid4(),
            definition_id=self._startable_definition_id(definition),
            workflow_name=definition.name,
            workflow_version=definition.version,
            status=WorkflowStatus.RUNNING,
            context_data=data,
            metadata=semantics.instance_metadata(definition, metadata),
            started_at=now,
            tenant_id=tenant_id,
            created_by=created_by,
        )
        state = self._state(row, [])
        events = semantics.begin(state, definition)
        # The instance is committed before any step runs: steps may refer to it (a foreign
        # key to the instance, a lookup of their own instance), and a crash leaves it behind.
        if not commits.inline():
            self._insert_instance(row, state, events, owner=None)
            self._hand_off(row.pk, state)
            return state
        owner = commits.new_owner()
        claimed = self._claim_next(state, definition, events)
        self._insert_instance(row, state, events, owner=owner)
        return self._drive(row.pk, definition, state, claimed, row.lock_version, owner)

    def complete_human_task_sync(
        self, instance_id: UUID, step_name: str, user_id: str, data: dict[str, Any]
    ) -> WorkflowInstanceData:
        """Complete the human step ``step_name`` with ``data`` and run on.

        ``data`` is validated against the step's form schema first; invalid data
        raises :class:`~workflows_app.TaskValidationError` and changes nothing.
        """
        return self._complete_waiting(instance_id, step_name, user_id, data, validate=True)

    def complete_webhook_sync(self, callback_token: str, payload: Any) -> WorkflowInstanceData:
        """Resume the webhook step waiting for ``callback_token`` with ``payload``.

        The payload (any JSON value) is stored in the context under the step's
        ``callback_key``. An unknown token raises
        :class:`~workflows_app.CallbackNotFoundError`; a step that no longer waits,
        :class:`~workflows_app.WorkflowStateError`.
        """
        found = (
            StepExecutionModel.objects.using(self.using)
            .filter(callback_token=str(callback_token))
            .values_list("instance_id", "step_name", "status", "pk")
            .first()
        )
        if found is None:
            raise CallbackNotFoundError()
        instance_id, step_name, status, execution_id = found
        if status != StepStatus.WAITING:
            raise WorkflowStateError(f"The webhook step '{step_name}' is no longer waiting")
        problem = semantics.json_problem(payload, "The payload")
        if problem is not None:
            raise WorkflowValidationError([problem])
        row = self._get_row(instance_id)
        step = self._definition_of(row).steps[step_name]
        data = {step.callback_key: payload}
        return self._complete_waiting(
            instance_id, step_name, None, data, validate=False, execution_id=execution_id
        )

    def _complete_waiting(
        self,
        instance_id: UUID,
        step_name: str,
        user_id: str | None,
        data: dict[str, Any],
        *,
        validate: bool,
        execution_id: UUID | None = None,
        comment: str | None = None,
    ) -> WorkflowInstanceData:
        """Resume the branch waiting at ``step_name`` (at the execution ``execution_id``, if
        given) with ``data``; record ``comment`` in its task's activity."""
        problem = semantics.json_problem(data, "The data")
        if problem is not None:
            raise TaskValidationError({"": [problem]})
        # Optimistic: apply the completion to the state just read, outside any transaction
        # (conditions are user code), and save it only if nothing changed the instance in
        # between; on a conflict, read and apply again. Only after several conflicts in a
        # row is it applied under the row lock.
        validated = False
        for _attempt in range(_OPTIMISTIC_ATTEMPTS):
            row, history, waiting = self._read_with_history(instance_id)
            state = self._state(row, history)
            token = self._check_completable(row, state, step_name)
            if execution_id is not None and waiting.get(token.id) != execution_id:
                raise self._not_waiting(step_name, execution_id)
            definition = self._definition_of(row)
            if validate and not validated:
                runner.check_submission(definition.steps.get(step_name), data)
                validated = True
            events = semantics.resume(state, definition, step_name, user_id, data)
            lease = self._take_lease(row, state, definition, events)
            with transaction.atomic(using=self.using):
                saved = self._save_if_unchanged(instance_id, state, row.lock_version, lease.owner)
                if saved:
                    events[:0] = self._complete_task_rows(
                        instance_id, waiting[token.id], step_name, user_id, data, comment
                    )
                    self._committing(events)
            if saved:  # steps run after the commit, never inside the transaction
                return self._run_on(instance_id, definition, state, lease, row.lock_version + 1)

        def apply(row: WorkflowInstanceModel, t: _Transition) -> None:
            token = self._check_completable(row, t.state, step_name)
            execution = (
                StepExecutionModel.objects.using(self.using)
                .filter(instance_id=row.pk, token_id=token.id, status=StepStatus.WAITING)
                .first()
            )
            if execution is None or execution_id not in (None, execution.pk):
                raise self._not_waiting(step_name, execution_id)
            t.events = semantics.resume(t.state, definition, step_name, user_id, data)
            t.events[:0] = self._complete_task_rows(
                row.pk, execution.pk, step_name, user_id, data, comment
            )
            t.lease = self._take_lease(row, t.state, definition, t.events)

        t = self._transition(instance_id, apply)
        return self._run_on(instance_id, definition, t.state, t.lease, t.version)

    def _not_waiting(self, step_name: str, execution_id: UUID | None) -> Exception:
        """The error for a completion of ``execution_id`` that no longer waits: its task was
        completed (by a concurrent call, most likely), or the step moved on otherwise."""
        if execution_id is not None:
            task = (
                HumanTaskModel.objects.using(self.using)
                .filter(step_execution_id=execution_id)
                .values_list("pk", "status")
                .first()
            )
            if task is not None and task[1] == "completed":
                return TaskAlreadyCompletedError(task[0])
        return WorkflowStateError(f"The step '{step_name}' is no longer waiting")

    def _take_lease(
        self,
        row: WorkflowInstanceModel,
        state: WorkflowInstanceData,
        definition: WorkflowDefinition,
        events: list[semantics.Event],
    ) -> commits.Lease:
        """Decide who runs the instance on after a change: this call, or whoever holds it.

        In inline mode this call takes the instance when no live lease is held on it (a
        lapsed lease's branches are made ready again) and claims the next step. Otherwise
        the lease is left as it is: its holder, or a worker, runs the ready steps.
        """
        held = row.lease_owner is not None and row.lease_expires_at > semantics.utcnow()
        if held or not commits.inline():
            return commits.Lease(commits.KEEP, None)
        semantics.reclaim(state)  # branches a dead drive claimed run again
        claimed = self._claim_next(state, definition, events)
        if claimed is None and semantics.next_ready(state) is None:
            return commits.Lease(None, None)  # nothing to run: no lease
        return commits.Lease(commits.new_owner(), claimed)

    def _run_on(
        self,
        instance_id: UUID,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        lease: commits.Lease,
        version: int,
    ) -> WorkflowInstanceData:
        if lease.owner is commits.KEEP or lease.owner is None:
            self._hand_off(instance_id, state)
            return state
        return self._drive(instance_id, definition, state, lease.claimed, version, lease.owner)

    def _check_completable(
        self, row: WorkflowInstanceModel, state: WorkflowInstanceData, step_name: str
    ) -> Token:
        """Return the branch waiting at ``step_name``, or raise why it cannot be completed."""
        try:
            return semantics.waiting_token(state, step_name)
        except WorkflowStateError:
            task = (
                HumanTaskModel.objects.using(self.using)
                .filter(instance_id=row.pk, step_name=step_name)
                .order_by("-created_at")
                .first()
            )
            if task is not None and task.status == "completed":
                raise TaskAlreadyCompletedError(task.pk) from None
            raise

    def _complete_task_rows(
        self,
        instance_id: UUID,
        execution_id: UUID,
        step_name: str,
        user_id: str | None,
        data: dict[str, Any],
        comment: str | None = None,
    ) -> list[semantics.Event]:
        """Mark the waiting execution of a human step succeeded, and its task completed.

        Return the ``task.completed`` event (its task id is read only when someone listens).
        """
        now = semantics.utcnow()
        completion = {"status": "completed", "completed_by": user_id, "completed_at": now}
        if comment is not None:
            task = (
                HumanTaskModel.objects.using(self.using)
                .select_for_update()
                .filter(step_execution_id=execution_id)
                .only("activity")
                .first()
            )
            if task is not None:
                entry = {"action": "completed", "at": now.isoformat(), "by": user_id}
                completion["activity"] = [*task.activity, {**entry, "comment": comment}]
        statements.update(
            self.using,
            HumanTaskModel,
            completion,
            {"step_execution_id": execution_id, "status": "pending"},
        )
        statements.update(
            self.using,
            StepExecutionModel,
            {
                "status": str(StepStatus.SUCCEEDED),
                "output_data": data,
                "completed_by": user_id,
                "completed_at": now,
            },
            {"id": execution_id},
        )
        if self.event_bus is None and not signals.task_completed.has_listeners(type(self)):
            return []
        found = statements.select_one(
            self.using, HumanTaskModel, ("id",), {"step_execution_id": execution_id}
        )
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

    def _save_if_unchanged(
        self, instance_id: UUID, state: WorkflowInstanceData, version: int, owner: Any
    ) -> bool:
        """Save ``state`` (and the lease of ``owner``) if the instance is still at ``version``."""
        changes = {**commits.columns(state, owner), "lock_version": version + 1}
        where = {"id": instance_id, "lock_version": version}
        return statements.update(self.using, WorkflowInstanceModel, changes, where) == 1

    def complete_task_sync(
        self,
        task_id: Any,
        user_id: str,
        data: dict[str, Any],
        *,
        comment: str | None = None,
    ) -> WorkflowInstanceData:
        """Complete the pending task ``task_id`` with ``data`` as ``user_id``, and run on.

        The same as :meth:`complete_human_task_sync`, for one task rather than a step
        name. ``comment`` is recorded in the task's activity. ``task_id`` may also be the
        task itself, just read (a :class:`~workflows_app.models.HumanTaskModel`), which
        saves reading it again: whether it still waits is checked when the completion is
        saved, as always.
        """
        if isinstance(task_id, HumanTaskModel):
            found = (task_id.instance_id, task_id.step_name, task_id.step_execution_id)
            instance_id, step_name, execution_id = found
            status, task_id = task_id.status, task_id.pk
        else:
            row = (
                HumanTaskModel.objects.using(self.using)
                .filter(pk=_task_pk(task_id))
                .values_list("instance_id", "step_name", "step_execution_id", "status")
                .first()
            )
            if row is None:
                raise TaskNotFoundError(task_id)
            instance_id, step_name, execution_id, status = row
        _check_pending(task_id, status)
        return self._complete_waiting(
            instance_id,
            step_name,
            user_id,
            data,
            validate=True,
            execution_id=execution_id,
            comment=comment,
        )

    def claim_task_sync(self, task_id: Any, user_id: str) -> HumanTaskModel:
        """Take a pending, unassigned task: it becomes ``user_id``'s; return the task.

        Claiming a task one already holds changes nothing. A task another user holds
        raises :class:`~workflows_app.WorkflowStateError`.
        """
        with transaction.atomic(using=self.using):
            task = self._locked_pending_task(task_id)
            if task.assignee_id == user_id:
                return task
            if task.assignee_id is not None:
                raise WorkflowStateError(
                    f"Task '{task.pk}' is already claimed by '{task.assignee_id}'"
                )
            events = self._assign(task, "claimed", user_id, task.assignee_group, user_id)
            self._committing(events)
        return task

    def release_task_sync(self, task_id: Any, released_by: str | None = None) -> HumanTaskModel:
        """Give a claimed task back to its group (it becomes unassigned); return the task.

        A task without a group cannot be released (it would be offered to everyone):
        reassign it instead.
        """
        with transaction.atomic(using=self.using):
            task = self._locked_pending_task(task_id)
            if task.assignee_id is None:
                raise WorkflowStateError(f"Task '{task.pk}' is not claimed by anyone")
            if task.assignee_group is None:
                raise WorkflowStateError(
                    f"Task '{task.pk}' has no group to give it back to: reassign it instead"
                )
            events = self._assign(task, "released", None, task.assignee_group, released_by)
            self._committing(events)
        return task

    def reassign_task_sync(
        self,
        task_id: Any,
        *,
        assignee_id: str | None = None,
        assignee_group: str | None = None,
        reason: str | None = None,
        reassigned_by: str | None = None,
    ) -> HumanTaskModel:
        """Give a pending task to another user and/or group; return the task.

        At least one of ``assignee_id`` and ``assignee_group`` is needed; the one not
        given is left as it is. The reason is recorded in the task's activity and sent
        with the ``task.reassigned`` event.
        """
        if assignee_id is None and assignee_group is None:
            raise WorkflowValidationError(["name the new assignee_id or assignee_group"])
        with transaction.atomic(using=self.using):
            task = self._locked_pending_task(task_id)
            self._committing(
                self._reassign_rows(task, assignee_id, assignee_group, reason, reassigned_by)
            )
        return task

    def _locked_pending_task(self, task_id: Any) -> HumanTaskModel:
        """Return the task row, locked for this transaction; raise unless it is pending."""
        task = (
            HumanTaskModel.objects.using(self.using)
            .select_for_update()
            .filter(pk=_task_pk(task_id))
            .first()
        )
        if task is None:
            raise TaskNotFoundError(task_id)
        _check_pending(task.pk, task.status)
        return task

    def _reassign_rows(
        self,
        task: HumanTaskModel,
        assignee_id: str | None,
        assignee_group: str | None,
        reason: str | None,
        reassigned_by: str | None,
    ) -> list[semantics.Event]:
        """Write a pending task's new assignment; return the ``task.reassigned`` event.

        ``None`` leaves the assignee (or the group) as it is.
        """
        return self._assign(
            task,
            "reassigned",
            task.assignee_id if assignee_id is None else assignee_id,
            task.assignee_group if assignee_group is None else assignee_group,
            reassigned_by,
            reason,
        )

    def _assign(
        self,
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
        statements.update(self.using, HumanTaskModel, changes, {"id": task.pk})
        statements.update(
            self.using,
            StepExecutionModel,
            {"assigned_to": assignee_id},
            {"id": task.step_execution_id},
        )
        if action == "reassigned":
            return [(f"task.{action}", {**change, "reassigned_by": by, "reason": reason})]
        return [(f"task.{action}", {**change, f"{action}_by": by})]

    def cancel_workflow_sync(self, instance_id: UUID, reason: str) -> WorkflowInstanceData:
        """Cancel a running or waiting instance and its pending tasks."""

        def apply(row: WorkflowInstanceModel, t: _Transition) -> None:
            t.events = semantics.cancel(t.state, reason)
            now = semantics.utcnow()
            HumanTaskModel.objects.using(self.using).filter(
                instance_id=row.pk, status="pending"
            ).update(status="canceled", updated_at=now)
            StepExecutionModel.objects.using(self.using).filter(
                instance_id=row.pk, status=StepStatus.WAITING
            ).update(status=StepStatus.CANCELED, completed_at=now, updated_at=now)

        return self._transition(instance_id, apply).state

    def retry_sync(self, instance_id: UUID, from_step: str | None = None) -> WorkflowInstanceData:
        """Run a failed instance again from its failed step (or ``from_step``)."""
        definition = self._definition_of(self._get_row(instance_id))

        def apply(row: WorkflowInstanceModel, t: _Transition) -> None:
            t.events = semantics.retry(t.state, definition, from_step)
            t.lease = self._take_lease(row, t.state, definition, t.events)

        t = self._transition(instance_id, apply)
        return self._run_on(instance_id, definition, t.state, t.lease, t.version)

    def get_instance_sync(self, instance_id: UUID) -> WorkflowInstanceData:
        """Return the instance with its step history."""
        row = self._get_row(instance_id)
        return self._state(row, self._history(row.pk))

    def sync_definitions(self) -> list[WorkflowDefinitionModel]:
        """Create or update a definition row for every version in the registry."""
        with transaction.atomic(using=self.using):
            return [
                self._definition_row(d) for d in self.registry.list_definitions(active_only=False)
            ]

    # -- the documented async API ----------------------------------------------------

    async def start_workflow(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Async version of :meth:`start_workflow_sync`."""
        return await sync_to_async(self.start_workflow_sync)(*args, **kwargs)

    async def complete_human_task(
        self, instance_id: UUID, step_name: str, user_id: str, data: dict[str, Any]
    ) -> WorkflowInstanceData:
        """Async version of :meth:`complete_human_task_sync`."""
        return await sync_to_async(self.complete_human_task_sync)(
            instance_id, step_name, user_id, data
        )

    async def complete_webhook(self, callback_token: str, payload: Any) -> WorkflowInstanceData:
        """Async version of :meth:`complete_webhook_sync`."""
        return await sync_to_async(self.complete_webhook_sync)(callback_token, payload)

    async def complete_task(
        self, task_id: Any, user_id: str, data: dict[str, Any], *, comment: str | None = None
    ) -> WorkflowInstanceData:
        """Async version of :meth:`complete_task_sync`."""
        return await sync_to_async(self.complete_task_sync)(task_id, user_id, data, comment=comment)

    async def claim_task(self, task_id: Any, user_id: str) -> HumanTaskModel:
        """Async version of :meth:`claim_task_sync`."""
        return await sync_to_async(self.claim_task_sync)(task_id, user_id)

    async def release_task(self, task_id: Any, released_by: str | None = None) -> HumanTaskModel:
        """Async version of :meth:`release_task_sync`."""
        return await sync_to_async(self.release_task_sync)(task_id, released_by)

    async def reassign_task(self, task_id: Any, **kwargs: Any) -> HumanTaskModel:
        """Async version of :meth:`reassign_task_sync`."""
        return await sync_to_async(self.reassign_task_sync)(task_id, **kwargs)

    async def cancel_workflow(self, instance_id: UUID, reason: str) -> WorkflowInstanceData:
        """Async version of :meth:`cancel_workflow_sync`."""
        return await sync_to_async(self.cancel_workflow_sync)(instance_id, reason)

    async def retry(self, instance_id: UUID, from_step: str | None = None) -> WorkflowInstanceData:
        """Async version of :meth:`retry_sync`."""
        return await sync_to_async(self.retry_sync)(instance_id, from_step)

    async def get_instance(self, instance_id: UUID) -> WorkflowInstanceData:
        """Async version of :meth:`get_instance_sync`."""
        return await sync_to_async(self.get_instance_sync)(instance_id)

    async def execute_step(
        self, step: Any, context: WorkflowContext, previous_result: Any = None
    ) -> Any:
        """Run one step outside any instance (used by step groups); return its result."""
        return await runner.execute_step(step, context, previous_result, self)

    # -- running -------------------------------------------------------------------------

    def _drive(
        self,
        instance_id: UUID,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        claimed: Token | None,
        version: int,
        owner: str,
    ) -> WorkflowInstanceData:
        """Run the instance's ready branches under the lease ``owner`` (outside transactions).

        What happens is kept in a batch and committed together: the results of
        consecutive machine steps, and human steps reached (parked). A batch is
        committed when a human step was parked, when nothing is left to run, and
        at least every ``CHECKPOINT_INTERVAL`` seconds. The lease is renewed at
        each commit and given up by the commit that leaves nothing to run.
        """
        interval = conf.get_settings().CHECKPOINT_INTERVAL
        batch = commits.Batch(instance_id, version, owner)
        while True:
            if claimed is None:
                events, fired = semantics.wake(state, definition, semantics.utcnow())
                batch.events.extend(events)
                for token, outcome in fired:
                    batch.add(
                        token, outcome, commits.NO_CHANGES, definition.steps[token.step], fired=True
                    )
                token = semantics.next_ready(state)
                if token is None:
                    if not batch.items:
                        return state
                    state, claimed, batch = self._flush(instance_id, definition, state, batch)
                    if batch is None:
                        return state
                    continue
                step = definition.steps.get(token.step)
                if step is not None and semantics.is_timer(step):
                    batch.sleep(state, definition, token, step)
                elif step is None or semantics.waits(step):
                    human = step is not None and semantics.is_human(step)
                    try:
                        fields = runner.task_fields(step, state.context) if human else None
                    except Exception as exc:  # the step's assignment code broke
                        logger.exception("task of step %r: assignment failed", token.step)
                        batch.fail(
                            state, token, f"Creating the task of '{token.step}' failed: {exc}"
                        )
                        state, claimed, batch = self._flush(instance_id, definition, state, batch)
                        if batch is None:
                            return state
                        continue
                    batch.park(state, definition, token, step, fields)
                    claimed = self._claim_next(state, definition, batch.events)
                    state, claimed, batch = self._flush(
                        instance_id, definition, state, batch, claimed
                    )
                    if batch is None:
                        return state
                else:
                    batch.events.extend(semantics.enter(state, token, step))
                    claimed = token
                continue
            step = definition.steps[claimed.step]
            outcome = runner.run_step(step, state.context, self)
            changes = semantics.data_changes(outcome.input_data or {}, state.context.data)
            outcome, changes = commits.storable(claimed.step, outcome, changes)
            if changes == commits.NO_CHANGES and outcome.input_data is not None:
                state.context.data = copy.deepcopy(outcome.input_data)
            batch.add(claimed, outcome, changes, step)
            if logger.isEnabledFor(logging.INFO):
                commits.log_step(state, claimed, outcome)
            batch.events.extend(semantics.advance(state, definition, claimed, outcome))
            claimed = self._claim_next(state, definition, batch.events)
            # Otherwise the top of the loop parks the human steps reached into this batch
            # and commits it when nothing is left to run.
            if time.monotonic() - batch.opened >= interval:
                state, claimed, batch = self._flush(instance_id, definition, state, batch, claimed)
                if batch is None:
                    return state

    def _flush(
        self,
        instance_id: UUID,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        batch: commits.Batch,
        claimed: Token | None = None,
    ) -> tuple[WorkflowInstanceData, Token | None, commits.Batch | None]:
        """Commit a batch; return the state, the claimed branch and a new batch.

        If nothing else changed the instance since the batch began (its
        ``lock_version`` is the batch's), the state in memory is saved as it is.
        Otherwise the instance is locked and reloaded, and the batch is applied
        again, in order, to what is there now, for as long as its branches are
        still where the batch found them; what no longer applies is dropped. If
        the lease was taken over meanwhile (it lapsed), nothing is applied and
        the drive ends: the new batch is None.
        """
        with transaction.atomic(using=self.using):
            owner = commits.keep_or_release(state, claimed, batch.owner)
            if self._save_if_unchanged(instance_id, state, batch.version, owner):
                self._insert(batch.executions, batch.tasks)
                self._committing(batch.events)
                if owner is None:
                    self._hand_off(instance_id, state)  # a timer or a retry to come
                return state, claimed, commits.Batch(instance_id, batch.version + 1, batch.owner)

            row = self._get_row(instance_id, lock=True)
            t = _Transition(self._state(row, self._history(row.pk)))
            if row.lease_owner != batch.owner:
                logger.warning(
                    "instance %s: the lease of drive %s was taken over; its results are dropped",
                    instance_id,
                    batch.owner,
                )
                return t.state, None, None
            replayed = commits.Batch(instance_id, row.lock_version, batch.owner)
            claimed = None
            for item in batch.items:
                if not item.replay(t.state, definition, replayed):
                    break
                claimed = self._claim_next(t.state, definition, replayed.events)
            if claimed is None:
                claimed = self._claim_next(t.state, definition, replayed.events)
            owner = commits.keep_or_release(t.state, claimed, batch.owner)
            self._save(row, t.state, owner)
            self._insert(replayed.executions, replayed.tasks)
            self._committing(replayed.events)
            if owner is None:
                self._hand_off(instance_id, t.state)
        return t.state, claimed, commits.Batch(instance_id, row.lock_version, batch.owner)

    def _insert_instance(
        self,
        row: WorkflowInstanceModel,
        state: WorkflowInstanceData,
        events: list[Any],
        owner: str | None,
    ) -> None:
        for name, value in commits.columns(state, owner).items():
            setattr(row, name, value)
        row.lock_version = 1
        values = {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}
        del values["created_at"], values["updated_at"]  # now, as for every insert
        statements.insert(self.using, WorkflowInstanceModel, [values])
        self._committing(events)

    def _insert(self, executions: list[dict[str, Any]], tasks: list[dict[str, Any]]) -> None:
        statements.insert(self.using, StepExecutionModel, executions)
        statements.insert(self.using, HumanTaskModel, tasks)

    def _claim_next(
        self,
        state: WorkflowInstanceData,
        definition: WorkflowDefinition,
        events: list[semantics.Event],
    ) -> Token | None:
        """Claim the next ready machine step, if there is one; return its token."""
        token = semantics.next_ready(state)
        if token is None:
            return None
        step = definition.steps.get(token.step)
        if step is None or semantics.waits(step) or semantics.is_timer(step):
            return None  # parked, failed or started at the top of the drive loop
        events.extend(semantics.enter(state, token, step))
        return token

    # -- rows ----------------------------------------------------------------------------

    def _transition(
        self,
        instance_id: UUID,
        apply: Callable[[WorkflowInstanceModel, _Transition], None],
        history: list[StepExecution] | None = None,
    ) -> _Transition:
        """Lock the instance, rebuild its state, apply a transition and save it.

        ``history`` is the step history the caller already holds (it is loaded
        when None); steps of other processes may be missing from it.
        """
        with transaction.atomic(using=self.using):
            row = self._get_row(instance_id, lock=True)
            if history is None:
                history = self._history(row.pk)
            t = _Transition(self._state(row, history))
            apply(row, t)
            if t.changed:
                self._save(row, t.state, t.lease.owner)
                self._committing(t.events)
            t.version = row.lock_version
        return t

    def _save(self, row: WorkflowInstanceModel, state: WorkflowInstanceData, owner: Any) -> None:
        columns = commits.columns(state, owner)
        for name, value in columns.items():
            setattr(row, name, value)
        row.lock_version += 1
        row.save(using=self.using, update_fields=[*columns, "lock_version", "updated_at"])

    def _get_row(self, instance_id: Any, lock: bool = False) -> WorkflowInstanceModel:
        rows = WorkflowInstanceModel.objects.using(self.using)
        if lock:
            rows = rows.select_for_update()
        try:
            row = rows.filter(pk=instance_id).first()
        except (ValidationError, ValueError, TypeError):  # not a UUID
            row = None
        if row is None:
            raise WorkflowInstanceNotFoundError(instance_id)
        return row

    def _history(self, instance_id: UUID) -> list[StepExecution]:
        rows = (
            StepExecutionModel.objects.using(self.using)
            .filter(instance_id=instance_id)
            .exclude(status=StepStatus.WAITING)
            .order_by("started_at", "created_at")
        )
        return [commits.history_entry(r) for r in rows]

    def _read_with_history(
        self, instance_id: Any
    ) -> tuple[WorkflowInstanceModel, list[StepExecution], dict[str, UUID]]:
        """Read the instance, its history and its waiting executions (by branch)."""
        try:
            [row] = statements.select(self.using, WorkflowInstanceModel, {"id": instance_id})
        except (ValidationError, ValueError, TypeError):  # not a UUID, or no such row
            raise WorkflowInstanceNotFoundError(instance_id) from None
        executions = statements.select(
            self.using,
            StepExecutionModel,
            {"instance_id": row.pk},
            order_by=("started_at", "created_at"),
        )
        waiting = {r.token_id: r.pk for r in executions if r.status == StepStatus.WAITING}
        history = [commits.history_entry(r) for r in executions if r.status != StepStatus.WAITING]
        return row, history, waiting

    def _state(
        self, row: WorkflowInstanceModel, history: list[StepExecution]
    ) -> WorkflowInstanceData:
        context = WorkflowContext(
            workflow_id=row.definition_id,
            instance_id=row.pk,
            data=row.context_data,
            metadata=row.metadata,
            current_step=row.current_step or "",
            step_history=history,
            started_at=row.started_at,
            user_id=row.last_user_id or row.created_by,
            tenant_id=row.tenant_id,
        )
        return WorkflowInstanceData(
            id=row.pk,
            workflow_name=row.workflow_name,
            workflow_version=row.workflow_version,
            status=WorkflowStatus(row.status),
            context=context,
            current_step=row.current_step,
            started_at=row.started_at,
            completed_at=row.completed_at,
            error=row.error,
            workflow_id=row.definition_id,
            tokens=[Token.from_dict(item) for item in row.tokens],
        )

    def _definition_row(self, definition: WorkflowDefinition) -> WorkflowDefinitionModel:
        document = definition.to_dict()
        row, created = WorkflowDefinitionModel.objects.using(self.using).get_or_create(
            name=definition.name,
            version=definition.version,
            defaults={"description": definition.description, "definition_json": document},
        )
        if not created and row.definition_json != document:
            row.definition_json = document
            row.description = definition.description
            row.save(
                using=self.using, update_fields=["definition_json", "description", "updated_at"]
            )
        return row

    def _startable_definition_id(self, definition: WorkflowDefinition) -> UUID:
        """Return the id of the definition's row (creating or syncing it), if it is active."""
        found = statements.select_one(
            self.using,
            WorkflowDefinitionModel,
            ("id", "is_active"),
            {"name": definition.name, "version": definition.version},
        )
        if found is None or found[0] not in _SYNCED.get(id(definition), ()):
            row = self._definition_row(definition)
            found = (row.pk, row.is_active)
            _SYNCED.setdefault(id(definition), set()).add(row.pk)
        if not found[1]:
            raise WorkflowStateError(
                f"Workflow '{definition.name}' version '{definition.version}' is deactivated "
                "and starts no new instances"
            )
        return found[0]

    def _remember(self, definition: WorkflowDefinition) -> None:
        """Register a definition started from a class, so that resuming finds it."""
        if not self.registry.has_definition(definition.name, definition.version):
            self.registry.register_definition(definition)

    def _definition_of(self, row: WorkflowInstanceModel) -> WorkflowDefinition:
        return self.registry.get_definition(row.workflow_name, row.workflow_version)

    # -- events ----------------------------------------------------------------------------

    def _hand_off(self, instance_id: UUID, state: WorkflowInstanceData) -> None:
        """With ``DISPATCH = "celery"``, queue the instance's next run after the commit."""
        if conf.get_settings().DISPATCH != "celery":
            return
        now = semantics.utcnow()
        wake = commits.wake_at(state, now)
        if wake is None:
            return
        from workflows_app import tasks  # the celery extra

        eta = wake if wake > now else None
        transaction.on_commit(
            partial(tasks.dispatch, instance_id, eta), using=self.using, robust=True
        )

    def _committing(self, events: list[semantics.Event]) -> None:
        """What the transaction that saves a change with ``events`` does besides: tasks
        follow their instance (see :meth:`_hold_tasks`), and the events are sent once it
        commits, if anyone listens."""
        self._hold_tasks(events)
        if events and (self.event_bus is not None or self._heard(events)):
            transaction.on_commit(partial(self._emit, events), using=self.using, robust=True)

    def _hold_tasks(self, events: list[semantics.Event]) -> None:
        """A failed instance's pending tasks go on hold (nobody can complete them until the
        instance is retried, so they leave inboxes, reminders and escalations); a retry
        makes them pending again."""
        for name, payload in events:
            if name == "workflow.failed":
                before, after = "pending", HOLD
            elif name == "workflow.retried":
                before, after = HOLD, "pending"
            else:
                continue
            HumanTaskModel.objects.using(self.using).filter(
                instance_id=payload["instance_id"], status=before
            ).update(status=after, updated_at=semantics.utcnow())

    def _heard(self, events: list[semantics.Event]) -> bool:
        sender = type(self)
        return any(
            signal.has_listeners(sender)
            for signal in {signals.BY_EVENT.get(name) for name, _ in events} - {None}
        )

    def _emit(self, events: list[semantics.Event]) -> None:
        """Send each event as a Django signal, then to the event bus (if any)."""
        for name, payload in events:
            signal = signals.BY_EVENT.get(name)
            if signal is not None and signal.has_listeners(type(self)):
                for receiver, result in signal.send_robust(type(self), event=name, **payload):
                    if isinstance(result, Exception):
                        logger.error(
                            "receiver %r of %s raised %r", receiver, name, result, exc_info=result
                        )
            if self.event_bus is not None:
                try:
                    runner.call(self.event_bus.emit, name, **payload)
                except Exception:
                    logger.exception("event bus failed on %s", name)


# Definition rows whose JSON this process has synced, by id() of the definition object: a
# start then only checks that the row exists and is active.
_SYNCED: dict[int, set[UUID]] = {}

# Conflicting saves in a row before a change is applied under the instance's row lock.
_OPTIMISTIC_ATTEMPTS = 5

# What a task's activity records of an assignment change, beside action, at and by.
_ACTIVITY_KEYS = ("from_assignee", "to_assignee", "from_group", "to_group")


def _task_pk(task_id: Any) -> Any:
    """Return ``task_id`` as a UUID, or raise TaskNotFoundError for what cannot be one."""
    if isinstance(task_id, UUID):
        return task_id
    try:
        return UUID(str(task_id))
    except ValueError:
        raise TaskNotFoundError(task_id) from None


def _check_pending(task_id: Any, status: str) -> None:
    """Raise unless a task in ``status`` can still be acted on."""
    if status == "completed":
        raise TaskAlreadyCompletedError(task_id)
    if status == HOLD:
        raise WorkflowStateError(
            f"Task '{task_id}' is on hold: its workflow failed, and the task can be acted on "
            "again once the workflow is retried"
        )
    if status != "pending":
        raise WorkflowStateError(f"Task '{task_id}' is {status}")
