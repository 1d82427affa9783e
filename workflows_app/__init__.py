"""Durable, human-in-the-loop workflows for Django.

The public API keeps the names of litestar-workflows, so code written against
its documentation ports by changing the import lines.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from workflows_app.core.context import StepExecution, WorkflowContext
from workflows_app.core.definition import Edge, Workflow, WorkflowDefinition
from workflows_app.core.exceptions import (
    CallbackNotFoundError,
    CommentNotFoundError,
    DelegateCannotCompleteError,
    ExcludedUserError,
    HumanTaskError,
    InvalidTransitionError,
    NotDelegateError,
    NotSubstituteError,
    StepExecutionError,
    StepTimeoutError,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    TaskValidationError,
    UnauthorizedCommentError,
    UnauthorizedTaskError,
    WorkflowAlreadyCompletedError,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
    WorkflowsError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.groups import ConditionalGroup, ParallelGroup, SequentialGroup
from workflows_app.core.migration import MigrationPlan
from workflows_app.core.registry import WorkflowRegistry
from workflows_app.core.retry import RetryPolicy
from workflows_app.core.steps import (
    BaseHumanStep,
    BaseMachineStep,
    ExclusiveGateway,
    MessageStep,
    ParallelGateway,
    TimerStep,
    WebhookStep,
)
from workflows_app.core.subworkflows import SubworkflowStep
from workflows_app.core.types import StepStatus, StepType, WorkflowStatus
from workflows_app.engine.local import LocalExecutionEngine

__project__ = "django-workflows-app"
try:
    __version__ = version(__project__)
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "BaseHumanStep",
    "BaseMachineStep",
    "CallbackNotFoundError",
    "CommentNotFoundError",
    "ConditionalGroup",
    "DelegateCannotCompleteError",
    "Edge",
    "ExcludedUserError",
    "ExclusiveGateway",
    "HumanTaskError",
    "InvalidTransitionError",
    "LocalExecutionEngine",
    "MessageStep",
    "MigrationPlan",
    "NotDelegateError",
    "NotSubstituteError",
    "ParallelGateway",
    "ParallelGroup",
    "RetryPolicy",
    "SequentialGroup",
    "StepExecution",
    "StepExecutionError",
    "StepStatus",
    "StepTimeoutError",
    "StepType",
    "SubworkflowStep",
    "TaskAlreadyCompletedError",
    "TaskNotFoundError",
    "TaskValidationError",
    "TimerStep",
    "UnauthorizedCommentError",
    "UnauthorizedTaskError",
    "WebhookStep",
    "Workflow",
    "WorkflowAlreadyCompletedError",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowInstanceNotFoundError",
    "WorkflowNotFoundError",
    "WorkflowRegistry",
    "WorkflowStateError",
    "WorkflowStatus",
    "WorkflowValidationError",
    "WorkflowsError",
    "__project__",
    "__version__",
]

# Names that live in optional faces, imported on first use.
_LAZY = {
    # Imports Django models: usable once Django is set up.
    "PersistentExecutionEngine": "workflows_app.engine.persistent",
    "WorkflowPlugin": "workflows_app.contrib.litestar",
    "WorkflowPluginConfig": "workflows_app.contrib.litestar",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'workflows_app' has no attribute {name!r}")
    from importlib import import_module

    try:
        module = import_module(module_name)
    except ImportError as exc:
        if name == "PersistentExecutionEngine":
            raise
        raise ImportError(
            f"workflows_app.{name} needs the Litestar adapter: "
            f"pip install 'django-workflows-app[litestar]' ({exc})"
        ) from exc
    return getattr(module, name)
