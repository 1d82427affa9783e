"""The store: an instance's rows and its state, read and written.

An instance's state (:class:`~workflows_app.core.models.WorkflowInstanceData`) is
its row in ``workflow_instances`` and its finished rows in
``workflow_step_executions``. The store reads them, inserts new rows, and saves a
changed state in one of two ways:

- **Save if unchanged** (:meth:`Store.save_if_unchanged`): the optimistic way. The row's
  ``lock_version`` must still be the one the change was computed from, or nothing is
  written and the caller tries again.
- **Transition** (:meth:`Store.transition`): lock the row (``SELECT ... FOR UPDATE``;
  SQLite serialises writers), rebuild the state, apply a change to it and save it, in
  one transaction.

What else a commit does (events, tasks following their instance, waking a worker) is
the caller's, passed in as ``committing``.

A statement that fails with one of :data:`TRANSIENT_ERRORS` says nothing about the
instance: the connection broke (the server restarted, or an administrator ended it) or a
lock could not be had. A drive tries its commit again on a new connection
(:meth:`Store.reconnect`) rather than fail the instance.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import Error, InterfaceError, OperationalError, connections, transaction

from workflows_app.core import metadata as metadata_keys
from workflows_app.core.context import StepExecution, WorkflowContext
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import WorkflowInstanceNotFoundError
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.core.registry import WorkflowRegistry
from workflows_app.core.types import StepStatus, StepType, WorkflowStatus
from workflows_app.engine import leases, semantics, statements
from workflows_app.models import (
    HumanTaskModel,
    MessageSubscriptionModel,
    StepExecutionModel,
    WorkflowInstanceModel,
)

__all__ = [
    "TRANSIENT_ERRORS",
    "Snapshot",
    "Store",
    "Transition",
    "audit",
    "columns",
    "history_entry",
    "set_metadata",
    "wake_at",
]

Committing = Callable[[WorkflowInstanceData, list[semantics.Event], Any], None]

TRANSIENT_ERRORS = (OperationalError, InterfaceError)
"""Errors of the database rather than of the statement: a broken or closed connection, a
lock wait that timed out, a deadlock or serialization conflict."""


def wake_at(state: WorkflowInstanceData, now: datetime) -> datetime | None:
    """Return when a worker should look at the instance.

    Now when a step is ready, or claimed by a drive (whose lease a worker takes over if it
    lapses); the first due time of a retry or a timer; or None.
    """
    if state.status.is_terminal or state.status == WorkflowStatus.SUSPENDED:
        return None  # nothing to run until it is retried or resumed
    if any(t.state in (semantics.READY, semantics.RUNNING) for t in state.tokens):
        return now
    return semantics.next_due(state)


def columns(
    state: WorkflowInstanceData, owner: Any = leases.KEEP, failed_drives: int = 0
) -> dict[str, Any]:
    """Return the instance columns that transitions change, from ``state``.

    ``owner`` is the lease to write: a drive's id (renewed for ``LEASE_SECONDS``),
    None (released), or ``KEEP`` (left alone); ``failed_drives`` goes with it (see
    :func:`.leases.columns`).
    """
    now = semantics.utcnow()
    return {
        "status": str(state.status),
        "current_step": state.current_step,
        "context_data": state.context.data,
        "error": state.error,
        "completed_at": state.completed_at,
        "tokens": [token.to_dict() for token in state.tokens],
        "last_user_id": state.context.user_id,
        "wake_at": wake_at(state, now),
        **leases.columns(owner, now, failed_drives),
        # The engine's compensation record changes with the drive's commits (other
        # metadata only with the operations that set it, see set_metadata).
        **(
            {"metadata": state.context.metadata}
            if metadata_keys.COMPENSATION in state.context.metadata
            else {}
        ),
    }


def audit(row: WorkflowInstanceModel, t: Transition, key: str, entry: dict[str, Any]) -> None:
    """Append ``entry`` (who did what to the instance, when and why) to the list ``key`` of
    the locked ``row``'s metadata, saved with the transition ``t``."""
    set_metadata(row, t, {**row.metadata, key: [*row.metadata.get(key, []), entry]})


def set_metadata(row: WorkflowInstanceModel, t: Transition, metadata: dict[str, Any]) -> None:
    """Write ``metadata`` to the locked ``row`` and the state of ``t`` (saved with it)."""
    row.metadata = metadata
    t.state.context.metadata = row.metadata
    if "metadata" not in t.also:
        t.also = (*t.also, "metadata")


def history_entry(row: StepExecutionModel) -> StepExecution:
    return StepExecution(
        step_name=row.step_name,
        status=StepStatus(row.status),
        started_at=row.started_at,
        completed_at=row.completed_at,
        result=row.output_data,
        error=row.error,
        input_data=row.input_data,
        output_data=row.output_data,
        attempt=row.attempt,
        kind="compensation" if row.step_type == StepType.COMPENSATION else "step",
    )


class Snapshot:
    """An instance as read: its row, its step history, and its waiting executions (the id
    of each, by the branch that waits there)."""

    def __init__(
        self,
        row: WorkflowInstanceModel,
        history: list[StepExecution],
        waiting: dict[str, UUID],
    ) -> None:
        self.row, self.history, self.waiting = row, history, waiting


class Transition:
    """What one locked transition did: the fresh state, the events, and who runs on.

    The function applying the change sets ``events`` and ``lease``, or ``changed = False``
    to write nothing.
    """

    def __init__(self, state: WorkflowInstanceData) -> None:
        self.state = state
        self.events: list[semantics.Event] = []
        self.lease = leases.Lease(leases.KEEP, None)
        self.changed = True
        self.version = 0
        self.also: tuple[str, ...] = ()
        """Fields of the row that the change set besides the state's (saved with it)."""


class Store:
    """Instance rows and state in the database ``using``, with the definitions of
    ``registry``."""

    def __init__(self, using: str, registry: WorkflowRegistry) -> None:
        self.using = using
        self.registry = registry

    # -- reading ---------------------------------------------------------------------------

    def read(self, instance_id: Any) -> Snapshot:
        """Read the instance, its history and its waiting executions (two plain SELECTs)."""
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
        history = [history_entry(r) for r in executions if r.status != StepStatus.WAITING]
        return Snapshot(row, history, waiting)

    def row(self, instance_id: Any, *, lock: bool = False) -> WorkflowInstanceModel:
        """Return the instance's row (locked for this transaction with ``lock``)."""
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

    def history(self, instance_id: UUID) -> list[StepExecution]:
        """The instance's finished step executions, in the order they started."""
        rows = (
            StepExecutionModel.objects.using(self.using)
            .filter(instance_id=instance_id)
            .exclude(status=StepStatus.WAITING)
            .order_by("started_at", "created_at")
        )
        return [history_entry(r) for r in rows]

    def state(
        self, row: WorkflowInstanceModel, history: list[StepExecution]
    ) -> WorkflowInstanceData:
        """Build the state of the instance ``row`` with its ``history``."""
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

    def definition_of(self, row: WorkflowInstanceModel) -> WorkflowDefinition:
        """The definition (name and version) the instance ``row`` runs on."""
        return self.registry.get_definition(row.workflow_name, row.workflow_version)

    # -- writing ---------------------------------------------------------------------------

    def insert_instance(
        self, row: WorkflowInstanceModel, state: WorkflowInstanceData, owner: str | None
    ) -> None:
        """INSERT the new instance ``row`` with the columns of ``state`` and lease ``owner``."""
        for name, value in columns(state, owner).items():
            setattr(row, name, value)
        row.lock_version = 1
        values = {field.attname: getattr(row, field.attname) for field in row._meta.concrete_fields}
        del values["created_at"], values["updated_at"]  # now, as for every insert
        statements.insert(self.using, WorkflowInstanceModel, [values])

    def insert(
        self,
        executions: list[dict[str, Any]],
        tasks: list[dict[str, Any]],
        subscriptions: list[dict[str, Any]] | None = None,
    ) -> None:
        """INSERT step executions, tasks and message subscriptions (one statement each, if
        any)."""
        statements.insert(self.using, StepExecutionModel, executions)
        statements.insert(self.using, HumanTaskModel, tasks)
        if subscriptions:
            statements.insert(self.using, MessageSubscriptionModel, subscriptions)

    def save_if_unchanged(
        self,
        instance_id: UUID,
        state: WorkflowInstanceData,
        version: int,
        owner: Any,
        failed_drives: int = 0,
    ) -> bool:
        """Save ``state`` (and the lease of ``owner``) if the instance is still at ``version``."""
        changes = {**columns(state, owner, failed_drives), "lock_version": version + 1}
        where = {"id": instance_id, "lock_version": version}
        return statements.update(self.using, WorkflowInstanceModel, changes, where) == 1

    def save(
        self,
        row: WorkflowInstanceModel,
        state: WorkflowInstanceData,
        owner: Any,
        failed_drives: int = 0,
        also: tuple[str, ...] = (),
    ) -> None:
        """Save ``state`` (and the lease of ``owner``) into ``row``, which this transaction
        holds locked; and the fields ``also`` that the caller set on ``row``."""
        changes = columns(state, owner, failed_drives)
        for name, value in changes.items():
            setattr(row, name, value)
        row.lock_version += 1
        fields = [*changes, *also, "lock_version", "updated_at"]
        row.save(using=self.using, update_fields=fields)

    def transition(
        self,
        instance_id: Any,
        apply: Callable[[WorkflowInstanceModel, Transition], None],
        committing: Committing,
    ) -> Transition:
        """Lock the instance, rebuild its state, ``apply`` a change and save it.

        ``committing(state, events, lease_owner)`` runs in the same transaction, after
        the save, when the change wrote something.
        """
        with transaction.atomic(using=self.using):
            row = self.row(instance_id, lock=True)
            t = Transition(self.state(row, self.history(row.pk)))
            apply(row, t)
            if t.changed:
                self.save(row, t.state, t.lease.owner, t.lease.failed_drives, also=t.also)
                committing(t.state, t.events, t.lease.owner)
            t.version = row.lock_version
        return t

    # -- connections -----------------------------------------------------------------------

    def reconnect(self) -> bool:
        """Close this thread's connection to the database after one of
        :data:`TRANSIENT_ERRORS`, so that the next statement opens a new one.

        Return False, and leave it, when it is inside an atomic block: the block belongs to
        a caller, whose transaction is lost with the connection.
        """
        connection = connections[self.using]
        if connection.in_atomic_block:
            return False
        with contextlib.suppress(Error):  # it is forgotten even if closing it fails
            connection.close()
        return True
