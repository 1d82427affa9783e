"""The documented async repositories, thin over the model query sets.

Each method is the one-line async twin of a query set method in
:mod:`workflows_app.managers`. ``session`` is accepted for compatibility with
litestar-workflows and ignored; ``using`` names the database alias.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS

from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)

__all__ = [
    "HumanTaskRepository",
    "StepExecutionRepository",
    "WorkflowDefinitionRepository",
    "WorkflowInstanceRepository",
]


class _Repository:
    model: Any

    def __init__(self, session: Any = None, *, using: str | None = None) -> None:
        self.session = session
        self.using = using or DEFAULT_DB_ALIAS

    @property
    def objects(self) -> Any:
        return self.model.objects.using(self.using)

    def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return sync_to_async(getattr(self.objects, method))(*args, **kwargs)

    async def get(self, item_id: Any) -> Any:
        """Return the row with this id, or None."""
        return await sync_to_async(self.objects.filter(pk=item_id).first)()


class WorkflowDefinitionRepository(_Repository):
    model = WorkflowDefinitionModel

    async def get_by_name(self, name: str, version: str | None = None, *, active_only: bool = True):
        return await self._run("get_by_name", name, version, active_only=active_only)

    async def get_latest_version(self, name: str):
        return await self._run("get_latest_version", name)

    async def list_active(self):
        return await self._run("list_active")

    async def deactivate_version(self, name: str, version: str) -> bool:
        return await self._run("deactivate_version", name, version)

    async def activate_version(self, name: str, version: str) -> bool:
        return await self._run("activate_version", name, version)


class WorkflowInstanceRepository(_Repository):
    model = WorkflowInstanceModel

    async def find_by_workflow(
        self, workflow_name: str, status: Any = None, limit: int = 100, offset: int = 0
    ):
        return await self._run("find_by_workflow", workflow_name, status, limit, offset)

    async def find_by_user(self, user_id: str, status: Any = None):
        return await self._run("find_by_user", user_id, status)

    async def find_by_tenant(
        self, tenant_id: str, status: Any = None, limit: int = 100, offset: int = 0
    ):
        return await self._run("find_by_tenant", tenant_id, status, limit, offset)

    async def find_running(self):
        return await self._run("find_running")

    async def update_status(
        self,
        instance_id: Any,
        status: Any,
        *,
        current_step: str | None = None,
        error: str | None = None,
    ):
        return await self._run(
            "update_status", instance_id, status, current_step=current_step, error=error
        )


class StepExecutionRepository(_Repository):
    model = StepExecutionModel

    async def find_by_instance(self, instance_id: Any):
        return await self._run("find_by_instance", instance_id)

    async def find_by_step_name(self, instance_id: Any, step_name: str):
        return await self._run("find_by_step_name", instance_id, step_name)

    async def find_failed(self, instance_id: Any = None):
        return await self._run("find_failed", instance_id)


class HumanTaskRepository(_Repository):
    model = HumanTaskModel

    async def find_pending(
        self,
        assignee_id: str | None = None,
        assignee_group: Any = None,
        *,
        tenant_id: str | None = None,
    ):
        return await self._run("find_pending", assignee_id, assignee_group, tenant_id=tenant_id)

    async def find_by_instance(self, instance_id: Any):
        return await self._run("find_by_instance", instance_id)

    async def find_overdue(self):
        return await self._run("find_overdue")

    async def complete_task(self, task_id: Any, completed_by: str):
        return await self._run("complete_task", task_id, completed_by)

    async def cancel_task(self, task_id: Any):
        return await self._run("cancel_task", task_id)
