"""Withdrawing an instance (the engine): its starter cancels it while nobody has worked on
it; otherwise it is refused with the reason, and nothing changes."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest
from asgiref.sync import sync_to_async

from tests.integration.helpers import Edge, human, marker, snapshot, tasks, workflow
from tests.integration.test_concurrency import race
from workflows_app import TaskAlreadyCompletedError, WorkflowRegistry, WorkflowStateError
from workflows_app.core.types import TaskStatus, WorkflowStatus
from workflows_app.engine.persistent import PersistentExecutionEngine
from workflows_app.models import WorkflowInstanceModel
from workflows_app.signals import workflow_withdrawn

pytestmark = pytest.mark.django_db


def two_tasks() -> type:
    steps = [marker("A"), human("H1"), human("H2"), marker("B")]
    return workflow(steps, [Edge("A", "H1"), Edge("H1", "H2"), Edge("H2", "B")])


def test_withdraw__cancels_the_instance_and_its_tasks(engine, committed) -> None:
    started = engine.start_workflow_sync(two_tasks(), created_by="ann")
    heard: list[dict[str, Any]] = []

    def receiver(sender: Any, **kwargs: Any) -> None:
        heard.append(kwargs)

    workflow_withdrawn.connect(receiver)
    try:
        with committed():
            withdrawn = engine.withdraw_sync(started.id, "ann")
    finally:
        workflow_withdrawn.disconnect(receiver)

    assert withdrawn.status == WorkflowStatus.CANCELED
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert (row.status, row.error) == ("canceled", "Canceled: withdrawn by ann")
    assert [t.status for t in tasks(started.id)] == [TaskStatus.CANCELED]
    [audit] = row.metadata["withdrawn"]
    assert (audit["by"], audit["reason"]) == ("ann", "withdrawn by ann")
    assert [(h["event"], h["withdrawn_by"]) for h in heard] == [("workflow.withdrawn", "ann")]


@pytest.mark.parametrize(
    ("prepare", "by", "message"),
    [
        (lambda engine, i: None, "bob", r"only the user who started it \(ann\)"),
        (lambda engine, i: None, "", "only the user who started it"),
        (
            lambda engine, i: engine.complete_task_sync(tasks(i, "H1")[0].pk, "ann", {}),
            "ann",
            "a task of it has been completed",
        ),
        (
            lambda engine, i: engine.claim_task_sync(tasks(i, "H1")[0].pk, "cat"),
            "ann",
            "a task of it is claimed",
        ),
        (lambda engine, i: engine.suspend_sync(i, "hold", "ops"), "ann", "it is suspended"),
        (lambda engine, i: engine.cancel_workflow_sync(i, "stop"), "ann", "it is canceled"),
    ],
)
def test_withdraw__refused_with_the_reason_changes_nothing(engine, prepare, by, message) -> None:
    started = engine.start_workflow_sync(two_tasks(), created_by="ann")
    prepare(engine, started.id)
    before = snapshot()
    with pytest.raises(WorkflowStateError, match=message):
        engine.withdraw_sync(started.id, by)
    assert snapshot() == before


def test_withdraw__a_released_task_is_no_longer_claimed(engine) -> None:
    started = engine.start_workflow_sync(two_tasks(), created_by="ann")
    [task] = tasks(started.id, "H1")
    task.assignee_group = "clerks"
    task.save()
    engine.claim_task_sync(task.pk, "cat")
    engine.release_task_sync(task.pk, "cat")
    assert engine.withdraw_sync(started.id, "ann").status == WorkflowStatus.CANCELED


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("close_async_connections")
async def test_withdraw__async_twin(engine) -> None:
    started = await engine.start_workflow(two_tasks(), created_by="ann")
    withdrawn = await engine.withdraw(started.id, "ann")
    assert withdrawn.status == WorkflowStatus.CANCELED
    assert [t.status for t in await sync_to_async(tasks)(started.id)] == [TaskStatus.CANCELED]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_withdraw__racing_a_completion_one_wins() -> None:
    registry = WorkflowRegistry()
    wf = two_tasks()
    registry.register(wf)
    for _ in range(4):
        started = PersistentExecutionEngine(registry).start_workflow_sync(wf, created_by="ann")
        [task] = tasks(started.id, "H1")
        completed, withdrawn = race(
            partial(PersistentExecutionEngine(registry).complete_task_sync, task.pk, "bob", {}),
            partial(PersistentExecutionEngine(registry).withdraw_sync, started.id, "ann"),
        )
        errors = [r for r in (completed, withdrawn) if isinstance(r, BaseException)]
        assert len(errors) == 1, (completed, withdrawn)
        assert isinstance(errors[0], WorkflowStateError | TaskAlreadyCompletedError), errors
        row = WorkflowInstanceModel.objects.get(pk=started.id)
        assert row.lease_owner is None
        statuses = [t.status for t in tasks(started.id)]
        if errors[0] is withdrawn:
            assert row.status == "waiting"
            assert statuses == [TaskStatus.COMPLETED, TaskStatus.PENDING]
        else:
            assert row.status == "canceled"
            assert statuses == [TaskStatus.CANCELED]


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_withdraw__racing_a_claim_one_wins() -> None:
    registry = WorkflowRegistry()
    wf = two_tasks()
    registry.register(wf)
    outcomes = set()
    for _ in range(6):
        started = PersistentExecutionEngine(registry).start_workflow_sync(wf, created_by="ann")
        [task] = tasks(started.id, "H1")
        claimed, withdrawn = race(
            partial(PersistentExecutionEngine(registry).claim_task_sync, task.pk, "bob"),
            partial(PersistentExecutionEngine(registry).withdraw_sync, started.id, "ann"),
        )
        errors = [r for r in (claimed, withdrawn) if isinstance(r, BaseException)]
        assert len(errors) == 1, (claimed, withdrawn)
        assert isinstance(errors[0], WorkflowStateError), errors
        row = WorkflowInstanceModel.objects.get(pk=started.id)
        assert row.lease_owner is None
        [after] = tasks(started.id)
        actions = [entry["action"] for entry in after.activity]
        if errors[0] is withdrawn:
            assert "a task of it is claimed" in str(withdrawn)
            assert (row.status, after.status, after.assignee_id) == ("waiting", "pending", "bob")
            assert "withdrawn" not in row.metadata and actions == ["claimed"]
            outcomes.add("claimed")
        else:
            assert f"Task '{task.pk}' is canceled" in str(claimed)
            assert (row.status, after.status, after.assignee_id) == ("canceled", "canceled", None)
            assert len(row.metadata["withdrawn"]) == 1 and "claimed" not in actions
            outcomes.add("withdrawn")
    assert outcomes  # at least one round ran
