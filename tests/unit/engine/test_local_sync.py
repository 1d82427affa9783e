"""The ``*_sync`` twins, called from plain synchronous code (no running event loop)."""

from __future__ import annotations

import uuid

import pytest

from workflows_app import (
    Edge,
    InvalidTransitionError,
    WorkflowAlreadyCompletedError,
    WorkflowInstanceNotFoundError,
    WorkflowNotFoundError,
)
from workflows_app.exceptions import TaskValidationError, WorkflowStateError


def approval(kit):
    schema = {
        "type": "object",
        "required": ["approved"],
        "properties": {"approved": {"type": "boolean"}},
    }
    return kit.workflow(
        [kit.marker("A"), kit.human("H", form_schema=schema), kit.marker("C")],
        [Edge("A", "H"), Edge("H", "C")],
        name="sync_approval",
    )


def test_sync__start_runs_to_completion(engine, kit) -> None:
    wf = kit.workflow([kit.marker("A"), kit.marker("B")], [Edge("A", "B")])
    instance = engine.start_workflow_sync(wf, {"x": 1}, tenant_id="t1", created_by="u1")
    assert instance.status == "completed"
    assert kit.names(instance) == ["A", "B"]
    assert instance.context.data == {"x": 1, "a_done": True, "b_done": True}
    assert (instance.context.tenant_id, instance.context.user_id) == ("t1", "u1")
    assert engine.get_instance_sync(instance.id).status == "completed"


def test_sync__start_by_name(engine, registry, kit) -> None:
    registry.register(kit.workflow([kit.marker("A")], [], name="by_name", version="1.0.0"))
    instance = engine.start_workflow_sync("by_name")
    assert instance.workflow_name == "by_name"
    assert instance.status == "completed"
    with pytest.raises(WorkflowNotFoundError):
        engine.start_workflow_sync("nope")


def test_sync__sync_steps_run_under_sync_twin(engine, kit) -> None:
    wf = kit.workflow([kit.step("plain", lambda ctx: ctx.set("ran", True) or "ok")], [])
    instance = engine.start_workflow_sync(wf)
    assert instance.context.get("ran") is True
    assert instance.context.step_history[0].result == "ok"


def test_sync__human_task_round_trip(engine, bus, kit) -> None:
    instance = engine.start_workflow_sync(approval(kit))
    assert (instance.status, instance.current_step) == ("waiting", "H")
    with pytest.raises(TaskValidationError):
        engine.complete_human_task_sync(instance.id, "H", "u1", {"approved": "maybe"})
    with pytest.raises(WorkflowStateError):
        engine.complete_human_task_sync(instance.id, "X", "u1", {"approved": True})
    engine.complete_human_task_sync(instance.id, "H", "u1", {"approved": True})
    done = engine.get_instance_sync(instance.id)
    assert done.status == "completed"
    assert kit.names(done) == ["A", "H", "C"]
    assert done.context.user_id == "u1"
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting", "workflow.completed"]


def test_sync__cancel(engine, bus, kit) -> None:
    instance = engine.start_workflow_sync(approval(kit))
    engine.cancel_workflow_sync(instance.id, "changed my mind")
    canceled = engine.get_instance_sync(instance.id)
    assert canceled.status == "canceled"
    assert canceled.error == "Canceled: changed my mind"
    assert bus.of("workflow.canceled") == [
        {"instance_id": instance.id, "reason": "changed my mind"}
    ]
    with pytest.raises(WorkflowAlreadyCompletedError):
        engine.cancel_workflow_sync(instance.id, "again")


def test_sync__retry(engine, kit) -> None:
    attempts = []

    def flaky(ctx):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("once")

    wf = kit.workflow([kit.step("F", flaky), kit.marker("C")], [Edge("F", "C")])
    failed = engine.start_workflow_sync(wf)
    assert (failed.status, failed.error) == ("failed", "once")
    with pytest.raises(InvalidTransitionError):
        engine.retry_sync(failed.id, from_step="ghost")
    engine.retry_sync(failed.id)
    instance = engine.get_instance_sync(failed.id)
    assert instance.status == "completed"
    assert kit.statuses(instance) == ["failed", "succeeded", "succeeded"]


def test_sync__get_instance_unknown(engine) -> None:
    with pytest.raises(WorkflowInstanceNotFoundError):
        engine.get_instance_sync(uuid.uuid4())
