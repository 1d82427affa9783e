"""The ``litestar_workflows.db`` namespace: the persistent engine, models and repositories."""

from __future__ import annotations

from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)
from workflows_app.repositories import (
    HumanTaskRepository,
    StepExecutionRepository,
    WorkflowDefinitionRepository,
    WorkflowInstanceRepository,
)

__all__ = [
    "HumanTaskModel",
    "HumanTaskRepository",
    "PersistentExecutionEngine",
    "StepExecutionModel",
    "StepExecutionRepository",
    "WorkflowDefinitionModel",
    "WorkflowDefinitionRepository",
    "WorkflowInstanceModel",
    "WorkflowInstanceRepository",
]
