"""Structural types: what a step, a workflow, an instance and an engine look like."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable
from uuid import UUID

from workflows_app.core.types import StepType, WorkflowStatus

if TYPE_CHECKING:
    from workflows_app.core.context import WorkflowContext
    from workflows_app.core.definition import WorkflowDefinition

__all__ = ["ExecutionEngine", "Step", "Workflow", "WorkflowInstance"]

T_co = TypeVar("T_co", covariant=True)


@runtime_checkable
class Step(Protocol[T_co]):
    """Anything the engine can run as a step."""

    name: str
    description: str
    step_type: StepType

    async def execute(self, context: WorkflowContext) -> T_co: ...

    async def can_execute(self, context: WorkflowContext) -> bool: ...

    async def on_success(self, context: WorkflowContext, result: Any) -> None: ...

    async def on_failure(self, context: WorkflowContext, error: Exception) -> None: ...


@runtime_checkable
class Workflow(Protocol):
    """A class that describes a workflow through ``get_definition()``."""

    name: str
    version: str
    description: str

    @classmethod
    def get_definition(cls) -> WorkflowDefinition: ...


@runtime_checkable
class WorkflowInstance(Protocol):
    """The read side of a running workflow instance."""

    id: UUID
    workflow_name: str
    workflow_version: str
    status: WorkflowStatus
    context: WorkflowContext
    current_step: str | None
    started_at: datetime
    completed_at: datetime | None
    error: str | None


@runtime_checkable
class ExecutionEngine(Protocol):
    """What every execution engine offers."""

    async def start_workflow(
        self, workflow: Any, initial_data: dict[str, Any] | None = None, **kwargs: Any
    ) -> Any: ...

    async def execute_step(
        self, step: Any, context: WorkflowContext, previous_result: Any = None
    ) -> Any: ...

    async def schedule_step(
        self, instance_id: UUID, step_name: str, delay: timedelta | None = None
    ) -> None: ...

    async def complete_human_task(
        self, instance_id: UUID, step_name: str, user_id: str, data: dict[str, Any]
    ) -> None: ...

    async def cancel_workflow(self, instance_id: UUID, reason: str) -> None: ...
