"""The documented async API of :class:`~.persistent.PersistentExecutionEngine`.

Upstream's users write ``await engine.start_workflow(...)``: each method here awaits its
``_sync`` twin (the one implementation) in a thread, through asgiref's thread-sensitive
``sync_to_async``, so that Django's database connections stay with their thread and the
event loop never blocks on the database. Nothing else lives here: a new operation gets
its ``_sync`` body in :mod:`.persistent` and a one-line twin below.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from asgiref.sync import sync_to_async

from workflows_app.core.migration import MigrationPlan
from workflows_app.core.models import PublishResult, WorkflowInstanceData
from workflows_app.models import HumanTaskModel, Substitution, TaskCommentModel

__all__ = ["AwaitableAPI"]


class AwaitableAPI:
    """The async twins of the engine's ``_sync`` methods (a base class of the engine)."""

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
        self,
        task_id: Any,
        user_id: str,
        data: dict[str, Any],
        *,
        comment: str | None = None,
        on_behalf_of: str | None = None,
    ) -> WorkflowInstanceData:
        """Async version of :meth:`complete_task_sync`."""
        return await sync_to_async(self.complete_task_sync)(
            task_id, user_id, data, comment=comment, on_behalf_of=on_behalf_of
        )

    async def add_task_comment(self, task_id: Any, author: str, text: str) -> TaskCommentModel:
        """Async version of :meth:`add_task_comment_sync`."""
        return await sync_to_async(self.add_task_comment_sync)(task_id, author, text)

    async def edit_task_comment(
        self, task_id: Any, comment_id: Any, by: str, text: str
    ) -> TaskCommentModel:
        """Async version of :meth:`edit_task_comment_sync`."""
        return await sync_to_async(self.edit_task_comment_sync)(task_id, comment_id, by, text)

    async def claim_task(self, task_id: Any, user_id: str) -> HumanTaskModel:
        """Async version of :meth:`claim_task_sync`."""
        return await sync_to_async(self.claim_task_sync)(task_id, user_id)

    async def release_task(self, task_id: Any, released_by: str | None = None) -> HumanTaskModel:
        """Async version of :meth:`release_task_sync`."""
        return await sync_to_async(self.release_task_sync)(task_id, released_by)

    async def reassign_task(self, task_id: Any, **kwargs: Any) -> HumanTaskModel:
        """Async version of :meth:`reassign_task_sync`."""
        return await sync_to_async(self.reassign_task_sync)(task_id, **kwargs)

    async def delegate_task(self, task_id: Any, to_user: str, by: str) -> HumanTaskModel:
        """Async version of :meth:`delegate_task_sync`."""
        return await sync_to_async(self.delegate_task_sync)(task_id, to_user, by)

    async def resolve_task(self, task_id: Any, by: str, data: dict[str, Any]) -> HumanTaskModel:
        """Async version of :meth:`resolve_task_sync`."""
        return await sync_to_async(self.resolve_task_sync)(task_id, by, data)

    async def add_substitution(self, *args: Any, **kwargs: Any) -> Substitution:
        """Async version of :meth:`add_substitution_sync`."""
        return await sync_to_async(self.add_substitution_sync)(*args, **kwargs)

    async def cancel_workflow(
        self, instance_id: UUID, reason: str, compensate: bool = False
    ) -> WorkflowInstanceData:
        """Async version of :meth:`cancel_workflow_sync`."""
        return await sync_to_async(self.cancel_workflow_sync)(instance_id, reason, compensate)

    async def retry(self, instance_id: UUID, from_step: str | None = None) -> WorkflowInstanceData:
        """Async version of :meth:`retry_sync`."""
        return await sync_to_async(self.retry_sync)(instance_id, from_step)

    async def plan_migration(self, plan: MigrationPlan, *args: Any, **kwargs: Any) -> Any:
        """Async version of :meth:`plan_migration_sync`."""
        return await sync_to_async(self.plan_migration_sync)(plan, *args, **kwargs)

    async def migrate_instances(self, plan: MigrationPlan, *args: Any, **kwargs: Any) -> Any:
        """Async version of :meth:`migrate_instances_sync`."""
        return await sync_to_async(self.migrate_instances_sync)(plan, *args, **kwargs)

    async def suspend(
        self, instance_id: UUID, reason: str, by: str | None = None
    ) -> WorkflowInstanceData:
        """Async version of :meth:`suspend_sync`."""
        return await sync_to_async(self.suspend_sync)(instance_id, reason, by)

    async def resume(self, instance_id: UUID, by: str | None = None) -> WorkflowInstanceData:
        """Async version of :meth:`resume_sync`."""
        return await sync_to_async(self.resume_sync)(instance_id, by)

    async def send_back(
        self, task_id: Any, to_step: str, reason: str, by: str | None = None
    ) -> WorkflowInstanceData:
        """Async version of :meth:`send_back_sync`."""
        return await sync_to_async(self.send_back_sync)(task_id, to_step, reason, by)

    async def withdraw(self, instance_id: UUID, by: str) -> WorkflowInstanceData:
        """Async version of :meth:`withdraw_sync`."""
        return await sync_to_async(self.withdraw_sync)(instance_id, by)

    async def publish_message(self, *args: Any, **kwargs: Any) -> PublishResult:
        """Async version of :meth:`publish_message_sync`."""
        return await sync_to_async(self.publish_message_sync)(*args, **kwargs)

    async def get_instance(self, instance_id: UUID) -> WorkflowInstanceData:
        """Async version of :meth:`get_instance_sync`."""
        return await sync_to_async(self.get_instance_sync)(instance_id)
