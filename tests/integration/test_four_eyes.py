"""Four-eyes rules (the engine): a human step's ``exclude_completers_of`` and
``exclude_starter`` exclude people from its task; every path that lets a person act on a
task refuses an excluded one and changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import async_to_sync

from tests.integration.helpers import Edge, human, marker, snapshot, tasks, workflow
from workflows_app import ExcludedUserError, WorkflowRegistry, WorkflowValidationError
from workflows_app.core import four_eyes
from workflows_app.core.exceptions import UnauthorizedTaskError
from workflows_app.core.steps import BaseHumanStep
from workflows_app.core.types import TaskStatus, WorkflowStatus
from workflows_app.models import HumanTaskModel

pytestmark = pytest.mark.django_db


def review(**rules: Any) -> BaseHumanStep:
    step = human("Review", assignee_group="reviewers")
    for name, value in rules.items():
        setattr(step, name, value)
    step.send_back_to = ["Draft"]
    return step


def drafted(**rules: Any) -> type:
    """Draft (human) -> Review (human, with ``rules``) -> B."""
    steps = [human("Draft", assignee_group="reviewers"), review(**rules), marker("B")]
    name = "four_eyes_" + "_".join(sorted(rules))  # one definition per set of rules
    return workflow(steps, [Edge("Draft", "Review"), Edge("Review", "B")], name=name)


def pending(instance_id: Any, step: str) -> HumanTaskModel:
    [task] = [t for t in tasks(instance_id, step) if t.status == TaskStatus.PENDING]
    return task


def at_review(engine, starter: str = "sam", drafter: str = "ann", **rules: Any) -> HumanTaskModel:
    rules = rules or {"exclude_completers_of": ["Draft"], "exclude_starter": True}
    started = engine.start_workflow_sync(drafted(**rules), created_by=starter)
    engine.complete_task_sync(pending(started.id, "Draft").pk, drafter, {"text": "v1"})
    return pending(started.id, "Review")


def test_the_excluded_users_are_kept_on_the_task(engine) -> None:
    task = at_review(engine)
    assert four_eyes.users(task.excluded_users) == ["ann", "sam"]
    draft = tasks(task.instance_id, "Draft")[0]
    assert draft.excluded_users == ""  # a step without a rule excludes nobody


def test_only_the_declared_rules_exclude(engine) -> None:
    only_starter = at_review(engine, exclude_starter=True)
    assert four_eyes.users(only_starter.excluded_users) == ["sam"]
    only_drafter = at_review(engine, exclude_completers_of=["Draft"])
    assert four_eyes.users(only_drafter.excluded_users) == ["ann"]


PATHS = {
    "complete_task_sync": lambda e, t, u: e.complete_task_sync(t.pk, u, {"ok": True}),
    "complete_task_sync(row)": lambda e, t, u: e.complete_task_sync(t, u, {"ok": True}),
    "complete_human_task_sync": lambda e, t, u: e.complete_human_task_sync(
        t.instance_id, "Review", u, {"ok": True}
    ),
    "complete_task": lambda e, t, u: async_to_sync(e.complete_task)(t.pk, u, {"ok": True}),
    "complete_human_task": lambda e, t, u: async_to_sync(e.complete_human_task)(
        t.instance_id, "Review", u, {"ok": True}
    ),
    "claim_task_sync": lambda e, t, u: e.claim_task_sync(t.pk, u),
    "claim_task": lambda e, t, u: async_to_sync(e.claim_task)(t.pk, u),
    "reassign_task_sync": lambda e, t, u: e.reassign_task_sync(
        t.pk, assignee_id=u, reassigned_by="boss"
    ),
    "send_back_sync": lambda e, t, u: e.send_back_sync(t.pk, "Draft", "again", by=u),
}


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize("who", ["ann", "sam"])
def test_every_path_refuses_an_excluded_user_and_changes_nothing(engine, path, who) -> None:
    task = at_review(engine)
    before = snapshot()

    with pytest.raises(ExcludedUserError) as refused:
        PATHS[path](engine, task, who)

    assert isinstance(refused.value, UnauthorizedTaskError)  # a permission error: 403
    assert refused.value.user_id == who
    assert "four-eyes" in str(refused.value)
    assert snapshot() == before
    task.refresh_from_db()
    assert (task.status, task.assignee_id, task.completed_by) == (TaskStatus.PENDING, None, None)


def test_every_path_lets_someone_else_act(engine) -> None:
    for path in sorted(PATHS):
        task = at_review(engine)
        PATHS[path](engine, task, "bob")  # neither the starter nor the drafter
        task.refresh_from_db()
        assert task.assignee_id == "bob" or task.status != TaskStatus.PENDING, path


def test_a_superuser_id_is_no_exception(engine, django_user_model) -> None:
    """The engine knows no permissions: a superuser who started the instance is refused."""
    root = django_user_model.objects.create_superuser("root", password="x")
    task = at_review(engine, starter=str(root.pk))
    with pytest.raises(ExcludedUserError):
        engine.complete_task_sync(task.pk, str(root.pk), {"ok": True})


def test_a_completion_by_the_engine_itself_is_not_refused(engine) -> None:
    """Nobody (None: a system completion) is never excluded."""
    assert not four_eyes.is_excluded(four_eyes.encode(["ann"]), None)


def test_the_rule_applies_to_the_completers_of_every_round(engine) -> None:
    """Sent back for rework and drafted again by another person: both drafters are out."""
    task = at_review(engine)
    engine.send_back_sync(task.pk, "Draft", "more", by="bob")
    redo = pending(task.instance_id, "Draft")
    engine.complete_task_sync(redo.pk, "ann", {"text": "v2"})  # the task goes back to ann
    again = pending(task.instance_id, "Review")
    assert four_eyes.users(again.excluded_users) == ["ann", "sam"]
    engine.complete_task_sync(again.pk, "bob", {"ok": True})
    assert engine.get_instance_sync(task.instance_id).status == WorkflowStatus.COMPLETED


def test_a_user_id_like_a_prefix_of_an_excluded_one_is_not_excluded(engine) -> None:
    task = at_review(engine, starter="anna", drafter="annabel")
    engine.claim_task_sync(task.pk, "ann")
    task.refresh_from_db()
    assert task.assignee_id == "ann"


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"exclude_completers_of": ["Nope"]}, "names unknown step 'Nope'"),
        ({"exclude_completers_of": ["B"]}, "which is not a human step"),
        ({"exclude_completers_of": "Draft"}, "must be a list of step names"),
        ({"exclude_starter": "yes"}, "must be True or False"),
    ],
)
def test_a_wrong_rule_is_refused_at_registration(rules, message) -> None:
    with pytest.raises(WorkflowValidationError) as refused:
        WorkflowRegistry().register_definition(drafted(**rules).get_definition())
    assert message in str(refused.value)


def test_a_machine_step_may_not_declare_a_rule() -> None:
    step = marker("A")
    step.exclude_starter = True
    wf = workflow([step, human("Draft")], [Edge("A", "Draft")])
    with pytest.raises(WorkflowValidationError, match="only a human step can exclude users"):
        WorkflowRegistry().register_definition(wf.get_definition())


def test_the_row_level_completion_of_the_manager_refuses_too(engine) -> None:
    """``HumanTaskModel.objects.complete_task`` (the seed's repository API) writes the row
    only; an excluded user is refused there as well, the row left pending."""
    task = at_review(engine)
    with pytest.raises(ExcludedUserError):
        HumanTaskModel.objects.complete_task(task.pk, "ann")
    task.refresh_from_db()
    assert (task.status, task.completed_by) == (TaskStatus.PENDING, None)
    done = HumanTaskModel.objects.complete_task(task.pk, "bob")
    assert (done.status, done.completed_by) == (TaskStatus.COMPLETED, "bob")
