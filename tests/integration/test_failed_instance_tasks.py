"""When an instance fails, its pending tasks go on hold: nobody can complete them until the
instance is retried, so they leave inboxes; a retry makes them pending again."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps
from django.db import connection
from django.utils import timezone

from tests.integration.helpers import FlakyOnce, Step, human, marker, tasks, workflow
from workflows_app import Edge, TaskAlreadyCompletedError
from workflows_app.engine import deadlines
from workflows_app.exceptions import WorkflowStateError
from workflows_app.models import HumanTaskModel, WorkflowInstanceModel
from workflows_app.services import Actor, TaskFilter, get_service

pytestmark = pytest.mark.django_db


def parallel(body) -> type:
    """A, then in parallel a person's review (H) and a machine step (B), then J."""
    return workflow(
        [marker("A"), human("H", assignee_group="team"), Step("B", body), marker("J")],
        [Edge("A", "H"), Edge("A", "B"), Edge("H", "J"), Edge("B", "J")],
        name="parallel_review",
    )


def _inbox(instance_id) -> list[HumanTaskModel]:
    actor = Actor(user_id="ann", groups=frozenset({"team"}))
    rows = get_service().inbox_rows(actor, TaskFilter(instance_id=instance_id))
    return list(rows)


def test_instance_fails__its_pending_task_goes_on_hold(engine) -> None:
    failed = engine.start_workflow_sync(parallel(FlakyOnce("the ledger is down")), {})

    assert failed.status == "failed"
    [task] = tasks(failed.id, "H")
    assert task.status == "on_hold"
    assert _inbox(failed.id) == []


def test_task_on_hold__cannot_be_completed_claimed_or_released(engine) -> None:
    failed = engine.start_workflow_sync(parallel(FlakyOnce()), {})
    [task] = tasks(failed.id, "H")

    for attempt in (
        lambda: engine.complete_task_sync(task.pk, "ann", {}),
        lambda: engine.claim_task_sync(task.pk, "ann"),
        lambda: engine.release_task_sync(task.pk, "ann"),
    ):
        with pytest.raises(WorkflowStateError, match="on hold: its workflow failed"):
            attempt()

    task.refresh_from_db()
    assert (task.status, task.assignee_id, task.activity) == ("on_hold", None, [])


def test_retry__the_task_is_pending_again_and_the_instance_completes(engine, bus, committed):
    failed = engine.start_workflow_sync(parallel(FlakyOnce()), {})

    with committed():
        retried = engine.retry_sync(failed.id)

    assert retried.status == "waiting"  # B ran again and succeeded; J waits for H
    [task] = tasks(failed.id, "H")
    assert task.status == "pending"
    assert [row.pk for row in _inbox(failed.id)] == [task.pk]
    done = engine.complete_task_sync(task.pk, "ann", {})
    assert done.status == "completed"
    assert bus.of("workflow.retried")


def test_retry_from_a_step__tasks_still_waiting_come_back(engine) -> None:
    failed = engine.start_workflow_sync(parallel(FlakyOnce()), {})

    engine.retry_sync(failed.id, from_step="B")

    [task] = tasks(failed.id, "H")
    assert task.status == "pending"


def test_only_pending_tasks_go_on_hold(engine) -> None:
    """A task completed before the instance failed stays completed."""

    def fail(ctx):
        raise RuntimeError("after the review")

    wf = workflow(
        [marker("A"), human("H"), Step("B", fail)],
        [Edge("A", "H"), Edge("H", "B")],
        name="review_then_fail",
    )
    instance = engine.start_workflow_sync(wf, {})
    [task] = tasks(instance.id, "H")
    assert engine.complete_task_sync(task.pk, "ann", {}).status == "failed"

    task.refresh_from_db()
    assert task.status == "completed"
    with pytest.raises(TaskAlreadyCompletedError):
        engine.complete_task_sync(task.pk, "bob", {})


def test_migration__holds_the_tasks_of_instances_failed_before(engine) -> None:
    """Instances that failed before the engine held tasks: the migration holds theirs."""
    failed = engine.start_workflow_sync(parallel(FlakyOnce()), {})
    waiting = engine.start_workflow_sync(parallel(lambda ctx: None), {})
    HumanTaskModel.objects.filter(instance_id=failed.id).update(status="pending")
    migration = importlib.import_module(
        "workflows_app.migrations.0003_tasks_of_failed_instances_on_hold"
    )

    class Editor:
        pass

    editor = Editor()
    editor.connection = connection
    migration.hold(apps, editor)

    assert [task.status for task in tasks(failed.id)] == ["on_hold"]
    assert [task.status for task in tasks(waiting.id)] == ["pending"]
    assert WorkflowInstanceModel.objects.get(pk=waiting.id).status == "waiting"

    migration.release(apps, editor)
    assert [task.status for task in tasks(failed.id)] == ["pending"]


def test_tasks_on_hold__no_reminders_no_escalations(engine) -> None:
    failed = engine.start_workflow_sync(parallel(FlakyOnce()), {})
    past = timezone.now() - timedelta(hours=1)
    HumanTaskModel.objects.filter(instance_id=failed.id).update(due_at=past, reminder_at=past)

    now = timezone.now()
    assert deadlines.send_reminders(engine, now) == 0
    assert deadlines.mark_overdue(engine, now) == 0
    [task] = tasks(failed.id, "H")
    assert (task.status, task.reminded_at, task.overdue_at) == ("on_hold", None, None)


def test_a_failure_committed_while_a_drive_runs__is_not_overwritten_by_that_drive(engine) -> None:
    """H1's completion runs B under its drive; while B runs, H2 is completed by another call
    whose routing fails the instance. The drive then commits B onto the failed instance: B's
    execution is kept and its branch moves on, but the instance stays failed (its status is
    not derived again from the branches) and H2's sibling task stays on hold."""
    other = {}

    def broken(ctx):
        raise LookupError("no such rate")

    def complete_h2(ctx):
        other["answer"] = engine.complete_human_task_sync(ctx.get("me"), "H2", "bob", {})

    wf = workflow(
        [
            marker("A"),
            human("H1"),
            human("H2"),
            human("H3", assignee_group="team"),
            Step("B", complete_h2),
            marker("C"),
            marker("J"),
        ],
        [
            Edge("A", "H1"),
            Edge("A", "H2"),
            Edge("A", "H3"),
            Edge("H1", "B"),
            Edge("H2", "C", broken),
            Edge("B", "J"),
            Edge("C", "J"),
            Edge("H3", "J"),
        ],
        name="failed_under_a_drive",
    )
    started = engine.start_workflow_sync(wf, {})
    WorkflowInstanceModel.objects.filter(pk=started.id).update(
        context_data={**started.context.data, "me": str(started.id)}
    )
    after = engine.complete_human_task_sync(started.id, "H1", "ann", {})

    assert other["answer"].status == "failed"
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, after.status) == ("failed", "failed")
    assert "Routing after step 'H2' failed" in row.error
    assert row.lease_owner is None
    assert [t.status for t in tasks(started.id) if t.step_name == "H3"] == ["on_hold"]
    assert "B" in [e.step_name for e in row.step_executions.all()]
