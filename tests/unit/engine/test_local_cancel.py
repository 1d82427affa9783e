"""LocalExecutionEngine: cancelling an instance in the middle of a step (scenario 12).

Cancelling a waiting or finished instance is in tests/engine_contract; this needs the
in-memory engine's event loop to cancel while a step awaits.
"""

from __future__ import annotations

import asyncio

from workflows_app import Edge


async def test_cancel__waiting_instance_leaves_the_running_instances(engine, kit) -> None:
    wf = kit.workflow([kit.marker("A"), kit.human("H")], [Edge("A", "H")])
    started = await engine.start_workflow(wf)
    assert [i.id for i in engine.get_running_instances()] == [started.id]
    await engine.cancel_workflow(started.id, "nope")
    assert engine.get_running_instances() == []


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
