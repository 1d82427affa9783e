"""Query sets of the four models, with the documented repository API.

Each method runs one query (two for the ``(items, total)`` pairs) and returns
evaluated data: a list, a model instance, a tuple or None, never a lazy query
set. The async repositories in :mod:`workflows_app.repositories` wrap them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from workflows_app.core import four_eyes
from workflows_app.core.registry import version_key
from workflows_app.core.types import StepStatus, TaskStatus, WorkflowStatus

if TYPE_CHECKING:
    from workflows_app.models import (
        HumanTaskModel,
        StepExecutionModel,
        WorkflowDefinitionModel,
        WorkflowInstanceModel,
    )

LIVE_STATUSES = (WorkflowStatus.RUNNING, WorkflowStatus.WAITING)


def _page(queryset: models.QuerySet, limit: int, offset: int) -> tuple[list[Any], int]:
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")
    return list(queryset[offset : offset + limit]), queryset.count()


class WorkflowDefinitionQuerySet(models.QuerySet):
    def get_by_name(
        self, name: str, version: str | None = None, *, active_only: bool = True
    ) -> WorkflowDefinitionModel | None:
        """Return the definition ``name`` at ``version`` (default: the highest version)."""
        rows = self.filter(name=name)
        if version is not None:
            rows = rows.filter(version=version)
        if active_only:
            rows = rows.filter(is_active=True)
        return max(rows, key=lambda row: version_key(row.version), default=None)

    def get_latest_version(self, name: str) -> WorkflowDefinitionModel | None:
        """Return the highest active version of ``name``."""
        return self.get_by_name(name, active_only=True)

    def list_active(self) -> list[WorkflowDefinitionModel]:
        """Return the active definitions by name, newest version first."""
        rows = list(self.filter(is_active=True))
        rows.sort(key=lambda row: version_key(row.version), reverse=True)
        rows.sort(key=lambda row: row.name)
        return rows

    def deactivate_version(self, name: str, version: str) -> bool:
        """Stop new instances of ``name`` at ``version``; return False if it does not exist."""
        return self.filter(name=name, version=version).update(is_active=False) > 0

    def activate_version(self, name: str, version: str) -> bool:
        """Let ``name`` at ``version`` start new instances again."""
        return self.filter(name=name, version=version).update(is_active=True) > 0


class WorkflowInstanceQuerySet(models.QuerySet):
    def for_tenant(self, tenant_id: str | None) -> WorkflowInstanceQuerySet:
        """Scope to one tenant (no filter when ``tenant_id`` is None)."""
        return self if tenant_id is None else self.filter(tenant_id=tenant_id)

    def find_by_workflow(
        self, workflow_name: str, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[WorkflowInstanceModel], int]:
        """Return a page of the instances of ``workflow_name``, newest first, and the total."""
        rows = self.filter(workflow_name=workflow_name)
        if status is not None:
            rows = rows.filter(status=status)
        return _page(rows.order_by("-created_at"), limit, offset)

    def find_by_user(self, user_id: str, status: str | None = None) -> list[WorkflowInstanceModel]:
        """Return the instances ``user_id`` started, newest first."""
        rows = self.filter(created_by=user_id)
        if status is not None:
            rows = rows.filter(status=status)
        return list(rows.order_by("-created_at"))

    def find_by_tenant(
        self, tenant_id: str, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> tuple[list[WorkflowInstanceModel], int]:
        """Return a page of a tenant's instances, newest first, and the total."""
        rows = self.filter(tenant_id=tenant_id)
        if status is not None:
            rows = rows.filter(status=status)
        return _page(rows.order_by("-created_at"), limit, offset)

    def find_running(self) -> list[WorkflowInstanceModel]:
        """Return the running and waiting instances, oldest first."""
        return list(self.filter(status__in=LIVE_STATUSES).order_by("started_at"))

    def failed(self) -> WorkflowInstanceQuerySet:
        """Instances that failed (and may be retried)."""
        return self.filter(status=WorkflowStatus.FAILED)

    def stuck(self, older_than: timedelta) -> WorkflowInstanceQuerySet:
        """Running instances that should have moved on more than ``older_than`` ago.

        They have a step due (``wake_at``) that no worker has picked up: no worker runs,
        or none runs their workflow.
        """
        cutoff = timezone.now() - older_than
        return self.filter(status=WorkflowStatus.RUNNING, wake_at__lt=cutoff).filter(
            Q(lease_owner__isnull=True) | Q(lease_expires_at__lt=cutoff)
        )

    def finished_before(self, moment: datetime) -> WorkflowInstanceQuerySet:
        """Completed, failed and canceled instances that ended before ``moment``."""
        finished = (WorkflowStatus.COMPLETED, WorkflowStatus.FAILED, WorkflowStatus.CANCELED)
        return self.filter(status__in=finished, completed_at__lt=moment)

    def update_status(
        self,
        instance_id: Any,
        status: str,
        *,
        current_step: str | None = None,
        error: str | None = None,
    ) -> WorkflowInstanceModel | None:
        """Set an instance's status (and current step or error, when given).

        This writes the row directly, as the seed's repository does; to move a
        workflow, call the engine instead.
        """
        changes: dict[str, Any] = {"status": str(status), "updated_at": timezone.now()}
        if current_step is not None:
            changes["current_step"] = current_step
        if error is not None:
            changes["error"] = error
        if not self.filter(pk=instance_id).update(**changes):
            return None
        return self.get(pk=instance_id)


class StepExecutionQuerySet(models.QuerySet):
    def find_by_instance(self, instance_id: Any) -> list[StepExecutionModel]:
        """Return an instance's step executions in the order they started."""
        return list(self.filter(instance_id=instance_id).order_by("started_at", "created_at"))

    def find_by_step_name(self, instance_id: Any, step_name: str) -> StepExecutionModel | None:
        """Return the newest execution of ``step_name`` in the instance, or None."""
        return (
            self.filter(instance_id=instance_id, step_name=step_name)
            .order_by("-started_at", "-created_at")
            .first()
        )

    def find_failed(self, instance_id: Any = None) -> list[StepExecutionModel]:
        """Return failed executions (of one instance, if given), newest first."""
        rows = self.filter(status=StepStatus.FAILED)
        if instance_id is not None:
            rows = rows.filter(instance_id=instance_id)
        return list(rows.order_by(F("completed_at").desc(nulls_last=True)))


class HumanTaskQuerySet(models.QuerySet):
    def for_tenant(self, tenant_id: str | None) -> HumanTaskQuerySet:
        """Scope to one tenant (no filter when ``tenant_id`` is None)."""
        return self if tenant_id is None else self.filter(tenant_id=tenant_id)

    def siblings(self, task: Any) -> HumanTaskQuerySet:
        """The tasks of the same multi-instance step as ``task`` (itself included), in the
        items' order; none for the task of a plain human step."""
        if getattr(task, "multi_index", None) is None:
            return self.none()
        rows = self.filter(step_execution_id=task.step_execution_id)
        return rows.order_by("multi_index", "created_at")

    def inbox_order(self) -> HumanTaskQuerySet:
        """Order as an inbox: earliest due first (undated last), then oldest."""
        return self.order_by(F("due_at").asc(nulls_last=True), "created_at")

    def pending(
        self,
        assignee_id: str | None = None,
        assignee_group: str | Iterable[str] | None = None,
        *,
        tenant_id: str | None = None,
    ) -> HumanTaskQuerySet:
        """Return the query set behind :meth:`find_pending` (lazy, for paging)."""
        rows = self.filter(status=TaskStatus.PENDING).for_tenant(tenant_id)
        if assignee_id is not None:
            rows = rows.filter(Q(assignee_id=assignee_id) | Q(assignee_id__isnull=True))
        if assignee_group is not None:
            groups = [assignee_group] if isinstance(assignee_group, str) else list(assignee_group)
            rows = rows.filter(Q(assignee_group__in=groups) | Q(assignee_group__isnull=True))
        return rows.inbox_order()

    def find_pending(
        self,
        assignee_id: str | None = None,
        assignee_group: str | Iterable[str] | None = None,
        *,
        tenant_id: str | None = None,
    ) -> list[HumanTaskModel]:
        """Return pending tasks, earliest due first.

        With ``assignee_id``: the user's tasks and unassigned ones. With
        ``assignee_group`` (one name or several, such as a user's groups):
        tasks of those groups and tasks without a group. With ``tenant_id``:
        that tenant's tasks only.
        """
        return list(self.pending(assignee_id, assignee_group, tenant_id=tenant_id))

    def find_by_instance(self, instance_id: Any) -> list[HumanTaskModel]:
        """Return an instance's tasks, oldest first."""
        return list(self.filter(instance_id=instance_id).order_by("created_at"))

    def find_overdue(self, now: datetime | None = None) -> list[HumanTaskModel]:
        """Return pending tasks whose due date has passed, earliest first."""
        rows = self.filter(status=TaskStatus.PENDING, due_at__lt=now or timezone.now())
        return list(rows.order_by("due_at"))

    def complete_task(self, task_id: Any, completed_by: str) -> HumanTaskModel | None:
        """Mark a pending task completed (a task in another state is left as it is).

        This writes the row only, as the seed's repository does; to complete a
        task and resume its workflow, call the engine. A four-eyes rule of the task that
        excludes ``completed_by`` leaves it pending and raises
        :class:`~workflows_app.ExcludedUserError`, as the engine does.
        """
        now = timezone.now()
        pending = self.filter(pk=task_id, status=TaskStatus.PENDING)
        pending.exclude(excluded_users__contains=four_eyes.marker(str(completed_by))).update(
            status=TaskStatus.COMPLETED,
            completed_by=completed_by,
            completed_at=now,
            updated_at=now,
        )
        task = self.filter(pk=task_id).first()
        if task is not None and task.status == TaskStatus.PENDING:
            four_eyes.refuse(task.pk, task.excluded_users, completed_by, "complete")
        return task

    def cancel_task(self, task_id: Any) -> HumanTaskModel | None:
        """Mark a pending task canceled (a task in another state is left as it is)."""
        self.filter(pk=task_id, status=TaskStatus.PENDING).update(
            status=TaskStatus.CANCELED, updated_at=timezone.now()
        )
        return self.filter(pk=task_id).first()
