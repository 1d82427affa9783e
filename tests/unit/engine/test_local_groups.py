"""``engine.execute_step`` and the step groups (scenario 22)."""

from __future__ import annotations

import asyncio

import pytest

from workflows_app import BaseMachineStep, ConditionalGroup, ParallelGroup, SequentialGroup
from workflows_app.core import StepGroup


class Append(BaseMachineStep):
    """Appends its name to ``order`` and returns ``<name>:<previous result>``."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name)

    async def execute(self, context):
        context.set("order", [*context.get("order", []), self.name])
        return f"{self.name}:{context.get('_previous_result')}"


class Rendezvous(BaseMachineStep):
    """Sets its own event and waits for the partner's; deadlocks unless run concurrently."""

    def __init__(self, name: str, mine: asyncio.Event, partner: asyncio.Event) -> None:
        super().__init__(name=name)
        self.mine, self.partner = mine, partner

    async def execute(self, context):
        self.mine.set()
        await asyncio.wait_for(self.partner.wait(), 1)
        return self.name


class Value(BaseMachineStep):
    def __init__(self, name: str, value) -> None:
        super().__init__(name=name)
        self.value = value

    def execute(self, context):
        return self.value


class Boom(BaseMachineStep):
    async def execute(self, context):
        raise LookupError(f"{self.name} exploded")


# ---------------------------------------------------------------- execute_step


async def test_execute_step__returns_result_and_records_no_history(engine, kit) -> None:
    ctx = kit.context({"a": 1})
    assert await engine.execute_step(Value("v", 7), ctx) == 7
    assert ctx.step_history == []


async def test_execute_step__previous_result_goes_to_data(engine, kit) -> None:
    ctx = kit.context()
    assert await engine.execute_step(Append("s"), ctx, previous_result="prev") == "s:prev"
    assert ctx.get("_previous_result") == "prev"


async def test_execute_step__none_previous_result_is_not_written(engine, kit) -> None:
    ctx = kit.context()
    await engine.execute_step(Value("v", 1), ctx)
    assert "_previous_result" not in ctx.data


async def test_execute_step__guard_false_returns_none_without_running(engine, kit) -> None:
    step = kit.step("g", lambda ctx: "ran", guard=lambda ctx: False)
    assert await engine.execute_step(step, kit.context()) is None
    assert step.calls == 0


async def test_execute_step__reraises_original_exception(engine, kit) -> None:
    ctx = kit.context()
    hooked = []

    def fail(c):
        raise OSError("disk on fire")

    step = kit.step("bad", fail, on_fail=lambda c, e: hooked.append(e))
    with pytest.raises(OSError) as excinfo:
        await engine.execute_step(step, ctx)
    assert str(excinfo.value) == "disk on fire"
    assert len(hooked) == 1 and isinstance(hooked[0], OSError)
    with pytest.raises(LookupError, match=r"^b exploded$"):
        await engine.execute_step(Boom(name="b"), ctx)


async def test_execute_step__calls_on_success(engine, kit) -> None:
    class Hooked(BaseMachineStep):
        async def execute(self, context):
            return 3

        async def on_success(self, context, result):
            context.set("hook_saw", result)

    ctx = kit.context()
    assert await engine.execute_step(Hooked(name="h"), ctx) == 3
    assert ctx.get("hook_saw") == 3


# ---------------------------------------------------------------- SequentialGroup


async def test_sequential_group__runs_in_order_and_returns_last(engine, kit) -> None:
    ctx = kit.context()
    group = SequentialGroup(Append("s1"), Append("s2"), Append("s3"))
    assert isinstance(group, StepGroup)
    result = await group.execute(ctx, engine)
    assert ctx.get("order") == ["s1", "s2", "s3"]
    assert result == "s3:s2:s1:None"


async def test_sequential_group__nested_group(engine, kit) -> None:
    ctx = kit.context()
    group = SequentialGroup(Append("a"), SequentialGroup(Append("b"), Append("c")), Append("d"))
    result = await group.execute(ctx, engine)
    assert ctx.get("order") == ["a", "b", "c", "d"]
    assert result.startswith("d:")


async def test_sequential_group__stops_at_first_failure(engine, kit) -> None:
    ctx = kit.context()
    with pytest.raises(LookupError):
        await SequentialGroup(Append("a"), Boom(name="x"), Append("never")).execute(ctx, engine)
    assert ctx.get("order") == ["a"]


# ---------------------------------------------------------------- ParallelGroup


async def test_parallel_group__results_in_declaration_order(engine, kit) -> None:
    result = await ParallelGroup(Value("a", "ra"), Value("b", "rb"), Value("c", "rc")).execute(
        kit.context(), engine
    )
    assert result == ["ra", "rb", "rc"]


async def test_parallel_group__members_run_concurrently(engine, kit) -> None:
    first, second = asyncio.Event(), asyncio.Event()
    group = ParallelGroup(Rendezvous("a", first, second), Rendezvous("b", second, first))
    assert await group.execute(kit.context(), engine) == ["a", "b"]


async def test_parallel_group__chord_callback(engine, kit) -> None:
    seen = {}

    def aggregate(ctx):
        seen["prev"] = ctx.get("_previous_result")
        return "+".join(ctx.get("_previous_result"))

    group = ParallelGroup(Value("a", "ra"), Value("b", "rb"), callback=kit.step("agg", aggregate))
    assert await group.execute(kit.context(), engine) == "ra+rb"
    assert seen["prev"] == ["ra", "rb"]


async def test_parallel_group__first_exception_propagates(engine, kit) -> None:
    with pytest.raises(LookupError, match="bad exploded"):
        await ParallelGroup(Value("a", 1), Boom(name="bad")).execute(kit.context(), engine)


# ---------------------------------------------------------------- ConditionalGroup


async def test_conditional_group__runs_matching_branch(engine, kit) -> None:
    ctx = kit.context({"tier": "gold"})
    group = ConditionalGroup(
        condition=lambda c: c.get("tier"),
        branches={"gold": Value("g", "gold-path"), "silver": Value("s", "silver-path")},
    )
    assert await group.execute(ctx, engine) == "gold-path"


async def test_conditional_group__branch_may_be_a_group(engine, kit) -> None:
    ctx = kit.context({"tier": "multi"})
    group = ConditionalGroup(
        condition=lambda c: c.get("tier"),
        branches={"multi": SequentialGroup(Append("x"), Append("y"))},
    )
    result = await group.execute(ctx, engine)
    assert ctx.get("order") == ["x", "y"]
    assert result == "y:x:None"


async def test_conditional_group__no_match_returns_none(engine, kit) -> None:
    ctx = kit.context({"tier": "bronze"})
    step = Append("never")
    group = ConditionalGroup(condition=lambda c: c.get("tier"), branches={"gold": step})
    assert await group.execute(ctx, engine) is None
    assert "order" not in ctx.data
