"""Steps and workflows for the contract scenarios.

:class:`Step` is written the way upstream's documentation writes steps (``async def
execute``, async guard and hooks); its body is a plain function of the context. The
scenarios of ``test_step_shapes`` try the other shapes (plain ``def``, decorated,
partial, callable objects). Every workflow gets a name of its own, so that the persistent
engines, which find definitions by name and version, never mix two of one test up.
"""

from __future__ import annotations

import inspect
import itertools
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    Edge,
    RetryPolicy,
    WorkflowContext,
    WorkflowDefinition,
)

__all__ = ["SCHEMA", "Edge", "Flaky", "Step", "human", "marker", "retrying", "workflow"]

_names = itertools.count(1)

# A human step's form: a required boolean, a number with a minimum, a nested array.
SCHEMA = {
    "type": "object",
    "properties": {
        "approved": {"type": "boolean"},
        "amount": {"type": "number", "minimum": 0},
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"qty": {"type": "integer"}}},
        },
    },
    "required": ["approved"],
}


class Step(BaseMachineStep):
    """A machine step whose body is ``fn(context)``; ``calls`` counts how often it ran.

    ``guard`` (``can_execute``), ``on_ok`` (``on_success``) and ``on_fail`` (``on_failure``)
    are plain functions too.
    """

    def __init__(
        self,
        name: str,
        fn: Callable[[WorkflowContext], Any] | None = None,
        *,
        guard: Callable[[WorkflowContext], bool] | None = None,
        on_ok: Callable[[WorkflowContext, Any], None] | None = None,
        on_fail: Callable[[WorkflowContext, Exception], None] | None = None,
    ) -> None:
        super().__init__(name=name)
        self.fn = fn
        self.guard = guard
        self.on_ok = on_ok
        self.on_fail = on_fail
        self.calls = 0
        self._lock = threading.Lock()

    async def execute(self, context: WorkflowContext) -> Any:
        with self._lock:
            self.calls += 1
        if self.fn is None:
            return None
        result = self.fn(context)
        return await result if inspect.isawaitable(result) else result

    async def can_execute(self, context: WorkflowContext) -> bool:
        return True if self.guard is None else self.guard(context)

    async def on_success(self, context: WorkflowContext, result: Any) -> None:
        if self.on_ok is not None:
            self.on_ok(context, result)

    async def on_failure(self, context: WorkflowContext, error: Exception) -> None:
        if self.on_fail is not None:
            self.on_fail(context, error)


def marker(name: str) -> Step:
    """A step that sets ``<name>_done`` (lowercase) and returns ``{"s": name}``."""

    def body(ctx: WorkflowContext) -> dict[str, str]:
        ctx.set(f"{name.lower()}_done", True)
        return {"s": name}

    return Step(name, body)


def human(name: str, **kwargs: Any) -> BaseHumanStep:
    return BaseHumanStep(name=name, **kwargs)


class Flaky:
    """A step body that raises ``error`` on its first ``failures`` calls, then sets
    ``done`` to the number of the call that succeeded and returns ``{"attempt": n}``."""

    def __init__(self, failures: int = 1, error: type[Exception] = RuntimeError) -> None:
        self.failures = failures
        self.error = error
        self.calls = 0

    def __call__(self, ctx: WorkflowContext) -> dict[str, int]:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"attempt {self.calls} failed")
        ctx.set("done", self.calls)
        return {"attempt": self.calls}


def retrying(name: str, body: Callable[[WorkflowContext], Any], **policy: Any) -> Step:
    """A :class:`Step` with a retry policy (no jitter, so that due times are exact)."""
    step = Step(name, body)
    policy.setdefault("initial_interval", timedelta(seconds=10))
    step.retry_policy = RetryPolicy(jitter=0, **policy)
    return step


def workflow(
    steps: list[Any],
    edges: list[Edge],
    *,
    name: str | None = None,
    version: str = "1.0.0",
    initial: str | None = None,
    terminal: set[str] | None = None,
) -> type:
    """An upstream-style workflow class (``get_definition()``) over ``steps`` and ``edges``."""
    definition = WorkflowDefinition(
        name=name or f"contract_{next(_names)}",
        version=version,
        description="engine contract scenario",
        steps={step.name: step for step in steps},
        edges=list(edges),
        initial_step=initial or steps[0].name,
        terminal_steps=set(terminal or ()),
    )

    class _Workflow:
        name = definition.name
        version = definition.version

        @classmethod
        def get_definition(cls) -> WorkflowDefinition:
            return definition

    _Workflow.__name__ = definition.name
    return _Workflow
