"""Multi-instance human steps (N-of-M approvals) in the persistent engine: one task per
item, parallel or sequential, per-item assignment, a completion condition that cancels the
rest, the answers in the items' order, an empty list skipped, cancel cancels all."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.integration.helpers import Edge, marker, names, snapshot, workflow
from workflows_app import (
    BaseHumanStep,
    ExcludedUserError,
    TaskAlreadyCompletedError,
    WorkflowContext,
    WorkflowRegistry,
    WorkflowStateError,
    WorkflowValidationError,
)
from workflows_app.core import four_eyes
from workflows_app.core.types import StepStatus, WorkflowStatus
from workflows_app.models import HumanTaskModel, StepExecutionModel, WorkflowInstanceModel

pytestmark = pytest.mark.django_db

APPROVE = {"approved": True}
REJECT = {"approved": False}


class Approve(BaseHumanStep):
    """Per-item assignment: the item is the approver's user id."""

    form_schema = {"type": "object", "properties": {"approved": {"type": "boolean"}}}

    def get_assignee(self, context: WorkflowContext, item: Any = None) -> str | None:
        return item

    def get_title(self, context: WorkflowContext, item: Any = None) -> str:
        return f"Approve as {item}"


def approvals(**kwargs: Any) -> type:
    step = Approve(name="approve", **kwargs)
    return workflow(
        [marker("A"), step, marker("B")],
        [Edge("A", "approve"), Edge("approve", "B")],
        name=f"multi_{abs(hash(repr(sorted(kwargs.items(), key=str)))) % 10**8}",
    )


def multi_tasks(instance_id: Any) -> list[HumanTaskModel]:
    rows = HumanTaskModel.objects.filter(instance_id=instance_id, step_name="approve")
    return list(rows.order_by("multi_index"))


def start(engine: Any, wf: type, approvers: Any = ("ann", "bob", "cid")) -> Any:
    return engine.start_workflow_sync(wf, {"approvers": list(approvers)})


def test_parallel_two_of_three__the_third_task_is_canceled_with_the_reason(engine) -> None:
    wf = approvals(for_each="approvers", completion_condition="approved >= 2 or rejected >= 1")
    started = start(engine, wf)
    assert started.status == WorkflowStatus.WAITING
    ann, bob, cid = multi_tasks(started.id)
    assert [(t.assignee_id, t.title, t.multi_index, t.multi_total) for t in (ann, bob, cid)] == [
        ("ann", "Approve as ann", 0, 3),
        ("bob", "Approve as bob", 1, 3),
        ("cid", "Approve as cid", 2, 3),
    ]
    assert len({t.step_execution_id for t in (ann, bob, cid)}) == 1
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert row.context_data["approve_results"] == [None, None, None]

    first = engine.complete_task_sync(cid.pk, "cid", APPROVE, comment="fine")
    assert first.status == WorkflowStatus.WAITING
    assert first.context.data["approve_results"] == [
        None,
        None,
        {"item": "cid", "user": "cid", "data": APPROVE},
    ]
    assert [t.status for t in multi_tasks(started.id)] == ["pending", "pending", "completed"]

    done = engine.complete_task_sync(ann.pk, "ann", APPROVE)
    assert done.status == WorkflowStatus.COMPLETED
    assert names(done) == ["A", "approve", "B"]
    assert done.context.data["approve_results"] == [
        {"item": "ann", "user": "ann", "data": APPROVE},
        None,
        {"item": "cid", "user": "cid", "data": APPROVE},
    ]
    ann, bob, cid = multi_tasks(started.id)
    assert [t.status for t in (ann, bob, cid)] == ["completed", "canceled", "completed"]
    assert bob.activity[-1]["action"] == "canceled"
    assert "'approved >= 2 or rejected >= 1' holds" in bob.activity[-1]["reason"]
    assert cid.activity[-1]["comment"] == "fine"
    [execution] = StepExecutionModel.objects.filter(instance_id=started.id, step_name="approve")
    assert (execution.status, execution.completed_by) == (StepStatus.SUCCEEDED, "ann")
    assert execution.output_data["approve_results"][0]["user"] == "ann"
    assert StepExecutionModel.objects.filter(instance_id=started.id, step_name="B").count() == 1

    with pytest.raises(WorkflowStateError, match="canceled"):
        engine.complete_task_sync(bob.pk, "bob", APPROVE)
    with pytest.raises(TaskAlreadyCompletedError):
        engine.complete_task_sync(ann.pk, "ann", APPROVE)


def test_any_reject_stops(engine) -> None:
    wf = approvals(for_each="approvers", completion_condition="approved >= 2 or rejected >= 1")
    started = start(engine, wf)
    bob = multi_tasks(started.id)[1]
    done = engine.complete_task_sync(bob.pk, "bob", REJECT)
    assert done.status == WorkflowStatus.COMPLETED
    assert [t.status for t in multi_tasks(started.id)] == ["canceled", "completed", "canceled"]
    assert done.context.data["approve_results"][1] == {"item": "bob", "user": "bob", "data": REJECT}


def test_without_a_condition_every_task_must_be_answered(engine) -> None:
    wf = approvals(for_each="approvers")
    started = start(engine, wf, ("ann", "bob"))
    ann, bob = multi_tasks(started.id)
    assert engine.complete_task_sync(ann.pk, "ann", REJECT).status == WorkflowStatus.WAITING
    done = engine.complete_task_sync(bob.pk, "bob", APPROVE)
    assert done.status == WorkflowStatus.COMPLETED
    assert [entry["user"] for entry in done.context.data["approve_results"]] == ["ann", "bob"]


def test_a_callable_condition_and_for_each(engine) -> None:
    seen: list[Any] = []

    def two_answers(progress: Any) -> bool:
        seen.append((progress.total, progress.completed, progress.pending))
        return progress.completed >= 2

    wf = approvals(
        for_each=lambda context: [f"user{n}" for n in range(context.get("count"))],
        completion_condition=two_answers,
    )
    started = engine.start_workflow_sync(wf, {"count": 4})
    first, second, *_ = multi_tasks(started.id)
    assert [t.assignee_id for t in multi_tasks(started.id)] == ["user0", "user1", "user2", "user3"]
    engine.complete_task_sync(first.pk, "user0", APPROVE)
    done = engine.complete_task_sync(second.pk, "user1", APPROVE)
    assert done.status == WorkflowStatus.COMPLETED
    assert seen == [(4, 1, 3), (4, 2, 2)]


def test_sequential__the_next_task_is_created_when_the_previous_is_answered(engine) -> None:
    wf = approvals(for_each="approvers", sequential=True, completion_condition="rejected >= 1")
    started = start(engine, wf)
    [first] = multi_tasks(started.id)
    assert (first.assignee_id, first.multi_index, first.multi_total) == ("ann", 0, 3)

    engine.complete_task_sync(first.pk, "ann", APPROVE)
    second = multi_tasks(started.id)[1]
    assert (second.assignee_id, second.multi_index, second.status) == ("bob", 1, "pending")
    assert second.step_execution_id == first.step_execution_id

    engine.complete_task_sync(second.pk, "bob", APPROVE)
    third = multi_tasks(started.id)[2]
    done = engine.complete_task_sync(third.pk, "cid", APPROVE)
    assert done.status == WorkflowStatus.COMPLETED
    assert [e["user"] for e in done.context.data["approve_results"]] == ["ann", "bob", "cid"]


def test_sequential__a_rejection_stops_before_the_next_task(engine) -> None:
    wf = approvals(for_each="approvers", sequential=True, completion_condition="rejected >= 1")
    started = start(engine, wf)
    [first] = multi_tasks(started.id)
    done = engine.complete_task_sync(first.pk, "ann", REJECT)
    assert done.status == WorkflowStatus.COMPLETED
    assert [t.assignee_id for t in multi_tasks(started.id)] == ["ann"]
    assert done.context.data["approve_results"] == [
        {"item": "ann", "user": "ann", "data": REJECT},
        None,
        None,
    ]


def test_an_empty_list_skips_the_step(engine) -> None:
    wf = approvals(for_each="approvers", completion_condition="approved >= 1")
    done = start(engine, wf, ())
    assert done.status == WorkflowStatus.COMPLETED
    assert names(done) == ["A", "approve", "B"]
    assert done.context.data["approve_results"] == []
    assert multi_tasks(done.id) == []
    statuses = StepExecutionModel.objects.filter(instance_id=done.id, step_name="approve")
    assert [row.status for row in statuses] == [StepStatus.SKIPPED]


def test_not_a_list_fails_the_branch_clearly(engine) -> None:
    wf = approvals(for_each="approvers")
    failed = engine.start_workflow_sync(wf, {"approvers": "ann"})
    assert failed.status == WorkflowStatus.FAILED
    assert "must be a list" in (failed.error or "")
    assert multi_tasks(failed.id) == []


def test_cancel_cancels_every_task(engine) -> None:
    wf = approvals(for_each="approvers", completion_condition="approved >= 2")
    started = start(engine, wf)
    ann = multi_tasks(started.id)[0]
    engine.complete_task_sync(ann.pk, "ann", APPROVE)
    canceled = engine.cancel_workflow_sync(started.id, "no longer needed")
    assert canceled.status == WorkflowStatus.CANCELED
    assert [t.status for t in multi_tasks(started.id)] == ["completed", "canceled", "canceled"]


def test_completing_the_step_by_name_is_refused_and_changes_nothing(engine) -> None:
    wf = approvals(for_each="approvers")
    started = start(engine, wf)
    before = snapshot()
    with pytest.raises(WorkflowStateError, match="one task per item"):
        engine.complete_human_task_sync(started.id, "approve", "ann", APPROVE)
    assert snapshot() == before


def test_invalid_answers_change_nothing(engine) -> None:
    wf = approvals(for_each="approvers")
    started = start(engine, wf)
    ann = multi_tasks(started.id)[0]
    before = snapshot()
    with pytest.raises(Exception, match="approved"):
        engine.complete_task_sync(ann.pk, "ann", {"approved": "yes"})
    assert snapshot() == before


def test_per_item_group_and_due_date_with_old_and_new_signatures(engine) -> None:
    due = datetime(2031, 1, 1, tzinfo=UTC)

    class Review(BaseHumanStep):
        def get_assignee_group(self, context: WorkflowContext, item: Any = None) -> str:
            return f"team-{item['team']}"

        def get_due_date(self, context: WorkflowContext) -> datetime:  # the old signature
            return due

    step = Review(name="approve", for_each="reviews")
    wf = workflow([marker("A"), step], [Edge("A", "approve")], name="multi_groups")
    started = engine.start_workflow_sync(wf, {"reviews": [{"team": "x"}, {"team": "y"}]})
    rows = multi_tasks(started.id)
    assert [(t.assignee_group, t.due_at) for t in rows] == [("team-x", due), ("team-y", due)]


def test_a_completion_condition_with_an_unknown_name_is_refused_at_registration() -> None:
    step = Approve(name="approve", for_each="approvers", completion_condition="aproved >= 2")
    wf = workflow([step], [], name="multi_bad")
    with pytest.raises(WorkflowValidationError, match="unknown name 'aproved'"):
        WorkflowRegistry().register(wf)


def test_local_engine__a_multi_instance_step_fails_with_a_clear_error() -> None:
    import asyncio

    from workflows_app import LocalExecutionEngine

    registry = WorkflowRegistry()
    wf = approvals(for_each="approvers", completion_condition="approved >= 1")
    registry.register(wf)
    instance = asyncio.run(LocalExecutionEngine(registry).start_workflow(wf, {"approvers": ["a"]}))
    assert instance.status == WorkflowStatus.FAILED
    assert "Multi-instance human step 'approve' needs the persistent engine" in instance.error


def test_send_back__the_sibling_tasks_are_canceled_too(engine) -> None:
    step = Approve(name="approve", for_each="approvers", completion_condition="approved >= 2")
    step.send_back_to = ["A"]
    wf = workflow([marker("A"), step, marker("B")], [Edge("A", "approve"), Edge("approve", "B")])
    started = start(engine, wf)
    ann, bob, _cid = multi_tasks(started.id)
    engine.complete_task_sync(ann.pk, "ann", APPROVE)
    engine.send_back_sync(bob.pk, "A", "the figures are wrong", by="bob")
    statuses = [
        t.status
        for t in HumanTaskModel.objects.filter(pk__in=[t.pk for t in (ann, bob, _cid)]).order_by(
            "multi_index"
        )
    ]
    assert statuses == ["completed", "canceled", "canceled"]
    again = HumanTaskModel.objects.filter(instance_id=started.id, status="pending")
    assert sorted(t.assignee_id for t in again) == ["ann", "bob", "cid"]
    row = WorkflowInstanceModel.objects.get(pk=started.id)
    assert row.context_data["approve_results"] == [None, None, None]


@pytest.mark.parametrize("sequential", [False, True], ids=["parallel", "sequential"])
def test_four_eyes_rules_hold_for_every_task_of_the_step(engine, sequential) -> None:
    """The starter is excluded from each task, those created at once and those created
    after an answer alike, and refused when they try to answer one."""
    wf = approvals(for_each="approvers", sequential=sequential, exclude_starter=True)
    started = engine.start_workflow_sync(wf, {"approvers": ["ann", "sam", "cid"]}, created_by="sam")
    first = multi_tasks(started.id)[0]
    assert four_eyes.users(first.excluded_users) == ["sam"]
    engine.complete_task_sync(first.pk, "ann", APPROVE)
    second = multi_tasks(started.id)[1]
    assert four_eyes.users(second.excluded_users) == ["sam"]
    with pytest.raises(ExcludedUserError):
        engine.complete_task_sync(second.pk, "sam", APPROVE)
