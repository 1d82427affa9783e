"""LocalExecutionEngine: a parent canceled while a step of its child is running.

The parent-close policies of waiting children are in tests/engine_contract; this needs the
in-memory engine's event loop to cancel the parent while a child's step awaits.
"""

from __future__ import annotations

import asyncio

import pytest

from workflows_app import Edge, SubworkflowStep


@pytest.mark.parametrize(
    ("policy", "at_cancel", "after"),
    [("terminate", "canceled", "canceled"), ("request_cancel", "running", "canceled")],
)
async def test_parent_canceled_while_a_childs_step_runs(
    engine, registry, kit, policy, at_cancel, after
) -> None:
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(ctx):
        entered.set()
        await release.wait()

    registry.register(
        kit.workflow(
            [kit.step("slow", slow), kit.human("approve")],
            [Edge("slow", "approve")],
            name="child",
        )
    )
    call = SubworkflowStep(name="call", workflow="child", on_parent_close=policy)
    task = asyncio.create_task(engine.start_workflow(kit.workflow([call], [], name="parent")))
    await asyncio.wait_for(entered.wait(), 2)
    parent = next(i for i in engine.get_all_instances() if i.workflow_name == "parent")
    child = next(i for i in engine.get_all_instances() if i.workflow_name == "child")

    await engine.cancel_workflow(parent.id, "withdrawn")
    assert (parent.status, child.status) == ("canceled", at_cancel)
    release.set()
    await asyncio.wait_for(task, 2)
    assert child.status == after  # request_cancel: canceled once its step ended
    assert parent.status == "canceled"


async def test_compensating_a_subworkflow_step_fails_clearly_in_memory(
    engine, registry, kit
) -> None:
    """Undoing a subworkflow step's children is the persistent engine's: in memory the
    compensation fails with a message saying so (it used to start the child again, for
    ever)."""
    from workflows_app import BaseMachineStep

    class Book(BaseMachineStep):
        def execute(self, context):
            context.set("booked", True)

        def compensate(self, context):
            context.set("booked", False)

    def fail(ctx):
        raise RuntimeError("boom")

    registry.register(kit.workflow([Book(name="book")], [], name="child"))
    call = SubworkflowStep(name="call", workflow="child", compensate=True)
    parent = kit.workflow([call, kit.step("fail", fail)], [Edge("call", "fail")], name="parent")

    instance = await asyncio.wait_for(engine.start_workflow(parent), 10)

    record = instance.context.metadata["compensation"]
    assert (instance.status, str(record["status"])) == ("failed", "failed")
    assert "needs the persistent engine" in record["errors"][0]["error"]
