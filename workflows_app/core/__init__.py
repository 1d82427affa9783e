"""The workflow language: steps, edges, definitions, the registry and graphs.

Pure Python: nothing here imports Django, so definitions can be built and
tested anywhere.
"""

from __future__ import annotations

from workflows_app.core.context import StepExecution, WorkflowContext
from workflows_app.core.definition import Edge, Workflow, WorkflowDefinition
from workflows_app.core.events import (
    HumanTaskCompleted,
    HumanTaskCreated,
    HumanTaskReassigned,
    StepCompleted,
    StepFailed,
    StepSkipped,
    StepStarted,
    WorkflowCanceled,
    WorkflowCompleted,
    WorkflowEvent,
    WorkflowFailed,
    WorkflowPaused,
    WorkflowResumed,
    WorkflowStarted,
)
from workflows_app.core.exceptions import (
    CallbackNotFoundError,
    HumanTaskError,
    InvalidTransitionError,
    StepExecutionError,
    StepTimeoutError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    TaskValidationError,
    UnauthorizedTaskError,
    WorkflowAlreadyCompletedError,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowsError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.graph import (
    WorkflowGraph,
    generate_mermaid_graph,
    generate_mermaid_graph_with_state,
    parse_graph_to_dict,
)
from workflows_app.core.groups import ConditionalGroup, ParallelGroup, SequentialGroup, StepGroup
from workflows_app.core.models import Token, WorkflowInstanceData
from workflows_app.core.protocols import ExecutionEngine, Step, WorkflowInstance
from workflows_app.core.registry import WorkflowRegistry
from workflows_app.core.retry import RetryPolicy
from workflows_app.core.steps import (
    BaseHumanStep,
    BaseMachineStep,
    BaseStep,
    ExclusiveGateway,
    MessageStep,
    ParallelGateway,
    TimerStep,
    WebhookStep,
)
from workflows_app.core.types import Context, StepStatus, StepType, TaskStatus, WorkflowStatus

__all__ = [
    "BaseHumanStep",
    "BaseMachineStep",
    "BaseStep",
    "CallbackNotFoundError",
    "ConditionalGroup",
    "Context",
    "Edge",
    "ExclusiveGateway",
    "ExecutionEngine",
    "HumanTaskCompleted",
    "HumanTaskCreated",
    "HumanTaskError",
    "HumanTaskReassigned",
    "InvalidTransitionError",
    "MessageStep",
    "ParallelGateway",
    "ParallelGroup",
    "RetryPolicy",
    "SequentialGroup",
    "Step",
    "StepCompleted",
    "StepExecution",
    "StepExecutionError",
    "StepFailed",
    "StepGroup",
    "StepSkipped",
    "StepStarted",
    "StepStatus",
    "StepTimeoutError",
    "StepType",
    "TaskAlreadyCompletedError",
    "TaskNotFoundError",
    "TaskStatus",
    "TaskValidationError",
    "TimerStep",
    "Token",
    "UnauthorizedTaskError",
    "WebhookStep",
    "Workflow",
    "WorkflowAlreadyCompletedError",
    "WorkflowCanceled",
    "WorkflowCompleted",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowEvent",
    "WorkflowFailed",
    "WorkflowGraph",
    "WorkflowInstance",
    "WorkflowInstanceData",
    "WorkflowInstanceNotFoundError",
    "WorkflowNotFoundError",
    "WorkflowPaused",
    "WorkflowRegistry",
    "WorkflowResumed",
    "WorkflowStarted",
    "WorkflowStateError",
    "WorkflowStatus",
    "WorkflowValidationError",
    "WorkflowsError",
    "generate_mermaid_graph",
    "generate_mermaid_graph_with_state",
    "parse_graph_to_dict",
]
