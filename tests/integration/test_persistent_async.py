"""The documented async API of PersistentExecutionEngine (the ORM runs in sync_to_async threads,
so these tests use real transactions)."""

from __future__ import annotations

import uuid

import pytest
from asgiref.sync import sync_to_async

from tests.integration.helpers import Edge, FlakyOnce, RecordingBus, Step, human, marker, workflow
from workflows_app import WorkflowInstanceNotFoundError
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_async_connections"),
]


@sync_to_async
def rows(instance_id):
    return (
        WorkflowInstanceModel.objects.get(pk=instance_id),
        [
            (r.step_name, r.status)
            for r in StepExecutionModel.objects.filter(instance_id=instance_id).order_by(
                "started_at"
            )
        ],
        list(
            HumanTaskModel.objects.filter(instance_id=instance_id).values_list("status", flat=True)
        ),
    )


async def test_async__start_pause_complete(registry) -> None:
    bus = RecordingBus()
    engine = PersistentExecutionEngine(registry, event_bus=bus)

    async def async_step(ctx):
        ctx.set("async_done", True)
        return "ok"

    wf = workflow(
        [Step("A", async_step), human("H", assignee_key="who"), marker("C")],
        [Edge("A", "H"), Edge("H", "C")],
    )
    started = await engine.start_workflow(wf, {"who": "u1"}, tenant_id="t1", created_by="u0")
    assert (started.status, started.current_step) == ("waiting", "H")
    row, executions, task_statuses = await rows(started.id)
    assert row.status == "waiting"
    assert row.context_data == {"who": "u1", "async_done": True}
    assert executions == [("A", "succeeded"), ("H", "waiting")]
    assert task_statuses == ["pending"]

    await engine.complete_human_task(started.id, "H", "u1", {"approved": True})
    fetched = await engine.get_instance(started.id)
    assert fetched.status == "completed"
    assert fetched.context.data == {
        "who": "u1",
        "async_done": True,
        "approved": True,
        "c_done": True,
    }
    assert fetched.context.user_id == "u1"
    row, executions, task_statuses = await rows(started.id)
    assert executions == [("A", "succeeded"), ("H", "succeeded"), ("C", "succeeded")]
    assert task_statuses == ["completed"]
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting", "workflow.completed"]


async def test_async__cancel_and_retry(registry) -> None:
    bus = RecordingBus()
    engine = PersistentExecutionEngine(registry, event_bus=bus)
    waiting = await engine.start_workflow(workflow([human("H")], [], name="to_cancel"))
    await engine.cancel_workflow(waiting.id, "stop")
    row, _, task_statuses = await rows(waiting.id)
    assert (row.status, row.error, task_statuses) == ("canceled", "Canceled: stop", ["canceled"])
    assert bus.of("workflow.canceled") == [{"instance_id": waiting.id, "reason": "stop"}]

    failed = await engine.start_workflow(workflow([Step("F", FlakyOnce())], [], name="to_retry"))
    assert failed.status == "failed"
    retried = await engine.retry(failed.id)
    assert retried.status == "completed"
    _, executions, _ = await rows(failed.id)
    assert executions == [("F", "failed"), ("F", "succeeded")]


async def test_async__unknown_instance(registry) -> None:
    engine = PersistentExecutionEngine(registry)
    with pytest.raises(WorkflowInstanceNotFoundError):
        await engine.get_instance(uuid.uuid4())
    with pytest.raises(WorkflowInstanceNotFoundError):
        await engine.complete_human_task("nope", "H", "u1", {})
