"""LocalExecutionEngine: runs workflows in memory, in the caller's event loop."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any
from uuid import UUID

from workflows_app.core import jsonvalues, multi_instance
from workflows_app.core.context import WorkflowContext
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import (
    CallbackNotFoundError,
    WorkflowInstanceNotFoundError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.models import WorkflowInstanceData
from workflows_app.core.registry import WorkflowRegistry
from workflows_app.core.types import WorkflowStatus
from workflows_app.engine import runner, semantics

__all__ = ["LocalExecutionEngine"]

logger = logging.getLogger(__name__)


class LocalExecutionEngine:
    """Run workflows in memory.

    ``start_workflow`` and ``complete_human_task`` run machine steps inline
    until the instance waits for a person, completes or fails, then return.
    Nothing survives the process: use
    :class:`~workflows_app.PersistentExecutionEngine` for durable workflows.

    ``persistence`` (optional) is any object with ``async save_instance(instance)``
    and ``async load_instance(instance_id)``; ``event_bus`` (optional) any
    object with ``async emit(event_type, **kwargs)``.
    """

    def __init__(
        self,
        registry: WorkflowRegistry,
        persistence: Any | None = None,
        event_bus: Any | None = None,
    ) -> None:
        self.registry = registry
        self.persistence = persistence
        self.event_bus = event_bus
        self._instances: dict[UUID, WorkflowInstanceData] = {}
        self._definitions: dict[UUID, WorkflowDefinition] = {}
        # Webhook steps, by callback token; kept as long as the instances are, so that a
        # used or stale token is refused as the persistent engine refuses it.
        self._callbacks: dict[str, tuple[UUID, str, str]] = {}
        # The step each instance is running, so that cancel_workflow can interrupt it.
        self._running: dict[UUID, asyncio.Future[runner.Outcome]] = {}

    # -- the documented API ----------------------------------------------------

    async def start_workflow(
        self,
        workflow: type[Any] | str,
        initial_data: dict[str, Any] | None = None,
        *,
        tenant_id: str | None = None,
        created_by: str | None = None,
        version: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WorkflowInstanceData:
        """Start an instance of ``workflow`` (a workflow class or a registered name)."""
        semantics.check_start_arguments(
            initial_data, metadata, tenant_id=tenant_id, created_by=created_by
        )
        definition = semantics.definition_to_start(self.registry, workflow, version)
        semantics.check_start_input(definition, initial_data)
        semantics.check_start_values(initial_data, metadata, jsonvalues.MAX_DEPTH)
        now = semantics.utcnow()
        instance_id = uuid.uuid4()
        context = WorkflowContext(
            workflow_id=uuid.uuid4(),
            instance_id=instance_id,
            data=dict(initial_data or {}),
            metadata=semantics.instance_metadata(definition, metadata),
            current_step=definition.initial_step,
            step_history=[],
            started_at=now,
            user_id=created_by,
            tenant_id=tenant_id,
        )
        instance = WorkflowInstanceData(
            id=instance_id,
            workflow_name=definition.name,
            workflow_version=definition.version,
            status=WorkflowStatus.RUNNING,
            context=context,
            current_step=definition.initial_step,
            started_at=now,
        )
        self._instances[instance_id] = instance
        self._definitions[instance_id] = definition
        events = semantics.begin(instance, definition)
        await self._save(instance)
        await self._emit(events)
        await self._run(instance, definition)
        return instance

    async def execute_step(
        self, step: Any, context: WorkflowContext, previous_result: Any = None
    ) -> Any:
        """Run one step outside any instance; return its result, or raise its error."""
        return await runner.execute_step(step, context, previous_result, self)

    async def schedule_step(
        self, instance_id: UUID, step_name: str, delay: timedelta | None = None
    ) -> None:
        """After ``delay``, move the instance to ``step_name`` and run it."""
        if delay:
            await asyncio.sleep(delay.total_seconds())
        instance = await self.get_instance(instance_id)
        definition = self._definition_of(instance)
        semantics.jump(instance, definition, step_name)
        await self._save(instance)
        await self._run(instance, definition)

    async def complete_human_task(
        self, instance_id: UUID, step_name: str, user_id: str, data: dict[str, Any]
    ) -> None:
        """Complete the human step ``step_name`` with ``data`` and run on."""
        instance = await self.get_instance(instance_id)
        definition = self._definition_of(instance)
        semantics.waiting_token(instance, step_name)
        semantics.check_task_data(data, jsonvalues.MAX_DEPTH)
        await runner.acheck_submission(definition.steps.get(step_name), data)
        events = semantics.resume(instance, definition, step_name, user_id, data)
        await self._save(instance)
        await self._emit(events)
        await self._run(instance, definition)

    async def complete_webhook(self, callback_token: str, payload: Any) -> None:
        """Resume the webhook step waiting for ``callback_token``; store ``payload`` and run on."""
        found = self._callbacks.get(callback_token)
        if found is None:
            raise CallbackNotFoundError()
        instance_id, step_name, token_id = found
        instance = await self.get_instance(instance_id)
        definition = self._definition_of(instance)
        waiting = [t.id for t in instance.tokens if t.state == semantics.WAITING]
        current = instance.context.data.get(definition.steps[step_name].get_token_key())
        if token_id not in waiting or current != callback_token or instance.status.is_terminal:
            # This wait is over (a branch waiting again after a retry has a new token).
            raise WorkflowStateError(f"The webhook step '{step_name}' is no longer waiting")
        problem = semantics.json_problem(payload, "payload", jsonvalues.MAX_DEPTH - 1)
        if problem is not None:
            raise WorkflowValidationError([problem])
        data = {definition.steps[step_name].callback_key: payload}
        events = semantics.resume(instance, definition, step_name, None, data)
        await self._save(instance)
        await self._emit(events)
        await self._run(instance, definition)

    async def cancel_workflow(self, instance_id: UUID, reason: str) -> None:
        """Cancel a running or waiting instance."""
        instance = await self.get_instance(instance_id)
        events = semantics.cancel(instance, reason)
        running = self._running.pop(instance_id, None)
        if running is not None:
            running.cancel()  # interrupt the step in the middle of its await
        await self._save(instance)
        await self._emit(events)

    async def retry(self, instance_id: UUID, from_step: str | None = None) -> WorkflowInstanceData:
        """Run a failed instance again from its failed step (or ``from_step``)."""
        instance = await self.get_instance(instance_id)
        definition = self._definition_of(instance)
        events = semantics.retry(instance, definition, from_step)
        await self._save(instance)
        await self._emit(events)
        await self._run(instance, definition)
        return instance

    async def get_instance(self, instance_id: UUID) -> WorkflowInstanceData:
        """Return the instance, or raise :class:`WorkflowInstanceNotFoundError`."""
        instance = self._instances.get(instance_id)
        if instance is None and self.persistence is not None:
            instance = await self.persistence.load_instance(instance_id)
            if instance is not None:
                self._instances[instance_id] = instance
        if instance is None:
            raise WorkflowInstanceNotFoundError(instance_id)
        return instance

    def get_running_instances(self) -> list[WorkflowInstanceData]:
        """Return the instances that are running or waiting."""
        live = (WorkflowStatus.RUNNING, WorkflowStatus.WAITING)
        return [i for i in self._instances.values() if i.status in live]

    def get_all_instances(self) -> list[WorkflowInstanceData]:
        """Return every instance this engine knows."""
        return list(self._instances.values())

    # -- sync twins --------------------------------------------------------------

    def start_workflow_sync(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Sync version of :meth:`start_workflow`."""
        return runner.wait(self.start_workflow(*args, **kwargs))

    def complete_human_task_sync(self, *args: Any, **kwargs: Any) -> None:
        """Sync version of :meth:`complete_human_task`."""
        return runner.wait(self.complete_human_task(*args, **kwargs))

    def complete_webhook_sync(self, callback_token: str, payload: Any) -> None:
        """Sync version of :meth:`complete_webhook`."""
        return runner.wait(self.complete_webhook(callback_token, payload))

    def cancel_workflow_sync(self, *args: Any, **kwargs: Any) -> None:
        """Sync version of :meth:`cancel_workflow`."""
        return runner.wait(self.cancel_workflow(*args, **kwargs))

    def retry_sync(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Sync version of :meth:`retry`."""
        return runner.wait(self.retry(*args, **kwargs))

    def get_instance_sync(self, instance_id: UUID) -> WorkflowInstanceData:
        """Sync version of :meth:`get_instance`."""
        return runner.wait(self.get_instance(instance_id))

    # -- internals -----------------------------------------------------------------

    def _definition_of(self, instance: WorkflowInstanceData) -> WorkflowDefinition:
        definition = self._definitions.get(instance.id)
        if definition is None:
            definition = self.registry.get_definition(
                instance.workflow_name, instance.workflow_version
            )
            self._definitions[instance.id] = definition
        return definition

    async def _run(self, instance: WorkflowInstanceData, definition: WorkflowDefinition) -> None:
        while True:
            token = semantics.next_ready(instance)
            if token is None:
                # Only timers and retries left: sleep until the first is due.
                due = semantics.next_due(instance)
                if due is None or instance.status.is_terminal:
                    return
                await asyncio.sleep(max((due - semantics.utcnow()).total_seconds(), 0))
                events, _ = semantics.wake(instance, definition, semantics.utcnow())
                await self._save(instance)
                await self._emit(events)
                continue
            step = definition.steps.get(token.step)
            if step is None:
                events = semantics.fail_missing_step(instance, token)
            elif semantics.is_human(step) and multi_instance.is_multi(step):
                error = f"Multi-instance human step '{token.step}' needs the persistent engine"
                events = semantics.fail_branch(instance, token, error)
            elif semantics.is_human(step):
                events = semantics.wait(instance, definition, token)
            elif semantics.is_webhook(step):
                callback = semantics.new_callback_token()
                self._callbacks[callback] = (instance.id, token.step, token.id)
                instance.context.data[step.get_token_key()] = callback
                events = semantics.wait(instance, definition, token)
                waiting = {"instance_id": instance.id, "step_name": token.step}
                events.append(("webhook.waiting", {**waiting, "callback_token": callback}))
            elif semantics.is_message(step):
                error = f"Message step '{token.step}' needs the persistent engine"
                events = semantics.fail_branch(instance, token, error)
            elif semantics.is_timer(step):
                events = semantics.start_timer(
                    instance, definition, token, step, semantics.utcnow()
                )
            else:
                await self._emit(semantics.enter(instance, token, step))
                running = asyncio.ensure_future(
                    runner.arun_step(step, instance.context, engine=self)
                )
                self._running[instance.id] = running
                try:
                    outcome = await running
                except asyncio.CancelledError:
                    if running.cancelled() and instance.status == WorkflowStatus.CANCELED:
                        return  # cancel_workflow interrupted the step
                    raise
                finally:
                    self._running.pop(instance.id, None)
                if instance.status != WorkflowStatus.RUNNING:
                    return  # canceled while the step ran: its outcome is dropped
                outcome, _ = semantics.keep_storable(token.step, outcome, instance.context)
                events = semantics.advance(instance, definition, token, outcome)
            await self._save(instance)
            await self._emit(events)

    async def _save(self, instance: WorkflowInstanceData) -> None:
        if self.persistence is not None:
            await self.persistence.save_instance(instance)

    async def _emit(self, events: list[semantics.Event]) -> None:
        if self.event_bus is None:
            return
        for name, payload in events:
            try:
                await self.event_bus.emit(name, **payload)
            except Exception:
                logger.exception("event bus failed on %s", name)
