"""Executing workflows: the step semantics and the engines built on them."""

from __future__ import annotations

from workflows_app.core.graph import WorkflowGraph
from workflows_app.core.models import WorkflowInstanceData
from workflows_app.core.models import WorkflowInstanceData as WorkflowInstance
from workflows_app.core.protocols import ExecutionEngine
from workflows_app.core.registry import WorkflowRegistry
from workflows_app.engine.local import LocalExecutionEngine

__all__ = [
    "ExecutionEngine",
    "LocalExecutionEngine",
    "WorkflowGraph",
    "WorkflowInstance",
    "WorkflowInstanceData",
    "WorkflowRegistry",
]
