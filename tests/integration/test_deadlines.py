"""Human task deadlines: a reminder once, overdue once, and the step's escalation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User

from tests.integration.helpers import executions, human, marker, workflow
from workflows_app import (
    Edge,
    TaskAlreadyCompletedError,
    TaskNotFoundError,
    WorkflowValidationError,
)
from workflows_app.core import clock as clock_module
from workflows_app.core.steps import Escalation
from workflows_app.engine.worker import Worker
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db

T0 = datetime(2030, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def clock(monkeypatch):
    now = {"t": T0}
    monkeypatch.setattr(clock_module, "utcnow", lambda: now["t"])
    return now


@pytest.fixture
def signals_seen():
    from workflows_app import signals

    seen = []

    def receiver(sender, event, **kwargs):
        seen.append((event, kwargs))

    for signal in signals.BY_EVENT.values():
        signal.connect(receiver, dispatch_uid="deadlines")
    yield seen
    for signal in signals.BY_EVENT.values():
        signal.disconnect(dispatch_uid="deadlines")


def approval(**options):
    step = human(
        "approve",
        title="Approve the budget",
        assignee_group="finance",
        due_in=timedelta(days=2),
        reminder_in=timedelta(days=1),
        **options,
    )
    return workflow([marker("A"), step, marker("B")], [Edge("A", "approve"), Edge("approve", "B")])


def run_worker(engine, clock, **delta) -> None:
    clock["t"] += timedelta(**delta)
    Worker(engine, burst=True).run()


def test_reminder__sent_once_by_mail_to_the_group(
    engine, clock, mailoutbox, signals_seen, django_capture_on_commit_callbacks
) -> None:
    finance = Group.objects.create(name="finance")
    for name, email in (("ann", "ann@example.com"), ("bob", "bob@example.com"), ("cy", "")):
        User.objects.create(username=name, email=email).groups.add(finance)
    instance = engine.start_workflow_sync(approval())
    task = HumanTaskModel.objects.get()
    assert (task.reminder_at, task.due_at) == (T0 + timedelta(days=1), T0 + timedelta(days=2))

    with django_capture_on_commit_callbacks(execute=True):
        run_worker(engine, clock, hours=23)
    assert mailoutbox == []

    with django_capture_on_commit_callbacks(execute=True):
        run_worker(engine, clock, hours=1)
        run_worker(engine, clock, hours=1)  # a second pass: nothing more
    [mail] = mailoutbox
    assert mail.to == ["ann@example.com", "bob@example.com"]
    assert "Approve the budget" in mail.subject
    reminders = [kw for name, kw in signals_seen if name == "task.reminder"]
    assert len(reminders) == 1 and reminders[0]["task_id"] == task.pk
    assert HumanTaskModel.objects.get().reminded_at == T0 + timedelta(days=1)
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "waiting"


def test_overdue__marked_once_and_reassigned(
    engine, clock, signals_seen, django_capture_on_commit_callbacks
) -> None:
    engine.start_workflow_sync(
        approval(escalation=Escalation(assignee_id="cfo", assignee_group="board"))
    )
    with django_capture_on_commit_callbacks(execute=True):
        run_worker(engine, clock, days=2)
        run_worker(engine, clock, days=1)
    task = HumanTaskModel.objects.get()
    assert (task.status, task.overdue_at) == ("pending", T0 + timedelta(days=2))
    assert (task.assignee_id, task.assignee_group) == ("cfo", "board")
    overdue = [kw for name, kw in signals_seen if name == "task.overdue"]
    reassigned = [kw for name, kw in signals_seen if name == "task.reassigned"]
    assert len(overdue) == 1 and len(reassigned) == 1
    assert (reassigned[0]["from_group"], reassigned[0]["to_group"], reassigned[0]["reason"]) == (
        "finance",
        "board",
        "overdue",
    )
    [waiting] = executions(task.instance_id, "approve")
    assert waiting.assigned_to == "cfo"


def test_overdue__follows_the_escalation_edge(engine, clock) -> None:
    wf = workflow(
        [
            marker("A"),
            human(
                "approve",
                title="Approve",
                due_in=timedelta(hours=4),
                escalation=Escalation(goto="escalate"),
            ),
            marker("B"),
            marker("escalate"),
        ],
        [Edge("A", "approve"), Edge("approve", "B")],
        terminal={"B", "escalate"},
    )
    instance = engine.start_workflow_sync(wf)
    run_worker(engine, clock, hours=4)
    row = WorkflowInstanceModel.objects.get(pk=instance.id)
    assert row.status == "completed"
    assert [(r.step_name, r.status) for r in executions(instance.id)] == [
        ("A", "succeeded"),
        ("approve", "canceled"),
        ("escalate", "succeeded"),
    ]
    assert HumanTaskModel.objects.get().status == "canceled"


def test_overdue__a_task_completed_in_time_is_left_alone(engine, clock) -> None:
    instance = engine.start_workflow_sync(approval(escalation=Escalation(goto="B")))
    engine.complete_human_task_sync(instance.id, "approve", "ann", {})
    run_worker(engine, clock, days=3)
    assert HumanTaskModel.objects.get().overdue_at is None
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "completed"


def test_reassign_task__by_a_person(
    engine, signals_seen, django_capture_on_commit_callbacks
) -> None:
    engine.start_workflow_sync(approval())
    task = HumanTaskModel.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        engine.reassign_task_sync(task.pk, assignee_id="dan", reason="holiday", reassigned_by="ann")
    task.refresh_from_db()
    assert (task.assignee_id, task.assignee_group) == ("dan", "finance")
    [event] = [kw for name, kw in signals_seen if name == "task.reassigned"]
    assert (event["reassigned_by"], event["reason"], event["to_assignee"]) == (
        "ann",
        "holiday",
        "dan",
    )


def test_reassign_task__bad_input(engine) -> None:
    instance = engine.start_workflow_sync(approval())
    task = HumanTaskModel.objects.get()
    with pytest.raises(WorkflowValidationError):
        engine.reassign_task_sync(task.pk)
    with pytest.raises(TaskNotFoundError):
        engine.reassign_task_sync("not-a-uuid", assignee_id="x")
    engine.complete_human_task_sync(instance.id, "approve", "ann", {})
    with pytest.raises(TaskAlreadyCompletedError):
        engine.reassign_task_sync(task.pk, assignee_id="x")


def test_escalation__must_do_one_thing() -> None:
    with pytest.raises(ValueError):
        Escalation()
    with pytest.raises(ValueError):
        Escalation(assignee_id="x", goto="y")


def test_escalation_goto__of_a_multi_instance_step_cancels_every_task(engine, clock) -> None:
    wf = approval(escalation=Escalation(goto="B"), for_each="approvers")
    instance = engine.start_workflow_sync(wf, {"approvers": ["ann", "bob", "cid"]})
    assert HumanTaskModel.objects.filter(status="pending").count() == 3
    run_worker(engine, clock, days=3)
    assert WorkflowInstanceModel.objects.get(pk=instance.id).status == "completed"
    assert sorted(HumanTaskModel.objects.values_list("status", flat=True)) == ["canceled"] * 3
