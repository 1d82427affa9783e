"""LocalExecutionEngine: retry while a step is running.

Failure and retry semantics are in tests/engine_contract; this needs the in-memory engine's
event loop to look at an instance in the middle of a step.
"""

from __future__ import annotations

import asyncio

import pytest

from workflows_app.exceptions import WorkflowStateError


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
