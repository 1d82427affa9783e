"""Cancelling instances (scenario 12)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from workflows_app import Edge, WorkflowAlreadyCompletedError, WorkflowInstanceNotFoundError


def waiting_workflow(kit):
    c = kit.marker("C")
    return kit.workflow([kit.marker("A"), kit.human("H"), c], [Edge("A", "H"), Edge("H", "C")]), c


async def test_cancel__waiting_instance__scenario_12(engine, bus, persistence, kit) -> None:
    wf, c = waiting_workflow(kit)
    started = await engine.start_workflow(wf)
    await engine.cancel_workflow(started.id, "nope")

    instance = await engine.get_instance(started.id)
    assert instance.status == "canceled"
    assert instance.error == "Canceled: nope"
    assert instance.completed_at is not None
    assert bus.of("workflow.canceled") == [{"instance_id": started.id, "reason": "nope"}]
    assert persistence.snapshots[-1]["status"] == "canceled"
    assert engine.get_running_instances() == []

    with pytest.raises(ValueError) as excinfo:
        await engine.complete_human_task(started.id, "H", "u1", {"ok": True})
    assert "is not waiting" in str(excinfo.value)
    assert c.calls == 0
    assert (await engine.get_instance(started.id)).status == "canceled"


async def test_cancel__does_not_emit_completed_or_failed(engine, bus, kit) -> None:
    wf, _ = waiting_workflow(kit)
    started = await engine.start_workflow(wf)
    await engine.cancel_workflow(started.id, "bye")
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting", "workflow.canceled"]


async def cancel_during_slow_step(engine, kit):
    """Start A -> slow -> after, cancel while ``slow`` is awaiting, then let ``slow`` go on."""
    entered, release = asyncio.Event(), asyncio.Event()
    progress: list[str] = []

    async def slow(ctx):
        entered.set()
        await release.wait()
        progress.append("slow finished")
        ctx.set("slow_done", True)

    after = kit.marker("after")
    wf = kit.workflow(
        [kit.marker("A"), kit.step("slow", slow), after], [Edge("A", "slow"), Edge("slow", "after")]
    )
    task = asyncio.create_task(engine.start_workflow(wf))
    await asyncio.wait_for(entered.wait(), 2)
    (running,) = engine.get_running_instances()

    await engine.cancel_workflow(running.id, "too slow")
    for _ in range(5):
        await asyncio.sleep(0)
    release.set()
    try:
        await asyncio.wait_for(task, 2)
    except asyncio.CancelledError:
        pass
    return await engine.get_instance(running.id), progress, after


async def test_cancel__running_instance_records_no_history_for_the_step(engine, bus, kit) -> None:
    instance, _, after = await cancel_during_slow_step(engine, kit)
    assert instance.status == "canceled"
    assert instance.error == "Canceled: too slow"
    assert instance.completed_at is not None
    assert kit.names(instance) == ["A"]
    assert after.calls == 0
    assert bus.names("workflow.") == ["workflow.started", "workflow.canceled"]


async def test_cancel__running_step_is_interrupted(engine, kit) -> None:
    # Scenario 12 [U]: cancelling stops the step that is in the middle of an await, so code
    # after the await never runs and cannot write into the canceled instance's data.
    instance, progress, _ = await cancel_during_slow_step(engine, kit)
    assert progress == []
    assert "slow_done" not in instance.context.data


@pytest.mark.parametrize("final_status", ["completed", "failed", "canceled"])
async def test_cancel__finished_instance_raises_already_completed(
    engine, kit, final_status
) -> None:
    if final_status == "completed":
        instance = await engine.start_workflow(kit.workflow([kit.marker("A")], []))
    elif final_status == "failed":
        instance = await engine.start_workflow(kit.workflow([kit.step("F", lambda ctx: 1 / 0)], []))
    else:
        wf, _ = waiting_workflow(kit)
        instance = await engine.start_workflow(wf)
        await engine.cancel_workflow(instance.id, "first")
    before = await engine.get_instance(instance.id)
    error_before = before.error
    assert before.status == final_status

    with pytest.raises(WorkflowAlreadyCompletedError) as excinfo:
        await engine.cancel_workflow(instance.id, "again")
    assert isinstance(excinfo.value, ValueError)
    assert final_status in str(excinfo.value)

    after = await engine.get_instance(instance.id)
    assert after.status == final_status
    assert after.error == error_before


async def test_cancel__unknown_instance(engine) -> None:
    with pytest.raises(WorkflowInstanceNotFoundError):
        await engine.cancel_workflow(uuid.uuid4(), "x")
