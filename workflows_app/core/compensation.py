"""Compensation (sagas): which steps of a failed or canceled instance are undone, in which
order, and by what code. Pure: no Django, no I/O.

A machine step declares how it is undone with ``compensate``:

- a method ``compensate(self, context)`` (plain or ``async def``) on the step; or
- ``compensate=`` a step class or instance (its ``execute(context)`` undoes the step; its
  guard and hooks run as for any step).

Its compensation is tried again by ``compensate_retry_policy`` if the step has one, else by
the compensating step's own ``retry_policy``, else by the step's ``retry_policy``.

The order (:func:`plan`): the steps that completed (succeeded) are undone one at a time,
never two at once, and a step only after the steps that completed after it and that it
leads to. Parallel branches are undone branch by branch: the branch of the step that
completed last first, each branch newest step first, then the next branch (by its last
completion), and the steps before the fork last. A step that completed twice (a loop)
is undone twice; in a loop, where every step leads to every other, the order is simply
the reverse of completion.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from workflows_app.core.context import StepExecution, WorkflowContext
from workflows_app.core.definition import WorkflowDefinition
from workflows_app.core.retry import RetryPolicy
from workflows_app.core.steps import BaseMachineStep, BaseStep
from workflows_app.core.types import StepStatus, StepType

__all__ = [
    "COMPENSATION",
    "CompensationStatus",
    "compensates",
    "compensating_step",
    "plan",
    "retry_policy",
    "undoes_children",
]

COMPENSATION = "compensation"
"""The ``kind`` of a step execution that ran a step's compensation."""


class CompensationStatus(StrEnum):
    """The values of ``metadata["compensation"]["status"]``."""

    RUNNING = "running"
    """Its compensations run: the instance is ``running``."""
    COMPLETED = "completed"
    """Every completed step was undone: the instance ended ``failed`` or ``canceled``."""
    FAILED = "failed"
    """A compensation failed after its retries: the instance is ``failed``; retry it."""


class _MethodCompensation(BaseMachineStep):
    """A step whose ``execute`` is the ``compensate`` method of another step."""

    def __init__(self, step: Any) -> None:
        super().__init__(name=f"{step.name}.compensate")
        self._method = step.compensate
        self.timeout = getattr(step, "timeout", None)

    def execute(self, context: WorkflowContext) -> Any:  # type: ignore[override]
        return self._method(context)


def _declared(step: Any) -> Any:
    return getattr(step, "compensate", None)


def compensates(step: Any) -> bool:
    """Whether ``step`` declares a compensation: a machine step's ``compensate``, or a
    subworkflow step's ``compensate=True`` (see :func:`undoes_children`)."""
    if undoes_children(step):
        return True
    return _declared(step) is not None and getattr(step, "step_type", None) == StepType.MACHINE


def undoes_children(step: Any) -> bool:
    """Whether ``step`` is a subworkflow step undone by undoing its children: declared with
    ``compensate=True``, its compensation compensates each child that completed (the
    engine runs it, see :mod:`workflows_app.engine.child_compensation`)."""
    return getattr(step, "step_type", None) == StepType.SUBWORKFLOW and _declared(step) is True


def compensating_step(step: Any) -> BaseStep:
    """Return the step to run to undo ``step``: the step given as ``compensate`` (a class is
    instantiated, named ``<step>.compensate`` unless it has a name), or a step running its
    ``compensate`` method."""
    declared = _declared(step)
    if isinstance(declared, type) and issubclass(declared, BaseStep):
        if getattr(declared, "name", ""):
            return declared()
        return declared(name=f"{step.name}.compensate")
    if isinstance(declared, BaseStep):
        return declared
    if callable(declared):
        return _MethodCompensation(step)
    raise TypeError(f"compensate of step {step.name!r} is not a step or a method")


def retry_policy(step: Any) -> RetryPolicy | None:
    """Return the retry policy of ``step``'s compensation (see the module's docstring)."""
    policy = getattr(step, "compensate_retry_policy", None)
    if policy is not None:
        return policy
    declared = _declared(step)
    if isinstance(declared, BaseStep | type) and getattr(declared, "retry_policy", None):
        return declared.retry_policy  # type: ignore[union-attr]
    return getattr(step, "retry_policy", None)


def plan(history: list[StepExecution], definition: WorkflowDefinition) -> list[str]:
    """Return the names of the steps to undo, in order (see the module's docstring).

    Each succeeded execution of a step that ``compensates`` is undone once. A step is
    undone only after every step that completed after it and that it leads to (its
    dependants); among those that may be undone next, one that leads to the step just
    undone comes first (its branch goes on), else the last one to complete.
    """
    steps = definition.steps
    done = [
        entry
        for entry in history
        if entry.kind != COMPENSATION
        and entry.status == StepStatus.SUCCEEDED
        and compensates(steps.get(entry.step_name))
    ]
    done.sort(key=lambda entry: entry.completed_at or entry.started_at, reverse=True)
    reach: dict[str, set[str]] = {}
    left = list(range(len(done)))  # indexes into done: newest first
    order: list[str] = []
    while left:
        # i may be undone when nothing newer still to undo is one of its dependants.
        free = [
            i
            for i in left
            if not any(
                j < i and done[j].step_name in _reach(definition, done[i].step_name, reach)
                for j in left
            )
        ]
        if not free:  # cannot happen (the newest is always free); keep going regardless
            free = left
        last = order[-1] if order else None
        chosen = next(
            (i for i in free if last and last in _reach(definition, done[i].step_name, reach)),
            free[0],
        )
        left.remove(chosen)
        order.append(done[chosen].step_name)
    return order


def _reach(definition: WorkflowDefinition, start: str, seen: dict[str, set[str]]) -> set[str]:
    """The steps reachable from ``start`` (memoised in ``seen``)."""
    if start not in seen:
        found: set[str] = set()
        pending = list(definition.successors(start))
        while pending:
            name = pending.pop()
            if name not in found:
                found.add(name)
                pending.extend(definition.successors(name))
        seen[start] = found
    return seen[start]


def record(cause: str, error: str | None, pending: list[str]) -> dict[str, Any]:
    """Return a new ``metadata["compensation"]``: why (``"failed"`` or ``"canceled"``), the
    instance's error then, the steps still to undo (the one being undone first)."""
    return {
        "status": CompensationStatus.RUNNING,
        "cause": cause,
        "error": error,
        "pending": list(pending),
        "done": [],
        "errors": [],
    }
