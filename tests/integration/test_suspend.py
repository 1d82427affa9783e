"""Suspending and resuming an instance (the engine): nothing of a suspended instance runs,
its tasks are on hold and refused with a message that says why, what falls due waits for
the resume; cancel works at once; each suspension and resumption is recorded and sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from tests.integration.helpers import Edge, human, marker, names, tasks, workflow
from workflows_app import TimerStep, WorkflowStateError, WorkflowValidationError
from workflows_app.core import clock
from workflows_app.core.steps import WebhookStep
from workflows_app.core.types import TaskStatus, WorkflowStatus
from workflows_app.engine.worker import Worker
from workflows_app.models import WorkflowInstanceModel
from workflows_app.signals import workflow_resumed, workflow_suspended

pytestmark = pytest.mark.django_db


def row(instance_id: Any) -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.get(pk=instance_id)


def review() -> type:
    return workflow([marker("A"), human("H"), marker("B")], [Edge("A", "H"), Edge("H", "B")])


def test_suspend__holds_the_tasks_and_refuses_them_until_resumed(engine, committed) -> None:
    started = engine.start_workflow_sync(review())
    [task] = tasks(started.id, "H")
    heard: list[str] = []

    def receiver(sender: Any, event: str, **kwargs: Any) -> None:
        heard.append(event)

    workflow_suspended.connect(receiver)
    workflow_resumed.connect(receiver)
    try:
        with committed():
            suspended = engine.suspend_sync(started.id, "incident 42", by="ops")
        assert suspended.status == WorkflowStatus.SUSPENDED
        held = row(started.id)
        assert (held.status, held.wake_at) == ("suspended", None)
        assert tasks(started.id, "H")[0].status == TaskStatus.ON_HOLD
        for act in (
            lambda: engine.complete_human_task_sync(started.id, "H", "ann", {}),
            lambda: engine.complete_task_sync(task.pk, "ann", {}),
            lambda: engine.claim_task_sync(task.pk, "ann"),
        ):
            with pytest.raises(WorkflowStateError, match="suspended"):
                act()

        with committed():
            resumed = engine.resume_sync(started.id, by="ops")
    finally:
        workflow_suspended.disconnect(receiver)
        workflow_resumed.disconnect(receiver)

    assert resumed.status == WorkflowStatus.WAITING
    assert tasks(started.id, "H")[0].status == TaskStatus.PENDING
    assert heard == ["workflow.suspended", "workflow.resumed"]
    audit = row(started.id).metadata["suspensions"]
    assert [(entry["action"], entry["by"]) for entry in audit] == [
        ("suspended", "ops"),
        ("resumed", "ops"),
    ]
    assert audit[0]["reason"] == "incident 42"
    done = engine.complete_human_task_sync(started.id, "H", "ann", {})
    assert done.status == WorkflowStatus.COMPLETED
    assert names(done) == ["A", "H", "B"]


def test_suspend__a_timer_that_falls_due_waits_for_the_resume(engine, monkeypatch) -> None:
    now = {"at": datetime(2030, 1, 1, 9, 0, tzinfo=UTC)}
    monkeypatch.setattr(clock, "utcnow", lambda: now["at"])
    wf = workflow([TimerStep("T", duration=timedelta(hours=1)), marker("B")], [Edge("T", "B")])
    started = engine.start_workflow_sync(wf)
    engine.suspend_sync(started.id, "hold on")
    now["at"] += timedelta(hours=2)

    assert Worker(engine, burst=True, listen=False).run() == 0
    assert row(started.id).status == "suspended"

    engine.resume_sync(started.id)

    # Due again: the next worker pass fires the timer (timers are a worker's to fire).
    assert row(started.id).wake_at == datetime(2030, 1, 1, 10, 0, tzinfo=UTC)
    Worker(engine, burst=True, listen=False).run()
    done = engine.get_instance_sync(started.id)
    assert done.status == WorkflowStatus.COMPLETED
    assert names(done)[-1] == "B"


def hooked(*hooks: str) -> type:
    """Webhook steps ``hooks`` in parallel branches after A, joined at B."""
    steps = [marker("A"), *(WebhookStep(hook) for hook in hooks), marker("B")]
    edges = [Edge("A", hook) for hook in hooks] + [Edge(hook, "B") for hook in hooks]
    return workflow(steps, edges, terminal={"B"})


def test_suspend__a_webhook_callback_is_kept_and_applied_on_resume(engine) -> None:
    started = engine.start_workflow_sync(hooked("hook"))
    token = started.context.get("hook_callback_token")
    engine.suspend_sync(started.id, "hold on")

    held = engine.complete_webhook_sync(token, {"paid": 1})

    assert held.status == WorkflowStatus.SUSPENDED
    stored = row(started.id)
    assert stored.status == "suspended" and "webhook_data" not in stored.context_data
    assert [e["payload"] for e in stored.metadata["buffered_callbacks"]] == [{"paid": 1}]
    assert names(engine.get_instance_sync(started.id)) == ["A"]
    # The token is used: a repeat is refused, as for a step that no longer waits.
    with pytest.raises(WorkflowStateError, match="no longer waiting"):
        engine.complete_webhook_sync(token, {"paid": 2})
    with pytest.raises(WorkflowValidationError):
        engine.complete_webhook_sync(token, {"bad": float("nan")})

    resumed = engine.resume_sync(started.id, by="ops")

    assert resumed.status == WorkflowStatus.COMPLETED
    assert names(resumed) == ["A", "hook", "B"]
    assert resumed.context.get("webhook_data") == {"paid": 1}
    done = row(started.id)
    assert "buffered_callbacks" not in done.metadata
    assert done.metadata["suspensions"][-1]["callbacks"] == 1
    with pytest.raises(WorkflowStateError, match="no longer waiting"):
        engine.complete_webhook_sync(token, {"paid": 3})


def test_suspend__a_webhook_after_the_resume_completes_as_usual(engine) -> None:
    started = engine.start_workflow_sync(hooked("hook"))
    engine.suspend_sync(started.id, "hold on")
    engine.resume_sync(started.id)

    done = engine.complete_webhook_sync(started.context.get("hook_callback_token"), {"paid": 1})

    assert done.status == WorkflowStatus.COMPLETED


def test_suspend__a_drive_running_it_is_not_interrupted(engine) -> None:
    started = engine.start_workflow_sync(review())
    WorkflowInstanceModel.objects.filter(pk=started.id).update(
        lease_owner="another-drive", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )

    with pytest.raises(WorkflowStateError, match="running a step"):
        engine.suspend_sync(started.id, "now")

    assert row(started.id).status == "waiting"


def test_suspend__cancel_works_at_once_and_cancels_the_held_tasks(engine) -> None:
    started = engine.start_workflow_sync(review())
    engine.suspend_sync(started.id, "hold on")

    canceled = engine.cancel_workflow_sync(started.id, "no longer needed")

    assert canceled.status == WorkflowStatus.CANCELED
    assert [task.status for task in tasks(started.id)] == [TaskStatus.CANCELED]


def test_suspend__between_a_callbacks_read_and_its_save_the_callback_is_kept(
    engine, registry, monkeypatch
) -> None:
    """A suspension that commits after a webhook callback read the instance (as waiting)
    and before the callback saved: the callback is kept for the resume, not refused."""
    from workflows_app.engine.persistent import PersistentExecutionEngine

    wf = hooked("hook")
    started = engine.start_workflow_sync(wf)
    token = started.context.get("hook_callback_token")
    read = engine.store.read
    suspended: list[Any] = []

    def read_then_suspend(*args: Any, **kwargs: Any) -> Any:
        found = read(*args, **kwargs)
        if not suspended:  # another request suspends it now
            suspended.append(PersistentExecutionEngine(registry).suspend_sync(started.id, "now"))
        return found

    monkeypatch.setattr(engine.store, "read", read_then_suspend)

    held = engine.complete_webhook_sync(token, {"paid": 1})

    assert suspended and held.status == WorkflowStatus.SUSPENDED
    stored = row(started.id)
    assert stored.status == "suspended" and "webhook_data" not in stored.context_data
    assert [e["payload"] for e in stored.metadata["buffered_callbacks"]] == [{"paid": 1}]
    monkeypatch.undo()
    resumed = engine.resume_sync(started.id, by="ops")
    assert resumed.status == WorkflowStatus.COMPLETED
    assert resumed.context.get("webhook_data") == {"paid": 1}


def test_suspend__reminders_and_escalations_wait_for_the_resume(
    engine, monkeypatch, committed
) -> None:
    """A reminder and an escalation that fall due while the instance is suspended are not
    run then (its task is on hold); the first worker pass after the resume runs each once."""
    from workflows_app import signals
    from workflows_app.core.steps import Escalation

    now = {"at": datetime(2030, 1, 1, 9, 0, tzinfo=UTC)}
    monkeypatch.setattr(clock, "utcnow", lambda: now["at"])
    step = human(
        "H",
        assignee_group="finance",
        reminder_in=timedelta(hours=1),
        due_in=timedelta(hours=2),
        escalation=Escalation(assignee_id="cfo"),
    )
    started = engine.start_workflow_sync(
        workflow([marker("A"), step, marker("B")], [Edge("A", "H"), Edge("H", "B")])
    )
    seen: list[str] = []

    def receiver(sender: Any, event: str, **kwargs: Any) -> None:
        if kwargs.get("instance_id") == started.id:
            seen.append(event)

    for signal in signals.BY_EVENT.values():
        signal.connect(receiver, dispatch_uid="suspend-deadlines")
    try:
        engine.suspend_sync(started.id, "hold on")
        now["at"] += timedelta(hours=3)  # both the reminder and the due date have come
        with committed():
            Worker(engine, burst=True, listen=False).run()
        [held] = tasks(started.id, "H")
        assert (held.status, held.reminded_at, held.overdue_at) == (TaskStatus.ON_HOLD, None, None)
        assert held.assignee_id is None
        assert not {"task.reminder", "task.overdue", "task.reassigned"} & set(seen)

        engine.resume_sync(started.id)
        with committed():
            Worker(engine, burst=True, listen=False).run()
        with committed():
            Worker(engine, burst=True, listen=False).run()  # a second pass: nothing more
    finally:
        for signal in signals.BY_EVENT.values():
            signal.disconnect(dispatch_uid="suspend-deadlines")

    [task] = tasks(started.id, "H")
    assert (task.status, task.assignee_id) == (TaskStatus.PENDING, "cfo")
    assert (task.reminded_at, task.overdue_at) == (now["at"], now["at"])
    assert [e for e in seen if e in ("task.reminder", "task.overdue", "task.reassigned")] == [
        "task.reminder",
        "task.overdue",
        "task.reassigned",
    ]
