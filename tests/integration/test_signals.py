"""Django signals: sent after commit, one per lifecycle event, with their arguments."""

from __future__ import annotations

import pytest
from django.db import transaction

from tests.integration.helpers import human, marker, workflow
from workflows_app import Edge, signals
from workflows_app.engine.persistent import PersistentExecutionEngine

pytestmark = pytest.mark.django_db


@pytest.fixture
def received():
    got = []

    def receiver(sender, **kwargs):
        got.append((kwargs.pop("event"), sender, kwargs))

    for signal in signals.BY_EVENT.values():
        signal.connect(receiver, dispatch_uid="test_signals")
    yield got
    for signal in signals.BY_EVENT.values():
        signal.disconnect(dispatch_uid="test_signals")


def test_signals__sent_after_commit_only(
    registry, received, django_capture_on_commit_callbacks
) -> None:
    engine = PersistentExecutionEngine(registry)
    wf = workflow([marker("A"), human("H", title="Check", assignee_group="g")], [Edge("A", "H")])
    with django_capture_on_commit_callbacks() as callbacks:
        instance = engine.start_workflow_sync(wf)
        assert received == []  # nothing before the commit
    for callback in callbacks:
        callback()
    names = [name for name, _, _ in received]
    assert names == [
        "workflow.started",
        "step.started",
        "step.completed",
        "workflow.waiting",
        "task.created",
    ]
    assert all(sender is PersistentExecutionEngine for _, sender, _ in received)
    task = received[-1][2]
    assert (task["instance_id"], task["step_name"], task["assignee_group"]) == (
        instance.id,
        "H",
        "g",
    )

    received.clear()
    with django_capture_on_commit_callbacks(execute=True):
        engine.complete_human_task_sync(instance.id, "H", "u1", {"ok": True})
    assert [name for name, _, _ in received] == [
        "task.completed",
        "step.completed",
        "workflow.completed",
    ]
    completed = received[0][2]
    assert (completed["task_id"], completed["completed_by"], completed["data"]) == (
        task["task_id"],
        "u1",
        {"ok": True},
    )


def test_signals__none_for_a_rolled_back_change(
    registry, received, django_capture_on_commit_callbacks
) -> None:
    engine = PersistentExecutionEngine(registry)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        with transaction.atomic():
            engine.start_workflow_sync(workflow([marker("A")], []))
            raise RuntimeError("the caller's transaction rolls back")
    assert received == []


def test_signals__a_failing_receiver_does_not_stop_the_others(registry, received, caplog) -> None:
    def broken(sender, **kwargs):
        raise ValueError("receiver bug")

    signals.workflow_started.connect(broken, dispatch_uid="broken")
    try:
        from django.test import TestCase

        engine = PersistentExecutionEngine(registry)
        with TestCase.captureOnCommitCallbacks(execute=True):
            engine.start_workflow_sync(workflow([marker("A")], []))
    finally:
        signals.workflow_started.disconnect(dispatch_uid="broken")
    assert "workflow.completed" in [name for name, _, _ in received]
    assert "receiver bug" in caplog.text
