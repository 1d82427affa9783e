"""Failures and retry (scenario 7, and the intended ``retry``)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from workflows_app import (
    BaseMachineStep,
    Edge,
    InvalidTransitionError,
    WorkflowAlreadyCompletedError,
    WorkflowInstanceNotFoundError,
)
from workflows_app.exceptions import WorkflowStateError


def boom(ctx):
    raise RuntimeError("boom")


def remember_failure(ctx, error):
    ctx.set("failed_hook", str(error))
    ctx.set("failed_type", type(error).__name__)


def failing_workflow(kit, body=boom):
    a, f, c = kit.marker("A"), kit.step("F", body, on_fail=remember_failure), kit.marker("C")
    wf = kit.workflow([a, f, c], [Edge("A", "F"), Edge("F", "C")], terminal={"C"})
    return wf, a, f, c


class FlakyOnce:
    """A body that fails on its first call and succeeds afterwards."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, ctx):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("first attempt fails")
        ctx.set("flaky_ok", True)
        return {"attempt": self.calls}


async def test_failure__step_raises__scenario_7(engine, bus, kit) -> None:
    wf, _, _, c = failing_workflow(kit)
    instance = await engine.start_workflow(wf, {"x": 1})
    assert instance.status == "failed"
    assert instance.error == "boom"
    assert instance.completed_at is not None
    assert kit.names(instance) == ["A", "F"]
    assert kit.statuses(instance) == ["succeeded", "failed"]
    assert instance.context.step_history[1].error == "boom"
    assert c.calls == 0
    assert instance.context.get("failed_hook") == "boom"
    assert instance.context.get("failed_type") == "RuntimeError"
    assert instance.current_step == "F"
    assert bus.of("workflow.failed") == [{"instance_id": instance.id, "status": "failed"}]
    assert bus.of("workflow.completed") == []


async def test_failure__get_instance_shows_failure(engine, kit) -> None:
    wf, *_ = failing_workflow(kit)
    instance = await engine.start_workflow(wf)
    fetched = await engine.get_instance(instance.id)
    assert (fetched.status, fetched.error, fetched.current_step) == ("failed", "boom", "F")


async def test_failure__on_success_raising_fails_the_step(engine, kit) -> None:
    class BadHook(BaseMachineStep):
        async def execute(self, context):
            return "value"

        async def on_success(self, context, result):
            raise ValueError(f"hook rejected {result}")

    wf = kit.workflow([BadHook(name="hooked"), kit.marker("next")], [Edge("hooked", "next")])
    instance = await engine.start_workflow(wf)
    assert instance.status == "failed"
    assert instance.error == "hook rejected value"
    assert kit.statuses(instance) == ["failed"]


async def test_failure__on_failure_cannot_rescue_the_step(engine, kit) -> None:
    def swallow(ctx, error):
        ctx.set("swallowed", True)

    wf = kit.workflow([kit.step("F", boom, on_fail=swallow), kit.marker("C")], [Edge("F", "C")])
    instance = await engine.start_workflow(wf)
    assert instance.status == "failed"
    assert instance.context.get("swallowed") is True
    assert "c_done" not in instance.context.data


async def test_failure__sync_execute_raising(engine, kit) -> None:
    class SyncBoom(BaseMachineStep):
        name = "sync_boom"

        def execute(self, context):
            raise KeyError("missing-thing")

    instance = await engine.start_workflow(kit.workflow([SyncBoom()], []))
    assert instance.status == "failed"
    assert instance.error == str(KeyError("missing-thing"))


async def test_retry__reruns_failed_step_and_continues(engine, kit) -> None:
    flaky = FlakyOnce()
    wf, _, _, c = failing_workflow(kit, flaky)
    failed = await engine.start_workflow(wf)
    assert failed.status == "failed"

    await engine.retry(failed.id)
    instance = await engine.get_instance(failed.id)
    assert instance.status == "completed"
    assert instance.error is None
    assert instance.completed_at is not None
    assert instance.current_step is None
    assert kit.names(instance) == ["A", "F", "F", "C"]
    assert kit.statuses(instance) == ["succeeded", "failed", "succeeded", "succeeded"]
    assert instance.context.step_history[1].error == "first attempt fails"
    assert instance.context.step_history[2].result == {"attempt": 2}
    assert instance.context.get("flaky_ok") is True
    assert c.calls == 1


async def test_retry__from_step_reruns_earlier_steps(engine, kit) -> None:
    flaky = FlakyOnce()
    wf, a, _, _ = failing_workflow(kit, flaky)
    failed = await engine.start_workflow(wf)
    await engine.retry(failed.id, from_step="A")
    instance = await engine.get_instance(failed.id)
    assert instance.status == "completed"
    assert kit.names(instance) == ["A", "F", "A", "F", "C"]
    assert a.calls == 2


async def test_retry__still_failing_step_fails_again(engine, bus, kit) -> None:
    wf, _, f, _ = failing_workflow(kit)
    failed = await engine.start_workflow(wf)
    await engine.retry(failed.id)
    instance = await engine.get_instance(failed.id)
    assert instance.status == "failed"
    assert instance.error == "boom"
    assert kit.statuses(instance) == ["succeeded", "failed", "failed"]
    assert f.calls == 2
    assert len(bus.of("workflow.failed")) == 2


async def test_retry__unknown_from_step_raises_invalid_transition(engine, kit) -> None:
    wf, *_ = failing_workflow(kit)
    failed = await engine.start_workflow(wf)
    with pytest.raises(InvalidTransitionError):
        await engine.retry(failed.id, from_step="no_such_step")
    unchanged = await engine.get_instance(failed.id)
    assert unchanged.status == "failed"
    assert kit.names(unchanged) == ["A", "F"]


async def test_retry__waiting_instance_raises_state_error(engine, kit) -> None:
    wf = kit.workflow([kit.marker("A"), kit.human("H")], [Edge("A", "H")])
    waiting = await engine.start_workflow(wf)
    with pytest.raises(WorkflowStateError) as excinfo:
        await engine.retry(waiting.id)
    assert isinstance(excinfo.value, ValueError)
    assert (await engine.get_instance(waiting.id)).status == "waiting"


async def test_retry__running_instance_raises_state_error(engine, kit) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(ctx):
        entered.set()
        await release.wait()

    wf = kit.workflow([kit.step("slow", slow)], [])
    task = asyncio.create_task(engine.start_workflow(wf))
    try:
        await asyncio.wait_for(entered.wait(), 2)
        (running,) = engine.get_running_instances()
        assert running.status == "running"
        with pytest.raises(WorkflowStateError):
            await engine.retry(running.id)
    finally:
        release.set()
        finished = await asyncio.wait_for(task, 2)
    assert finished.status == "completed"


async def test_retry__completed_instance_raises_already_completed(engine, kit) -> None:
    done = await engine.start_workflow(kit.workflow([kit.marker("A")], []))
    with pytest.raises(WorkflowAlreadyCompletedError) as excinfo:
        await engine.retry(done.id)
    assert isinstance(excinfo.value, ValueError)


async def test_retry__canceled_instance_raises_already_completed(engine, kit) -> None:
    wf = kit.workflow([kit.marker("A"), kit.human("H")], [Edge("A", "H")])
    waiting = await engine.start_workflow(wf)
    await engine.cancel_workflow(waiting.id, "stop")
    with pytest.raises(WorkflowAlreadyCompletedError):
        await engine.retry(waiting.id)


async def test_retry__unknown_instance(engine) -> None:
    with pytest.raises(WorkflowInstanceNotFoundError):
        await engine.retry(uuid.uuid4())


async def test_retry__emits_completed_and_saves(engine, bus, persistence, kit) -> None:
    wf, *_ = failing_workflow(kit, FlakyOnce())
    failed = await engine.start_workflow(wf)
    saves_before = persistence.save_count
    await engine.retry(failed.id)
    assert bus.names("workflow.")[-1] == "workflow.completed"
    assert persistence.save_count > saves_before
    assert persistence.snapshots[-1]["status"] == "completed"
