"""The runtime context a step sees, and one entry of its history."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from uuid import UUID

__all__ = ["StepExecution", "WorkflowContext"]


@dataclass
class StepExecution:
    """One record of the step history."""

    step_name: str
    status: str
    started_at: datetime
    completed_at: datetime | None = None
    result: Any = None
    error: str | None = None
    input_data: dict[str, Any] | None = None
    output_data: dict[str, Any] | None = None
    attempt: int = 1
    kind: str = "step"
    """(added) ``"step"``, or ``"compensation"`` for the run of a step's ``compensate``."""


@dataclass
class WorkflowContext:
    """The data and history shared by the steps of one workflow instance."""

    workflow_id: UUID
    instance_id: UUID
    data: dict[str, Any]
    metadata: dict[str, Any]
    current_step: str
    step_history: list[StepExecution]
    started_at: datetime
    user_id: str | None = None
    tenant_id: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        """Return ``data[key]``, or ``default`` when it is missing."""
        return self.data.get(key, default)

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` under ``key`` in the data."""
        self.data[key] = value

    def with_step(self, step_name: str) -> WorkflowContext:
        """Return a context for ``step_name`` that shares data, metadata and history."""
        return replace(self, current_step=step_name)

    def get_last_execution(self, step_name: str | None = None) -> StepExecution | None:
        """Return the newest history entry (for ``step_name`` if given), or None."""
        for execution in reversed(self.step_history):
            if step_name is None or execution.step_name == step_name:
                return execution
        return None

    def has_step_executed(self, step_name: str) -> bool:
        """Return True if the history holds an entry for ``step_name``."""
        return any(execution.step_name == step_name for execution in self.step_history)
