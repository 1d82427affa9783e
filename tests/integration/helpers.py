"""Step and workflow factories for the integration tests of the persistent engine.

Steps here are plain synchronous classes, so the engine's sync API runs them in the caller's
thread; ``calls`` counts how often a step's body ran. Nothing here touches the database except
:func:`snapshot`, :func:`executions` and :func:`tasks`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from workflows_app import BaseHumanStep, BaseMachineStep, Edge, WorkflowContext, WorkflowDefinition
from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)
from workflows_app.testing import RecordingEventBus

__all__ = [
    "Edge",
    "FlakyOnce",
    "RecordingBus",
    "Step",
    "executions",
    "human",
    "marker",
    "names",
    "snapshot",
    "tasks",
    "workflow",
]


class Step(BaseMachineStep):
    """A synchronous machine step whose body is ``fn(context)``; counts its runs."""

    def __init__(
        self,
        name: str,
        fn: Callable[[WorkflowContext], Any] | None = None,
        *,
        guard: Callable[[WorkflowContext], bool] | None = None,
        on_fail: Callable[[WorkflowContext, Exception], None] | None = None,
    ) -> None:
        super().__init__(name=name)
        self.fn = fn
        self.guard = guard
        self.on_fail = on_fail
        self.calls = 0

    def execute(self, context: WorkflowContext) -> Any:
        self.calls += 1
        return None if self.fn is None else self.fn(context)

    def can_execute(self, context: WorkflowContext) -> bool:
        return True if self.guard is None else self.guard(context)

    def on_failure(self, context: WorkflowContext, error: Exception) -> None:
        if self.on_fail is not None:
            self.on_fail(context, error)


def marker(name: str) -> Step:
    """A step that sets ``<name>_done`` and returns ``{"s": name}`` (scenario 1)."""

    def body(ctx: WorkflowContext) -> dict[str, str]:
        ctx.set(f"{name.lower()}_done", True)
        return {"s": name}

    return Step(name, body)


def human(name: str, **kwargs: Any) -> BaseHumanStep:
    return BaseHumanStep(name=name, **kwargs)


class FlakyOnce:
    """A step body that raises on its first call only."""

    def __init__(self, message: str = "first attempt fails") -> None:
        self.calls = 0
        self.message = message

    def __call__(self, ctx: WorkflowContext) -> dict[str, int]:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError(self.message)
        ctx.set("flaky_ok", True)
        return {"attempt": self.calls}


def definition(
    steps: list[Any],
    edges: list[Edge],
    *,
    name: str = "wf",
    version: str = "1.0.0",
    initial: str | None = None,
    terminal: set[str] | None = None,
    description: str = "integration test workflow",
) -> WorkflowDefinition:
    return WorkflowDefinition(
        name=name,
        version=version,
        description=description,
        steps={step.name: step for step in steps},
        edges=list(edges),
        initial_step=initial or steps[0].name,
        terminal_steps=set(terminal or ()),
    )


def workflow(steps: list[Any], edges: list[Edge], **kwargs: Any) -> type:
    """Wrap a definition in an upstream-style workflow class (``get_definition()``)."""
    defn = definition(steps, edges, **kwargs)

    class _Workflow:
        name = defn.name
        version = defn.version

        @classmethod
        def get_definition(cls) -> WorkflowDefinition:
            return defn

    return _Workflow


def names(instance: Any) -> list[str]:
    return [entry.step_name for entry in instance.context.step_history]


def executions(instance_id: Any, step_name: str | None = None) -> list[StepExecutionModel]:
    """The instance's StepExecution rows in the order they started."""
    rows = StepExecutionModel.objects.filter(instance_id=instance_id)
    if step_name is not None:
        rows = rows.filter(step_name=step_name)
    return list(rows.order_by("started_at", "created_at"))


def tasks(instance_id: Any, step_name: str | None = None) -> list[HumanTaskModel]:
    rows = HumanTaskModel.objects.filter(instance_id=instance_id)
    if step_name is not None:
        rows = rows.filter(step_name=step_name)
    return list(rows.order_by("created_at"))


def snapshot() -> dict[str, list[dict[str, Any]]]:
    """Every column of every row of the four tables, for before/after comparisons."""
    return {
        model.__name__: list(model.objects.order_by("pk").values())
        for model in (
            WorkflowDefinitionModel,
            WorkflowInstanceModel,
            StepExecutionModel,
            HumanTaskModel,
        )
    }


RecordingBus = RecordingEventBus
