"""Substitution: while maria is away, olga's inbox also offers maria's tasks, olga completes
them "for maria" (both recorded), and nothing of it holds outside the dates, for another
workflow, or against a four-eyes rule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.integration.helpers import Edge, human, marker, snapshot, tasks, workflow
from workflows_app import NotSubstituteError, WorkflowValidationError
from workflows_app.core.exceptions import TaskNotFoundError
from workflows_app.core.types import TaskStatus
from workflows_app.models import HumanTaskModel, Substitution
from workflows_app.services import Actor, TaskFilter, TaskScope, WorkflowService

pytestmark = pytest.mark.django_db

HOUR = timedelta(hours=1)


def approval(name: str, **rules: Any) -> type:
    step = human("Approve", assignee_key="approver")
    for key, value in rules.items():
        setattr(step, key, value)
    return workflow([step, marker("Done")], [Edge("Approve", "Done")], name=name)


def maria_task(engine, name: str = "sub_wf", starter: str = "sam", **rules: Any) -> HumanTaskModel:
    started = engine.start_workflow_sync(
        approval(name, **rules), initial_data={"approver": "maria"}, created_by=starter
    )
    [task] = tasks(started.id, "Approve")
    return task


def away(engine, start: Any = -HOUR, end: Any = HOUR, **kwargs: Any) -> Substitution:
    now = timezone.now()
    return engine.add_substitution_sync("maria", "olga", now + start, now + end, **kwargs)


def inbox(service: WorkflowService, user: str, scope: str = TaskScope.OFFERED) -> list[Any]:
    rows, _ = service.inbox(Actor(user), TaskFilter(scope=scope), columns=("id", "assignee_id"))
    return [row.id for row in rows]


def test_the_substitute_gets_and_completes_the_tasks(engine) -> None:
    service = WorkflowService(engine)
    task = maria_task(engine)
    assert task.pk not in inbox(service, "olga")
    away(engine)
    assert task.pk in inbox(service, "olga")
    assert inbox(service, "olga", TaskScope.SUBSTITUTING) == [task.pk]
    assert inbox(service, "maria", TaskScope.SUBSTITUTING) == []
    assert task.pk in inbox(service, "maria")  # still hers

    service.complete_task(Actor("olga"), task.pk, {"ok": True})
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED
    assert (task.completed_by, task.completed_on_behalf_of) == ("olga", "maria")
    assert task.activity[-1]["by"] == "olga" and task.activity[-1]["on_behalf_of"] == "maria"


def test_the_inbox_stays_one_query(engine) -> None:
    service = WorkflowService(engine)
    maria_task(engine)
    away(engine)
    inbox(service, "olga")  # compiled on first use
    with CaptureQueriesContext(connection) as queries:
        assert len(inbox(service, "olga")) == 1
    assert len(queries) == 1


@pytest.mark.parametrize(("start", "end"), [(HOUR, 2 * HOUR), (-2 * HOUR, -HOUR)])
def test_outside_the_dates_nothing(engine, start, end) -> None:
    service = WorkflowService(engine)
    task = maria_task(engine)
    away(engine, start, end)
    assert task.pk not in inbox(service, "olga")
    before = snapshot()
    with pytest.raises(TaskNotFoundError):  # not offered: not seen either
        service.complete_task(Actor("olga"), task.pk, {})
    with pytest.raises(NotSubstituteError):  # the engine checks too
        engine.complete_task_sync(task.pk, "olga", {}, on_behalf_of="maria")
    assert snapshot() == before


def test_only_the_workflows_named(engine) -> None:
    service = WorkflowService(engine)
    covered = maria_task(engine, "sub_covered")
    other = maria_task(engine, "sub_other")
    away(engine, workflows=["sub_covered", "sub_third"])
    assert inbox(service, "olga") == [covered.pk]
    with pytest.raises(TaskNotFoundError):  # not offered: not seen either
        service.complete_task(Actor("olga"), other.pk, {})


def test_four_eyes_applies_to_the_substitute(engine) -> None:
    service = WorkflowService(engine)
    task = maria_task(engine, "sub_four_eyes", starter="olga", exclude_starter=True)
    away(engine)
    assert task.pk not in inbox(service, "olga")


def test_one_substitution_per_user_at_a_time(engine) -> None:
    away(engine, -HOUR, HOUR)
    now = timezone.now()
    with pytest.raises(WorkflowValidationError):
        engine.add_substitution_sync("maria", "piet", now, now + 3 * HOUR)
    engine.add_substitution_sync("maria", "piet", now + HOUR, now + 3 * HOUR)  # right after
    engine.add_substitution_sync("ivan", "piet", now, now + HOUR)  # another user
    assert Substitution.objects.count() == 3


@pytest.mark.parametrize(
    "arguments",
    [
        ("maria", "maria", 0, 1),
        ("", "olga", 0, 1),
        ("maria", None, 0, 1),
        ("maria", "olga", 1, 0),
        ("maria", "olga", 0, 0),
    ],
)
def test_bad_substitutions_are_refused(engine, arguments) -> None:
    user, substitute, start, end = arguments
    now = timezone.now()
    with pytest.raises(WorkflowValidationError):
        engine.add_substitution_sync(user, substitute, now + start * HOUR, now + end * HOUR)
    with pytest.raises(WorkflowValidationError):
        engine.add_substitution_sync("maria", "olga", now, now + HOUR, workflows="sub_wf")
    assert Substitution.objects.count() == 0
