"""Subworkflows are compensated by compensating the child (issue 17): a subworkflow step
declared with ``compensate=True`` is undone, when its parent is compensated, by undoing
each child that completed (its completed steps in reverse order, recorded on the child,
which ends canceled); a failing child compensation fails the parent's and is retried with
it; nothing is undone twice; worker mode drives the child in the parent's compensation."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from django.test import override_settings

from tests.integration.helpers import Edge, definition, executions, human, workflow
from tests.integration.test_compensation import Undoable
from workflows_app import SubworkflowStep
from workflows_app.core.types import StepType
from workflows_app.engine.worker import Worker
from workflows_app.models import WorkflowInstanceModel

pytestmark = pytest.mark.django_db(transaction=True)


def row(pk: Any) -> WorkflowInstanceModel:
    return WorkflowInstanceModel.objects.get(pk=pk)


def register_child(registry: Any, log: list[str], fail_undo: int = 0) -> None:
    steps = [Undoable("reserve", log), Undoable("charge", log, fail_undo=fail_undo)]
    registry.register_definition(definition(steps, [Edge("reserve", "charge")], name="payment"))


def parent(log: list[str], call: SubworkflowStep, last: Any = None) -> type:
    last = last or Undoable("ship", log, fail=True)
    book = Undoable("book", log)
    return workflow([book, call, last], [Edge("book", call.name), Edge(call.name, last.name)])


def child_pk(parent_id: Any) -> Any:
    return WorkflowInstanceModel.objects.get(parent_id=parent_id).pk


def compensations(pk: Any) -> list[tuple[str, str]]:
    return [
        (e.step_name, e.status)
        for e in executions(pk)
        if e.step_type == StepType.COMPENSATION.value
    ]


def test_declaration_is_checked() -> None:
    with pytest.raises(ValueError, match="compensate"):
        SubworkflowStep(name="s", workflow="w", compensate="yes")  # type: ignore[arg-type]


def test_a_failed_parent_undoes_its_completed_child(engine, registry) -> None:
    log: list[str] = []
    register_child(registry, log)
    call = SubworkflowStep(name="pay", workflow="payment", compensate=True)
    started = engine.start_workflow_sync(parent(log, call))

    assert log == [
        "do book", "do reserve", "do charge", "do ship",  # ship fails
        "undo charge", "undo reserve", "undo book",  # the child's steps, then the parent's
    ]  # fmt: skip
    done = row(started.id)
    assert (done.status, done.error) == ("failed", "ship is down")
    assert done.metadata["compensation"]["done"] == ["pay", "book"]
    assert compensations(started.id) == [("pay", "succeeded"), ("book", "succeeded")]
    [child] = WorkflowInstanceModel.objects.filter(parent_id=started.id)
    assert (child.status, child.error) == (
        "canceled",
        f"Canceled: its parent {started.id} was compensated",
    )
    assert child.metadata["compensation"]["status"] == "completed"
    assert child.metadata["compensation"]["by_parent"] is True
    assert compensations(child.pk) == [("charge", "succeeded"), ("reserve", "succeeded")]
    assert child.lease_owner is None and done.lease_owner is None


def test_without_compensate_the_child_is_left_alone(engine, registry) -> None:
    log: list[str] = []
    register_child(registry, log)
    call = SubworkflowStep(name="pay", workflow="payment")
    started = engine.start_workflow_sync(parent(log, call))

    assert log[-1] == "undo book" and "undo charge" not in log
    [child] = WorkflowInstanceModel.objects.filter(parent_id=started.id)
    assert child.status == "completed" and "compensation" not in child.metadata


def test_cancel_with_compensate_undoes_every_child_of_for_each(engine, registry) -> None:
    log: list[str] = []
    register_child(registry, log)
    call = SubworkflowStep(name="pay", workflow="payment", for_each="items", compensate=True)
    started = engine.start_workflow_sync(parent(log, call, human("confirm")), {"items": [1, 2]})
    assert row(started.id).status == "waiting"

    engine.cancel_workflow_sync(started.id, "off", compensate=True)

    done = row(started.id)
    assert (done.status, done.metadata["compensation"]["status"]) == ("canceled", "completed")
    children = WorkflowInstanceModel.objects.filter(parent_id=started.id)
    assert [c.status for c in children] == ["canceled", "canceled"]
    assert Counter(log)["undo charge"] == 2 and Counter(log)["undo reserve"] == 2
    assert log[-1] == "undo book"


def test_a_failing_child_compensation_fails_the_parents_and_is_retried(engine, registry) -> None:
    log: list[str] = []
    register_child(registry, log, fail_undo=1)  # the child's "charge" fails to undo once
    call = SubworkflowStep(name="pay", workflow="payment", compensate=True)
    started = engine.start_workflow_sync(parent(log, call))

    done = row(started.id)
    assert done.status == "failed"
    assert done.metadata["compensation"]["status"] == "failed"
    assert done.error.startswith(
        f"ship is down; compensating 'pay' failed: child {child_pk(started.id)}"
    )
    assert done.error.endswith("compensating 'charge' failed: cannot undo charge")
    [child] = WorkflowInstanceModel.objects.filter(parent_id=started.id)
    assert (child.status, child.metadata["compensation"]["status"]) == ("failed", "failed")
    assert "undo book" not in log

    engine.retry_sync(started.id)

    done = row(started.id)
    assert (done.status, done.metadata["compensation"]["status"]) == ("failed", "completed")
    child = row(child.pk)
    assert (child.status, child.metadata["compensation"]["status"]) == ("canceled", "completed")
    assert Counter(log) == Counter(
        {"do book": 1, "do reserve": 1, "do charge": 1, "do ship": 1,
         "undo charge": 2, "undo reserve": 1, "undo book": 1}
    )  # fmt: skip
    assert compensations(child.pk) == [
        ("charge", "failed"),
        ("charge", "succeeded"),
        ("reserve", "succeeded"),
    ]


@override_settings(WORKFLOWS={"EXECUTION_MODE": "worker"})
def test_worker_mode__the_parents_compensation_drives_the_child(engine, registry) -> None:
    log: list[str] = []
    register_child(registry, log)
    call = SubworkflowStep(name="pay", workflow="payment", compensate=True)
    started = engine.start_workflow_sync(parent(log, call))
    Worker(engine, burst=True).run()

    done = row(started.id)
    assert (done.status, done.metadata["compensation"]["status"]) == ("failed", "completed")
    [child] = WorkflowInstanceModel.objects.filter(parent_id=started.id)
    assert child.status == "canceled"
    assert compensations(child.pk) == [("charge", "succeeded"), ("reserve", "succeeded")]
    assert not WorkflowInstanceModel.objects.exclude(lease_owner=None).exists()
