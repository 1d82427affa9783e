"""Event dataclasses describing workflow lifecycle changes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

__all__ = [
    "HumanTaskCompleted",
    "HumanTaskCreated",
    "HumanTaskReassigned",
    "StepCompleted",
    "StepFailed",
    "StepSkipped",
    "StepStarted",
    "WorkflowCanceled",
    "WorkflowCompleted",
    "WorkflowEvent",
    "WorkflowFailed",
    "WorkflowPaused",
    "WorkflowResumed",
    "WorkflowStarted",
]


@dataclass
class WorkflowEvent:
    """The base of every event: which instance, and when."""

    instance_id: UUID
    timestamp: datetime


@dataclass
class WorkflowStarted(WorkflowEvent):
    workflow_name: str
    workflow_version: str
    initial_data: dict[str, Any] | None = None
    user_id: str | None = None
    tenant_id: str | None = None


@dataclass
class WorkflowCompleted(WorkflowEvent):
    status: str
    final_step: str | None = None
    duration_seconds: float | None = None


@dataclass
class WorkflowFailed(WorkflowEvent):
    error: str
    failed_step: str | None = None
    error_type: str | None = None
    stack_trace: str | None = None


@dataclass
class WorkflowCanceled(WorkflowEvent):
    reason: str
    canceled_by: str | None = None
    current_step: str | None = None


@dataclass
class WorkflowPaused(WorkflowEvent):
    reason: str | None = None
    paused_at_step: str | None = None


@dataclass
class WorkflowResumed(WorkflowEvent):
    resumed_by: str | None = None
    resuming_at_step: str | None = None


@dataclass
class StepStarted(WorkflowEvent):
    step_name: str
    step_type: str
    input_data: dict[str, Any] | None = None


@dataclass
class StepCompleted(WorkflowEvent):
    step_name: str
    status: str
    result: Any = None
    output_data: dict[str, Any] | None = None
    duration_seconds: float | None = None


@dataclass
class StepFailed(WorkflowEvent):
    step_name: str
    error: str
    error_type: str | None = None
    retry_count: int = 0


@dataclass
class StepSkipped(WorkflowEvent):
    step_name: str
    reason: str | None = None


@dataclass
class HumanTaskCreated(WorkflowEvent):
    step_name: str
    task_id: UUID
    assignee: str | None = None
    title: str | None = None
    description: str | None = None
    due_at: datetime | None = None


@dataclass
class HumanTaskCompleted(WorkflowEvent):
    step_name: str
    task_id: UUID
    completed_by: str
    form_data: dict[str, Any] | None = None
    comment: str | None = None


@dataclass
class HumanTaskReassigned(WorkflowEvent):
    step_name: str
    task_id: UUID
    from_assignee: str | None = None
    to_assignee: str | None = None
    reassigned_by: str | None = None
    reason: str | None = None
