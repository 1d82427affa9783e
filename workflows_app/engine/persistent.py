"""PersistentExecutionEngine: every state change committed to the Django database.

Each transition is one short transaction that locks the instance row
(``SELECT ... FOR UPDATE`` where the database has it; SQLite serialises
writers), reloads the instance, checks that it is in the state the transition
expects, applies the shared step semantics and saves. User code (steps, hooks,
assignment methods) never runs inside a transaction.

A machine step is *claimed* (its branch token marked running) in the same
transaction that saved the previous step, and its result is saved, with the
next claim, in the transaction after it ran. A process that dies between the
two leaves the claim behind (nothing half-written); reclaiming it so that the
step runs again belongs to the worker's leases (at-least-once steps,
exactly-once transitions).
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any
from uuid import UUID

from asgiref.sync import async_to_sync, sync_to_async
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, transaction

from workflows_app.core.context import StepExecution, WorkflowContext
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import (
    TaskAlreadyCompletedError,
    WorkflowInstanceNotFoundError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.core.registry import WorkflowRegistry, default_registry
from workflows_app.core.types import StepStatus, StepType, WorkflowStatus
from workflows_app.engine import semantics
from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

__all__ = ["PersistentExecutionEngine"]

logger = logging.getLogger(__name__)

_INSTANCE_FIELDS = [
    "status",
    "current_step",
    "context_data",
    "error",
    "completed_at",
    "tokens",
    "last_user_id",
]


class _Transition:
    """What one transaction did: the fresh state, the events, and a claimed token."""

    def __init__(self, state: WorkflowInstanceData) -> None:
        self.state = state
        self.events: list[semantics.Event] = []
        self.claimed: Token | None = None
        self.changed = True


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
        try:
            json.dumps([data, metadata])
        except (TypeError, ValueError) as exc:
            raise WorkflowValidationError(
                [f"initial_data and metadata must be JSON-serialisable: {exc}"]
            ) from None
        self._remember(definition)
        now = semantics.utcnow()
        with transaction.atomic(using=self.using):
            definition_row = self._startable_definition_row(definition)
            row = WorkflowInstanceModel(
                id=uuid.uuid4(),
                definition_id=definition_row.pk,
                workflow_name=definition.name,
                workflow_version=definition.version,
                status=WorkflowStatus.RUNNING,
                context_data=data,
                metadata=semantics.instance_metadata(definition, metadata),
                started_at=now,
                tenant_id=tenant_id,
                created_by=created_by,
            )
            step = _Transition(self._state(row, []))
            step.events = semantics.begin(step.state, definition)
            self._claim_next(step, definition)
            self._write(row, step.state)
            row.save(using=self.using, force_insert=True)
            self._send_after_commit(step.events)
        return self._drive(row.pk, definition, step.state, step.claimed)

    def complete_human_task_sync(
        self, instance_id: UUID, step_name: str, user_id: str, data: dict[str, Any]
    ) -> WorkflowInstanceData:
        """Complete the human step ``step_name`` with ``data`` and run on.

        ``data`` is validated against the step's form schema first; invalid data
        raises :class:`~workflows_app.TaskValidationError` and changes nothing.
        """
        row = self._get_row(instance_id)
        self._check_completable(row, self._state(row, []), step_name)
        definition = self._definition_of(row)
        step = definition.steps.get(step_name)
        if semantics.task_fields_need_event_loop(step):
            async_to_sync(semantics.check_submission)(step, data)
        else:
            semantics.run_sync(semantics.check_submission(step, data))

        def apply(row: WorkflowInstanceModel, t: _Transition) -> None:
            task, token = self._check_completable(row, t.state, step_name)
            t.events = semantics.resume(t.state, definition, step_name, user_id, data)
            now = semantics.utcnow()
            StepExecutionModel.objects.using(self.using).filter(
                instance_id=row.pk, token_id=token.id, status=StepStatus.WAITING
            ).update(
                status=StepStatus.SUCCEEDED,
                output_data=data,
                completed_by=user_id,
                completed_at=now,
                updated_at=now,
            )
            if task is not None:
                HumanTaskModel.objects.using(self.using).filter(pk=task.pk).update(
                    status="completed", completed_by=user_id, completed_at=now, updated_at=now
                )
            self._claim_next(t, definition)

        t = self._transition(instance_id, apply)
        return self._drive(instance_id, definition, t.state, t.claimed)

    def _check_completable(
        self, row: WorkflowInstanceModel, state: WorkflowInstanceData, step_name: str
    ) -> tuple[HumanTaskModel | None, Token]:
        """Return the task and branch to complete, or raise why they cannot be."""
        task = (
            HumanTaskModel.objects.using(self.using)
            .filter(instance_id=row.pk, step_name=step_name)
            .order_by("-created_at")
            .first()
        )
        if task is not None and task.status == "completed":
            raise TaskAlreadyCompletedError(task.pk)
        return task, semantics.waiting_token(state, step_name)

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
            self._claim_next(t, definition)

        t = self._transition(instance_id, apply)
        return self._drive(instance_id, definition, t.state, t.claimed)

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
        return await semantics.execute_step(step, context, previous_result, self)

    # -- running -------------------------------------------------------------------------

    def _drive(
        self,
        instance_id: UUID,
        definition: WorkflowDefinition,
        state: WorkflowInstanceData,
        claimed: Token | None,
    ) -> WorkflowInstanceData:
        """Run the instance's ready branches until none is left (outside transactions)."""
        while True:
            if claimed is None:
                token = semantics.next_ready(state)
                if token is None:
                    return state
                state, claimed = self._prepare(instance_id, definition, token, state)
                continue
            step = definition.steps[claimed.step]
            outcome = self._execute(step, state.context)
            changes = semantics.data_changes(outcome.input_data or {}, state.context.data)
            outcome, changes = _storable(claimed.step, outcome, changes)
            state, claimed = self._finish(
                instance_id, definition, claimed, outcome, changes, state.context.step_history
            )

    def _prepare(
        self,
        instance_id: UUID,
        definition: WorkflowDefinition,
        token: Token,
        state: WorkflowInstanceData,
    ) -> tuple[WorkflowInstanceData, Token | None]:
        """Claim a ready machine step, park a human one, or fail on a missing one."""
        step = definition.steps.get(token.step)
        fields = None
        if step is not None and semantics.is_human(step):
            fields = self._task_fields(step, state.context)

        def apply(row: WorkflowInstanceModel, t: _Transition) -> None:
            fresh = _find(t.state, token.id, semantics.READY)
            if fresh is None:
                t.changed = False  # someone else moved this branch on
            elif step is None:
                t.events = semantics.fail_missing_step(t.state, fresh)
            elif fields is not None:
                t.events = semantics.wait(t.state, definition, fresh)
                self._create_task(row, t.state, fresh, step, fields)
            else:
                t.events = semantics.enter(t.state, fresh, step)
                t.claimed = fresh

        t = self._transition(instance_id, apply, state.context.step_history)
        return t.state, t.claimed

    def _finish(
        self,
        instance_id: UUID,
        definition: WorkflowDefinition,
        token: Token,
        outcome: semantics.Outcome,
        changes: tuple[dict[str, Any], list[str]],
        history: list[StepExecution],
    ) -> tuple[WorkflowInstanceData, Token | None]:
        def apply(row: WorkflowInstanceModel, t: _Transition) -> None:
            fresh = _find(t.state, token.id, semantics.RUNNING)
            if fresh is None:
                t.changed = False  # canceled (or taken over) while the step ran
                return
            semantics.apply_changes(t.state.context.data, changes)
            t.events = semantics.advance(t.state, definition, fresh, outcome)
            step = definition.steps[fresh.step]
            StepExecutionModel.objects.using(self.using).create(
                instance_id=row.pk,
                step_name=fresh.step,
                step_type=str(getattr(step, "step_type", StepType.MACHINE)),
                status=outcome.status,
                input_data=outcome.input_data,
                output_data=semantics.output_of(outcome.result),
                error=outcome.error,
                started_at=outcome.started_at,
                completed_at=outcome.completed_at,
                token_id=fresh.id,
            )
            self._claim_next(t, definition)

        t = self._transition(instance_id, apply, history)
        return t.state, t.claimed

    def _execute(self, step: Any, context: WorkflowContext) -> semantics.Outcome:
        if semantics.needs_event_loop(step):
            return async_to_sync(semantics.run_step)(step, context, self)
        return semantics.run_sync(semantics.run_step(step, context, self))

    def _task_fields(self, step: Any, context: WorkflowContext) -> dict[str, Any]:
        if semantics.task_fields_need_event_loop(step):
            return async_to_sync(semantics.task_fields)(step, context)
        return semantics.run_sync(semantics.task_fields(step, context))

    def _claim_next(self, t: _Transition, definition: WorkflowDefinition) -> None:
        """Claim the next ready machine step in the same transaction."""
        token = semantics.next_ready(t.state)
        if token is None:
            return
        step = definition.steps.get(token.step)
        if step is not None and not semantics.is_human(step):
            t.events.extend(semantics.enter(t.state, token, step))
            t.claimed = token

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
                self._write(row, t.state)
                row.save(using=self.using, update_fields=[*_INSTANCE_FIELDS, "updated_at"])
                self._send_after_commit(t.events)
        return t

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
        return [
            StepExecution(
                step_name=r.step_name,
                status=StepStatus(r.status),
                started_at=r.started_at,
                completed_at=r.completed_at,
                result=r.output_data,
                error=r.error,
                input_data=r.input_data,
                output_data=r.output_data,
            )
            for r in StepExecutionModel.objects.using(self.using)
            .filter(instance_id=instance_id)
            .exclude(status=StepStatus.WAITING)
            .order_by("started_at", "created_at")
        ]

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

    @staticmethod
    def _write(row: WorkflowInstanceModel, state: WorkflowInstanceData) -> None:
        row.status = str(state.status)
        row.current_step = state.current_step
        row.context_data = state.context.data
        row.error = state.error
        row.completed_at = state.completed_at
        row.tokens = [token.to_dict() for token in state.tokens]
        row.last_user_id = state.context.user_id

    def _create_task(
        self,
        row: WorkflowInstanceModel,
        state: WorkflowInstanceData,
        token: Token,
        step: Any,
        fields: dict[str, Any],
    ) -> None:
        now = semantics.utcnow()
        execution = StepExecutionModel.objects.using(self.using).create(
            instance_id=row.pk,
            step_name=token.step,
            step_type=str(StepType.HUMAN),
            status=StepStatus.WAITING,
            input_data=copy.deepcopy(state.context.data),
            started_at=now,
            assigned_to=fields["assignee_id"],
            token_id=token.id,
        )
        HumanTaskModel.objects.using(self.using).create(
            instance_id=row.pk,
            step_execution=execution,
            step_name=token.step,
            tenant_id=row.tenant_id,
            **fields,
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

    def _startable_definition_row(self, definition: WorkflowDefinition) -> WorkflowDefinitionModel:
        row = self._definition_row(definition)
        if not row.is_active:
            raise WorkflowStateError(
                f"Workflow '{definition.name}' version '{definition.version}' is deactivated "
                "and starts no new instances"
            )
        return row

    def _remember(self, definition: WorkflowDefinition) -> None:
        """Register a definition started from a class, so that resuming finds it."""
        if not self.registry.has_definition(definition.name, definition.version):
            self.registry.register_definition(definition)

    def _definition_of(self, row: WorkflowInstanceModel) -> WorkflowDefinition:
        return self.registry.get_definition(row.workflow_name, row.workflow_version)

    # -- events ----------------------------------------------------------------------------

    def _send_after_commit(self, events: list[semantics.Event]) -> None:
        if events and self.event_bus is not None:
            transaction.on_commit(partial(self._emit, events), using=self.using, robust=True)

    def _emit(self, events: list[semantics.Event]) -> None:
        for name, payload in events:
            try:
                async_to_sync(self.event_bus.emit)(name, **payload)
            except Exception:
                logger.exception("event bus failed on %s", name)


def _storable(
    step_name: str, outcome: semantics.Outcome, changes: tuple[dict[str, Any], list[str]]
) -> tuple[semantics.Outcome, tuple[dict[str, Any], list[str]]]:
    """Turn a step whose data cannot be stored as JSON into a failed step."""
    try:
        json.dumps([changes[0], semantics.output_of(outcome.result)])
    except (TypeError, ValueError) as exc:
        failed = semantics.Outcome(
            StepStatus.FAILED,
            outcome.started_at,
            outcome.completed_at,
            error=f"Step '{step_name}' produced data that is not JSON-serialisable: {exc}",
            input_data=outcome.input_data,
        )
        return failed, ({}, [])
    return outcome, changes


def _find(state: WorkflowInstanceData, token_id: str, token_state: str) -> Token | None:
    return next((t for t in state.tokens if t.id == token_id and t.state == token_state), None)
