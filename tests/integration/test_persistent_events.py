"""Events reach the event bus only after the transaction that caused them commits (scenario 21).

Which events a run sends, with what, is in tests/engine_contract (where the persistent engine
runs without a test transaction, so each event follows its commit).
"""

from __future__ import annotations

import pytest
from django.db import transaction

from tests.integration.helpers import RecordingBus, marker, workflow
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
def test_events__none_without_a_bus(registry, django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        PersistentExecutionEngine(registry).start_workflow_sync(workflow([marker("A")], []))
    assert callbacks == []


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
