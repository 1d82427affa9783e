"""The rule of which tasks a user is offered: one definition, read by the queries and by the
checks on a task already loaded, which therefore agree on every kind of task."""

from __future__ import annotations

import itertools

import pytest
from django.db.models import Q
from django.utils import timezone

from workflows_app.core.types import StepStatus, TaskStatus, WorkflowStatus
from workflows_app.models import (
    HumanTaskModel,
    StepExecutionModel,
    WorkflowDefinitionModel,
    WorkflowInstanceModel,
)
from workflows_app.services import Actor, WorkflowService, _holds

ASSIGNEES = (None, "me", "someone")
GROUPS = (None, "clerks", "managers")
ACTOR_GROUPS = (frozenset(), frozenset({"clerks"}), frozenset({"clerks", "managers"}))


@pytest.fixture
def every_kind_of_task(db) -> list[HumanTaskModel]:
    """One pending task per (assignee, group) pair, none completed by anyone."""
    now = timezone.now()
    definition = WorkflowDefinitionModel.objects.create(name="offers", version="1.0.0")
    instance = WorkflowInstanceModel.objects.create(
        definition=definition,
        workflow_name="offers",
        workflow_version="1.0.0",
        status=WorkflowStatus.WAITING,
        started_at=now,
    )
    tasks = []
    for assignee, group in itertools.product(ASSIGNEES, GROUPS):
        execution = StepExecutionModel.objects.create(
            instance=instance,
            step_name="review",
            step_type="human",
            status=StepStatus.WAITING,
            started_at=now,
        )
        tasks.append(
            HumanTaskModel.objects.create(
                instance=instance,
                step_execution=execution,
                step_name="review",
                title=f"{assignee}/{group}",
                assignee_id=assignee,
                assignee_group=group,
            )
        )
    return tasks


@pytest.mark.parametrize("groups", ACTOR_GROUPS, ids=lambda groups: "+".join(groups) or "none")
def test_offered__the_checks_agree_with_the_query(every_kind_of_task, groups) -> None:
    service = WorkflowService()
    actor = Actor(user_id="me", groups=groups)
    listed = set(service.tasks(actor).values_list("title", flat=True))
    may_complete = {task.title for task in every_kind_of_task if service.may_complete(actor, task)}
    # Offered: assigned to me, or unassigned in one of my groups or in none.
    expected = {"me/None", "me/clerks", "me/managers", "None/None"}
    expected |= {f"None/{group}" for group in groups}
    assert listed == may_complete == expected


@pytest.mark.parametrize("groups", ACTOR_GROUPS, ids=lambda groups: "+".join(groups) or "none")
def test_offered__claiming_follows_the_group_part_of_the_rule(every_kind_of_task, groups) -> None:
    service = WorkflowService()
    actor = Actor(user_id="me", groups=groups)
    claimable = {
        task.title
        for task in every_kind_of_task
        if task.assignee_id is None and service.may_claim(actor, task)
    }
    assert claimable == {"None/None"} | {f"None/{group}" for group in groups}


def test_offered__the_checks_ask_no_query_and_no_permission_when_offered(
    every_kind_of_task, django_assert_num_queries
) -> None:
    asked: list[str] = []
    actor = Actor(user_id="me", groups=frozenset({"clerks"}), has_perm=asked.append)
    mine = next(task for task in every_kind_of_task if task.title == "me/managers")
    service = WorkflowService()
    with django_assert_num_queries(0):
        assert service.may_complete(actor, mine) is True
    assert asked == []
    other = next(task for task in every_kind_of_task if task.title == "someone/clerks")
    # Not offered: the permission is asked, then whether "me" stands in for "someone" now
    # (the task's workflow and the substitutions: two small queries, none per other task).
    with django_assert_num_queries(2):
        assert not service.may_complete(actor, other)
    assert asked == ["complete_any_task"]


def test_offered__the_permission_overrides_the_rule(every_kind_of_task) -> None:
    service = WorkflowService()
    actor = Actor(user_id="me", has_perm=lambda codename: codename == "complete_any_task")
    assert all(service.may_complete(actor, task) for task in every_kind_of_task)
    assert all(service.may_claim(actor, task) for task in every_kind_of_task)


def test_holds__evaluates_exact_isnull_and_in_like_sql() -> None:
    task = HumanTaskModel(assignee_id=None, assignee_group="clerks", status=TaskStatus.PENDING)
    assert _holds(task, Q(assignee_id__isnull=True, assignee_group__in=["clerks"]))
    assert _holds(task, Q(assignee_id="me") | Q(status=TaskStatus.PENDING))
    assert _holds(task, Q(assignee_id=None))  # the ORM's ``= None`` is IS NULL
    assert not _holds(task, Q(assignee_id="me"))  # NULL = 'me' is not true
    assert not _holds(task, Q(assignee_id__in=["me"]))
    assert not _holds(task, Q(assignee_group__isnull=True))
    assert not _holds(task, Q(assignee_group__exact="managers"))


@pytest.mark.parametrize(
    "condition", [~Q(assignee_id="me"), Q(assignee_id__startswith="m"), Q(instance__tenant_id="t")]
)
def test_holds__refuses_what_it_cannot_answer_as_sql_would(condition) -> None:
    with pytest.raises(ValueError, match="cannot be checked in Python"):
        _holds(HumanTaskModel(assignee_id="me"), condition)
