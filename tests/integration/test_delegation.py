"""Delegation (the engine): a task's owner asks a delegate for a draft answer, gets the task
back with it, and alone completes it; every refusal leaves the rows unchanged."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync

from tests.integration.helpers import Edge, human, marker, snapshot, tasks, workflow
from workflows_app import (
    DelegateCannotCompleteError,
    ExcludedUserError,
    NotDelegateError,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core.exceptions import TaskAlreadyCompletedError, TaskNotFoundError
from workflows_app.core.types import DelegationState, TaskStatus, WorkflowStatus
from workflows_app.models import HumanTaskModel

pytestmark = pytest.mark.django_db


def approval(**step: Any) -> type:
    """Approve (human, assigned to the context's approver unless told) -> Done."""
    task = human("Approve", **({"assignee_key": "approver"} | step))
    name = "delegation_" + "_".join(sorted(step))
    return workflow([task, marker("Done")], [Edge("Approve", "Done")], name=name)


def open_task(engine, **step: Any) -> HumanTaskModel:
    started = engine.start_workflow_sync(
        approval(**step), initial_data={"approver": "maria"}, created_by="sam"
    )
    [task] = tasks(started.id, "Approve")
    return task


def test_delegate_resolve_complete(engine, committed, bus) -> None:
    task = open_task(engine)
    with committed():
        engine.delegate_task_sync(task.pk, "olga", by="maria")
    task.refresh_from_db()
    assert task.assignee_id == "olga" and task.owner_id == "maria"
    assert task.delegation["state"] == DelegationState.DELEGATED
    assert task.delegation["delegate"] == "olga" and task.delegation["draft"] is None
    assert task.activity[-1]["action"] == "delegated"

    with committed():
        engine.resolve_task_sync(task.pk, "olga", {"approved": True})
    task.refresh_from_db()
    assert task.assignee_id == "maria"
    assert task.delegation["state"] == DelegationState.RESOLVED
    assert task.delegation["draft"] == {"approved": True}
    assert [e["action"] for e in task.activity] == ["delegated", "resolved"]

    state = engine.complete_task_sync(task.pk, "maria", {"approved": True})
    assert state.status == WorkflowStatus.COMPLETED
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED and task.completed_by == "maria"
    [delegated] = bus.of("task.delegated")
    assert (delegated["owner"], delegated["delegate"], delegated["delegated_by"]) == (
        "maria",
        "olga",
        "maria",
    )
    [resolved] = bus.of("task.resolved")
    assert resolved["draft"] == {"approved": True} and resolved["task_id"] == task.pk


def test_the_delegate_cannot_complete(engine) -> None:
    task = open_task(engine)
    engine.delegate_task_sync(task.pk, "olga", by="maria")
    before = snapshot()
    with pytest.raises(DelegateCannotCompleteError) as refused:
        engine.complete_task_sync(task.pk, "olga", {"approved": True})
    assert refused.value.owner == "maria"
    assert snapshot() == before
    engine.resolve_task_sync(task.pk, "olga", {"approved": False})
    with pytest.raises(DelegateCannotCompleteError):  # nor after resolving
        engine.complete_task_sync(task.pk, "olga", {"approved": True})


def test_the_owner_may_complete_before_the_draft(engine) -> None:
    task = open_task(engine)
    engine.delegate_task_sync(task.pk, "olga", by="maria")
    engine.complete_task_sync(task.pk, "maria", {"approved": True})
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED and task.completed_by == "maria"
    with pytest.raises(TaskAlreadyCompletedError):  # nothing left to resolve
        engine.resolve_task_sync(task.pk, "olga", {"approved": True})


def test_an_unassigned_task_is_owned_by_who_delegates(engine) -> None:
    task = open_task(engine, assignee_key=None, assignee_group="clerks")
    engine.delegate_task_sync(task.pk, "olga", by="ivan")
    task.refresh_from_db()
    assert (task.owner_id, task.assignee_id, task.assignee_group) == ("ivan", "olga", "clerks")


def test_delegated_again_keeps_its_first_owner(engine) -> None:
    task = open_task(engine)
    engine.delegate_task_sync(task.pk, "olga", by="maria")
    with pytest.raises(WorkflowStateError):  # once at a time
        engine.delegate_task_sync(task.pk, "piet", by="maria")
    engine.resolve_task_sync(task.pk, "olga", {"approved": False})
    engine.delegate_task_sync(task.pk, "piet", by="maria")
    task.refresh_from_db()
    assert (task.owner_id, task.assignee_id, task.delegation["draft"]) == ("maria", "piet", None)


@pytest.mark.parametrize(
    ("to_user", "by", "error"),
    [
        ("", "maria", WorkflowValidationError),
        (None, "maria", WorkflowValidationError),
        (42, "maria", WorkflowValidationError),
        ("x" * 256, "maria", WorkflowValidationError),
        ("maria", "maria", WorkflowValidationError),  # to the owner
        ("olga", "", WorkflowValidationError),
    ],
)
def test_bad_delegations_change_nothing(engine, to_user, by, error) -> None:
    task = open_task(engine)
    before = snapshot()
    with pytest.raises(error):
        engine.delegate_task_sync(task.pk, to_user, by)
    assert snapshot() == before


def test_bad_resolutions_change_nothing(engine) -> None:
    task = open_task(engine)
    with pytest.raises(WorkflowStateError):  # not delegated
        engine.resolve_task_sync(task.pk, "olga", {})
    engine.delegate_task_sync(task.pk, "olga", by="maria")
    before = snapshot()
    with pytest.raises(NotDelegateError):
        engine.resolve_task_sync(task.pk, "piet", {"approved": True})
    with pytest.raises(WorkflowValidationError):
        engine.resolve_task_sync(task.pk, "olga", ["not", "an", "object"])
    with pytest.raises(WorkflowValidationError):
        engine.resolve_task_sync(task.pk, "olga", {"text": "nul\x00"})
    with pytest.raises(TaskNotFoundError):
        engine.resolve_task_sync("not-a-task", "olga", {})
    assert snapshot() == before


def test_delegating_to_an_excluded_user_is_refused(engine) -> None:
    """Four-eyes: sam started the instance; the step excludes its starter."""
    started = engine.start_workflow_sync(
        workflow(
            [_excluding(human("Approve", assignee_key="approver")), marker("Done")],
            [Edge("Approve", "Done")],
            name="delegation_four_eyes",
        ),
        initial_data={"approver": "maria"},
        created_by="sam",
    )
    [task] = tasks(started.id, "Approve")
    before = snapshot()
    with pytest.raises(ExcludedUserError):
        engine.delegate_task_sync(task.pk, "sam", by="maria")
    assert snapshot() == before


def _excluding(step: Any) -> Any:
    step.exclude_starter = True
    return step


def test_a_closed_task_cannot_be_delegated(engine) -> None:
    task = open_task(engine)
    engine.complete_task_sync(task.pk, "maria", {"approved": True})
    with pytest.raises(TaskAlreadyCompletedError):
        engine.delegate_task_sync(task.pk, "olga", by="maria")


def test_async_twins(engine) -> None:
    task = open_task(engine)
    async_to_sync(engine.delegate_task)(task.pk, "olga", "maria")
    resolved = async_to_sync(engine.resolve_task)(task.pk, "olga", {"approved": True})
    assert resolved.delegation["state"] == DelegationState.RESOLVED
