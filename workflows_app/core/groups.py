"""Step groups: run several steps as one unit.

A group is called with an engine (``await group.execute(context, engine)``),
which runs each member through ``engine.execute_step``. A group with a
``name`` can also be placed in a workflow definition like any machine step.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar

from workflows_app.core.types import StepType

if TYPE_CHECKING:
    from workflows_app.core.context import WorkflowContext

__all__ = ["ConditionalGroup", "ParallelGroup", "SequentialGroup", "StepGroup"]


class StepGroup(ABC):
    """The base of step groups."""

    step_type: ClassVar[StepType] = StepType.MACHINE
    name: str = ""
    description: str = ""

    @abstractmethod
    async def execute(self, context: WorkflowContext, engine: Any) -> Any:
        """Run the group and return its result."""

    async def can_execute(self, context: WorkflowContext) -> bool:
        return True

    async def on_success(self, context: WorkflowContext, result: Any) -> None:
        return None

    async def on_failure(self, context: WorkflowContext, error: Exception) -> None:
        return None


async def _run_member(member: Any, context: WorkflowContext, engine: Any, previous: Any) -> Any:
    if isinstance(member, StepGroup):
        return await member.execute(context, engine)
    return await engine.execute_step(member, context, previous_result=previous)


class SequentialGroup(StepGroup):
    """Run the members in order; each sees the previous result. Return the last."""

    def __init__(self, *steps: Any, name: str = "", description: str = "") -> None:
        self.steps = list(steps)
        self.name = name
        self.description = description

    async def execute(self, context: WorkflowContext, engine: Any) -> Any:
        result = None
        for member in self.steps:
            result = await _run_member(member, context, engine, result)
        return result


class ParallelGroup(StepGroup):
    """Run the members concurrently; return their results in declaration order.

    With a ``callback`` (the "chord" pattern), the callback step runs with the
    list of results as its previous result, and its result is returned.
    """

    def __init__(
        self, *steps: Any, callback: Any = None, name: str = "", description: str = ""
    ) -> None:
        self.steps = list(steps)
        self.callback = callback
        self.name = name
        self.description = description

    async def execute(self, context: WorkflowContext, engine: Any) -> Any:
        results = list(
            await asyncio.gather(*(_run_member(m, context, engine, None) for m in self.steps))
        )
        if self.callback is None:
            return results
        return await engine.execute_step(self.callback, context, previous_result=results)


class ConditionalGroup(StepGroup):
    """Run the branch whose key ``condition`` returns; None when there is none."""

    def __init__(
        self,
        condition: Callable[[WorkflowContext], str],
        branches: dict[str, Any],
        name: str = "",
        description: str = "",
    ) -> None:
        self.condition = condition
        self.branches = dict(branches)
        self.name = name
        self.description = description

    async def execute(self, context: WorkflowContext, engine: Any) -> Any:
        branch = self.branches.get(self.condition(context))
        if branch is None:
            return None
        return await _run_member(branch, context, engine, None)
