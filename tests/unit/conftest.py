"""Shared helpers for the unit tests of the workflow language and the in-memory engine.

The factories return closures or small classes so that each test declares its own graph in a few
lines. Nothing here touches a database or Django.
"""

from __future__ import annotations

import inspect
import types
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    LocalExecutionEngine,
    WorkflowContext,
    WorkflowDefinition,
    WorkflowRegistry,
)
from workflows_app.testing import RecordingEventBus


async def resolve(value: Any) -> Any:
    """Await ``value`` if it is awaitable (steps may have sync or async methods)."""
    if inspect.isawaitable(value):
        return await value
    return value


class CallStep(BaseMachineStep):
    """A machine step whose body is a plain function of the context.

    ``calls`` counts how many times ``execute`` ran, so tests can prove a step did or did not run.
    """

    def __init__(
        self,
        name: str,
        fn: Callable[[WorkflowContext], Any] | None = None,
        *,
        guard: Callable[[WorkflowContext], bool] | None = None,
        on_fail: Callable[[WorkflowContext, Exception], None] | None = None,
        description: str = "",
    ) -> None:
        super().__init__(name=name, description=description)
        self.fn = fn
        self.guard = guard
        self.on_fail = on_fail
        self.calls = 0

    async def execute(self, context: WorkflowContext) -> Any:
        self.calls += 1
        if self.fn is None:
            return None
        return await resolve(self.fn(context))

    async def can_execute(self, context: WorkflowContext) -> bool:
        if self.guard is None:
            return True
        return self.guard(context)

    async def on_failure(self, context: WorkflowContext, error: Exception) -> None:
        if self.on_fail is not None:
            self.on_fail(context, error)


def marker(name: str) -> CallStep:
    """A step that writes ``<name>_done=True`` and returns ``{"s": name}`` (scenario 1)."""

    def body(ctx: WorkflowContext) -> dict[str, str]:
        ctx.set(f"{name.lower()}_done", True)
        return {"s": name}

    return CallStep(name, body)


def human(
    name: str, *, title: str | None = None, form_schema: dict[str, Any] | None = None
) -> BaseHumanStep:
    return BaseHumanStep(name=name, title=title or f"Task {name}", form_schema=form_schema)


def definition(
    steps: list[Any],
    edges: list[Edge],
    *,
    name: str = "wf",
    version: str = "1.0.0",
    initial: str | None = None,
    terminal: set[str] | None = None,
    description: str = "test workflow",
) -> WorkflowDefinition:
    """Build a WorkflowDefinition (upstream constructor) from a list of step instances."""
    step_map = {step.name: step for step in steps}
    return WorkflowDefinition(
        name=name,
        version=version,
        description=description,
        steps=step_map,
        edges=list(edges),
        initial_step=initial if initial is not None else steps[0].name,
        terminal_steps=set(terminal or set()),
    )


def workflow_class(defn: WorkflowDefinition) -> type:
    """Wrap a definition in an upstream-style workflow class (any class with get_definition())."""

    class _UpstreamStyleWorkflow:
        name = defn.name
        version = defn.version
        description = defn.description

        @classmethod
        def get_definition(cls) -> WorkflowDefinition:
            return defn

    _UpstreamStyleWorkflow.__name__ = f"Wf_{defn.name}_{defn.version}".replace(".", "_")
    return _UpstreamStyleWorkflow


def make_workflow(steps: list[Any], edges: list[Edge], **kwargs: Any) -> type:
    return workflow_class(definition(steps, edges, **kwargs))


def make_context(
    data: dict[str, Any] | None = None, *, current_step: str = "start"
) -> WorkflowContext:
    return WorkflowContext(
        workflow_id=uuid.uuid4(),
        instance_id=uuid.uuid4(),
        data={} if data is None else data,
        metadata={},
        current_step=current_step,
        step_history=[],
        started_at=datetime.now(UTC),
    )


def history_names(instance: Any) -> list[str]:
    return [entry.step_name for entry in instance.context.step_history]


def history_statuses(instance: Any) -> list[str]:
    return [str(entry.status) for entry in instance.context.step_history]


RecordingBus = RecordingEventBus


class RecordingPersistence:
    """Duck-typed persistence: keeps the last saved object and a snapshot of every save."""

    def __init__(self) -> None:
        self.instances: dict[uuid.UUID, Any] = {}
        self.snapshots: list[dict[str, Any]] = []
        self.load_count = 0

    @property
    def save_count(self) -> int:
        return len(self.snapshots)

    async def save_instance(self, instance: Any) -> None:
        self.instances[instance.id] = instance
        self.snapshots.append(
            {
                "id": instance.id,
                "status": str(instance.status),
                "current_step": instance.current_step,
                "history": [entry.step_name for entry in instance.context.step_history],
            }
        )

    async def load_instance(self, instance_id: uuid.UUID) -> Any:
        self.load_count += 1
        return self.instances.get(instance_id)


@pytest.fixture
def kit() -> types.SimpleNamespace:
    """The factories above, as one fixture (conftest modules cannot be imported by name reliably)."""
    return types.SimpleNamespace(
        resolve=resolve,
        CallStep=CallStep,
        step=CallStep,
        marker=marker,
        human=human,
        definition=definition,
        workflow_class=workflow_class,
        workflow=make_workflow,
        context=make_context,
        names=history_names,
        statuses=history_statuses,
    )


@pytest.fixture
def registry() -> WorkflowRegistry:
    return WorkflowRegistry()


@pytest.fixture
def bus() -> RecordingBus:
    return RecordingBus()


@pytest.fixture
def persistence() -> RecordingPersistence:
    return RecordingPersistence()


@pytest.fixture
def engine(
    registry: WorkflowRegistry, persistence: RecordingPersistence, bus: RecordingBus
) -> LocalExecutionEngine:
    return LocalExecutionEngine(registry, persistence=persistence, event_bus=bus)


@pytest.fixture
def bare_engine(registry: WorkflowRegistry) -> LocalExecutionEngine:
    """The upstream constructor call: ``LocalExecutionEngine(registry)``."""
    return LocalExecutionEngine(registry)
