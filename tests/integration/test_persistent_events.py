"""Events reach the event bus only after the transaction that caused them commits (scenario 21)."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from tests.integration.helpers import Edge, RecordingBus, Step, human, marker, workflow
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import StepExecutionModel, WorkflowInstanceModel


def workflow_events(bus):
    return [(name, kwargs) for name, kwargs in bus.events if name.startswith("workflow.")]


@pytest.mark.django_db
def test_events__one_step_workflow_after_commit__scenario_21(
    engine, bus, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        instance = engine.start_workflow_sync(workflow([marker("only")], []))
        assert bus.events == []  # nothing is sent before the commit
    assert callbacks
    assert workflow_events(bus) == [
        ("workflow.started", {"instance_id": instance.id}),
        ("workflow.completed", {"instance_id": instance.id, "status": "completed"}),
    ]


@pytest.mark.django_db
def test_events__step_events_in_order(engine, bus, committed) -> None:
    # The same step events as LocalExecutionEngine (docs/concepts/execution.rst, "Events").
    with committed():
        instance = engine.start_workflow_sync(
            workflow([marker("A"), marker("B")], [Edge("A", "B")])
        )
    assert [(name, kw["step_name"]) for name, kw in bus.events if name.startswith("step.")] == [
        ("step.started", "A"),
        ("step.completed", "A"),
        ("step.started", "B"),
        ("step.completed", "B"),
    ]
    assert bus.of("step.started")[0] == {
        "instance_id": instance.id,
        "step_name": "A",
        "step_type": "machine",
    }
    assert bus.of("step.completed")[0] == {
        "instance_id": instance.id,
        "step_name": "A",
        "result": {"s": "A"},
    }
    names = [name for name, _ in bus.events]
    assert names[0] == "workflow.started"
    assert names[-1] == "workflow.completed"


@pytest.mark.django_db
def test_events__failing_step(engine, bus, committed) -> None:
    def explode(ctx):
        raise RuntimeError("bad")

    with committed():
        instance = engine.start_workflow_sync(
            workflow([marker("A"), Step("F", explode)], [Edge("A", "F")])
        )
    assert workflow_events(bus) == [
        ("workflow.started", {"instance_id": instance.id}),
        ("workflow.failed", {"instance_id": instance.id, "status": "failed"}),
    ]
    assert [(kw["step_name"], kw["error"]) for kw in bus.of("step.failed")] == [("F", "bad")]


@pytest.mark.django_db
def test_events__waiting_then_completed(engine, bus, committed) -> None:
    wf = workflow([marker("A"), human("H"), marker("C")], [Edge("A", "H"), Edge("H", "C")])
    with committed():
        instance = engine.start_workflow_sync(wf)
    assert workflow_events(bus) == [
        ("workflow.started", {"instance_id": instance.id}),
        ("workflow.waiting", {"instance_id": instance.id, "step_name": "H"}),
    ]
    with committed():
        engine.complete_human_task_sync(instance.id, "H", "u1", {"ok": 1})
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting", "workflow.completed"]
    assert (
        "step.completed",
        {"instance_id": instance.id, "step_name": "H", "result": {"ok": 1}},
    ) in bus.events


@pytest.mark.django_db
def test_events__canceled_with_reason(engine, bus, committed) -> None:
    with committed():
        instance = engine.start_workflow_sync(workflow([human("H")], []))
        engine.cancel_workflow_sync(instance.id, "no longer needed")
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting", "workflow.canceled"]
    assert bus.of("workflow.canceled") == [
        {"instance_id": instance.id, "reason": "no longer needed"}
    ]


@pytest.mark.django_db
def test_events__none_without_a_bus(registry, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        PersistentExecutionEngine(registry).start_workflow_sync(workflow([marker("A")], []))
    assert callbacks == []


@pytest.mark.django_db
def test_events__a_failing_bus_is_logged_and_ignored(registry, committed, caplog) -> None:
    class BrokenBus:
        async def emit(self, event_type, **kwargs):
            raise ConnectionError("broker down")

    engine = PersistentExecutionEngine(registry, event_bus=BrokenBus())
    with caplog.at_level(logging.ERROR), committed():
        instance = engine.start_workflow_sync(
            workflow([marker("A"), marker("B")], [Edge("A", "B")])
        )
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "completed"
    assert StepExecutionModel.objects.filter(instance_id=instance.id).count() == 2
    assert "broker down" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_events__sent_right_after_each_commit_in_autocommit(registry) -> None:
    bus = RecordingBus()
    engine = PersistentExecutionEngine(registry, event_bus=bus)
    instance = engine.start_workflow_sync(workflow([human("H"), marker("C")], [Edge("H", "C")]))
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting"]
    engine.complete_human_task_sync(instance.id, "H", "u1", {})
    assert bus.names("workflow.") == ["workflow.started", "workflow.waiting", "workflow.completed"]


@pytest.mark.django_db(transaction=True)
def test_events__none_when_the_callers_transaction_rolls_back(registry) -> None:
    bus = RecordingBus()
    engine = PersistentExecutionEngine(registry, event_bus=bus)

    class Abort(Exception):
        pass

    with pytest.raises(Abort), transaction.atomic():
        engine.start_workflow_sync(workflow([marker("A")], []))
        raise Abort
    assert bus.events == []
    assert WorkflowInstanceModel.objects.count() == 0
    assert StepExecutionModel.objects.count() == 0
