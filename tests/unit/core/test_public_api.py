"""The import surface: what code written against litestar-workflows can import, and from where."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

UPSTREAM_TOP_LEVEL = [
    "BaseHumanStep",
    "BaseMachineStep",
    "ConditionalGroup",
    "Edge",
    "ExclusiveGateway",
    "HumanTaskError",
    "InvalidTransitionError",
    "LocalExecutionEngine",
    "ParallelGateway",
    "ParallelGroup",
    "SequentialGroup",
    "StepExecution",
    "StepExecutionError",
    "StepStatus",
    "StepType",
    "TaskAlreadyCompletedError",
    "TaskNotFoundError",
    "TimerStep",
    "UnauthorizedTaskError",
    "WorkflowAlreadyCompletedError",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowInstanceNotFoundError",
    "WorkflowNotFoundError",
    "WorkflowRegistry",
    "WorkflowStatus",
    "WorkflowValidationError",
    "WorkflowsError",
]

CORE_NAMES = [
    # types
    "StepType",
    "StepStatus",
    "WorkflowStatus",
    # context, models, definition
    "StepExecution",
    "WorkflowContext",
    "WorkflowInstanceData",
    "Edge",
    "WorkflowDefinition",
    "Workflow",
    # steps
    "BaseStep",
    "BaseMachineStep",
    "BaseHumanStep",
    "ExclusiveGateway",
    "ParallelGateway",
    "TimerStep",
    "WebhookStep",
    "StepGroup",
    "SequentialGroup",
    "ParallelGroup",
    "ConditionalGroup",
    # graph and registry
    "WorkflowGraph",
    "WorkflowRegistry",
    # graph helpers
    "parse_graph_to_dict",
    "generate_mermaid_graph",
    "generate_mermaid_graph_with_state",
    # exceptions
    "WorkflowsError",
    "WorkflowNotFoundError",
    "WorkflowInstanceNotFoundError",
    "StepExecutionError",
    "InvalidTransitionError",
    "WorkflowValidationError",
    "WorkflowAlreadyCompletedError",
    "HumanTaskError",
    "TaskNotFoundError",
    "TaskAlreadyCompletedError",
    "UnauthorizedTaskError",
]

EVENT_NAMES = [
    "WorkflowEvent",
    "WorkflowStarted",
    "WorkflowCompleted",
    "WorkflowFailed",
    "WorkflowCanceled",
    "WorkflowPaused",
    "WorkflowResumed",
    "StepStarted",
    "StepCompleted",
    "StepFailed",
    "StepSkipped",
    "HumanTaskCreated",
    "HumanTaskCompleted",
    "HumanTaskReassigned",
]


@pytest.mark.parametrize("name", UPSTREAM_TOP_LEVEL)
def test_top_level__exports_upstream_name(name: str) -> None:
    module = importlib.import_module("workflows_app")
    assert hasattr(module, name), f"workflows_app.{name} is missing"


@pytest.mark.parametrize("name", [*UPSTREAM_TOP_LEVEL, "Workflow"])
def test_top_level__declares_name_in_all(name: str) -> None:
    import workflows_app

    assert name in workflows_app.__all__


def test_top_level__version_and_project_are_strings() -> None:
    import workflows_app

    assert isinstance(workflows_app.__version__, str) and workflows_app.__version__
    assert isinstance(workflows_app.__project__, str) and workflows_app.__project__


@pytest.mark.parametrize("name", ["WorkflowPlugin", "WorkflowPluginConfig"])
def test_top_level__does_not_export_litestar_plugin(name: str) -> None:
    import workflows_app

    assert name not in workflows_app.__all__


def test_top_level__workflow_is_the_declarative_base_class() -> None:
    import workflows_app
    import workflows_app.core
    from workflows_app.core import protocols

    assert workflows_app.Workflow is workflows_app.core.Workflow
    assert workflows_app.Workflow is not protocols.Workflow
    assert isinstance(workflows_app.Workflow, type)


@pytest.mark.parametrize("name", [*UPSTREAM_TOP_LEVEL])
def test_top_level__names_are_the_same_objects_as_in_core_or_engine(name: str) -> None:
    import workflows_app
    import workflows_app.core
    import workflows_app.engine

    obj = getattr(workflows_app, name)
    sources = [getattr(workflows_app.core, name, None), getattr(workflows_app.engine, name, None)]
    assert any(obj is source for source in sources)


@pytest.mark.parametrize("name", CORE_NAMES + EVENT_NAMES)
def test_core__exports_name(name: str) -> None:
    import workflows_app.core

    assert hasattr(workflows_app.core, name), f"workflows_app.core.{name} is missing"


def test_core__exports_protocols() -> None:
    import workflows_app.core
    from workflows_app.core import protocols

    assert workflows_app.core.Step is protocols.Step
    assert workflows_app.core.ExecutionEngine is protocols.ExecutionEngine
    assert workflows_app.core.WorkflowInstance is protocols.WorkflowInstance
    # core.Workflow is the declarative base class; the protocol lives in core.protocols only.
    assert workflows_app.core.Workflow is not protocols.Workflow


def test_engine__exports_upstream_names() -> None:
    import workflows_app
    import workflows_app.core
    import workflows_app.engine
    from workflows_app.core import protocols

    assert workflows_app.engine.LocalExecutionEngine is workflows_app.LocalExecutionEngine
    assert workflows_app.engine.WorkflowRegistry is workflows_app.core.WorkflowRegistry
    assert workflows_app.engine.WorkflowGraph is workflows_app.core.WorkflowGraph
    assert workflows_app.engine.WorkflowInstance is workflows_app.core.WorkflowInstanceData
    assert workflows_app.engine.ExecutionEngine is protocols.ExecutionEngine


def test_exceptions_module__holds_every_exception() -> None:
    import workflows_app
    import workflows_app.core
    from workflows_app import exceptions

    for name in [
        "WorkflowsError",
        "WorkflowNotFoundError",
        "WorkflowInstanceNotFoundError",
        "StepExecutionError",
        "InvalidTransitionError",
        "WorkflowValidationError",
        "WorkflowAlreadyCompletedError",
        "HumanTaskError",
        "TaskNotFoundError",
        "TaskAlreadyCompletedError",
        "UnauthorizedTaskError",
    ]:
        cls = getattr(exceptions, name)
        assert cls is getattr(workflows_app, name)
        assert cls is getattr(workflows_app.core, name)
    assert issubclass(exceptions.WorkflowStateError, exceptions.WorkflowsError)
    assert issubclass(exceptions.TaskValidationError, exceptions.WorkflowValidationError)


def test_protocols__step_is_runtime_checkable() -> None:
    from workflows_app import BaseMachineStep
    from workflows_app.core.protocols import Step

    class Noop(BaseMachineStep):
        async def execute(self, context):
            return None

    assert isinstance(Noop(name="noop"), Step)
    assert not isinstance(object(), Step)


def test_core__imports_nothing_from_django() -> None:
    script = textwrap.dedent(
        """
        import importlib
        import pkgutil
        import sys

        import workflows_app.core as core

        imported = ["workflows_app.core"]
        for info in pkgutil.walk_packages(core.__path__, prefix="workflows_app.core."):
            importlib.import_module(info.name)
            imported.append(info.name)

        leaked = sorted(name for name in sys.modules if name == "django" or name.startswith("django."))
        assert not leaked, f"workflows_app.core pulled in Django: {leaked[:5]}"
        assert len(imported) > 3, imported
        print("ok", len(imported))
        """
    )
    repo_root = Path(__file__).resolve().parents[3]
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=repo_root
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok")
