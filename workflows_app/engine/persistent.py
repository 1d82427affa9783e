"""PersistentExecutionEngine: every state change committed to the Django database.

This module is the engine's public API: each ``_sync`` method is the one
implementation of an operation; its async twin (:mod:`.awaitable`) awaits it in a
thread. The rules they compose live in a file each:

- :mod:`.semantics`: how an instance moves (pure transitions, no I/O);
- :mod:`.runner`: calling step code, sync or async;
- :mod:`.store`: an instance's rows and state, read, inserted, saved;
- :mod:`.leases`: which drive runs an instance;
- :mod:`.drive`: running ready branches and committing their results (with
  :mod:`.batches`);
- :mod:`.task_actions`: what happens to task rows;
- :mod:`.effects`: what a commit does besides saving (events, tasks on hold, waking
  workers through :mod:`.dispatch`);
- :mod:`.definitions`: definition rows;
- :mod:`.messages`: who receives a published message.

User code (steps, hooks, assignment methods) never runs inside a transaction. A change
made by a call (a completed task, say) is computed outside any transaction and saved if
the instance did not change meanwhile; after a few conflicts in a row it is applied
under the instance's row lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.db import DEFAULT_DB_ALIAS, transaction

from workflows_app import conf
from workflows_app.core.context import WorkflowContext
from workflows_app.core.exceptions import (
    CallbackNotFoundError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.migration import MigrationPlan
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.core.registry import WorkflowRegistry, default_registry
from workflows_app.core.types import StepStatus, WorkflowStatus
from workflows_app.engine import (
    comments,
    compensation,
    definitions,
    delegation,
    four_eyes,
    leases,
    messages,
    migrations,
    multi_instance,
    runner,
    semantics,
    send_back,
    substitution,
    suspension,
    task_actions,
    withdraw,
)
from workflows_app.engine.awaitable import AwaitableAPI
from workflows_app.engine.drive import Drive
from workflows_app.engine.effects import Effects
from workflows_app.engine.store import Store, Transition
from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    Substitution,
    TaskCommentModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

__all__ = ["PersistentExecutionEngine"]

# Conflicting saves in a row before a change is applied under the instance's row lock.
_OPTIMISTIC_ATTEMPTS = 5


class PersistentExecutionEngine(AwaitableAPI):
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
        self.using = using or DEFAULT_DB_ALIAS
        self.store = Store(self.using, self.registry)
        self.effects = Effects(self.using, type(self), event_bus)
        self.drive = Drive(self.store, self.effects, self)
        self.effects.engine = self

    @property
    def event_bus(self) -> Any | None:
        """The event bus events are sent to (``emit(event_type, **kwargs)``), or None."""
        return self.effects.event_bus

    @event_bus.setter
    def event_bus(self, bus: Any | None) -> None:
        self.effects.event_bus = bus

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
        semantics.check_start_input(definition, initial_data)
        semantics.check_start_values(initial_data, metadata, conf.get_settings().JSON_MAX_DEPTH)
        data = dict(initial_data or {})
        if not self.registry.has_definition(definition.name, definition.version):
            self.registry.register_definition(definition)  # started from a class: resumable
        row = WorkflowInstanceModel(
            id=uuid.uuid4(),
            definition_id=definitions.startable_id(self.using, definition),
            workflow_name=definition.name,
            workflow_version=definition.version,
            status=WorkflowStatus.RUNNING,
            context_data=data,
            metadata=semantics.instance_metadata(definition, metadata),
            started_at=semantics.utcnow(),
            tenant_id=tenant_id,
            created_by=created_by,
        )
        state = self.store.state(row, [])
        events = semantics.begin(state, definition)
        # The instance is committed (one INSERT, no explicit transaction) before any step
        # runs: steps may refer to it, and a crash leaves it behind for a worker.
        if not leases.inline():
            self.store.insert_instance(row, state, owner=None)
            self.effects.committing(state, events, None)
            return state
        owner = leases.new_owner()
        claimed = semantics.claim_next(state, definition, events)
        self.store.insert_instance(row, state, owner=owner)
        self.effects.committing(state, events, owner)
        return self.drive.run(row.pk, definition, state, claimed, row.lock_version, owner)

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
        :class:`~workflows_app.WorkflowStateError`. On a suspended instance the payload
        is kept and applied on resume, and the suspended instance is returned; also when
        the suspension commits while the callback is being applied (it is kept in the
        locked transition that would have saved it).
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
        # Stored one level down, under the step's callback key.
        depth = conf.get_settings().JSON_MAX_DEPTH - 1
        problem = semantics.json_problem(payload, "payload", depth)
        if problem is not None:
            raise WorkflowValidationError([problem])
        step = self.store.definition_of(self.store.row(instance_id)).steps[step_name]
        data = {step.callback_key: payload}

        def keep(row: WorkflowInstanceModel, t: Transition) -> None:
            suspension.keep_callback(self.using, row, t, execution_id, step_name, payload)

        return self._complete_waiting(
            instance_id, step_name, None, data, validate=False, execution_id=execution_id, held=keep
        )

    def complete_task_sync(
        self,
        task_id: Any,
        user_id: str,
        data: dict[str, Any],
        *,
        comment: str | None = None,
        on_behalf_of: str | None = None,
    ) -> WorkflowInstanceData:
        """Complete the pending task ``task_id`` with ``data`` as ``user_id``, and run on.

        The same as :meth:`complete_human_task_sync`, for one task rather than a step
        name. ``comment`` is recorded in the task's activity. ``task_id`` may also be the
        task itself, just read (a :class:`~workflows_app.models.HumanTaskModel`), which
        saves reading it again: whether it still waits is checked when the completion is
        saved, as always. ``on_behalf_of``: the user that ``user_id`` substitutes for (an
        active :class:`~workflows_app.models.Substitution`, checked: else
        :class:`~workflows_app.NotSubstituteError`); the task records both.
        """
        if not isinstance(task_id, HumanTaskModel):
            fields = ("instance_id", "step_name", "step_execution_id", "status", "multi_index")
            # With the columns the completion's checks read (four-eyes, the owner of a
            # delegated task), so that none is read again, deferred, on its own.
            found = (
                HumanTaskModel.objects.using(self.using)
                .filter(pk=task_actions.task_pk(task_id))
                .only(*fields, "tenant_id", "excluded_users", "owner_id")
                .first()
            )
            if found is None:
                raise TaskNotFoundError(task_id)
            task_id = found
        task = task_id
        instance_id, step_name, execution_id = (
            task.instance_id,
            task.step_name,
            task.step_execution_id,
        )
        status, task_id = task.status, task.pk
        task_actions.check_pending(task_id, status, self.using)
        if on_behalf_of is not None:
            substitution.check_stands_in(self.using, task, user_id, on_behalf_of)
        if task.multi_index is not None:  # one of the tasks of a multi-instance step
            return multi_instance.complete(
                self.store, self.effects, self.drive, task, user_id, data, comment
            )
        return self._complete_waiting(
            instance_id,
            step_name,
            user_id,
            data,
            validate=True,
            execution_id=execution_id,
            comment=comment,
            on_behalf_of=on_behalf_of,
        )

    def claim_task_sync(self, task_id: Any, user_id: str) -> HumanTaskModel:
        """Take a pending, unassigned task: it becomes ``user_id``'s; return the task.

        Claiming a task one already holds changes nothing. A task another user holds
        raises :class:`~workflows_app.WorkflowStateError`.
        """
        with transaction.atomic(using=self.using):
            task = task_actions.locked_pending(self.using, task_id)
            four_eyes.refuse(task.pk, task.excluded_users, user_id, "claim")
            if task.assignee_id == user_id:
                return task
            if task.assignee_id is not None:
                raise WorkflowStateError(
                    f"Task '{task.pk}' is already claimed by '{task.assignee_id}'"
                )
            self.effects.send_after_commit(
                task_actions.assign(
                    self.using, task, "claimed", user_id, task.assignee_group, user_id
                )
            )
        return task

    def release_task_sync(self, task_id: Any, released_by: str | None = None) -> HumanTaskModel:
        """Give a claimed task back to its group (it becomes unassigned); return the task.

        A task without a group cannot be released (it would be offered to everyone):
        reassign it instead.
        """
        with transaction.atomic(using=self.using):
            task = task_actions.locked_pending(self.using, task_id)
            if task.assignee_id is None:
                raise WorkflowStateError(f"Task '{task.pk}' is not claimed by anyone")
            if task.assignee_group is None:
                raise WorkflowStateError(
                    f"Task '{task.pk}' has no group to give it back to: reassign it instead"
                )
            self.effects.send_after_commit(
                task_actions.assign(
                    self.using, task, "released", None, task.assignee_group, released_by
                )
            )
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
            task = task_actions.locked_pending(self.using, task_id)
            if assignee_id is not None:
                four_eyes.refuse(task.pk, task.excluded_users, assignee_id, "be assigned")
            self.effects.send_after_commit(
                task_actions.reassign(
                    self.using, task, assignee_id, assignee_group, reason, reassigned_by
                )
            )
        return task

    def delegate_task_sync(self, task_id: Any, to_user: str, by: str) -> HumanTaskModel:
        """Delegate a pending task to ``to_user``: they become its assignee, and may answer
        a draft (:meth:`resolve_task_sync`); the task keeps its owner (its assignee, or
        ``by`` for an unassigned task), who alone completes it. Return the task (see
        :mod:`workflows_app.core.delegation`)."""
        task, events = delegation.delegate(self.using, task_id, to_user, by)
        self.effects.send_after_commit(events)
        return task

    def resolve_task_sync(self, task_id: Any, by: str, data: dict[str, Any]) -> HumanTaskModel:
        """The delegate ``by`` answers a delegated task with the draft ``data``: the task
        goes back to its owner with the draft shown; return the task."""
        task, events = delegation.resolve(self.using, task_id, by, data)
        self.effects.send_after_commit(events)
        return task

    def add_substitution_sync(
        self,
        user: str,
        substitute: str,
        starts_at: Any,
        ends_at: Any,
        workflows: list[str] | None = None,
        by: str | None = None,
    ) -> Substitution:
        """Let ``substitute`` also get ``user``'s tasks from ``starts_at`` until ``ends_at``
        (of ``workflows``, or of all); one substitution per user at a time (see
        :mod:`workflows_app.core.substitution`)."""
        return substitution.add(self.using, user, substitute, starts_at, ends_at, workflows, by)

    def cancel_workflow_sync(
        self, instance_id: UUID, reason: str, compensate: bool = False
    ) -> WorkflowInstanceData:
        """Cancel a running or waiting instance and its pending tasks; with ``compensate``,
        undo its completed steps first (see :mod:`.compensation`)."""
        definition = self.store.definition_of(self.store.row(instance_id)) if compensate else None

        def apply(row: WorkflowInstanceModel, t: Transition) -> None:
            if definition is None:
                t.events = semantics.cancel(t.state, reason)
            else:
                t.events = compensation.cancel(t.state, definition, reason)
            task_actions.cancel_pending(self.using, row.pk)
            suspension.discard_buffer(row, t)
            messages.unsubscribe(self.using, row.pk)
            if definition is not None and compensation.is_compensating(t.state):
                t.lease = leases.take(row, t.state, definition, t.events)

        t = self.store.transition(instance_id, apply, self.effects.committing)
        if definition is None or not compensation.is_compensating(t.state):
            return t.state
        return self.drive.run_on(instance_id, definition, t.state, t.lease, t.version)

    def retry_sync(self, instance_id: UUID, from_step: str | None = None) -> WorkflowInstanceData:
        """Run a failed instance again from its failed step (or ``from_step``); its tasks
        on hold are pending again. An instance whose compensation failed runs that
        compensation again (see :mod:`.compensation`)."""
        definition = self.store.definition_of(self.store.row(instance_id))

        def apply(row: WorkflowInstanceModel, t: Transition) -> None:
            t.events = compensation.retry(t.state, definition, from_step)
            if not compensation.is_compensating(t.state):
                task_actions.unhold(self.using, row.pk)
            t.lease = leases.take(row, t.state, definition, t.events)

        t = self.store.transition(instance_id, apply, self.effects.committing)
        state = self.drive.run_on(instance_id, definition, t.state, t.lease, t.version)
        return messages.deliver_buffered(self, instance_id) or state

    def plan_migration_sync(
        self,
        plan: MigrationPlan,
        instances: Any = None,
        *,
        tenant_id: Any = migrations.ANY_TENANT,
        progress: migrations.Progress | None = None,
    ) -> migrations.MigrationPreview:
        """What ``plan`` would do, without writing anything: the definitions' diff, the
        plan's problems, and whether each selected instance can move (``instances``: ids,
        or None for every instance of the source version that could; ``tenant_id``: only
        that tenant's, None for those without a tenant; ``progress``: told after each
        batch how many instances were checked)."""
        return migrations.preview(self.store, plan, instances, tenant_id, progress)

    def migrate_instances_sync(
        self,
        plan: MigrationPlan,
        instances: Any = None,
        *,
        tenant_id: Any = migrations.ANY_TENANT,
        by: str | None = None,
        dry_run: bool = False,
        progress: migrations.Progress | None = None,
    ) -> migrations.MigrationResult | migrations.MigrationPreview:
        """Move the selected instances to the plan's target version, each all or nothing
        (``dry_run``: return the preview instead;
        ``progress``: told after each batch how many instances were handled)."""
        if dry_run:
            return self.plan_migration_sync(plan, instances, tenant_id=tenant_id, progress=progress)
        return migrations.migrate(
            self.store,
            self.effects,
            plan,
            instances,
            tenant_id=tenant_id,
            by=by,
            progress=progress,
        )

    def suspend_sync(
        self, instance_id: UUID, reason: str, by: str | None = None
    ) -> WorkflowInstanceData:
        """Hold a running or waiting instance: nothing of it runs, its tasks are on hold,
        what falls due waits, and webhook callbacks are kept, until :meth:`resume_sync`
        (see :mod:`.suspension`). A drive that is running it (a live lease) makes this a
        :class:`~workflows_app.WorkflowStateError`: suspend it once it waits."""
        return suspension.suspend(self.store, self.effects, instance_id, reason, by)

    def resume_sync(self, instance_id: UUID, by: str | None = None) -> WorkflowInstanceData:
        """Resume a suspended instance: its tasks are pending again, the webhook callbacks
        kept meanwhile are applied in the order they arrived, and what fell due runs."""
        state = suspension.resume(self.store, self.effects, self.drive, instance_id, by)
        return messages.deliver_buffered(self, instance_id) or state

    def send_back_sync(
        self, task_id: Any, to_step: str, reason: str, by: str | None = None
    ) -> WorkflowInstanceData:
        """Send the pending task ``task_id`` back to the earlier step ``to_step`` for rework,
        with ``reason``, as ``by``: the task is canceled, and ``to_step`` runs again (a task
        of it goes to whoever completed it last). ``to_step`` must be listed in the task's
        step's ``send_back_to`` and be on the same branch; see
        :mod:`workflows_app.engine.send_back`."""
        t, definition = send_back.send_back(self.store, self.effects, task_id, to_step, reason, by)
        return self.drive.run_on(t.state.id, definition, t.state, t.lease, t.version)

    def withdraw_sync(self, instance_id: UUID, by: str) -> WorkflowInstanceData:
        """Cancel the instance for the user who started it (``by`` must be its
        ``created_by``), while nobody has worked on it: no task of it completed, none
        claimed; otherwise :class:`~workflows_app.WorkflowStateError` says why. See
        :mod:`workflows_app.engine.withdraw`."""
        return withdraw.withdraw(self.store, self.effects, instance_id, by).state

    def publish_message_sync(
        self,
        name: str,
        correlation_key: Any,
        payload: Any = None,
        *,
        message_id: str | None = None,
        ttl: Any = None,
        tenant_id: str | None = None,
    ) -> messages.PublishResult:
        """Deliver the message ``name`` to the instance waiting for it with
        ``correlation_key`` (in ``tenant_id``), the one that has waited longest; with none
        waiting, start a workflow that has ``start_on_message = name``, or keep it for
        ``ttl`` (seconds or a ``timedelta``) for the first that starts waiting. A second
        message with a ``message_id`` already known is ignored. Return what it did (see
        docs/messages.rst)."""
        return messages.publish(
            self,
            name,
            correlation_key,
            payload,
            message_id=message_id,
            ttl=ttl,
            tenant_id=tenant_id,
        )

    def add_task_comment_sync(self, task_id: Any, author: str, text: str) -> TaskCommentModel:
        """Add ``author``'s comment ``text`` to the task ``task_id``; return the comment (see
        :mod:`workflows_app.engine.comments`)."""
        comment = comments.add(self.using, task_id, author, text)
        self.effects.send_after_commit([comments.event(comment, edited=False)])
        return comment

    def edit_task_comment_sync(
        self, task_id: Any, comment_id: Any, by: str, text: str
    ) -> TaskCommentModel:
        """Replace the text of a comment of the task ``task_id``: only its author ``by``
        may, within ``WORKFLOWS["COMMENT_EDIT_SECONDS"]`` of posting it."""
        comment = comments.edit(self.using, task_id, comment_id, by, text)
        self.effects.send_after_commit([comments.event(comment, edited=True)])
        return comment

    def task_comments_sync(self, task_id: Any) -> list[TaskCommentModel]:
        """The comments of the task ``task_id``, oldest first."""
        return comments.thread(self.using, task_id)

    def get_instance_sync(self, instance_id: UUID) -> WorkflowInstanceData:
        """Return the instance with its step history."""
        found = self.store.read(instance_id)
        return self.store.state(found.row, found.history)

    def sync_definitions(self) -> list[WorkflowDefinitionModel]:
        """Create or update a definition row for every version in the registry."""
        with transaction.atomic(using=self.using):
            return [
                definitions.sync(self.using, definition)
                for definition in self.registry.list_definitions(active_only=False)
            ]

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
        held: Callable[[WorkflowInstanceModel, Transition], None] | None = None,
        on_behalf_of: str | None = None,
    ) -> WorkflowInstanceData:
        """Resume the branch waiting at ``step_name`` (at the execution ``execution_id``, if
        given) with ``data``; record ``comment`` in its task's activity. With ``held``, an
        instance found suspended is not refused: ``held`` keeps the completion instead, in
        the locked transition, and the suspended instance is returned."""
        semantics.check_task_data(data, conf.get_settings().JSON_MAX_DEPTH)
        event = self.effects.listens("task.completed")
        # Optimistic: apply the completion to the state just read, outside any transaction
        # (conditions are user code), and save it only if nothing changed the instance in
        # between; on a conflict, read and apply again. Only after several conflicts in a
        # row is it applied under the row lock.
        validated = False
        for _attempt in range(_OPTIMISTIC_ATTEMPTS):
            found = self.store.read(instance_id)
            row, state = found.row, self.store.state(found.row, found.history)
            definition = self.store.definition_of(row)
            if held is not None and state.status == WorkflowStatus.SUSPENDED:
                break  # kept under the lock below
            token = self._waiting_token(row, state, step_name)
            if execution_id is not None and found.waiting.get(token.id) != execution_id:
                raise task_actions.not_waiting(self.using, step_name, execution_id)
            if validate and not validated:
                multi_instance.check_by_step(definition.steps.get(step_name))
                runner.check_submission(definition.steps.get(step_name), data)
                validated = True
            events = semantics.resume(state, definition, step_name, user_id, data)
            lease = leases.take(row, state, definition, events)
            with transaction.atomic(using=self.using):
                saved = self.store.save_if_unchanged(
                    instance_id, state, row.lock_version, lease.owner, lease.failed_drives
                )
                if saved:
                    events[:0] = task_actions.complete(
                        self.using,
                        instance_id,
                        found.waiting[token.id],
                        step_name,
                        user_id,
                        data,
                        comment,
                        event=event,
                        on_behalf_of=on_behalf_of,
                    )
                    self.effects.committing(state, events, lease.owner)
            if saved:  # steps run after the commit, never inside the transaction
                version = row.lock_version + 1
                return self.drive.run_on(instance_id, definition, state, lease, version)

        def apply(row: WorkflowInstanceModel, t: Transition) -> None:
            if held is not None and t.state.status == WorkflowStatus.SUSPENDED:
                held(row, t)
                return
            token = self._waiting_token(row, t.state, step_name)
            execution = (
                StepExecutionModel.objects.using(self.using)
                .filter(instance_id=row.pk, token_id=token.id, status=StepStatus.WAITING)
                .first()
            )
            if execution is None or execution_id not in (None, execution.pk):
                raise task_actions.not_waiting(self.using, step_name, execution_id)
            t.events = semantics.resume(t.state, definition, step_name, user_id, data)
            t.events[:0] = task_actions.complete(
                self.using,
                row.pk,
                execution.pk,
                step_name,
                user_id,
                data,
                comment,
                event=event,
                on_behalf_of=on_behalf_of,
            )
            t.lease = leases.take(row, t.state, definition, t.events)

        t = self.store.transition(instance_id, apply, self.effects.committing)
        if t.state.status == WorkflowStatus.SUSPENDED:
            return t.state  # kept for the resume: nothing runs
        return self.drive.run_on(instance_id, definition, t.state, t.lease, t.version)

    def _waiting_token(
        self, row: WorkflowInstanceModel, state: WorkflowInstanceData, step_name: str
    ) -> Token:
        """Return the branch waiting at ``step_name``, or raise why it cannot be completed."""
        try:
            return semantics.waiting_token(state, step_name)
        except WorkflowStateError:
            completed = task_actions.last_completed(self.using, row.pk, step_name)
            if completed is not None:
                raise TaskAlreadyCompletedError(completed) from None
            raise

    async def execute_step(
        self, step: Any, context: WorkflowContext, previous_result: Any = None
    ) -> Any:
        """Run one step outside any instance (used by step groups); return its result."""
        return await runner.execute_step(step, context, previous_result, self)
