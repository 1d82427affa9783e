"""Every shape of step code runs in every engine and mode: plain and async ``execute``,
decorated (an ordinary ``functools.wraps`` decorator), ``functools.partial``, callable
objects, async and decorated guards, hooks and assignment methods, and step groups used
as steps (scenario 22)."""

from __future__ import annotations

import asyncio
import functools
import itertools

import pytest

from tests.engine_contract.kit import Edge, Step, marker, workflow
from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    ParallelGroup,
    SequentialGroup,
    Workflow,
)


def logged(function):
    """An ordinary decorator: its wrapper is a plain ``def`` that returns whatever the
    wrapped function returns (for an ``async def``, a coroutine)."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        return function(*args, **kwargs)

    return wrapper


class Plain(BaseMachineStep):
    name = "plain"

    def execute(self, context):
        context.set("plain", True)
        return "p"


class Async(BaseMachineStep):
    name = "async"

    async def execute(self, context):
        await asyncio.sleep(0)  # really suspends
        context.set("async", True)
        return "a"


class DecoratedAsync(BaseMachineStep):
    name = "decorated"

    @logged
    async def execute(self, context):
        await asyncio.sleep(0.001)
        context.set("decorated", True)
        return "d"


async def _partial_body(key, context):
    await asyncio.sleep(0)
    context.set(key, True)
    return key


class PartialStep(BaseMachineStep):
    name = "partial"

    def __init__(self):
        super().__init__()
        self.execute = functools.partial(_partial_body, "partial")


class _AsyncCallable:
    async def __call__(self, context):
        await asyncio.sleep(0)
        context.set("callable", True)
        return "c"


class CallableObject(BaseMachineStep):
    name = "callable"
    execute = _AsyncCallable()


class _Later:
    """An awaitable that is not a coroutine."""

    def __await__(self):
        yield from asyncio.sleep(0).__await__()
        return "l"


class ReturnsAnAwaitable(BaseMachineStep):
    name = "awaitable"

    def execute(self, context):
        context.set("awaitable", True)
        return _Later()


SHAPES = [Plain, Async, DecoratedAsync, PartialStep, CallableObject, ReturnsAnAwaitable]
RESULTS = {
    "plain": "p",
    "async": "a",
    "decorated": "d",
    "partial": "partial",
    "callable": "c",
    "awaitable": "l",
}


@pytest.mark.parametrize("shape", SHAPES, ids=lambda shape: shape.name)
def test_every_shape_of_step_completes(harness, shape) -> None:
    wf = workflow([shape(), marker("next")], [Edge(shape.name, "next")])
    instance = harness.get(harness.start(wf))
    assert (instance.status, instance.error) == ("completed", None)
    assert instance.trail == [(shape.name, "succeeded"), ("next", "succeeded")]
    assert instance.history[0].output == {"result": RESULTS[shape.name]}
    assert instance.data == {shape.name: True, "next_done": True}


def test_all_shapes_in_one_declarative_workflow(harness) -> None:
    class Shapes(Workflow):
        name = "shapes"
        steps = [shape() for shape in SHAPES]
        edges = [(a.name, b.name) for a, b in itertools.pairwise(SHAPES)]

    instance = harness.get(harness.start(Shapes))
    assert instance.status == "completed"
    assert instance.names == [shape.name for shape in SHAPES]
    assert instance.data == {shape.name: True for shape in SHAPES}


def test_a_decorated_async_step_that_raises_fails_cleanly(harness) -> None:
    class Broken(BaseMachineStep):
        name = "broken"

        @logged
        async def execute(self, context):
            await asyncio.sleep(0)
            raise LookupError("not there")

    instance = harness.get(harness.start(workflow([Broken(), marker("B")], [Edge("broken", "B")])))
    assert (instance.status, instance.error, instance.current_step) == (
        "failed",
        "not there",
        "broken",
    )
    assert instance.trail == [("broken", "failed")]


def test_async_and_decorated_guards_and_hooks(harness) -> None:
    class Guarded(BaseMachineStep):
        def __init__(self, name):
            super().__init__(name=name)

        @logged
        async def can_execute(self, context):
            await asyncio.sleep(0)
            return context.get(f"go_{self.name}", False)

        async def execute(self, context):
            if context.get(f"fail_{self.name}"):
                raise ValueError(f"{self.name} refused")
            return self.name

        @logged
        async def on_success(self, context, result):
            await asyncio.sleep(0)
            context.set(f"{self.name}_ok", result)

        async def on_failure(self, context, error):
            await asyncio.sleep(0)
            context.set(f"{self.name}_error", str(error))

    wf = workflow(
        [Guarded("skip"), Guarded("run"), Guarded("fail")],
        [Edge("skip", "run"), Edge("run", "fail")],
    )
    instance = harness.get(harness.start(wf, {"go_run": True, "go_fail": True, "fail_fail": True}))
    assert instance.trail == [("skip", "skipped"), ("run", "succeeded"), ("fail", "failed")]
    assert (instance.status, instance.error) == ("failed", "fail refused")
    assert instance.data["run_ok"] == "run"
    assert instance.data["fail_error"] == "fail refused"
    assert "skip_ok" not in instance.data


def test_a_human_step_with_async_and_decorated_methods(harness) -> None:
    class Review(BaseHumanStep):
        name = "review"

        @logged
        async def get_assignee(self, context):
            await asyncio.sleep(0)
            return f"owner-of-{context.get('doc')}"

        async def get_assignee_group(self, context):
            return "editors"

        @logged
        async def get_title(self, context):
            return f"Review {context.get('doc')}"

    wf = workflow([marker("A"), Review(), marker("C")], [Edge("A", "review"), Edge("review", "C")])
    instance_id = harness.start(wf, {"doc": "d7"})
    waiting = harness.get(instance_id)
    assert (waiting.status, waiting.current_step) == ("waiting", "review")
    if harness.has_tasks:
        [task] = harness.tasks(instance_id)
        assert (task["assignee"], task["group"]) == ("owner-of-d7", "editors")
    harness.complete(instance_id, "review", "owner-of-d7", {"ok": True})
    assert harness.get(instance_id).status == "completed"


# -- step groups used as steps ------------------------------------------------------------------


def append(name):
    def body(ctx):
        ctx.set("order", [*ctx.get("order", []), name])
        return f"{name}:{ctx.get('_previous_result')}"

    return Step(name, body)


def test_a_sequential_group_as_a_step(harness) -> None:
    group = SequentialGroup(append("s1"), append("s2"), append("s3"), name="seq")
    wf = workflow([marker("A"), group, marker("B")], [Edge("A", "seq"), Edge("seq", "B")])
    instance = harness.get(harness.start(wf))
    assert (instance.status, instance.error) == ("completed", None)
    assert instance.data["order"] == ["s1", "s2", "s3"]
    assert instance.trail == [("A", "succeeded"), ("seq", "succeeded"), ("B", "succeeded")]
    assert instance.entries("seq")[0].output == {"result": "s3:s2:s1:None"}


def test_a_parallel_group_with_a_callback_as_a_step(harness) -> None:
    # The callback gets the members' results, in declaration order.
    total = Step("total", lambda ctx: "+".join(ctx.get("_previous_result")))
    group = ParallelGroup(
        Step("a", lambda ctx: "x"), DecoratedAsync(), callback=total, name="chord"
    )
    instance = harness.get(harness.start(workflow([group], [])))
    assert (instance.status, instance.error) == ("completed", None)
    assert instance.history[0].output == {"result": "x+d"}
    assert instance.data["decorated"] is True


def test_a_failing_member_fails_the_group_step(harness) -> None:
    def broken(ctx):
        raise LookupError("member broke")

    group = SequentialGroup(append("s1"), Step("bad", broken), append("never"), name="seq")
    instance = harness.get(harness.start(workflow([group], [])))
    assert (instance.status, instance.error) == ("failed", "member broke")
    assert instance.trail == [("seq", "failed")]
