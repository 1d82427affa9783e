"""Step classes: both construction styles, defaults, hooks, gateways, timers and webhooks."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from workflows_app import (
    BaseHumanStep,
    BaseMachineStep,
    ExclusiveGateway,
    ParallelGateway,
    StepType,
    TimerStep,
)
from workflows_app.core import BaseStep, WebhookStep
from workflows_app.core.protocols import Step


class Submit(BaseMachineStep):
    name = "submit"
    description = "Submit a request"

    async def execute(self, context):
        context.set("submitted", True)
        return "ok"


class SyncStep(BaseMachineStep):
    name = "sync_step"

    def execute(self, context):
        context.set("sync_ran", True)
        return {"sync": True}


class Approve(BaseHumanStep):
    name = "approve"
    title = "Approve the request"
    description = "Manager approval"
    form_schema = {"type": "object", "properties": {"approved": {"type": "boolean"}}}
    assignee_key = "manager"


# ---------------------------------------------------------------- BaseStep / BaseMachineStep


def test_base_step__constructor_keywords_and_defaults() -> None:
    step = BaseStep(name="x", description="does x")
    assert step.name == "x"
    assert step.description == "does x"
    assert step.step_type == StepType.MACHINE
    assert BaseStep(name="y").description == ""


def test_base_step__positional_constructor() -> None:
    step = BaseMachineStep("x", "does x")
    assert (step.name, step.description) == ("x", "does x")


async def test_base_step__execute_not_implemented(kit) -> None:
    with pytest.raises(NotImplementedError) as excinfo:
        await kit.resolve(BaseStep(name="lazy").execute(kit.context()))
    assert str(excinfo.value) == "Step lazy must implement execute()"


async def test_base_step__default_guard_and_hooks(kit) -> None:
    step = BaseMachineStep(name="x")
    ctx = kit.context({"a": 1})
    assert await kit.resolve(step.can_execute(ctx)) is True
    assert await kit.resolve(step.on_success(ctx, 1)) is None
    assert await kit.resolve(step.on_failure(ctx, RuntimeError("e"))) is None
    assert ctx.data == {"a": 1}


def test_machine_step__type() -> None:
    assert BaseMachineStep(name="m").step_type == StepType.MACHINE
    assert BaseMachineStep.step_type == "machine"


def test_machine_step__class_attribute_style_needs_no_arguments() -> None:
    step = Submit()
    assert step.name == "submit"
    assert step.description == "Submit a request"
    assert step.step_type == StepType.MACHINE


def test_machine_step__constructor_overrides_class_attributes() -> None:
    step = Submit(name="submit_again", description="second")
    assert (step.name, step.description) == ("submit_again", "second")
    assert Submit().name == "submit"


async def test_machine_step__class_attribute_step_executes(kit) -> None:
    ctx = kit.context()
    assert await Submit().execute(ctx) == "ok"
    assert ctx.get("submitted") is True


def test_machine_step__sync_execute_returns_value(kit) -> None:
    ctx = kit.context()
    assert SyncStep().execute(ctx) == {"sync": True}
    assert ctx.get("sync_ran") is True


def test_step__satisfies_step_protocol() -> None:
    for step in (Submit(), SyncStep(), Approve(), BaseHumanStep(name="h", title="t")):
        assert isinstance(step, Step)


# ---------------------------------------------------------------- BaseHumanStep


def test_human_step__constructor_arguments() -> None:
    schema = {"type": "object"}
    step = BaseHumanStep(
        name="h", title="Do it", description="desc", form_schema=schema, assignee_key="who"
    )
    assert step.name == "h"
    assert step.title == "Do it"
    assert step.description == "desc"
    assert step.form_schema == schema
    assert step.assignee_key == "who"
    assert step.step_type == StepType.HUMAN


def test_human_step__positional_name_and_title_with_defaults() -> None:
    step = BaseHumanStep("h", "Title")
    assert (step.name, step.title, step.description, step.form_schema, step.assignee_key) == (
        "h",
        "Title",
        "",
        None,
        None,
    )


def test_human_step__class_attribute_style() -> None:
    step = Approve()
    assert step.name == "approve"
    assert step.title == "Approve the request"
    assert step.description == "Manager approval"
    assert step.form_schema == {"type": "object", "properties": {"approved": {"type": "boolean"}}}
    assert step.assignee_key == "manager"
    assert step.step_type == StepType.HUMAN


def test_human_step__constructor_overrides_class_attributes() -> None:
    step = Approve(title="Other title", assignee_key="boss")
    assert step.name == "approve"
    assert step.title == "Other title"
    assert step.assignee_key == "boss"


async def test_human_step__get_assignee_reads_assignee_key(kit) -> None:
    ctx = kit.context({"manager": "alice", "boss": "bob"})
    assert await kit.resolve(Approve().get_assignee(ctx)) == "alice"
    assert await kit.resolve(Approve(assignee_key="boss").get_assignee(ctx)) == "bob"
    assert await kit.resolve(BaseHumanStep(name="h", title="t").get_assignee(ctx)) is None
    assert await kit.resolve(Approve().get_assignee(kit.context({}))) is None


async def test_human_step__execute_returns_name_result(kit) -> None:
    ctx = kit.context({"approve_result": {"approved": True}})
    assert await kit.resolve(Approve().execute(ctx)) == {"approved": True}
    assert await kit.resolve(Approve().execute(kit.context())) is None


# ---------------------------------------------------------------- gateways


async def test_exclusive_gateway__returns_condition_result(kit) -> None:
    gateway = ExclusiveGateway(
        name="route", condition=lambda ctx: "high" if ctx.get("amount") > 10 else "low"
    )
    assert gateway.step_type == StepType.GATEWAY
    assert gateway.name == "route"
    assert gateway.description == ""
    assert await kit.resolve(gateway.execute(kit.context({"amount": 11}))) == "high"
    assert await kit.resolve(gateway.execute(kit.context({"amount": 1}))) == "low"


async def test_exclusive_gateway__positional_and_description(kit) -> None:
    gateway = ExclusiveGateway("route", lambda ctx: ["a", "b"], "fan")
    assert gateway.description == "fan"
    assert await kit.resolve(gateway.execute(kit.context())) == ["a", "b"]


async def test_parallel_gateway__returns_branches(kit) -> None:
    gateway = ParallelGateway(name="fork", branches=["x", "y"])
    assert gateway.step_type == StepType.GATEWAY
    assert gateway.branches == ["x", "y"]
    assert await kit.resolve(gateway.execute(kit.context())) == ["x", "y"]


# ---------------------------------------------------------------- timer and webhook


def test_timer_step__fixed_and_callable_duration(kit) -> None:
    fixed = TimerStep(name="wait", duration=timedelta(seconds=5))
    assert fixed.step_type == StepType.TIMER
    assert fixed.get_duration(kit.context()) == timedelta(seconds=5)
    dynamic = TimerStep(name="wait", duration=lambda ctx: timedelta(seconds=ctx.get("secs")))
    assert dynamic.get_duration(kit.context({"secs": 3})) == timedelta(seconds=3)


async def test_timer_step__execute_sleeps_for_the_duration(kit) -> None:
    step = TimerStep(name="wait", duration=timedelta(milliseconds=20))
    started = time.perf_counter()
    result = await kit.resolve(step.execute(kit.context()))
    assert time.perf_counter() - started >= 0.018
    assert result is None


async def test_timer_step__zero_duration(kit) -> None:
    step = TimerStep(name="now", duration=timedelta(0))
    assert await kit.resolve(step.execute(kit.context())) is None


async def test_webhook_step__returns_callback_data(kit) -> None:
    default = WebhookStep(name="hook")
    assert default.step_type == StepType.WEBHOOK
    assert default.callback_key == "webhook_data"
    assert await kit.resolve(default.execute(kit.context({"webhook_data": {"paid": True}}))) == {
        "paid": True
    }
    custom = WebhookStep(name="hook", callback_key="payment")
    assert await kit.resolve(custom.execute(kit.context({"payment": 5}))) == 5
    assert await kit.resolve(custom.execute(kit.context())) is None
