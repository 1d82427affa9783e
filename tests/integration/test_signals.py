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


def test_events__the_new_dataclasses_take_what_the_engine_sends(engine, bus, committed) -> None:
    """Suspend, resume, claim, release, send back, withdraw, wait for a webhook and a
    message, deliver and buffer messages: each event's keyword arguments build its
    dataclass (the dataclasses kept from litestar-workflows have fields of their own)."""
    from datetime import UTC, datetime

    from workflows_app import MessageStep
    from workflows_app.core import events
    from workflows_app.core.steps import WebhookStep
    from workflows_app.models import HumanTaskModel

    draft = human("Draft", assignee_group="g")
    review = human("Review", assignee_group="g")
    review.send_back_to = ["Draft"]
    hook = WebhookStep("hook")
    paid = MessageStep(name="paid", message="payment_received", correlation_key="order_id")
    wf = workflow(
        [draft, review, hook, paid, marker("B")],
        [Edge("Draft", "Review"), Edge("Review", "hook"), Edge("hook", "paid"), Edge("paid", "B")],
    )
    with committed():
        started = engine.start_workflow_sync(wf, {"order_id": "1042"}, created_by="ann")
        engine.suspend_sync(started.id, "incident", "ops")
        engine.resume_sync(started.id, "ops")
        task = HumanTaskModel.objects.get(instance_id=started.id, status="pending")
        engine.claim_task_sync(task.pk, "bob")
        engine.release_task_sync(task.pk, "bob")
        engine.complete_task_sync(task.pk, "bob", {})
        task = HumanTaskModel.objects.get(instance_id=started.id, status="pending")
        engine.send_back_sync(task.pk, "Draft", "redo", "cat")
        for _step in ("Draft", "Review"):
            task = HumanTaskModel.objects.get(instance_id=started.id, status="pending")
            engine.complete_task_sync(task.pk, "bob", {})
        token = engine.get_instance_sync(started.id).context.get("hook_callback_token")
        engine.complete_webhook_sync(token, {"ok": True})
        engine.publish_message_sync("payment_received", "1042", {"amount": 1})
        engine.publish_message_sync("payment_received", "9", None, ttl=60)
        other = engine.start_workflow_sync(wf, {"order_id": "7"}, created_by="ann")
        engine.withdraw_sync(other.id, "ann")

    kept = {name for name, cls in events.BY_EVENT.items() if cls.__name__ in OLD_DATACLASSES}
    now = datetime(2030, 1, 1, tzinfo=UTC)
    checked = set()
    for name, kwargs in bus.events:
        if name in kept:
            continue
        cls = events.BY_EVENT[name]
        given = {"instance_id": None, **kwargs}
        event = cls(timestamp=now, **given)
        assert {k: getattr(event, k) for k in given} == given, name
        checked.add(name)
    assert {
        "workflow.suspended",
        "workflow.resumed",
        "workflow.sent_back",
        "workflow.withdrawn",
        "workflow.waiting",
        "webhook.waiting",
        "message.waiting",
        "message.delivered",
        "message.buffered",
        "task.claimed",
        "task.released",
    } <= checked, checked


OLD_DATACLASSES = {
    "WorkflowStarted",
    "WorkflowCompleted",
    "WorkflowFailed",
    "WorkflowCanceled",
    "StepStarted",
    "StepCompleted",
    "StepFailed",
    "StepSkipped",
    "HumanTaskCreated",
    "HumanTaskCompleted",
    "HumanTaskReassigned",
}
"""The dataclasses kept from litestar-workflows, whose fields are not the engine's keyword
arguments (``workflow.resumed``'s WorkflowResumed takes them)."""
