"""LocalExecutionEngine: runs workflows in memory, in the caller's event loop."""

from __future__ import annotations

import asyncio
import copy
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from workflows_app.core import jsonvalues, multi_instance
from workflows_app.core import metadata as metadata_keys
from workflows_app.core import send_back as send_back_rules
from workflows_app.core import subworkflows as subworkflow_rules
from workflows_app.core.context import WorkflowContext
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import (
    CallbackNotFoundError,
    WorkflowInstanceNotFoundError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.models import PublishResult, WorkflowInstanceData
from workflows_app.core.registry import WorkflowRegistry
from workflows_app.core.types import PublishOutcome, StepStatus, StepType, WorkflowStatus
from workflows_app.engine import compensation, runner, semantics

__all__ = ["LocalExecutionEngine"]

PARENT = metadata_keys.PARENT
CANCEL_REQUESTED = metadata_keys.CANCEL_REQUESTED

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Subscription:
    """A branch waiting at a message step for the message ``message`` with the
    correlation ``value`` (read when it entered the step), in ``tenant_id``."""

    instance_id: UUID
    token_id: str
    step_name: str
    message: str
    value: str
    tenant_id: str | None
    since: datetime


@dataclass(frozen=True)
class BufferedMessage:
    """A published message nobody waited for, kept until ``expires_at``."""

    name: str
    value: str
    tenant_id: str | None
    payload: Any
    message_id: str | None
    created_at: datetime
    expires_at: datetime


class LocalExecutionEngine:
    """Run workflows in memory.

    ``start_workflow`` and ``complete_human_task`` run machine steps inline
    until the instance waits for a person, completes or fails, then return.
    Nothing survives the process: use
    :class:`~workflows_app.PersistentExecutionEngine` for durable workflows.

    It follows the persistent engine's rules (:mod:`.semantics`) for suspension,
    send back, withdrawal, messages and subworkflows (children run on this engine, in
    the parent's call, one after the other: docs/subworkflows.rst); it keeps no human tasks, so a step is sent
    back by its name, and "no task of it has been completed" (for a withdrawal) means
    no human step of it has been completed (there is no claim).

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
        # Who started each instance (its context's user_id changes as people complete
        # its steps), for withdraw.
        self._starters: dict[UUID, str | None] = {}
        # Messages: the branches waiting (oldest first), the messages kept for their ttl
        # (oldest first), the message ids remembered (until when; None: for good), and the
        # instance each (tenant, workflow, correlation value) started by message.
        self._subscriptions: list[Subscription] = []
        self._buffered: list[BufferedMessage] = []
        self._message_ids: dict[tuple[str | None, str, str], datetime | None] = {}
        # (None: being started)
        self._started_by_message: dict[tuple[str | None, str, str], UUID | None] = {}
        # Subworkflows: the parents whose drive is running the children it just started
        # (a child that ends then leaves the parent to that drive), and the instances
        # whose end has been dealt with (their parent resumed, their children closed).
        self._starting: set[UUID] = set()
        self._closed: set[UUID] = set()

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
        instance = self._create(definition, initial_data, tenant_id, created_by, metadata)
        events = semantics.begin(instance, definition)
        await self._save(instance)
        await self._emit(events)
        await self._run(instance, definition)
        return instance

    def _create(
        self,
        definition: WorkflowDefinition,
        initial_data: dict[str, Any] | None,
        tenant_id: str | None,
        created_by: str | None,
        metadata: dict[str, Any] | None,
    ) -> WorkflowInstanceData:
        """A new running instance of ``definition`` (not begun yet), kept by the engine."""
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
        self._starters[instance_id] = created_by
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
        if instance.status == WorkflowStatus.SUSPENDED:
            # Kept, in arrival order, and applied when the instance is resumed.
            buffer = instance.context.metadata.get(semantics.CALLBACK_BUFFER, [])
            buffer = semantics.buffer_callback(buffer, token_id, step_name, payload)
            self._set_metadata(instance, semantics.CALLBACK_BUFFER, buffer)
            await self._save(instance)
            return
        data = {definition.steps[step_name].callback_key: payload}
        events = semantics.resume(instance, definition, step_name, None, data)
        await self._save(instance)
        await self._emit(events)
        await self._run(instance, definition)

    async def cancel_workflow(
        self, instance_id: UUID, reason: str, compensate: bool = False
    ) -> None:
        """Cancel a running or waiting instance; with ``compensate``, undo its completed
        steps first (see :mod:`.compensation`)."""
        instance = await self.get_instance(instance_id)
        definition = self._definition_of(instance) if compensate else None
        if definition is not None:
            events = compensation.cancel(instance, definition, reason)
        else:
            events = semantics.cancel(instance, reason)
        self._drop(instance)
        running = self._running.pop(instance_id, None)
        if running is not None:
            running.cancel()  # interrupt the step in the middle of its await
        await self._save(instance)
        await self._emit(events)
        if definition is not None and compensation.is_compensating(instance):
            await self._run(instance, definition)
        else:
            await self._ended(instance)

    async def retry(self, instance_id: UUID, from_step: str | None = None) -> WorkflowInstanceData:
        """Run a failed instance again from its failed step (or ``from_step``)."""
        instance = await self.get_instance(instance_id)
        definition = self._definition_of(instance)
        events = compensation.retry(instance, definition, from_step)
        self._closed.discard(instance.id)
        await self._save(instance)
        await self._emit(events)
        await self._run(instance, definition)
        return instance

    async def suspend(
        self, instance_id: UUID, reason: str, by: str | None = None
    ) -> WorkflowInstanceData:
        """Hold a running or waiting instance: nothing of it runs, what falls due waits,
        and webhook callbacks are kept, until :meth:`resume` (docs/suspension.rst). An
        instance whose step is running right now is refused: suspend it once it waits."""
        reason = semantics.check_suspension_reason(reason)
        instance = await self.get_instance(instance_id)
        if instance.id in self._running:
            raise semantics.step_in_flight(instance.id)
        events = semantics.suspend(instance, reason, by)
        entry = semantics.suspension_entry("suspended", by, reason)
        self._audit(instance, semantics.SUSPENSION_AUDIT, entry)
        await self._save(instance)
        await self._emit(events)
        return instance

    async def resume(self, instance_id: UUID, by: str | None = None) -> WorkflowInstanceData:
        """Resume a suspended instance: the webhook callbacks kept meanwhile are applied in
        the order they arrived, and what fell due runs, once."""
        instance = await self.get_instance(instance_id)
        definition = self._definition_of(instance)
        events = semantics.lift_suspension(instance, definition, by)
        metadata = instance.context.metadata
        buffered = metadata.get(semantics.CALLBACK_BUFFER, [])
        instance.context.metadata = {
            k: v for k, v in metadata.items() if k != semantics.CALLBACK_BUFFER
        }
        entry = semantics.suspension_entry("resumed", by, None, len(buffered))
        for callback in buffered:
            step_name = callback["step_name"]
            step = definition.steps.get(step_name)
            waiting = [t for t in instance.tokens if t.state == semantics.WAITING]
            if step is None or not any(t.id == callback["execution_id"] for t in waiting):
                entry["skipped"] = [*entry.get("skipped", []), step_name]
                continue
            if semantics.waiting_token(instance, step_name).id != callback["execution_id"]:
                entry["skipped"] = [*entry.get("skipped", []), step_name]
                continue
            data = {step.callback_key: callback["payload"]}
            events += semantics.resume(instance, definition, step_name, None, data)
        self._audit(instance, semantics.SUSPENSION_AUDIT, entry)
        # The children that ended while it was suspended, in the order they ended.
        metadata = instance.context.metadata
        children_ended = metadata.get(metadata_keys.BUFFERED_CHILDREN, [])
        instance.context.metadata = {
            k: v for k, v in metadata.items() if k != metadata_keys.BUFFERED_CHILDREN
        }
        siblings: list[UUID] = []
        for ended in children_ended:
            more, others = self._child_end(instance, definition, ended)
            events += more
            siblings += others
        await self._save(instance)
        await self._emit(events)
        await self._cancel_children(siblings, "another child of its parent's step ended")
        await self._run(instance, definition)
        return instance

    async def send_back(
        self,
        instance_id: UUID,
        step_name: str,
        to_step: str,
        reason: str,
        by: str | None = None,
    ) -> WorkflowInstanceData:
        """Return the instance waiting at the human step ``step_name`` to the earlier step
        ``to_step`` for rework, with ``reason``, as ``by``: ``to_step`` runs again as a new
        execution (the first attempt's history is kept). ``to_step`` must be listed in the
        step's ``send_back_to`` and be on the same branch (docs/rework.rst)."""
        send_back_rules.check_request(to_step, reason)
        instance = await self.get_instance(instance_id)
        definition = self._definition_of(instance)
        send_back_rules.check(definition, step_name, to_step)
        at = semantics.utcnow().isoformat()
        info = {"task_id": None, "reason": reason, "by": by, "at": at, "assignee": None}
        events = semantics.send_back(instance, definition, step_name, to_step, info)
        entry = {"task_id": None, "from_step": step_name, "to_step": to_step}
        self._audit(
            instance, metadata_keys.SENT_BACK, {**entry, "reason": reason, "by": by, "at": at}
        )
        await self._save(instance)
        await self._emit(events)
        await self._run(instance, definition)
        return instance

    async def withdraw(self, instance_id: UUID, by: str) -> WorkflowInstanceData:
        """Cancel the instance for the user who started it (``by``), while no human step
        of it has been completed; otherwise :class:`WorkflowStateError` says why."""
        instance = await self.get_instance(instance_id)
        definition = self._definition_of(instance)
        completed = any(
            entry.status == StepStatus.SUCCEEDED
            and semantics.is_human(definition.steps.get(entry.step_name))
            for entry in instance.context.step_history
        )
        semantics.check_withdrawal(
            instance.id,
            instance.status,
            self._starters.get(instance.id),
            by,
            completed=completed,
            claimed=False,
        )
        events = semantics.withdraw(instance, by)
        self._drop(instance)
        self._audit(instance, metadata_keys.WITHDRAWN, semantics.withdrawal_entry(by))
        await self._save(instance)
        await self._emit(events)
        await self._ended(instance)
        return instance

    async def publish_message(
        self,
        name: str,
        correlation_key: Any,
        payload: Any = None,
        *,
        message_id: str | None = None,
        ttl: Any = None,
        tenant_id: str | None = None,
    ) -> PublishResult:
        """Deliver the message ``name`` to the instance waiting for it with
        ``correlation_key`` (in ``tenant_id``) that has waited longest; with none
        waiting, start a workflow that has ``start_on_message = name``, or keep it for
        ``ttl`` (seconds or a ``timedelta``) for the first that starts waiting. A second
        message with a ``message_id`` already known is ignored (docs/messages.rst)."""
        value, lifetime = semantics.check_publish(
            name, correlation_key, payload, message_id, ttl, tenant_id, jsonvalues.MAX_DEPTH
        )
        starter = semantics.message_starter(self.registry, name)
        now = semantics.utcnow()
        expires = None if lifetime is None else now + lifetime
        self._forget(now)
        key = None if message_id is None else (tenant_id, name, message_id)
        if key is not None and key in self._message_ids:
            return PublishResult(PublishOutcome.DUPLICATE)
        described = {"name": name, "correlation_key": value, "message_id": message_id}
        for subscription in list(self._subscriptions):
            if (subscription.message, subscription.value, subscription.tenant_id) != (
                name,
                value,
                tenant_id,
            ):
                continue
            delivered = self._deliver(subscription, payload, described)
            if delivered is None:
                continue
            instance, definition, events = delivered
            if key is not None:
                self._message_ids[key] = expires
            await self._save(instance)
            await self._emit(events)
            await self._run(instance, definition)
            return PublishResult(PublishOutcome.DELIVERED, instance_id=instance.id)
        if starter is not None:
            return await self._start_by_message(
                starter, described, value, payload, tenant_id, key, expires
            )
        if lifetime is None:
            return PublishResult(PublishOutcome.DROPPED)
        assert expires is not None
        message = BufferedMessage(name, value, tenant_id, payload, message_id, now, expires)
        self._buffered.append(message)
        if key is not None:
            self._message_ids[key] = expires
        event = {**described, "tenant_id": tenant_id, "expires_at": expires}
        await self._emit([("message.buffered", event)])
        return PublishResult(PublishOutcome.BUFFERED, expires_at=expires)

    def waiting_subscriptions(self) -> list[Subscription]:
        """The branches waiting for a message, oldest first."""
        return list(self._subscriptions)

    def buffered_messages(self) -> list[BufferedMessage]:
        """The messages kept for their ttl (those that ran out included until the next
        publish forgets them), oldest first."""
        return list(self._buffered)

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

    def suspend_sync(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Sync version of :meth:`suspend`."""
        return runner.wait(self.suspend(*args, **kwargs))

    def resume_sync(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Sync version of :meth:`resume`."""
        return runner.wait(self.resume(*args, **kwargs))

    def send_back_sync(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Sync version of :meth:`send_back`."""
        return runner.wait(self.send_back(*args, **kwargs))

    def withdraw_sync(self, *args: Any, **kwargs: Any) -> WorkflowInstanceData:
        """Sync version of :meth:`withdraw`."""
        return runner.wait(self.withdraw(*args, **kwargs))

    def publish_message_sync(self, *args: Any, **kwargs: Any) -> PublishResult:
        """Sync version of :meth:`publish_message`."""
        return runner.wait(self.publish_message(*args, **kwargs))

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
        await self._drive(instance, definition)
        await self._ended(instance)

    async def _drive(self, instance: WorkflowInstanceData, definition: WorkflowDefinition) -> None:
        while True:
            if instance.status == WorkflowStatus.SUSPENDED:
                return  # resume runs it on
            token = semantics.next_ready(instance)
            if token is None:
                delivered = self._deliver_buffered(instance, definition)
                if delivered:
                    await self._save(instance)
                    await self._emit(delivered)
                    continue
                # Only timers and retries left: sleep until the first is due.
                due = semantics.next_due(instance)
                if due is None or instance.status.is_terminal:
                    return
                await asyncio.sleep(max((due - semantics.utcnow()).total_seconds(), 0))
                if instance.status == WorkflowStatus.SUSPENDED:
                    return  # what fell due waits for the resume
                events, _ = semantics.wake(instance, definition, semantics.utcnow())
                await self._save(instance)
                await self._emit(events)
                continue
            step = definition.steps.get(token.step)
            if step is None:
                events = semantics.fail_missing_step(instance, token)
            elif token.compensation and step.step_type == StepType.SUBWORKFLOW:
                # Undoing a subworkflow step's children is the persistent engine's
                # (engine/child_compensation.py): here the compensation fails, clearly.
                now = semantics.utcnow()
                error = (
                    f"Compensating subworkflow step '{token.step}' (undoing its children) "
                    "needs the persistent engine"
                )
                outcome = semantics.Outcome(StepStatus.FAILED, now, now, error=error)
                events = compensation.advance(instance, definition, token, outcome)
            elif step.step_type == StepType.SUBWORKFLOW:
                events, children = self._call(instance, definition, token, step)
                if children:
                    await self._save(instance)
                    await self._emit(events)
                    await self._start_children(instance, children)
                    continue
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
                events = self._subscribe(instance, definition, token, step)
            elif semantics.is_timer(step):
                events = semantics.start_timer(
                    instance, definition, token, step, semantics.utcnow()
                )
            else:
                await self._emit(semantics.enter(instance, token, step))
                run = runner.arun_compensation if token.compensation else runner.arun_step
                running = asyncio.ensure_future(run(step, instance.context, engine=self))
                self._running[instance.id] = running
                try:
                    outcome = await running
                except asyncio.CancelledError:
                    dropped = token not in instance.tokens  # canceled to compensate
                    if running.cancelled() and (
                        instance.status == WorkflowStatus.CANCELED or dropped
                    ):
                        return  # cancel_workflow interrupted the step
                    raise
                finally:
                    self._running.pop(instance.id, None)
                if instance.status != WorkflowStatus.RUNNING:
                    return  # canceled while the step ran: its outcome is dropped
                outcome, _ = semantics.keep_storable(token.step, outcome, instance.context)
                events = compensation.advance(instance, definition, token, outcome)
            await self._save(instance)
            await self._emit(events)

    # -- subworkflows (the rules: core.subworkflows; docs/subworkflows.rst) ---------------

    def _call(
        self,
        instance: WorkflowInstanceData,
        definition: WorkflowDefinition,
        token: Any,
        step: Any,
    ) -> tuple[list[semantics.Event], list[WorkflowInstanceData]]:
        """Park ``token`` at its subworkflow step and create its children (not begun), in
        item order; or fail the branch (unknown workflow, ``input``/``for_each`` broke), or
        skip the step (``for_each`` gave no items)."""
        try:
            target = semantics.definition_to_start(self.registry, step.workflow, step.version)
            inputs = subworkflow_rules.child_inputs(step, instance.context)
            for data in inputs:
                semantics.check_start_values(data, None, jsonvalues.MAX_DEPTH)
        except Exception as exc:  # unknown workflow, or the step's input/for_each broke
            error = subworkflow_rules.start_failure(token.step, exc)
            return semantics.fail_branch(instance, token, error), []
        key = subworkflow_rules.results_key(token.step)
        if not inputs:
            events = semantics.enter(instance, token, step)
            now = semantics.utcnow()
            before = copy.deepcopy(instance.context.data)
            instance.context.data[key] = []
            outcome = semantics.Outcome(StepStatus.SKIPPED, now, now, input_data=before)
            return events + semantics.advance(instance, definition, token, outcome), []
        if step.for_each is not None:
            instance.context.data[key] = [None] * len(inputs)
        events = semantics.wait(instance, definition, token)
        link = {"instance_id": str(instance.id), "step": token.step}
        link["execution_id"] = self._execution(token)
        tenant_id, created_by = instance.context.tenant_id, self._starters.get(instance.id)
        children = [
            self._create(target, data, tenant_id, created_by, {PARENT: {**link, "index": i}})
            for i, data in enumerate(inputs)
        ]
        waiting = {"instance_id": instance.id, "step_name": token.step}
        events.append(("subworkflow.waiting", {**waiting, "children": [c.id for c in children]}))
        return events, children

    @staticmethod
    def _execution(token: Any) -> str:
        """What names one attempt of a branch's subworkflow step (a retry is a new one)."""
        return f"{token.id}:{token.attempt}"

    async def _start_children(
        self, parent: WorkflowInstanceData, children: list[WorkflowInstanceData]
    ) -> None:
        """Begin and run each child in turn, in item order, until it waits or ends; a child
        that ends meanwhile leaves its parent to the caller's drive."""
        self._starting.add(parent.id)
        try:
            for index, child in enumerate(children):
                definition = self._definition_of(child)
                events = semantics.begin(child, definition)
                started = {"instance_id": parent.id, "child_id": child.id, "index": index}
                started["step_name"] = child.context.metadata[PARENT]["step"]
                events.append(("subworkflow.started", started))
                await self._save(child)
                await self._emit(events)
                if child.status.is_terminal:
                    continue  # canceled with a sibling that failed
                await self._run(child, definition)
        finally:
            self._starting.discard(parent.id)

    async def _ended(self, instance: WorkflowInstanceData) -> None:
        """Once ``instance`` has ended: resume its parent if it is a child, and apply
        ``on_parent_close`` to its own children still running (once per end)."""
        if not instance.status.is_terminal:
            requested = instance.context.metadata.get(CANCEL_REQUESTED)
            if requested and instance.id not in self._running:
                await self._cancel_children([instance.id], requested)
            return
        if instance.id in self._closed:
            return
        self._closed.add(instance.id)
        link = instance.context.metadata.get(PARENT)
        if link:
            await self._resume_parent(instance, link)
        running = [c for c in self._children_of(instance.id) if not c.status.is_terminal]
        if not running:
            return  # (an instance without children needs no definition here)
        reason = f"parent instance {instance.id} ended ({instance.status})"
        definition = self._definition_of(instance)
        for child in running:
            step = definition.steps.get(child.context.metadata[PARENT]["step"])
            policy = getattr(step, "on_parent_close", "terminate")
            if policy == "abandon" or child.status.is_terminal:
                continue
            if policy == "request_cancel" and child.id in self._running:
                self._set_metadata(child, CANCEL_REQUESTED, reason)  # when its step ends
                continue
            await self._cancel_children([child.id], reason)

    def _children_of(self, instance_id: UUID, execution: str | None = None) -> list[Any]:
        """The children of ``instance_id`` (of one attempt of a step: ``execution``)."""
        found = []
        for child in list(self._instances.values()):
            link = child.context.metadata.get(PARENT)
            if link and link["instance_id"] == str(instance_id):
                if execution is None or link["execution_id"] == execution:
                    found.append(child)
        return found

    async def _cancel_children(self, children: list[UUID], reason: str) -> None:
        for child_id in children:
            try:
                await self.cancel_workflow(child_id, reason[:500])
            except WorkflowStateError:
                pass  # it ended meanwhile

    async def _resume_parent(self, child: WorkflowInstanceData, link: dict[str, Any]) -> None:
        """Apply the end of ``child`` to its parent, if the parent still waits for it (if
        the parent is suspended: when it is resumed)."""
        parent = self._instances.get(UUID(link["instance_id"]))
        if parent is None or parent.status.is_terminal:
            return
        ended = {
            "child_id": str(child.id),
            "execution_id": link["execution_id"],
            "index": link.get("index", 0),
            "status": str(child.status),
            "data": child.context.data if child.status == WorkflowStatus.COMPLETED else None,
            "error": child.error,
            "workflow": child.workflow_name,
        }
        if self._waiting_for(parent, ended) is None:
            return  # the parent no longer waits for this child
        if parent.status == WorkflowStatus.SUSPENDED:
            buffered = parent.context.metadata.get(metadata_keys.BUFFERED_CHILDREN, [])
            self._set_metadata(parent, metadata_keys.BUFFERED_CHILDREN, [*buffered, ended])
            await self._save(parent)
            return
        definition = self._definition_of(parent)
        events, siblings = self._child_end(parent, definition, ended)
        await self._save(parent)
        await self._emit(events)
        await self._cancel_children(siblings, "another child of its parent's step ended")
        if parent.id not in self._starting:
            await self._run(parent, definition)

    def _waiting_for(self, parent: WorkflowInstanceData, ended: dict[str, Any]) -> Any:
        """The parent's branch waiting for the child whose end is ``ended``, or None."""
        return next(
            (
                t
                for t in parent.tokens
                if t.state == semantics.WAITING and self._execution(t) == ended["execution_id"]
            ),
            None,
        )

    def _child_end(
        self, parent: WorkflowInstanceData, definition: WorkflowDefinition, ended: dict[str, Any]
    ) -> tuple[list[semantics.Event], list[UUID]]:
        """Apply a child's end to its waiting parent: its output (joined, with for_each),
        or the step's failure (its retry policy decides); return the events and the other
        children of that attempt to cancel."""
        token = self._waiting_for(parent, ended)
        step = definition.steps.get(token.step) if token is not None else None
        if token is None or step is None:
            return [], []
        about = {"instance_id": parent.id, "step_name": token.step}
        about["child_id"] = UUID(ended["child_id"])
        error = None
        if ended["status"] != WorkflowStatus.COMPLETED:
            error = subworkflow_rules.child_failure(
                ended["workflow"], ended["child_id"], ended["status"], ended["error"]
            )
        else:
            try:
                output = subworkflow_rules.parent_output(step, ended["data"] or {})
            except Exception as exc:  # the step's output mapping broke
                error = subworkflow_rules.output_failure(token.step, exc)
        if error is not None:
            siblings = [
                c.id
                for c in self._children_of(parent.id, ended["execution_id"])
                if not c.status.is_terminal and c.id != about["child_id"]
            ]
            now = semantics.utcnow()
            exception = subworkflow_rules.SubworkflowError(error)
            outcome = semantics.Outcome(
                StepStatus.FAILED, token.started_at or now, now, error=error, exception=exception
            )
            events = [("subworkflow.ended", {**about, "status": "failed", "error": error})]
            return events + semantics.advance(parent, definition, token, outcome), siblings
        events = [("subworkflow.ended", {**about, "status": ended["status"]})]
        joined = subworkflow_rules.join(
            step, token.step, parent.context.data, ended["index"], output
        )
        if joined is None:
            return events, []  # others still run
        return events + semantics.resume(parent, definition, token.step, None, joined), []

    def _subscribe(
        self, instance: WorkflowInstanceData, definition: WorkflowDefinition, token: Any, step: Any
    ) -> list[semantics.Event]:
        """Park ``token`` at its message step, subscribed to the message with the value of
        its correlation key, read now (or fail it: the value cannot be a key)."""
        try:
            value = semantics.message_correlation(step, instance.context)
        except WorkflowValidationError as exc:
            return semantics.fail_branch(instance, token, f"Message step '{token.step}': {exc}")
        events = semantics.wait(instance, definition, token)
        tenant_id = instance.context.tenant_id
        self._subscriptions.append(
            Subscription(
                instance.id, token.id, token.step, step.message, value, tenant_id, token.started_at
            )
        )
        waiting = {"instance_id": instance.id, "step_name": token.step}
        waiting |= {"message_name": step.message, "correlation_key": value}
        return [*events, ("message.waiting", waiting)]

    def _deliver(
        self, subscription: Subscription, payload: Any, described: dict[str, Any]
    ) -> tuple[WorkflowInstanceData, WorkflowDefinition, list[semantics.Event]] | None:
        """Resume the branch waiting with ``subscription`` with ``payload``; None if it
        cannot take it: its instance is suspended or failed (the subscription is kept),
        or its step no longer waits (the subscription is dropped)."""
        instance = self._instances.get(subscription.instance_id)
        if instance is not None and instance.status in semantics.MESSAGE_HELD:
            return None
        self._subscriptions.remove(subscription)
        if instance is None or instance.status.is_terminal:
            return None
        waiting = [t for t in instance.tokens if t.state == semantics.WAITING]
        if not any(t.id == subscription.token_id for t in waiting):
            return None
        definition = self._definition_of(instance)
        step = definition.steps.get(subscription.step_name)
        if step is None or not semantics.is_message(step):
            return None
        events = semantics.deliver_message(
            instance, definition, subscription.step_name, payload, described
        )
        return instance, definition, events

    def _deliver_buffered(
        self, instance: WorkflowInstanceData, definition: WorkflowDefinition
    ) -> list[semantics.Event]:
        """Deliver to the instance's subscriptions the buffered messages that wait for
        them (the oldest first); return the events."""
        events: list[semantics.Event] = []
        if not self._buffered or instance.status in semantics.MESSAGE_HELD:
            return events
        now = semantics.utcnow()
        for subscription in [s for s in self._subscriptions if s.instance_id == instance.id]:
            matching = (subscription.message, subscription.value, subscription.tenant_id)
            message = next(
                (
                    m
                    for m in self._buffered
                    if (m.name, m.value, m.tenant_id) == matching and m.expires_at > now
                ),
                None,
            )
            if message is None:
                continue
            described = {
                "name": message.name,
                "correlation_key": message.value,
                "message_id": message.message_id,
            }
            delivered = self._deliver(subscription, message.payload, described)
            if delivered is not None:
                self._buffered.remove(message)
                events += delivered[2]
        return events

    async def _start_by_message(
        self,
        definition: WorkflowDefinition,
        described: dict[str, Any],
        value: str,
        payload: Any,
        tenant_id: str | None,
        key: tuple[str | None, str, str] | None,
        expires: datetime | None,
    ) -> PublishResult:
        """Start an instance of ``definition`` with ``payload``, unless an instance started
        by a message with the correlation ``value`` still runs (or is being started)."""
        data = semantics.message_start_data(definition, value, payload)
        starter = (tenant_id, definition.name, value)
        if starter in self._started_by_message:
            running = self._started_by_message[starter]
            if running is None or not self._instances[running].status.is_terminal:
                return PublishResult(PublishOutcome.DROPPED)
        self._started_by_message[starter] = None
        if key is not None:
            self._message_ids[key] = expires
        try:
            instance = await self.start_workflow(
                definition.name,
                data,
                tenant_id=tenant_id,
                version=definition.version,
                metadata=semantics.message_start_metadata(described["name"], value),
            )
        except Exception:
            # Nothing started: the key (and the message id) are free again.
            self._started_by_message.pop(starter, None)
            if key is not None:
                self._message_ids.pop(key, None)
            raise
        self._started_by_message[starter] = instance.id
        return PublishResult(PublishOutcome.STARTED, instance_id=instance.id)

    def _forget(self, now: datetime) -> None:
        """Forget the buffered messages and message ids whose time ran out."""
        self._buffered = [m for m in self._buffered if m.expires_at > now]
        self._message_ids = {
            k: until for k, until in self._message_ids.items() if until is None or until > now
        }

    def _drop(self, instance: WorkflowInstanceData) -> None:
        """Forget what waits for the canceled ``instance``: its subscriptions and the
        webhook callbacks buffered while it was suspended."""
        self._subscriptions = [s for s in self._subscriptions if s.instance_id != instance.id]
        metadata = instance.context.metadata
        if semantics.CALLBACK_BUFFER in metadata:
            instance.context.metadata = {
                k: v for k, v in metadata.items() if k != semantics.CALLBACK_BUFFER
            }

    def _set_metadata(self, instance: WorkflowInstanceData, key: str, value: Any) -> None:
        instance.context.metadata = {**instance.context.metadata, key: value}

    def _audit(self, instance: WorkflowInstanceData, key: str, entry: dict[str, Any]) -> None:
        """Append ``entry`` (who did what, when, why) to the list ``key`` of the metadata."""
        self._set_metadata(instance, key, [*instance.context.metadata.get(key, []), entry])

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
