"""Moving running instances to another version of their workflow (a
:class:`~workflows_app.core.migration.MigrationPlan`): the preview, which writes nothing,
and the move, all or nothing per instance: :data:`COMMIT_EVERY` instances per
transaction, read and written in bulk, and one at a time (a savepoint each) when something
in the group cannot be written.

An instance can move when it runs the plan's source version, is running, waiting or
failed, no drive holds a live lease on it, and each of its live branches has a step in the
target version (by name or by the plan's mapping). Moving it rewrites, all or nothing:
its version pin and definition, its branches' steps (a timer keeps its due time, a retry
its attempt), its current step, its waiting executions, and its open tasks (see
:func:`~workflows_app.engine.task_actions.move_task`); it appends an audit record to the
instance's metadata (``migrations``) and sends ``workflow.migrated``. An instance that
another transaction holds is skipped, never waited for.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from django.db import DatabaseError, transaction

from workflows_app.core import metadata as metadata_keys
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.exceptions import WorkflowValidationError
from workflows_app.core.migration import (
    DefinitionDiff,
    MigrationPlan,
    branch_problem,
    definition_diff,
    plan_problems,
)
from workflows_app.core.registry import WorkflowRegistry
from workflows_app.core.types import StepStatus, StepType, TaskStatus, WorkflowStatus
from workflows_app.engine import definitions, leases, runner, semantics, task_actions
from workflows_app.engine.effects import Effects
from workflows_app.engine.store import Store, history_entry
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

__all__ = ["InstanceCheck", "MigrationPreview", "MigrationResult", "migrate", "preview"]

MOVABLE = (
    WorkflowStatus.RUNNING,
    WorkflowStatus.WAITING,
    WorkflowStatus.FAILED,
    WorkflowStatus.SUSPENDED,
)
"""The statuses an instance can move in: a finished one stays on the version it ran."""

BATCH = 500
"""How many instances are read at a time."""

COMMIT_EVERY = 50
"""How many instances one transaction moves: a commit and a round trip per statement for
each instance would cost more than the move itself."""

ANY_TENANT: Any = object()
"""The selection's default: instances of every tenant (None selects those without one)."""

Progress = Callable[[int], None]
"""Told, after each batch of :data:`BATCH` instances, how many were handled so far."""


@dataclass(frozen=True)
class InstanceCheck:
    """Whether one instance can move, and if not, why."""

    instance_id: UUID
    reason: str | None = None

    @property
    def movable(self) -> bool:
        return self.reason is None


@dataclass
class MigrationPreview:
    """What a plan would do, computed without writing anything."""

    plan: MigrationPlan
    diff: DefinitionDiff
    problems: list[str]
    """What is wrong with the plan itself: when not empty, nothing can move."""
    instances: list[InstanceCheck] = field(default_factory=list)

    @property
    def movable(self) -> list[UUID]:
        return [check.instance_id for check in self.instances if check.movable]

    @property
    def blocked(self) -> list[InstanceCheck]:
        return [check for check in self.instances if not check.movable]


@dataclass
class MigrationResult:
    """What a move did: the instances moved, skipped (with why) and failed (with the error)."""

    plan: MigrationPlan
    moved: list[UUID] = field(default_factory=list)
    skipped: list[tuple[UUID, str]] = field(default_factory=list)
    failed: list[tuple[UUID, str]] = field(default_factory=list)


def _definitions(
    registry: WorkflowRegistry, plan: MigrationPlan
) -> tuple[WorkflowDefinition, WorkflowDefinition]:
    return (
        registry.get_definition(plan.workflow, plan.from_version),
        registry.get_definition(plan.workflow, plan.to_version),
    )


def _selected(
    using: str, plan: MigrationPlan, instances: Iterable[Any] | None, tenant_id: Any
) -> Iterator[list[Any]]:
    """The selected instances' rows, a batch at a time: ``instances`` (ids) or, when None,
    every instance of the source version in a status that can move; within ``tenant_id``
    unless it is :data:`ANY_TENANT`."""
    rows = WorkflowInstanceModel.objects.using(using).order_by("pk")
    if tenant_id is not ANY_TENANT:
        rows = rows.filter(tenant_id=tenant_id)
    if instances is None:
        rows = rows.filter(
            workflow_name=plan.workflow,
            workflow_version=plan.from_version,
            status__in=[str(status) for status in MOVABLE],
        )
        last = None
        while True:
            batch = list((rows.filter(pk__gt=last) if last else rows)[:BATCH])
            if not batch:
                return
            yield batch
            last = batch[-1].pk
    else:
        ids = list(instances)
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            found = {row.pk: row for row in rows.filter(pk__in=chunk)}
            yield [found.get(_uuid(value)) or _Missing(value) for value in chunk]


class _Missing:
    """An id that names no instance (or none in the tenant)."""

    def __init__(self, value: Any) -> None:
        self.pk = value


def _uuid(value: Any) -> Any:
    try:
        return value if isinstance(value, UUID) else UUID(str(value))
    except ValueError:
        return value


def instance_problem(
    plan: MigrationPlan, target: WorkflowDefinition, row: Any, now: Any
) -> str | None:
    """Why the instance ``row`` cannot move under ``plan`` now, or None."""
    if isinstance(row, _Missing):
        return "no such instance"
    if (row.workflow_name, row.workflow_version) != (plan.workflow, plan.from_version):
        return f"it runs {row.workflow_name} {row.workflow_version}, not {plan.from_version}"
    if row.status not in MOVABLE:
        return f"it is {row.status}"
    if row.lease_owner and row.lease_expires_at and row.lease_expires_at > now:
        return "a drive is running it (its lease is live): try again when it waits"
    steps = [token["step"] for token in row.tokens]
    return branch_problem(plan, target, steps)


def preview(
    store: Store,
    plan: MigrationPlan,
    instances: Iterable[Any] | None = None,
    tenant_id: Any = ANY_TENANT,
    progress: Progress | None = None,
) -> MigrationPreview:
    """What ``plan`` would do to the selected instances (see :func:`_selected`)."""
    source, target = _definitions(store.registry, plan)
    result = MigrationPreview(
        plan, definition_diff(plan, source, target), plan_problems(plan, source, target)
    )
    now = semantics.utcnow()
    for batch in _selected(store.using, plan, instances, tenant_id):
        result.instances.extend(
            InstanceCheck(row.pk, instance_problem(plan, target, row, now)) for row in batch
        )
        if progress is not None:
            progress(len(result.instances))
    return result


def migrate(
    store: Store,
    effects: Effects,
    plan: MigrationPlan,
    instances: Iterable[Any] | None = None,
    *,
    tenant_id: Any = ANY_TENANT,
    by: str | None = None,
    progress: Progress | None = None,
) -> MigrationResult:
    """Move the selected instances under ``plan``, each all or nothing.

    Raise :class:`~workflows_app.WorkflowValidationError` (and write nothing) when the
    plan itself is wrong.
    """
    source, target = _definitions(store.registry, plan)
    problems = plan_problems(plan, source, target)
    if problems:
        raise WorkflowValidationError(problems)
    definition_id = definitions.startable_id(store.using, target)
    result = MigrationResult(plan)
    for batch in _selected(store.using, plan, instances, tenant_id):
        for start in range(0, len(batch), COMMIT_EVERY):
            # One commit for a group of instances; each moves in a savepoint of its own,
            # so that one that fails is rolled back alone.
            group = batch[start : start + COMMIT_EVERY]
            try:
                with transaction.atomic(using=store.using):
                    found = _move_group(store, effects, plan, target, definition_id, group, by)
            except DatabaseError:
                # Something in the group could not be written: one instance at a time
                # (each in a savepoint), so that only the instance at fault fails.
                with transaction.atomic(using=store.using):
                    for selected in group:
                        _move_into(
                            result, store, effects, plan, target, definition_id, selected, by
                        )
            else:
                for selected in group:
                    reason = found[selected.pk]
                    if reason is None:
                        result.moved.append(selected.pk)
                    else:
                        result.skipped.append((selected.pk, reason))
        if progress is not None:
            progress(len(result.moved) + len(result.skipped) + len(result.failed))
    return result


def _move_group(
    store: Store,
    effects: Effects,
    plan: MigrationPlan,
    target: WorkflowDefinition,
    definition_id: UUID,
    group: list[Any],
    by: str | None,
) -> dict[Any, str | None]:
    """Move a group of instances in the caller's transaction, reading and writing in bulk
    (a few statements for the group, then about one per instance and per open task);
    return, for each instance, why it did not move, or None."""
    using = store.using
    reasons: dict[Any, str | None] = {
        selected.pk: "no such instance" for selected in group if isinstance(selected, _Missing)
    }
    wanted = [selected.pk for selected in group if selected.pk not in reasons]
    locked = {
        row.pk: row
        for row in WorkflowInstanceModel.objects.using(using)
        .select_for_update(skip_locked=True)
        .filter(pk__in=wanted)
    }
    now = semantics.utcnow()
    movable = []
    for pk in wanted:
        row = locked.get(pk)
        reason = (
            "another transaction holds it: try again"
            if row is None
            else instance_problem(plan, target, row, now)
        )
        reasons[pk] = reason
        if reason is None:
            movable.append(row)
    if not movable:
        return reasons
    ids = [row.pk for row in movable]
    histories: dict[Any, list[Any]] = {pk: [] for pk in ids}
    for execution in (
        StepExecutionModel.objects.using(using)
        .filter(instance_id__in=ids)
        .exclude(status=StepStatus.WAITING)
        .order_by("started_at", "created_at")
    ):
        histories[execution.instance_id].append(history_entry(execution))
    open_tasks: dict[tuple[Any, str], list[HumanTaskModel]] = {}
    for task in HumanTaskModel.objects.using(using).filter(
        instance_id__in=ids, status__in=(TaskStatus.PENDING, TaskStatus.ON_HOLD)
    ):
        open_tasks.setdefault((task.instance_id, task.step_name), []).append(task)
    renamed: dict[tuple[str, str], list[Any]] = {}
    at = now.isoformat()
    for row in movable:
        state = store.state(row, histories[row.pk])
        for step_name, to_step in _moves(plan, state).items():
            if step_name != to_step:
                renamed.setdefault((step_name, to_step), []).append(row.pk)
            step = target.steps[to_step]
            fields = (
                runner.task_fields(step, state.context)
                if getattr(step, "step_type", None) == StepType.HUMAN
                else {}
            )
            for task in open_tasks.get((row.pk, step_name), []):
                task_actions.move_task(using, task, to_step, fields)
        _record(store, effects, plan, row, state, definition_id, by, at)
    for (step_name, to_step), pks in renamed.items():
        StepExecutionModel.objects.using(using).filter(
            instance_id__in=pks, step_name=step_name, status=StepStatus.WAITING
        ).update(step_name=to_step, updated_at=now)
    return reasons


def _moves(plan: MigrationPlan, state: Any) -> dict[str, str]:
    """Move the state's branches and current step; return the steps moved (old: new)."""
    moves = {token.step: plan.target_of(token.step) for token in state.tokens}
    for token in state.tokens:
        token.step = plan.target_of(token.step)
    if state.current_step:
        state.current_step = plan.target_of(state.current_step)
    return moves


def _record(
    store: Store,
    effects: Effects,
    plan: MigrationPlan,
    row: WorkflowInstanceModel,
    state: Any,
    definition_id: UUID,
    by: str | None,
    at: str,
) -> None:
    """Save the moved state with its new version pin and the audit record; send
    ``workflow.migrated`` once the transaction commits."""
    record = {**plan.to_dict(), "by": by, "at": at}
    row.workflow_version = plan.to_version
    row.definition_id = definition_id
    row.metadata = {
        **row.metadata,
        "workflow_version": plan.to_version,
        metadata_keys.MIGRATIONS: [*row.metadata.get(metadata_keys.MIGRATIONS, []), record],
    }
    state.workflow_version = plan.to_version
    store.save(row, state, leases.KEEP, also=("workflow_version", "definition", "metadata"))
    payload = {"instance_id": row.pk, **plan.to_dict(), "migrated_by": by}
    effects.committing(state, [("workflow.migrated", payload)], leases.KEEP)


def _move_into(
    result: MigrationResult,
    store: Store,
    effects: Effects,
    plan: MigrationPlan,
    target: WorkflowDefinition,
    definition_id: UUID,
    selected: Any,
    by: str | None,
) -> None:
    """Move one instance in a savepoint of its own (so that, failing, it fails alone)."""
    try:
        with transaction.atomic(using=store.using):
            reason = _move_group(store, effects, plan, target, definition_id, [selected], by)
    except DatabaseError as exc:
        result.failed.append((selected.pk, f"{type(exc).__name__}: {exc}"))
        return
    if reason[selected.pk] is None:
        result.moved.append(selected.pk)
    else:
        result.skipped.append((selected.pk, reason[selected.pk]))
